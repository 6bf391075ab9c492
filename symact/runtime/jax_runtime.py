"""Runtime of symact's generated JAX package: stable helpers in jax.numpy operations, argument checks,
reductions and the row front end (class axis, labels, weights).

A real module of symact, copied into every ``--target jax`` package as ``_runtime.py`` with the
generated stamp, beside ``_checks.py`` (the checks every runtime shares). Needs only jax.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks

_LOW = (jnp.float16, jnp.bfloat16)


# -- stable helpers --------------------------------------------------------------------------------

def sigmoid(z):
    """1/(1 + e^-z) from e = e^-|z| <= 1: no overflow, subnormal lower tail kept."""
    e = jnp.exp(-jnp.abs(z))
    r = 1 / (1 + e)
    return jnp.where(z >= 0, r, e * r)


def softplus(z):
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|)."""
    return jnp.maximum(z, 0) + jnp.log1p(jnp.exp(-jnp.abs(z)))


def ndtr(z):
    """Phi(z) = erfc(-z/sqrt(2))/2, exact in the lower tail up to the rounding of z/sqrt(2)."""
    return jax.scipy.special.erfc(z * -0.7071067811865476) * 0.5


def hypot1(z):
    """sqrt(1 + z²) without overflow of z²."""
    return jnp.hypot(z, jnp.ones_like(z))


def hypot1m1(z):
    """sqrt(1 + z²) − 1 = |z|·(|z|/(hypot(1, z) + 1))."""
    a = jnp.abs(z)
    return a * (a / (hypot1(z) + 1))



# tanhshrink (the registry entry in symact/catalog/primitives.py). The [21/20] Pade approximant of tanh
# from Lambert's continued fraction tanh z = z/(1 + z²/(3 + z²/(5 + ...))) (depth 10), whose z·Q - P has exact,
# positive coefficients: z - tanh z = z³·N(z²)/D(z²), relative error below 1e-18 for |z| <= 1.5 (mpmath).
_TS_N = (1 / 3, 8 / 315, 1 / 1995, 4 / 1281987, 1 / 211527855)
_TS_D = (1.0, 10 / 21, 4 / 133, 8 / 14535, 1 / 305235, 2 / 416645775)


def _horner(s, cs):
    r = cs[-1]
    for c in cs[-2::-1]:
        r = r * s + c
    return r


def tanhshrink(z):
    """z - tanh(z) without the cancellation near 0 (about z³/3 there): z³·N(z²)/D(z²), all terms positive,
    for |z| < 1.5; z - tanh(z) beyond, where the value (> 0.59) and tanh(z) (< 1) share their last bit."""
    s = z * z
    small = z * (s * (_horner(s, _TS_N) / _horner(s, _TS_D)))
    return jnp.where(jnp.abs(z) < 1.5, small, z - jnp.tanh(z))


def log1p_rest(d):
    """log Σ_k e^{d_k} along the last axis for d = a − max(a): log1p of the terms other than the
    maximal one (the terms equal to 1 counted, not added)."""
    e = jnp.exp(d)
    one = e == 1
    rest = jnp.where(one, 0, e).sum(-1) + (one.sum(-1) - 1).astype(e.dtype)
    return jnp.log1p(rest)


def take(x, y):
    """x[..., y] per row."""
    return jnp.take_along_axis(x, y[..., None], axis=-1)[..., 0]


def symbolic_zero(t) -> bool:
    return type(t) is jax.custom_derivatives.SymbolicZero


def no_tangent(fn, name, t):
    if not symbolic_zero(t):
        raise ValueError(f"{fn}: symact derives no derivative with respect to {name}")


# -- checks --------------------------------------------------------------------------------------------

def _concrete(*arrays) -> bool:
    """Values known now (not traced): checked in NumPy, since under jax.jit even an operation on a
    concrete array is traced."""
    return not any(isinstance(a, jax.core.Tracer) for a in arrays)


def array(fn, name, value):
    a = jnp.asarray(value)
    if not jnp.issubdtype(a.dtype, jnp.floating):
        raise TypeError(f"{fn}: {name} must hold floating-point numbers, got {a.dtype}")
    return a


def compute_dtype(x):
    return jnp.float32 if x.dtype in _LOW else x.dtype


def scalar(fn, name, value, positive=False, allow_inf=False):
    """A fixed parameter as a Python float (a static argument of the custom rule), checked."""
    if isinstance(value, jax.core.Tracer):
        raise TypeError(f"{fn}: parameter {name!r} is a fixed number (not differentiated, not traced); "
                        f"pass a Python float")
    if isinstance(value, bool):
        raise TypeError(f"{fn}: parameter {name!r} must be a number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: parameter {name!r} must be a number, got {type(value).__name__}") from None
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{fn}: parameter {name!r} must be finite, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{fn}: parameter {name!r} must be > 0, got {value!r}")
    return value


def learnable(fn, name, value, x):
    return jnp.asarray(value, x.dtype)




def check_values(fn, name, t, kind):
    ok, what = _checks.VALUES[kind]
    if ok is None or not _concrete(t):
        return
    t = np.asarray(t)
    bad = ~ok(t) & ~np.isnan(t)
    if bool(bad.any()):
        raise ValueError(f"{fn}: {name} must hold {what}; found {float(t[bad].ravel()[0])!r}")


check_reduction, flag = _checks.check_reduction, _checks.check_flag  # what the generated modules call


def loss_inputs(fn, input, target, others=(), kind="real", input_kind="real"):
    x = array(fn, "input", input)
    t = jnp.asarray(target)
    arrays = [array(fn, name, o) for name, o in others]
    for name, a in [("target", t)] + [(n, a) for (n, _), a in zip(others, arrays)]:
        if a.shape != x.shape:
            raise ValueError(f"{fn}: {name} has shape {a.shape} but input has shape {x.shape}")
    out = jnp.result_type(x, *(a for a in arrays))
    work = jnp.float32 if out in _LOW else out
    x, t, arrays = x.astype(work), t.astype(work), [a.astype(work) for a in arrays]
    check_values(fn, "input", x, input_kind)
    check_values(fn, "target", t, kind)
    return x, t, arrays, out


def reduce(fn, values, reduction, weight=None, mean_by="count", dtype=None):
    if weight is not None:
        w = jnp.asarray(weight, values.dtype)
        try:
            jnp.broadcast_shapes(w.shape, values.shape)
        except ValueError:
            raise ValueError(f"{fn}: weight of shape {w.shape} does not broadcast to the input's "
                             f"{values.shape}") from None
        values = values * w
    if reduction == "none":
        out = values
    elif reduction == "sum":
        out = values.sum()
    elif reduction == "batchmean":
        out = values.sum() / (values.shape[0] if values.ndim else 1)
    elif weight is not None and mean_by == "weights":
        out = values.sum() / jnp.broadcast_to(w, values.shape).sum()
    else:
        out = values.sum() / values.size
    return out if dtype is None else out.astype(dtype)


# -- rows ---------------------------------------------------------------------------------------------------

def rows_last(fn, x, axis):
    if x.ndim == 0:
        raise ValueError(f"{fn}: input must have at least one dimension")
    if isinstance(axis, bool) or not isinstance(axis, int) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis {axis!r} is out of range for an input of shape {x.shape}")
    d = axis % x.ndim
    if x.shape[d] == 0:
        raise ValueError(f"{fn}: input has no elements along axis {d}")
    return jnp.moveaxis(x, d, -1), d


def check_parts(fn, x, d, parts):
    """A layout in ``parts`` equal blocks (glu's halves): the last axis (the input's axis ``d``) must
    hold a whole number of them."""
    _checks.check_parts(fn, "axis", d, x.shape[-1], parts)
    return x


def pieces(fn, x, pieces_):
    """maxout: the last axis cut into consecutive groups of ``pieces_`` (None: the whole axis)."""
    if pieces_ is None:
        return x
    size = x.shape[-1]
    k = _checks.check_pieces(fn, size, pieces_)
    return x.reshape(x.shape[:-1] + (size // k, k))


def class_rows(fn, inputs, names, class_axis):
    xs = [array(fn, n, a) for a, n in zip(inputs, names)]
    for n, a in zip(names[1:], xs[1:]):
        if a.shape != xs[0].shape:
            raise ValueError(f"{fn}: {n} has shape {a.shape} but {names[0]} has shape {xs[0].shape}")
    x = xs[0]
    if x.ndim == 0:
        raise ValueError(f"{fn}: {names[0]} must have at least one dimension (the classes)")
    d = (class_axis if x.ndim > 1 else 0) % x.ndim
    if x.shape[d] == 0:
        raise ValueError(f"{fn}: {names[0]} has no classes (size 0 along dimension {d})")
    dtype = jnp.result_type(*xs)
    work = jnp.float32 if dtype in _LOW else dtype
    return [jnp.moveaxis(a.astype(work), d, -1) for a in xs], d, work, dtype


def labels(fn, target, batch, classes, ignore_index=None):
    t = jnp.asarray(target)
    if not jnp.issubdtype(t.dtype, jnp.integer):
        raise TypeError(f"{fn}: target must hold integer class labels, got {t.dtype}")
    if t.shape != tuple(batch):
        raise ValueError(f"{fn}: target has shape {t.shape}, expected {tuple(batch)} (the input's shape "
                         f"without the class dimension)")
    kept = None if ignore_index is None else t != ignore_index
    if _concrete(t):
        tn = np.asarray(t)
        bad = (tn < 0) | (tn >= classes)
        if ignore_index is not None:
            bad = bad & (tn != ignore_index)
        if bool(bad.any()):
            extra = f" (or ignore_index={ignore_index})" if ignore_index is not None else ""
            raise ValueError(f"{fn}: target holds class {int(tn[bad].ravel()[0])}, outside [0, {classes}){extra}")
    if kept is not None:
        t = jnp.where(kept, t, 0)
    return t, kept


def class_weight(fn, weight, classes, like):
    if weight is None:
        return jnp.ones(classes, like.dtype)
    w = jnp.asarray(weight, like.dtype)
    if w.shape != (classes,):
        raise ValueError(f"{fn}: weight must have shape ({classes},), one per class; got {w.shape}")
    if _concrete(w) and (not bool(np.isfinite(np.asarray(w)).all()) or bool((np.asarray(w) < 0).any())):
        raise ValueError(f"{fn}: weight must hold finite numbers >= 0")
    return w


def multilabel_mask(fn, target, shape, like):
    t = jnp.asarray(target)
    if not jnp.issubdtype(t.dtype, jnp.integer):
        raise TypeError(f"{fn}: target must hold integer class indices (ended by -1)")
    if t.shape != tuple(shape):
        raise ValueError(f"{fn}: target has shape {t.shape}, expected the input's shape {tuple(shape)}")
    classes = shape[-1]
    if _concrete(t) and bool(((np.asarray(t) < -1) | (np.asarray(t) >= classes)).any()):
        raise ValueError(f"{fn}: class indices must be in [0, {classes}), or -1 to end the list")
    listed = jnp.cumprod((t >= 0).astype(jnp.int32), axis=-1)
    idx = jnp.where(listed > 0, t, 0)
    rows = jnp.zeros(t.shape, like.dtype)
    mask = jax.vmap(lambda r, i, v: r.at[i].add(v))(rows.reshape(-1, classes), idx.reshape(-1, classes),
                                                    listed.reshape(-1, classes).astype(like.dtype))
    return (mask.reshape(t.shape) > 0).astype(like.dtype)


def per_row(fn, target, batch, kind, like):
    t = jnp.asarray(target, like.dtype)
    if t.shape != tuple(batch):
        raise ValueError(f"{fn}: target has shape {t.shape}, expected {tuple(batch)}")
    check_values(fn, "target", t, kind)
    return t


def reduce_rows(values, reduction, denominator):
    if reduction == "none":
        return values
    total = values.sum()
    return total / denominator if reduction == "mean" else total
