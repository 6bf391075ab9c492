"""Derive vector functions with a symbolic class count K, and check them at K = 2, 3, 4.

``diff`` of a row Sum by x[i] leaves Sum(f(k)·δ(i, k)) — or, after ``doit``, a Piecewise on
i <= K − 1; :func:`reduce_deltas` collapses Σ_k f(k)·δ(a, k) to f(a) (a is a valid row index by
construction) and splits Sums over sums in their body only where a delta sits, so Σ(a − p)² is
never expanded. The vector-Jacobian product Σ_j g_j ∂y_j/∂x_i, what backprop needs, is derived the
same way. Every general-K result is compared with plain differentiation of the explicit K = 2, 3, 4
formulas (the layout's sizes: K = 2, 4, 6 for halves) — symbolic, at every index — so a wrong reduction
cannot pass.

A layout in blocks (glu: y_j = x_j·σ(x_{j+K/2})) is derived with one IndexedBase per block, so that
∂x_{j+K/2}/∂x_i is δ(i, j) of the second block's own index and never a delta that reduce_deltas would
take at an index outside the row; the vjp is then one expression per block (:class:`Blocks`).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

import random

from ..verify.prove import ProofFailure
from ..catalog.vectors import Blocks, K, RowArgMax, RowMax, VectorFunction, g, i, j, k, x


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
    jacobian: sp.Expr       # ∂y_j/∂x_i (∂y/∂x_i for scalar functions; Blocks per block for a layout in blocks)
    vjp: sp.Expr            # Σ_j g_j ∂y_j/∂x_i (g·∂y/∂x_i for scalar functions, g a row scalar; or Blocks)
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
                    raise ProofFailure(fn.name, f"d/dx_{a} at K={n}: {direct} != {general}")
        checked[n] = "ok (numeric, 20 points without ties)"
    return checked


def _derive_blocks(fn: VectorFunction) -> DerivedVector:
    """A layout in blocks (see the module docstring): K = parts·H, x[m + p·H] → block p's m-th element,
    derived per block, and written back in x and K."""
    parts = fn.layout.parts
    H = sp.Symbol("H", integer=True, positive=True)
    blocks = [sp.IndexedBase(f"{x.name}_block{p}", real=True) for p in range(parts)]
    y = fn.expr(j)
    if y.has(sp.Sum, RowMax):
        raise NotImplementedError(f"{fn.name}: the {fn.layout.name} layout reads its blocks element by "
                                  "element; a sum or max over the row is not supported with it")

    def to_block(e):
        idx = sp.expand(e.indices[0])
        p = idx.coeff(H)
        if not (p.is_Integer and 0 <= p < parts) or (idx - p * H).has(H):
            raise NotImplementedError(f"{fn.name}: x[{e.indices[0]}] is not an element of one of the "
                                      f"{parts} blocks of the {fn.layout.name} layout")
        return blocks[int(p)][idx - p * H]

    def back(e):
        e = e.replace(lambda q: isinstance(q, sp.Indexed) and q.base in blocks,
                      lambda q: x[q.indices[0] + blocks.index(q.base) * H])
        return e.subs(H, K / parts)

    yb = y.subs(K, parts * H).replace(lambda q: isinstance(q, sp.Indexed) and q.base == x, to_block)
    jac = Blocks(*[back(reduce_deltas(sp.diff(yb, b[i]))) for b in blocks])
    vjp = Blocks(*[back(reduce_deltas(sp.Sum(g[j] * sp.diff(yb, b[i]), (j, 0, H - 1)))) for b in blocks])
    checked = {}
    for n in fn.layout.sizes:
        rows, m = [x[a] for a in range(n)], fn.layout.outputs(n)
        outs = [_explicit(fn.expr(b), n) for b in range(m)]
        for a in range(n):
            p, at = divmod(a, m)
            for b in range(m):
                direct = sp.diff(outs[b], rows[a])
                general = _explicit(jac.args[p].subs({i: at, j: b}), n)
                if sp.simplify(direct - general) != 0:
                    raise ProofFailure(fn.name, f"d y_{b}/d x_{a} at K={n}: {direct} != {general}")
            direct_vjp = sum(g[b] * sp.diff(outs[b], rows[a]) for b in range(m))
            general_vjp = _explicit(vjp.args[p].subs(i, at), n)
            if sp.simplify(direct_vjp - general_vjp) != 0:
                raise ProofFailure(fn.name, f"vjp_{a} at K={n}: {direct_vjp} != {general_vjp}")
        checked[n] = "ok"
    return DerivedVector(fn, y, jac, vjp, checked)


def derive_vector(fn: VectorFunction) -> DerivedVector:
    if fn.layout.parts > 1:
        return _derive_blocks(fn)
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
    for n in fn.layout.sizes:
        rows = [x[m] for m in range(n)]
        for a in range(n):
            for b in range(1 if fn.scalar else n):
                direct = sp.diff(_explicit(fn.expr(b), n), rows[a])
                general = _explicit(jac.subs({i: a, j: b}), n)
                if sp.simplify(sp.expand_log(sp.cancel(direct - general), force=True)) != 0:
                    raise ProofFailure(fn.name, f"d y_{b}/d x_{a} at K={n}: {direct} != {general}")
            if not fn.scalar:
                direct_vjp = sum(g[b] * sp.diff(_explicit(fn.expr(b), n), rows[a]) for b in range(n))
                general_vjp = _explicit(vjp.subs(i, a), n)
                if sp.simplify(sp.cancel(direct_vjp - general_vjp)) != 0:
                    raise ProofFailure(fn.name, f"vjp_{a} at K={n}: {direct_vjp} != {general_vjp}")
        checked[n] = "ok"
    return DerivedVector(fn, y, jac, vjp, checked)
