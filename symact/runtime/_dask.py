"""Dask arrays through the generated kernels: lazy, one block at a time.

The NumPy front ends (``_runtime.elementwise`` and ``param_vjp``, ``_rowwise.rowwise``, ``_losses``,
``_rowlosses.run``) hand a call to this module when one of its operands is a dask array, recognised by
its type's module name, so a NumPy call never imports dask. Each function here checks what it can
without computing (dtypes, shapes, axes, parameters given as numbers), builds the graph, and returns
dask arrays; every task runs the same NumPy front end on one block, so each block's values are the
NumPy kernel's, and value checks (labels in range, targets in their domain) run, with the NumPy
messages, when the blocks are computed.

- Elementwise kernels: ``blockwise`` over the operands broadcast as NumPy broadcasts them (array
  parameters too); dtype and chunks kept. Fused kernels (``_fwd_grad``, ``_fwd_vjp``) compute both
  results in one task per block. Parameter VJPs sum the lazy products over the broadcast axes with a
  dask reduction.
- Row kernels (softmax family, row losses): the row axis must be one chunk. If it is split, it alone
  is rechunked, with a ``RowChunkWarning`` (a dask ``PerformanceWarning``).
- Losses: 'none' is lazy per element (per row); 'sum', 'mean' and 'batchmean' are dask reductions with
  the NumPy denominators (element count, sum of weights, sum of the kept rows' class weights).
  Gradients of 'mean' divide the 'sum' gradient by the same (lazy) denominator.

Tasks refer to the compiled loops by module and name, so ``dask.distributed`` workers import the
kernel modules (symact must be installed there) instead of receiving compiled code.
"""
import importlib
import math
import sys
import warnings

import dask.array as da
import numpy as np
from dask.array.core import PerformanceWarning

from . import _runtime


class RowChunkWarning(PerformanceWarning):
    """A row kernel got a dask array whose row (class) axis is split into several chunks: that axis was
    rechunked into one chunk (a shuffle of the data; each block then holds whole rows)."""


# ---- operands -------------------------------------------------------------------------------------

def is_dask(value):
    return type(value).__module__.startswith("dask")


def _float_dtype(dtype, fn, what):
    """The dtype the NumPy front end computes in (``_runtime._as_float_array``): float32/float64 kept,
    float16 as float32, integers and bools as float64; anything else is its TypeError."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return dtype if dtype.type in (np.float32, np.float64) else np.dtype(np.float32)
    if dtype.kind in "iub":
        return np.dtype(np.float64)
    raise TypeError(f"{fn}: {what} must be a real number or array of real numbers, got dtype {dtype}")


def _as_dask(value, fn, what):
    """A dask array of the front end's float dtype (lazily converted); NumPy data becomes one chunk."""
    if is_dask(value) and not isinstance(value, da.Array):
        raise TypeError(f"{fn}: {what} must be an array or number; a dask {type(value).__name__} is not "
                        f"supported (use a dask.array.Array)")
    a = value if isinstance(value, da.Array) else da.asarray(_runtime._as_float_array(value, fn, what))
    if any(math.isnan(s) for s in a.shape):
        raise ValueError(f"{fn}: {what} has unknown chunk sizes (shape {a.shape}); call compute_chunk_sizes() "
                         f"on it first")
    dtype = _float_dtype(a.dtype, fn, what)
    return a if a.dtype == dtype else a.astype(dtype)


class _Ref:
    """A module-level object of the generated package (a kernel's table of compiled loops), pickled by
    module and name: a dask.distributed worker imports the module and finds it there. Indexing it
    indexes the object, so the NumPy front ends take it in place of the table."""
    __slots__ = ("obj", "module", "name")

    def __init__(self, obj, module, name):
        self.obj, self.module, self.name = obj, module, name

    def __getitem__(self, key):
        return self.obj[key]

    def __reduce__(self):
        return _load, (self.module, self.name)

    def __dask_tokenize__(self):
        return ("symact-loops", self.module, self.name)


def _load(module, name):
    obj = getattr(importlib.import_module(module), name)
    return _Ref(obj, module, name)


_REFS = {}


def _ref(loops):
    """The _Ref of a loop table: the module of its first compiled loop, and the global holding it."""
    ref = _REFS.get(id(loops))
    if ref is None or ref.obj is not loops:
        leaf = loops
        while isinstance(leaf, (dict, tuple, list)):
            leaf = next(iter(leaf.values())) if isinstance(leaf, dict) else leaf[0]
        module = getattr(getattr(leaf, "py_func", None), "__module__", None)
        names = [k for k, v in vars(sys.modules[module]).items() if v is loops] if module in sys.modules else []
        if not names:
            raise RuntimeError(f"symact: cannot locate the loop table of {module!r} for dask workers")
        ref = _REFS[id(loops)] = _Ref(loops, module, names[0])
    return ref


def _divide_block(a, b):
    """a / b as the NumPy front ends divide: a mean of nothing is nan, without a RuntimeWarning."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(a / b)


def _divide(a, b):
    """``a / b`` lazily for a dask array ``a`` and a number or 0-d dask array ``b``."""
    ind = tuple(range(a.ndim))
    args = (b, ()) if isinstance(b, da.Array) else (b, None)
    return da.blockwise(_divide_block, ind, a, ind, *args, dtype=a.dtype)


def _size(nbytes):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024


def _one_chunk(fn, a, axis, what):
    """``a`` with ``axis`` in one chunk: rechunked (that axis only) with a RowChunkWarning if split."""
    if len(a.chunks[axis]) == 1:
        return a
    per_block = a.dtype.itemsize * a.shape[axis] * max(math.prod(max(c) for n, c in enumerate(a.chunks) if n != axis), 1)
    warnings.warn(
        f"{fn}: the row axis {axis} of {what} (length {a.shape[axis]}) is split into {len(a.chunks[axis])} chunks; "
        f"rechunked into one chunk along that axis (blocks of up to {_size(per_block)}). Chunk the rows "
        f"whole (e.g. chunks={{{axis}: -1}}) to avoid this shuffle"
        f"{'; rows this long need that much memory per task' if per_block > 2**28 else ''}.",
        RowChunkWarning, stacklevel=5)
    return a.rechunk({axis: -1})


# ---- elementwise kernels ---------------------------------------------------------------------------

def _elementwise_block(*blocks, fn, loops, specs, ninputs, nout, heavy):
    x, inputs, params = blocks[0], blocks[1:1 + ninputs], blocks[1 + ninputs:]
    if nout == 1:
        return np.asarray(_runtime.elementwise(fn, loops, x, params, specs, None, 1, inputs, heavy))
    shape = np.broadcast_shapes(*(np.shape(b) for b in blocks[:1 + ninputs]),
                                *(np.shape(p) for p in params if np.ndim(p)))
    dtype = np.result_type(*(_float_dtype(np.asarray(b).dtype, fn, "x") for b in blocks[:1 + ninputs]),
                           *(_float_dtype(np.asarray(p).dtype, fn, "p") for p in params if np.ndim(p)))
    both = np.empty((nout,) + shape, dtype)
    _runtime.elementwise(fn, loops, x, params, specs, tuple(both), nout, inputs, heavy)
    return both


def _operands(fn, x, inputs, params, specs):
    """(x, inputs, parameters) checked: dask arrays as they are (their values are checked per block),
    NumPy data and numbers by the NumPy checks now."""
    xa = _as_dask(x, fn, "x")
    extra = [_as_dask(v, fn, "g") for v in inputs]
    values = []
    for v, (name, pos, inf) in zip(params, specs):
        if isinstance(v, da.Array) or is_dask(v):
            values.append(_as_dask(v, fn, f"parameter {name!r}"))
        else:
            values.append(_runtime._check_param(fn, name, v, pos, inf))
    return xa, extra, values


def elementwise(fn, loops, x, params, specs, out, nout=1, inputs=(), heavy=False):
    """``_runtime.elementwise`` on dask operands: a lazy array (a pair for fused kernels) of the
    broadcast shape, chunked as the operands, computed block by block by the NumPy kernel."""
    if out is not None:
        raise TypeError(f"{fn}: out= is not supported with dask arrays (the result is a new lazy array)")
    xa, extra, values = _operands(fn, x, inputs, params, specs)
    arrays = [xa] + extra + [v for v in values if v.ndim > 0]
    dtype = np.result_type(*(a.dtype for a in arrays))
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        shapes = ", ".join(str(a.shape) for a in arrays)
        what = "x, g and the parameters" if inputs else "x and its parameters"
        raise ValueError(f"{fn}: shapes {shapes} of {what} do not broadcast") from None
    ndim = len(shape)
    args = []
    for n, a in enumerate([xa] + extra + values):
        if n > len(extra) and a.ndim == 0 and not isinstance(a, da.Array):
            # a number: passed to every block as given (a Python float keeps the NumPy fast path)
            args += [params[n - 1 - len(extra)], None]
        else:
            a = a if isinstance(a, da.Array) else da.asarray(a)
            args += [a, tuple(range(a.ndim))[::-1]]  # trailing axes aligned, as NumPy broadcasts
    out_ind = tuple(range(ndim))[::-1]
    kw = dict(fn=fn, loops=_ref(loops), specs=specs, ninputs=len(extra), nout=nout, heavy=heavy)
    if nout == 1:
        return da.blockwise(_elementwise_block, out_ind, *args, dtype=dtype, **kw)
    both = da.blockwise(_elementwise_block, (ndim,) + out_ind, *args, dtype=dtype, new_axes={ndim: nout}, **kw)
    return tuple(both[k] for k in range(nout))


def param_vjp_sum(fn, prod, p, spec):
    """The end of ``_runtime.param_vjp`` on dask operands: the lazy per-element products g·df/dp summed
    over the axes the parameter was broadcast along, a dask reduction, in p's shape (float32 summed in
    float64 and rounded once, as the NumPy path)."""
    name, pos, inf = spec
    shape = p.shape if isinstance(p, da.Array) else np.shape(_runtime._check_param(fn, name, p, pos, inf))
    lead = prod.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and prod.shape[lead + i] != 1)
    acc = np.float64 if prod.dtype == np.float32 else prod.dtype
    return prod.sum(axis=axes, dtype=acc, keepdims=True).astype(prod.dtype).reshape(shape)


# ---- row kernels (softmax family) ------------------------------------------------------------------

def _rowwise_block(x, g=None, *, fn, loops, axis, params, specs, scalar, pieces, heavy, parts):
    from ._rowwise import rowwise
    return np.asarray(rowwise(fn, loops, x, axis, params, specs, None, g=g, scalar=scalar, pieces=pieces, heavy=heavy,
                              parts=parts))


def rowwise(fn, loops, x, axis, params, specs, out, g=None, scalar=False, pieces=None, heavy=False, parts=1):
    """``_rowwise.rowwise`` on dask arrays: each block holds whole rows (the axis in one chunk)."""
    from ._rowwise import _axis
    from ._checks import check_parts, check_pieces
    if out is not None:
        raise TypeError(f"{fn}: out= is not supported with dask arrays (the result is a new lazy array)")
    xa = _as_dask(x, fn, "x")
    if xa.ndim == 0:
        raise ValueError(f"{fn}: x must have at least one dimension (the axis to work along)")
    axis = _axis(fn, axis, xa.ndim, xa.shape, "x")
    check_parts(fn, "axis", axis, xa.shape[axis], parts, xa.shape)
    values = []
    for v, (name, pos, inf) in zip(params, specs):
        if is_dask(v):
            raise TypeError(f"{fn}: parameter {name!r} must be a number, not a dask array")
        a = _runtime._check_param(fn, name, v, pos, inf)
        if a.ndim != 0:
            raise ValueError(f"{fn}: parameter {name!r} must be a scalar")
        values.append(v)
    size = xa.shape[axis]
    if pieces is not None:
        pieces = check_pieces(fn, size, pieces)
    xa = _one_chunk(fn, xa, axis, "x")
    nd = xa.ndim
    ind = tuple(range(nd))
    rest = tuple(i for i in ind if i != axis)
    kw = dict(fn=fn, loops=_ref(loops), axis=axis, params=tuple(values), specs=specs, scalar=scalar,
              pieces=pieces, heavy=heavy, parts=parts)
    if g is None:
        if scalar and pieces is None:  # one value per row: the axis is dropped
            return da.blockwise(_rowwise_block, rest, xa, ind, dtype=xa.dtype, concatenate=True, **kw)
        shrink = pieces if pieces is not None else parts  # the axis, that many times shorter
        adjust = {axis: size // shrink} if shrink != 1 else None
        return da.blockwise(_rowwise_block, ind, xa, ind, dtype=xa.dtype, adjust_chunks=adjust, **kw)
    ga = _as_dask(g, fn, "g")
    if pieces is not None or parts != 1:
        shrink = pieces if pieces is not None else parts
        want = xa.shape[:axis] + (size // shrink,) + xa.shape[axis + 1:]
        g_ind = ind[:axis] + (nd,) + ind[axis + 1:]
        g_chunks = xa.chunks[:axis] + ((size // shrink,),) + xa.chunks[axis + 1:]
    elif scalar:
        want = xa.shape[:axis] + xa.shape[axis + 1:]
        g_ind, g_chunks = rest, xa.chunks[:axis] + xa.chunks[axis + 1:]
    else:
        want, g_ind, g_chunks = xa.shape, ind, xa.chunks
    if ga.shape != want:
        raise ValueError(f"{fn}: g has shape {ga.shape}, expected {want}")
    ga = ga.astype(xa.dtype).rechunk(g_chunks)
    return da.blockwise(_rowwise_block, ind, xa, ind, ga, g_ind, dtype=xa.dtype, concatenate=True, **kw)


# ---- pointwise losses ---------------------------------------------------------------------------

def _domain_block(a, *, fn, what, kind):
    from ._losses import check_values
    check_values(fn, what, a, kind, np.isnan(a))
    return a


def check(fn, input, target, kind, reduction, others=(), input_kind="real", reductions=None):
    """``_losses.check`` on dask arrays: shapes and dtypes now, the domains of input and target when
    the blocks are computed; nan targets (and other inputs) replaced and marked lazily."""
    from ._checks import REDUCTIONS
    from ._losses import _PLACEHOLDER
    reductions = REDUCTIONS if reductions is None else reductions
    if not isinstance(reduction, str) or reduction not in reductions:
        raise ValueError(f"{fn}: reduction must be one of {', '.join(reductions)}, got {reduction!r}")
    x = _as_dask(input, fn, "input")
    t = _as_dask(target, fn, "target")
    arrays = [_as_dask(o, fn, name) for name, o in others]
    for name, a in [("target", t)] + [(n, a) for (n, _), a in zip(others, arrays)]:
        if a.shape != x.shape:
            raise ValueError(f"{fn}: {name} has shape {a.shape} but input has shape {x.shape}")
    dtype = np.result_type(x.dtype, t.dtype, *(a.dtype for a in arrays))
    if input_kind != "real":
        x = x.map_blocks(_domain_block, fn=fn, what="input", kind=input_kind, dtype=x.dtype)
    t = t.rechunk(x.chunks)
    if kind != "real":
        t = t.map_blocks(_domain_block, fn=fn, what="target", kind=kind, dtype=t.dtype)
    nan_t = da.isnan(t)
    nans = nan_t
    t = da.where(nan_t, _PLACEHOLDER[kind], t)
    for n, a in enumerate(arrays):
        a = a.rechunk(x.chunks)
        nan_a = da.isnan(a)
        nans = nans | nan_a
        arrays[n] = da.where(nan_a, 0, a)
    return x.astype(dtype), t.astype(dtype), [a.astype(dtype) for a in arrays], nans


def _weight(fn, weight, shape, dtype):
    if weight is None:
        return None
    if not is_dask(weight):
        from ._losses import _weight as numpy_weight
        return numpy_weight(fn, weight, shape, dtype)
    w = _as_dask(weight, fn, "weight").astype(dtype)
    try:
        np.broadcast_shapes(w.shape, shape)
    except ValueError:
        raise ValueError(f"{fn}: weight of shape {w.shape} does not broadcast to the input's {shape}") from None
    return w


def _mark(values, nans):
    return values if nans is None else da.where(nans, np.nan, values).astype(values.dtype)


def _denominator(values, w, mean_by):
    if w is not None and mean_by == "weights":
        return da.broadcast_to(da.asarray(w), values.shape).sum(dtype=values.dtype)
    return values.dtype.type(values.size)


def _batch(values):
    return values.dtype.type(values.shape[0] if values.ndim else 1)


def reduce(fn, values, reduction, weight=None, mean_by="count", nans=None):
    """``_losses.reduce`` on dask arrays: 'none' lazily, 'sum'/'mean'/'batchmean' as dask reductions."""
    values = _mark(_as_dask(values, fn, "values"), nans)
    w = _weight(fn, weight, values.shape, values.dtype)
    weighted = values * w if w is not None else values
    if reduction == "none":
        return weighted
    total = weighted.sum(dtype=values.dtype)
    if reduction == "batchmean":
        return _divide(total, _batch(values))
    return _divide(total, _denominator(values, w, mean_by)) if reduction == "mean" else total


def reduce_grad(fn, grads, reduction, weight=None, mean_by="count", nans=None):
    """``_losses.reduce_grad`` on dask arrays: the per-element derivative, weighted, divided lazily."""
    grads = _mark(_as_dask(grads, fn, "gradient"), nans)
    w = _weight(fn, weight, grads.shape, grads.dtype)
    weighted = grads * w if w is not None else grads
    if reduction == "mean" and grads.size:
        weighted = _divide(weighted, _denominator(grads, w, mean_by))
    if reduction == "batchmean" and grads.size:
        weighted = _divide(weighted, _batch(grads))
    return weighted


# ---- row losses -----------------------------------------------------------------------------------

def _row_loss_block(*blocks, fn, spec, loops, ninputs, params, weight, ignore_index, axis, base, grad, fused,
                    heavy):
    """One block of whole rows through ``_rowlosses.run``: the per-row losses ('none'), the gradient
    of their sum, or (fused) that gradient with the per-row losses appended along the class axis."""
    from ._rowlosses import run
    inputs, target = blocks[:ninputs], (blocks[ninputs] if len(blocks) > ninputs else None)
    if grad is None:
        return np.asarray(run(fn, spec, loops, inputs, target, params, "none", weight, ignore_index, axis, base,
                              heavy=heavy))
    if not fused:
        return run(fn, spec, loops, inputs, target, params, "sum", weight, ignore_index, axis, base, grad=grad,
                   heavy=heavy)
    values, g = run(fn, spec, loops, inputs, target, params, "none", weight, ignore_index, axis, base, grad=grad,
                    fused=True, heavy=heavy)
    return np.concatenate([g, np.expand_dims(values, axis)], axis=axis)


def _kept_weights_block(t, *, fn, spec, classes, weight, ignore_index, out_dtype):
    """Per row: the class weight of its label (1 without ``weight``), 0 where the label is ignored: the
    terms of a weighted 'mean''s denominator (``_rowlosses.run``)."""
    from ._rowlosses import _labels
    labels, kept = _labels(fn, spec, t, t.shape, classes, ignore_index)
    w = np.ones(classes, out_dtype) if weight is None else np.asarray(weight, out_dtype)
    terms = w[labels]
    if kept is not None:
        terms[~kept] = 0
    return terms.reshape(t.shape)


def run(fn, spec, loops, inputs, target, params, reduction, weight=None, ignore_index=-100, axis=None,
        base=None, grad=None, fused=False, heavy=False):
    """``_rowlosses.run`` on dask arrays: the class axis in one chunk, rows in blocks; 'none' lazily,
    'sum' and 'mean' as dask reductions with the NumPy denominators; gradients of 'mean' divided by
    the same lazy denominator."""
    from ._checks import check_reduction
    from ._rowlosses import _CLASSES
    from ._rowwise import _axis
    axis = _CLASSES if axis is None else axis
    check_reduction(fn, reduction)
    names = spec["inputs"]
    xs = [_as_dask(a, fn, name) for name, a in zip(names, inputs)]
    for name, a in zip(names[1:], xs[1:]):
        if a.shape != xs[0].shape:
            raise ValueError(f"{fn}: {name} has shape {a.shape} but {names[0]} has shape {xs[0].shape}")
    x = xs[0]
    if x.ndim == 0:
        raise ValueError(f"{fn}: {names[0]} must have at least one dimension (the classes)")
    if axis is _CLASSES:
        axis = spec["class_axis"] if x.ndim > 1 else 0
    axis = _axis(fn, axis, x.ndim, x.shape, names[0])
    classes = x.shape[axis]
    if classes == 0:
        raise ValueError(f"{fn}: {names[0]} has no classes (size 0 along dimension {axis})")
    dtype = np.result_type(*(a.dtype for a in xs))
    x = _one_chunk(fn, x, axis, names[0])
    xs = [x] + [a.rechunk(x.chunks) for a in xs[1:]]
    ind = tuple(range(x.ndim))
    rest = tuple(i for i in ind if i != axis)
    batch = x.shape[:axis] + x.shape[axis + 1:]
    batch_chunks = x.chunks[:axis] + x.chunks[axis + 1:]
    args = [a for xa in xs for a in (xa, ind)]
    targets, kind, t = spec["targets"], None, None
    if targets == ("none",):
        if target is not None:
            raise TypeError(f"{fn}: takes no target")
    else:
        t_dtype = target.dtype if hasattr(target, "dtype") else np.asarray(target).dtype
        t_shape = tuple(np.shape(target))
        if "prob" in targets and t_dtype.kind == "f" and t_shape == x.shape:
            kind = "prob"
        elif "label" in targets:
            kind = "label"
            if t_dtype.kind not in "iu":
                if t_dtype.kind == "f" and "prob" in targets:
                    raise TypeError(f"{fn}: a float target must be class probabilities of the input's shape; "
                                    f"class labels must be integers (got dtype {t_dtype} with shape {t_shape})")
                raise TypeError(f"{fn}: target must hold integer class labels, got dtype {t_dtype}")
        elif "mask" in targets:
            kind = "mask"
            if t_dtype.kind not in "iu":
                raise TypeError(f"{fn}: target must hold integer class indices (ended by -1), got dtype {t_dtype}")
        else:
            kind = "pm1"
        whole = kind in ("prob", "mask")
        want = x.shape if whole else batch
        if t_shape != want:
            extra = " (the input's shape without the class dimension)" if kind == "label" else ""
            raise ValueError(f"{fn}: target has shape {t_shape}, expected {want}{extra}")
        t = target if isinstance(target, da.Array) else da.asarray(np.asarray(target))
        t = t.rechunk(x.chunks if whole else batch_chunks)
        args += [t, ind if whole else rest]
    if is_dask(weight):
        weight = np.asarray(weight.compute())  # one number per class: small
    kw = dict(fn=fn, spec=spec, loops=_ref(loops), ninputs=len(xs), params=tuple(params), weight=weight,
              ignore_index=ignore_index, axis=axis, base=base, grad=grad, fused=fused, heavy=heavy)
    denominator = None
    if reduction == "mean":
        if kind == "label" and spec["mean"] == "weights":
            terms = t.map_blocks(_kept_weights_block, dtype=dtype, fn=fn, spec=spec, classes=classes, weight=weight,
                                 ignore_index=ignore_index, out_dtype=dtype)
            denominator = terms.sum(dtype=dtype)
        else:
            denominator = dtype.type(math.prod(batch))

    def reduced(values):
        if reduction == "none":
            return values
        total = values.sum(dtype=dtype)
        return total if reduction == "sum" else _divide(total, denominator)

    if grad is None:
        values = da.blockwise(_row_loss_block, rest, *args, dtype=dtype, concatenate=True, **kw)
        return reduced(values)
    if not fused:
        g = da.blockwise(_row_loss_block, ind, *args, dtype=dtype, concatenate=True, **kw)
        return _divide(g, denominator) if denominator is not None else g
    packed = da.blockwise(_row_loss_block, ind, *args, dtype=dtype, concatenate=True,
                          adjust_chunks={axis: classes + 1}, **kw)
    lead = (slice(None),) * axis
    g = packed[lead + (slice(0, classes),)]
    values = packed[lead + (classes,)]
    return reduced(values), (_divide(g, denominator) if denominator is not None else g)
