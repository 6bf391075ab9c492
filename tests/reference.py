"""Truth for the accuracy tests: the catalog's textbook formula, evaluated and differentiated in
mpmath, independent of the code under test.

What is evaluated: ``entry.expr()``, the definition as the catalog writes it (tanh as
(e^x - e^-x)/(e^x + e^-x), GELU as x(1 + erf(x/√2))/2, softplus with its threshold branch), with the
parameters bound to the values the kernel receives. Nothing from ``symact.derive.scalar`` (no SymPy
derivative, no stable form) enters a truth.

How it is differentiated: forward-mode automatic differentiation over mpmath numbers (:class:`Jet`),
the chain rule applied to the definition's own operations, with the derivatives of the elementary
functions from the textbook (exp' = exp, log' = 1/z, erf' = 2e^(-z²)/√π, tanh' = sech², sin' = cos)
evaluated by mpmath. One evaluation gives the value, df/dx, df/dp for each learnable parameter and
d²f/dx² (for the from-output allowance). At a Piecewise, the branch whose condition holds at x
(evaluated exactly) is differentiated: the kink conventions are the definition's branch ownership.
tests/test_accuracy.py checks the AD against ``mpmath.diff`` (central differences) at points where
both are cheap.

How accurate: every number carries a rigorous bound on its absolute error (running error analysis:
rounding of each operation, mpmath's function error, and the error of the arguments propagated by
bounds on the derivatives over the argument's uncertainty). The working precision grows until the
bound of each requested component is below 2^-20 of the dtype's ULP at the value (the subnormal
spacing for tiny values), so a textbook form's cancellation (1 + erf(-20), the quotient rule on
tanh's ratio) costs precision, never correctness. One documented perturbation keeps the far tails
cheap: e^z for z < -Z0 (Z0 = 2000), erf(z) for |z| > √Z0 and tanh(z) for |z| > Z0/2 are replaced by
their limits, and the replaced amount (below e^-2000·(the factors it is multiplied by)) is carried in
the error bound like any rounding.

At x = ±inf the truth is the limit: the value at x = ±2^1100 and ±2^1400 (beyond every dtype) when
the two agree, ±inf when both overflow with one sign, and nan when they differ (sin has no limit).
"""
from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import sympy as sp
from mpmath import mpf


Z0 = 2000  # e^z below e^-Z0 is replaced by 0 (and erf, tanh by their limits), with that error carried
_DTYPES = {np.float32: (24, -126, 127), np.float64: (53, -1022, 1023)}


# ---- ULPs -------------------------------------------------------------------------------------------

_FMT = {np.float32: (24, -126), np.float64: (53, -1022)}


def ulp_of(truth, dtype):
    """The spacing of ``dtype`` at ``truth`` (the subnormal spacing below the normal range)."""
    p, emin = _FMT[dtype]
    t = mpf(truth)
    e = emin if t == 0 else max(int(mpmath.floor(mpmath.log(abs(t), 2))), emin)
    return mpf(2) ** (e - p + 1)


def ulp_error(got: float, truth, dtype) -> float:
    """|got − truth| in units of the last place of truth in ``dtype``."""
    return float(abs(mpf(float(got)) - mpf(truth)) / ulp_of(truth, dtype))


def assert_row_ulp(got, truth, dtype, row, what) -> float:
    """A row kernel's result within 4 ULP plus the error inherent to its max shift: x − max(x)
    rounds, a relative error up to |x − max|·u that e^x carries into the result (2·spread ULP).
    Subnormal results: within 2 subnormal steps. Returns the error in ULP."""
    if abs(truth) < np.finfo(dtype).tiny:
        assert abs(mpf(float(got)) - truth) <= 2 * np.finfo(dtype).smallest_subnormal, (what, got, truth)
        return 0.0
    err = ulp_error(float(got), truth, dtype)
    spread = max(abs(float(v) - max(float(u) for u in row)) for v in row)
    assert err <= 4 + 2 * spread, (what, float(got), mpmath.nstr(truth, 17), err)
    return err


# ---- numbers with an error bound and derivatives ---------------------------------------------------

def _mag_bound(z) -> mpf:
    """An mpf >= e^z for z <= 0 (cheap even for z = -1e600: a power of two from z's size)."""
    return mpmath.ldexp(mpf(1), int(mpmath.ceil(z / mpmath.ln2)) + 1)


class Jet:
    """v ± e, with first derivatives d[i] ± de[i] (one per seed: x, then the learnable parameters) and
    the second derivatives s[i] ± se[i], the x-derivative of d[i] (d²f/dx², d²f/dx dp). Every error
    is an absolute bound."""

    __slots__ = ("v", "e", "d", "de", "s", "se")

    def __init__(self, v, e, d, de, s, se):
        self.v, self.e, self.d, self.de, self.s, self.se = v, e, d, de, s, se

    @staticmethod
    def const(v: mpf, exact: bool, n: int) -> "Jet":
        z = [mpf(0)] * n
        return Jet(v, mpf(0) if exact else _U[0] * abs(v), z, list(z), list(z), list(z))

    @staticmethod
    def seed(v: mpf, i: int, n: int) -> "Jet":
        d = [mpf(0)] * n
        d[i] = mpf(1)
        return Jet(v, mpf(0), d, [mpf(0)] * n, [mpf(0)] * n, [mpf(0)] * n)


_U = [mpf(2) ** -100]  # the unit roundoff of the working precision (set by _evaluate)


def _rounding(v) -> mpf:
    return _U[0] * abs(v)


def _exact_sum(a: mpf, b: mpf, v: mpf) -> bool:
    """Whether v = fl(a + b) is exact (compared with the exact sum when that is cheap to form)."""
    if a == 0 or b == 0:
        return True
    if not (mpmath.isfinite(a) and mpmath.isfinite(b)):
        return True
    if abs(int(mpmath.mag(a)) - int(mpmath.mag(b))) > 4 * mpmath.mp.prec:
        return False
    return mpmath.fadd(a, b, exact=True) == v


def _exact_product(a: mpf, b: mpf) -> bool:
    if a == 0 or b == 0 or not (mpmath.isfinite(a) and mpmath.isfinite(b)):
        return True
    return a._mpf_[3] + b._mpf_[3] <= mpmath.mp.prec


def _add(a: Jet, b: Jet) -> Jet:
    v = a.v + b.v
    e = a.e + b.e + (0 if _exact_sum(a.v, b.v, v) else _rounding(v))
    d = [x + y for x, y in zip(a.d, b.d)]
    de = [x + y + _rounding(z) for x, y, z in zip(a.de, b.de, d)]
    s = [x + y for x, y in zip(a.s, b.s)]
    se = [x + y + _rounding(z) for x, y, z in zip(a.se, b.se, s)]
    return Jet(v, e, d, de, s, se)


def _neg(a: Jet) -> Jet:
    return Jet(-a.v, a.e, [-x for x in a.d], list(a.de), [-x for x in a.s], list(a.se))


def _mul(a: Jet, b: Jet) -> Jet:
    u = _U[0]
    av, bv, ae, be = a.v, b.v, a.e, b.e
    aa, ba = abs(av), abs(bv)
    v = av * bv
    e = aa * be + ba * ae + ae * be + (0 if _exact_product(av, bv) else _rounding(v))
    d, de = [], []
    for ad, ade, bd, bde in zip(a.d, a.de, b.d, b.de):
        t1, t2 = av * bd, bv * ad
        d.append(t1 + t2)
        de.append(aa * bde + ae * (abs(bd) + bde) + ba * ade + be * (abs(ad) + ade) + 3 * u * (abs(t1) + abs(t2)))
    # the x-derivative of (a·b)_i: a_xi·b + a_x·b_i + a_i·b_x + a·b_xi
    a0, a0e, b0, b0e = a.d[0], a.de[0], b.d[0], b.de[0]
    s, se = [], []
    for ai, aie, bi, bie, asi, asie, bsi, bsie in zip(a.d, a.de, b.d, b.de, a.s, a.se, b.s, b.se):
        t1, t2, t3, t4 = asi * bv, a0 * bi, ai * b0, av * bsi
        s.append(t1 + t2 + t3 + t4)
        se.append(abs(asi) * be + asie * (ba + be) + abs(a0) * bie + a0e * (abs(bi) + bie)
                  + abs(ai) * b0e + aie * (abs(b0) + b0e) + aa * bsie + ae * (abs(bsi) + bsie)
                  + 4 * u * (abs(t1) + abs(t2) + abs(t3) + abs(t4)))
    return Jet(v, e, d, de, s, se)


def _apply(a: Jet, f, ef, m) -> Jet:
    """F(a) from f = (F, F', F'') at a.v as used, ef = their absolute errors against the exact values
    at a.v, and m = (M1, M2, M3) bounds of |F'|, |F''|, |F'''| over [a.v - a.e, a.v + a.e]."""
    f0, f1, f2 = f
    e0, e1, e2 = ef
    m1, m2, m3 = m
    u = _U[0]
    v = f0
    e = m1 * a.e + e0
    d, de = [], []
    for ad, ade in zip(a.d, a.de):
        t = f1 * ad
        d.append(t)
        de.append(abs(f1) * ade + (e1 + m2 * a.e) * (abs(ad) + ade) + _rounding(t))
    # the x-derivative of F'(a)·a_i: F''(a)·a_x·a_i + F'(a)·a_xi
    a0, a0e = a.d[0], a.de[0]
    s, se = [], []
    for ai, aie, asi, asie in zip(a.d, a.de, a.s, a.se):
        t1, t2 = f2 * a0 * ai, f1 * asi
        s.append(t1 + t2)
        se.append((m3 * a.e + e2) * (abs(a0) + a0e) * (abs(ai) + aie)
                  + abs(f2) * (abs(a0) * aie + a0e * (abs(ai) + aie))
                  + (m2 * a.e + e1) * (abs(asi) + asie) + abs(f1) * asie + 3 * u * (abs(t1) + abs(t2)))
    return Jet(v, e, d, de, s, se)


def _fn_err(*vals):
    """mpmath's own error in a function value: a few units of the working precision."""
    return tuple(4 * _U[0] * abs(v) for v in vals)


def _exp(a: Jet) -> Jet:
    if a.v + a.e < -Z0:  # replaced by 0; e^z and its derivatives are all below b
        b = _mag_bound(a.v + a.e)
        return _apply(a, (mpf(0),) * 3, (b, b, b), (b, b, b))
    f = mpmath.exp(a.v)
    m = f * mpmath.exp(a.e) * (1 + 8 * _U[0])
    return _apply(a, (f, f, f), _fn_err(f, f, f), (m, m, m))


def _log(a: Jet) -> Jet:
    lo = a.v - a.e
    if not lo > 0:
        raise _NeedPrecision if a.v > 0 else ValueError("log of a non-positive number")
    f = mpmath.log(a.v)
    return _apply(a, (f, 1 / a.v, -1 / a.v ** 2), _fn_err(f, 1 / a.v, 1 / a.v ** 2),
                  (1 / lo, 1 / lo ** 2, 2 / lo ** 3))


def _erf(a: Jet) -> Jet:
    c = 2 / mpmath.sqrt(mpmath.pi)
    t = abs(a.v) - a.e  # the smallest |z| in the interval
    if t * t > Z0:  # erf(z) = sign(z)·(1 - erfc|z|), erfc(t) <= e^(-t²)
        b = _mag_bound(-t * t)
        hi = abs(a.v) + a.e
        m1 = c * b
        return _apply(a, (mpmath.sign(a.v), mpf(0), mpf(0)), (b, m1, 2 * hi * m1),
                      (m1, 2 * hi * m1, (4 * hi * hi + 2) * m1))
    f = mpmath.erf(a.v)
    g = c * mpmath.exp(-a.v * a.v)
    tm = max(t, mpf(0))
    hi = abs(a.v) + a.e
    m1 = c * mpmath.exp(-tm * tm) * (1 + 8 * _U[0])
    return _apply(a, (f, g, -2 * a.v * g), _fn_err(f, g, 2 * a.v * g), (m1, 2 * hi * m1, (4 * hi * hi + 2) * m1))


def _tanh(a: Jet) -> Jet:
    t = abs(a.v) - a.e
    if t > Z0 / 2:  # 1 - tanh(t) and sech²(t) are below 4e^(-2t)
        b = 4 * _mag_bound(-2 * t)
        return _apply(a, (mpmath.sign(a.v), mpf(0), mpf(0)), (b, b, 2 * b), (b, 2 * b, 4 * b))
    f = mpmath.tanh(a.v)
    g = mpmath.sech(a.v) ** 2
    m1 = mpmath.sech(max(t, mpf(0))) ** 2 * (1 + 8 * _U[0])
    return _apply(a, (f, g, -2 * f * g), _fn_err(f, g, 2 * f * g), (m1, 2 * m1, 4 * m1))


def _sin(a: Jet) -> Jet:
    f, g = mpmath.sin(a.v), mpmath.cos(a.v)
    return _apply(a, (f, g, -f), _fn_err(f, g, f), tuple(min(mpf(1), abs(v) + a.e) for v in (g, f, g)))


def _cos(a: Jet) -> Jet:
    f, g = mpmath.cos(a.v), mpmath.sin(a.v)
    return _apply(a, (f, -g, -f), _fn_err(f, g, f), tuple(min(mpf(1), abs(v) + a.e) for v in (g, f, g)))


def _power(a: Jet, k) -> Jet:
    """a^k for a rational k (a > 0 unless k is an integer, which goes through products)."""
    if k.is_Integer:
        n = int(k)
        if n == 0:
            return Jet.const(mpf(1), True, len(a.d))
        r = a
        for _ in range(abs(n) - 1):
            r = _mul(r, a)
        return r if n > 0 else _reciprocal(r)
    kk = mpf(k.p) / k.q
    lo, hi = a.v - a.e, a.v + a.e
    if not lo > 0:
        raise _NeedPrecision if a.v > 0 else ValueError("fractional power of a non-positive number")
    f = a.v ** kk
    f1, f2 = kk * a.v ** (kk - 1), kk * (kk - 1) * a.v ** (kk - 2)
    m = tuple(abs(c) * max(lo ** (kk - j), hi ** (kk - j)) for j, c in
              ((1, kk), (2, kk * (kk - 1)), (3, kk * (kk - 1) * (kk - 2))))
    return _apply(a, (f, f1, f2), _fn_err(f, f1, f2), m)


def _reciprocal(a: Jet) -> Jet:
    lo = abs(a.v) - a.e
    if not lo > 0:
        raise _NeedPrecision if a.v != 0 else ZeroDivisionError("division by zero in the definition")
    f = 1 / a.v
    return _apply(a, (f, -f * f, 2 * f ** 3), _fn_err(f, f * f, 2 * f ** 3), (1 / lo ** 2, 2 / lo ** 3, 6 / lo ** 4))


class _NeedPrecision(Exception):
    """An interval reached a decision point (a comparison, a pole, a log's domain) undecided."""


def _cosh(a: Jet) -> Jet:
    f, g = mpmath.cosh(a.v), mpmath.sinh(a.v)
    m = mpmath.cosh(abs(a.v) + a.e) * (1 + 8 * _U[0])  # bounds |cosh| and |sinh| over the interval
    return _apply(a, (f, g, f), _fn_err(f, g, f), (m, m, m))


def _atan(a: Jet) -> Jet:
    v = a.v
    tm = max(abs(v) - a.e, mpf(0))
    f, g = mpmath.atan(v), 1 / (1 + v * v)
    # the second derivative 2|t|/(1 + t²)² is at most 3√3/8 and the third |6t² - 2|/(1 + t²)³ at most 2
    return _apply(a, (f, g, -2 * v * g * g), _fn_err(f, g, 2 * v * g * g), (1 / (1 + tm * tm), mpf(0.65), mpf(2)))


def _asinh(a: Jet) -> Jet:
    v = a.v
    tm = max(abs(v) - a.e, mpf(0))
    f, g = mpmath.asinh(v), 1 / mpmath.sqrt(1 + v * v)
    # the second derivative |t|/(1 + t²)^(3/2) is at most 2/(3√3), the third |2t² - 1|/(1 + t²)^(5/2) at most 1
    return _apply(a, (f, g, -v * g ** 3), _fn_err(f, g, v * g ** 3), (1 / mpmath.sqrt(1 + tm * tm), mpf(0.39), mpf(1)))


_FUNCS = {sp.exp: _exp, sp.log: _log, sp.erf: _erf, sp.tanh: _tanh, sp.sin: _sin, sp.cos: _cos, sp.cosh: _cosh,
          sp.atan: _atan, sp.asinh: _asinh}


def _compare(rel, lhs: Jet, rhs: Jet) -> bool:
    if mpmath.isinf(lhs.v) or mpmath.isinf(rhs.v):
        diff = lhs.v - rhs.v
    else:
        diff = lhs.v - rhs.v
        err = lhs.e + rhs.e
        if diff == 0 and err == 0:
            diff = mpf(0)
        elif abs(diff) <= err:
            raise _NeedPrecision
    return {"<": diff < 0, "<=": diff <= 0, ">": diff > 0, ">=": diff >= 0, "==": diff == 0, "!=": diff != 0}[rel]


class _Node:
    """A SymPy expression compiled once (per Definition) into a DAG the evaluator walks quickly."""

    __slots__ = ("op", "args", "data")

    def __init__(self, op, args=(), data=None):
        self.op, self.args, self.data = op, args, data


def _compile(expr):
    """SymPy expression (or condition) → _Node DAG; shared subexpressions become shared nodes."""
    seen = {}

    def c(e):
        if e in seen:
            return seen[e]
        r = _c(e)
        seen[e] = r
        return r

    def _c(e):
        if e is sp.true or e is sp.false:
            return _Node("bool", data=bool(e))
        if isinstance(e, (sp.And, sp.Or)):
            return _Node("and" if isinstance(e, sp.And) else "or", tuple(c(a) for a in e.args))
        if isinstance(e, sp.Not):
            return _Node("not", (c(e.args[0]),))
        if isinstance(e, sp.core.relational.Relational):
            return _Node("rel", (c(e.lhs), c(e.rhs)), e.rel_op)
        if e.is_Symbol:
            return _Node("sym", data=e.name)
        if e.is_Integer:
            return _Node("const", data=(lambda v=int(e): mpf(v), True))
        if e.is_Rational:  # exact when the denominator is a power of two
            return _Node("const", data=(lambda p=e.p, q=e.q: mpf(p) / q, (e.q & (e.q - 1)) == 0))
        if e.is_Float:
            return _Node("const", data=(lambda m=e._mpf_: +mpf(m), False))
        if e is sp.S.Infinity or e is sp.S.NegativeInfinity:
            return _Node("const", data=(lambda v=e is sp.S.Infinity: mpmath.inf if v else -mpmath.inf, True))
        if isinstance(e, sp.NumberSymbol):
            return _Node("const", data=(lambda v=e: mpf(v.evalf(mpmath.mp.dps + 10)), False))
        if isinstance(e, sp.Add):
            return _Node("add", tuple(c(a) for a in e.args))
        if isinstance(e, sp.Mul):
            num = [a for a in e.args if not (isinstance(a, sp.Pow) and a.exp.is_negative)]
            den = [a.base ** -a.exp for a in e.args if isinstance(a, sp.Pow) and a.exp.is_negative]
            return _Node("mul", tuple(c(a) for a in num), c(sp.Mul(*den)) if den else None)
        if isinstance(e, sp.Pow):
            return _Node("pow", (c(e.base),), e.exp)
        if isinstance(e, sp.Piecewise):
            return _Node("pw", tuple((c(b), c(cond)) for b, cond in e.args))
        fn = _FUNCS.get(type(e))
        if fn is None:
            raise NotImplementedError(f"reference: no mpmath AD rule for {type(e).__name__}")
        return _Node("fn", (c(e.args[0]),), fn)

    return c(sp.sympify(expr))


def _evaluate(node: _Node, env: dict, n: int) -> Jet:
    """The compiled expression as a Jet, with ``env`` mapping each symbol's name to its Jet. Only the
    branch of a Piecewise whose condition holds is evaluated."""
    memo = {}

    def ev(nd):
        r = memo.get(id(nd))
        if r is None:
            r = memo[id(nd)] = _ev(nd)
        return r

    def cond(nd):
        op = nd.op
        if op == "bool":
            return nd.data
        if op == "and":
            return all(cond(a) for a in nd.args)
        if op == "or":
            return any(cond(a) for a in nd.args)
        if op == "not":
            return not cond(nd.args[0])
        return _compare(nd.data, ev(nd.args[0]), ev(nd.args[1]))

    def _ev(nd):
        op = nd.op
        if op == "sym":
            return env[nd.data]
        if op == "const":
            make, exact = nd.data
            return Jet.const(make(), exact, n)
        if op == "add":
            r = ev(nd.args[0])
            for a in nd.args[1:]:
                r = _add(r, ev(a))
            return r
        if op == "mul":
            r = None
            for a in nd.args:
                j = ev(a)
                if a.op == "const" and j.v == -1:
                    r = _neg(r) if r is not None else j
                    continue
                r = j if r is None else _mul(r, j)
            if r is None:
                r = Jet.const(mpf(1), True, n)
            if nd.data is not None:
                r = _mul(r, _reciprocal(ev(nd.data)))
            return r
        if op == "pow":
            return _power(ev(nd.args[0]), nd.data)
        if op == "pw":
            for branch, c in nd.args:
                if cond(c):
                    return ev(branch)
            raise ValueError("no branch of a Piecewise holds")
        if op == "fn":
            return nd.data(ev(nd.args[0]))
        raise AssertionError(op)

    return ev(node)


# ---- truths ------------------------------------------------------------------------------------------

class Truth:
    """The truth of one entry at one point, as mpf (float ±inf/nan at x = ±inf/nan): the value f, df/dx,
    dp = {param: df/dparam}, d2f = d²f/dx² and, only to size allowances (known to 2^-8),
    d2p = {param: d²f/dx dparam}."""

    __slots__ = ("f", "df", "dp", "d2f", "d2p")

    def __init__(self, f, df, dp, d2f, d2p):
        self.f, self.df, self.dp, self.d2f, self.d2p = f, df, dp, d2f, d2p


def _tolerance(v: mpf, dtype) -> mpf:
    """How well a truth must be known: 2^-20 of the dtype's spacing at v."""
    p, emin, emax = _DTYPES[dtype]
    if not mpmath.isfinite(v):
        return mpmath.inf
    e = emin if v == 0 else max(int(mpmath.mag(v)) - 1, emin)
    return mpmath.ldexp(mpf(1), e - p + 1 - 20)


def _missing_bits(v: mpf, err: mpf, dtype) -> int:
    """How many more bits of working precision v ± err needs (<= 0: settled): its error below 2^-20
    of the dtype's spacing at v, or v certainly beyond the dtype's range."""
    p, emin, emax = _DTYPES[dtype]
    if err == 0 or abs(v) - err > mpmath.ldexp(mpf(1), emax + 1):
        return 0
    tol = _tolerance(abs(v) - err if abs(v) > err else mpf(0), dtype)
    return 0 if err <= tol else int(mpmath.log(err / tol, 2)) + 1


class Definition:
    """An entry's textbook formula with its parameters bound (learnable ones kept as seeds)."""

    def __init__(self, entry, params: dict):
        self.entry = entry
        self.expr = _compile(entry.expr())
        self.params = {p.name: params.get(p.name, p.default if p.constant else p.value) for p in entry.params}
        self.learnable = [p.name for p in entry.learnable]

    def evaluate(self, x, dtype, second=True, for_output=False) -> Truth:
        """The definition at x (an exact float) to the accuracy ``dtype`` needs: value, df/dx, df/dp and
        d²f/dx² to 2^-20 ULP, the mixed d²f/dx dp to 2^-8 relative (or 2^-40 of df/dp: they only size
        allowances). ``for_output``: f also to 2^-20 ULP of df/dx (a from-output kernel's input y is
        compared with f, and y - f(x) must be known as well as f' is).
        The precision starts at 192 bits and grows by what the error bounds say is missing."""
        prec = 192
        n = 1 + len(self.learnable)
        while True:
            missing = 64
            with mpmath.workprec(prec):
                _U[0] = mpmath.ldexp(mpf(1), 1 - prec)
                try:
                    env = self._env(n)
                    env["x"] = Jet.seed(mpf(x), 0, n)
                    j = _evaluate(self.expr, env, n)
                except _NeedPrecision:
                    j = None
                if j is not None:
                    parts = [(j.v, j.e), (j.d[0], j.de[0])] + list(zip(j.d[1:], j.de[1:]))
                    missing = max(_missing_bits(v, e, dtype) for v, e in parts)
                    if for_output and j.e > _tolerance(abs(j.d[0]), dtype):
                        missing = max(missing, int(mpmath.log(j.e / _tolerance(abs(j.d[0]), dtype), 2)) + 1)
                    if second:  # d²f/dx² as well as f' (from-output truths use it); the mixed ones loosely
                        missing = max(missing, _missing_bits(j.s[0], j.se[0], dtype))
                        for si, sie, di in zip(j.s[1:], j.se[1:], j.d[1:]):
                            want = abs(si) * mpmath.ldexp(1, -8) + abs(di) * mpmath.ldexp(1, -40) \
                                + _tolerance(mpf(0), dtype)
                            missing = max(missing, 0 if sie <= want else int(mpmath.log(sie / want, 2)) + 1)
                    if missing <= 0:
                        return Truth(j.v, j.d[0], dict(zip(self.learnable, j.d[1:])), j.s[0],
                                     dict(zip(self.learnable, j.s[1:])))
            prec += max(missing + 32, prec // 4)
            if prec > 1 << 17:
                raise RuntimeError(f"{self.entry.name}: the reference did not settle at x = {x!r}")

    def _env(self, n):
        env = {}
        for p in self.entry.params:
            v = self.params[p.name]
            if p.name in self.learnable:
                env[p.name] = Jet.seed(mpf(float(v)), 1 + self.learnable.index(p.name), n)
            elif isinstance(v, (float, int)):
                env[p.name] = Jet.const(mpf(v), True, n)
            elif isinstance(v, str):  # a constant with all its digits (SELU's alpha, scale)
                env[p.name] = Jet.const(mpf(v), False, n)
            else:  # a SymPy number (a default such as 1/4 or oo)
                env[p.name] = _evaluate(_compile(v), {}, n)
        return env


# the limits at ±inf: the definition at ±2^1100 and ±2^1400, beyond every dtype's range even when
# scaled by a parameter as small as 2^-70
_FAR = (1100, 1400)


def _limit(a: mpf, b: mpf):
    """lim from two far values: ±inf if both overflow with one sign, the value if they agree, nan."""
    big = mpmath.ldexp(mpf(1), 1025)
    if abs(b) > big and abs(b) > abs(a) * 2 ** 100 and mpmath.sign(a) == mpmath.sign(b):  # grows without bound
        return math.copysign(math.inf, float(mpmath.sign(a)))
    if abs(a) > big and abs(b) > big and mpmath.sign(a) == mpmath.sign(b):
        return math.copysign(math.inf, float(mpmath.sign(a)))
    if abs(a) < mpmath.ldexp(mpf(1), -1100) and abs(b) < mpmath.ldexp(mpf(1), -1100):
        return mpf(0)
    if abs(a) < mpmath.ldexp(mpf(1), -1075) and abs(b) <= abs(a) * mpmath.ldexp(mpf(1), -200):
        return mpf(0)  # decaying like a power (squareplus ~ b/(4|x|)): below every float from 2^1100 on
    if abs(a - b) <= abs(b) * mpmath.ldexp(mpf(1), -80):
        return b
    return math.nan


@functools.lru_cache(maxsize=None)
def _sympy_limit(entry, params: tuple, sign: int):
    """lim f(x) for x → sign·∞ by SymPy, where two far values cannot tell (a growth like log x, which no
    float reaches: asinh(2^1100) ≈ 763, asinh(2^1400) ≈ 971): ±inf or an mpf, nan where SymPy finds
    none (sin at ±inf: an AccumBounds)."""
    from symact.catalog import X

    bound = dict(params)
    expr = entry.expr().subs({p.symbol: bound.get(p.name, p.value) for p in entry.params})
    try:
        v = sp.limit(expr, X, sign * sp.oo)
    except Exception:  # noqa: BLE001 - SymPy's limit raises NotImplementedError and others
        return math.nan
    if v in (sp.oo, -sp.oo):
        return math.inf if v == sp.oo else -math.inf
    if v.has(sp.AccumBounds) or not v.is_number or not (v.is_real and v.is_finite):
        return math.nan
    return mpmath.mpf(sp.Float(v, 60))


def truth(entry_name: str, params: tuple, x: float, dtype, for_output: bool = False) -> Truth:
    """The truth of catalog entry ``entry_name`` at parameters ``params`` ((name, value) pairs, values
    as the kernel receives them) and x, to ``dtype``'s needs (see :func:`truth_of`)."""
    return truth_of(_entry(entry_name), params, x, dtype, for_output)


@functools.lru_cache(maxsize=None)
def truth_of(entry, params: tuple, x: float, dtype, for_output: bool = False) -> Truth:
    """The truth of ``entry`` (a catalog Activation, the user's included) at ``params`` and x. Cached:
    every kernel of an entry (f, grad, parameter grads, fused, vjp, from-output) shares one evaluation
    per point."""
    return _truth(entry, params, x, dtype, for_output)


def _entry(name):
    from symact.catalog import get

    return get(name)


@functools.lru_cache(maxsize=None)
def _definition(entry, params: tuple) -> "Definition":
    return Definition(entry, dict(params))


def _truth(entry, params: tuple, x: float, dtype, for_output: bool = False) -> Truth:
    d = _definition(entry, params)
    if math.isnan(x):
        nan = {p: math.nan for p in d.learnable}
        return Truth(math.nan, math.nan, nan, math.nan, nan)
    if math.isinf(x):
        sign = 1 if x > 0 else -1
        a, b = (d.evaluate(sign * mpmath.ldexp(1, k), np.float64, second=False) for k in _FAR)
        f, df = _limit(a.f, b.f), _limit(a.df, b.df)
        if isinstance(f, float) and math.isnan(f):  # no verdict from two far points (asinh grows like log)
            f = _sympy_limit(entry, params, sign)
        return Truth(f, df, {p: _limit(a.dp[p], b.dp[p]) for p in d.learnable},
                     math.nan, {p: math.nan for p in d.learnable})
    return d.evaluate(x, dtype, for_output=for_output)


# ---- sweeps and parameter values ----------------------------------------------------------------------

def sweep(dtype, full: bool = True) -> np.ndarray:
    """The stress sweep in ``dtype``: 0, subnormals, tiny, dense ±[1e-8, 1e3], [-10, 10], the exp
    overflow/underflow edges of both dtypes, log-spaced from 1e3.5 up to the dtype's largest value
    with ±max, ±max/2 and powers of two around 2^20, 2^53, 2^64, kinks (0, 6), ±inf and nan.
    ``full=False``: the same kinds of points, fewer of them (the parameter sweeps)."""
    fi = np.finfo(dtype)
    big = float(fi.max)
    tiny = [float(fi.smallest_subnormal), float(fi.smallest_subnormal) * 3, float(fi.tiny) / 2, float(fi.tiny)]
    lo = -300 if dtype is np.float64 else -37
    small = np.logspace(lo, -8, 30 if full else 8)
    dense = np.logspace(-8, 3, 300 if full else 60)
    edges = [88.7, 89.0, 103.0, 104.0, 709.78, 710.0, 745.0, 746.0]
    far = np.logspace(3.5, math.log10(big) - 1e-9, 40 if full else 15)
    twos = [2.0 ** k for k in (20, 24, 53, 64, 100, 127, 500, 1000) if 2.0 ** k < big]
    twos += [np.nextafter(t, 0) for t in twos]
    tops = [big, big / 2, float(np.nextafter(fi.max, 0)), big / 3]
    grid = np.linspace(-10, 10, 201 if full else 41)
    kinks = [0.0, 6.0, 1e-7, 6 - 1e-6, 6 + 1e-6]
    pos = np.concatenate([tiny, small, dense, edges, far, twos, tops])
    xs = np.concatenate([[0.0], pos, -pos, grid, kinks, [np.inf, -np.inf, np.nan]])
    with np.errstate(over="ignore"):
        return np.unique(xs.astype(dtype))


def param_values(p) -> list[float]:
    """Values of a kernel parameter to sweep, from its catalog metadata only: the default first, then
    extreme but legal values. A ``domain`` gives its ends and middle and a small value; ``positive``:
    2^-10, and 3/2 and 2^10 times the default; ``allow_inf``: PyTorch's 20, 0 and -1 besides the
    default inf; otherwise (any real): 0, -default, 3/2, 2^-10 and 2^10 times the default. 3/2 is not a
    power of two: beta·x then rounds. All exact in float32, so both dtypes see the same values."""
    d = float(p.value)
    base = d if d not in (0.0,) and math.isfinite(d) else 1.0
    if p.allow_inf:
        vals = [d, 20.0, 0.0, -1.0]
    elif p.domain is not None:
        lo, hi = p.domain
        vals = [d, lo, hi, (lo + hi) / 2, lo + 2.0 ** -10]
    elif p.positive:
        vals = [d, 2.0 ** -10, base * 1.5, base * 2.0 ** 10]
    else:
        vals = [d, 0.0, -base, base * 1.5, base * 2.0 ** -10, base * 2.0 ** 10]
    out = []
    for v in vals:
        v = float(np.float32(v)) if math.isfinite(v) else v
        if v not in out:
            out.append(v)
    return out


def param_sets(entry) -> list[dict]:
    """The defaults, then each kernel parameter moved alone through its param_values."""
    defaults = {p.name: float(p.value) for p in entry.kernel_params}
    sets = [dict(defaults)]
    for p in entry.kernel_params:
        for v in param_values(p)[1:]:
            s = dict(defaults)
            s[p.name] = v
            sets.append(s)
    return sets


def bound_params(entry, params: dict, dtype) -> tuple:
    """(name, value) pairs as a kernel of ``dtype`` receives them (float32 rounding included)."""
    out = []
    for p in entry.kernel_params:
        v = params[p.name]
        out.append((p.name, float(dtype(v)) if math.isfinite(v) else v))
    return tuple(out)


# ---- judging a kernel ----------------------------------------------------------------------------------

def near_underflow(t, dtype) -> bool:
    fi = np.finfo(dtype)
    return abs(t) < float(fi.tiny) * 2.0 ** ((fi.nmant + 1) // 2)


def measure(d, kernel: str, dtype, kernels):
    """For tests/test_userspec.py: a derived entry's kernel (user-defined ones too) judged exactly as the
    catalog's are (tests/accuracy.py), over the full sweep at its defaults and the short one at every
    other parameter value. Returns (max ULP at the defaults, where, the failures)."""
    from accuracy import entry_kernels, measure_kernel

    kind = dict(entry_kernels(d, [k.name for k in d.kernels]))[kernel]
    res = measure_kernel(d, kernel, kind, dtype, kernels)
    return res.default[0], res.default[1], res.failures
