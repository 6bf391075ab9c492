"""Properties a reference page shows for an elementwise activation, derived from its catalog entry.

Range, boundedness, monotonicity, global minimum, f(0), saturation, steepest slope, order of
continuity and the derivative at each kink are all computed from the textbook formula **at the
default parameter values** (every ``Param.value`` is substituted; the result's notes say which).

How (see the field notes: SymPy's calculus helpers fail on Piecewise, per-branch works):

* ``piecewise_fold(f).as_expr_set_pairs(R)`` splits f into branches, each with the set it owns;
  the finite ends of those sets are the breakpoints.
* On each branch the extrema of a function g (g = f for the range, g = f' for the slope and the
  monotonicity) are taken among: values at closed ends, one-sided limits at open or infinite ends
  (``sympy.limit``), and values at the interior zeros of g' (``solveset``). A periodic branch is
  studied over one period.
* When ``solveset`` cannot solve g' = 0 (SiLU, GELU: a transcendental equation), the zeros are found
  numerically: sign changes of g' on a grid, refined with ``mpmath.findroot`` (a bracketing solver).
  Every result that depends on such a step says ``numeric: ...`` and how; everything else says
  ``symbolic: ...``. A numeric result is never presented as symbolic.
* Continuity: one-sided limits of f, f', f'', f''' at each breakpoint, stopping at the first mismatch.
* Kinks: the one-sided limits of the branch derivatives and the value the derived df/dx (the
  derivative of the branch owning the point, i.e. the kernel's convention) takes there.

Every SymPy call that can hang runs under :func:`symact.verify.prove.time_budget`; on timeout the step falls
back to numerics and is labelled so. Budgets are generous: on an unloaded machine nothing times out,
so the output is deterministic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import mpmath
import sympy as sp
from sympy.calculus.util import continuous_domain
from sympy.functions.elementary.hyperbolic import HyperbolicFunction
from sympy.functions.elementary.trigonometric import TrigonometricFunction

from ..cache import cached
from ..catalog import X, Activation
from ..primitives import to_textbook
from ..verify.prove import _Timeout, time_budget

DIGITS = 30               # mpmath precision of numeric roots and values
GRID_HALF_WIDTH = 40      # numeric zero search covers [-40, 40] ∩ branch
GRID_POINTS = 4001        # grid spacing 0.02 on [-40, 40]
SOLVE_BUDGET = 30.0       # seconds, per solveset call
LIMIT_BUDGET = 60.0       # seconds, per limit call
CONTINUITY_ORDERS = 3     # f, f', f'', f''' are compared at breakpoints

_NONSMOOTH = (sp.Abs, sp.Max, sp.Min, sp.Heaviside, sp.sign)


@dataclass(frozen=True)
class Fact:
    """One property value and how it was obtained.

    ``method`` starts with ``"symbolic: "`` (every step exact SymPy) or ``"numeric: "`` (some step
    numeric; the text says which, on what points and at how many digits).
    """

    value: object
    method: str

    @property
    def symbolic(self) -> bool:
        return self.method.startswith("symbolic")


@dataclass(frozen=True)
class Properties:
    """Properties of one entry at its default parameters.

    ``range``       image of R: a SymPy ``Interval``/``Union`` (open or closed ends as attained), or a
                    ``FiniteSet`` for step functions.
    ``bounded``     bool: bounded above and below.
    ``monotonic``   "increasing", "non-decreasing", "decreasing", "non-increasing", "constant",
                    "not monotonic (minimum at x=..., f=...)" or "not monotonic (periodic)".
    ``minimum``     ``(x*, f(x*))`` for an isolated global minimum (for a periodic f, the smallest
                    x* >= 0), else None.
    ``zero_centered`` bool: f(0) == 0.
    ``saturating``  ``(lim f' at -oo, lim f' at +oo, label)``; label "both sides", "left", "right" or
                    "no" (saturating on a side means f' -> 0 there); an ``AccumBounds`` value means
                    f' has no limit.
    ``max_slope``   ``(sup |f'|, where)``: where is a point, a SymPy set of points where it is
                    attained, or a string such as "x -> +oo (not attained)".
    ``continuity``  "discontinuous", "C^0", "C^1", ... or "C^inf".
    ``kinks``       ``{breakpoint: (left f', right f', f' the kernel uses)}`` where left/right are the
                    one-sided limits of f' and the kernel's value is the derived df/dx at the point.
    ``notes``       parameter values used, jumps, periods, numeric search windows.
    """

    name: str
    range: Fact
    bounded: Fact
    monotonic: Fact
    minimum: Optional[Fact]
    zero_centered: Fact
    saturating: Fact
    max_slope: Fact
    continuity: Fact
    kinks: Fact
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# small numeric helpers (ordering exact constants by evaluation is what SymPy's own comparisons do)

def _n(v: sp.Expr) -> sp.Expr:
    return sp.N(v, DIGITS + 10)


def _close(a: sp.Expr, b: sp.Expr) -> bool:
    if a == b:
        return True
    na, nb = _n(a), _n(b)
    if not (na.is_finite and nb.is_finite):
        return na == nb
    return abs(na - nb) <= sp.Float(10) ** (8 - DIGITS) * max(1, abs(na), abs(nb))


def _lt(a: sp.Expr, b: sp.Expr) -> bool:
    return not _close(a, b) and bool(_n(a) < _n(b))


def _float(v: mpmath.mpf) -> sp.Float:
    return sp.Float(mpmath.nstr(v, DIGITS), DIGITS)


def _sign(v: sp.Expr) -> int:
    if _close(v, 0):
        return 0
    return 1 if _n(v) > 0 else -1


# ---------------------------------------------------------------------------------------------
# limits and zeros

def _tidy(v: sp.Expr, source: sp.Expr) -> sp.Expr:
    """``limit`` turns Float constants (SELU's) into long Rationals; give them back as Floats."""
    if source.has(sp.Float) and isinstance(v, sp.Rational) and not v.is_Integer:
        return sp.Float(v, 40)
    return v


def _numeric_limit(g: sp.Expr, point, side: str) -> sp.Expr:
    """Evaluate g ever closer to ``point`` with mpmath (fallback when ``limit`` gives up)."""
    fn = sp.lambdify(X, g, modules="mpmath")
    with mpmath.workdps(DIGITS):
        if point in (sp.oo, -sp.oo):
            s = 1 if point == sp.oo else -1
            xs = [mpmath.mpf(s) * mpmath.mpf(10) ** k for k in (3, 6, 9)]
        else:
            s = 1 if side == "+" else -1
            xs = [mpmath.mpf(str(point)) + s * mpmath.mpf(10) ** -k for k in (8, 12, 16)]
        vals = [fn(x) for x in xs]
    if abs(vals[-1]) > 1e6 and abs(vals[-1]) > abs(vals[-2]) > abs(vals[-3]):
        return sp.oo if vals[-1] > 0 else -sp.oo
    return _float(vals[-1])


def _limit(g: sp.Expr, point, side: str = "+") -> tuple[sp.Expr, Optional[str]]:
    """(limit of g at point from ``side``, None) or (numeric estimate, label) when SymPy fails."""
    if not g.has(X):
        return g, None
    # tanh through exp, then together: Gruntz is 3-4x faster (GELU-tanh f' at -oo: 1.5 s -> 0.5 s)
    h = sp.together(g.rewrite(sp.exp)) if g.has(HyperbolicFunction) else g
    try:
        with time_budget(LIMIT_BUDGET):
            v = sp.limit(h, X, point) if point in (sp.oo, -sp.oo) else sp.limit(h, X, point, side)
    except (_Timeout, Exception):  # noqa: BLE001 - no symbolic limit: estimate it
        v = None
    if v is None or v.has(sp.Limit, sp.nan, sp.zoo, X) or v is sp.nan:
        est = _numeric_limit(g, point, side)
        where = f"x -> {point}" + ("" if point in (sp.oo, -sp.oo) else side)
        return est, f"limit {where} estimated with mpmath at {DIGITS} digits (sympy.limit failed)"
    return _tidy(v, g), None


def _numeric_zeros(h: sp.Expr, dom: sp.Interval, what: str) -> tuple[list[sp.Float], str]:
    """Zeros of h inside ``dom`` from sign changes on a grid, refined with mpmath.findroot."""
    a = float(max(dom.inf, -GRID_HALF_WIDTH))
    b = float(min(dom.sup, GRID_HALF_WIDTH))
    n = max(3, round((b - a) / (2 * GRID_HALF_WIDTH) * (GRID_POINTS - 1)) + 1)
    fast = sp.lambdify(X, h, modules="math")
    exact = sp.lambdify(X, h, modules="mpmath")

    def value(x: float) -> float:
        try:
            return float(fast(x))
        except (OverflowError, ValueError, ZeroDivisionError):
            with mpmath.workdps(20):
                return float(exact(mpmath.mpf(x)))

    xs = [a + (b - a) * i / (n - 1) for i in range(n)]
    roots: list[sp.Float] = []
    prev: Optional[tuple[float, float]] = None
    for x in xs:
        v = value(x)
        if v == 0.0 or math.isnan(v):  # underflow in a tail, or an exact grid hit: skip the point
            continue
        if prev is not None and (prev[1] < 0) != (v < 0):
            with mpmath.workdps(DIGITS + 5):
                lo, hi = mpmath.mpf(prev[0]), mpmath.mpf(x)
                try:
                    r = mpmath.findroot(exact, (lo, hi), solver="anderson")
                    if not lo <= r <= hi:
                        raise ValueError
                except (ValueError, ZeroDivisionError):
                    r = mpmath.findroot(exact, (lo, hi), solver="bisect")
            if dom.contains(_float(r)) is sp.true:
                roots.append(_float(r))
        prev = (x, v)
    label = (f"zeros of {what} by sign changes on a {n}-point grid over [{a:g}, {b:g}], refined with "
             f"mpmath.findroot (anderson) at {DIGITS} digits")
    return roots, label


def _zeros(h: sp.Expr, dom: sp.Interval, what: str) -> tuple[list[sp.Expr], Optional[str]]:
    """Zeros of h in the interior of ``dom``: exact from solveset, else numeric (with its label)."""
    inner = sp.Interval.open(dom.inf, dom.sup)
    if not h.has(X):
        return [], None
    try:
        with time_budget(SOLVE_BUDGET):
            sol = sp.solveset(h, X, inner)
    except (_Timeout, Exception):  # noqa: BLE001
        sol = None
    if sol is sp.S.EmptySet:
        return [], None
    if isinstance(sol, sp.FiniteSet) and all(p.is_number and p.is_real for p in sol):
        return sorted(sol, key=_n), None
    return _numeric_zeros(h, inner, what)


# ---------------------------------------------------------------------------------------------
# extrema of one expression over one branch

@dataclass
class _Candidate:
    value: sp.Expr
    at: sp.Set                 # where attained (EmptySet: a limit only)
    approach: str = ""         # "x -> oo" when not attained
    numeric: Optional[str] = None


@dataclass
class _Extrema:
    lo: _Candidate
    hi: _Candidate
    limits: dict = field(default_factory=dict)   # {oo: lim, -oo: lim} at infinite ends
    numeric: list[str] = field(default_factory=list)
    how: str = ""
    period: Optional[sp.Expr] = None
    constant: bool = False


def _pick(cands: list[_Candidate], smallest: bool, search_numeric: Optional[str]) -> _Candidate:
    """The least (or greatest) candidate, with every place it is attained or approached.

    It is numeric when its value came from a numeric step, or when it is finite and a numeric zero
    search took part (a zero missed by the grid could beat it).
    """
    best = cands[0]
    for c in cands[1:]:
        if (_lt(c.value, best.value) if smallest else _lt(best.value, c.value)):
            best = c
    same = [c for c in cands if _close(c.value, best.value)]
    exact = [c for c in same if c.numeric is None]
    value = (exact or same)[0].value
    at = sp.Union(*[c.at for c in same]) if same else sp.S.EmptySet
    approach = ", ".join(sorted({c.approach for c in same if c.at is sp.S.EmptySet and c.approach}))
    numeric = next((c.numeric for c in same if c.numeric), None)
    if numeric is None and search_numeric and _n(value).is_finite:
        numeric = search_numeric
    return _Candidate(value, at, approach, numeric)


def _periodicity(g: sp.Expr) -> Optional[sp.Expr]:
    if not g.atoms(TrigonometricFunction):
        return None
    try:
        with time_budget(SOLVE_BUDGET):
            t = sp.periodicity(g, X)
    except (_Timeout, Exception):  # noqa: BLE001
        return None
    return t if t is not None and t.is_positive else None


def _extrema(g: sp.Expr, dom: sp.Set, name: str, what: str) -> _Extrema:
    """inf and sup of g over ``dom`` (an Interval or a FiniteSet); ``name`` names g and ``what``
    its derivative in labels."""
    if isinstance(dom, sp.FiniteSet):
        cands = [_Candidate(g.subs(X, p), sp.FiniteSet(p)) for p in dom]
        return _Extrema(_pick(cands, True, None), _pick(cands, False, None), how=f"{name} at single points")
    if not g.has(X):
        c = _Candidate(g, dom)
        lims = {e: g for e in (dom.inf, dom.sup) if e in (sp.oo, -sp.oo)}
        return _Extrema(c, c, lims, how=f"{name} constant on a branch", constant=True)

    dg = sp.diff(g, X)
    period = _periodicity(g) if dom == sp.S.Reals else None
    lims: dict = {}
    numeric: list[str] = []
    cands: list[_Candidate] = []
    if period is not None:
        # one period [0, T) holds every value; extrema are attained
        one = sp.Interval.Ropen(0, period)
        try:
            with time_budget(SOLVE_BUDGET):
                sol = sp.solveset(dg, X, one)
        except (_Timeout, Exception):  # noqa: BLE001
            sol = None
        if isinstance(sol, sp.FiniteSet):
            crit, search = sorted(sol, key=_n), None
            how = f"periodic with period {sp.sstr(period)}: solveset of {what} = 0 over one period"
        else:
            crit, search = _numeric_zeros(dg, sp.Interval(0, period), what)
            how = f"periodic with period {sp.sstr(period)}"
            numeric.append(search)
        fn = sp.lambdify(X, g, modules="mpmath")
        cands.append(_Candidate(g.subs(X, 0), sp.FiniteSet(0)))
        with mpmath.workdps(DIGITS + 5):
            cands += [_Candidate(g.subs(X, p) if search is None else _float(fn(mpmath.mpf(str(p)))),
                                 sp.FiniteSet(p), numeric=search) for p in crit]
        for end in (-sp.oo, sp.oo):
            lims[end], _ = _limit(g, end)
        return _Extrema(_pick(cands, True, search), _pick(cands, False, search), lims, numeric, how, period)

    for end, is_open, side in ((dom.inf, dom.left_open, "+"), (dom.sup, dom.right_open, "-")):
        if end in (sp.oo, -sp.oo):
            v, num = _limit(g, end)
            lims[end] = v
            if num:
                numeric.append(num)
            label = f"x -> {'+' if end == sp.oo else '-'}oo"
            if isinstance(v, sp.AccumBounds):
                cands += [_Candidate(v.min, sp.S.EmptySet, label, num), _Candidate(v.max, sp.S.EmptySet, label, num)]
            else:
                cands.append(_Candidate(v, sp.S.EmptySet, label, num))
        elif not is_open:
            cands.append(_Candidate(g.subs(X, end), sp.FiniteSet(end)))
        else:
            v, num = _limit(g, end, side)
            if num:
                numeric.append(num)
            cands.append(_Candidate(v, sp.S.EmptySet, f"x -> {sp.sstr(end)}{side}", num))
    crit, search = _zeros(dg, dom, what)
    if search:
        numeric.append(search)
        fn = sp.lambdify(X, g, modules="mpmath")
        with mpmath.workdps(DIGITS + 5):
            cands += [_Candidate(_float(fn(mpmath.mpf(str(p)))), sp.FiniteSet(p), numeric=search) for p in crit]
        how = f"{what} = 0 solved numerically, limits at the branch ends"
    else:
        cands += [_Candidate(_tidy(g.subs(X, p), g), sp.FiniteSet(p))
                  for p in crit]
        how = (f"solveset of {what} = 0 (exact), limits at the branch ends" if dg.has(X)
               else f"{what} a nonzero constant, limits at the branch ends")
    return _Extrema(_pick(cands, True, search), _pick(cands, False, search), lims, numeric, how)


def _image(g: sp.Expr, ext: _Extrema, dom: sp.Set) -> sp.Set:
    """g(dom): a branch is continuous on its interval, so its image runs from inf to sup."""
    if isinstance(dom, sp.FiniteSet):
        return sp.FiniteSet(*[g.subs(X, p) for p in dom])
    if ext.constant or _close(ext.lo.value, ext.hi.value):
        return sp.FiniteSet(ext.lo.value)
    return sp.Interval(ext.lo.value, ext.hi.value,
                       ext.lo.at is sp.S.EmptySet, ext.hi.at is sp.S.EmptySet)


# ---------------------------------------------------------------------------------------------
# the entry at its defaults

def _defaults(entry: Activation) -> dict:
    return {p.symbol: p.value for p in entry.params}


def _branches(f: sp.Expr) -> list[tuple[sp.Expr, sp.Set]]:
    """(expression, owned set) pairs over R, Unions split, in order along the real line."""
    if isinstance(f, sp.Piecewise):
        pairs = f.as_expr_set_pairs(sp.Interval(-sp.oo, sp.oo))
    else:
        pairs = [(f, sp.S.Reals)]
    out = []
    for g, s in pairs:
        for part in (s.args if isinstance(s, sp.Union) else (s,)):
            if part is sp.S.EmptySet:
                continue
            if not isinstance(part, (sp.Interval, sp.FiniteSet)):
                raise ValueError(f"cannot study branch {g} on {part}")
            out.append((g, part))
    return sorted(out, key=lambda p: (_n(p[1].inf), _n(p[1].sup)))


def _fmt_num(v) -> str:
    if isinstance(v, sp.Basic) and v.is_number and not v.is_Rational and v not in (sp.oo, -sp.oo):
        if v.has(sp.Float) or isinstance(v, sp.Float):
            return sp.sstr(sp.N(v, 15))
        return f"{sp.sstr(v)} ≈ {sp.sstr(sp.N(v, 15))}"
    return sp.sstr(v)


def _fmt_limit(v) -> str:
    if isinstance(v, sp.AccumBounds):
        return f"no limit (oscillates in [{_fmt_num(v.min)}, {_fmt_num(v.max)}])"
    return _fmt_num(v)


def _fmt_set(s) -> str:
    if s == sp.S.Reals:
        return "R"
    if isinstance(s, sp.Interval):
        lo, hi = _fmt_num(s.inf), _fmt_num(s.sup)
        return f"{'(' if s.left_open else '['}{lo}, {hi}{')' if s.right_open else ']'}"
    if isinstance(s, sp.FiniteSet):
        return "{" + ", ".join(_fmt_num(v) for v in s) + "}"
    if isinstance(s, sp.Union):
        return " ∪ ".join(_fmt_set(a) for a in s.args)
    return _fmt_num(s)


def _isolated(c: _Candidate) -> bool:
    """Attained nowhere or at isolated points only (f' = 0 there keeps f strictly monotonic)."""
    return c.at is sp.S.EmptySet or isinstance(c.at, sp.FiniteSet)


def _fact(value, symbolic_how: str, numeric: list[str]) -> Fact:
    numeric = list(dict.fromkeys(n for n in numeric if n))
    if numeric:
        return Fact(value, "numeric: " + "; ".join(numeric))
    return Fact(value, "symbolic: " + symbolic_how)


def _where(c: _Candidate, period: Optional[sp.Expr]):
    if c.at is not sp.S.EmptySet:
        if isinstance(c.at, sp.FiniteSet) and (len(c.at) == 1 or period is not None):
            return min(c.at, key=_n)
        return c.at
    return f"{c.approach} (not attained)"


def _definition(entry, derived=None):
    """What properties() depends on, for the cache: the entry (``derived`` follows from it)."""
    entry = getattr(entry, "entry", entry)
    return entry, entry.expr(), entry.written_expr()


@cached("properties", key=_definition)
def properties(entry, derived=None) -> Properties:
    """Derive the reference-page properties of ``entry`` at its default parameter values.

    ``entry`` is a catalog :class:`Activation` or a :class:`~symact.derive.kernel.Derivation`.
    The kernel's derivative at kinks is read from the derived ``df/dx`` kernel when ``derived`` (or a
    Derivation) is given; otherwise it is ``diff(entry.expr(), x)``, exactly what
    :func:`symact.derive.scalar.derive` computes as that kernel's ``textbook`` (without its proofs, which
    take seconds for some entries).
    """
    if hasattr(entry, "kernels") and hasattr(entry, "entry"):
        derived, entry = entry, entry.entry
    if getattr(entry, "kind", "activation") != "activation":
        raise ValueError(f"properties are defined for elementwise activations, not {entry.kind!r}")
    values = _defaults(entry)
    notes: list[str] = []
    if entry.params:
        shown = ", ".join(f"{p.name}={_fmt_num(p.value)}" for p in entry.params)
        notes.append(f"at default parameters {shown}")

    f_sym = entry.expr()
    if derived is not None:
        df_kernel = next(k.textbook for k in derived.kernels if k.role == "df/dx")
    else:
        df_kernel = sp.diff(f_sym, X)
    df_kernel = to_textbook(df_kernel).subs(values)
    f = to_textbook(f_sym).subs(values)
    if f.has(*_NONSMOOTH):
        f = f.rewrite(sp.Piecewise)
    f = sp.piecewise_fold(f)

    branches = _branches(f)
    bps = sorted({e for _, s in branches for e in ((s.inf, s.sup) if isinstance(s, sp.Interval) else s)
                  if e not in (sp.oo, -sp.oo)}, key=_n)
    fx = [_extrema(g, s, "f", "f'") for g, s in branches]
    dx = [_extrema(sp.diff(g, X), s, "f'", "f''") for g, s in branches]
    periods = [e.period for e in fx if e.period is not None]
    period = periods[0] if periods else None
    if period is not None:
        notes.append(f"periodic with period {sp.sstr(period)}; points are given in [0, {sp.sstr(period)})")

    # --- range, bounded, minimum -------------------------------------------------------------
    f_search = next((n for e in fx for n in e.numeric if n.startswith("zeros")), None)
    lo = _pick([e.lo for e in fx], True, f_search)
    hi = _pick([e.hi for e in fx], False, f_search)
    rng = sp.Union(*[_image(g, e, s) for e, (g, s) in zip(fx, branches)])
    hows = sorted({e.how for e in fx})
    range_fact = _fact(rng, "extrema per branch (" + "; ".join(hows) + ")",
                       [n for n in (lo.numeric, hi.numeric)])
    limit_numeric = [n for e in fx for n in e.numeric if n.startswith("limit")]
    bounded = bool(_n(lo.value).is_finite and _n(hi.value).is_finite)
    if bounded and not (lo.numeric or hi.numeric):
        bounded_how = f"inf f = {_fmt_num(lo.value)}, sup f = {_fmt_num(hi.value)}"
    elif bounded:
        bounded_how = "finite limits at the branch ends, f finite at its critical points"
    else:
        bounded_how = ", ".join(f"{side} f = {_fmt_num(c.value)} ({c.approach or 'attained'})"
                                for side, c in (("inf", lo), ("sup", hi)) if not _n(c.value).is_finite)
    bounded_fact = _fact(bounded, bounded_how, limit_numeric)

    minimum = None
    if _n(lo.value).is_finite and isinstance(lo.at, sp.FiniteSet) and lo.at is not sp.S.EmptySet:
        xm = min(lo.at, key=_n)
        how = "global minimum over the per-branch extrema"
        if period is not None:
            how += f" (repeats every {sp.sstr(period)})"
        elif len(lo.at) > 1:
            how += f" (also attained at {_fmt_set(lo.at)})"
        minimum = _fact((xm, lo.value), how + "; " + "; ".join(hows), [lo.numeric])

    # --- zero-centred ---------------------------------------------------------------------------
    f0 = f.subs(X, 0)
    zero_fact = Fact(bool(_close(f0, 0)), f"symbolic: f(0) = {_fmt_num(f0)}")

    # --- saturation -----------------------------------------------------------------------------
    left = next(e for e, (_, s) in zip(dx, branches) if s.inf == -sp.oo)
    right = next(e for e, (_, s) in zip(dx, branches) if s.sup == sp.oo)
    lim_l, lim_r = left.limits.get(-sp.oo), right.limits.get(sp.oo)

    def saturates(v) -> bool:
        return not isinstance(v, sp.AccumBounds) and v is not None and _close(v, 0)

    label = {(True, True): "both sides", (True, False): "left", (False, True): "right",
             (False, False): "no"}[(saturates(lim_l), saturates(lim_r))]
    sat_numeric = [n for e in (left, right) for n in e.numeric if n.startswith("limit")]
    sat_fact = _fact((lim_l, lim_r, label), "limits of f' at -oo and +oo on the outer branches "
                                           "(sympy.limit; AccumBounds = no limit)", sat_numeric)

    # --- max slope ------------------------------------------------------------------------------
    d_search = next((n for e in dx for n in e.numeric if n.startswith("zeros")), None)
    slope_cands = []
    for e in dx:
        slope_cands.append(e.hi)
        slope_cands.append(_Candidate(-e.lo.value, e.lo.at, e.lo.approach, e.lo.numeric))
    top = _pick(slope_cands, False, d_search)
    d_hows = sorted({e.how for e in dx})
    slope_fact = _fact((top.value, _where(top, period)),
                       "sup |f'| from the extrema of f' per branch (" + "; ".join(d_hows) + ")"
                       + (f"; repeats every {sp.sstr(period)}" if period is not None else ""),
                       [top.numeric])

    # --- continuity and kinks -------------------------------------------------------------------
    kinks: dict = {}
    orders: list[int] = []
    cont_numeric: list[str] = []
    jumps_up, jumps_down = True, True
    for b in bps:
        gl = next(g for g, s in branches if isinstance(s, sp.Interval) and _lt(s.inf, b) and not _lt(s.sup, b))
        gr = next(g for g, s in branches if isinstance(s, sp.Interval) and not _lt(b, s.inf) and _lt(b, s.sup))
        fb = f.subs(X, b)
        order = CONTINUITY_ORDERS + 1  # "matches through f'''"
        one_sided = {}
        for k in range(CONTINUITY_ORDERS + 1):
            (vl, nl), (vr, nr) = _limit(sp.diff(gl, X, k), b, "-"), _limit(sp.diff(gr, X, k), b, "+")
            cont_numeric += [nl, nr]
            one_sided[k] = (vl, vr)
            same = _close(vl, vr) and (k > 0 or _close(vl, fb))
            if k == 0:
                jumps_up &= not _lt(fb, vl) and not _lt(vr, fb)
                jumps_down &= not _lt(vl, fb) and not _lt(fb, vr)
                if not same:
                    notes.append(f"f jumps at x={_fmt_num(b)}: {_fmt_num(vl)} (left), {_fmt_num(fb)} (at), "
                                 f"{_fmt_num(vr)} (right); left/right f' there are limits of the branch derivatives")
            if not same and order > k:
                order = k
            if k >= 1 and order <= k:
                break
        if 1 not in one_sided:
            one_sided[1] = tuple(_limit(sp.diff(g, X), b, s)[0] for g, s in ((gl, "-"), (gr, "+")))
        kinks[b] = (one_sided[1][0], one_sided[1][1], df_kernel.subs(X, b))
        orders.append(order)

    if not bps:
        smooth_how = "no breakpoints; "
        # erf is entire: standing in exp for it lets continuous_domain handle GELU
        probe = f.replace(lambda e: isinstance(e, (sp.erf, sp.erfc)), lambda e: sp.exp(e.args[0]))
        try:
            with time_budget(SOLVE_BUDGET):
                dom = continuous_domain(probe, X, sp.S.Reals)
        except (_Timeout, Exception):  # noqa: BLE001
            dom = None
        cont = "C^inf"
        if dom == sp.S.Reals:
            smooth_how += ("continuous_domain(f) = R" + (" (erf entire)" if probe != f else "")
                           + ", f composed of analytic functions")
        elif dom is not None:
            smooth_how += f"continuous_domain(f) = {sp.sstr(dom)}: singular points on R"
            cont = "discontinuous"
        else:
            smooth_how += "f composed of analytic functions"
    else:
        worst = min(orders)
        cont = "discontinuous" if worst == 0 else (f"C^{worst - 1}" if worst <= CONTINUITY_ORDERS
                                                  else f"C^{CONTINUITY_ORDERS} at least")
        smooth_how = ("one-sided limits of f, f', f'', f''' at breakpoints "
                      + ", ".join(_fmt_num(b) for b in bps) + ", stopping at the first mismatch")
    continuity_fact = _fact(cont, smooth_how, cont_numeric)
    kinks_fact = _fact(kinks, ("one-sided limits of f' at each breakpoint; kernel value = derived df/dx "
                               "at the point (branch owning it)") if bps else "no breakpoints",
                       cont_numeric)

    # --- monotonicity ---------------------------------------------------------------------------
    kinds = []
    mono_numeric: list[str] = []
    for fe, e, (_, s) in zip(fx, dx, branches):
        if isinstance(s, sp.FiniteSet):
            continue
        if fe.constant:
            kinds.append("constant")
        elif _sign(e.lo.value) > 0 or (_sign(e.lo.value) == 0 and _isolated(e.lo)):
            kinds.append("increasing")
            mono_numeric.append(e.lo.numeric)
        elif _sign(e.hi.value) < 0 or (_sign(e.hi.value) == 0 and _isolated(e.hi)):
            kinds.append("decreasing")
            mono_numeric.append(e.hi.numeric)
        else:
            kinds.append("mixed")
            mono_numeric += [e.lo.numeric, e.hi.numeric]
    has_jump = any(o == 0 for o in orders)
    if set(kinds) == {"constant"}:
        mono = ("non-decreasing" if jumps_up else "non-increasing" if jumps_down else "not monotonic") \
            if has_jump else "constant"
    elif set(kinds) <= {"increasing", "constant"} and jumps_up:
        mono = "increasing" if "constant" not in kinds else "non-decreasing"
    elif set(kinds) <= {"decreasing", "constant"} and jumps_down:
        mono = "decreasing" if "constant" not in kinds else "non-increasing"
    elif period is not None:
        mono = "not monotonic (periodic)"
    elif minimum is not None:
        xm, fm = minimum.value
        mono = f"not monotonic (minimum at x={_fmt_num(xm)}, f={_fmt_num(fm)})"
        mono_numeric.append(lo.numeric)
    else:
        mono = "not monotonic"
    monotonic_fact = _fact(mono, "sign of f' per branch (" + "; ".join(d_hows) + ")"
                                 + (", direction of the jumps" if has_jump else ""), mono_numeric)

    for n in dict.fromkeys(n for e in fx + dx for n in e.numeric):
        notes.append(f"numeric step: {n}")

    return Properties(entry.name, range_fact, bounded_fact, monotonic_fact, minimum, zero_fact,
                      sat_fact, slope_fact, continuity_fact, kinks_fact, tuple(notes))


def format_properties(p: Properties) -> list[str]:
    """Readable lines for ``symact show``: ``name  value  [method]``."""
    def line(label: str, text: str, fact: Optional[Fact]) -> str:
        return f"{label:<13}{text}" + (f"   [{fact.method}]" if fact is not None else "")

    lines = [line("range", _fmt_set(p.range.value), p.range),
             line("bounded", "yes" if p.bounded.value else "no", p.bounded),
             line("monotonic", p.monotonic.value, p.monotonic)]
    if p.minimum is not None:
        xm, fm = p.minimum.value
        lines.append(line("minimum", f"f({_fmt_num(xm)}) = {_fmt_num(fm)}", p.minimum))
    lines.append(line("zero-centred", "yes" if p.zero_centered.value else "no", p.zero_centered))
    lo, hi, label = p.saturating.value
    lines.append(line("saturating", f"{label} (f' at -oo: {_fmt_limit(lo)}; at +oo: {_fmt_limit(hi)})",
                      p.saturating))
    s, where = p.max_slope.value
    where_txt = where if isinstance(where, str) else (
        f"x in {_fmt_set(where)}" if isinstance(where, sp.Set) else f"x = {_fmt_num(where)}")
    lines.append(line("max slope", f"{_fmt_num(s)} at {where_txt}", p.max_slope))
    lines.append(line("continuity", p.continuity.value, p.continuity))
    if p.kinks.value:
        text = "; ".join(f"x={_fmt_num(b)}: f' {_fmt_num(l)} (left), {_fmt_num(r)} (right), kernel {_fmt_num(k)}"
                         for b, (l, r, k) in p.kinks.value.items())
    else:
        text = "none"
    lines.append(line("kinks", text, p.kinks))
    lines += [line("note", n, None) for n in p.notes]
    return lines
