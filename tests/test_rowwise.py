"""Row-wise kernels (softmax, softmin, log_softmax, logsumexp and their VJPs): stable on extreme
rows in both dtypes, equal to mpmath, to PyTorch autograd, and to the seeds' numbers."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest

import symact.kernels as K
from reference import assert_row_ulp

ROWS = [[1000.0, 0.0, -1000.0], [-745.0, -744.0, -800.0], [100.0, 0.0, 0.0], [2.0, 1.0, 0.1],
        [0.0, 0.0, 0.0, 0.0], [3.0], [-1e4, 1e4], [1e-30, -1e-30, 0.5]]
DTYPES = [np.float32, np.float64]


def _truth(name, row, beta=1):
    with mpmath.workdps(80):
        xs = [mpmath.mpf(float(v)) * beta for v in row]
        if name == "softmin":
            xs = [-v for v in xs]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in xs))
        if name == "logsumexp":
            return [lse]
        if name == "log_softmax":
            return [v - lse for v in xs]
        return [mpmath.exp(v - lse) for v in xs]


@pytest.mark.parametrize("name", ["softmax", "softmin", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_extreme_rows_against_mpmath(name, dtype):
    for row in ROWS:
        x = np.array(row, dtype)
        got = np.atleast_1d(getattr(K, name)(x))
        assert got.dtype == dtype and np.all(np.isfinite(got)), (name, row, got)
        for y, t in zip(got.tolist(), _truth(name, x.tolist())):
            assert_row_ulp(y, t, dtype, x.tolist(), (name, row))


def test_cross_entropy_row_keeps_the_tiny_loss():
    """-log_softmax([100, 0, 0])_0 = log(1 + 2e-100) ~ 7.4e-44; every mainstream library gives 0."""
    for dt in DTYPES:
        v = -K.log_softmax(np.array([100.0, 0.0, 0.0], dt))[0]
        assert v == pytest.approx(2 * np.exp(-100.0), rel=0.05 if dt == np.float32 else 1e-14)


def test_seed_numbers():
    np.testing.assert_allclose(K.softmax(np.array([2.0, 1.0, 0.1])).round(1), [0.7, 0.2, 0.1])
    for beta, want in [(1, [0.475, 0.524]), (2, [0.450, 0.550]), (5, [0.378, 0.622])]:
        np.testing.assert_allclose(K.softmax(np.array([1.0, 1.1]), beta=beta), want, atol=1.5e-3)
    p = K.softmax(np.array([1.0, 1.1]), beta=100.0)
    assert p[0] == pytest.approx(4.54e-05, rel=1e-2) and p[1] == pytest.approx(0.99995, rel=1e-5)


def test_axis_broadcast_out_and_errors():
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    for axis in (0, 1, -1):
        y = K.softmax(x, axis=axis)
        np.testing.assert_allclose(y.sum(axis=axis), 1, rtol=1e-6)
        assert y.shape == x.shape and y.dtype == np.float32
    assert K.logsumexp(x, axis=1).shape == (3, 5)
    out = np.empty_like(x)
    assert K.log_softmax(x, axis=1, out=out) is out
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        K.softmax(x, axis=3)
    with pytest.raises(ValueError, match="g has shape"):
        K.softmax_vjp(x, np.ones((3, 4)))
    with pytest.raises(ValueError, match="beta' must be > 0"):
        K.softmax(x, beta=0.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_values_and_vjps_match_pytorch(dtype):
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
