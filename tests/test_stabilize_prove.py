"""Stabilize rules (shape of the result and a proven round trip) and the prover itself."""
from __future__ import annotations

import pytest
import sympy as sp

from symact.catalog import X, all_entries
from symact.primitives import Expm1, Hypot1, Hypot1m1, Log1p, LogCosh, NormCdf, Sigmoid, Softplus, Squareplus, TanhShrink
from symact.verify.prove import prove
from symact.stabilize.rules import RULES, stabilize

x = X
a = sp.Symbol("a", positive=True)

# textbook input → expected stable shape, one per rule (a new rule needs a line here)
EXAMPLES = {
    "tanh_ratio": ((sp.exp(x) - sp.exp(-x)) / (sp.exp(x) + sp.exp(-x)), sp.tanh(x)),
    "sigmoid": (1 / (1 + sp.exp(-x)), Sigmoid(x)),
    "exp_times_sigmoid": (sp.exp(x) / (1 + sp.exp(x)), Sigmoid(x)),
    "log_sigmoid": (sp.log(1 / (1 + sp.exp(-x))), -Softplus(-x)),
    "softplus": (sp.log(1 + sp.exp(a * x)), Softplus(a * x)),
    "expm1": (sp.exp(x) - 1, Expm1(x)),
    "log1p": (sp.log(1 - x), Log1p(-x)),
    "fraction_sum": (-a / x + (1 - a) / (1 - x), (x - a) / (x * (1 - x))),
    "one_minus_square": (1 - x**2, (1 - x) * (1 + x)),
    "one_minus_sigmoid": (1 - Sigmoid(x), Sigmoid(-x)),
    "hypot": (sp.sqrt(1 + x**2 / a**2), Hypot1(x / a)),
    "hypot_minus_one": (sp.sqrt(1 + x**2) - 1, Hypot1m1(x)),
    "one_plus_erf": ((1 + sp.erf(x / sp.sqrt(2))) / 2, NormCdf(x)),
    "sech2": (1 - sp.tanh(x) ** 2, 4 * Sigmoid(2 * x) * Sigmoid(-2 * x)),
    "one_plus_tanh": (1 + sp.tanh(x), 2 * Sigmoid(2 * x)),
    "power_quotient": (sp.diff((x - 1) ** a, x), a * (x - 1) ** (a - 1)),
    "log_cosh": (sp.log(sp.cosh(x - a)), LogCosh(a - x)),  # cosh is even: SymPy writes cosh(a - x)
    "fraction_sum_powers": (1 / (1 + x) - x / (1 + x) ** 2, 1 / (1 + x) ** 2),
    "squareplus": ((x + sp.sqrt(x**2 + a)) / 2, Squareplus(x, a)),
    "tanhshrink": (2 * a * x - 2 * sp.tanh(a * x), 2 * TanhShrink(a * x)),
}


def test_every_rule_has_an_example():
    assert sorted(EXAMPLES) == sorted(r.name for r in RULES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_rule_shape_and_round_trip(name):
    textbook, expected = EXAMPLES[name]
    stable, used = stabilize(textbook)
    assert stable == expected
    assert name in used
    assert prove(stable, textbook, name, x).ok


def test_hypot_minus_one_inside_a_longer_sum():
    """The bent identity x + (sqrt(x² + 1) − 1)/2 (SymPy: x + sqrt(x² + 1)/2 − 1/2): the cancelling pair is
    found among the other terms and its coefficient kept, so no sqrt(1 + x²) − 1 is left to cancel near 0."""
    stable, rules = stabilize(x + (sp.sqrt(x**2 + 1) - 1) / 2)
    assert "hypot_minus_one" in rules and sp.expand(stable - (x + Hypot1m1(x) / 2)) == 0, stable
    assert prove(stable, x + (sp.sqrt(x**2 + 1) - 1) / 2, "bent identity", x).ok


def test_expm1_in_its_other_spellings():
    assert stabilize(1 - sp.exp(-a * x))[0] == -Expm1(-a * x)
    assert stabilize(3 * sp.exp(x) - 3)[0] == 3 * Expm1(x)


def test_textbook_sigmoid_derivative_becomes_input_form():
    """e^-x/(1+e^-x)^2 → σ(x)σ(−x), which keeps accuracy where σ(x) rounds to 1."""
    stable, _ = stabilize(sp.diff(1 / (1 + sp.exp(-x)), x))
    assert stable == Sigmoid(x) * Sigmoid(-x)


@pytest.mark.parametrize("lhs,rhs", [
    (sp.diff(Sigmoid(x), x), Sigmoid(x) * (1 - Sigmoid(x))),                       # σ' = σ(1−σ)
    (sp.tanh(x), 2 * Sigmoid(2 * x) - 1),                                          # tanh = 2σ(2x)−1
    (sp.diff(Softplus(x), x), Sigmoid(x)),                                         # softplus' = σ
    (sp.diff(sp.tanh(x), x), 1 - sp.tanh(x) ** 2),                                 # tanh' = 1 − tanh²
    (sp.tanh(x), (sp.exp(2 * x) - 1) / (sp.exp(2 * x) + 1)),
    (sp.log(Sigmoid(x)), -Softplus(-x)),
], ids=["sigmoid'", "tanh-sigmoid", "softplus'", "tanh'", "tanh-exp2x", "logsigmoid"])
def test_seed_identities_are_proven_symbolically(lhs, rhs):
    p = prove(lhs, rhs, "seed identity", x)
    assert p.ok and p.method.startswith("symbolic"), p


@pytest.mark.parametrize("lhs,rhs", [
    (sp.tanh(x), 2 * Sigmoid(x) - 1),                        # forgot the 2x
    (sp.diff(Sigmoid(x), x), Sigmoid(x) * (1 + Sigmoid(x))),
    (Softplus(x), sp.log(1 + sp.exp(x)) + sp.Rational(1, 10**40)),  # off by 1e-40
    (sp.Piecewise((x, x > 0), (0, True)), sp.Piecewise((x, x > 1e-9), (0, True))),
])
def test_false_identities_fail(lhs, rhs):
    p = prove(lhs, rhs, "false", x)
    assert not p.ok and p.method.startswith("numeric: differs")


def test_every_catalog_proof_succeeds(derived):
    for d in derived.values():
        for p in d.all_proofs():
            assert p.ok, p


def test_catalog_entries_name_their_source_and_kinks():
    for e in all_entries():
        assert e.source.strip(), e.name
        assert e.kinks.strip(), e.name


def test_nested_time_budgets_keep_the_outer_deadline():
    """A budget inside another (prove's stages inside a piecewise proof) must not cancel the outer
    one, nor outlive it: the outer step stops on time and the fallback that follows is the same."""
    import time

    from symact.verify.prove import _Timeout, time_budget

    t0 = time.monotonic()
    with pytest.raises(_Timeout):
        with time_budget(0.3, fallback=False):
            with time_budget(30.0, fallback=False):
                pass  # the inner one ends first: the outer one must still fire
            while time.monotonic() - t0 < 20:
                time.sleep(0.01)
    assert time.monotonic() - t0 < 10
    t0 = time.monotonic()
    with pytest.raises(_Timeout):
        with time_budget(0.3, fallback=False):
            try:
                with time_budget(30.0, fallback=False):  # cut to the outer one's deadline
                    while time.monotonic() - t0 < 20:
                        time.sleep(0.01)
            except _Timeout:
                while time.monotonic() - t0 < 20:  # the outer deadline has passed: it fires now
                    time.sleep(0.01)
    assert time.monotonic() - t0 < 10
