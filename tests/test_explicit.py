"""The one explicit-K cross-check (symact.verify.explicit): every general-K derivation of the catalog passes
it, and a wrong one — a gradient off by a factor, a term, or a routed max sent to the wrong element — fails
with a ProofFailure that names the entry, for every vector function and every row loss of the catalog."""
from __future__ import annotations

import pytest
import sympy as sp

from symact.catalog.row_losses import ROW_LOSSES
from symact.catalog.vectors import VECTORS, Blocks, RowArgMax, i, x
from symact.derive import row_loss, vector
from symact.verify import explicit
from symact.verify.prove import ProofFailure


def _scaled(expr, factor):
    return Blocks(*[a * factor for a in expr.args]) if isinstance(expr, Blocks) else expr * factor


def _shifted(expr, term):
    return Blocks(*[a + term for a in expr.args]) if isinstance(expr, Blocks) else expr + term


@pytest.mark.parametrize("fn", VECTORS, ids=lambda f: f.name)
def test_vector_derivations_pass_and_wrong_ones_fail(fn):
    d = vector.derive_vector(fn)
    assert d.checked.startswith(f"K = {', '.join(map(str, fn.layout.sizes))} at every index"), d.checked
    assert vector.check(fn, d.jacobian, d.vjp) == d.checked
    for jac, vjp in ((_scaled(d.jacobian, sp.Rational(1001, 1000)), d.vjp),  # a wrong Jacobian
                     (d.jacobian, _shifted(d.vjp, x[i] * 10 ** -20))):      # a vjp off by a tiny term
        with pytest.raises(ProofFailure, match=fn.name):
            vector.check(fn, jac, vjp)


@pytest.mark.parametrize("fn", [f for f in VECTORS if f.expr().has(RowArgMax) or f.scalar and f.grouped],
                         ids=lambda f: f.name)
def test_a_routed_max_sent_to_the_wrong_element_fails(fn):
    """maxout's δ(i, argmax) is checked against d/dx of the explicit Max at points without ties: routing
    everything to element 0 is wrong wherever another element wins."""
    d = vector.derive_vector(fn)
    assert d.jacobian.has(RowArgMax)
    wrong = d.jacobian.replace(lambda e: isinstance(e, RowArgMax), lambda e: sp.Integer(0))
    with pytest.raises(ProofFailure, match="jacobian"):
        vector.check(fn, wrong, d.vjp)


@pytest.mark.parametrize("loss", ROW_LOSSES, ids=lambda f: f.name)
def test_row_loss_gradients_pass_and_wrong_ones_fail(loss):
    for target, formula in loss.formulas.items():
        formula = sp.expand_log(sp.sympify(formula), force=True)
        for _, arg in loss.grad_names:
            base = dict(loss.inputs)[arg]
            grad = vector.reduce_deltas(sp.diff(formula, base[i]))
            how = row_loss.cross_check(formula, grad, base, loss.name)
            assert how.startswith("K = 2, 3, 4 at every index"), how
            for wrong in (grad * sp.Rational(999, 1000), grad + base[i] * 10 ** -20):
                with pytest.raises(ProofFailure, match=loss.name):
                    row_loss.cross_check(formula, wrong, base, loss.name)


def test_same_tells_structural_from_numeric_and_sees_a_tiny_difference():
    a, b = sp.symbols("a b", real=True)
    assert explicit.same((a + b) ** 2, a * a + 2 * a * b + b * b, 0) == "structural"
    assert explicit.same(sp.sin(a) ** 2 + sp.cos(a) ** 2, sp.Integer(1), 0) == "numeric"
    assert explicit.same(a, a * (1 + sp.Rational(1, 10 ** 25)), 0) is None  # 1e-25 relative: above the floor


def test_instantiate_writes_out_the_row_max_and_its_argmax():
    from symact.catalog.vectors import RowMax, k

    e = explicit.instantiate(sp.KroneckerDelta(i, RowArgMax(x[k])) * RowMax(x[k]), 3, {i: 1})
    row = {x[0]: 0.5, x[1]: 2.0, x[2]: 1.0}
    f = sp.lambdify([], e.subs(row), modules=[explicit._MPMATH, "mpmath"])
    assert f() == 2.0
    assert explicit.instantiate(RowMax(x[k]), 2) == sp.Max(x[0], x[1])
