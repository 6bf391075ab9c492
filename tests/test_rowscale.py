"""Max-scaling of row sums of squares and p-th powers (symact.stabilize.rowscale): the rewrite's shape and its
round trip to the original for any scale M > 0, the runtime helpers at the dtype's extremes, and the
catalog's norm-based row losses on rows far beyond √max and below √tiny against mpmath."""
import importlib
import random

import mpmath
import numpy as np
import pytest
import sympy as sp

import symact.kernels as K
from symact.catalog.vectors import K as ROW_LEN, i, k
from symact.stabilize.rowscale import RowScale, Scaled, ScaledPow, scale_norms, to_textbook
from symact.stabilize.rowwise import to_textbook_row
from symact.verify.explicit import plain as plain_row
from symact.derive.vector import reduce_deltas

R = importlib.import_module(K.__name__ + "._runtime")
x = sp.IndexedBase("x", real=True)


def _sum(body):
    return sp.Sum(body, (k, 0, ROW_LEN - 1))


def _equal_at_random_points(a, b, n=3, points=5):
    """a == b at K = n, on random rows and random positive scales (the rewrite holds for any M > 0)."""
    ta, _ = plain_row(to_textbook_row(a, n), n)
    tb, _ = plain_row(b.subs(ROW_LEN, n).doit(), n)
    free = sorted(ta.free_symbols | tb.free_symbols, key=lambda v: v.name)
    rng = random.Random(1)
    for _ in range(points):
        vals = {v: rng.uniform(0.1, 4.0) if v.is_positive else rng.uniform(-3, 3) for v in free}
        with mpmath.workdps(40):
            u, w = sp.N(ta.subs(vals), 30), sp.N(tb.subs(vals), 30)
        assert abs(u - w) <= 1e-12 * max(1, abs(w)), (vals, u, w)  # float substitution: double precision


def test_a_norm_plus_a_constant_is_scaled_and_folded():
    """x_i/sqrt(Σx² + c): the sum scaled, M cancelled, the rest of M inside one ScaledPow; equal to the
    original for any M > 0."""
    c = sp.Float("1e-12")
    expr = x[i] / sp.sqrt(_sum(x[k] ** 2) + c)
    scaled = scale_norms(expr)
    sums = list(scaled.atoms(sp.Sum))
    assert len(sums) == 1 and sums[0].function == Scaled(x[k], RowScale(x[k])) ** 2
    (pw,) = scaled.atoms(ScaledPow)
    assert pw.args[2:] == (c, 2, 0, sp.Rational(-1, 2))  # u_i·(S + c·M^-2)^(-1/2): M cancelled
    _equal_at_random_points(scaled.subs(i, 1), expr.subs(i, 1))


def test_a_p_norm_of_a_difference_keeps_its_scale():
    """(Σ|x_k − y_k + e|^p)^(1/p) = M·S^(1/p), and its gradient has no M at all."""
    y = sp.IndexedBase("y", real=True)
    p, e = sp.Symbol("p", positive=True), sp.Symbol("e", real=True)
    dist = _sum(sp.Abs(x[k] - y[k] + e) ** p) ** (1 / p)
    scaled = scale_norms(dist)
    assert scaled.atoms(RowScale) and not scaled.atoms(ScaledPow)
    _equal_at_random_points(scaled, dist)
    grad = reduce_deltas(sp.diff(dist, x[i]))
    sg = scale_norms(grad)
    assert not (sg.atoms(RowScale) - {a for s in sg.atoms(Scaled) for a in s.atoms(RowScale)})
    _equal_at_random_points(sg.subs(i, 0), grad.subs(i, 0))


def test_sums_without_products_are_left_alone():
    """Σ x_k and Σ e^{x_k} are not max-scaled (the max shift handles exponentials)."""
    for expr in (_sum(x[k]) / 3, sp.log(_sum(sp.exp(x[k])))):
        assert scale_norms(expr) == expr


def test_to_textbook_opens_every_primitive():
    expr = scale_norms(sp.sqrt(_sum(x[k] ** 2) + 1) * x[i])
    assert not to_textbook(expr).atoms(RowScale, Scaled, ScaledPow)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_runtime_scale_helpers_at_the_extremes(dtype):
    """row_scale: the power of two at or below m (at least the smallest normal), 1 for 0, inf, nan;
    scaled: x/M, the limit direction at M = inf; scaled_pow: both forms against mpmath."""
    t = "f64" if dtype == np.float64 else "f32"
    fi = np.finfo(dtype)
    row_scale, scaled, scaled_pow = (getattr(R, f"{n}_{t}") for n in ("row_scale", "scaled", "scaled_pow"))
    for m in (float(fi.max), 3.0, 1.0, 0.75, float(fi.tiny), float(fi.smallest_subnormal)):
        s = float(row_scale(dtype(m)))
        assert s <= max(m, float(fi.tiny)) < 2 * s and np.log2(s) == int(np.log2(s))
        assert np.isfinite(1 / dtype(s))
    assert row_scale(dtype(0)) == 1 and row_scale(dtype(np.inf)) == np.inf and np.isnan(row_scale(dtype(np.nan)))
    assert scaled(dtype(np.inf), dtype(0)) == 1 and scaled(dtype(-np.inf), dtype(0)) == -1
    assert scaled(dtype(5), dtype(0)) == 0 and np.isnan(scaled(dtype(np.nan), dtype(0)))
    c = dtype(1e-12)
    for m in (2.0 ** -120, 2.0 ** -60, 0.5, 1.0, 2.0 ** 60, 2.0 ** 120):  # both branches
        for al, be in ((0.0, -0.5), (-1.0, -1.5), (-1.0, -0.5)):
            got = float(scaled_pow(dtype(m), dtype(1.5), c, dtype(2), dtype(al), dtype(be)))
            with mpmath.workdps(40):
                mm = mpmath.mpf(m)
                want = mm ** al * (mpmath.mpf(1.5) + mpmath.mpf(float(c)) * mm ** -2) ** be
            if want > fi.max or want < fi.tiny:
                continue
            assert abs(got - want) <= 4 * np.spacing(dtype(want)), (m, al, be, got, want)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cosine_of_huge_rows(dtype):
    """cos(x, y) of rows scaled by 2^e far beyond √max (eps = 1e-12 below the rounding of |x|² at both
    scales) equals the cos of the unscaled rows and its gradient scales by 2^-e, bit for bit: no inf,
    no 0, no nan (the squares alone overflowed float64 here)."""
    a = np.array([[3.0, -1.0, 2.0]], dtype) * dtype(2.0 ** 20)
    b = np.array([[1.0, 2.0, -0.5]], dtype) * dtype(2.0 ** 20)
    one = np.array([-1.0], dtype)
    base = K.cosine_embedding_loss(a, b, one, margin=-1.0, reduction="none")
    gbase = K.cosine_embedding_loss_grad(a, b, one, margin=-1.0, reduction="sum")
    s = dtype(2.0 ** (600 if dtype == np.float64 else 80))  # the gradient (~1/|x|) stays normal
    aa, bb = a * s, b * s
    with np.errstate(over="ignore"):
        assert np.isfinite(aa).all() and np.isinf(aa[0, 0] * aa[0, 0])  # its square overflows the dtype
    np.testing.assert_array_equal(K.cosine_embedding_loss(aa, bb, one, margin=-1.0, reduction="none"), base)
    g = K.cosine_embedding_loss_grad(aa, bb, one, margin=-1.0, reduction="sum")
    np.testing.assert_array_equal(g * s, gbase)


def test_a_contributors_l2_normalize_neither_overflows_nor_underflows(tmp_path, monkeypatch):
    """The issue's l2_normalize, added as a contributor would (one VectorFunction, x_j/sqrt(Σ x_k²)), goes
    through the one pipeline, whose row stabilization max-scales the norm for vector functions as for row
    losses: its value and vjp are within a few ULP of mpmath on rows near the dtype's extremes (before,
    float32 [1e-25, 1e-25] gave [inf, inf] and [1e30, 1e30] gave [0, 0])."""
    import sys

    from symact import build
    from symact.atomic import write_atomically
    from symact.catalog import vectors
    from symact.catalog.vectors import VectorFunction, row_sum

    xv = vectors.x
    l2 = VectorFunction("l2_normalize", lambda j: xv[j] / sp.sqrt(row_sum(xv[k] ** 2)),
                        "a contributor's entry", "x / ||x||")
    monkeypatch.setattr(vectors, "VECTORS", vectors.VECTORS + (l2,))
    result = build.build(only=["l2_normalize"], docs=False, package_hint="l2pkg", progress=lambda line: None)
    assert not result.failures, result.failures
    write_atomically(result.files, tmp_path / "l2pkg")
    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = importlib.import_module("l2pkg")
    try:
        for dtype, rows in ((np.float32, [[1e-25, 1e-25], [1e30, 1e30], [3e-38, -1e-45, 2e-40], [3e38, -3e38, 1.0]]),
                            (np.float64, [[1e-300, 1e-300], [1e300, 1e300], [2e-308, -1e-308, 1.5e-308],
                                          [1.7e308, -1.7e308, 1.0]])):
            u = float(np.finfo(dtype).eps) / 2
            for row in rows:
                a = np.array([row], dtype)
                g = np.array([[1.0] + [-0.5] * (len(row) - 1)], dtype)
                y, vjp = pkg.l2_normalize(a), pkg.l2_normalize_vjp(a, g)
                with mpmath.workdps(60):
                    xs = [mpmath.mpf(float(v)) for v in a[0]]
                    gs = [mpmath.mpf(float(v)) for v in g[0]]
                    norm = mpmath.sqrt(sum(v * v for v in xs))
                    want_y = [v / norm for v in xs]
                    dot = sum(p * q for p, q in zip(gs, xs))
                    want_vjp = [gi / norm - xi * dot / norm ** 3 for gi, xi in zip(gs, xs)]
                for got, want in ((y[0], want_y), (vjp[0], want_vjp)):
                    for gv, wv in zip(got, want):
                        tiny = float(np.finfo(dtype).smallest_subnormal)
                        assert np.isfinite(gv), (dtype, row, got)
                        assert abs(gv - float(wv)) <= 8 * u * abs(float(wv)) + tiny, (dtype, row, got, want)
    finally:
        sys.modules.pop("l2pkg", None)
