"""Row-wise kernels for vector functions: max-shift stabilization, proofs at explicit K, lowering.

Stabilize (the seeds' "log C" trick, with C = e^(-max)): every e^{a(x_·)} of a function built on a
row sum Σ_k e^{a(x_k)} is shifted by M = max_k a(x_k) — represented by opaque row primitives so SymPy
cannot undo it — and log Σ_k e^{a_k} becomes M + log1p(Σ_{k ≠ argmax} e^{a_k − M}), which keeps
log_softmax([100, 0, 0])_0 = −7.4e−44 instead of 0. Each stable form is proven equal to the derived
one at K = 2, 3, 4.

Lower: row reductions (max, the log1p rest, sums) become loops over the row in dependency order;
factors of a sum that do not depend on its index are pulled out, so every sum is computed once per
row; the output is one loop over the row.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..cache import cached
from ..catalog.vectors import FULL, Blocks, K, RowArgMax, RowMax, k, x
from ..codegen.numba import FUNCTIONS, NumbaPrinter, fold_constants, transcendental
from ..verify import explicit
from ..verify.prove import Proof, ProofFailure, prove
from .rowscale import RowScale, Scaled, scale_norms


class RowLog1pRest(sp.Function):
    """log Σ_k e^{a_k − M} = log1p(Σ_{k ≠ argmax} e^{a_k − M}): exact when one term dominates."""
    nargs = 1

    def _latex(self, printer):
        a = printer._print(self.args[0])
        return rf"\operatorname{{log1p}}\Big(\sum_{{k \neq \arg\max}} e^{{{a} - \max_k {a}}}\Big)"


class Difference(sp.Function):
    """Lowering only: a − b, printed in parentheses so the subtraction happens first."""
    cheap = True  # arithmetic and selects only (printing.transcendental)
    nargs = 2


class Centered(sp.Function):
    """a(x_idx) − max_k a(x_k): Centered(a(x[idx]), a(x[k])). Keeps the subtraction first."""
    cheap = True  # arithmetic and selects only (printing.transcendental)
    nargs = 2

    def _latex(self, printer):
        return rf"\left({printer._print(self.args[0])} - \max_k {printer._print(self.args[1])}\right)"


class RowDiff(sp.Function):
    """Lowering only: a − b for two row elements (x_k − x_y, anchor_k − positive_k), printed in
    parentheses so it is computed before any other term of its sum: a − b is exact when a and b are
    close (Sterbenz), and a margin or eps added first would round the difference away
    (1 + 1e20 − 1e20 is 0)."""
    cheap = True  # arithmetic and selects only (printing.transcendental)
    nargs = 2


class ZeroGuard(sp.Function):
    """Lowering only: c·v with a data coefficient c (a target t_k, a class weight w_k, 1 − t_k)
    printed as ``c·v if c != 0 or v != v else 0``: a term whose coefficient is exactly 0 is absent,
    also where v is infinite (0·log 0 = 0: cross-entropy against t_j = 0 at x_j = −inf, a class of
    weight 0, a label whose logit is +inf in a hinge); a nan v stays nan."""
    cheap = True  # arithmetic and selects only (printing.transcendental)
    nargs = 2


class RcpDiv(sp.Function):
    """Lowering only: num / den**power for a row's exp sum den (see _exp_sums), printed as
    ``div_rcp(num, D, rcp_D)`` with D = den**power and 1/D computed once per row (_rowwise.py)."""
    cheap = True  # arithmetic and selects only (printing.transcendental)
    nargs = 3


def _pattern_at(pattern: sp.Expr, idx) -> sp.Expr:
    return pattern.subs(k, idx)


def _sum_exp_patterns(expr: sp.Expr) -> list[sp.Expr]:
    pats = []
    for s in expr.atoms(sp.Sum):
        body, (var, lo, hi) = s.function, s.limits[0]
        if isinstance(body, sp.exp) and var == k and (lo, hi) == (0, K - 1) and body.args[0] not in pats:
            pats.append(body.args[0])
    return pats


def _matches(a: sp.Expr, pattern: sp.Expr):
    """The index at which ``a`` is ``pattern``, or None."""
    for ind in a.atoms(sp.Indexed):
        if ind.base == x:
            idx = ind.indices[0]
            if sp.expand(pattern.subs(k, idx) - a) == 0:
                return idx
    return None


def stabilize_row(expr: sp.Expr) -> sp.Expr:
    """The max-shifted form of a derived vector expression (see the module docstring)."""
    pats = _sum_exp_patterns(expr)
    if not pats:
        return expr
    expr = sp.expand_log(expr, force=True)
    for a in pats:
        rest = RowLog1pRest(a)
        expr = expr.replace(lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sp.Sum)
                            and e.args[0].function == sp.exp(a), lambda e: RowMax(a) + rest)
        expr = expr.replace(
            lambda e: isinstance(e, sp.Sum) and e.function == sp.exp(a),
            lambda e: sp.Sum(sp.exp(Centered(a, a)), e.limits[0]))

        def shift(e, a=a):
            idx = _matches(e.args[0], a)
            return sp.exp(Centered(e.args[0], a)) if idx is not None else e

        expr = expr.replace(lambda e: isinstance(e, sp.exp) and not isinstance(e.args[0], Centered), shift)
    # a(x_j) − M (or M − a(x_j)), in any sum of terms: Centered, so the subtraction happens first
    # (−log softmax(x)_y = M − x_y + rest: for [100, 0, 0], y = 0 it is 0 + log1p(2e^-100), not 0)
    def center(add):
        terms = list(add.args)
        for a in pats:
            for sign in (1, -1):
                mx = [t for t in terms if t == -sign * RowMax(a)]
                own = [t for t in terms if not t.has(RowMax, Centered, sp.Sum)
                       and _matches(sign * t, a) is not None]
                if mx and own:
                    terms.remove(mx[0])
                    terms.remove(own[0])
                    terms.append(sign * Centered(sign * own[0], a))
        return sp.Add(*terms)

    expr = expr.replace(lambda e: isinstance(e, sp.Add) and e.has(RowMax), center)
    return expr.replace(lambda e: isinstance(e, sp.Add) and e.has(sp.KroneckerDelta), _softmax_minus_onehot)


def _softmax_minus_onehot(add):
    """p_i − δ(i, y) → −Σ_{k≠y} e^{x_k−M} / Σ_k e^{x_k−M} at i = y (else p_i): the gradient of
    cross-entropy at the label, where 1 − p_y would cancel to 0 (x = [100, 0, 0]: −7.4e−44, not 0)."""
    terms = list(add.args)
    deltas = [t for t in terms if isinstance(-t, sp.KroneckerDelta)]
    for d in deltas:
        a_idx, b_idx = (-d).args
        for term in terms:
            num, den = sp.fraction(term)
            if isinstance(num, sp.exp) and isinstance(num.args[0], Centered) and isinstance(den, sp.Sum):
                body, limits = den.function, den.limits[0]
                if not (isinstance(body, sp.exp) and isinstance(body.args[0], Centered)):
                    continue
                owner = num.args[0].args[0]
                idx = next((ind.indices[0] for ind in owner.atoms(sp.Indexed)), None)
                if idx not in (a_idx, b_idx):
                    continue
                other = b_idx if idx == a_idx else a_idx
                var = limits[0]
                rest = sp.Sum((1 - sp.KroneckerDelta(var, other)) * body, limits)
                terms.remove(d)
                terms.remove(term)
                return sp.Add(sp.Piecewise((-rest / den, sp.Eq(idx, other)), (term, True)), *terms)
    return add


def to_textbook_row(expr: sp.Expr, n: int) -> sp.Expr:
    """Open the row primitives at explicit K = n (for proofs); a max-scaled sum's scale is a free
    positive symbol (rowscale.to_textbook)."""
    from .rowscale import to_textbook

    expr = to_textbook(expr)
    def rmax(a):
        return sp.Max(*[_pattern_at(a, m) for m in range(n)])

    expr = expr.replace(lambda e: isinstance(e, Centered), lambda e: e.args[0] - rmax(e.args[1]))
    expr = expr.replace(lambda e: isinstance(e, RowLog1pRest),
                        lambda e: sp.log(sum(sp.exp(_pattern_at(e.args[0], m) - rmax(e.args[0])) for m in range(n))))
    return explicit.instantiate(expr, n)  # the row max and argmax written out, K = n


def _open_row_functions(e: sp.Expr) -> sp.Expr:
    """max(z, 0), its step and z·log z as Piecewise, which the scalar prover evaluates."""
    from ..catalog.row_losses import ROW_FUNCTIONS

    return e.replace(lambda q: isinstance(q, ROW_FUNCTIONS), lambda q: q._eval_rewrite_as_Piecewise(*q.args))


def prove_row(stable: sp.Expr, derived: sp.Expr, name: str, index=None, layout=FULL) -> Proof:
    """stable == derived at K = 2, 3, 4 (the layout's sizes), at every output index and (row losses)
    every label, each by the scalar prover; a result in Blocks block by block."""
    from ..catalog.row_losses import y

    if stable == derived:
        return Proof(name, "proved", "no rewrite needed: the derived form is emitted", 0.0)
    if isinstance(derived, Blocks):
        proofs = [prove_row(a, b, name, index, layout) for a, b in zip(stable.args, derived.args)]
        bad = next((p for p in proofs if not p.ok), None)
        return bad or Proof(name, "proved", "; ".join(f"block {n}: {p.method}" for n, p in enumerate(proofs)), 0.0)
    methods = set()
    labelled = y in derived.free_symbols
    positions = (lambda n: range(layout.outputs(n))) if index is not None else (lambda n: [None])
    for n, label, pos in explicit.cases(layout.sizes, labelled, positions):
        subs = ({index: pos} if index is not None else {}) | ({y: label} if labelled else {})
        a, table = explicit.plain(to_textbook_row(stable.subs(subs), n), n)
        b, _ = explicit.plain(explicit.instantiate(derived, n, subs), n)
        a, b = _open_row_functions(a), _open_row_functions(b)
        free = sorted(a.free_symbols | b.free_symbols, key=lambda v: v.name)
        var = next((v for v in free if v.name.startswith("x_")),  # sampled widest (over ±)
                   next((v for v in free if not v.is_positive), free[0]))
        p = prove(a, b, name, var)
        if not p.ok:
            return p
        methods.add(p.method.split(":")[0])
    where = "every index and label" if labelled else "every index"
    sizes = ", ".join(map(str, layout.sizes))
    return Proof(name, "proved", f"K = {sizes} at {where}: {', '.join(sorted(methods))}", 0.0)


@dataclass
class Reduction:
    var: str
    kind: str          # max | rest | sum
    body: sp.Expr      # in terms of x[v], g[v] with v the loop index
    loop_index: sp.Symbol
    inner: list = None  # reductions computed inside this loop, per iteration (nested sums)
    fast: bool = True   # a max used only as a shift (nan reaches the result through the sums anyway)


LOOP_INDICES = frozenset(sp.symbols("i j k", integer=True, nonnegative=True))


def _pull_out(s: sp.Sum) -> sp.Expr:
    body, (var, lo, hi) = s.function, s.limits[0]
    def has_row_constant(f):  # a term free of the index that is not a plain number (log1p rest, M, …)
        return isinstance(f, sp.Add) and any(var not in a.free_symbols and not a.is_number for a in f.args)

    if isinstance(body, sp.Mul) and any(has_row_constant(f) for f in body.args):
        body = sp.expand_mul(body, deep=False)  # Σ a·(b + c) → Σ a·b + c·Σ a: row constants come out
    if isinstance(body, sp.Add):
        return sp.Add(*[_pull_out(sp.Sum(t, (var, lo, hi))) for t in body.args])
    inside, outside = [], []
    for f in sp.Mul.make_args(body):
        (inside if var in f.free_symbols else outside).append(f)
    return sp.Mul(*outside) * sp.Sum(sp.Mul(*inside), (var, lo, hi))


def lower(expr: sp.Expr, out_index, row_value: sp.Expr | None = None):
    """Row reductions in dependency order, the per-index output expression, and the reductions
    that depend on the output index (computed inside the output loop, per index).

    A sum whose body depends on an enclosing loop's index (the output index, or an outer sum's)
    becomes a nested loop inside that loop; every other sum is computed once per row.
    ``row_value``: a per-row expression lowered along (a fused loss + gradient kernel); it shares
    the reductions, and its lowered form is returned fourth.
    """
    expr = _halve_ramps(expr)
    expr = _mean_into_ramps(expr.replace(lambda e: isinstance(e, sp.Sum), _pull_out))
    reductions: list[Reduction] = []
    out_inner: list[Reduction] = []
    names: dict = {}
    counter = [0]

    def fresh(prefix):
        counter[0] += 1
        return sp.Symbol(f"{prefix}{len(names) + counter[0] - 1}")

    def name_of(node):
        if node in names:
            return names[node]
        if isinstance(node, RowMax):
            names[node] = fresh("m")
            reductions.append(Reduction(str(names[node]), "max", node.args[0], k))
        elif isinstance(node, RowArgMax):
            names[node] = fresh("a")
            reductions.append(Reduction(str(names[node]), "argmax", node.args[0], k))
        elif isinstance(node, RowLog1pRest):
            body = shift(node.args[0], node.args[0])
            names[node] = fresh("l")
            reductions.append(Reduction(str(names[node]), "rest", body, k))
        elif isinstance(node, RowScale):
            names[node] = fresh("m")
            reductions.append(Reduction(str(names[node]), "scale", node.args[0], k))
        return names[node]

    def shift(at, pattern):
        """a(x_idx) − max_k a(x_k), the subtraction first. For a = c·x_k: c·(x_idx − max_k x_k), not
        c·x_idx − c·max: the products overflow for large c·|x| (inf − inf), and round twice."""
        sc = _scaled(pattern)
        if sc:
            return sc[0] * Difference(sp.expand(at / sc[0]), name_of(RowMax(sc[1])))
        return Difference(at, name_of(RowMax(pattern)))

    def visit(e, bound, scope):
        if isinstance(e, Centered):
            return shift(e.args[0], e.args[1])
        if isinstance(e, RowMax) and _scaled(e.args[0]):  # c·max_k x_k as a result: nan must propagate
            c, element = _scaled(e.args[0])
            m = name_of(RowMax(element))
            next(r for r in reductions if r.var == str(m)).fast = False
            return c * m
        if isinstance(e, Scaled):  # v/M: the element, and the row's scale (printed from 1/M)
            return Scaled(transform(e.args[0], bound, scope), name_of(e.args[1]))
        if isinstance(e, RowScale):
            return name_of(e)
        if isinstance(e, (RowMax, RowArgMax, RowLog1pRest)):
            sym = name_of(e)
            if isinstance(e, RowMax):  # the max itself is a result (maxout): nan must propagate
                next(r for r in reductions if r.var == str(sym)).fast = False
            return sym
        if isinstance(e, sp.Sum):
            body, (var, _, _) = e.function, e.limits[0]
            inner_scope: list[Reduction] = []
            inner = transform(body, bound | {var}, inner_scope)
            nested = (body.free_symbols & LOOP_INDICES) - {var}
            if nested & bound:  # depends on an enclosing loop: computed inside it, per iteration
                sym = fresh("s")
                scope.append(Reduction(str(sym), "sum", inner, var, inner_scope))
                return sym
            key = sp.Sum(inner, e.limits[0])
            if key not in names:
                names[key] = fresh("s")
                reductions.append(Reduction(str(names[key]), "sum", inner, var, inner_scope))
            return names[key]
        return e

    def transform(e, bound, scope):  # top-down, so an outer sum is seen before the sums inside it
        if isinstance(e, (Centered, RowMax, RowArgMax, RowLog1pRest, sp.Sum, Scaled, RowScale)):
            return visit(e, bound, scope)
        if not e.args or isinstance(e, sp.Indexed):
            return e
        return e.func(*[transform(a, bound, scope) for a in e.args])

    # row scales named first, in a canonical order: a fused kernel then multiplies its scaled norms in
    # the same order as the separate value kernel (the same bits)
    scales = expr.atoms(RowScale) | (row_value.atoms(RowScale) if row_value is not None else set())
    for rs in sorted(scales, key=sp.default_sort_key):
        name_of(rs)
    bound = frozenset({out_index}) if out_index is not None else frozenset()
    out = transform(expr, bound, out_inner)
    if row_value is None:
        return _finish(reductions), _finish(out), _finish(out_inner)
    top: list[Reduction] = []
    value = transform(_mean_into_ramps(_halve_ramps(row_value).replace(lambda e: isinstance(e, sp.Sum), _pull_out)),
                      frozenset(), top)
    assert not top, "a per-row value has no enclosing loop"
    return _finish(reductions), _finish(out), _finish(out_inner), _finish(value)


class RowHalfDiff(sp.Function):
    """Lowering only: (a − b)/2 for two row elements, as a/2 − b/2 (RowDiff's guard at k = y): finite
    where a − b overflows."""
    cheap = True  # arithmetic and selects only (printing.transcendental)
    nargs = 2


def _halve_ramps(expr: sp.Expr) -> sp.Expr:
    """max(0, c + a − b) of two row elements as 2·max(0, c/2 + (a/2 − b/2)) (lowering only; max(0, ·)
    is positively homogeneous, and halving commutes with rounding away from the subnormals): the 2
    comes out of the sums and is applied last, so a hinge whose a − b overflows (a row [max, −max])
    still gives the finite mean (2·max + 1)/C of multilabel_hinge_loss."""
    from ..catalog.row_losses import Ramp

    def pair(arg):
        if not isinstance(arg, sp.Add) or len(arg.args) < 3:
            return None
        pos = [t for t in arg.args if isinstance(t, sp.Indexed) and t.base.name not in _DATA]
        neg = [t for t in arg.args if isinstance(-t, sp.Indexed) and (-t).base.name not in _DATA]
        return (pos[0], -neg[0]) if pos and neg else None

    def halve(e):
        a, b = pair(e.args[0])
        rest = e.args[0] - a + b
        return 2 * Ramp(rest / 2 + RowHalfDiff(a, b))

    return expr.replace(lambda e: type(e).__name__ == "Ramp" and pair(e.args[0]) is not None, halve)


def _mean_into_ramps(expr: sp.Expr) -> sp.Expr:
    """(Σ … max(0, z) …)/K, a mean of hinges linear in each (multilabel_hinge_loss), as Σ … max(0, z/K) …
    (lowering only, after the sums' constant factors came out): the K² hinges of a row may add up
    beyond max although their mean is finite (a row [max, 0, −max]); divided first, the sum
    overflows only where the mean does."""
    from ..catalog.row_losses import Ramp

    def linear(e):
        if isinstance(e, Ramp):
            return e.args[0].has(RowHalfDiff)
        if isinstance(e, sp.Sum):
            return linear(e.function)
        if isinstance(e, sp.Mul):
            hinged = [f for f in e.args if f.has(Ramp)]
            return len(hinged) == 1 and linear(hinged[0])
        return False

    def is_mean(e):
        return isinstance(e, sp.Mul) and sp.Pow(K, -1) in e.args and \
            any(isinstance(f, sp.Sum) and linear(f) for f in e.args)

    def push(e):
        rest = [f for f in e.args if f != sp.Pow(K, -1)]
        return sp.Mul(*[f.replace(lambda q: isinstance(q, Ramp), lambda q: Ramp(q.args[0] / K))
                        if isinstance(f, sp.Sum) else f for f in rest])

    return expr.replace(is_mean, push)


def _scaled(pattern: sp.Expr):
    """(c, x[k]) when a max pattern is c·x[k] with c > 0 independent of k (softmax's beta), else None."""
    c, element = pattern.as_independent(k, as_Add=False)
    if isinstance(element, sp.Indexed) and element.indices[0] == k and c != 1 and c.is_positive:
        return c, element
    return None


_DATA = ("t", "w")  # targets and class weights: data that may be exactly 0


def _is_data(f: sp.Expr) -> bool:
    """A coefficient made of targets, class weights, deltas and numbers only (t_k, w_y, 1 − t_k)."""
    if f.is_number:
        return False
    indexed = f.atoms(sp.Indexed)
    return bool(indexed) and all(i.base.name in _DATA for i in indexed) \
        and not (f.free_symbols - {i for i in indexed} - {b.label for b in (i.base for i in indexed)}
                 - set().union(*(i.free_symbols for i in indexed)))


def _row_diffs(add: sp.Expr) -> sp.Expr:
    """In a sum with a row element and a subtracted row element (x_k − x_y + margin), the two
    become RowDiff, computed first."""
    terms = list(add.args)
    pos = [t for t in terms if isinstance(t, sp.Indexed) and t.base.name not in _DATA]
    neg = [t for t in terms if isinstance(-t, sp.Indexed) and (-t).base.name not in _DATA]
    if not pos or not neg or len(terms) < 3:
        return add
    a, b = pos[0], neg[0]
    terms.remove(a)
    terms.remove(b)
    return sp.Add(RowDiff(a, -b), *terms)


def _closed_gate(mul: sp.Expr) -> sp.Expr:
    """σ(z)·v with v holding a row element (glu's a·σ(b), its vjp's g·a·σ(b)σ(−b)) as
    ZeroGuard(σ(z)…, v): where the gate rounds to exactly 0 (z below about −104 in float32, −745 in
    float64) the product is 0 also for an infinite v — its limit, as σ decays exponentially — and not
    −inf·0 = nan; a nan stays nan."""
    from ..primitives import Sigmoid

    gates = [f for f in mul.args if isinstance(f, Sigmoid)]
    rest = [f for f in mul.args if not isinstance(f, Sigmoid)]
    if not gates or not any(isinstance(f, sp.Indexed) and f.base.name not in _DATA for f in rest):
        return mul
    return ZeroGuard(sp.Mul(*gates), sp.Mul(*rest))


def _guard_zero(mul: sp.Expr) -> sp.Expr:
    data = [f for f in mul.args if _is_data(f)]
    rest = [f for f in mul.args if f not in data]
    if not data and not mul.has(Difference, RowMax, sp.Sum, ZeroGuard):
        return _closed_gate(mul)
    if not data or not any(not f.is_number for f in rest):
        return mul
    diffs = [f for f in rest if isinstance(f, Difference)]
    if len(diffs) == 1:  # c·(a − max): by halves where a − max overflows (DiffTimes)
        others = [f for f in rest if f is not diffs[0]]
        if all(f.is_number for f in others):
            return DiffTimes(sp.Mul(*data, *others), *diffs[0].args)
    return ZeroGuard(sp.Mul(*data), sp.Mul(*rest))


class DiffTimes(sp.Function):
    """Lowering only: ZeroGuard(c, Difference(a, m)), c·(a − m) (0 where a = m, also infinite; 0 for
    c = 0 unless a − m is nan), taken as 2·(c·(a/2 − m/2)) where a − m overflows for finite a and m:
    cross-entropy against probabilities, t_j·(x_j − max) for a row [max, −max], is finite for t_j < 1/2."""
    nargs = 3


FUNCTIONS[DiffTimes] = "diff_times_{t}"  # printed as a runtime helper, imported where used


def _finish(e):
    """Row differences first, then zero guards, in a lowered expression (or each reduction's body)."""
    if isinstance(e, list):
        for r in e:
            r.body = _finish(r.body)
            if r.inner:
                _finish(r.inner)
        return e
    if e is None or not isinstance(e, sp.Basic):
        return e
    e = e.replace(lambda q: isinstance(q, sp.Add) and len(q.args) >= 3, _row_diffs)
    return e.replace(lambda q: isinstance(q, sp.Mul), _guard_zero)


class RowPrinter(NumbaPrinter):
    """Indexed row elements print as ``x[r, i]``, per-class weights as ``w[i]``, per-row targets
    (the label y, the ±1 target s, the upstream gradient g of a scalar function) as ``y[r]``;
    everything else as in scalar kernels."""

    PER_ROW = ("g", "y", "s")

    def __init__(self, tag, widen=False):
        super().__init__(tag)
        self.row_locals: dict[str, str] = {}  # local name -> what it holds, read once per row
        self.widen = widen  # float32 data computed in float64 (row_loss.wide_float32): reads converted
        self.summands = False  # printing a row sum's summands (_print_Pow)
        self.scales: set[str] = set()  # the max-scaled sums' row scales M (their reciprocals rcp_M exist)

    def _print_Indexed(self, expr):
        if expr.base.name == "w":
            index = expr.indices[0]
            printed = f"w[{self._print(index)}]"
            if index.free_symbols and all(v.name in self.PER_ROW for v in index.free_symbols):
                return self._row_local(f"w_{'_'.join(sorted(v.name for v in index.free_symbols))}", printed)
            return printed
        element = f"{expr.base}[r, {self._print(expr.indices[0])}]"
        return f"np.float64({element})" if self.widen else element

    def _row_local(self, name, value):
        self.row_locals.setdefault(name, value)
        return name

    def prelude(self) -> list[str]:
        """Row-constant loads (the label, its class weight) read once at the top of the row: in the
        loops LLVM would reload them at every element, as a store to ``out`` might change them,
        and the reload kept the loops from vectorizing."""
        return [f"{name} = {value}" for name, value in self.row_locals.items()]

    def _print_Symbol(self, expr):
        if expr.name in self.PER_ROW:
            return self._row_local(f"{expr.name}_r", f"{expr.name}[r]")
        if expr.name == "K":
            return "n" if self.tag == "f64" else "np.float32(n)"  # K in arithmetic: the row length
        return expr.name

    @staticmethod
    def rcp_den(base: str, power: int) -> str:
        return base if power == 1 else f"{base}_{power}"

    def _print_RcpDiv(self, expr):
        num, base, power = expr.args
        den = self.rcp_den(str(base), int(power))
        return f"div_rcp({self._print(num)}, {den}, rcp_{den})"

    def _print_Difference(self, expr):
        # a − max: 0 where a is the max itself, also an infinite one (x = [inf, 0]: softmax [1, 0],
        # the limit, where inf − inf would be nan); nan stays nan (nan != nan)
        a, m = self._print(expr.args[0]), self._print(expr.args[1])
        return f"({a} - {m} if {a} != {m} else {self.const(0)})"

    def _print_RowDiff(self, expr):
        a, b = expr.args
        diff = f"({self._print(a)} - {self._print(b)})"
        if a.base == b.base and a.indices[0] != b.indices[0]:  # x_k − x_y at k = y is 0, also for x_y = ±inf
            return f"({diff} if {self._print(a.indices[0])} != {self._print(b.indices[0])} else {self.const(0)})"
        if a.base != b.base:  # two rows' elements (anchor_k − positive_k): 0 where equal, also both ±inf
            pa, pb = self._print(a), self._print(b)
            return f"({diff} if {pa} != {pb} else {self.const(0)})"
        return diff

    def _print_RowHalfDiff(self, expr):
        a, b = expr.args
        half = self.const(0.5)
        diff = f"({self._print(a)}*{half} - {self._print(b)}*{half})"
        if a.base == b.base and a.indices[0] != b.indices[0]:  # 0 at k = y, also for x_y = ±inf
            return f"({diff} if {self._print(a.indices[0])} != {self._print(b.indices[0])} else {self.const(0)})"
        return diff

    def _print_Mul(self, expr):
        # a division by a row scale M (a power of two) as the rest times 1/M, applied last: exact either
        # way, but M·sqrt(S) overflows first where M is near the largest float (l2 normalization's vjp)
        scale = next((f for f in expr.args if isinstance(f, sp.Pow) and isinstance(f.base, sp.Symbol)
                      and f.base.name in self.scales and f.exp.is_Integer and f.exp < 0), None)
        if scale is not None:
            rest = self._print(sp.Mul(*[f for f in expr.args if f is not scale]))
            return f"({rest}{f'*rcp_{scale.base.name}' * int(-scale.exp)})"
        # a power-of-two coefficient of a quotient applied last ((s/n)·2, not (2·s)/n): exact either
        # way, but 2·s overflows first (_halve_ramps)
        c, rest = expr.as_coeff_Mul()
        if c.is_Integer and abs(c) > 1 and (abs(c) & (abs(c) - 1)) == 0 and \
                any(isinstance(f, sp.Pow) and f.exp.is_negative for f in sp.Mul.make_args(rest)):
            return f"(({self._print(rest)})*{self.const(c)})"
        steps = [f for f in expr.args if type(f).__name__ == "Step"]
        if len(steps) == 1:  # Step(z)·X as a select: 0 on the inactive side also where X is ±inf or nan
            z = self._print(steps[0].args[0])  # (a nan z stays nan)
            x = self._print(sp.Mul(*[f for f in expr.args if f is not steps[0]]))
            zero = self.const(0)
            return f"({x} if {z} > {zero} else ({zero} if {z} <= {zero} else {z}))"
        return super()._print_Mul(expr)

    def _print_Pow(self, expr):
        # |v/M|^q outside the sums (a p-norm's gradient, p < 1): where v/M is subnormal or 0 but v is
        # not, as |v|^q·M^(−q) (scaled_abs_pow): an element 314 decades below the row's largest
        # keeps its precision, which its negative power would magnify
        b, q = expr.args
        if isinstance(b, sp.Abs) and isinstance(b.args[0], Scaled) and not (q.is_number and q.is_nonnegative) \
                and not self.summands:  # in a sum such an element adds nothing next to the max's 1
            v, m = b.args[0].args
            return f"scaled_abs_pow_{self.tag}({self._print(b.args[0])}, {self._print(v)}, {m}, {self._print(q)})"
        return super()._print_Pow(expr)

    def _print_Scaled(self, expr):  # v/M as v·(1/M), exact for the power of two M (rowscale)
        v, m = expr.args
        plain = f"scaled_{self.tag}({self._print(v)}, rcp_{m})"
        if not isinstance(v, sp.Add):
            return plain
        # an element that is a sum (a_k − p_k + eps): each term scaled before they are added, the same
        # bits where nothing over- or underflows, and finite where a_k − p_k alone would overflow
        return f"({self.scaled_terms(v, f'rcp_{m}')} if rcp_{m} != {self.const(0)} else {plain})"

    def scaled_terms(self, v: sp.Expr, factor: str) -> str:
        """The sum v with each term (a row difference RowDiff(a, b) as a·f − b·f) multiplied by f."""
        out = []
        for t in v.args:
            if isinstance(t, RowDiff):
                a, b = t.args
                pa, pb = self._print(a), self._print(b)
                diff = f"({pa}*{factor} - {pb}*{factor})"
                if a.base == b.base:
                    cond = f"{self._print(a.indices[0])} != {self._print(b.indices[0])}"
                else:
                    cond = f"{pa} != {pb}"
                out.append(f"({diff} if {cond} else {self.const(0)})")
            else:
                out.append(f"{self._print(t)}*{factor}")
        return "(" + " + ".join(out) + ")"

    def _print_ZeroGuard(self, expr):
        c, v = expr.args  # 0 for c = 0 and v = ±inf; nan stays nan (v != v)
        pc, pv = self._print(c), self._print(v)
        return f"({self._print(c * v)} if {pc} != {self.const(0)} or {pv} != {pv} else {self.const(0)})"

    def _print_Idx(self, expr):
        return expr.name

    def _print_KroneckerDelta(self, expr):
        a, b = (self._print(v) for v in expr.args)
        return f"({self.const(1)} if {a} == {b} else {self.const(0)})"

    def _print_Ramp(self, expr):  # max(z, 0), written so that a nan z stays nan (max(nan, 0) is 0)
        z = self._print(expr.args[0])
        return f"({self.const(0)} if {z} <= {self.const(0)} else {z})"

    def _print_Step(self, expr):
        return f"({self.const(1)} if {self._print(expr.args[0])} > {self.const(0)} else {self.const(0)})"

    def _print_XLogX(self, expr):
        z = self._print(expr.args[0])
        return f"({self.const(0)} if {z} == {self.const(0)} else {z}*math.log({z}))"

    def _print_sign(self, expr):
        return f"np.sign({self._print(expr.args[0])})"


def _reduction_lines(p: RowPrinter, red: Reduction) -> list[str]:
    """The loops that are not buffered: a max that is itself a result (nan must propagate), argmax,
    and sums nested inside an enclosing loop."""
    zero, ninf = p.const(0), p.const(float("-inf"))
    v = str(red.loop_index)
    p.summands = red.kind in ("sum", "rest")
    body = p.doprint(fold_constants(red.body))
    p.summands = False
    inner = [f"    {line}" for sub in (red.inner or []) for line in _reduction_lines(p, sub)]
    if red.kind == "max":  # a nan anywhere in the row makes the max nan (Python's max would skip it)
        return [f"{red.var} = {ninf}", f"for {v} in range(n):", f"    z = {body}",
                f"    {red.var} = z if (z > {red.var} or z != z) and {red.var} == {red.var} else {red.var}"]
    if red.kind == "argmax":  # the first index of the largest value (of the first nan, if any)
        return [f"{red.var} = 0", f"z = {ninf}", f"for {v} in range(n):",
                f"    if ({body} > z or {body} != {body}) and z == z:",
                f"        z = {body}", f"        {red.var} = {v}"]
    return [f"{red.var} = {zero}", f"for {v} in range(n):", *inner, f"    {red.var} += {body}"]


def _plain_sum(red: Reduction) -> bool:
    return red.kind in ("sum", "rest") and not red.inner


def fuse_sums(reductions: list[Reduction]) -> list[list[Reduction]]:
    """Reductions grouped so that plain sums over the row share one loop: a sum joins the
    earliest group whose position already has every value it reads. (Safe: reductions come in
    dependency order, so nothing between that group and the sum reads the sum.)"""
    groups: list[list[Reduction]] = []
    defined_before: list[set] = []
    defined: set = set()
    for red in reductions:
        reads = {str(v) for v in red.body.free_symbols}
        target = None
        if _plain_sum(red):
            target = next((g for g, before in zip(groups, defined_before)
                           if _plain_sum(g[0]) and (reads & {r.var for r in reductions}) <= before), None)
        if target is None:
            groups.append([red])
            defined_before.append(set(defined))
        else:
            target.append(red)
        defined.add(red.var)
    return groups


def _expanded(e: sp.Expr, temps: dict) -> sp.Expr:
    """A CSE'd expression with its temporaries substituted back (to compare with the output's)."""
    while e.free_symbols & set(temps):
        e = e.xreplace(temps)
    return e


def _excluded(group: list[Reduction], summands: list, index) -> dict:
    """{sum: (other sum, j)} where a summand is another's times (1 − [index = j]) (cross-entropy's
    Σ_{k ≠ label} e^{x_k − M}): added up from the other's row on both sides of j, no row of its own."""
    found = {}
    for r, s in zip(group, summands):
        if r.kind != "sum":
            continue
        for d in s.atoms(sp.KroneckerDelta):
            j = d.args[1] if d.args[0] == index else d.args[0] if d.args[1] == index else None
            if j is None or index in j.free_symbols:
                continue
            base = next((o for o, so in zip(group, summands) if o is not r and o.kind == "sum"
                         and so != s and sp.expand(s - (1 - d) * so) == 0), None)
            if base is not None:
                found[r.var] = (base.var, j)
                break
    return {var: (base, j) for var, (base, j) in found.items() if base not in found}  # bases keep their rows


def _exp_sums(reductions: list[Reduction]) -> set[str]:
    """The sums of a row's exps shifted by their own max (softmax's denominator): one term is e^0 = 1
    and none exceeds it, so the sum lies in [1, K] (or is nan), and it and its square have normal
    reciprocals: the condition for div_rcp to round as the division does."""
    maxes = {r.var: r for r in reductions if r.kind == "max"}
    sums = set()
    for r in reductions:
        b = r.body
        if r.kind != "sum" or not isinstance(b, sp.exp):
            continue
        scale, d = b.args[0].as_independent(Difference, as_Add=False)  # c·(x_k − max), c > 0
        if isinstance(d, Difference) and (scale == 1 or scale.is_positive):
            shifted, m = d.args
            mr = maxes.get(str(m))
            if mr is not None and mr.body.subs(mr.loop_index, r.loop_index) == shifted:
                sums.add(r.var)
    return sums


def _reciprocal_divisions(expr: sp.Expr, sums: set[str]) -> sp.Expr:
    """Each product's division by a power of an exp sum (see _exp_sums) becomes RcpDiv: the output
    loop then multiplies by a reciprocal taken once per row, with the division's rounding."""
    def visit(e):
        if isinstance(e, sp.Mul):
            dens = [f for f in e.args if isinstance(f, sp.Pow) and f.base.is_Symbol and f.base.name in sums
                    and f.exp.is_Integer and f.exp < 0]
            if len(dens) == 1:
                num = sp.Mul(*[visit(f) for f in e.args if f is not dens[0]])
                return RcpDiv(num, dens[0].base, -dens[0].exp)
        return e.func(*[visit(a) for a in e.args]) if e.args else e
    return visit(expr)


def _buffered_lines(p: RowPrinter, group: list[Reduction], buf: int, out_exprs: list, out_index):
    """Sums over the row in two steps that both vectorize: one strict loop computes every distinct
    summand (the shifted exp once per element) into rows of a scratch buffer, then ``fsum`` adds each
    row (reassociated: SIMD partial sums; the summands themselves are never reassociated). A log1p
    rest reads the row of its shifted exps (shared with a sum of the same exps) through ``frest``,
    which counts the terms equal to 1 instead of adding them; a sum without one index's term adds
    its base row on either side. Returns the lines, the buffer rows used, and {expression at
    out_index: buffer element} for the output loop to reuse."""
    index = group[0].loop_index
    v = str(index)
    bodies = [fold_constants(r.body.subs(r.loop_index, index)) for r in group]  # one loop index for all
    summands = [sp.exp(b) if r.kind == "rest" else b for r, b in zip(group, bodies)]
    excluded = _excluded(group, summands, index)
    rows: dict = {}  # distinct summand -> buffer row
    slots = {}
    for r, s in zip(group, summands):
        if r.var not in excluded:
            slots[r.var] = rows.setdefault(s, buf + len(rows))
    temps, reduced = sp.cse(list(rows), symbols=sp.numbered_symbols("c"))
    table = dict(temps)
    row_of = {e: slot for e, slot in zip(reduced, rows.values())}
    reuse = {}
    wanted = [o for o in out_exprs if o is not None]

    def needed(full):  # a function (an exp) that the output loop evaluates too, at its own index
        return out_index is not None and isinstance(full, sp.Function) and not isinstance(full, Difference) \
            and any(o.has(full.subs(index, out_index)) for o in wanted)
    # exp temporaries the output loop also needs: kept in a buffer row of their own
    extra = []
    for t, e in temps:
        full = _expanded(e, table)
        if needed(full):
            slot = row_of.get(t)
            if slot is None:
                slot = buf + len(rows) + len(extra)
                extra.append((t, slot))
            reuse[full.subs(index, out_index)] = sp.Symbol(f"buf[{slot}, {out_index}]")
    # a summand that is itself such a function (softmax's shifted exp): its own row is reused
    for e, slot in row_of.items():
        full = _expanded(e, table)
        if needed(full):
            reuse.setdefault(full.subs(index, out_index), sp.Symbol(f"buf[{slot}, {out_index}]"))
    lines = [f"for {v} in range(n):"]
    p.summands = True
    lines += [f"    {t} = {p.doprint(e)}" for t, e in temps]
    lines += [f"    buf[{slot}, {v}] = {p.doprint(e)}" for e, slot in row_of.items()]
    p.summands = False
    lines += [f"    buf[{slot}, {v}] = {t}" for t, slot in extra]
    for r in group:
        if r.var in excluded:
            base, j = excluded[r.var]
            row, jj = slots[base], p.doprint(j)
            lines.append(f"{r.var} = fsum_{p.tag}(buf[{row}, :{jj}]) + fsum_{p.tag}(buf[{row}, {jj} + 1:])")
        elif r.kind == "rest":
            lines.append(f"{r.var} = math.log1p(frest_{p.tag}(buf[{slots[r.var]}]))")
        else:
            add = "fmean" if r.var in getattr(p, "means", ()) else "fsum"
            lines.append(f"{r.var} = {add}_{p.tag}(buf[{slots[r.var]}])")
    return lines, len(rows) + len(extra), reuse


def _means(reductions: list[Reduction], exprs: list) -> dict:
    """{s/K: s} for each plain row sum s that the outputs use only as the mean s/K (multilabel_soft_margin_loss's
    class mean): such a sum is computed as the mean itself, by ``fmean`` (see _rowwise.py), which
    divides the sum by K as before (the same bits) unless the sum overflows, and then adds the terms
    divided by K: a row [max, 0, -max] gives its finite mean where the sum is inf."""
    found = {}
    for r in reductions:
        if r.kind != "sum" or r.inner:
            continue
        sym = sp.Symbol(r.var)
        mean = sym / K
        used = [e for e in exprs if e is not None and e.has(sym)]
        if used and all(not e.xreplace({mean: sp.Dummy()}).has(sym) for e in used):
            found[mean] = sym
    return found


def _max_lines(p: RowPrinter, red: Reduction, buf: int):
    """A shift's max: ``fmax`` over the row (vectorized; see _rowwise.py), materializing the body
    first unless it is a plain row element. Returns the lines and the buffer rows used."""
    body = red.body
    if isinstance(body, sp.Indexed) and body.indices[0] == red.loop_index:
        return [f"{red.var} = fmax_{p.tag}({body.base}[r])"], 0
    # (c·x[k] with c > 0, softmax's beta, never gets here: lower() shifts it as c·(x_k − max_k x_k))
    v = str(red.loop_index)
    return [f"for {v} in range(n):", f"    buf[{buf}, {v}] = {p.doprint(fold_constants(body))}",
            f"{red.var} = fmax_{p.tag}(buf[{buf}])"], 1


def _scale_lines(p: RowPrinter, red: Reduction, buf: int):
    """A max-scaled sum's scale (symact.stabilize.rowscale): the largest |element| over the row (``fmaxabs``,
    vectorized; the element materialized first unless it is a plain row element), the power of two
    at or below it, and its reciprocal, exact. Returns the lines and the buffer rows used."""
    body, v, m = red.body, str(red.loop_index), red.var
    p.scales.add(m)
    tail = [f"{m} = row_scale_{p.tag}({m})", f"rcp_{m} = {p.const(1)}/{m}"]
    if isinstance(body, sp.Indexed) and body.indices[0] == red.loop_index:
        return [f"{m} = fmaxabs_{p.tag}({body.base}[r])", *tail], 0
    if isinstance(body, sp.Add):  # a sum of terms (a_k − p_k + eps): its max by halves, which cannot
        # overflow, and the scale doubled (inf where a_k − p_k overflows: 1/M is then exact, 2^-1024)
        half = p.const(0.5)
        return [f"for {v} in range(n):", f"    buf[{buf}, {v}] = {p.scaled_terms(fold_constants(body), half)}",
                f"{m} = fmaxabs_{p.tag}(buf[{buf}])", f"{m} = row_scale_{p.tag}({m})",
                f"rcp_{m} = {half}/{m}", f"{m} = {m}*{p.const(2)}"], 1
    return [f"for {v} in range(n):", f"    buf[{buf}, {v}] = {p.doprint(fold_constants(body))}",
            f"{m} = fmaxabs_{p.tag}(buf[{buf}])", *tail], 1


def row_code(reductions: list[Reduction], out: sp.Expr, tag: str, out_index, scalar: bool,
             out_inner: list[Reduction] = (), row_value: sp.Expr | None = None,
             divisor: str | None = None, loss: bool = False, widen: bool = False,
             layout=FULL) -> tuple[list[str], int]:
    """Body lines of the per-row loop (indented by the template), and the rows of scratch buffer
    ``buf`` (shape (rows, n), one per row being worked on) they use. With ``row_value`` (fused loss
    and gradient) the row's value goes to ``vout[r]`` and the per-index output to ``out``. A
    ``divisor`` (a loss gradient's 'mean' denominator, a kernel argument) divides each output
    element as it is stored: the same rounding as dividing afterwards, without a pass of its own.
    ``loss``: the row's value is a loss, stored plus 0 (a zero loss is +0.0: −(0 − 0) would be −0.0).
    ``widen``: float32 data read as float64 (with tag "f64": the whole row computed in float64).
    ``layout`` in blocks (catalog.vectors.Layout): the output loop runs over a block's length h = n/parts,
    and a result in Blocks stores its block p at ``out[r, i + p·h]``."""
    p = RowPrinter(tag, widen)
    lines, nbuf = [], 0
    if layout.parts > 1:  # K/parts as the block length h, an integer (x[j + K/2] → x[r, j + h])
        h = sp.Symbol("h", integer=True, positive=True)
        out = out.subs(K, layout.parts * h)
        lines.append(f"h = n // {layout.parts}")
    reuse: dict = {}
    means = _means(reductions, [out, row_value])
    out = out.xreplace(means) if out is not None else None
    row_value = row_value.xreplace(means) if row_value is not None else None
    p.means = {str(v) for v in means.values()}
    for group in fuse_sums(reductions):
        red = group[0]
        if _plain_sum(red):
            more, used, found = _buffered_lines(p, group, nbuf, [out, row_value], out_index)
            reuse.update(found)
        elif red.kind == "scale":
            more, used = _scale_lines(p, red, nbuf)
        elif red.kind == "max" and red.fast:
            more, used = _max_lines(p, red, nbuf)
        else:
            more, used = _reduction_lines(p, red), 0
        lines += more
        nbuf += used
    plus0 = f" + {p.const(0)}" if loss else ""
    if row_value is not None:
        lines.append(f"vout[r] = {p.doprint(fold_constants(row_value))}{plus0}")
    out = fold_constants(out).xreplace(reuse)
    if scalar:
        lines.append(f"out[r] = {p.doprint(out)}{plus0}")
    else:
        out = _reciprocal_divisions(out, _exp_sums(reductions))
        for d in sorted({(str(a.args[1]), int(a.args[2])) for a in out.atoms(RcpDiv)}):
            den = p.rcp_den(*d)
            if d[1] > 1:
                lines.append(f"{den} = {'*'.join([d[0]] * d[1])}")
            lines.append(f"rcp_{den} = {p.const(1)}/{den}")
        blocks = out.args if isinstance(out, Blocks) else (out,)
        values = [p.doprint(b) for b in blocks]
        inner = [f"    {line}" for red in out_inner for line in _reduction_lines(p, red)]
        if divisor:
            values = [f"({value})/{divisor}" for value in values]
        at = [str(out_index)] + [f"{out_index} + {b}*h" if b > 1 else f"{out_index} + h" for b in range(1, len(blocks))]
        lines += [f"for {out_index} in range({'h' if layout.parts > 1 else 'n'}):", *inner,
                  *[f"    out[r, {a}] = {value}" for a, value in zip(at, values)]]
    return p.prelude() + lines, nbuf


# Row kernels: a serial loop over rows (one scratch buffer) and a prange loop (a buffer per row);
# the front end picks by size as the elementwise kernels do (_runtime.configure).
ROW_LOOP_KINDS = [
    ("rows", 'cache=True, error_model="numpy"', "range"),
    ("prows", 'cache=True, parallel=True, error_model="numpy"', "prange"),
]


@cached("rows", key=lambda fn: (fn, fn.expr(), [fn.expr(n) for n in range(4)]))
def derive_rows(fn) -> list:
    """The forward and vjp row kernels of a vector function, stabilized, proven and lowered."""
    from ..catalog.vectors import i, j
    from ..derive.kernel import Kernel
    from ..derive.vector import derive_vector

    d = derive_vector(fn)
    kernels = []
    for name, expr, index, is_vjp in ((fn.name, d.value, None if fn.scalar else j, False),
                                       (f"{fn.name}_vjp", d.vjp, i, True)):
        stable = stabilize_row(expr)
        if is_vjp:  # β·p_i·(g_i − Σ_j p_j g_j): no β·g_i·p_i − β·p_i·Σ_j p_j g_j, whose terms overflow apart
            stable = Blocks(*map(sp.factor_terms, stable.args)) if isinstance(stable, Blocks) else sp.factor_terms(stable)
        scaled, proof = prove_and_scale(stable, expr, name, f"{name}: stable = derived", index, fn.layout)
        reds, out, inner = lower(scaled, index)
        if inner:
            raise NotImplementedError(f"{name}: a sum depends on the output index")
        kernels.append(Kernel(name, "vjp" if is_vjp else "f", expr, stable, [], proof, check=d.checked, index=index,
                              wrt="x" if is_vjp else None, lowered=(reds, out, inner), scaled=scaled))
    return kernels


def prove_and_scale(stable: sp.Expr, derived: sp.Expr, name: str, title: str, index=None, layout=FULL):
    """The one row stabilization after the max shift, for vector functions and row losses alike: ``stable``
    proven equal to ``derived``, then its sums of squares, products and powers max-scaled (rowscale, an
    identity for any scale) and that proven too. Returns (the form to lower, the proof, titled ``title``);
    raises ProofFailure naming ``name`` where either step does not hold."""
    proof = prove_row(stable, derived, title, index, layout)
    if not proof.ok:
        raise ProofFailure(name, f"stable form differs: {proof.method}")
    scaled = scale_norms(stable)
    if scaled != stable:
        how = prove_row(scaled, stable, title, index, layout)
        if not how.ok:
            raise ProofFailure(name, f"max-scaled form differs: {how.method}")
        proof = Proof(title, "proved", f"{proof.method}; max-scaled sums: {how.method}", 0.0)
    return scaled, proof


def scale_helpers(reductions) -> set[str]:
    """The runtime helpers a kernel with max-scaled sums calls (_scale_lines, RowPrinter): none without."""
    if not any(r.kind == "scale" for r in reductions):
        return set()
    return {f"{h}_{t}" for h in ("fmaxabs", "row_scale", "scaled", "scaled_abs_pow") for t in ("f32", "f64")}


def heavy_rows(reductions: list[Reduction], exprs: list[sp.Expr]) -> bool:
    """Whether a row kernel evaluates exp, log, sqrt, ... (a log1p "rest" sum evaluates exp and log1p
    of its shifted body): it then goes parallel at smaller sizes (_rowwise.pick)."""
    return any(r.kind == "rest" for r in reductions) or transcendental(exprs)


def render_vector(env, fn, version: str, rks=None) -> str:
    """The generated module of a vector function, from its row kernels (derived here if not given)."""
    from ..codegen.numba import helpers_used
    from ..codegen.params import param_contexts

    from ..derive.row_loss import wide_float32

    kernels = []
    rks = derive_rows(fn) if rks is None else rks
    for rk in rks:
        reductions, out, _ = rk.lowered
        wide = wide_float32(reductions)  # products of row elements: float32 computed in float64, as row losses
        variants = [dict(zip(("lines", "nbuf"), row_code(reductions, out, "f64" if wide and t == "f32" else t, rk.index,
                                                         fn.scalar and not rk.vjp, widen=wide and t == "f32",
                                                         layout=fn.layout)), tag=t,
                         buf="float64" if wide or t == "f64" else "float32") for t in ("f32", "f64")]
        what = "vector-Jacobian product g·∂y/∂x (what backprop needs)" if rk.vjp else fn.summary
        kernels.append({"name": rk.name, "vjp": rk.vjp, "derived": sp.sstr(rk.textbook),
                        "args": ["x"] + (["g"] if rk.vjp else []) + [p.name for p in fn.params],
                        "stable": sp.sstr(rk.stable), "proof": rk.proof.method, "variants": variants,
                        "heavy": heavy_rows(reductions, [r.body for r in reductions] + [out]),
                        "doc": f"{fn.name}{' vjp' if rk.vjp else ''} along ``axis``: {what}. Stable at any "
                               f"magnitude{' (max-shifted)' if reductions else ''}; "
                               + ("float32 computed in float64, stored as float32." if wide else "float32 stays float32.")})
    exprs = [sp.exp(sp.Symbol("t"))] + [e for rk in rks for e in [r.body for r in rk.lowered[0]] + [rk.lowered[1]]]
    helpers = {h for t in ("f32", "f64") for h in helpers_used(exprs, t)}
    helpers = sorted(helpers | scale_helpers([r for rk in rks for r in rk.lowered[0]]))
    return env.get_template("vector.py.j2").render(
        version=version, fn=fn, definition=sp.sstr(fn.expr()), kernels=kernels, params=param_contexts(fn.params),
        helpers=helpers, scalar=fn.scalar, grouped=fn.grouped, parts=fn.layout.parts, loop_kinds=ROW_LOOP_KINDS)
