"""Runtime of symact's generated PyTorch package: stable helpers in torch operations, argument
checks, parameter layout, reductions, and the row front end (class axis, labels, weights).

A real module of symact (linted, tested), copied into every ``--target torch`` package as
``_runtime.py`` with the generated stamp, beside ``_checks.py`` (the checks every runtime shares). Needs only torch.
"""
import math

import torch

from . import _checks

_LOW = (torch.float16, torch.bfloat16)


# -- stable helpers (the primitives the framework has no accurate operation for) --------------------

def sigmoid(z):
    """1/(1 + e^-z) from e = e^-|z| <= 1: no overflow, and the lower tail keeps its subnormal values
    (torch.sigmoid returns 0 below z = -88 in float32 and -709 in float64, measured, torch 2.13)."""
    e = torch.exp(-torch.abs(z))
    r = 1 / (1 + e)
    return torch.where(z >= 0, r, e * r)


def softplus(z):
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|): never overflows, exact in both tails
    (torch.nn.functional.softplus switches to z above 20, ~6e5 ULP just above it)."""
    return torch.clamp(z, min=0) + torch.log1p(torch.exp(-torch.abs(z)))


def hypot1(z):
    """sqrt(1 + z²) without overflow of z²."""
    return torch.hypot(z, torch.ones_like(z))


def hypot1m1(z):
    """sqrt(1 + z²) − 1 = |z|·(|z|/(hypot(1, z) + 1)): exact for tiny z, finite for huge z."""
    a = torch.abs(z)
    return a * (a / (hypot1(z) + 1))


def ndtr(z):
    """Phi(z) = erfc(-z/sqrt(2))/2: torch.special.ndtr on the CPU returns 0 at z = -10 (truth 7.6e-24)
    and is 2% off at z = -8 (measured, torch 2.13); erfc keeps the lower tail to its rounding of z/sqrt(2)."""
    return torch.special.erfc(z * -0.7071067811865476) * 0.5



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
    return torch.where(torch.abs(z) < 1.5, small, z - torch.tanh(z))


def log1p_rest(d):
    """log Σ_k e^{d_k} along the last axis for d = a − max(a) (so the largest term is e^0 = 1):
    log1p of the other terms' sum, the terms equal to 1 counted rather than added, so
    log_softmax([100, 0, 0])_0 = −log1p(2e−100) = −7.4e−44 and not 0."""
    e = torch.exp(d)
    one = e == 1
    rest = torch.where(one, torch.zeros_like(e), e).sum(-1) + (one.sum(-1) - 1).to(e.dtype)
    return torch.log1p(rest)


def take(x, y):
    """x[..., y] per row: the element at each row's label."""
    return torch.gather(x, -1, y.unsqueeze(-1)).squeeze(-1)


# -- checks --------------------------------------------------------------------------------------------

def _eager() -> bool:
    """Whether value checks may run: not while torch.compile traces, nor under torch.func transforms
    (a check reads a value back to Python, which both forbid)."""
    if torch.compiler.is_compiling():
        return False
    try:
        return torch._C._functorch.peek_interpreter_stack() is None
    except AttributeError:  # pragma: no cover - other torch versions
        return True


def tensor(fn, name, value, like=None):
    """``value`` as a floating tensor (a Python number or array-like becomes one, on ``like``'s device)."""
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value, dtype=like.dtype if like is not None else None,
                                    device=like.device if like is not None else None)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{fn}: {name} must be a tensor or a number, got {type(value).__name__}") from exc
    if not value.is_floating_point():
        if like is not None and not value.is_complex():
            return value.to(like.dtype)
        raise TypeError(f"{fn}: {name} must be a floating-point tensor, got {value.dtype}")
    return value


def compute_dtype(x):
    """float16/bfloat16 are computed in float32 (as PyTorch does) and returned in their own dtype."""
    return torch.float32 if x.dtype in _LOW else x.dtype


def scalar(fn, name, value, positive=False, allow_inf=False):
    """A fixed parameter as a Python float, checked: finite (or ±inf where allowed), > 0 where required."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{fn}: parameter {name!r} must be a number, got a tensor of shape {tuple(value.shape)}")
        if value.requires_grad:
            raise ValueError(f"{fn}: parameter {name!r} is not learnable (symact derives no gradient for it); "
                             f"pass a number or a tensor that does not require grad")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{fn}: parameter {name!r} must be a number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{fn}: parameter {name!r} must be finite, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{fn}: parameter {name!r} must be > 0, got {value!r}")
    return value


def learnable(fn, name, value, x):
    """A learnable parameter as a tensor of x's dtype, laid out as PyTorch's nn.PReLU weight: a
    one-element or scalar value applies everywhere; a 1-D tensor of C values applies along dim 1
    (the channels) of an input with two or more dimensions."""
    p = tensor(fn, name, value, like=x)
    if p.dtype != x.dtype:
        p = p.to(x.dtype)
    if p.dim() == 1 and p.numel() > 1:
        if x.dim() < 2 or x.shape[1] != p.numel():
            raise ValueError(f"{fn}: {name} has {p.numel()} values but the input has "
                             f"{x.shape[1] if x.dim() >= 2 else 'no'} channels (dim 1)")
        p = p.reshape((-1,) + (1,) * (x.dim() - 2))
    elif p.dim() > 1:
        raise ValueError(f"{fn}: {name} must be a number or a 1-D tensor (one value per channel), "
                         f"got shape {tuple(p.shape)}")
    return p


def sum_to(g, p):
    """Σ of g over the axes p was broadcast along, in p's shape (what p.grad needs)."""
    if g.shape == p.shape:
        return g
    if p.dim() == 0:
        return g.sum()
    return g.sum_to_size(p.shape)


def no_grad_wanted(fn, name, t):
    if isinstance(t, torch.Tensor) and t.requires_grad:
        raise ValueError(f"{fn}: symact derives no gradient with respect to {name}; "
                         f"pass {name}.detach() (it requires grad)")


def input_tensor(fn, x, name="input"):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{fn}: {name} must be a floating-point tensor, got {x.dtype}")
    return x


# -- pointwise losses ----------------------------------------------------------------------------------



def check_values(fn, name, t, kind):
    ok, what = _checks.VALUES[kind]
    if ok is None or not _eager():
        return
    bad = ~ok(t) & ~torch.isnan(t)
    if bool(bad.any()):
        raise ValueError(f"{fn}: {name} must hold {what}; found {t[bad].flatten()[0].item()!r}")


check_reduction, flag = _checks.check_reduction, _checks.check_flag  # what the generated modules call


def loss_inputs(fn, input, target, others=(), kind="real", input_kind="real"):
    """input, target and further inputs as tensors of one float dtype and one shape (the target may be a
    number), checked; returns (input, target, others, dtype to return)."""
    x = input_tensor(fn, input)
    no_grad_wanted(fn, "target", target)
    t = tensor(fn, "target", target, like=x)
    arrays = [input_tensor(fn, o, name) for name, o in others]
    for name, a in [("target", t)] + [(n, a) for (n, _), a in zip(others, arrays)]:
        if a.shape != x.shape:
            raise ValueError(f"{fn}: {name} has shape {tuple(a.shape)} but input has shape {tuple(x.shape)}")
    out_dtype = torch.promote_types(x.dtype, t.dtype)
    for a in arrays:
        out_dtype = torch.promote_types(out_dtype, a.dtype)
    work = torch.float32 if out_dtype in _LOW else out_dtype
    x, t, arrays = x.to(work), t.to(work), [a.to(work) for a in arrays]
    check_values(fn, "input", x, input_kind)
    check_values(fn, "target", t, kind)
    return x, t, arrays, out_dtype


def reduce(fn, values, reduction, weight=None, mean_by="count", dtype=None):
    """PyTorch's reductions of per-element losses: 'mean' divides by the element count, or (l1/mse with a
    weight) by the weights' sum; 'batchmean' by input.shape[0]."""
    if weight is not None:
        no_grad_wanted(fn, "weight", weight)
        w = tensor(fn, "weight", weight, like=values).to(values.dtype)
        try:
            torch.broadcast_shapes(w.shape, values.shape)
        except RuntimeError:
            raise ValueError(f"{fn}: weight of shape {tuple(w.shape)} does not broadcast to the input's "
                             f"{tuple(values.shape)}") from None
        values = values * w
    if reduction == "none":
        out = values
    elif reduction == "sum":
        out = values.sum()
    elif reduction == "batchmean":
        out = values.sum() / (values.shape[0] if values.dim() else 1)
    elif weight is not None and mean_by == "weights":
        out = values.sum() / torch.broadcast_to(w, values.shape).sum()
    else:
        out = values.sum() / values.numel()
    return out if dtype is None else out.to(dtype)


# -- vector functions and row losses: the row axis last ----------------------------------------------

def axis_of(fn, x, dim):
    if isinstance(dim, bool) or not isinstance(dim, int) or not -x.dim() <= dim < max(x.dim(), 1):
        raise ValueError(f"{fn}: dim {dim!r} is out of range for an input of shape {tuple(x.shape)}")
    return dim % max(x.dim(), 1)


def rows_last(fn, x, dim):
    """x with dimension ``dim`` moved last, and that dimension's index (0-d inputs: one row of one)."""
    if x.dim() == 0:
        raise ValueError(f"{fn}: input must have at least one dimension")
    d = axis_of(fn, x, dim)
    if x.shape[d] == 0:
        raise ValueError(f"{fn}: input has no elements along dim {d}")
    return x.movedim(d, -1), d


def check_parts(fn, x, d, parts):
    """A layout in ``parts`` equal blocks (glu's halves): the last axis (the input's dim ``d``) must
    hold a whole number of them."""
    _checks.check_parts(fn, "dim", d, x.shape[-1], parts)
    return x


def pieces(fn, x, pieces_):
    """maxout: the last axis cut into consecutive groups of ``pieces_`` (None: the whole axis)."""
    if pieces_ is None:
        return x
    size = x.shape[-1]
    k = _checks.check_pieces(fn, size, pieces_)
    return x.reshape(x.shape[:-1] + (size // k, k))


def class_rows(fn, inputs, names, class_axis):
    """Row-loss inputs with the class (feature) dimension last: PyTorch's layout puts it at dim
    ``class_axis`` (dim 0 for 1-D inputs). Returns (moved inputs, the dimension, work dtype, dtype)."""
    xs = [input_tensor(fn, a, n) for a, n in zip(inputs, names)]
    for n, a in zip(names[1:], xs[1:]):
        if a.shape != xs[0].shape:
            raise ValueError(f"{fn}: {n} has shape {tuple(a.shape)} but {names[0]} has shape {tuple(xs[0].shape)}")
    x = xs[0]
    if x.dim() == 0:
        raise ValueError(f"{fn}: {names[0]} must have at least one dimension (the classes)")
    d = (class_axis if x.dim() > 1 else 0) % x.dim()
    if x.shape[d] == 0:
        raise ValueError(f"{fn}: {names[0]} has no classes (size 0 along dimension {d})")
    dtype = xs[0].dtype
    for a in xs[1:]:
        dtype = torch.promote_types(dtype, a.dtype)
    work = torch.float32 if dtype in _LOW else dtype
    return [a.to(work).movedim(d, -1) for a in xs], d, work, dtype


def labels(fn, target, batch, classes, ignore_index=None):
    """Integer class labels of shape ``batch``: (labels with ignored ones set to 0, kept mask or None)."""
    if not isinstance(target, torch.Tensor) or target.is_floating_point() or target.is_complex() \
            or target.dtype == torch.bool:
        what = target.dtype if isinstance(target, torch.Tensor) else type(target).__name__
        raise TypeError(f"{fn}: target must hold integer class labels, got {what}")
    if tuple(target.shape) != tuple(batch):
        raise ValueError(f"{fn}: target has shape {tuple(target.shape)}, expected {tuple(batch)} (the input's "
                         f"shape without the class dimension)")
    t = target.long()
    kept = None if ignore_index is None else t != ignore_index
    if _eager():
        bad = (t < 0) | (t >= classes)
        if kept is not None:
            bad = bad & kept
        if bool(bad.any()):
            extra = f" (or ignore_index={ignore_index})" if ignore_index is not None else ""
            raise ValueError(f"{fn}: target holds class {t[bad].flatten()[0].item()}, outside [0, {classes}){extra}")
    if kept is not None:
        t = torch.where(kept, t, torch.zeros_like(t))
    return t, kept


def class_weight(fn, weight, classes, like):
    if weight is None:
        return torch.ones(classes, dtype=like.dtype, device=like.device)
    no_grad_wanted(fn, "weight", weight)
    w = tensor(fn, "weight", weight, like=like).to(like.dtype)
    if tuple(w.shape) != (classes,):
        raise ValueError(f"{fn}: weight must have shape ({classes},), one per class; got {tuple(w.shape)}")
    if _eager() and (not bool(torch.isfinite(w).all()) or bool((w < 0).any())):
        raise ValueError(f"{fn}: weight must hold finite numbers >= 0")
    return w


def multilabel_mask(fn, target, shape, like):
    """PyTorch's multi-label target (class indices, the list ended by the first -1) as a 0/1 mask."""
    if not isinstance(target, torch.Tensor) or target.is_floating_point() or target.dtype == torch.bool:
        raise TypeError(f"{fn}: target must hold integer class indices (ended by -1)")
    if tuple(target.shape) != tuple(shape):
        raise ValueError(f"{fn}: target has shape {tuple(target.shape)}, expected the input's shape {tuple(shape)}")
    t = target.long()
    classes = shape[-1]
    if _eager() and bool(((t < -1) | (t >= classes)).any()):
        raise ValueError(f"{fn}: target holds {t[(t < -1) | (t >= classes)][0].item()}; class indices must be "
                         f"in [0, {classes}), or -1 to end the list")
    listed = torch.cumprod((t >= 0).long(), dim=-1)
    idx = torch.where(listed.bool(), t, torch.zeros_like(t))
    mask = torch.zeros(t.shape, dtype=like.dtype, device=like.device).scatter_add(-1, idx, listed.to(like.dtype))
    return (mask > 0).to(like.dtype)


def per_row(fn, target, batch, kind, like):
    no_grad_wanted(fn, "target", target)
    t = tensor(fn, "target", target, like=like).to(like.dtype)
    if tuple(t.shape) != tuple(batch):
        raise ValueError(f"{fn}: target has shape {tuple(t.shape)}, expected {tuple(batch)}")
    check_values(fn, "target", t, kind)
    return t


def reduce_rows(values, reduction, denominator):
    if reduction == "none":
        return values
    total = values.sum()
    return total / denominator if reduction == "mean" else total
