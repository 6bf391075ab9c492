"""Derivatives from the output: find g with f'(x) = g(f(x)), prove it, and measure what it costs.

Backprop often keeps only y = f(x); g lets the backward pass use it (sigmoid: y(1 - y), tanh:
1 - y², ELU: y + alpha on the negative branch). Per Piecewise branch y = f_i(x) is solved for x,
f_i' is rewritten in y, and each x-condition becomes a y-condition through the branch's
monotonicity. The assembled g is proven: g(f(x)) == f'(x). Entries with no closed-form inverse
(SiLU needs LambertW, GELU, sine is not injective) get none, with the reason.

The price is measured, not assumed: where the output saturates, y rounds to its bound and g(y)
loses the derivative (sigmoid's y(1 - y) is 0 for x >= 17 in float32 where the truth is e^-x);
`caveat` says from which |x| on, per dtype.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import mpmath
import numpy as np
import sympy as sp

from ..catalog import X, Activation
from ..verify.prove import Proof, _Timeout, prove, time_budget

Y = sp.Symbol("y", real=True)


@dataclass
class FromOutput:
    g: Optional[sp.Expr]       # g(y), with the entry's parameters symbolic
    proof: Optional[Proof]     # g(f(x)) == f'(x)
    fixed: dict                # parameters fixed for the derivation (softplus: threshold = inf)
    reason: str = ""           # why there is no g
    caveat: str = ""           # where g(round(f(x))) loses f'(x), per dtype


def _branches(f: sp.Expr):
    f = sp.piecewise_fold(f)
    return list(f.args) if isinstance(f, sp.Piecewise) else [(f, sp.true)]


# Far above any solve that succeeds here (≤ 2.5 s on 2 loaded cores); a timeout is an error, not a
# missing kernel, so whether a from-output kernel exists never depends on machine load.
SOLVE_BUDGET = 60.0


def _mixed(e: sp.Expr) -> bool:
    """x both bare and inside a transcendental function (x·σ(x), x·Φ(x), x·tanh(x³)): the inverse is
    at best a Lambert W, never emitted, and solve can run for minutes, so it is not tried."""
    inner = [f for f in e.atoms(sp.Function) if f.has(X)]
    return bool(inner) and X in e.subs({f: sp.Dummy() for f in inner}).free_symbols


def _inverse_derivative(e: sp.Expr, d: sp.Expr, entry: Activation) -> Optional[sp.Expr]:
    """f_i'(x) written in y = f_i(x), or None."""
    if X not in d.free_symbols:
        return d
    if _mixed(e):
        return None
    try:
        with time_budget(SOLVE_BUDGET, fallback=False):
            sols = sp.solve(sp.Eq(Y, e), X)
    except _Timeout:
        raise RuntimeError(f"solving y = {e} for x took over {SOLVE_BUDGET} s") from None
    except Exception:  # noqa: BLE001 - SymPy finds no inverse in closed form
        return None
    for sol in sols:
        if sol.has(sp.LambertW, sp.I) or X in sol.free_symbols:
            continue
        g = sp.simplify(d.subs(X, sol))
        if X not in g.free_symbols and not g.has(sp.I):
            return g
    return None


def _y_condition(cond, e: sp.Expr, d: sp.Expr, defaults: dict):
    """Map a condition on x to one on y through the monotone branch y = e(x)."""
    if cond is sp.true:
        return sp.true
    if not isinstance(cond, sp.Rel):
        return None
    try:
        (k,) = sp.solve(sp.Eq(cond.lhs, cond.rhs), X)
    except (ValueError, NotImplementedError):
        return None
    slope_of_cond = sp.diff(cond.lhs - cond.rhs, X).subs(defaults)
    side = 1 if cond.subs({X: k + 1, **defaults}) == sp.true else -1  # which side of k holds
    if slope_of_cond == 0:
        return None
    probe = (k + side).subs(defaults)
    slope = d.subs(defaults).subs(X, probe)
    yk = e.subs(X, k)
    strict = isinstance(cond, (sp.StrictGreaterThan, sp.StrictLessThan))
    if slope == 0:  # constant branch (relu6's 0 and 6): y sits at its value, on the condition's side
        return Y <= yk if side < 0 else Y >= yk
    up = (slope > 0) == (side > 0)  # y grows into the branch
    if strict:
        return Y > yk if up else Y < yk
    return Y >= yk if up else Y <= yk


def _caveat(f: sp.Expr, df: sp.Expr, g: sp.Expr, defaults: dict) -> str:
    """From which |x| on does g(round(f(x))) lose more than half the digits of f'(x)?"""
    fl = sp.lambdify([X], f.subs(defaults), modules="mpmath")
    dl = sp.lambdify([X], df.subs(defaults), modules="mpmath")
    gl = sp.lambdify([Y], g.subs(defaults), modules="mpmath")
    notes = []
    for dtype, name in ((np.float32, "float32"), (np.float64, "float64")):
        worst = None
        for sign in (1, -1):
            for ax in np.round(np.arange(0.5, 60.0, 0.5), 1):
                xv = sign * float(ax)
                with mpmath.workdps(120):
                    truth = dl(mpmath.mpf(xv))
                    y = mpmath.mpf(float(dtype(float(fl(mpmath.mpf(xv))))))
                    try:
                        got = gl(y)
                    except (ZeroDivisionError, ValueError):
                        got = mpmath.nan
                    if truth == 0:
                        continue
                    rel = abs(got - truth) / abs(truth)
                if not rel < 10 ** -(np.finfo(dtype).precision // 2):
                    worst = xv if worst is None or abs(xv) < abs(worst) else worst
                    break
        notes.append(f"{name}: " + ("no loss for |x| < 60" if worst is None else
                                    f"g(f(x)) loses f'(x) from x = {worst:g} on (use the input form)"))
    return "; ".join(notes)


def derive_from_output(entry: Activation, f: sp.Expr) -> FromOutput:
    fixed = {p.symbol: p.value for p in entry.params if p.allow_inf}
    f = f.subs(fixed)
    defaults = {p.symbol: p.value for p in entry.params}
    pieces = []
    for e, cond in _branches(f):
        d = sp.diff(e, X)
        g = _inverse_derivative(e, d, entry)
        if g is None:
            return FromOutput(None, None, fixed, reason=f"y = {e} has no closed-form inverse for x")
        try:
            ycond = _y_condition(cond, e, d, defaults)
        except TypeError:  # a comparison SymPy cannot decide (complex slope): no monotone branch
            ycond = None
        if ycond is None:
            return FromOutput(None, None, fixed, reason=f"cannot map the condition {cond} to y")
        pieces.append((g, ycond))
    g = pieces[0][0] if len(pieces) == 1 else sp.Piecewise(*pieces)
    df = sp.diff(f, X)
    proof = prove(g.subs(Y, f), df, f"{entry.name}_grad_from_output: g(f(x)) = f'(x)", X, entry.domains())
    if not proof.ok:
        return FromOutput(None, proof, fixed, reason=f"g = {g} does not verify: {proof.method}")
    return FromOutput(g, proof, fixed, caveat=_caveat(f, df, g, defaults))
