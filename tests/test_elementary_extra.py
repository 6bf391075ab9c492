"""The runtime's hyperbolic and inverse elementary functions (cosh, sinh, atan, asinh, acosh, atanh,
log_cosh) and the square-root helpers of squareplus (hypot_sq = sqrt(x² + b), squareplus and its
derivative) against mpmath, in float32 and float64.

Each helper is called through a small njit loop, as the kernels call them (inlined, 512-bit under
AVX-512), over log-spaced points across the whole finite range of both signs (subnormals to ±max),
random points, and the edges: ±0, ±inf, nan, where the forms switch, the overflow thresholds,
x = ±1 for acosh/atanh. The truth is mpmath at a precision that grows with the cancellation of the
textbook form (log(cosh x) near 0 needs ~2·log2(1/|x|) bits, x + sqrt(x² + b) for x -> -inf about
log2(x²/b)). Bounds: UNARY and BINARY (ULPs at the true value, the subnormal spacing below the
normal range); no non-finite result where the truth is finite, inf where it overflows. float32 is
also swept densely (every 4999th float32) against float64 NumPy, whose own error is ~2^-29 of a
float32 ULP.
"""
from __future__ import annotations

import math
import re

import llvmlite.binding
import mpmath
import numba
import numpy as np
import pytest
from numba import config, njit

from symact.catalog.primitives import BY_NAME, PRIMITIVES
from symact.kernels import _runtime as R
from reference import ulp_of

TAGS = {np.float32: "f32", np.float64: "f64"}
DTYPES = [np.float32, np.float64]


def _hypot_sq(x, b):
    return mpmath.sqrt(x * x + b)


# This file's primitives (the registry's, symact/catalog/primitives.py: truth, bound and values at ±inf and
# nan from there): the hyperbolic and inverse functions, log-cosh and squareplus with its derivative, whose
# sweeps (edges) are below. Per name, the extra bits the textbook form cancels at x (log(cosh x) near 0 needs
# ~2·log2(1/|x|)), on top of 120.
_CANCEL = {"cosh": None, "sinh": None, "atan": None, "asinh": None, "acosh": None, "atanh": None,
           "log_cosh": lambda x: 2 * max(0, -math.frexp(x)[1]) if x else 0,
           "tanhshrink": lambda x: 2 * max(0, -math.frexp(x)[1]) + 8 if x else 0}
_TWO_ARGS = ("squareplus", "squareplus_grad")
# name: (mpmath truth, max ULP asserted per dtype tag, extra bits)
UNARY = {p.name: (p.mpmath, p.ulp, _CANCEL[p.name]) for p in PRIMITIVES if p.name in _CANCEL}
BINARY = {p.name: (p.mpmath, p.ulp) for p in PRIMITIVES if p.name in _TWO_ARGS}
BINARY["hypot_sq"] = (_hypot_sq, {"f32": 1.0, "f64": 1.0})  # sqrt(x² + b): squareplus's helper, no primitive

# The helpers' results at x = +inf, -inf, nan, in the form of printing.HELPER_SPECIALS (the two-argument
# helpers at any finite b > 0): what the emitter may rely on when it drops a kernel's ±inf / nan select.
_NAN = float("nan")
SPECIALS = {name: BY_NAME[name].specials for name in [*UNARY, *BINARY] if name in BY_NAME}
SPECIALS["hypot_sq"] = (math.inf, math.inf, _NAN)


def _loop1(helper):
    def loop(x, out):
        for i in range(x.shape[0]):
            R.wide_vectors()  # as the kernels compile them: 512-bit under AVX-512
            out[i] = helper(x[i])
    return loop


def _loop2(helper):
    def loop(x, b, out):
        for i in range(x.shape[0]):
            R.wide_vectors()
            out[i] = helper(x[i], b[i])
    return loop


_LOOPS = {}


def loop(name, dtype):
    """The helper in a loop over contiguous arrays, compiled once here (not from Numba's cache, so its
    IR and assembly can be read too)."""
    key = (name, dtype)
    if key not in _LOOPS:
        fn = getattr(R, f"{name}_{TAGS[dtype]}")
        arr = (numba.float32 if dtype is np.float32 else numba.float64)[::1]
        if name in BINARY:
            _LOOPS[key] = njit(numba.void(arr, arr, arr), error_model="numpy")(_loop2(fn))
        else:
            _LOOPS[key] = njit(numba.void(arr, arr), error_model="numpy")(_loop1(fn))
    return _LOOPS[key]


def call(name, dtype, x, b=None):
    x = np.ascontiguousarray(x, dtype)
    out = np.empty_like(x)
    with np.errstate(all="ignore"):
        if b is None:
            loop(name, dtype)(x, out)
        else:
            bb = np.empty_like(x)
            bb[...] = b
            loop(name, dtype)(x, bb, out)
    return out


def _near(dtype, *cs):
    """Each c, rounded to the dtype, with its two neighbours."""
    out = []
    for c in cs:
        c = dtype(c)
        out += [c, np.nextafter(c, dtype(np.inf)), np.nextafter(c, dtype(-np.inf))]
    return out


def edges(name, dtype):
    fi = np.finfo(dtype)
    f32 = dtype is np.float32
    pts = [0.0, fi.smallest_subnormal, fi.tiny, fi.eps, fi.eps / 2, 1e-30, 1e-8, 0.5, 1.0, 2.0, fi.max, math.inf]
    # where the forms switch (polynomial / exponential at 1, atan's 1/2 and 2, e^x/2's shift, the log(2x)
    # form of asinh/acosh), the overflow of e^x and of cosh/sinh themselves
    pts += _near(dtype, 0.5, 1.0, 2.0, 88.0 if f32 else 709.0, 2.0 ** 12 if f32 else 2.0 ** 28, 2.0 ** 30 if f32 else 2.0 ** 60)
    with np.errstate(over="ignore"):
        pts += _near(dtype, np.log(fi.max), np.log(fi.max) + np.log(2), 0.34657359, 0.55, 3.0)
    pts += list(dtype(np.log(fi.max) + np.log(2)) + np.arange(-40, 41) * np.spacing(dtype(np.log(fi.max) + np.log(2))))
    pts = pts + [-p for p in pts] + [math.nan]
    if name == "atanh":  # up to the poles at ±1
        u = 1 - np.geomspace(float(fi.eps) / 2, 0.5, 300)
        pts += list(u) + list(-u)
    if name == "acosh":  # from x = 1 up
        pts += list(1 + np.arange(1, 200) * fi.eps) + list(1 + np.geomspace(float(fi.eps), 1, 300))
    return np.array(pts, dtype=np.float64)


def sweep(name, dtype, n):
    """Log-spaced over the whole finite range, both signs; random points in log scale and in [-4, 4]."""
    fi = np.finfo(dtype)
    rng = np.random.default_rng(18)
    with np.errstate(over="ignore"):
        mags = np.geomspace(float(fi.smallest_subnormal), float(fi.max), n)
        lo, hi = math.log2(float(fi.smallest_subnormal)), math.log2(float(fi.max))
        rnd = np.exp2(rng.uniform(lo, hi, n // 2))
    xs = np.concatenate([mags, -mags, rnd, -rnd, rng.uniform(-4, 4, n), np.linspace(-100, 100, n // 2),
                         np.geomspace(0.25, 1000, n // 2), -np.geomspace(0.25, 1000, n // 2), edges(name, dtype)])
    if name in ("atanh",):
        xs = np.concatenate([xs, rng.uniform(-1, 1, n)])
    if name in ("acosh",):
        xs = np.concatenate([xs, 1 + np.geomspace(float(fi.smallest_subnormal), 4, n)])
    with np.errstate(over="ignore"):
        return np.unique(xs.astype(dtype))


def assert_close(name, dtype, x, y, t):
    """ULP error of y against the truth t (an mpf), or the IEEE result where t is out of range."""
    fi = np.finfo(dtype)
    big = mpmath.mpf(float(fi.max))
    if abs(t) > big:
        edge = big + ulp_of(big, dtype) / 2  # truth between max and max + ulp/2 rounds to max
        if abs(t) >= edge:
            assert y == math.copysign(math.inf, t), f"{name}({x}) = {y}, truth {t} overflows"
            return 0.0
        assert abs(y) in (float(fi.max), math.inf), f"{name}({x}) = {y}, truth {t}"
        return 0.0
    assert math.isfinite(y), f"{name}({x}) = {y}, truth {mpmath.nstr(t, 17)} is finite"
    return float(abs(mpmath.mpf(y) - t) / ulp_of(t, dtype))


def max_ulp_unary(name, dtype, xs, got):
    truth, _, extra = UNARY[name]
    worst, worst_x = 0.0, None
    for x, y in zip(xs.tolist(), got.tolist()):
        if math.isnan(x) or math.isinf(x):
            continue  # test_special_values
        if (name == "acosh" and x < 1) or (name == "atanh" and abs(x) > 1):
            assert math.isnan(y), f"{name}({x}) = {y}, expected nan"
            continue
        if name == "atanh" and abs(x) == 1:
            assert y == math.copysign(math.inf, x), f"atanh({x}) = {y}"
            continue
        with mpmath.workprec(120 + (extra(x) if extra else 0)):
            t = truth(mpmath.mpf(x))
        err = assert_close(name, dtype, x, y, t)
        if err > worst:
            worst, worst_x = err, x
    return worst, worst_x


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_max_ulp_against_mpmath(name, dtype):
    xs = sweep(name, dtype, 1500)
    got = call(name, dtype, xs)
    assert got.dtype == dtype
    worst, worst_x = max_ulp_unary(name, dtype, xs.astype(np.float64), got)
    print(f"{name} {dtype.__name__}: max {worst:.3f} ULP at x = {worst_x!r} ({xs.size} points)")
    assert worst <= UNARY[name][1][TAGS[dtype]], f"{name} {dtype.__name__}: {worst:.3f} ULP at x = {worst_x!r}"


def _np_log_cosh(x):
    """log(cosh(x)) in float64 NumPy: its series below |x| = 0.05 (truncation < 1e-18 relative), the
    textbook form below 1, |x| + log1p(e^-2|x|) - log(2) (>= 0.43, no cancellation) beyond."""
    a = np.abs(x)
    s = a * a
    series = s / 2 - s ** 2 / 12 + s ** 3 / 45 - 17 * s ** 4 / 2520 + 31 * s ** 5 / 14175
    with np.errstate(over="ignore"):
        return np.where(a < 0.05, series, np.where(a < 1, np.log(np.cosh(a)), a + np.log1p(np.exp(-2 * a)) - np.log(2)))


def _np_tanhshrink(x):
    """x - tanh(x) in float64 NumPy: its series below |x| = 0.05 (truncation < 1e-12 relative), the
    textbook form beyond (it cancels at most ~2^-11 of float64's 2^-53 there)."""
    s = x * x
    series = x * s * (1 / 3 - s * (2 / 15 - s * (17 / 315 - s * 62 / 2835)))
    return np.where(np.abs(x) < 0.05, series, x - np.tanh(x))


NP64 = {"cosh": np.cosh, "sinh": np.sinh, "atan": np.arctan, "asinh": np.arcsinh, "acosh": np.arccosh,
        "atanh": np.arctanh, "log_cosh": _np_log_cosh, "tanhshrink": _np_tanhshrink}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_float32_dense_against_float64(name):
    bits = np.arange(0, 2 ** 32, 4999, dtype=np.uint64).astype(np.uint32).view(np.float32)
    xs = bits[np.isfinite(bits)]
    got = call(name, np.float32, xs).astype(np.float64)
    with np.errstate(all="ignore"):
        truth = NP64[name](xs.astype(np.float64))
    assert np.array_equal(np.isnan(got), np.isnan(truth)), f"{name}: nan where float64 is not, or the reverse"
    big = np.abs(truth) > np.finfo(np.float32).max
    assert np.all(got[big] == np.sign(truth[big]) * np.inf), f"{name}: no ±inf where float32 overflows"
    ok = np.isfinite(truth) & ~big
    t, g = truth[ok], got[ok]
    assert np.all(np.isfinite(g)), f"{name}: non-finite where the truth is finite"
    e = np.maximum(np.floor(np.log2(np.abs(np.where(t == 0, 1e-45, t)))), -126)
    err = np.abs(g - t) / np.exp2(e - 23)
    i = int(np.argmax(err))
    print(f"{name} float32 dense ({xs.size} points): max {err[i]:.3f} ULP at x = {xs[ok][i]!r}")
    assert err[i] <= UNARY[name][1]["f32"] + 1e-6, f"{name} float32: {err[i]:.3f} ULP at x = {xs[ok][i]!r}"


def binary_points(dtype, n):
    """(x, b) pairs: for b across the whole positive range (subnormal to max, and the default b = 4),
    x log-spaced over the whole range of both signs, around ±sqrt(b), and random."""
    fi = np.finfo(dtype)
    rng = np.random.default_rng(19)
    lo, hi = math.log2(float(fi.smallest_subnormal)), math.log2(float(fi.max))
    with np.errstate(over="ignore"):
        mags = np.geomspace(float(fi.smallest_subnormal), float(fi.max), n)
    bs = [float(fi.smallest_subnormal), float(fi.tiny), 1e-30, 1e-8, 0.5, 1.0, 4.0, 1e8, 1e30, float(fi.max) / 4,
          float(fi.max)]
    xs, bb = [], []
    for b in bs:
        r = math.sqrt(b)
        xb = np.concatenate([mags, -mags, r * rng.uniform(-3, 3, n // 4), [r, -r, 0.0, -0.0, float(fi.max), -float(fi.max)]])
        xs.append(xb)
        bb.append(np.full(xb.size, b))
    with np.errstate(over="ignore"):
        xr = np.exp2(rng.uniform(lo, hi, 2 * n)) * rng.choice([-1.0, 1.0], 2 * n)
        br = np.exp2(rng.uniform(lo, hi, 2 * n))
    xs = np.concatenate(xs + [xr]).astype(dtype)
    bb = np.concatenate(bb + [br]).astype(dtype)
    keep = bb > 0
    return xs[keep], bb[keep]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_max_ulp_against_mpmath(name, dtype):
    xs, bs = binary_points(dtype, 500)
    got = call(name, dtype, xs, bs)
    assert got.dtype == dtype
    truth, bound = BINARY[name]
    worst, at = 0.0, None
    for x, b, y in zip(xs.tolist(), bs.tolist(), got.tolist()):
        # x² + b in full, and x + sqrt(x² + b) cancels about log2(x²/b) bits as x -> -inf
        bits = 120 + max(0, 2 * math.frexp(x)[1] - math.frexp(b)[1])
        with mpmath.workprec(bits):
            t = truth(mpmath.mpf(x), mpmath.mpf(b))
        err = assert_close(name, dtype, (x, b), y, t)
        if err > worst:
            worst, at = err, (x, b)
    print(f"{name} {dtype.__name__}: max {worst:.3f} ULP at (x, b) = {at!r} ({xs.size} points)")
    assert worst <= bound[TAGS[dtype]], f"{name} {dtype.__name__}: {worst:.3f} ULP at (x, b) = {at!r}"


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_special_values(dtype):
    """Each helper's results at +inf, -inf, nan are SPECIALS' (bit for bit, sign of zero included;
    the two-argument helpers for several b), and ±0 gives the function's value at 0 with the sign
    of an odd function kept."""
    x = np.array([np.inf, -np.inf, np.nan], dtype)
    for name, want in SPECIALS.items():
        want = np.array(want, dtype)
        num = ~np.isnan(want)
        for b in ((None,) if name in UNARY else (np.finfo(dtype).smallest_subnormal, 1e-8, 4.0, np.finfo(dtype).max)):
            got = call(name, dtype, x, b)
            assert np.array_equal(got, want, equal_nan=True) and \
                np.array_equal(np.signbit(got[num]), np.signbit(want[num])), (name, b, dtype.__name__, got, want)
    zero = np.array([0.0, -0.0], dtype)
    for name, at0 in (("cosh", (1, 1)), ("sinh", (0, -0.0)), ("atan", (0, -0.0)), ("asinh", (0, -0.0)),
                      ("atanh", (0, -0.0)), ("log_cosh", (0, 0)), ("tanhshrink", (0, -0.0))):
        got = call(name, dtype, zero)
        assert np.array_equal(got, np.array(at0, dtype)) and np.array_equal(np.signbit(got), np.signbit(np.array(at0, dtype))), (name, got)
    assert call("acosh", dtype, np.array([1.0], dtype))[0] == 0
    np.testing.assert_array_equal(call("atanh", dtype, np.array([1.0, -1.0], dtype)), [np.inf, -np.inf])
    assert np.isnan(call("atanh", dtype, np.array([np.nextafter(dtype(1), dtype(2))], dtype))).all()
    assert np.isnan(call("acosh", dtype, np.array([np.nextafter(dtype(1), dtype(0)), -1.0, 0.0], dtype))).all()


@pytest.mark.parametrize("name", sorted(UNARY) + sorted(BINARY))
def test_float32_computes_in_float32(name):
    """The float32 variant never promotes to float64 (a bare Python float constant would): no fpext
    and no double in its LLVM IR, minus the Python wrapper."""
    (ir,) = loop(name, np.float32).inspect_llvm().values()
    bodies = [f for f in ir.split("\ndefine ")[1:] if "cpython" not in f.split("\n")[0]]
    assert bodies and any(" float" in b for b in bodies)
    for body in bodies:
        assert "fpext" not in body and "double" not in body, f"{name}_f32 computes in float64"


_FEATURES = config.CPU_FEATURES or llvmlite.binding.get_host_cpu_features().flatten()
_WIDTH = "zmm" if "+avx512f" in _FEATURES else "ymm" if "+avx" in _FEATURES else "xmm"
_PACKED = re.compile(r"^\s+v?(fn?m(add|sub)\d*|mul|add|sub|div|sqrt|max|min)p[sd]\s")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(UNARY) + sorted(BINARY))
def test_loop_vectorizes(name, dtype):
    """A loop calling the helper compiles to packed arithmetic at the machine's widest vector width
    (zmm under AVX-512), with no call left in it (no libm, no non-inlined helper)."""
    (asm,) = loop(name, dtype).inspect_asm().values()
    functions = re.split(r"\n\t\.type\t", asm)[1:]
    (loop_fn,) = [f for f in functions if "@function" in f.split("\n")[0]
                  and not f.startswith(("_ZN7cpython", "cfunc.", "NRT_"))]  # not the wrappers
    body = loop_fn.split("\n")
    packed = [ln for ln in body if _PACKED.match(ln) and f"%{_WIDTH}" in ln]
    assert len(packed) > 10, f"{name}_{TAGS[dtype]}: no {_WIDTH} packed arithmetic in the loop"
    calls = [ln.strip() for ln in body if re.match(r"^\s+call", ln) and "NRT" not in ln]
    assert not calls, f"{name}_{TAGS[dtype]}: calls left in the loop: {calls}"
