"""Derive vector functions with a symbolic class count K, and check them at K = 2, 3, 4.

``diff`` of a row Sum by x[i] leaves Sum(f(k)·δ(i, k)) — or, after ``doit``, a Piecewise on
i <= K − 1; :func:`reduce_deltas` collapses Σ_k f(k)·δ(a, k) to f(a) (a is a valid row index by
construction) and splits Sums over sums in their body only where a delta sits, so Σ(a − p)² is
never expanded. The vector-Jacobian product Σ_j g_j ∂y_j/∂x_i, what backprop needs, is derived the
same way. Every general-K result is compared with plain differentiation of the explicit K = 2, 3, 4
formulas (the layout's sizes: K = 2, 4, 6 for halves), at every index, by the one explicit-K check
(:mod:`symact.verify.explicit`), so a wrong reduction cannot pass.

A layout in blocks (glu: y_j = x_j·σ(x_{j+K/2})) is derived with one IndexedBase per block, so that
∂x_{j+K/2}/∂x_i is δ(i, j) of the second block's own index and never a delta that reduce_deltas would
take at an index outside the row; the vjp is then one expression per block (:class:`Blocks`).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..catalog.vectors import Blocks, K, RowMax, VectorFunction, g, i, j, x
from ..verify.explicit import cross_check, instantiate


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
    checked: str            # how the explicit cross-check (verify.explicit) showed jacobian and vjp


def _blocks(fn: VectorFunction) -> tuple[sp.Expr, sp.Expr]:
    """A layout in blocks (see the module docstring): K = parts·H, x[m + p·H] → block p's m-th element,
    derived per block, and written back in x and K: (jacobian, vjp), each Blocks."""
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
    return jac, vjp


def derive_vector(fn: VectorFunction) -> DerivedVector:
    """The Jacobian and vjp of a vector function at symbolic K, cross-checked (:func:`check`)."""
    y = fn.expr(j)
    if fn.layout.parts > 1:
        jac, vjp = _blocks(fn)
    else:
        jac = reduce_deltas(sp.diff(y, x[i]))
        vjp = G * jac if fn.scalar else reduce_deltas(sp.Sum(g[j] * jac, (j, 0, K - 1)))
    return DerivedVector(fn, y, jac, vjp, check(fn, jac, vjp))


G = sp.Symbol("g", real=True)  # a scalar function's upstream gradient: one per row


def check(fn: VectorFunction, jac: sp.Expr, vjp: sp.Expr) -> str:
    """A general-K Jacobian and vjp against plain differentiation at the layout's explicit sizes
    (:func:`symact.verify.explicit.cross_check`): the Jacobian output by output, the vjp as the gradient
    of Σ_j g_j·y_j (g·y for a scalar function). Returns how; raises ProofFailure where they differ."""
    layout = fn.layout

    def at(expr, n, a, out=None):  # the general result at row element a (block a // (n/parts) for Blocks)
        if isinstance(expr, Blocks):
            p, a = divmod(a, layout.outputs(n))
            expr = expr.args[p]
        return instantiate(expr, n, {i: a} | ({} if out is None else {j: out}))

    def outputs(n):
        return [None] if fn.scalar else range(layout.outputs(n))

    def value(n, out):
        return instantiate(fn.expr(0 if out is None else out), n)

    def rows(n):
        return [x[m] for m in range(n)]

    def weighted(n):  # Σ_j g_j·y_j: its gradient is the vjp
        return G * value(n, None) if fn.scalar else sum(g[b] * value(n, b) for b in outputs(n))

    jac_how = cross_check(fn.name, "jacobian", lambda n, label, out: (value(n, out), rows(n)),
                          lambda n, label, a, out: at(jac, n, a, out), layout.sizes, outputs=outputs)
    vjp_how = cross_check(fn.name, "vjp", lambda n, label, out: (weighted(n), rows(n)),
                          lambda n, label, a, out: at(vjp, n, a), layout.sizes)
    where, _, jac_method = jac_how.partition(": ")
    return f"{where}: jacobian {jac_method}, vjp {vjp_how.partition(': ')[2]}"
