"""Vector functions with a symbolic class count: Jacobians and VJPs, checked at K = 2, 3, 4 and
against the seeds' numbers (softmax([2, 1, 0.1]) and the tempered-softmax table)."""
from __future__ import annotations

import mpmath
import pytest
import sympy as sp

from symact.catalog.vectors import VECTORS, K, g, i, j, x
from symact.derive.vector import derive_vector, reduce_deltas


@pytest.fixture(scope="module")
def derived():
    return {f.name: derive_vector(f) for f in VECTORS}


def test_every_vector_function_is_cross_checked(derived):
    for name, d in derived.items():  # K = 2, 3, 4; K = 2, 4, 6 for halves (tests/test_explicit.py: wrong ones fail)
        assert d.checked.startswith(f"K = {', '.join(map(str, d.fn.layout.sizes))} at every index"), name


def _at(expr, row, beta=1, gs=None, ii=None, jj=None):
    n = len(row)
    e = expr.subs({K: n, sp.Symbol("beta", positive=True): beta})
    if ii is not None:
        e = e.subs(i, ii)
    if jj is not None:
        e = e.subs(j, jj)
    e = e.doit().subs({x[m]: row[m] for m in range(n)})
    if gs is not None:
        e = e.subs({g[m]: gs[m] for m in range(n)})
    return float(sp.N(e, 30))


def test_closed_forms_known_from_the_notes(derived):
    row, gs = [0.3, -1.2, 2.0], [0.5, -1.0, 2.0]
    with mpmath.workdps(30):
        ex = [mpmath.exp(v) for v in row]
        s = [e / sum(ex) for e in ex]
    for a in range(3):
        for b in range(3):  # d softmax_b / d x_a = s_b (delta_ab - s_a)
            assert _at(derived["softmax"].jacobian, row, ii=a, jj=b) == pytest.approx(
                float(s[b] * ((a == b) - s[a])), rel=1e-12)
        # log_softmax vjp: g_a - s_a * sum(g)
        assert _at(derived["log_softmax"].vjp, row, gs=gs, ii=a) == pytest.approx(
            float(gs[a] - s[a] * sum(gs)), rel=1e-12)
        # logsumexp gradient is softmax
        assert _at(derived["logsumexp"].jacobian, row, ii=a) == pytest.approx(float(s[a]), rel=1e-12)


def test_seed_softmax_example(derived):
    """seeds/004: S([2.0, 1.0, 0.1]) -> p = 0.7, 0.2, 0.1."""
    p = [_at(derived["softmax"].value, [2.0, 1.0, 0.1], jj=m) for m in range(3)]
    assert [round(v, 1) for v in p] == [0.7, 0.2, 0.1]


@pytest.mark.parametrize("beta,printed", [(1, ["0.475", "0.524"]), (2, ["0.451", "0.550"]),
                                          (5, ["0.378", "0.622"]), (100, ["4.5e-05", "9.9e-01"])])
def test_seed_tempered_softmax_table(derived, beta, printed):
    """seeds/001: sm_beta([1, 1.1]) for beta = 1, 2, 5, 100, to within one unit of the last digit
    the notes print (they round loosely: 0.45017 is printed 0.451)."""
    p = [_at(derived["softmax"].value, [1.0, 1.1], beta=beta, jj=m) for m in range(2)]
    for got, text in zip(p, printed):
        mantissa, _, exp = text.partition("e")
        unit = 10.0 ** (-len(mantissa.split(".")[1]) + (int(exp) if exp else 0))
        assert abs(got - float(text)) <= unit, (got, text)


def test_reduce_deltas_does_not_expand_plain_sums():
    k = sp.Symbol("k", integer=True, nonnegative=True)
    a, p = sp.IndexedBase("a", real=True), sp.IndexedBase("p", real=True)
    s = sp.Sum((a[k] - p[k]) ** 2, (k, 0, K - 1))
    assert reduce_deltas(s) == s
    assert reduce_deltas(sp.Sum(sp.KroneckerDelta(i, k) * a[k] ** 2, (k, 0, K - 1))) == a[i] ** 2


@pytest.mark.parametrize("fn", [f for f in VECTORS if f.layout.parts > 1], ids=lambda f: f.name)
def test_blocks_vjp_against_explicit_differentiation_at_a_larger_k(derived, fn):
    """A layout in blocks (glu): each block of the general-K vjp, at K = 8 (beyond the derivation's own
    cross-checks) and random values, equals Σ_j g_j ∂y_j/∂x_a of the explicit formula, for every a."""
    import random

    from symact.catalog.vectors import Blocks

    d = derived[fn.name]
    n, m = 8, fn.layout.outputs(8)
    assert isinstance(d.vjp, Blocks) and len(d.vjp.args) == fn.layout.parts
    rnd = random.Random(3)
    row, gs = [rnd.uniform(-4, 4) for _ in range(n)], [rnd.uniform(-2, 2) for _ in range(m)]
    point = {x[a]: row[a] for a in range(n)} | {g[b]: gs[b] for b in range(m)}
    outs = [fn.expr(b).subs(K, n) for b in range(m)]
    for a in range(n):
        block, at = divmod(a, m)
        direct = sum(gs[b] * sp.diff(outs[b], x[a]) for b in range(m))
        general = d.vjp.args[block].subs({K: n, i: at})
        assert float(sp.N(direct.subs(point), 30)) == pytest.approx(float(sp.N(general.subs(point), 30)), rel=1e-14)
