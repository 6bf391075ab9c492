"""The runtime's vectorizable elementary functions (exp, expm1, log, log1p, tanh, erf, erfc, and the normal
CDF that GELU uses) against mpmath.

Each is called through a small njit loop (as the kernels call them, inlined), in float32 and
float64, over dense sweeps of its whole domain plus the edges: reduction boundaries (multiples of
ln2/2), overflow and gradual-underflow thresholds, subnormal inputs, ±0, ±inf, nan. Bounds, truths and the
values at ±inf are the primitive registry's (symact/catalog/primitives.py; issue 6, SLEEF's u10 level: <= 1 ULP
for the exp/log family, <= 2 ULP for tanh, erf, erfc and Phi). ULPs are counted at the true value, with the
subnormal spacing below the normal range.

float32 is also swept densely (every 97th float32 in the domain) against float64 NumPy, whose own
error (< 1 float64 ULP) is 2^-29 of a float32 ULP.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from numba import njit

from symact.catalog.primitives import BY_NAME, PRIMITIVES
from symact.kernels import _runtime as R
from reference import ulp_of

TAGS = {np.float32: "f32", np.float64: "f64"}
# The interesting range of each function this file sweeps densely, per dtype (beyond it the result is a
# constant, inf or 0); every other registry primitive is swept by tests/test_elementary_extra.py or, over
# its whole range, by tests/test_registry.py. Bounds, mpmath truths and special values: the registry's.
_DOMAIN = {"exp": ((-105.0, 90.0), (-746.0, 710.0)), "expm1": ((-20.0, 90.0), (-40.0, 710.0)),
           "log1p": ((-1.0, 1e6),) * 2, "log": ((0.0, 1e6),) * 2, "tanh": ((-12.0, 12.0), (-22.0, 22.0)),
           "erf": ((-6.0, 6.0),) * 2, "erfc": ((-6.0, 11.0), (-6.0, 28.0)), "ncdf": ((-14.5, 8.0), (-38.6, 9.0))}
NAMES = [p.name for p in PRIMITIVES if p.name in _DOMAIN]
BOUND = {name: BY_NAME[name].ulp for name in NAMES}  # per dtype tag
MP = {name: BY_NAME[name].mpmath for name in NAMES}
NP = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
      "erf": np.frompyfunc(math.erf, 1, 1), "erfc": np.frompyfunc(math.erfc, 1, 1),  # libm, float64
      "ncdf": np.frompyfunc(lambda x: 0.5 * math.erfc(-x / math.sqrt(2)), 1, 1)}  # x/√2 rounded: 2^-45 at -14


def _wrap(helper):
    @njit(error_model="numpy")
    def loop(x, out):
        for i in range(x.shape[0]):
            R.wide_vectors()  # as the kernels compile them: 512-bit under AVX-512
            out[i] = helper(x[i])

    def call(x):
        out = np.empty_like(x)
        loop(x, out)
        return out
    return call


_LOOPS = {}


def helper(name, dtype):
    key = (name, dtype)
    if key not in _LOOPS:
        _LOOPS[key] = _wrap(getattr(R, f"{name}_{TAGS[dtype]}"))
    return _LOOPS[key]


def domain(name, dtype):
    """Interesting range of the function (beyond it the result is a constant, inf or 0)."""
    return _DOMAIN[name][dtype is np.float64]


def edge_points(name, dtype):
    fi = np.finfo(dtype)
    lo, hi = domain(name, dtype)
    pts = [0.0, -0.0, fi.smallest_subnormal, fi.tiny, fi.max, -fi.max, fi.eps, fi.eps / 2, 1e-30, 1.0, -1.0,
           math.inf, -math.inf, math.nan, lo, hi]
    ln2 = math.log(2)
    ks = np.arange(-1100, 1100) if dtype is np.float64 else np.arange(-160, 140)
    for k in ks:  # reduction boundaries (r = ±ln2/2) and their neighbours
        for v in ((k + 0.5) * ln2, k * ln2):
            c = dtype(v)
            pts += [c, np.nextafter(c, dtype(np.inf)), np.nextafter(c, dtype(-np.inf))]
    with np.errstate(over="ignore"):
        lmax = dtype(np.log(fi.max))
        lmin = dtype(np.log(fi.smallest_subnormal))
    for c in (lmax, lmin, dtype(np.log(fi.tiny))):
        for j in range(-3, 4):
            pts.append(c + j * np.spacing(c))
    if name == "log1p":
        pts += [-1.0 + fi.eps / 2, -0.5, np.sqrt(0.5) - 1, np.sqrt(2) - 1, -2.0, 1e30]
    if name == "expm1":
        pts += [-ln2 / 2, ln2 / 2, 0.3466, 0.35, -0.35, 0.5, 1e-8, -1e-8]
    if name == "log":
        pts += [-1.0, -fi.smallest_subnormal, np.sqrt(0.5), np.sqrt(2), 2.0, 0.5, 1e30, 1e-30]
        pts += [dtype(1) + j * fi.eps for j in range(-8, 9)]
    if name in ("erf", "erfc"):  # where the forms switch (|x| = 0.84375, 1, 2) and erfc underflows
        one = dtype(1)
        for c in (one, -one, dtype(0.84375), dtype(2), dtype(0.5), dtype(5.0), dtype(9.0), dtype(26.5), dtype(27.2)):
            pts += [c, np.nextafter(c, dtype(np.inf)), np.nextafter(c, dtype(-np.inf))]
    if name == "ncdf":  # the clamp (|z| = 15 / 39) and gradual underflow of the lower tail
        for c in (dtype(15), dtype(39), dtype(13), dtype(37.5), dtype(38.5), dtype(8.8)):
            pts += [c, -c, np.nextafter(c, dtype(np.inf)), -np.nextafter(c, dtype(-np.inf))]
    return np.array(pts, dtype=np.float64)


def sweep(name, dtype, n):
    lo, hi = domain(name, dtype)
    fi = np.finfo(dtype)
    tiny = np.geomspace(float(fi.smallest_subnormal), 1.0, n // 8)
    rng = np.random.default_rng(6)
    with np.errstate(over="ignore"):
        big = np.geomspace(1, float(fi.max), n // 16)
    xs = np.concatenate([np.linspace(lo, hi, n), rng.uniform(-1, 1, n // 4), np.linspace(-0.4, 0.4, n // 8),
                         tiny, -tiny, big, edge_points(name, dtype)])
    if name == "log1p":
        xs = np.concatenate([xs, -1 + np.geomspace(float(fi.eps) / 4, 1, n // 8)])
    if name == "log":  # every binade, subnormals included
        xs = np.concatenate([xs, np.geomspace(float(fi.smallest_subnormal), 1.0, n // 4)])
    if name == "erfc":  # the whole upper tail, into gradual underflow
        xs = np.concatenate([xs, np.linspace(1.0, domain(name, dtype)[1], n)])
    if name == "ncdf":  # the whole lower tail, into gradual underflow
        xs = np.concatenate([xs, np.linspace(lo, -1.0, n)])
    if name in ("erf", "erfc"):  # densely where the forms meet
        xs = np.concatenate([xs, rng.uniform(-3, 3, 2 * n)])
    with np.errstate(over="ignore"):
        return np.unique(xs.astype(dtype))


def check(name, dtype, xs, got, truth_of):
    fi = np.finfo(dtype)
    worst, worst_x = 0.0, None
    for x, y in zip(xs.tolist(), got.tolist()):
        if math.isnan(x):
            assert math.isnan(y), f"{name}(nan) = {y}"
            continue
        if name == "log1p" and x < -1:
            assert math.isnan(y), f"log1p({x}) = {y}, expected nan"
            continue
        if name == "log1p" and x == -1:
            assert y == -math.inf
            continue
        if name == "log" and x < 0:
            assert math.isnan(y), f"log({x}) = {y}, expected nan"
            continue
        if name == "log" and x == 0:
            assert y == -math.inf, f"log({x}) = {y}"
            continue
        if math.isinf(x):
            t = BY_NAME[name].specials[x < 0]
            if math.isnan(t):
                assert math.isnan(y), f"{name}({x}) = {y}, expected nan"
                continue
            assert y == t, f"{name}({x}) = {y}, expected {t}"
            continue
        if name == "erfc" and x > 30:  # truth far below the smallest subnormal (mpmath overflows there)
            assert y == 0.0, f"erfc({x}) = {y}, expected 0"
            continue
        if name == "ncdf" and x < -40:
            assert y == 0.0, f"ncdf({x}) = {y}, expected 0"
            continue
        t = truth_of(x)
        if abs(t) > fi.max:
            assert y == math.copysign(math.inf, t), f"{name}({x}) = {y}, truth {t} overflows"
            continue
        assert math.isfinite(y), f"{name}({x}) = {y}, truth {t}"
        err = float(abs(mpmath.mpf(y) - t) / ulp_of(t, dtype))
        if err > worst:
            worst, worst_x = err, x
    return worst, worst_x


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_max_ulp_against_mpmath(name, dtype):
    xs = sweep(name, dtype, 6000)
    with np.errstate(all="ignore"):
        got = helper(name, dtype)(xs)
    assert got.dtype == dtype
    with mpmath.workdps(60):
        worst, worst_x = check(name, dtype, xs, got, lambda x: MP[name](mpmath.mpf(x)))
    print(f"{name} {dtype.__name__}: max {worst:.3f} ULP at x = {worst_x!r}")
    assert worst <= BOUND[name][TAGS[dtype]], f"{name} {dtype.__name__}: {worst:.3f} ULP at x = {worst_x!r}"


@pytest.mark.parametrize("name", NAMES)
def test_float32_dense_against_float64(name):
    lo, hi = domain(name, np.float32)
    step = 97 if name not in ("erf", "erfc", "ncdf") else 97 * 7  # math.erf per element is slower
    bits = np.arange(0, 2 ** 32, step, dtype=np.uint64).astype(np.uint32).view(np.float32)
    xs = bits[np.isfinite(bits) & (bits >= lo) & (bits <= hi)]
    with np.errstate(all="ignore"):
        got = helper(name, np.float32)(xs).astype(np.float64)
        truth = NP[name](xs.astype(np.float64)).astype(np.float64)
    finite = np.abs(truth) <= np.finfo(np.float32).max
    assert np.all(np.isinf(got[~finite]))
    t = truth[finite]
    e = np.maximum(np.floor(np.log2(np.abs(np.where(t == 0, 1e-45, t)))), -126)
    err = np.abs(got[finite] - t) / np.exp2(e - 23)
    i = int(np.argmax(err))
    print(f"{name} float32 dense ({xs.size} points): max {err[i]:.3f} ULP at x = {xs[finite][i]!r}")
    assert err[i] <= BOUND[name]["f32"] + 1e-6, f"{name} float32: {err[i]:.3f} ULP at x = {xs[finite][i]!r}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_table_is_what_the_helpers_return(dtype):
    """printing.HELPER_SPECIALS lets the emitter drop a kernel's ±inf / nan select where the body
    already gives that value; each entry must be what the runtime helper really returns (bit for
    bit, sign of zero included), or a kernel would lose its limit at ±inf."""
    from symact.codegen.numba import FUNCTIONS, HELPER_SPECIALS, SoftplusScaled
    x = np.array([np.inf, -np.inf, np.nan], dtype)
    for cls, want in HELPER_SPECIALS.items():
        name = FUNCTIONS[cls].format(t=TAGS[dtype]).removesuffix(f"_{TAGS[dtype]}")
        if cls is SoftplusScaled:  # (c, z): the table holds the value in z
            fn = getattr(R, f"{name}_{TAGS[dtype]}")
            gots = [_two_arg_loop(fn)(np.full(3, c, dtype), x) for c in (2.0 ** -10, 1.5, 1.0, 2.0 ** 10)]
        else:
            gots = [helper(name, dtype)(x)]
        want = np.array(want, dtype)
        num = ~np.isnan(want)
        for got in gots:
            assert np.array_equal(got, want, equal_nan=True) and np.array_equal(np.signbit(got[num]), np.signbit(want[num])), \
                (cls.__name__, dtype.__name__, got, want)


def _two_arg_loop(fn):
    @njit(error_model="numpy")
    def loop(a, b, out):
        for i in range(a.shape[0]):
            out[i] = fn(a[i], b[i])

    def call(a, b):
        out = np.empty_like(b)
        loop(a, b, out)
        return out
    return call


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["sin_mul", "cos_mul"])
def test_sin_cos_of_an_exact_product(name, dtype):
    """sin_mul(a, b) and cos_mul(a, b) = sin/cos of the exact real product a·b, for every finite a and b:
    float32 through float64 (the product is exact there), float64 by sin(p) + e·cos(p) below 2^20 and
    Payne and Hanek's reduction of the double-word product beyond, also where a·b overflows (sin(30x)
    at x = 1.7e308 has a value). Bound: 1 ULP (float64), 0.5 ULP + a double rounding (float32), against
    mpmath at 3000 bits; nan for infinite or nan input. (sin(float32(3e9)·30) was -290.4 before.)"""
    rng = np.random.default_rng(11)
    fi = np.finfo(dtype)
    top = math.log10(float(fi.max))
    n = 1500
    b = 10.0 ** rng.uniform(math.log10(float(fi.tiny)) + 2, top, n) * rng.choice([-1.0, 1.0], n)
    a = np.concatenate([np.full(n // 2, 30.0), 10.0 ** rng.uniform(-5, 10, n - n // 2)])
    edge = [float(fi.max), -float(fi.max), float(fi.max) / 2, 3e9, 2.0 ** 20 / 30, 2.0 ** 53, 1e30, -1e30]
    b = np.concatenate([b, edge, edge]).astype(dtype)
    a = np.concatenate([a, [30.0] * len(edge), [1e4] * len(edge)]).astype(dtype)
    got = _two_arg_loop(getattr(R, f"{name}_{TAGS[dtype]}"))(a, b)
    mp = mpmath.sin if name == "sin_mul" else mpmath.cos
    worst = 0.0
    with mpmath.workprec(3000):
        for ai, bi, y in zip(a.tolist(), b.tolist(), got.tolist()):
            t = mp(mpmath.mpf(ai) * mpmath.mpf(bi))
            worst = max(worst, float(abs(mpmath.mpf(y) - t) / ulp_of(t, dtype)))
    print(f"{name} {dtype.__name__}: max {worst:.3f} ULP")
    assert worst <= (1.0 if dtype is np.float64 else 0.5 + 1e-6)
    specials = np.array([np.inf, -np.inf, np.nan, 0.0], dtype)
    out = _two_arg_loop(getattr(R, f"{name}_{TAGS[dtype]}"))(np.full(4, 30.0, dtype), specials)
    assert np.isnan(out[:3]).all() and out[3] == (0.0 if name == "sin_mul" else 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_softplus_scaled(dtype):
    """softplus_scaled(c, z) = log(1 + e^(c·z))/c for c > 0, finite wherever the value is (z up to the
    largest float, where c·z overflows), within 3 ULP (softplus's log1p(e^-|c·z|) within 2, the division
    by c and the sum with max(z, 0) one rounding each) plus what rounding c·z costs when c is not a power
    of two, 2u·|c·z|·e^(-|c·z|)/(c·|value|) relatively."""
    fi = np.finfo(dtype)
    rng = np.random.default_rng(5)
    z = np.concatenate([rng.uniform(-60, 60, 600), 10.0 ** rng.uniform(-30, math.log10(float(fi.max)), 300),
                        -(10.0 ** rng.uniform(-30, 2.5, 200)), [float(fi.max), float(fi.max) / 2, 0.0]]).astype(dtype)
    fn = _two_arg_loop(R.softplus_scaled_f32 if dtype is np.float32 else R.softplus_scaled_f64)
    u = 2.0 ** -(fi.nmant + 1)
    for c in (1.0, 2.0, 2.0 ** -10, 2.0 ** 10, 1.5):
        with np.errstate(all="ignore"):
            got = fn(np.full(z.shape, c, dtype), z)
        with mpmath.workprec(400):
            for zi, y in zip(z.tolist(), got.tolist()):
                cz = mpmath.mpf(c) * zi
                t = (mpmath.log1p(mpmath.exp(cz)) if cz < 0 else cz + mpmath.log1p(mpmath.exp(-cz))) / c
                if abs(t) < float(fi.tiny):
                    continue
                assert math.isfinite(y), (c, zi, y)
                slack = 0 if c in (1.0, 2.0, 2.0 ** -10, 2.0 ** 10) else u * abs(cz) * mpmath.exp(-abs(cz)) / (c * abs(t)) * 2
                err = float(abs(mpmath.mpf(y) - t) / ulp_of(t, dtype))
                assert err <= 3 + float(slack / (ulp_of(t, dtype) / abs(t))), (c, zi, y, mpmath.nstr(t, 17), err)


@njit(error_model="numpy")
def _exp_mul_loop_f32(c, a, b, out):
    for i in range(a.shape[0]):
        out[i] = R.exp_mul_f32(c, a[i], b[i])


@njit(error_model="numpy")
def _exp_mul_loop_f64(c, a, b, out):
    for i in range(a.shape[0]):
        out[i] = R.exp_mul_f64(c, a[i], b[i])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_exp_mul_keeps_the_product_exact(dtype):
    """exp_mul(c, a, b) = e^(c·a·b) (GELU's e^(-x²/2)) within 1 ULP of e^ of the exact product, over
    squares and mixed products into overflow and gradual underflow; exp(c·(a·b)) of the rounded
    product is off by ~|c·a·b|/2 ULP out there."""
    rng = np.random.default_rng(13)
    lo, hi = domain("exp", dtype)
    loop = _exp_mul_loop_f32 if dtype is np.float32 else _exp_mul_loop_f64
    worst, naive = 0.0, 0.0
    for c in (-0.5, -1.0, 0.5, -1.7, 0.3):
        lim = math.sqrt(max(-lo, hi) / abs(c)) * 1.02  # past both the overflow and the underflow
        a = rng.uniform(-lim, lim, 3000).astype(dtype)
        b = np.concatenate([a[:2000], rng.uniform(-lim, lim, 1000).astype(dtype)])  # squares, then a·b
        out = np.empty_like(a)
        with np.errstate(all="ignore"):
            loop(dtype(c), a, b, out)
            rounded = helper("exp", dtype)(dtype(c) * (a * b))
        with mpmath.workdps(80):
            for ai, bi, y, yr in zip(a.tolist(), b.tolist(), out.tolist(), rounded.tolist()):
                t = mpmath.exp(mpmath.mpf(float(dtype(c))) * mpmath.mpf(ai) * mpmath.mpf(bi))
                if t > np.finfo(dtype).max:
                    assert y == math.inf, (c, ai, bi, y)
                    continue
                u = ulp_of(t, dtype)
                err = float(abs(mpmath.mpf(y) - t) / u)
                worst = max(worst, err)
                naive = max(naive, float(abs(mpmath.mpf(yr) - t) / u))
    print(f"exp_mul {dtype.__name__}: max {worst:.3f} ULP (exp of the rounded product: {naive:.1f})")
    assert worst <= 1.0
    assert naive > 20  # the sweep does reach where the rounded product would have failed
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype)
    for c, want in ((-0.5, [0.0, 0.0, np.nan, 1.0, 1.0]), (2.0, [np.inf, np.inf, np.nan, 1.0, 1.0])):
        out = np.empty_like(x)
        with np.errstate(all="ignore"):
            loop(dtype(c), x, x, out)
        assert np.array_equal(out, np.array(want, dtype), equal_nan=True), (c, out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pair_special_values_are_what_the_helpers_return(dtype):
    """printing.PAIR_SPECIALS, like HELPER_SPECIALS, for the helpers that return a pair: fed what a
    double-word polynomial gives at x = ±inf and nan (high part ±inf or nan, low part nan)."""
    from symact.codegen.numba import FUNCTIONS, PAIR_SPECIALS
    for cls, want in PAIR_SPECIALS.items():
        fn = getattr(R, FUNCTIONS[cls].format(t=TAGS[dtype]))

        @njit
        def call(h, lo):
            return fn((h, lo))
        for h, w in zip((np.inf, -np.inf, np.nan), want):
            got = call(dtype(h), dtype(np.nan))
            assert np.array_equal(np.array(got, dtype), np.array(w, dtype), equal_nan=True), (cls.__name__, h, got, w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ldexp_rounds_once_like_numpy(dtype):
    """ldexp, the last step of every exp and erfc (vscalef under AVX-512, else bit arithmetic), is
    p·2^k with one rounding: bit for bit np.ldexp, into the subnormals, to zero and to ±inf."""
    ldexp = R.ldexp_f32 if dtype is np.float32 else R.ldexp_f64

    @njit(error_model="numpy")
    def loop(p, k, out):
        for i in range(p.shape[0]):
            R.wide_vectors()
            out[i] = ldexp(p[i], k[i])

    rng = np.random.default_rng(6)
    n = 200_003  # not a multiple of the vector width: the scalar remainder is checked too
    emax = np.finfo(dtype).maxexp
    p = ((1 + rng.random(n)) * rng.choice([-1.0, 1.0], n)).astype(dtype)
    k = rng.integers(-2 * emax + 20, 2 * emax - 20, n)
    out = np.empty_like(p)
    loop(p, k, out)
    with np.errstate(over="ignore"):
        ref = np.ldexp(p, k)
    tiny = np.finfo(dtype).tiny
    assert np.sum((ref != 0) & (np.abs(ref) < tiny)) > 1000 and np.isinf(ref).sum() > 1000 and (ref == 0).sum() > 1000
    np.testing.assert_array_equal(out, ref)
