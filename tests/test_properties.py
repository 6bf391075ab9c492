"""Derived properties (symact.derive.properties) against closed forms and independent mpmath computations.

Expected values come from outside the code under test: textbook closed forms (σ'(0) = 1/4, the SiLU
minimum -1 - W(1/e)), PyTorch's SELU constants and kink conventions, mpmath root finding on
hand-written derivatives, and — for every catalog entry — mpmath numerics of the definition itself
(the catalog's textbook formula at the default parameters, never derive's output): its values on a
grid and far out, its derivatives by finite differences at 40-50 digits, one-sided at breakpoints.
"""
from __future__ import annotations

import time

import mpmath
import pytest
import sympy as sp

from symact.catalog import X, all_entries, get
from symact.derive.properties import Fact, Properties, format_properties, properties

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
    assert set(props) == {e.name for e in all_entries()}
    for name, p in props.items():
        assert isinstance(p, Properties) and p.name == name
        for f in facts(p):
            assert f.method.startswith(("symbolic: ", "numeric: ")), (name, f)
        assert format_properties(p)[0].startswith("range")
    print(f"\nproperties for {len(props)} entries in {catalog[1]:.2f} s")


def test_parameters_noted(props):
    assert "at default parameters alpha=1" in props["elu"].notes
    assert any(n.startswith("at default parameters omega0=30") for n in props["sine"].notes)
    assert not any(n.startswith("at default") for n in props["sigmoid"].notes)


def test_deterministic():
    assert properties.uncached(get("silu")) == properties(get("silu"))  # computed afresh vs cached
    assert format_properties(properties(get("gelu"))) == format_properties(properties(get("gelu")))


# --- every entry, against mpmath numerics of its definition -------------------------------------

GRID = [mpmath.mpf(i) / 50 for i in range(-1000, 1001)]           # [-20, 20], step 0.02
FAR = [mpmath.mpf(s) * 10**k for k in (2, 3, 4, 8) for s in (-1, 1)]  # where limits show
_OFF = mpmath.mpf("1e-15")  # offset from a breakpoint for one-sided derivatives


def _definition(entry):
    """The catalog definition at the default parameters as an mpmath function, and the parameters."""
    values = {q.symbol: q.value for q in entry.params}
    fn = sp.lambdify(X, entry.expr().subs(values), modules="mpmath")
    with mpmath.workdps(50):
        params = {q.name: mpmath.mpf(str(sp.N(q.value, 50))) if q.value.is_finite else mpmath.inf
                  for q in entry.params}
    return fn, params


def _d1(fn, x):
    """f'(x) by a central difference, h = 1e-20 at 50 digits (error ~1e-30 where f is smooth)."""
    with mpmath.workdps(50):
        return mpmath.diff(fn, x, h=mpmath.mpf("1e-20"))


def _d2(fn, x):
    with mpmath.workdps(50):
        return mpmath.diff(fn, x, 2, h=mpmath.mpf("1e-10"))


def _num(v) -> mpmath.mpf:
    return mpmath.mpf(str(sp.N(v, 45)))


def _refined_extreme(fn, xs, ys, lowest: bool):
    """The extreme value of f: the best sample, refined by a root of f' near it (f smooth there)."""
    i = (min if lowest else max)(range(len(ys)), key=ys.__getitem__)
    best = ys[i]
    try:
        with mpmath.workdps(40):
            x_star = mpmath.findroot(lambda t: mpmath.diff(fn, t), xs[i])
            y_star = fn(x_star)
        if abs(x_star - xs[i]) < 0.05:
            best = min(best, y_star) if lowest else max(best, y_star)
    except (ValueError, ZeroDivisionError):  # flat there, or no root nearby: the sample is the extreme
        pass
    return best


def _inside(where: sp.Set) -> sp.Expr:
    """A point of a set (an interval's midpoint, or a step inside its finite end)."""
    if isinstance(where, sp.Union):
        return _inside(where.args[0])
    if isinstance(where, sp.FiniteSet):
        return where.args[0]
    lo, hi = where.inf, where.sup
    if lo.is_infinite and hi.is_infinite:
        return sp.Rational(1, 2)
    return hi - 1 if lo.is_infinite else lo + sp.Rational(1, 2) if hi.is_infinite else (lo + hi) / 2


@pytest.mark.parametrize("entry", all_entries(), ids=lambda e: e.name)
def test_properties_match_mpmath_numerics_of_the_definition(props, entry):
    """Each claimed property, checked on the definition with mpmath (40 digits): the range is the
    image (contains every value, and its ends are reached, attained exactly where closed), bounded,
    monotonicity (strict or not), f(0), the limits of f' at -inf/+inf (saturation), the steepest slope
    (nowhere exceeded, reached where claimed), and continuity at the breakpoints."""
    p = props[entry.name]
    fn, _ = _definition(entry)
    tiny = mpmath.mpf(10) ** -25
    with mpmath.workdps(40):
        # strict claims (open ends, strict monotonicity) on the grid, where 40 digits resolve f from
        # its bounds; the far points only show where f goes (sigmoid(1e8) rounds to 1 at 40 digits)
        ys = [fn(x) for x in GRID]
        xs_all = sorted(GRID + FAR)
        ys_all = [fn(x) for x in xs_all]

        # range: every value inside, and the ends reached
        rng = p.range.value
        if isinstance(rng, sp.Union):  # hardshrink's {0} ∪ (-oo, -1/2) ∪ (1/2, oo): every value inside it
            assert all(rng.contains(sp.Float(str(y), 30)) == sp.true for y in ys_all), (entry.name, rng)
        elif isinstance(rng, sp.FiniteSet):
            values = [_num(v) for v in rng]
            assert all(any(abs(y - v) < tiny for v in values) for y in ys_all), rng
            assert all(any(abs(y - v) < tiny for y in ys) for v in values), rng
        else:
            assert isinstance(rng, sp.Interval), rng
            for end, lowest, is_open in ((rng.inf, True, rng.left_open), (rng.sup, False, rng.right_open)):
                sign = 1 if lowest else -1
                if end.is_infinite:
                    assert (min(ys_all) < -10**5) if lowest else (max(ys_all) > 10**5), (entry.name, end)
                    continue
                e = _num(end)
                assert all(sign * (y - e) > (0 if is_open else -tiny) for y in ys), (entry.name, end, is_open)
                assert all(sign * (y - e) >= -tiny for y in ys_all), (entry.name, end)
                reached = _refined_extreme(fn, xs_all, ys_all, lowest)
                if is_open and abs(reached - e) > 10**-20 * max(1, abs(e)):  # approached like a power of x
                    reached = min((fn(mpmath.mpf(sg) * 10**40) for sg in (-1, 1)), key=lambda y: abs(y - e))
                assert abs(reached - e) <= 10**-20 * max(1, abs(e)), (entry.name, end, reached)
                if not is_open:  # a closed end is a value f takes at a finite x (not only a limit)
                    attained = _refined_extreme(fn, GRID, ys, lowest)
                    assert abs(attained - e) < tiny, (entry.name, end, attained)
        assert p.bounded.value is (max(abs(y) for y in ys_all) < 10**5), entry.name

        # monotonicity
        steps = [b - a for a, b in zip(ys, ys[1:])]
        mono = p.monotonic.value
        if mono == "increasing":
            assert all(d > 0 for d in steps), entry.name
        elif mono == "non-decreasing":
            assert all(d >= 0 for d in steps) and any(d == 0 for d in steps), entry.name
        else:
            assert mono.startswith("not monotonic"), mono
            assert any(d > 0 for d in steps) and any(d < 0 for d in steps), entry.name
        if p.minimum is not None:
            x_star, f_star = (_num(v) for v in p.minimum.value)
            assert abs(fn(x_star) - f_star) < tiny and abs(_d1(fn, x_star)) < 10**-20, (entry.name, p.minimum)
            assert min(ys_all) >= f_star - tiny

        assert p.zero_centered.value is (fn(mpmath.mpf(0)) == 0), entry.name

        # saturation: the limits of f' at -inf and +inf, and which sides reach 0
        left, right, label = p.saturating.value
        for lim, x in ((left, -1000), (right, 1000)):
            if isinstance(lim, sp.AccumBounds):  # f' oscillates: it stays within and spreads over the bounds
                ds = [_d1(fn, mpmath.mpf(x) + mpmath.mpf(k) / 7) for k in range(20)]
                lo, hi = _num(lim.min), _num(lim.max)
                assert all(lo - tiny <= d <= hi + tiny for d in ds) and max(ds) - min(ds) > (hi - lo) / 2
            else:
                d = _d1(fn, mpmath.mpf(x))
                if abs(d - _num(lim)) >= 10**-12:  # f' approaches its limit like a power of x (softsign)
                    d = _d1(fn, mpmath.mpf(x) * 10**17)
                assert abs(d - _num(lim)) < 10**-12, (entry.name, x, lim)
        zero = [not isinstance(v, sp.AccumBounds) and v == 0 for v in (left, right)]
        assert label == {(True, True): "both sides", (True, False): "left", (False, True): "right",
                         (False, False): "no"}[tuple(zero)], (entry.name, p.saturating.value)

        # steepest slope: never exceeded on the grid (away from breakpoints), reached where claimed
        breaks = [_num(b) for b in p.kinks.value]
        slope, where = p.max_slope.value
        if p.continuity.value != "discontinuous":
            s = _num(slope)
            for x in GRID:
                if all(abs(x - b) > _OFF for b in breaks):
                    assert abs(_d1(fn, x)) <= s * (1 + 10**-20), (entry.name, x, s)
            if isinstance(where, str) and "oo" in where:  # "x -> +oo (not attained)": approached far out,
                # exponentially (sigmoid-like: at 1e3) or algebraically (squareplus: 1 - b/(4x²), at 1e7 or later)
                sign = 1 if "+oo" in where else -1
                gaps = []
                for far in (10**3, 10**7, 10**15):  # the first close enough decides: most converge by 1e3
                    gaps.append(abs(abs(_d1(fn, mpmath.mpf(sign * far))) - s))
                    if gaps[-1] < 10**-12:
                        break
                assert gaps[-1] < 10**-12, (entry.name, where, gaps)
            elif isinstance(where, str):  # "x -> 3- (not attained)": approached at a breakpoint from one side
                token = where.split()[2]
                b = _num(sp.sympify(token[:-1]))
                x = b - _OFF if token.endswith("-") else b + _OFF
                assert abs(abs(_d1(fn, x)) - s) < 10**-12 * max(1, s), (entry.name, where)
            else:
                if isinstance(where, sp.Set):  # attained on a set: check a point inside it
                    where = _inside(where)
                w = _num(where)
                got = max(abs(_d1(fn, w + _OFF)), abs(_d1(fn, w - _OFF))) if any(abs(w - b) < _OFF for b in breaks) \
                    else abs(_d1(fn, w))
                assert abs(got - s) < 10**-12 * max(1, s), (entry.name, where, got, s)

        # continuity at each breakpoint: a jump, a kink (f' jumps) or a jump of f'' (C^1)
        cont = p.continuity.value
        assert (cont == "C^inf") is (not breaks), (entry.name, cont, breaks)
        for b in breaks:
            jump = abs(fn(b + _OFF) - fn(b - _OFF))
            d1_jump = abs(_d1(fn, b + _OFF) - _d1(fn, b - _OFF))
            d2_jump = abs(_d2(fn, b + 10**-8) - _d2(fn, b - 10**-8))
            if cont == "discontinuous":
                assert jump > 10**-3, (entry.name, b)
            elif cont == "C^0":
                assert jump < 10**-12 and d1_jump > 10**-6, (entry.name, b)
            elif cont == "C^1":
                assert jump < 10**-12 and d1_jump < 10**-12 and d2_jump > 10**-3, (entry.name, b)
            else:
                pytest.fail(f"{entry.name}: continuity {cont} not checked here")


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


def test_kink_values_are_pytorchs_and_the_one_sided_derivatives(props):
    """Every kink the properties report: left and right f' are the one-sided derivatives of the
    definition (mpmath, 50 digits), and the value used is the convention the catalog entry states in
    ``kink_grad`` (PyTorch's autograd value there; test_torch checks the same values against torch)."""
    kinks = [(e, b) for e in all_entries() for b in props[e.name].kinks.value]
    assert kinks  # the catalog has kinks (relu, ...), so this test checks something
    for entry, b in kinks:
        left, right, used = props[entry.name].kinks.value[b]
        fn, params = _definition(entry)
        stated = {sp.nsimplify(k): v for k, v in entry.kink_grad}
        assert b in stated, f"{entry.name}: no convention stated for its kink at {b} (catalog entry's kink_grad)"
        with mpmath.workdps(50):
            want = mpmath.mpf(str(sp.N(stated[b], 50)))
            assert close(used, want, 1e-30), (entry.name, b, used, want)
            b = mpmath.mpf(str(sp.N(b, 50)))
            assert close(left, _d1(fn, b - _OFF), 1e-12), (entry.name, "left", left)
            assert close(right, _d1(fn, b + _OFF), 1e-12), (entry.name, "right", right)


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
