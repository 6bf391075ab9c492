"""Row-wise kernels (every entry of catalog.vectors.VECTORS and its VJP): swept against mpmath over
rows up to ±max, ±inf, nan and subnormals, in both dtypes, at default and non-default parameters;
PyTorch autograd as a second opinion; the seeds' numbers; axis handling and its errors."""
from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import pytest
import sympy as sp

import symact.kernels as K
from mp_truth import Row, explicit, judge, unit_roundoff
from targets_common import fit_row
from symact.catalog.vectors import VECTORS, RowMax, g, j, k, x

DTYPES = [np.float32, np.float64]
IDS = ["float32", "float64"]


def sweep_rows(dtype) -> list[list[float]]:
    """Rows of the sweep: the seeds' and the issues' extreme rows, the dtype's largest, smallest
    normal and subnormal numbers, ±inf, nan, near-ties, and random rows at scales 1, 30 and 300."""
    fi = np.finfo(dtype)
    mx, sub, tiny = float(fi.max), float(fi.smallest_subnormal), float(fi.tiny)
    big = 1e30 if dtype == np.float32 else 1e200
    rows = [[1000.0, 0.0, -1000.0], [-745.0, -744.0, -800.0], [100.0, 0.0, 0.0], [2.0, 1.0, 0.1],
            [0.0, 0.0, 0.0, 0.0], [3.0], [-1e4, 1e4], [1e-30, -1e-30, 0.5], [30.0, 0.0, -30.0, 1.0],
            [88.0, 0.0, -100.0], [0.5, 0.5 + 2**-20, 0.5 - 2**-20], [sub, -sub, tiny], [mx, 0.0, -mx],
            [mx, mx, 1.0], [-mx, -mx, -mx], [big, -big, 0.0], [big, big * (1 - 2**-20), 0.0],
            [math.inf, 0.0, 1.0], [-math.inf, 0.0, 1.0], [-math.inf, -math.inf, 2.0], [math.nan, 0.0, 1.0]]
    rng = np.random.default_rng(0)
    for scale in (1.0, 30.0, 300.0):
        rows += [list(rng.standard_normal(4) * scale) for _ in range(2)]
    return [np.array(r, dtype).tolist() for r in rows]


def gradients(n: int, dtype) -> list[list[float]]:
    """Upstream gradients g for a row of n: random, constant (the softmax VJP is then exactly 0), and
    one large entry."""
    rng = np.random.default_rng(n)
    big = 1e10 if dtype == np.float32 else 1e100
    rows = [list(rng.standard_normal(n)), [1.0] * n, [big] + [-1.0] * (n - 1)]
    return [np.array(r, dtype).tolist() for r in rows]


def parameter_values(fn) -> list[dict]:
    """Defaults, then each parameter at other legal values: positive ones small and large (beta = 2^-10
    … 2^10, beta = 2 of the softmax-shift regression), real ones of both signs and 0."""
    out = [{}]
    for p in fn.params:
        values = [0.5, 2.0, 2.0**10, 2.0**-10] if p.positive else [-2.0, 0.0, 2.0]
        out += [{p.name: v} for v in values if v != float(p.value)]
    return out


def _exponent(fn):
    """a(x_k) of the row sum Σ_k e^(a(x_k)) the function is built on (None: no exponentials)."""
    for s in fn.expr(j).atoms(sp.Sum):
        if isinstance(s.function, sp.exp):
            return s.function.args[0]
    return None


def shift_sensitivity(fn, row, scalars) -> tuple[list, list]:
    """(κ, p): κ_j = |z_j| + Σ_k p_k |z_k|, z_k = a(x_k) − max a, p = softmax(z), for each j. A
    max-shifted kernel rounds each z_k (relative error u), and e^z carries that into the result as a
    relative error u·|z_k|; the sum weighs them by p_k. The textbook problem's own sensitivity to the
    shift (the issue's 2·spread·u, made per element): 0 where there is no exponential."""
    a = _exponent(fn)
    n = len(row)
    if a is None or not all(math.isfinite(v) for v in row):
        return [mpmath.mpf(0)] * n, [None] * n
    f = sp.lambdify([x[0]] + fn.symbols(), a.subs(k, 0), "mpmath")
    with mpmath.workdps(60):
        z = [f(mpmath.mpf(v), *map(mpmath.mpf, scalars)) for v in row]
        if not all(mpmath.isfinite(v) for v in z):
            return [mpmath.mpf(0)] * n, [None] * n
        top = max(z)
        z = [v - top for v in z]
        e = [mpmath.exp(v) for v in z]
        total = mpmath.fsum(e)
        mean = mpmath.fsum(ei * abs(zi) for ei, zi in zip(e, z)) / total
        return [abs(zi) + mean for zi in z], [ei / total for ei in e]


@functools.cache
def _truths(name: str, n: int, vjp: bool):
    """[(value Row, Σ|terms| Row, log-type)] per output component, from the catalog formula at K = n
    (the VJP: Σ_j g_j ∂y_j/∂x_i by SymPy's diff of that explicit formula)."""
    fn = next(f for f in VECTORS if f.name == name)
    scalars = fn.symbols()
    gs = sp.Symbol("g_row", real=True)
    m = 1 if fn.scalar else fn.layout.outputs(n)  # output components (K/2 for glu's halves)
    comps = [explicit(fn.expr(c), n) for c in range(m)]
    out = []
    if not vjp:
        for c, e in enumerate(comps):
            out.append((Row(e, {x: n}, scalars), Row(sp.Abs(e), {x: n}, scalars), isinstance(fn.expr(c), sp.log)))
        return out
    for i in range(n):
        if fn.scalar:
            e, bases, extra = gs * sp.diff(comps[0], x[i]), {x: n}, [gs]
        else:
            e, bases, extra = sum(g[c] * sp.diff(comps[c], x[i]) for c in range(m)), {x: n, g: m}, []
        mag = sp.Add(*[sp.Abs(t) for t in sp.Add.make_args(sp.expand_mul(e))])
        out.append((Row(e, bases, extra + scalars), Row(mag, bases, extra + scalars), False))
    return out


@functools.cache
def _gates(name: str, n: int, vjp: bool):
    """Per output component, a Row of the product of the σ factors of its terms (None without one):
    a gate below the normal range holds only a few bits, like a subnormal softmax p_i (see _check)."""
    from symact.primitives import Sigmoid

    fn = next(f for f in VECTORS if f.name == name)
    m = 1 if fn.scalar else fn.layout.outputs(n)
    comps = [explicit(fn.expr(c), n) for c in range(m)]
    if vjp and not fn.scalar:
        comps = [sum(g[c] * sp.diff(comps[c], x[a]) for c in range(m)) for a in range(n)]
    elif vjp:
        comps = [sp.diff(comps[0], x[a]) for a in range(n)]
    bases = {x: n, g: m} if vjp and not fn.scalar else {x: n}
    out = []
    for e in comps:
        gates = [t for t in sp.expand_mul(e).atoms(Sigmoid)]
        out.append(Row(sp.Mul(*gates), bases, fn.symbols()) if gates else None)
    return out


def _routed(fn) -> bool:
    """A max over the row (maxout): its value is the max itself and its derivative is routed to the
    first winning element (the catalog's stated convention, PyTorch's), a nan winning over numbers."""
    return fn.expr(j).has(RowMax)


def _first_max(row):
    nans = [m for m, v in enumerate(row) if math.isnan(v)]
    return nans[0] if nans else max(range(len(row)), key=lambda m: (row[m], -m))


def _check(fn, dtype, vjp):
    u = unit_roundoff(dtype)
    worst, failures = 0.0, []
    for params in parameter_values(fn):
        scalars = [float(dtype(params.get(p.name, float(p.value)))) for p in fn.params]
        scale = scalars[0] if scalars else 1.0  # a positive parameter scales the exponents (beta)
        rows = [fit_row(fn, r) for r in sweep_rows(dtype)]  # the entry's layout (glu: halves)
        if params:  # a non-default parameter: the rows where it matters (huge, infinite, spread out)
            rows = [r for r in rows if max(abs(v) for v in r) >= 100 and r.count(r[0]) == 1] + rows[-2:]
        for row in rows:
            n = len(row)
            xs = np.array([row], dtype)
            kappa, probs = shift_sensitivity(fn, row, scalars)
            cases = [(None, getattr(K, fn.name)(xs, **params))] if not vjp else []
            for gr in (gradients(fn.layout.outputs(n), dtype) if vjp else []):
                ga = np.array([gr[:1]] if fn.scalar else [gr], dtype)
                cases.append((gr, getattr(K, f"{fn.name}_vjp")(xs, ga.reshape(1) if fn.scalar else ga, **params)))
            for gr, got in cases:
                got = np.atleast_1d(np.asarray(got)).reshape(-1)
                assert got.dtype == dtype
                if _routed(fn):
                    m = _first_max(row)
                    want = [max(row) if not math.isnan(row[m]) else math.nan] if gr is None else \
                        [gr[0] if c == m else 0.0 for c in range(n)]
                    for c, (v, t) in enumerate(zip(got.tolist(), want)):
                        if not (v == t or math.isnan(v) and math.isnan(t)):
                            failures.append((row, params, gr, c, v, t))
                    continue
                extra = [] if gr is None else (gr[:1] if fn.scalar else [])
                values = row if gr is None or fn.scalar else row + gr
                for c, (truth, magnitude, log_type) in enumerate(_truths(fn.name, n, gr is not None)):
                    t = truth(values, extra + scalars, scale)
                    if t is None:  # a limit the sweep cannot settle (a +inf next to numbers beyond 1e4)
                        continue
                    mag = magnitude.magnitude(values, extra + scalars) or 0
                    kc = kappa[0 if fn.scalar and gr is None else c]
                    if gr is not None:  # each p_j in T_i: relative error u·|z_j|, at most the row's largest
                        kc += max(kappa) if probs[0] is not None else 0
                    allowance = 2 * u * (kc + mag) if log_type else 2 * u * (1 + kc) * mag
                    if gr is not None and probs[c]:
                        # p_i below the normal range holds only a few bits: a float's own limit, which the
                        # VJP multiplies by |g_i| + Σ p_j |g_j| (T_i / p_i)
                        allowance += 2 * mpmath.mpf(float(np.finfo(dtype).smallest_subnormal)) * mag / probs[c]
                    gate = _gates(fn.name, n, gr is not None)[c]
                    gv = gate.magnitude(values, scalars) if gate is not None and not fn.scalar else None
                    if gv and abs(gv) < float(np.finfo(dtype).tiny):
                        # the same for a gate σ(b) (glu) below the normal range, times a large a or g
                        allowance += 2 * mpmath.mpf(float(np.finfo(dtype).smallest_subnormal)) * mag / abs(gv)
                    ok, err = judge(got[c], t, dtype, allowance)
                    if ok:
                        worst = max(worst, err)
                    else:
                        failures.append((row, params, gr, c, got[c], mpmath.nstr(mpmath.mpf(t), 17), err))
    return worst, failures


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("fn", VECTORS, ids=lambda f: f.name)
def test_vector_kernels_against_mpmath(fn, dtype):
    """Every vector function's value over the sweep rows, against the catalog formula at K = len(row)
    in mpmath (tests/mp_truth.Row). Bound: 4 ULP plus what the max shift inherently costs, computed
    from the row (shift_sensitivity κ): a relative 2u·(1 + κ_j) for ratios of exponentials (softmax),
    an absolute 2u·(κ_j + |y_j|) for their logs (log_softmax, logsumexp). A max (maxout) is exact.
    nan in a row gives nan; ±inf gives the limit (softmax([inf, 0, 1]) = [1, 0, 0])."""
    worst, failures = _check(fn, dtype, vjp=False)
    assert not failures, failures[:10]


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("fn", VECTORS, ids=lambda f: f.name)
def test_vector_vjps_against_mpmath(fn, dtype):
    """Every vector-Jacobian product over the sweep rows and several upstream gradients g, against
    Σ_j g_j ∂y_j/∂x_i of the catalog formula at K = len(row) (SymPy's diff of the explicit formula,
    evaluated in mpmath). Bound: 4 ULP plus 2u·(1 + κ_i)·T_i, T_i = Σ|terms| of that textbook sum
    (β·p_i·(|g_i| + Σ_j p_j |g_j|) for softmax: the difference g_i − Σ p_j g_j cancels where g is
    nearly constant, an error inherent to rounding p), κ_i as for the values. maxout routes g exactly."""
    worst, failures = _check(fn, dtype, vjp=True)
    assert not failures, failures[:10]


def test_softmax_max_shift_scales_with_beta():
    """softmax([1000, 0, −1000], beta=2) is [1, e^−2000, e^−4000] → [1, 0, 0]: the shift must be
    beta·max (beta·x − max overflows to e^1000 = inf, and inf/inf is nan)."""
    for dt in DTYPES:
        y = K.softmax(np.array([1000.0, 0.0, -1000.0], dt), beta=2.0)
        np.testing.assert_array_equal(y, np.array([1.0, 0.0, 0.0], dt))
        big = float(np.finfo(dt).max)
        np.testing.assert_array_equal(K.softmax(np.array([big, 0.0, -big], dt), beta=2.0), [1.0, 0.0, 0.0])
        np.testing.assert_array_equal(K.softmax(np.array([big, big], dt), beta=3.0), [0.5, 0.5])


def test_infinite_entries_give_the_limit():
    """+inf in a row: the limit (the +inf entry takes all the mass), not inf − inf = nan."""
    for dt in DTYPES:
        row = np.array([np.inf, 0.0, 1.0], dt)
        np.testing.assert_array_equal(K.softmax(row), [1.0, 0.0, 0.0])
        np.testing.assert_array_equal(K.log_softmax(row), [0.0, -np.inf, -np.inf])
        assert K.logsumexp(row) == np.inf
        np.testing.assert_array_equal(K.softmin(-row), [1.0, 0.0, 0.0])
        np.testing.assert_array_equal(K.softmax(np.array([-np.inf, 0.0], dt)), [0.0, 1.0])


def test_cross_entropy_row_keeps_the_tiny_loss():
    """-log_softmax([100, 0, 0])_0 = log1p(2e^-100) ≈ 7.4e-44 (every mainstream library gives 0):
    within 4 ULP of mpmath in float64; in float32 it is subnormal: within 2 subnormal steps."""
    with mpmath.workdps(60):
        truth = mpmath.log1p(2 * mpmath.exp(-100))
    for dt in DTYPES:
        v = -K.log_softmax(np.array([100.0, 0.0, 0.0], dt))[0]
        assert judge(v, truth, dt)[0], (dt, v)


def test_seed_numbers():
    """seeds/001's tempered softmax of [1, 1.1]: within 4 ULP of the textbook e^(βx_j)/Σ e^(βx_k) in
    mpmath at every beta of the seeds' table, and equal to the printed numbers to the digits printed
    (the seeds round loosely: 0.45017 is printed 0.451; the table test is in test_vector.py)."""
    np.testing.assert_array_equal(K.softmax(np.array([2.0, 1.0, 0.1])).round(1), [0.7, 0.2, 0.1])
    for beta, printed in [(1.0, ["0.475", "0.524"]), (2.0, ["0.451", "0.550"]), (5.0, ["0.378", "0.622"]),
                          (100.0, ["4.5e-05", "0.99995"])]:
        got = K.softmax(np.array([1.0, 1.1]), beta=beta)
        with mpmath.workdps(50):
            e = [mpmath.exp(beta * mpmath.mpf(v)) for v in (1.0, 1.1)]
            truth = [v / mpmath.fsum(e) for v in e]
        for v, t, p in zip(got, truth, printed):
            assert judge(float(v), t, np.float64, 2 * unit_roundoff(np.float64) * beta * 0.1 * t)[0], (beta, v, t)
            mantissa, _, exponent = p.partition("e")  # one unit of the last digit printed
            assert abs(v - float(p)) <= 10.0 ** (-len(mantissa.split(".")[1]) + int(exponent or 0)), (beta, v, p)


ROW_KERNELS = [(f.name, False) for f in VECTORS] + [(f"{f.name}_vjp", True) for f in VECTORS]


@pytest.mark.parametrize("name,vjp", ROW_KERNELS, ids=[n for n, _ in ROW_KERNELS])
def test_axis_must_be_an_int(name, vjp):
    """axis=None, 1.5, (0, 1), True: a TypeError saying axis must be an int; an int out of range: a
    ValueError naming the valid range."""
    fn = getattr(K, name)
    fn_entry = next(v for v in VECTORS if name in (v.name, f"{v.name}_vjp"))
    xs = np.zeros((2, 4))
    g = np.zeros((2,)) if fn_entry.scalar else np.zeros((2, fn_entry.layout.outputs(4)))
    args = (xs, g) if vjp else (xs,)
    for bad in (None, 1.5, (0, 1), True, "1"):
        with pytest.raises(TypeError, match="axis must be an int"):
            fn(*args, axis=bad)
    with pytest.raises(ValueError, match=r"axis 2 is out of range for x of shape \(2, 4\) \(an int in \[-2, 1\]\)"):
        fn(*args, axis=2)
    with pytest.raises(ValueError, match="axis -3 is out of range"):
        fn(*args, axis=-3)


def test_axis_broadcast_out_and_errors():
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    for axis in (0, 1, -1, np.int64(1)):
        y = K.softmax(x, axis=axis)
        np.testing.assert_allclose(y.sum(axis=int(axis)), 1, rtol=4 * 2**-24 * 5)
        assert y.shape == x.shape and y.dtype == np.float32
    assert K.logsumexp(x, axis=1).shape == (3, 5)
    out = np.empty_like(x)
    assert K.log_softmax(x, axis=1, out=out) is out
    with pytest.raises(ValueError, match="g has shape"):
        K.softmax_vjp(x, np.ones((3, 4)))
    with pytest.raises(ValueError, match="beta' must be > 0"):
        K.softmax(x, beta=0.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_values_and_vjps_match_pytorch(dtype):
    """A second opinion on moderate rows: PyTorch's value and autograd, to its own accuracy (float32:
    torch's kernels are within a few ULP; the tolerances are 100 and 10 ULP of 1)."""
    torch = pytest.importorskip("torch", reason="PyTorch is a test-only dependency; .ci/run installs it")
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 7)) * 4).astype(dtype)
    g = rng.standard_normal((6, 7)).astype(dtype)
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    F = torch.nn.functional
    cases = {"softmax": lambda t: F.softmax(t * 2.0, dim=1), "softmin": lambda t: F.softmin(t, dim=1),
             "log_softmax": lambda t: F.log_softmax(t, dim=1), "logsumexp": lambda t: torch.logsumexp(t, dim=1)}
    for name, fn in cases.items():
        kw = {"beta": 2.0} if name == "softmax" else {}
        xt = torch.tensor(x, requires_grad=True)
        yt = fn(xt)
        gt = torch.tensor(g[:, 0] if name == "logsumexp" else g)
        (yt * gt).sum().backward()
        np.testing.assert_allclose(getattr(K, name)(x, axis=1, **kw), yt.detach().numpy(), **tol, err_msg=name)
        gg = g[:, 0] if name == "logsumexp" else g
        np.testing.assert_allclose(getattr(K, f"{name}_vjp")(x, gg, axis=1, **kw), xt.grad.numpy(), **tol,
                                   err_msg=f"{name}_vjp")


def test_fast_path_and_general_path_agree():
    """A C-contiguous float array along its last axis with Python-number parameters takes the front
    end's fast path; lists, other axes, strided arrays and NumPy-scalar parameters the general one:
    the same results, and out= written in place either way."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 7, 9)) * 4
    g = rng.standard_normal(x.shape)
    g_row = rng.standard_normal(x.shape[:-1])
    cases = [(K.softmax, (x,), {"beta": 0.5}), (K.log_softmax, (x,), {}), (K.logsumexp, (x,), {}),
             (K.softmax_vjp, (x, g), {"beta": 2.0}), (K.logsumexp_vjp, (x, g_row), {})]
    for fn, args, kw in cases:
        for dt in (np.float32, np.float64):
            a = [v.astype(dt) for v in args]
            fast = fn(*a, **kw)
            assert fast.dtype == dt
            if dt is np.float64:  # a list is float64 data
                np.testing.assert_array_equal(fn(*[v.tolist() for v in a], **{k: dt(v) for k, v in kw.items()}), fast)
            np.testing.assert_array_equal(fn(*a, **{k: dt(v) for k, v in kw.items()}), fast)  # NumPy-scalar parameters
            moved = [np.moveaxis(np.moveaxis(v, -1, 0).copy(), 0, -1) for v in a]  # same values, strided
            np.testing.assert_array_equal(fn(*moved, **kw), fast)
            np.testing.assert_array_equal(
                np.moveaxis(fn(*[np.moveaxis(v, -1, 0) if v.ndim == x.ndim else v for v in a], axis=0, **kw), 0, -1)
                if fast.shape == x.shape else fn(a[0], *a[1:], axis=2, **kw), fast)
            out = np.empty_like(fast)
            assert fn(*a, **kw, out=out) is out
            np.testing.assert_array_equal(out, fast)
    assert isinstance(K.logsumexp(np.float32([1, 2, 3])), np.float32)
    with pytest.raises(ValueError, match="'beta' must be > 0"):  # the fast path leaves errors to the general one
        K.softmax(x, beta=-1.0)
    with pytest.raises(ValueError, match="out must be an array"):
        K.softmax(x, out=np.empty((6, 7, 9), np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_division_by_a_row_reciprocal_rounds_as_the_division(dtype):
    """div_rcp(a, b, 1/b), which the row kernels use for their exp-sum denominators: the same bits as
    a/b (IEEE division, correctly rounded) above 2^(p/2)·tiny, within 1 ulp below, and a/b's own
    value for inf and nan operands."""
    from symact.kernels._rowwise import div_rcp
    from numba import njit

    @njit
    def run(a, b, out):
        for i in range(a.shape[0]):
            out[i] = div_rcp(a[i], b[i], dtype(1.0) / b[i])

    rng = np.random.default_rng(7)
    fi = np.finfo(dtype)
    n = 200_000
    a = np.concatenate([rng.random(n), np.exp2(rng.uniform(np.log2(float(fi.tiny)) - fi.nmant, 0, n))]).astype(dtype)
    b = np.exp2(rng.uniform(0, 12, a.size)).astype(dtype)  # a sum of shifted exps lies in [1, K]
    got = np.empty_like(a)
    run(a, b, got)
    want = a / b
    normal = np.abs(want) >= float(fi.tiny) * 2.0 ** ((fi.nmant + 1) // 2)
    assert normal.sum() > n and np.array_equal(got[normal], want[normal])
    spacing = np.spacing(np.maximum(np.abs(want[~normal]), fi.smallest_subnormal).astype(dtype))
    assert np.all(np.abs(got[~normal].astype(float) - want[~normal]) <= spacing)
    special_a = np.array([np.inf, -np.inf, np.nan, 0.0, 1.0, 1.0, np.inf], dtype)
    special_b = np.array([3.0, 3.0, 3.0, np.nan, np.nan, np.inf, np.inf], dtype)
    got = np.empty_like(special_a)
    with np.errstate(all="ignore"):
        run(special_a, special_b, got)
        np.testing.assert_array_equal(got, special_a / special_b)


BLOCKED = [v for v in VECTORS if v.layout.parts > 1]  # layouts in equal blocks (glu's halves)


@pytest.mark.parametrize("fn", BLOCKED, ids=lambda f: f.name)
def test_block_layout_shapes_and_length_errors(fn):
    """A layout in blocks: the result has the axis ``parts`` times shorter, along any axis; the vjp
    takes g of that shape and returns x's; a length that is not a multiple is a ValueError naming the
    axis and its length (as PyTorch's "Halving dimension must be even"), for NumPy and dask input."""
    import dask.array as da

    p = fn.layout.parts
    f, vjp = getattr(K, fn.name), getattr(K, f"{fn.name}_vjp")
    x = np.random.default_rng(2).standard_normal((3 * p, 5 * p))
    for axis in (0, 1, -1):
        y = f(x, axis=axis)
        want = list(x.shape)
        want[axis] //= p
        assert y.shape == tuple(want)
        assert vjp(x, np.ones_like(y), axis=axis).shape == x.shape
    with pytest.raises(ValueError, match="g has shape"):
        vjp(x, np.ones_like(x))
    bad = np.ones((2, 2 * p + 1))
    for call in (lambda a: f(a), lambda a: vjp(a, np.ones((2, 2))), lambda a: f(da.from_array(a))):
        with pytest.raises(ValueError, match=rf"length of axis 1 must be .*\(2, {2 * p + 1}\): length {2 * p + 1}"):
            call(bad)
    with pytest.raises(ValueError, match=r"length of axis 0 must be"):
        f(bad.T, axis=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("fn", [v for v in BLOCKED if v.torch], ids=lambda f: f.name)
def test_block_layout_matches_pytorch(fn, dtype):
    """The catalog's PyTorch counterpart (F.glu) and its autograd, along both axes, moderate values."""
    torch = pytest.importorskip("torch", reason="PyTorch is a test-only dependency; .ci/run installs it")
    own = eval(fn.torch, {"torch": torch})
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((6, 8)) * 4).astype(dtype)
    # torch's own accuracy (its float32 backward forms 1 − σ(b): 2e-5 relative near σ(b) = 1)
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for axis in (0, 1):
        xt = torch.tensor(x, requires_grad=True)
        yt = own(xt, axis)
        g = rng.standard_normal(tuple(yt.shape)).astype(dtype)
        (yt * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(getattr(K, fn.name)(x, axis=axis), yt.detach().numpy(), **tol)
        np.testing.assert_allclose(getattr(K, f"{fn.name}_vjp")(x, g, axis=axis), xt.grad.numpy(), **tol)
