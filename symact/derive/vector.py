"""Derive vector functions with a symbolic class count K, and check them at K = 2, 3, 4.

``diff`` of a row Sum by x[i] leaves Sum(f(k)·δ(i, k)) — or, after ``doit``, a Piecewise on
i <= K − 1; :func:`reduce_deltas` collapses Σ_k f(k)·δ(a, k) to f(a) (a is a valid row index by
construction) and splits Sums over sums in their body only where a delta sits, so Σ(a − p)² is
never expanded. The vector-Jacobian product Σ_j g_j ∂y_j/∂x_i, what backprop needs, is derived the
same way. Every general-K result is compared with plain differentiation of the explicit K = 2, 3, 4
formulas — symbolic, at every index — so a wrong reduction cannot pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

import random

from ..catalog.vectors import K, RowArgMax, RowMax, VectorFunction, g, i, j, k, x


def reduce_deltas(expr: sp.Expr) -> sp.Expr:
    """Σ_k f(k)·δ(a, k) → f(a); Σ over an Add with deltas is split first."""

    def step(s):
        body, (var, lo, hi) = s.function, s.limits[0]
        if not body.has(sp.KroneckerDelta):
            return s
        body = sp.expand_mul(body)  # only bodies holding a delta are expanded
        if isinstance(body, sp.Add):
            return sp.Add(*[step(sp.Sum(t, (var, lo, hi))) for t in body.args])
        factors = sp.Mul.make_args(body)
        for f in factors:
            if isinstance(f, sp.KroneckerDelta) and var in f.free_symbols:
                other = f.args[0] if f.args[1] == var else f.args[1]
                return sp.Mul(*[h for h in factors if h is not f]).subs(var, other)
        outside = [f for f in factors if var not in f.free_symbols and f.has(sp.KroneckerDelta)]
        if outside:  # a delta of other indices: out of this sum, so an enclosing sum can reduce it
            return sp.Mul(*outside) * sp.Sum(sp.Mul(*[f for f in factors if f not in outside]), (var, lo, hi))
        return s

    prev = None
    while prev != expr:
        prev, expr = expr, expr.replace(lambda e: isinstance(e, sp.Sum), step)
    return expr


@dataclass
class DerivedVector:
    fn: VectorFunction
    value: sp.Expr          # y_j (or the scalar)
    jacobian: sp.Expr       # ∂y_j/∂x_i (∂y/∂x_i for scalar functions)
    vjp: sp.Expr            # Σ_j g_j ∂y_j/∂x_i (g·∂y/∂x_i for scalar functions, g a row scalar)
    checked: dict           # K → "ok" for the explicit cross-checks


def _explicit(expr: sp.Expr, n: int) -> sp.Expr:
    return expr.subs(K, n).doit()


def _check_routed(fn: VectorFunction, jac: sp.Expr) -> dict:
    """A max's routed derivative δ(i, argmax) against d/dx_a of the explicit Max(x_0, …) (SymPy's
    Heaviside form) at random points without ties, K = 2, 3, 4."""
    rng = random.Random(0)
    checked = {}
    for n in (2, 3, 4):
        rows = [x[m] for m in range(n)]
        explicit = fn.expr(0).replace(lambda e: isinstance(e, RowMax),
                                      lambda e: sp.Max(*[e.args[0].subs(k, m) for m in range(n)]))
        for _ in range(20):
            point = {r: sp.Float(rng.uniform(-5, 5), 30) for r in rows}
            winner = max(range(n), key=lambda m: point[rows[m]])
            for a in range(n):
                direct = sp.diff(explicit, rows[a]).subs(point).rewrite(sp.Piecewise).doit()
                general = jac.subs(i, a).replace(lambda e: isinstance(e, RowArgMax), lambda e: winner)
                if sp.N(direct - sp.sympify(general).doit(), 20) != 0:
                    raise AssertionError(f"{fn.name}: d/dx_{a} at K={n}: {direct} != {general}")
        checked[n] = "ok (numeric, 20 points without ties)"
    return checked


def derive_vector(fn: VectorFunction) -> DerivedVector:
    y = fn.expr(j)
    jac = reduce_deltas(sp.diff(y, x[i]))
    if y.has(RowMax):  # maxout: a routed subgradient, checked against the explicit Max
        gs = sp.Symbol("g", real=True)
        return DerivedVector(fn, y, jac, gs * jac, _check_routed(fn, jac))
    if fn.scalar:
        gs = sp.Symbol("g", real=True)
        vjp = gs * jac
    else:
        vjp = reduce_deltas(sp.Sum(g[j] * jac, (j, 0, K - 1)))
    checked = {}
    for n in (2, 3, 4):
        rows = [x[m] for m in range(n)]
        for a in range(n):
            for b in range(1 if fn.scalar else n):
                direct = sp.diff(_explicit(fn.expr(b), n), rows[a])
                general = _explicit(jac.subs({i: a, j: b}), n)
                if sp.simplify(sp.expand_log(sp.cancel(direct - general), force=True)) != 0:
                    raise AssertionError(f"{fn.name}: d y_{b}/d x_{a} at K={n}: {direct} != {general}")
            if not fn.scalar:
                direct_vjp = sum(g[b] * sp.diff(_explicit(fn.expr(b), n), rows[a]) for b in range(n))
                general_vjp = _explicit(vjp.subs(i, a), n)
                if sp.simplify(sp.cancel(direct_vjp - general_vjp)) != 0:
                    raise AssertionError(f"{fn.name}: vjp_{a} at K={n}: {direct_vjp} != {general_vjp}")
        checked[n] = "ok"
    return DerivedVector(fn, y, jac, vjp, checked)
