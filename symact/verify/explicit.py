"""The explicit-K cross-check: one check for everything derived with a symbolic row length K.

Vector functions and row losses are derived once, for a symbolic K, with Kronecker deltas reduced
(:func:`symact.derive.vector.reduce_deltas`). A wrong reduction would still look plausible, so every
such result is compared here with plain differentiation of the same formula written out at small
explicit K — every output index, every row element and (row losses) every class label — by one loop
(:func:`cross_check`) and one comparison (:func:`same`). A difference is a :class:`ProofFailure`,
which ``generate`` collects and reports like any failed proof.

A vector-Jacobian product is checked as what it is, the gradient of the scalar Σ_j g_j·y_j; a max over
the row (maxout) is written out as Max of the explicit elements, and its routed derivative δ(i, argmax)
as :class:`ArgMax` of them, so the same loop covers it. The row rewrites' proofs
(``stabilize.rowwise.prove_row``) instantiate through :func:`instantiate` and :func:`cases` too.
"""
from __future__ import annotations

import random

import mpmath
import sympy as sp

from ..catalog.vectors import K, RowArgMax, RowMax, k
from ..primitives import to_textbook
from .prove import ProofFailure

SIZES = (2, 3, 4)   # the explicit row lengths, unless a layout names its own (glu's halves: 2, 4, 6)
POINTS = 12         # random points of the numeric comparison
DIGITS = 40         # its working precision; a difference above 10^-(DIGITS-10) relative is a counterexample


class ArgMax(sp.Function):
    """The first index of the largest argument: a routed max's δ(i, argmax) at explicit K."""

    def _eval_is_integer(self):
        return True


def instantiate(expr: sp.Expr, n: int, at: dict | None = None) -> sp.Expr:
    """``expr`` at K = n, with ``at`` (indices, label) substituted and the row max and argmax written out
    over the n elements."""
    if at:
        expr = expr.subs(at)
    expr = expr.replace(lambda e: isinstance(e, RowMax),
                        lambda e: sp.Max(*[e.args[0].subs(k, m) for m in range(n)]))
    expr = expr.replace(lambda e: isinstance(e, RowArgMax),
                        lambda e: ArgMax(*[e.args[0].subs(k, m) for m in range(n)]))
    return expr.subs(K, n).doit()


def plain(expr: sp.Expr, n: int) -> tuple[sp.Expr, dict]:
    """Indexed elements at explicit K become plain symbols (x[0] → x_0, …; class weights positive)."""
    from ..catalog.row_losses import w

    table = {}
    for base in {a.base for a in expr.atoms(sp.Indexed)}:
        for m in range(n):
            table[base[m]] = sp.Symbol(f"{base.name}_{m}", **({"positive": True} if base == w else {"real": True}))
    return expr.subs(table), table


def cases(sizes, labelled: bool, positions=lambda n: [None]):
    """(n, label, position) for every explicit row length, class label (labelled losses) and position."""
    for n in sizes:
        for label in (range(n) if labelled else [None]):
            for pos in positions(n):
                yield n, label, pos


def _first_argmax(*values):
    return max(range(len(values)), key=lambda m: (values[m], -m))


_MPMATH = {
    "Ramp": lambda z: max(z, 0), "Step": lambda z: mpmath.mpf(1) if z > 0 else mpmath.mpf(0),
    "XLogX": lambda z: 0 if z == 0 else z * mpmath.log(z), "sign": mpmath.sign,
    "Heaviside": lambda z, *h: mpmath.mpf(1) if z > 0 else mpmath.mpf(0) if z < 0 else mpmath.mpf(0.5),
    "KroneckerDelta": lambda a, b: 1 if a == b else 0, "ArgMax": _first_argmax,
}


def same(a: sp.Expr, b: sp.Expr, seed: int) -> str | None:
    """How a == b was shown — 'structural' (equal after expansion) or 'numeric' (equal to DIGITS − 10
    digits at POINTS random points, mpmath at DIGITS digits) — or None: they differ. Deterministic
    (seeded, no time budget), so the method text in generated/ never depends on machine load. Points
    are in (0.05, 2) (no ties for a max, inside every log's domain); a ±1 target s is ±1."""
    from ..catalog.row_losses import s

    d = a - b
    if d == 0 or sp.expand(d) == 0:
        return "structural"
    a, b = to_textbook(a), to_textbook(b)
    free = sorted(a.free_symbols | b.free_symbols, key=lambda v: v.name)
    fa = sp.lambdify(free, a, modules=[_MPMATH, "mpmath"])
    fb = sp.lambdify(free, b, modules=[_MPMATH, "mpmath"])
    rng = random.Random(seed)
    with mpmath.workdps(DIGITS):
        for _ in range(POINTS):
            point = [mpmath.mpf(rng.choice((1, -1)) if v == s else rng.uniform(0.05, 2.0)) for v in free]
            u, v = fa(*point), fb(*point)
            if abs(u - v) > mpmath.mpf(10) ** (-(DIGITS - 10)) * max(1, abs(u), abs(v)):
                return None
    return "numeric"


def cross_check(name: str, what: str, direct, general, sizes=SIZES, labelled: bool = False,
                outputs=lambda n: [None]) -> str:
    """Check a general-K gradient against plain differentiation at every explicit K in ``sizes``.

    ``direct(n, label, out)`` gives (the scalar at K = n — the loss, output component ``out``, or
    Σ g·y for a vjp —, the row elements it is differentiated by); ``general(n, label, a, out)`` the
    general-K result at element a, instantiated at K = n. Returns how it was shown; raises
    :class:`ProofFailure` naming the first case that differs."""
    methods = set()
    for n, label, out in cases(sizes, labelled, outputs):
        scalar, rows = direct(n, label, out)
        for a, row in enumerate(rows):
            want, got = sp.diff(scalar, row), general(n, label, a, out)
            p, table = plain(want, n)
            q, _ = plain(sp.sympify(got).subs(table), n)
            how = same(p, q, seed=1000 * n + 100 * (label or 0) + a)
            if how is None:
                where = f"{what}, d/d{row}" + ("" if out is None else f" of output {out}") + \
                        ("" if label is None else f", label {label}")
                raise ProofFailure(name, f"{where} at K={n}: {want} != {got}")
            methods.add(how)
    where = "every index and label" if labelled else "every index"
    return f"K = {', '.join(map(str, sizes))} at {where}: {', '.join(sorted(methods))}"


__all__ = ["SIZES", "ArgMax", "instantiate", "plain", "cases", "same", "cross_check"]
