"""Derived properties (symact.properties) against closed forms and independent mpmath computations.

Expected values come from outside the code under test: textbook closed forms (σ'(0) = 1/4, the SiLU
minimum -1 - W(1/e)), PyTorch's SELU constants, and mpmath root finding on hand-written derivatives.
"""
from __future__ import annotations

import time

import mpmath
import pytest
import sympy as sp

from symact.catalog import X, all_entries, get
from symact.derive import derive
from symact.properties import Fact, Properties, format_properties, properties

oo = sp.oo
SELU_ALPHA = "1.6732632423543772848170429916717"  # PyTorch / Klambauer et al. 2017
SELU_SCALE = "1.0507009873554804934193349852946"


@pytest.fixture(scope="module")
def catalog():
    """{name: Properties} for the whole catalog, plus the wall time it took."""
    t0 = time.perf_counter()
    props = {e.name: properties(e) for e in all_entries()}
    return props, time.perf_counter() - t0


@pytest.fixture(scope="module")
def props(catalog):
    return catalog[0]


def close(a, b, tol=1e-12) -> bool:
    """|a - b| <= tol·max(1, |b|), compared at 40 digits (a: SymPy number, b: mpf or string)."""
    with mpmath.workdps(40):
        a, b = mpmath.mpf(str(sp.N(a, 40))), mpmath.mpf(b)
        return abs(a - b) <= tol * max(1, abs(b))


def selu_ref() -> tuple[mpmath.mpf, mpmath.mpf]:
    """(scale·alpha, scale) at 40 digits."""
    with mpmath.workdps(40):
        return mpmath.mpf(SELU_SCALE) * mpmath.mpf(SELU_ALPHA), +mpmath.mpf(SELU_SCALE)


def facts(p: Properties) -> list[Fact]:
    fs = [p.range, p.bounded, p.monotonic, p.zero_centered, p.saturating, p.max_slope, p.continuity, p.kinks]
    return fs + ([p.minimum] if p.minimum is not None else [])


# --- the whole catalog -----------------------------------------------------------------------

def test_every_entry_has_properties_with_labelled_methods(props, catalog):
    assert set(props) == {e.name for e in all_entries()} and len(props) == 19
    for name, p in props.items():
        assert isinstance(p, Properties) and p.name == name
        for f in facts(p):
            assert f.method.startswith(("symbolic: ", "numeric: ")), (name, f)
        assert format_properties(p)[0].startswith("range")
    print(f"\nproperties for {len(props)} entries in {catalog[1]:.2f} s")
    assert catalog[1] < 60


def test_parameters_noted(props):
    assert "at default parameters alpha=1" in props["elu"].notes
    assert any(n.startswith("at default parameters omega0=30") for n in props["sine"].notes)
    assert not any(n.startswith("at default") for n in props["sigmoid"].notes)


def test_deterministic():
    assert properties(get("silu")) == properties(get("silu"))
    assert format_properties(properties(get("gelu"))) == format_properties(properties(get("gelu")))


@pytest.mark.parametrize("entry", all_entries(), ids=lambda e: e.name)
def test_claims_hold_on_samples(props, entry):
    """Sample f (mpmath, 40 digits) on [-10, 10]: values lie in the range, respect the claimed
    monotonicity and minimum, and difference quotients stay within the max slope."""
    p = props[entry.name]
    f = entry.expr().subs({q.symbol: q.value for q in entry.params})
    fn = sp.lambdify(X, f, modules="mpmath")
    with mpmath.workdps(40):
        xs = [mpmath.mpf(-10) + mpmath.mpf(20) * i / 1000 for i in range(1001)]
        ys = [fn(x) for x in xs]
        rng = p.range.value
        if isinstance(rng, sp.FiniteSet):
            assert all(any(close(v, y, 1e-30) for v in rng) for y in ys)
        else:
            assert isinstance(rng, sp.Interval), rng
            lo, hi = (mpmath.mpf(str(sp.N(e, 40))) if e.is_finite else None for e in (rng.inf, rng.sup))
            tiny = mpmath.mpf(10) ** -30
            for y in ys:
                assert lo is None or (y > lo if rng.left_open else y >= lo - tiny), (y, rng)
                assert hi is None or (y < hi if rng.right_open else y <= hi + tiny), (y, rng)
        mono = p.monotonic.value
        if mono in ("increasing", "non-decreasing"):
            assert all(b >= a for a, b in zip(ys, ys[1:]))
        if mono == "increasing":
            assert all(b > a for a, b in zip(ys, ys[1:]))
        if p.minimum is not None:
            assert min(ys) >= mpmath.mpf(sp.N(p.minimum.value[1], 40)) - mpmath.mpf(10) ** -25
        if p.continuity.value != "discontinuous":
            sup = mpmath.mpf(sp.N(p.max_slope.value[0], 40))
            assert all(abs(b - a) / (xs[1] - xs[0]) <= sup * (1 + mpmath.mpf(10) ** -20)
                       for a, b in zip(ys, ys[1:]))


# --- closed forms ----------------------------------------------------------------------------

def test_sigmoid(props):
    p = props["sigmoid"]
    assert p.range.value == sp.Interval.open(0, 1) and p.range.symbolic
    assert p.bounded.value is True
    assert p.max_slope.value == (sp.Rational(1, 4), 0) and p.max_slope.symbolic
    assert p.monotonic.value == "increasing"
    assert p.saturating.value == (0, 0, "both sides")
    assert p.zero_centered.value is False
    assert p.continuity.value == "C^inf" and p.kinks.value == {}
    assert p.minimum is None


def test_tanh(props):
    p = props["tanh"]
    assert p.range.value == sp.Interval.open(-1, 1) and p.range.symbolic
    assert p.max_slope.value == (1, 0) and p.max_slope.symbolic
    assert p.saturating.value[2] == "both sides"
    assert p.zero_centered.value is True
    assert p.monotonic.value == "increasing"


def test_relu(props):
    p = props["relu"]
    assert p.range.value == sp.Interval(0, oo)
    assert p.continuity.value == "C^0"
    assert p.kinks.value == {0: (0, 1, 0)}  # left 0, right 1, PyTorch's relu'(0) = 0
    assert p.saturating.value == (0, 1, "left")
    assert p.max_slope.value == (1, sp.Interval.open(0, oo))
    assert p.monotonic.value == "non-decreasing"


def test_relu6(props):
    p = props["relu6"]
    assert p.range.value == sp.Interval(0, 6) and p.bounded.value is True
    assert p.kinks.value == {0: (0, 1, 0), 6: (1, 0, 0)}
    assert p.continuity.value == "C^0"
    assert p.saturating.value[2] == "both sides"


def test_leaky_relu_kink_uses_negative_slope(props):
    p = props["leaky_relu"]
    assert p.kinks.value == {0: (sp.Rational(1, 100), 1, sp.Rational(1, 100))}
    assert p.range.value == sp.S.Reals and p.monotonic.value == "increasing"
    assert p.saturating.value[2] == "no"


def test_kink_values_match_the_derived_kernel(props):
    """The kernel column is the derived df/dx kernel evaluated at the point."""
    for name in ("relu", "leaky_relu", "relu6", "elu", "selu"):
        d = derive(get(name))
        assert properties(d) == props[name]
        df = next(k for k in d.kernels if k.role == "df/dx").textbook
        df = df.subs({q.symbol: q.value for q in get(name).params})
        for b, (_, _, used) in props[name].kinks.value.items():
            assert close(used, str(sp.N(df.subs(X, b), 40)), 1e-30)


def test_elu_celu_are_c1(props):
    for name in ("elu", "celu"):
        p = props[name]
        assert p.continuity.value == "C^1", name
        assert p.range.value == sp.Interval.open(-1, oo)
        assert p.kinks.value == {0: (1, 1, 1)}


def test_selu(props):
    p = props["selu"]
    scale_alpha, scale = selu_ref()
    slope, where = p.max_slope.value
    assert close(slope, scale_alpha, 1e-30) and where == 0
    rng = p.range.value
    assert isinstance(rng, sp.Interval) and rng.left_open and rng.sup == oo
    assert close(-rng.inf, scale_alpha, 1e-30)
    assert p.continuity.value == "C^0"
    left, right, used = p.kinks.value[0]
    assert close(left, scale_alpha, 1e-30) and close(right, scale, 1e-30)
    assert close(used, scale_alpha, 1e-30)


def test_binary_step(props):
    p = props["binary_step"]
    assert p.continuity.value == "discontinuous"
    assert p.range.value == sp.FiniteSet(0, 1)
    assert p.monotonic.value == "non-decreasing"
    assert p.zero_centered.value is False  # step(0) = 1
    assert any("jumps at x=0" in n for n in p.notes)


def test_sine(props):
    p = props["sine"]
    assert p.range.value == sp.Interval(-1, 1) and p.bounded.value is True
    assert p.monotonic.value == "not monotonic (periodic)"
    assert p.max_slope.value[0] == 30
    assert p.saturating.value[2] == "no"
    assert p.minimum.value == (sp.pi / 20, -1)  # sin(30x) = -1 at 30x = 3pi/2


def test_softplus(props):
    p = props["softplus"]
    assert p.range.value == sp.Interval.open(0, oo)
    assert p.monotonic.value == "increasing"
    assert p.zero_centered.value is False
    assert p.max_slope.value[0] == 1 and "not attained" in p.max_slope.value[1]
    assert p.saturating.value == (0, 1, "left")


def test_log_sigmoid(props):
    p = props["log_sigmoid"]
    assert p.range.value == sp.Interval.open(-oo, 0)
    assert p.saturating.value == (1, 0, "right")


@pytest.mark.parametrize("name,expected", [
    ("tanh", True), ("relu", True), ("elu", True), ("silu", True), ("gelu", True),
    ("sigmoid", False), ("softplus", False), ("log_sigmoid", False),
])
def test_zero_centered(props, name, expected):
    assert props[name].zero_centered.value is expected


def test_identity_and_linear(props):
    for name in ("identity", "linear"):
        p = props[name]
        assert p.range.value == sp.S.Reals and p.monotonic.value == "increasing"
        assert p.max_slope.value == (1, sp.S.Reals) and p.continuity.value == "C^inf"


# --- numeric minima and slopes, checked against mpmath ---------------------------------------

def _mp_root(fn, x0):
    with mpmath.workdps(40):
        return mpmath.findroot(fn, x0)


def test_silu_minimum_numeric(props):
    sig = lambda x: 1 / (1 + mpmath.exp(-x))  # noqa: E731
    with mpmath.workdps(40):
        x_star = _mp_root(lambda x: sig(x) * (1 + x * (1 - sig(x))), -1.3)
        assert abs(x_star - (-1 - mpmath.lambertw(1 / mpmath.e).real)) < mpmath.mpf(10) ** -35
        f_star = x_star * sig(x_star)
    for name in ("silu", "swish"):
        m = props[name].minimum
        assert m.method.startswith("numeric")
        assert close(m.value[0], x_star, 1e-20) and close(m.value[1], f_star, 1e-20)
        assert close(m.value[0], mpmath.mpf("-1.278464542761074"), 1e-14)
        assert close(m.value[1], mpmath.mpf("-0.278464542761074"), 1e-14)
        assert props[name].range.method.startswith("numeric")
        assert props[name].monotonic.value.startswith("not monotonic (minimum at x=-1.2784645")


def test_gelu_minimum_numeric(props):
    phi = lambda x: mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
    cdf = lambda x: (1 + mpmath.erf(x / mpmath.sqrt(2))) / 2  # noqa: E731
    with mpmath.workdps(40):
        x_star = _mp_root(lambda x: cdf(x) + x * phi(x), -0.75)
        f_star = x_star * cdf(x_star)
    m = props["gelu"].minimum
    assert m.method.startswith("numeric")
    assert close(m.value[0], x_star, 1e-20) and close(m.value[1], f_star, 1e-20)
    assert close(m.value[0], mpmath.mpf("-0.751791524693564"), 1e-14)
    # x*·Phi(x*) = -0.1699712074799037 (the brief's -0.169971085280246 is off in the 7th digit)
    assert close(m.value[1], mpmath.mpf("-0.1699712074799037"), 1e-14)


def test_gelu_max_slope_is_symbolic(props):
    slope, where = props["gelu"].max_slope.value
    assert props["gelu"].max_slope.symbolic
    assert where == sp.sqrt(2)  # GELU'' = (2 - x^2) phi(x)
    assert sp.simplify(slope - (sp.Rational(1, 2) + sp.erf(1) / 2 + sp.exp(-1) / sp.sqrt(sp.pi))) == 0


def test_silu_max_slope_numeric(props):
    sig = lambda x: 1 / (1 + mpmath.exp(-x))  # noqa: E731
    d1 = lambda x: sig(x) * (1 + x * (1 - sig(x)))  # noqa: E731
    with mpmath.workdps(40):
        x_star = _mp_root(lambda x: mpmath.diff(d1, x), 2.4)
        s_star = d1(x_star)
    slope, where = props["silu"].max_slope.value
    assert props["silu"].max_slope.method.startswith("numeric")
    assert close(where, x_star, 1e-20) and close(slope, s_star, 1e-20)


def test_symbolic_labels_where_no_numerics(props):
    for name in ("sigmoid", "tanh", "relu", "relu6", "elu", "celu", "selu", "softplus", "sine"):
        for f in facts(props[name]):
            assert f.symbolic, (name, f)


def test_format_properties(props):
    lines = format_properties(props["sigmoid"])
    assert lines[0].startswith("range") and "(0, 1)" in lines[0] and "[symbolic:" in lines[0]
    assert any(line.startswith("max slope") and "1/4 at x = 0" in line for line in lines)
    relu6 = "\n".join(format_properties(props["relu6"]))
    assert "[0, 6]" in relu6 and "x=6" in relu6
    silu = "\n".join(format_properties(props["silu"]))
    assert "minimum      f(-1.27846454276107) = -0.278464542761074   [numeric:" in silu
