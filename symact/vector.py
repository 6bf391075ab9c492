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

from .catalog.vectors import K, VectorFunction, g, i, j, k, x


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


def derive_vector(fn: VectorFunction) -> DerivedVector:
    y = fn.expr(j)
    jac = reduce_deltas(sp.diff(y, x[i]))
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
