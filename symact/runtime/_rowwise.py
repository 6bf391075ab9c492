"""Front end of the row-wise (vector) kernels: axis handling, validation, dtype, out=.

The row loops themselves are in ``vectors/<name>.py``; they see a C-contiguous (rows, K) array.
"""
import math

import numpy as np
from numba import njit

from ._checks import check_parts, check_pieces
from ._runtime import _as_float_array, _check_param, _fast_scalars, fma, lazy, maxnum, use_parallel, wide_vectors


# Row reductions that vectorize. LLVM keeps a float sum or max in order (scalar) unless it may
# reassociate; these two helpers may (SIMD partial sums; a max that assumes no nan). They only ever
# see finished summands, and the kernels compute the summands and the shift in strict arithmetic, so
# nothing else is reassociated. A nan in a row still reaches every result through the sums.
@njit(cache=True, fastmath={"reassoc", "nsz"})
def fsum_f32(a):
    s = np.float32(0.0)
    for k in range(a.shape[0]):
        wide_vectors()
        s += a[k]
    return s


@njit(cache=True, fastmath={"reassoc", "nsz"})
def fsum_f64(a):
    s = 0.0
    for k in range(a.shape[0]):
        wide_vectors()
        s += a[k]
    return s


# The mean of a row's terms: the sum divided by n (the same bits as fsum(a)/n), unless the sum
# overflowed while the terms are finite ([max, 0, -max]): then the terms divided by n first, so the
# result is inf only where the mean is.
@njit(cache=True)
def fmean_f32(a):
    s = fsum_f32(a)
    if not math.isinf(s):
        return s/np.float32(a.shape[0])
    n = np.float32(a.shape[0])
    t = np.float32(0.0)
    for k in range(a.shape[0]):
        t += a[k]/n
    return t


@njit(cache=True)
def fmean_f64(a):
    s = fsum_f64(a)
    if not math.isinf(s):
        return s/a.shape[0]
    n = float(a.shape[0])
    t = 0.0
    for k in range(a.shape[0]):
        t += a[k]/n
    return t


# a/b for a divisor b that is the same along the row (a softmax denominator, in [1, K]): from rb =
# 1/b, rounded once per row, q = a·rb and one correction with the residual a − q·b (fma). By
# Markstein's theorem this is a/b correctly rounded, the same bits as the division, wherever that
# residual is exact: b and 1/b normal and |a/b| above ~2^(p/2) times the smallest normal (below it,
# in gradual underflow, within 1 ulp of it). 3 multiply-adds in place of a division: 11% of float64
# softmax on one core, 3% of float32. For nan or inf (in a, b or the residual) it returns q, which
# is then a/b's own value.
@njit(cache=True, inline="always")
def div_rcp(a, b, rb):
    q = a * rb
    e = fma(-q, b, a)
    return fma(e, rb, q) if e == e else q


# The argument of a log1p rest, log Σ_k e^{a_k − M} = log1p(Σ_{k ≠ argmax} e^{a_k − M}), from the row of
# shifted exps itself: the terms that are exactly 1 (the maximum's e^0, and any tie) are counted, not
# summed, so the small rest keeps its own precision (log_softmax([100, 0, 0])_0 = −7.4e−44, not 0).
@njit(cache=True, fastmath={"reassoc", "nsz"})
def frest_f32(a):
    s = np.float32(0.0)
    ones = 0
    for k in range(a.shape[0]):
        wide_vectors()
        one = a[k] == np.float32(1.0)
        s += np.float32(0.0) if one else a[k]
        ones += one
    return s + np.float32(ones - 1)


@njit(cache=True, fastmath={"reassoc", "nsz"})
def frest_f64(a):
    s = 0.0
    ones = 0
    for k in range(a.shape[0]):
        wide_vectors()
        one = a[k] == 1.0
        s += 0.0 if one else a[k]
        ones += one
    return s + float(ones - 1)


@njit(cache=True, fastmath={"nnan", "nsz"})
def fmax_f32(a):
    m = np.float32(-math.inf)
    for k in range(a.shape[0]):
        wide_vectors()
        m = maxnum(m, a[k])
    return m


@njit(cache=True, fastmath={"nnan", "nsz"})
def fmax_f64(a):
    m = -math.inf
    for k in range(a.shape[0]):
        wide_vectors()
        m = maxnum(m, a[k])
    return m


def _axis(fn, axis, ndim, shape, what):
    """``axis`` as an index in [0, ndim): an int (or NumPy integer) in [-ndim, ndim), else a TypeError
    (None, a float, a tuple: these kernels work along one axis) or a ValueError naming the range."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fn}: axis must be an int (one axis to work along), got {axis!r} "
                        f"of type {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{fn}: axis {int(axis)} is out of range for {what} of shape {shape} "
                         f"(an int in [{-ndim}, {ndim - 1}])")
    return int(axis) % ndim


def pick(loops, dtype, size, heavy=False):
    """The serial or the all-cores row loop, as ``_runtime.configure`` says (by default all cores
    from ``PARALLEL_MIN_SIZE`` elements on, an eighth of that for ``heavy`` kernels: exp, log, ...)."""
    serial, parallel = loops[dtype.type]
    return parallel if use_parallel(size, heavy) else serial


def rowwise(fn, loops, x, axis, params, specs, out, g=None, scalar=False, pieces=None, heavy=False, parts=1):
    """Run ``loops[dtype](x2d, [g2d,] *params, out2d)`` along ``axis``.

    ``scalar``: one value per row (logsumexp) — the result drops ``axis``; a vjp of a scalar function
    takes ``g`` with that reduced shape. ``pieces`` (maxout): the axis is cut into consecutive groups
    of that many, each group is a row, and the result keeps the axis with one value per group.
    ``parts`` (glu: 2): the axis is cut into that many equal blocks and the result has one value per
    block element (the axis ``parts`` times shorter); a vjp takes ``g`` of that shape.

    The common call (a C-contiguous float32/float64 array along its last axis, Python-number
    parameters, ``g`` and ``out`` fitting as they are) takes a fast path of about a microsecond.
    """
    if type(x) is np.ndarray and type(axis) is int and x.ndim and pieces is None and x.flags.c_contiguous \
            and x.shape[-1] and (axis == -1 or axis == x.ndim - 1) and not x.shape[-1] % parts:
        dt = x.dtype.type
        args = None
        if dt is np.float32 or dt is np.float64:
            args = _fast_scalars(params, specs, dt) if params else ()
        if args is not None:
            rows = x.reshape(-1, x.shape[-1])
            call = [rows]
            if g is not None:
                gshape = x.shape[:-1] if scalar else x.shape[:-1] + (x.shape[-1] // parts,)
                if type(g) is np.ndarray and g.dtype.type is dt and g.flags.c_contiguous and g.shape == gshape:
                    call.append(g.reshape(rows.shape[0]) if scalar else g.reshape(rows.shape[0], -1))
            if len(call) == 1 + (g is not None):
                one = scalar and g is None  # one value per row
                shape = x.shape[:-1] if one else x.shape if g is not None else \
                    x.shape[:-1] + (x.shape[-1] // parts,)
                if out is None:
                    result = np.empty(shape, dt)
                elif type(out) is np.ndarray and out.dtype.type is dt and out.shape == shape \
                        and out.flags.c_contiguous and out.flags.writeable:
                    result = out
                else:
                    result = None  # the general path writes it or explains the error
                if result is not None:
                    call += args
                    call.append(result.reshape(rows.shape[0]) if one else result.reshape(rows.shape[0], -1))
                    pick(loops, x.dtype, rows.size, heavy)(*call)
                    return result[()] if result.ndim == 0 and out is None else result
    if lazy(x, () if g is None else (g,), params):
        from ._dask import rowwise as lazy_rowwise
        return lazy_rowwise(fn, loops, x, axis, params, specs, out, g, scalar, pieces, heavy, parts)
    xa = _as_float_array(x, fn, "x")
    if xa.ndim == 0:
        raise ValueError(f"{fn}: x must have at least one dimension (the axis to work along)")
    axis = _axis(fn, axis, xa.ndim, xa.shape, "x")
    check_parts(fn, "axis", axis, xa.shape[axis], parts, xa.shape)
    values = [_check_param(fn, name, v, pos, inf) for v, (name, pos, inf) in zip(params, specs)]
    for v, (name, _, _) in zip(values, specs):
        if v.ndim != 0:
            raise ValueError(f"{fn}: parameter {name!r} must be a scalar")
    dtype = xa.dtype
    moved = np.moveaxis(xa, axis, -1)
    grouped_shape = None
    if pieces is not None:
        size = moved.shape[-1]
        pieces = check_pieces(fn, size, pieces)
        grouped_shape = moved.shape
        moved = moved.reshape(moved.shape[:-1] + (size // pieces, int(pieces)))
    rows = np.ascontiguousarray(moved, dtype=dtype).reshape(-1, moved.shape[-1]) if moved.shape[-1] else \
        np.empty((int(np.prod(moved.shape[:-1])), 0), dtype)
    args = [rows]
    if g is not None:
        ga = _as_float_array(g, fn, "g")
        if grouped_shape is not None:
            want = np.moveaxis(np.empty(moved.shape[:-1], bool), -1, axis).shape
        else:
            want = moved.shape[:-1] if scalar else xa.shape[:axis] + (xa.shape[axis] // parts,) + xa.shape[axis + 1:]
        if ga.shape != want:
            raise ValueError(f"{fn}: g has shape {ga.shape}, expected {want}")
        gm = np.moveaxis(ga, axis, -1) if grouped_shape is not None or not scalar else ga
        args.append(np.ascontiguousarray(gm.reshape(rows.shape[0]) if scalar else
                                         gm.reshape(rows.shape[0], rows.shape[1] // parts), dtype=dtype))
        parts = 1  # a vjp returns one value per element
        scalar = False  # a vjp returns one value per element
    args += [v.astype(dtype).reshape(())[()] for v in values]
    shape = moved.shape[:-1] if scalar else moved.shape[:-1] + (moved.shape[-1] // parts,)
    flat = rows.shape[0] if scalar else (rows.shape[0], rows.shape[1] // parts)
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        raise ValueError(f"{fn}: out is read-only")
    # out= along the last axis, C-contiguous: the kernel writes into it directly (no second pass)
    direct = (isinstance(out, np.ndarray) and out.dtype == dtype and out.flags.c_contiguous
              and grouped_shape is None and (scalar or axis == xa.ndim - 1) and out.shape == shape)
    result = out.reshape(flat) if direct else np.empty(flat, dtype)
    if rows.shape[0]:
        pick(loops, dtype, rows.size, heavy)(*args, result)
    if direct:
        return out
    result = result.reshape(shape)
    if grouped_shape is not None and not scalar:  # a vjp: back to the ungrouped axis
        result = result.reshape(grouped_shape)
    if not scalar or grouped_shape is not None:
        result = np.moveaxis(result, -1, axis)
    if out is not None:
        if not isinstance(out, np.ndarray) or out.shape != result.shape or out.dtype != dtype:
            raise ValueError(f"{fn}: out must be an array of shape {result.shape} and dtype {dtype}")
        out[...] = result
        return out
    return result[()] if result.ndim == 0 else result
