"""Front end of the row losses: shapes, labels, targets, class weights, ignore_index, reductions.

PyTorch's layout: the class (or feature) dimension is dim 1 of the input ((C,) inputs: dim 0),
labels have the input's shape without it, probability targets the input's shape. Everything is
checked here, before a kernel runs: the row loops (``losses/<name>.py``) index ``x[r, y[r]]``
and ``w[y[r]]`` only with labels proven to lie in [0, C).
"""
import functools
import math

import numpy as np
from numba import njit

from ._checks import check_reduction
from ._runtime import _as_float_array, _check_param, lazy
from ._rowwise import _axis, pick

_CLASSES = object()  # the axis of a loss without an axis argument: PyTorch's class dimension


def _rows(fn, spec, arrays, axis):
    """The inputs as C-contiguous (rows, C) arrays of one float dtype, and how to undo it."""
    names = spec["inputs"]
    xs = [_as_float_array(a, fn, name) for name, a in zip(names, arrays)]
    for name, a in zip(names[1:], xs[1:]):
        if a.shape != xs[0].shape:
            raise ValueError(f"{fn}: {name} has shape {a.shape} but {names[0]} has shape {xs[0].shape}")
    x = xs[0]
    if x.ndim == 0:
        raise ValueError(f"{fn}: {names[0]} must have at least one dimension (the classes)")
    if axis is _CLASSES:
        axis = spec["class_axis"] if x.ndim > 1 else 0
    axis = _axis(fn, axis, x.ndim, x.shape, names[0])
    if x.shape[axis] == 0:
        raise ValueError(f"{fn}: {names[0]} has no classes (size 0 along dimension {axis})")
    dtype = x.dtype if len(xs) == 1 else np.result_type(*(a.dtype for a in xs))
    moved = xs if axis == x.ndim - 1 else [np.moveaxis(a, axis, -1) for a in xs]  # moveaxis costs ~3 µs
    rows = [np.ascontiguousarray(m, dtype=dtype).reshape(-1, m.shape[-1]) for m in moved]
    return rows, moved[0].shape, axis, dtype


@functools.lru_cache(maxsize=32)
def _ones(classes, dtype):
    """The weights of an absent ``weight`` (shared, only read by the kernels): np.ones is ~1.5 µs."""
    return np.ones(classes, dtype)


@njit(cache=True)
def _scan_labels(t, classes, ignore_index, ignoring):
    """(index of the first label outside [0, classes) that is not ignored, or -1; how many are
    ignored): one pass, where NumPy would make five."""
    ignored = 0
    for i in range(t.shape[0]):
        v = t[i]
        if ignoring and v == ignore_index:
            ignored += 1
        elif v < 0 or v >= classes:
            return i, ignored
    return -1, ignored


def _labels(fn, spec, target, batch, classes, ignore_index):
    """Integer class labels of shape ``batch``; returns (labels with ignored ones set to 0, kept mask),
    the mask None when every label is kept."""
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        if t.dtype.kind == "f" and "prob" in spec["targets"]:
            raise TypeError(f"{fn}: a float target must be class probabilities of the input's shape; "
                            f"class labels must be integers (got dtype {t.dtype} with shape {t.shape})")
        raise TypeError(f"{fn}: target must hold integer class labels, got dtype {t.dtype}")
    if t.shape != batch:
        raise ValueError(f"{fn}: target has shape {t.shape}, expected {batch} (the input's shape without "
                         f"the class dimension)")
    if t.dtype.kind == "u" and t.dtype.itemsize == 8 and t.size and t.max() >= 2**63:
        raise ValueError(f"{fn}: target holds class {int(t.max())}, outside [0, {classes})")
    t = np.ascontiguousarray(t.reshape(-1), dtype=np.int64)
    ii = ignore_index
    if isinstance(ii, (float, np.floating)) and float(ii).is_integer():
        ii = int(ii)
    ignoring = bool(spec["ignore_index"]) and isinstance(ii, (int, np.integer)) and -2**63 <= ii < 2**63
    bad, ignored = _scan_labels(t, classes, int(ii) if ignoring else 0, ignoring)
    if bad >= 0:
        extra = f" (or ignore_index={ignore_index})" if spec["ignore_index"] else ""
        raise ValueError(f"{fn}: target holds class {int(t[bad])}, outside [0, {classes}){extra}")
    if not ignored:
        return t, None
    kept = t != ignore_index
    return np.where(kept, t, 0), kept


def _mask(fn, target, shape, classes):
    """PyTorch's multi-label target (class indices, the list ended by the first -1) as a 0/1 row mask."""
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: target must hold integer class indices (ended by -1), got dtype {t.dtype}")
    if t.shape != shape:
        raise ValueError(f"{fn}: target has shape {t.shape}, expected the input's shape {shape}")
    t = t.reshape(-1, classes).astype(np.int64)
    bad = (t < -1) | (t >= classes)  # PyTorch checks every entry, also those after the -1
    if bad.any():
        raise ValueError(f"{fn}: target holds {int(t[bad][0])}; class indices must be in [0, {classes}), "
                         f"or -1 to end the list")
    listed = np.cumprod(t >= 0, axis=1).astype(bool)  # entries before the first -1
    mask = np.zeros(t.shape, bool)
    r, c = np.nonzero(listed)
    mask[r, t[r, c]] = True
    return mask


def _per_row(fn, target, batch, what, ok, dtype):
    t = _as_float_array(target, fn, "target")
    if t.shape != batch:
        raise ValueError(f"{fn}: target has shape {t.shape}, expected {batch}")
    t = t.reshape(-1)
    bad = ~ok(t) & ~np.isnan(t)
    if bad.any():
        raise ValueError(f"{fn}: target must hold {what}; found {float(t[bad][0])!r}")
    return np.ascontiguousarray(t, dtype=dtype)


def run(fn, spec, loops, inputs, target, params, reduction, weight=None, ignore_index=-100, axis=_CLASSES,
        base=None, grad=None, fused=False, heavy=False):
    """The reduced loss (grad=None) or its gradient w.r.t. the input named ``grad``; with ``fused``
    both, from one pass over each row. ``heavy``: the loss evaluates exp, log, sqrt, ... (it goes
    parallel at smaller sizes, _rowwise.pick)."""
    if (type(target) is not np.ndarray or weight is not None or len(inputs) != 1 or type(inputs[0]) is not np.ndarray) \
            and lazy(target, inputs, (weight,)):
        from ._dask import run as lazy_run
        return lazy_run(fn, spec, loops, inputs, target, params, reduction, weight, ignore_index, axis, base, grad,
                        fused, heavy)
    check_reduction(fn, reduction)
    rows, moved_shape, axis, dtype = _rows(fn, spec, inputs, axis)
    n_rows, classes = rows[0].shape
    batch = moved_shape[:-1]
    if spec["prob_input"]:
        bad = ((rows[0] < 0) | (rows[0] > 1)) & ~np.isnan(rows[0])
        if bad.any():
            raise ValueError(f"{fn}: {spec['inputs'][0]} must hold probabilities in [0, 1]; "
                             f"found {float(rows[0][bad][0])!r}")
    targets = spec["targets"]
    kept = None
    if targets == ("none",):
        kind, extra = "none", []
        if target is not None:
            raise TypeError(f"{fn}: takes no target")
    elif "prob" in targets and np.asarray(target).dtype.kind == "f" and np.shape(target) == np.shape(inputs[0]):
        kind = "prob"
        t, _, _, _ = _rows(fn, {"inputs": ("target",), "class_axis": spec["class_axis"]}, (target,), axis)
        t = t[0].astype(dtype, copy=False)
        bad = ((t < 0) | (t > 1)) & ~np.isnan(t)
        if bad.any():
            raise ValueError(f"{fn}: target must hold probabilities in [0, 1]; found {float(t[bad][0])!r}")
        extra = [t]
    elif "label" in targets:
        kind = "label"
        labels, kept = _labels(fn, spec, target, batch, classes, ignore_index)
        extra = [labels]
    elif "mask" in targets:
        kind = "mask"
        extra = [_mask(fn, target, tuple(np.shape(inputs[0])), classes).astype(dtype)]
    else:  # "pm1": one ±1 per row
        kind = "pm1"
        extra = [_per_row(fn, target, batch, "labels -1 or +1", lambda v: (v == 1) | (v == -1), dtype)]
    if spec["weight"]:
        if weight is None:
            w = _ones(classes, dtype)
        else:
            w = _as_float_array(weight, fn, "weight")
            if w.shape != (classes,):
                raise ValueError(f"{fn}: weight must have shape ({classes},), one per class; got {w.shape}")
            if not np.isfinite(w).all() or (w < 0).any():
                raise ValueError(f"{fn}: weight must hold finite numbers >= 0")
            w = np.ascontiguousarray(w, dtype=dtype)
        extra.append(w)
    values = []
    for v, (name, positive, allow_inf) in zip(params, spec["params"]):
        a = _check_param(fn, name, v, positive, allow_inf)
        if a.ndim != 0:
            raise ValueError(f"{fn}: parameter {name!r} must be a scalar")
        values.append(dtype.type(a))
    scale = None
    if base is not None:
        b = _check_param(fn, "base", base, True, False)
        if b.ndim != 0 or b == 1:
            raise ValueError(f"{fn}: base must be a positive number other than 1, got {base!r}")
        scale = 1.0 / math.log(float(b))
    denominator = None
    if reduction == "mean":
        if kind == "label" and spec["mean"] == "weights":
            labels = extra[0] if kept is None else extra[0][kept]
            weighted = spec["weight"] and weight is not None  # no weight: all ones
            denominator = extra[-1][labels].sum(dtype=dtype) if weighted else dtype.type(labels.size)
        else:
            denominator = dtype.type(n_rows)
    if grad is not None:  # gradient kernels divide by the 'mean' denominator as they store
        values.append(denominator if denominator is not None else dtype.type(1))
    loop = pick(loops[(kind, grad, fused)], dtype, rows[0].size, heavy)
    out = np.empty(n_rows if grad is None else (n_rows, classes), dtype)
    outs = [out, np.empty(n_rows, dtype)] if fused else [out]  # the gradient, then the fused loss
    if n_rows:
        loop(*rows, *extra, *values, *outs[::-1])  # kernels take (…, vout, out)
    if kept is not None and not kept.all():
        for o in outs:
            o[~kept] = 0
    if scale is not None:
        outs = [(o * scale).astype(dtype) for o in outs]
    if grad is None:
        return _reduce_values(outs[0], batch, reduction, denominator, dtype)
    g = np.moveaxis(outs[0].reshape(moved_shape), -1, axis)
    return (_reduce_values(outs[1], batch, reduction, denominator, dtype), g) if fused else g


def _reduce_values(values, batch, reduction, denominator, dtype):
    if reduction == "none":
        return values.reshape(batch)
    total = values.sum(dtype=dtype)
    if reduction == "sum":
        return dtype.type(total)
    with np.errstate(invalid="ignore", divide="ignore"):  # a mean of nothing is nan, as in PyTorch
        return dtype.type(total / denominator)
