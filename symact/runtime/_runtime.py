"""Shared runtime of the generated kernels: stable scalar helpers and the array front end.

Needs only numpy and numba. Every helper exists once per dtype (``_f32``/``_f64``) so float32
kernels never promote to float64: constants are typed, and ``math`` functions on float32 call the
float32 libm entry points.
"""
import math

import llvmlite.binding
import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.extending import intrinsic, overload


@intrinsic
def fma(typingctx, a, b, c):
    """Fused multiply-add a*b + c with one rounding (llvm.fma); gives exact products a*b = p + e."""
    sig = a(a, b, c)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@intrinsic
def maxnum(typingctx, a, b):
    """max(a, b) as llvm.maxnum (a nan operand loses): unlike ``max``, a loop reducing with it
    vectorizes (vmaxps) when compiled with the nnan flag, ten times faster on a row of 1000."""
    sig = a(a, b)

    def codegen(context, builder, signature, args):
        ty = args[0].type
        fn = builder.module.declare_intrinsic("llvm.maxnum", [ty], ir.FunctionType(ty, [ty, ty]))
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def wide_vectors(typingctx):
    """Ask LLVM to vectorize the loop this is called in at the widest vector width (512-bit under
    AVX-512). No instruction: it sets the string attribute "prefer-vector-width"="512" on the
    function being compiled (the loop, or a prange loop's outlined body). Why: LLVM's tuning for
    Intel's AVX-512 cores prefers 256-bit vectors (a guard against the 512-bit clock drop of
    2017's Skylake-X), so there every exp loop ran at half width; measured on an Intel Xeon with AMX
    (2026-11-23), sigmoid float32 takes 0.44 instead of 0.57 ns per element on one core and float64
    1.06 instead of 1.36. AMD's AVX-512 cores already got 512 bits, and without AVX-512 the width
    stays what the CPU has. llvmlite's builder accepts only LLVM's keyword attributes, so the string
    attribute goes into the attribute set directly."""
    def codegen(context, builder, signature, args):
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


def at(a, i):
    """``a[i]`` for an array, ``a`` for a scalar: one loop serves broadcast and scalar parameters."""


@overload(at, inline="always")
def _at_impl(a, i):
    if isinstance(a, types.Array):
        return lambda a, i: a[i]
    return lambda a, i: a


def _bitcast_to_float(fty, width):
    def impl(typingctx, i):
        if not isinstance(i, types.Integer):
            return None
        sig = fty(i)

        def codegen(context, builder, signature, args):
            v = args[0]
            if v.type.width > width:
                v = builder.trunc(v, ir.IntType(width))
            elif v.type.width < width:
                v = builder.sext(v, ir.IntType(width))
            return builder.bitcast(v, context.get_value_type(fty))

        return sig, codegen
    return impl


def _bitcast_to_int(fty, ity):
    def impl(typingctx, x):
        if x != fty:
            return None
        sig = ity(x)

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(ity))

        return sig, codegen
    return impl


# Bit casts between a float and the integer holding its IEEE bits (no conversion, one instruction,
# vectorizes): the elementary functions build 2^k and split exponent from mantissa through them.
f64_from_bits = intrinsic(_bitcast_to_float(types.float64, 64))
f32_from_bits = intrinsic(_bitcast_to_float(types.float32, 32))
f64_bits = intrinsic(_bitcast_to_int(types.float64, types.int64))
f32_bits = intrinsic(_bitcast_to_int(types.float32, types.int32))


@intrinsic
def _ldexp_llvm(typingctx, p, k):
    """p·2^k with one rounding as llvm.ldexp, which LLVM lowers, vectorized under AVX-512, to one
    vscalef instruction (subnormal results and overflow included); a scalar call is libm's ldexp."""
    sig = p(p, k)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        e = args[1]
        e = builder.trunc(e, i32) if e.type.width > 32 else builder.sext(e, i32) if e.type.width < 32 else e
        fn = builder.module.declare_intrinsic("llvm.ldexp", [args[0].type, i32],
                                              ir.FunctionType(args[0].type, [args[0].type, i32]))
        return builder.call(fn, [args[0], e])

    return sig, codegen


# Under AVX-512, ldexp is that one instruction instead of two multiplies and five integer operations
# (every exp and erfc ends with it: sigmoid 19% less time in float32 on the Intel Xeon measured in the
# README). Without it LLVM would call libm per element, so there the bit-pattern form stays. Read
# from the features Numba compiles for, which also key its cache.
_VSCALEF = "+avx512f" in (config.CPU_FEATURES or llvmlite.binding.get_host_cpu_features().flatten())

# ---- (the float32 and float64 elementary functions of templates/runtime.py.j2 go here) ----
# ---- exact argument reduction for sin and cos of a product (float64) --------------------------------
# 1/(2π) in base 2^24, C_j the digit of weight 2^(-24(j+1)) (tests/test_runtime.py checks them against
# mpmath): enough digits for an argument up to 2^2048, the largest exact product of two finite doubles.
_INV_2PI_24 = np.array([
    2670176.0, 14390161.0, 346751.0, 644596.0, 8211767.0, 7354072.0, 10839631.0, 1106960.0,
    8361048.0, 15398830.0, 15816813.0, 13179790.0, 9474932.0, 12059026.0, 4962946.0, 7627911.0,
    4163450.0, 13053002.0, 6934458.0, 2133373.0, 4959953.0, 2177639.0, 1837485.0, 1564560.0,
    5137525.0, 9330900.0, 13532455.0, 2168802.0, 15695434.0, 968702.0, 2490359.0, 8480259.0,
    16501700.0, 6477442.0, 10176475.0, 5087155.0, 13234882.0, 7197649.0, 9427367.0, 9960075.0,
    6113774.0, 11664121.0, 8150735.0, 4312701.0, 14849188.0, 12229374.0, 14150727.0, 14899010.0,
    1409228.0, 1163038.0, 14347004.0, 3403528.0, 2538765.0, 8874616.0, 14964823.0, 12158658.0,
    1664609.0, 5752104.0, 1708067.0, 8386080.0, 1268937.0, 13386113.0, 8738226.0, 10283570.0,
    5781662.0, 15737626.0, 13758726.0, 7395827.0, 7813634.0, 4890838.0, 7413154.0, 15042345.0,
    12020689.0, 3429830.0, 4280233.0, 8372673.0, 5234572.0, 16387248.0, 12030950.0, 827246.0,
    15781705.0, 12311239.0, 9944615.0, 13535181.0, 7519391.0, 13066748.0, 4744223.0, 2033946.0,
    12491701.0, 6146892.0, 1101509.0, 7439661.0, 6768240.0, 15773995.0, 5264203.0, 1523715.0,
    1154913.0, 9133176.0, 15118758.0, 12589196.0,
])


@njit(cache=True)
def _turns_f64(d, k):
    """(h, l) with h + l = frac(d·2^k/(2π)) + n for an integer n, |h| < 1 and |l| <~ 2^-52: the
    argument d·2^k (d finite, k an integer) in turns, to ~2^-120 absolute whatever its size. Payne and
    Hanek's reduction: |d| = M·2^e with M a 53-bit integer, split into halves of 26 and 27 bits so
    that each product with a digit C_j of 1/(2π) is exact; digits whose product with M·2^e is an
    integer are skipped (they add whole turns), the next nine are summed, each product's and each
    sum's integer part dropped exactly (2Sum keeps the rounding errors in l)."""
    m, ed = math.frexp(abs(d))
    big_m = m * 9007199254740992.0  # 2^53: an integer below 2^53
    e = ed - 53 + k
    mh = np.floor(big_m * 7.450580596923828e-09)  # 2^-27
    ml = big_m - mh * 134217728.0  # exact, below 2^27
    j0 = max(e // 24, 0)
    h = 0.0
    l = 0.0
    for j in range(j0, j0 + 9):
        c = _INV_2PI_24[j]
        s = e - 24 * (j + 1)
        for t in (math.ldexp(mh * c, s + 27), math.ldexp(ml * c, s)):  # exact: below 2^51, scaled
            t = t - np.floor(t)
            u = h + t
            bb = u - h
            l += (h - (u - bb)) + (t - bb)
            h = u - np.floor(u)
    return (-h, -l) if d < 0 else (h, l)


@njit(cache=True)
def _sincos_mul_f64(a, b):
    """(sin(a*b), cos(a*b)) of the exact product, for any finite a and b (nan if either is not):
    a = ma·2^ka, b = mb·2^kb, the product ma·mb = p + e exactly (fma), and each part reduced in turns
    by _turns_f64, so the product may exceed the largest double (sin(30x) at x = 1.7e308 has a value).
    The turns t = h + l are reduced to the nearest quarter turn q (exact) and r = t - q/4,
    θ = 2π·r as a double-word θh + θl, sin θ = sin θh + θl·cos θh: ~1 ULP, also near zeros."""
    if not (abs(a) < math.inf and abs(b) < math.inf):
        return math.sin(a * b), math.cos(a * b)  # nan: inf·x or nan
    ma, ka = math.frexp(a)
    mb, kb = math.frexp(b)
    p = ma * mb
    e = fma(ma, mb, -p)
    h1, l1 = _turns_f64(p, ka + kb)
    h2, l2 = _turns_f64(e, ka + kb)
    h = h1 + h2
    bb = h - h1
    l = ((h1 - (h - bb)) + (h2 - bb)) + (l1 + l2)
    q = np.floor(h * 4.0 + 0.5)  # the nearest quarter turn
    r = h - q * 0.25  # exact (Sterbenz), |r| <= 1/8 + |l|
    th = r * 6.283185307179586
    tl = fma(r, 6.283185307179586, -th) + (r * 2.4492935982947064e-16 + l * 6.283185307179586)
    sn = math.sin(th)
    cs = math.cos(th)
    sn, cs = sn + tl * cs, cs - tl * sn
    quadrant = int(q) & 3
    if quadrant == 0:
        return sn, cs
    if quadrant == 1:
        return cs, -sn
    if quadrant == 2:
        return -sn, -cs
    return -cs, sn


@njit(cache=True)
def _warm(x):
    """Trivial and cached: loading it makes Numba do its one-time set-up (its compiler registries,
    and with them SciPy's BLAS bindings when SciPy is installed), which the package import runs so
    that no kernel's first call pays it (`benchmarks/run.py --startup` times both)."""
    return x + 1.0


# ---- array front end ------------------------------------------------------------------------------

_FLOATS = (np.float32, np.float64)


def _as_float_array(value, fn, what):
    """Inputs become float arrays: float32/float64 kept, float16 computed in float32, integers and
    bools converted to float64 (as NumPy ufuncs do); anything else is a TypeError naming the input."""
    a = np.asarray(value)
    if a.dtype.kind == "f":
        return a if a.dtype.type in _FLOATS else a.astype(np.float32)
    if a.dtype.kind in "iub":
        return a.astype(np.float64)
    raise TypeError(f"{fn}: {what} must be a real number or array of real numbers, got dtype {a.dtype}")


def _check_param(fn, name, value, positive, allow_inf):
    a = _as_float_array(value, fn, f"parameter {name!r}")
    if np.isnan(a).any():
        raise ValueError(f"{fn}: parameter {name!r} is nan")
    if not allow_inf and not np.isfinite(a).all():
        raise ValueError(f"{fn}: parameter {name!r} must be finite, got {value!r}")
    if positive and not (a > 0).all():
        raise ValueError(f"{fn}: parameter {name!r} must be > 0, got {value!r}")
    return a


# Arrays with at least PARALLEL_MIN_SIZE elements run on all cores (the prange loops); below it the
# serial loop is faster (waking the worker threads dominates). Kernels that evaluate an exp, log, erf,
# ... do enough work per element to go parallel from PARALLEL_MIN_SIZE / HEAVY_FACTOR elements on.
# `python benchmarks/run.py --crossover` measures where all cores start to win: with Numba's OpenMP
# layer on the 2-core development machine relu at 32k-64k elements, sigmoid at 4k-8k, gelu at 1k-2k.
# Numba's 'workqueue' fallback layer costs ~0.1 ms per launch (there 1e6 was about even), and on
# cores busy with other work OpenMP's threads wait for each other: configure(parallel=False) is then
# the better choice.
PARALLEL_MIN_SIZE = 65_536
HEAVY_FACTOR = 8
PARALLEL = None


def configure(parallel=None, min_size=None):
    """Choose how kernels use the cores: ``parallel=None`` (default) uses all of Numba's threads for
    arrays of at least ``min_size`` elements (default kept if None; elementwise kernels with an exp,
    log, erf, ... from an eighth of it), True always, False never.
    Returns the previous (parallel, min_size). Numba's thread count is ``numba.set_num_threads``."""
    global PARALLEL, PARALLEL_MIN_SIZE
    previous = (PARALLEL, PARALLEL_MIN_SIZE)
    if parallel not in (None, True, False):
        raise ValueError(f"configure: parallel must be None, True or False, got {parallel!r}")
    PARALLEL = parallel
    if min_size is not None:
        PARALLEL_MIN_SIZE = int(min_size)
    return previous


def _fast_scalars(params, specs, dtype):
    """Plain Python float/int parameters that pass their checks, as scalars of ``dtype``; None when
    any parameter needs the general path (arrays, NumPy scalars, or a value that is rejected there
    with its error message)."""
    args = []
    for v, (_, positive, allow_inf) in zip(params, specs):
        tv = type(v)
        if tv is not float and (tv is not int or not -2**31 < v < 2**31):
            return None
        if v != v or (positive and not v > 0) or (not allow_inf and (v == math.inf or v == -math.inf)):
            return None
        args.append(dtype(v))
    return args


def _fast_target(o, x, write=True):
    """``o`` flattened when the loop can use it directly (a C-contiguous ndarray of x's shape and
    dtype, writeable if ``write``), else None (the general path handles it or explains the error)."""
    if type(o) is np.ndarray and o.shape == x.shape and o.dtype == x.dtype and o.flags.c_contiguous \
            and (o.flags.writeable or not write):
        return o if o.ndim == 1 else o.ravel()
    return None


def _flat(a, shape, n, dtype):
    """``a`` broadcast to ``shape``, C-contiguous, of ``dtype``, flattened. No copy (and the array's
    own writeable flag kept, so the compiled loop has one signature) when it already has the shape."""
    if a.shape == shape:
        return np.ascontiguousarray(a, dtype=dtype).reshape(n)
    return np.ascontiguousarray(np.broadcast_to(a, shape), dtype=dtype).reshape(n)


def use_parallel(n, heavy=False):
    """Whether a kernel over ``n`` elements runs on all cores, as ``configure`` chose; ``heavy``: the
    kernel evaluates transcendental functions (parallel from PARALLEL_MIN_SIZE / HEAVY_FACTOR)."""
    if PARALLEL is not None:
        return PARALLEL
    return n * HEAVY_FACTOR >= PARALLEL_MIN_SIZE if heavy else n >= PARALLEL_MIN_SIZE


_EAGER = frozenset((np.ndarray, float, int, bool, type(None), np.float32, np.float64))


def lazy(x, others=(), params=()):
    """Whether a dask array is among the operands, told by its type's module: NumPy calls never import
    dask (a dask array is handed to ``_dask``, which computes it block by block, lazily). Types that
    are surely not dask's are skipped first (``type.__module__`` builds a string for NumPy's)."""
    t = type(x)
    if t not in _EAGER and t.__module__.startswith("dask"):
        return True
    for v in others:
        t = type(v)
        if t not in _EAGER and t.__module__.startswith("dask"):
            return True
    for v in params:
        t = type(v)
        if t not in _EAGER and t.__module__.startswith("dask"):
            return True
    return False


def elementwise(fn, loops, x, params, specs, out, nout=1, inputs=(), heavy=False):
    """Validate, broadcast and run ``loops[dtype][serial or parallel](x, *inputs, *params, *outs)``
    over flat arrays.

    ``specs`` holds (name, positive, allow_inf) per parameter. Scalar parameters are passed as
    scalars of the kernel dtype; array parameters (e.g. a per-channel prelu weight) broadcast
    against ``x`` like NumPy ufunc arguments. ``inputs``: further array operands (the incoming
    gradient of a vjp kernel), broadcast and converted like ``x``, not checked. The parallel loop
    runs as ``configure`` chose (by default for arrays of at least ``PARALLEL_MIN_SIZE`` elements, an
    eighth of that for ``heavy`` kernels: see use_parallel).
    ``nout`` = 2 for fused kernels: ``out`` is then a pair of arrays (or None) and a pair is returned.

    The common call (C-contiguous float32/float64 arrays of one shape and dtype, Python-number
    parameters, no ``out`` or fitting ``out`` arrays) takes a fast path of a few microseconds;
    everything else goes through the general path below, which gives the same results.
    """
    if type(x) is np.ndarray and x.ndim and x.flags.c_contiguous:
        dt = x.dtype.type
        if dt is np.float32 or dt is np.float64:
            if nout == 1 and not params and not inputs:
                # the commonest calls, one array in and one out, kept shortest (~1 µs)
                if out is None:
                    result = np.empty(x.shape, dt)
                    target = result if x.ndim == 1 else result.ravel()
                else:
                    result, target = out, _fast_target(out, x)  # target: 1-D or None
                if target is not None:
                    loops[dt][use_parallel(x.size, heavy)](x if x.ndim == 1 else x.ravel(), target)
                    return result
            # written for speed (about 1 µs): no generators, one pass over the operands
            call = [x if x.ndim == 1 else x.ravel()]
            for v in inputs:
                v = _fast_target(v, x, False)
                if v is None:
                    break
                call.append(v)
            args = _fast_scalars(params, specs, dt) if params else ()
            if args is not None and len(call) == 1 + len(inputs):
                call += args
                if out is None:
                    result = np.empty(x.shape, dt)
                    call.append(result if x.ndim == 1 else result.ravel())
                    if nout == 2:
                        second = np.empty(x.shape, dt)
                        call.append(second.ravel())
                        result = (result, second)
                elif nout == 1:
                    result = out
                    call.append(_fast_target(out, x))
                elif type(out) is tuple and len(out) == 2:
                    result = out
                    call.append(_fast_target(out[0], x))
                    call.append(_fast_target(out[1], x))
                else:
                    call.append(None)
                if call[-1] is not None and call[-nout] is not None:
                    loops[dt][use_parallel(x.size, heavy)](*call)
                    return result
    if lazy(x, inputs, params):
        from ._dask import elementwise as lazy_elementwise
        return lazy_elementwise(fn, loops, x, params, specs, out, nout, inputs, heavy)
    xa = _as_float_array(x, fn, "x")
    extra = [_as_float_array(v, fn, "g") for v in inputs]
    values = [_check_param(fn, name, v, pos, inf) for v, (name, pos, inf) in zip(params, specs)]
    arrays = extra + [v for v in values if v.ndim > 0]
    dtype = np.result_type(xa.dtype, *(a.dtype for a in arrays))
    try:
        shape = np.broadcast_shapes(xa.shape, *(a.shape for a in arrays))
    except ValueError:
        shapes = ", ".join(str(s.shape) for s in [xa] + arrays)
        what = "x, g and the parameters" if inputs else "x and its parameters"
        raise ValueError(f"{fn}: shapes {shapes} of {what} do not broadcast") from None
    n = math.prod(shape)
    flat_x = _flat(xa, shape, n, dtype)
    flat_inputs = [_flat(v, shape, n, dtype) for v in extra]
    args = [v.astype(dtype).reshape(())[()] if v.ndim == 0 else _flat(v, shape, n, dtype) for v in values]
    if nout == 1:
        outs = (out,)
    elif out is None:
        outs = (None,) * nout
    elif isinstance(out, tuple) and len(out) == nout:
        outs = out
    else:
        raise TypeError(f"{fn}: out must be a tuple of {nout} numpy arrays or None")
    results, targets = [], []
    for o in outs:
        if o is None:
            r = np.empty(shape, dtype)
            results.append(r)
            targets.append(r.reshape(n))
            continue
        if not isinstance(o, np.ndarray):
            raise TypeError(f"{fn}: out must be a numpy array, got {type(o).__name__}")
        if o.shape != shape or o.dtype != dtype:
            raise ValueError(f"{fn}: out has shape {o.shape} and dtype {o.dtype}; "
                             f"expected shape {shape} and dtype {dtype}")
        if not o.flags.writeable:
            raise ValueError(f"{fn}: out is read-only")
        results.append(o)
        targets.append(o.reshape(n) if o.flags.c_contiguous else np.empty(n, dtype))
    loops[dtype.type][1 if use_parallel(n, heavy) else 0](flat_x, *flat_inputs, *args, *targets)
    for o, r, tgt in zip(outs, results, targets):
        if o is not None and not o.flags.c_contiguous:
            o[...] = tgt.reshape(shape)
    results = [r if o is not None or r.ndim else r[()] for o, r in zip(outs, results)]
    return results[0] if nout == 1 else tuple(results)


def param_vjp(fn, loops, x, g, params, specs, index, heavy=False):
    """Σ g·df/dp for the parameter p = params[index], in p's own shape: ``loops`` compute g·df/dp per
    element of the broadcast shape of x, g and the parameters (as ``elementwise``, with g as a further
    input), then the axes p was broadcast along are summed: the leading axes p lacks and those where p
    has length 1. What PyTorch's autograd returns as ``p.grad``. float32 products are summed in
    float64 and rounded once; a scalar (or 0-d) p gives a NumPy scalar."""
    prod = elementwise(fn, loops, x, params, specs, None, inputs=(g,), heavy=heavy)
    if type(prod) is not np.ndarray and lazy(prod):  # dask operands: a lazy array of products
        from ._dask import param_vjp_sum
        return param_vjp_sum(fn, prod, params[index], specs[index])
    shape = np.shape(_check_param(fn, specs[index][0], params[index], specs[index][1], specs[index][2]))
    prod = np.asarray(prod)
    lead = prod.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and prod.shape[lead + i] != 1)
    acc = np.float64 if prod.dtype == np.float32 else prod.dtype
    total = prod.sum(axis=axes, dtype=acc, keepdims=True).astype(prod.dtype).reshape(shape)
    return total[()] if total.ndim == 0 else total
