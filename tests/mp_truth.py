"""Truth for the loss and row-kernel sweeps: the catalog's textbook formula, evaluated by mpmath.

Nothing here reads symact's derived or stabilized expressions: a loss's truth is its catalog
``formula`` (the definition as the seeds write it), with every argument but the input bound to the
exact value the kernel was given, and its derivatives are SymPy's ``diff`` of that formula, taken
here. Where a Piecewise defines the loss, the branch that owns the point is evaluated (so the truth
at a kink is the catalog's stated convention, the derivative of the owning branch).

* finite input: mpmath with enough digits that the textbook form's own cancellations cannot hurt
  (1 − σ(x) at x = 4000 needs 1740 digits; √(1 + a²) − 1 at a = 1e−100 needs 200), confirmed by a
  second evaluation 40 digits higher;
* beyond |x| = 4000, where only an exponentially small rest separates the textbook form from its
  asymptote (log(1 − σ(1e30)) is log 0 at any practical precision), the asymptote a·x + b, with
  a = lim f(x)/x and b = lim f(x) − a·x found by SymPy's ``limit`` — only where the direct evaluation
  is not finite;
* ±inf: the limit, evaluated at two points far beyond every bound value (10^100 apart), and by
  SymPy's ``limit`` of the branch that holds there when those two points do not settle it.
"""
from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import sympy as sp

_FMT = {np.float32: (24, -126), np.float64: (53, -1022)}


def exact(v: float) -> sp.Expr:
    """A float as the exact number it is (a dyadic rational), or ±oo."""
    return sp.Rational(v) if math.isfinite(v) else (sp.oo if v > 0 else -sp.oo)


def digits(v) -> int:
    v = abs(float(v))
    return 0 if v == 0 or not math.isfinite(v) else int(abs(math.log10(v))) + 1


def ulp_of(truth, dtype):
    """The spacing of ``dtype`` at ``truth`` (the subnormal spacing below the normal range)."""
    p, emin = _FMT[dtype]
    t = mpmath.mpf(truth)
    e = emin if t == 0 else max(int(mpmath.floor(mpmath.log(abs(t), 2))), emin)
    return mpmath.mpf(2) ** (e - p + 1)


def ulp_error(got: float, truth, dtype) -> float:
    """|got − truth| in units in the last place of truth in ``dtype``."""
    return float(abs(mpmath.mpf(float(got)) - mpmath.mpf(truth)) / ulp_of(truth, dtype))


def unit_roundoff(dtype):
    return mpmath.mpf(2) ** -_FMT[dtype][0]


def pieces(expr: sp.Expr) -> list[tuple[sp.Expr, sp.Expr]]:
    f = sp.piecewise_fold(sp.sympify(expr))
    if not isinstance(f, sp.Piecewise):
        return [(f, sp.true)]
    out = []
    for e, c in f.args:
        if c is sp.false:
            continue
        out.append((e, c))
        if c is sp.true:
            break
    return out


def terms(expr: sp.Expr) -> sp.Expr:
    """Σ|addend| of each branch's top-level sum (a max(0, ·) or ramp counts its argument's addends):
    the magnitude a sum's roundings are relative to."""
    def magnitude(e):
        total = []
        for t in sp.Add.make_args(sp.expand_mul(e)):
            inner = [f for f in sp.Mul.make_args(t) if type(f).__name__ == "Ramp"]
            if inner:  # c·max(0, a): the terms of a, times c
                rest = sp.Mul(*[f for f in sp.Mul.make_args(t) if f is not inner[0]])
                total.append(sp.Abs(rest) * magnitude(inner[0].args[0]))
            else:
                total.append(sp.Abs(t))
        return sp.Add(*total)

    ps = pieces(expr)
    mags = [(magnitude(e), c) for e, c in ps]
    return mags[0][0] if len(mags) == 1 and mags[0][1] is sp.true else sp.Piecewise(*mags)


class Scalar:
    """f(x) for one expression whose only free symbol is ``x`` (every other argument bound)."""

    def __init__(self, x: sp.Symbol, expr: sp.Expr, bound=(), domain=None):
        self.x = x
        self.domain = domain
        self.expr = sp.sympify(expr)
        self.extra = min(120, 2 * max([digits(b) for b in bound] + [0]))
        self.scale = max([abs(float(b)) for b in bound if math.isfinite(float(b))] + [1.0])
        self.pieces = [(None if c is sp.true else sp.lambdify([x], c, "mpmath"), sp.lambdify([x], e, "mpmath"), e)
                       for e, c in pieces(self.expr)]
        self._limits = {}

    def _branch(self, v):
        return next(p for p in self.pieces if p[0] is None or p[0](v))

    def _eval(self, v, dps):
        with mpmath.workdps(dps):
            v = mpmath.mpf(v)
            try:
                return self._branch(v)[1](v)
            except ZeroDivisionError:  # mpmath raises where the textbook form divides by 0
                return mpmath.nan

    def direct(self, x: float):
        dps = 60 + self.extra + 2 * digits(x) + (int(0.45 * abs(x)) if abs(x) <= 4000 else 0)
        a, b = self._eval(x, dps), self._eval(x, dps + 40)
        if mpmath.isnan(a) and mpmath.isnan(b) and self.domain is not None and x in self.domain:
            # a pole at the end of the input's domain (BCE's 1/(1 − x) at x = 1): the one-sided limit
            inward = 1 if x == self.domain[0] else -1
            a, b = [self._eval(mpmath.mpf(x) + inward * mpmath.mpf(10) ** -e, e + 60) for e in (500, 1000)]
            if abs(b) > mpmath.mpf(10) ** 400 and abs(b) > abs(a) and (a > 0) == (b > 0):
                return mpmath.inf if b > 0 else -mpmath.inf
        if not (mpmath.isfinite(a) and mpmath.isfinite(b)):
            return b if a == b else None
        if a == b == 0 or abs(a - b) <= abs(b) * mpmath.mpf(10) ** -35:
            return b
        if abs(a - b) <= mpmath.mpf(10) ** -(dps - 20) * max(1, abs(x), self.scale):
            return mpmath.mpf(0)  # a cancellation to an exact 0 (x/3 − 10000/3 at x = 10000), seen as rounding
        return None

    def _sympy_limit(self, sign, what):
        key = (sign, what)
        if key not in self._limits:
            far = sign * sp.Integer(10) ** (digits(self.scale) + 100)
            e = next(e for e, c in pieces(self.expr) if c is sp.true or c.subs(self.x, far) == sp.true)
            if what == "slope":
                e = e / self.x
            elif what != "value":
                e = e - what * self.x
            self._limits[key] = sp.limit(e, self.x, sign * sp.oo)
        return self._limits[key]

    def _fit(self, sign):
        """(a, b) with f(x) = a·x + b at x = sign·200, sign·400, confirmed at sign·300 to 60 digits, or
        None: the asymptote of a textbook form whose rest is e^(−|x|)-small (log(1 + e^x) − x), where
        the other arguments are too small to move it (|bound| <= 50)."""
        if self.scale > 50:
            return None
        dps = 300 + self.extra
        with mpmath.workdps(dps):
            p200, p300, p400 = [self._eval(sign * t, dps) for t in (200, 300, 400)]
            if not all(mpmath.isfinite(p) for p in (p200, p300, p400)):
                return None
            a = (p400 - p200) / (sign * 200)
            b = p200 - a * sign * 200
            if abs(a * sign * 300 + b - p300) > mpmath.mpf(10) ** -60 * abs(p300):
                return None
            if abs(a) * 400 <= mpmath.mpf(10) ** -60 * abs(b):
                a = mpmath.mpf(0)
            return a, b

    def limit(self, sign: int, symbolic: bool = False):
        """lim f(x) for x → sign·∞ (a float ±inf, an mpf, or None where none exists). ``symbolic``:
        SymPy's limit only (for a target going to infinity: y·(log y − x) grows like y·log y, which no
        two float-sized sample points tell apart from −y·x)."""
        if symbolic:
            v = self._sympy_limit(sign, "value")
            if v in (sp.oo, -sp.oo):
                return math.inf if v == sp.oo else -math.inf
            return mpmath.mpf(sp.Float(v, 60)) if v.is_real else None
        fit = self._fit(sign)
        if fit is not None:
            slope, b = fit
            return b if slope == 0 else (math.inf if slope * sign > 0 else -math.inf)
        top = digits(self.scale) + 100
        dps = 60 + self.extra + 2 * (top + 100)
        a, b = [self._eval(sign * mpmath.mpf(10) ** e, dps) for e in (top, top + 100)]
        if mpmath.isfinite(a) and mpmath.isfinite(b):
            if abs(a - b) <= mpmath.mpf(10) ** -30 * max(abs(a), abs(b)) or max(abs(a), abs(b)) < mpmath.mpf(10) ** -400:
                return b if abs(b) >= mpmath.mpf(10) ** -400 else mpmath.mpf(0)
            if abs(b) > 10 * abs(a) and abs(b) > 1e30 and (a > 0) == (b > 0):
                return math.inf if b > 0 else -math.inf
        v = self._sympy_limit(sign, "value")
        if v in (sp.oo, -sp.oo):
            return math.inf if v == sp.oo else -math.inf
        return mpmath.mpf(sp.Float(v, 60)) if v.is_real else None

    def asymptote(self, x: float):
        """a·x + b for |x| > 4000, a = lim f/x, b = lim f − a·x: the textbook value but for terms like
        e^(−|x|), below every float."""
        sign = 1 if x > 0 else -1
        fit = self._fit(sign)
        if fit is not None:
            with mpmath.workdps(60):
                return fit[0] * mpmath.mpf(x) + fit[1]
        a = self._sympy_limit(sign, "slope")
        if not a.is_real or not a.is_finite:
            return None
        b = self._sympy_limit(sign, a)
        if not b.is_real or not b.is_finite:
            return None
        with mpmath.workdps(60):
            return mpmath.mpf(sp.Float(a, 60)) * mpmath.mpf(x) + mpmath.mpf(sp.Float(b, 60))

    def __call__(self, x: float):
        if math.isnan(x):
            return math.nan
        if math.isinf(x):
            return self.limit(1 if x > 0 else -1)
        if abs(x) > 4000:
            fit = self._fit(1 if x > 0 else -1)
            if fit is not None:
                with mpmath.workdps(60):
                    return fit[0] * mpmath.mpf(x) + fit[1]
        r = self.direct(x)
        if (r is None or not mpmath.isfinite(r)) and abs(x) > 4000:
            return self.asymptote(x)
        return r


def as_float(t):
    """An mpf truth that is ±inf or nan as a Python float; others unchanged."""
    if isinstance(t, mpmath.mpf) and not mpmath.isfinite(t):
        return float(t)
    return t


def judge(got: float, truth, dtype, allowance=0) -> tuple[bool, float]:
    """(passes, error in ULP) for a kernel result against its truth.

    nan truth: nan. Infinite truth, or a truth beyond the dtype's largest number: the same infinity.
    A truth within 4 ULP (plus ``allowance``) of the overflow threshold: that infinity, or finite as
    below. Otherwise finite, within 4 ULP of the truth plus ``allowance`` (an absolute error the problem's
    own conditioning permits, stated by the caller); a truth below the smallest normal number times
    2^(p/2) (where the last bits are gradual underflow) within 4 such units.
    """
    truth = as_float(truth)
    fi = np.finfo(dtype)
    if isinstance(truth, float) and math.isnan(truth):
        return math.isnan(got), 0.0
    if isinstance(truth, float) and math.isinf(truth):
        return got == truth, 0.0
    if abs(truth) >= mpmath.mpf(float(fi.max)) + ulp_of(float(fi.max), dtype) / 2:  # rounds to ±inf
        return math.isinf(got) and (got > 0) == (truth > 0), 0.0
    if not math.isfinite(got):
        # an infinity of the truth's sign is within the bound where the truth lies within 4 ULP (plus
        # the allowance) of the overflow threshold: a result that close to the truth may round up to it
        edge = mpmath.mpf(float(fi.max)) + ulp_of(float(fi.max), dtype) / 2 - 4 * ulp_of(float(fi.max), dtype)
        near = abs(truth) + allowance >= edge
        return (math.isinf(got) and (got > 0) == (truth > 0) and near), math.inf
    err = ulp_error(got, truth, dtype)
    if err <= 4:
        return True, err
    abs_err = abs(mpmath.mpf(float(got)) - mpmath.mpf(truth))
    floor = mpmath.mpf(float(fi.tiny)) / 2 ** ((fi.nmant + 1) // 2)
    if abs(truth) < mpmath.mpf(float(fi.tiny)) * 2 ** ((fi.nmant + 1) // 2) and abs_err <= 4 * floor:
        return True, err
    return abs_err <= 4 * ulp_of(truth, dtype) + allowance, err


@functools.lru_cache(maxsize=None)
def _cached_scalar(x, expr, bound, domain):
    return Scalar(x, expr, bound, domain)


def scalar(x, expr, bound=(), domain=None) -> Scalar:
    return _cached_scalar(x, expr, tuple(bound), domain)


# ---- rows: the catalog's general-K formulas at an explicit K ------------------------------------------

def _row_functions():
    from symact.catalog.row_losses import Ramp, Step, XLogX

    return {"Ramp": lambda z: max(z, 0), "Step": lambda z: mpmath.mpf(1) if z > 0 else mpmath.mpf(0),
            "XLogX": lambda z: mpmath.mpf(0) if z == 0 else z * mpmath.log(z), "sign": mpmath.sign,
            "Abs": abs, "KroneckerDelta": lambda a, b: 1 if a == b else 0,
            # stable primitives a row formula may be written with (multilabel_soft_margin_loss: -log sigma(z) =
            # softplus(-z)), by their textbook definitions (log1p keeps log(1 + e^-744) = e^-744)
            "Softplus": lambda z: mpmath.log1p(mpmath.exp(z)), "Sigmoid": lambda z: 1 / (1 + mpmath.exp(-z))}


def explicit(expr: sp.Expr, n: int, subs: dict | None = None) -> sp.Expr:
    """A general-K catalog formula at K = n: sums written out, Kronecker deltas decided."""
    from symact.catalog.vectors import K

    e = sp.sympify(expr).subs(K, n)
    if subs:
        e = e.subs(subs)
    return e.doit()


class Row:
    """An explicit-K expression in the elements of named rows, evaluated by mpmath.

    ``rows``: {IndexedBase: n}; ``scalars``: symbols bound per call (beta, margin, the label's
    weight…). Precision: 60 digits plus twice the decimal exponent of the largest element (so that
    x_j − log Σ e^(x_k) keeps digits for a result near 0 next to elements near 1e308) plus 0.45 per
    unit of spread in the exponents (log Σ e^x next to a term e^(−spread)), confirmed 40 digits higher.
    A +inf element is replaced by 10^4 plus the largest finite magnitude (the limit to every digit a
    float holds: e^(−10^4) is far below the smallest subnormal); −inf elements stay −inf (e^−inf = 0).
    """

    def __init__(self, expr, bases: dict, scalars=()):
        self.bases = bases
        self.elements = [b[m] for b, n in bases.items() for m in range(n)]
        self.symbols = [sp.Symbol(f"_e{n}", real=True) for n in range(len(self.elements))]
        self.scalars = list(scalars)
        e = sp.sympify(expr).xreplace(dict(zip(self.elements, self.symbols)))
        self.expr = e
        self.f = sp.lambdify(self.symbols + self.scalars, e, modules=[_row_functions(), "mpmath"], cse=True)

    def magnitude(self, values, scalars=()):
        """The expression at 30 digits, once: for a sum of absolute values (an error allowance),
        which has no cancellation to guard against; None where it is not finite."""
        vals = [float(v) for v in values]
        if any(math.isnan(v) or v == math.inf for v in vals + [float(c) for c in scalars]):
            return None
        with mpmath.workdps(30):  # −inf elements stay: e^−inf = 0
            try:
                r = self.f(*[mpmath.mpf(v) for v in vals], *[mpmath.mpf(float(c)) for c in scalars])
            except ZeroDivisionError:
                return None
        return r if mpmath.isfinite(r) else None

    def _at(self, vals, scalars, spread_scale):
        finite = [abs(v) for v in vals if math.isfinite(v)] + [abs(float(c)) for c in scalars]
        fin = [v for v in vals if math.isfinite(v)]
        spread = (max(fin) - min(fin)) * spread_scale if fin else 0
        # x_j − log Σ e^(x_k) near 0 next to elements near 10^D: D digits to hold both, 0.45 per unit of
        # spread down to e^(−760) (below that the result is under the smallest subnormal)
        dps = 60 + max([digits(v) for v in finite if v > 1] + [0]) + int(0.45 * min(spread, 760))
        out = []
        for d in (dps, dps + 40):
            with mpmath.workdps(d):
                try:
                    out.append(self.f(*[mpmath.mpf(v) for v in vals], *[mpmath.mpf(float(c)) for c in scalars]))
                except ZeroDivisionError:
                    return None
        a, b = out
        if not (mpmath.isfinite(a) and mpmath.isfinite(b)):
            return b if a == b else None
        if a == b or abs(a - b) <= abs(b) * mpmath.mpf(10) ** -30 or abs(a - b) < mpmath.mpf(10) ** -(dps - 20):
            return b
        return None

    def __call__(self, values: list[float], scalars=(), spread_scale=1.0):
        vals = [float(v) for v in values]
        if any(math.isnan(v) for v in vals + [float(c) for c in scalars]):
            # nan propagates through mpmath's arithmetic: nan where the expression reads it, the value
            # where it does not (nll_loss's gradient −w_y·δ_iy does not read the scores)
            if any(math.isinf(v) for v in vals):
                return math.nan
            with mpmath.workdps(30):
                try:
                    r = self.f(*[mpmath.mpf(v) for v in vals], *[mpmath.mpf(float(c)) for c in scalars])
                except ZeroDivisionError:
                    return math.nan
            return math.nan if mpmath.isnan(r) else r
        if not any(math.isinf(v) for v in vals):
            return self._at(vals, scalars, spread_scale)
        if not any(v == math.inf for v in vals):
            r = self._at(vals, scalars, spread_scale)  # −inf elements: e^−inf = 0 is exact
            if r is not None and not (isinstance(r, mpmath.mpf) and mpmath.isnan(r)):
                return r
        big = max([abs(v) for v in vals if math.isfinite(v)] + [abs(float(c)) for c in scalars] + [1.0])
        if big > 1e4:
            return None
        reach = 1e4 / min(1.0, spread_scale)  # far enough that e^(−scale·reach) is below every float
        a, b = [self._at([math.copysign(X, v) if math.isinf(v) else v for v in vals], scalars, spread_scale)
                for X in (reach + big, 2 * (reach + big))]
        if a is None or b is None:
            return None
        if mpmath.isinf(a) and a == b:
            return float(b)
        if abs(b) > 1e3 and abs(b) > 1.5 * abs(a) and (a > 0) == (b > 0):
            return math.inf if b > 0 else -math.inf
        if abs(a - b) <= mpmath.mpf(10) ** -25 * max(abs(a), abs(b)) or max(abs(a), abs(b)) < mpmath.mpf(10) ** -330:
            return b
        return None
