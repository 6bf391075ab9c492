"""Front end of the losses: argument checks, weights and reductions (PyTorch's semantics).

The per-element loss and its derivative are the generated ``<name>_elementwise`` kernels; this
module checks what they are given and reduces as torch.nn.functional (2.13) does: ``mean`` divides by
the number of elements (with a ``weight``: by the number of elements for huber_loss and the BCE
losses, by the sum of the broadcast weights for l1_loss and mse_loss), ``sum`` adds, ``none`` keeps
the shape, and ``batchmean`` (kl_div only) divides the sum by input.shape[0]. A mean of nothing (an
empty input, or weights that sum to 0) is nan, as in PyTorch, without a warning.
"""
import numpy as np

from ._checks import REDUCTIONS, VALUES, check_flag, check_reduction
from ._runtime import _as_float_array, lazy

_PLACEHOLDER = {"real": 0.0, "pm1": 1.0, "prob": 0.5, "nonneg": 1.0}  # a valid target in place of a nan


flag = check_flag  # the generated loss modules call _losses.flag


def check_values(fn, name, a, kind, nan):
    """The values of a (not nan) are of ``kind`` (_checks.VALUES), or a ValueError quoting one that is not."""
    ok, what = VALUES[kind]
    if ok is not None:
        bad = ~ok(a) & ~nan
        if bad.any():
            raise ValueError(f"{fn}: {name} must hold {what}; found {float(a[bad].flat[0])!r}")


def check(fn, input, target, kind, reduction, others=(), input_kind="real", reductions=REDUCTIONS):
    """Arrays of one float dtype and one shape, a valid input, target and reduction; or a clear error.

    Returns (input, target, [other inputs], nans): ``nans`` marks the elements whose target or other
    input is nan (None when there is none). The kernels take the target and other inputs as checked
    parameters, which may be infinite but not nan: nan entries are handed to them as a valid
    placeholder and their results set to nan afterwards (``reduce``), as nan in the input gives."""
    if (type(input) is not np.ndarray or type(target) is not np.ndarray or others) \
            and lazy(input, (target,), [o for _, o in others]):
        from ._dask import check as lazy_check
        return lazy_check(fn, input, target, kind, reduction, others, input_kind, reductions)
    check_reduction(fn, reduction, reductions)
    x = _as_float_array(input, fn, "input")
    check_values(fn, "input", x, input_kind, np.isnan(x))
    t = _as_float_array(target, fn, "target")
    arrays = [_as_float_array(o, fn, name) for name, o in others]
    for name, a in [("target", t)] + [(n, a) for (n, _), a in zip(others, arrays)]:
        if a.shape != x.shape:
            raise ValueError(f"{fn}: {name} has shape {a.shape} but input has shape {x.shape}")
    nan_t = np.isnan(t)
    check_values(fn, "target", t, kind, nan_t)
    dtype = np.result_type(x.dtype, t.dtype, *(a.dtype for a in arrays))
    nans = None
    if nan_t.any():
        nans = nan_t
        t = np.where(nan_t, _PLACEHOLDER[kind], t)
    for n, a in enumerate(arrays):
        nan_a = np.isnan(a)
        if nan_a.any():
            nans = nan_a if nans is None else nans | nan_a
            arrays[n] = np.where(nan_a, 0, a)
    return (x.astype(dtype, copy=False), t.astype(dtype, copy=False), [a.astype(dtype, copy=False) for a in arrays],
            nans)


def _weight(fn, weight, shape, dtype):
    if weight is None:
        return None
    w = _as_float_array(weight, fn, "weight").astype(dtype, copy=False)
    try:
        np.broadcast_shapes(w.shape, shape)
    except ValueError:
        raise ValueError(f"{fn}: weight of shape {w.shape} does not broadcast to the input's {shape}") from None
    return w


def _denominator(values, w, mean_by):
    """What 'mean' divides by: the element count, or the weights' sum (mean_by='weights')."""
    if w is not None and mean_by == "weights":
        return np.broadcast_to(w, values.shape).sum(dtype=values.dtype)
    return values.dtype.type(values.size)


def _batch(values):
    """What 'batchmean' divides by: input.shape[0] (1 for a 0-d input, as torch)."""
    return values.dtype.type(values.shape[0] if values.ndim else 1)


def _mark(values, nans):
    """nan where a target or other input was nan (see ``check``)."""
    if nans is not None:
        values = np.array(values, copy=True)
        values[np.broadcast_to(nans, values.shape)] = np.nan
    return values


def _divide(total, denominator):
    """total / denominator as PyTorch's 'mean': nan for a mean of nothing (0/0), without NumPy's
    RuntimeWarning."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / denominator


def reduce(fn, values, reduction, weight=None, mean_by="count", nans=None):
    if (type(values) is not np.ndarray or weight is not None) and lazy(values, (weight,)):
        from ._dask import reduce as lazy_reduce
        return lazy_reduce(fn, values, reduction, weight, mean_by, nans)
    values = _mark(values, nans)
    w = _weight(fn, weight, values.shape, values.dtype)
    weighted = values * w if w is not None else values
    if reduction == "none":
        return weighted
    total = weighted.sum(dtype=values.dtype)
    if reduction == "batchmean":
        return _divide(total, _batch(values))
    return _divide(total, _denominator(values, w, mean_by)) if reduction == "mean" else total


def reduce_grad(fn, grads, reduction, weight=None, mean_by="count", nans=None):
    """d(reduced loss)/d(input): the per-element derivative, weighted, divided as 'mean' divides."""
    if (type(grads) is not np.ndarray or weight is not None) and lazy(grads, (weight,)):
        from ._dask import reduce_grad as lazy_reduce_grad
        return lazy_reduce_grad(fn, grads, reduction, weight, mean_by, nans)
    grads = _mark(grads, nans)
    w = _weight(fn, weight, grads.shape, grads.dtype)
    weighted = grads * w if w is not None else grads
    if reduction == "mean" and grads.size:
        weighted = _divide(weighted, _denominator(grads, w, mean_by))
    if reduction == "batchmean" and grads.size:
        weighted = _divide(weighted, _batch(grads))
    return weighted
