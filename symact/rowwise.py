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

from .catalog.vectors import K, g, k, x
from .printing import NumbaPrinter, fold_constants
from .prove import prove


class RowMax(sp.Function):
    """max_k a(x_k) over the row; the argument is a(x[k]) with k the catalog's row index."""
    nargs = 1

    def _latex(self, printer):
        return rf"\max_k {printer._print(self.args[0])}"


class RowLog1pRest(sp.Function):
    """log Σ_k e^{a_k − M} = log1p(Σ_{k ≠ argmax} e^{a_k − M}): exact when one term dominates."""
    nargs = 1

    def _latex(self, printer):
        a = printer._print(self.args[0])
        return rf"\operatorname{{log1p}}\Big(\sum_{{k \neq \arg\max}} e^{{{a} - \max_k {a}}}\Big)"


class Difference(sp.Function):
    """Lowering only: a − b, printed in parentheses so the subtraction happens first."""
    nargs = 2


class Centered(sp.Function):
    """a(x_idx) − max_k a(x_k): Centered(a(x[idx]), a(x[k])). Keeps the subtraction first."""
    nargs = 2

    def _latex(self, printer):
        return rf"\left({printer._print(self.args[0])} - \max_k {printer._print(self.args[1])}\right)"


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
    # a(x_j) − M − rest: rewrite a(x_j) − RowMax as Centered so the subtraction happens first
    for a in pats:
        if isinstance(expr, sp.Add):
            terms = list(expr.args)
            mx = [t for t in terms if t == -RowMax(a)]
            own = [t for t in terms if _matches(t, a) is not None and not t.has(RowMax, Centered, sp.Sum)]
            if mx and own:
                terms.remove(mx[0])
                terms.remove(own[0])
                expr = sp.Add(Centered(own[0], a), *terms)
    return expr


def to_textbook_row(expr: sp.Expr, n: int) -> sp.Expr:
    """Open the row primitives at explicit K = n (for proofs)."""
    def rmax(a):
        return sp.Max(*[_pattern_at(a, m) for m in range(n)])

    expr = expr.replace(lambda e: isinstance(e, Centered), lambda e: e.args[0] - rmax(e.args[1]))
    expr = expr.replace(lambda e: isinstance(e, RowLog1pRest),
                        lambda e: sp.log(sum(sp.exp(_pattern_at(e.args[0], m) - rmax(e.args[0])) for m in range(n))))
    expr = expr.replace(lambda e: isinstance(e, RowMax), lambda e: rmax(e.args[0]))
    return expr.subs(K, n).doit()


def prove_row(stable: sp.Expr, textbook: sp.Expr, name: str, index=None):
    """stable == textbook at K = 2, 3, 4 (every output index), via the scalar prover."""
    methods = []
    for n in (2, 3, 4):
        plain = {x[m]: sp.Symbol(f"x{m}", real=True) for m in range(n)}
        plain.update({g[m]: sp.Symbol(f"g{m}", real=True) for m in range(n)})
        for pos in (range(n) if index is not None else [None]):
            subs = {index: pos} if index is not None else {}
            a = to_textbook_row(stable.subs(subs), n).subs(plain)
            b = textbook.subs(subs).subs(K, n).doit().subs(plain)
            p = prove(a, b, name, sp.Symbol("x0", real=True))
            if not p.ok:
                return p
            methods.append(p.method.split(":")[0])
    return type(p)(name, "proved", f"K = 2, 3, 4 at every index: {', '.join(sorted(set(methods)))}", 0.0)


@dataclass
class Reduction:
    var: str
    kind: str          # max | rest | sum
    body: sp.Expr      # in terms of x[v], g[v] with v the loop index
    loop_index: sp.Symbol


def _pull_out(s: sp.Sum) -> sp.Expr:
    body, (var, lo, hi) = s.function, s.limits[0]
    if isinstance(body, sp.Add):
        return sp.Add(*[_pull_out(sp.Sum(t, (var, lo, hi))) for t in body.args])
    inside, outside = [], []
    for f in sp.Mul.make_args(body):
        (inside if var in f.free_symbols else outside).append(f)
    return sp.Mul(*outside) * sp.Sum(sp.Mul(*inside), (var, lo, hi))


def lower(expr: sp.Expr, out_index) -> tuple[list[Reduction], sp.Expr]:
    """Row reductions in dependency order, and the per-index output expression."""
    expr = expr.replace(lambda e: isinstance(e, sp.Sum), _pull_out)
    reductions: list[Reduction] = []
    names: dict = {}

    def name_of(node):
        if node in names:
            return names[node]
        if isinstance(node, RowMax):
            names[node] = sp.Symbol(f"m{len(names)}")
            reductions.append(Reduction(str(names[node]), "max", node.args[0], k))
        elif isinstance(node, RowLog1pRest):
            m = name_of(RowMax(node.args[0]))
            names[node] = sp.Symbol(f"l{len(names)}")
            reductions.append(Reduction(str(names[node]), "rest", Difference(node.args[0], m), k))
        return names[node]

    def visit(e):
        if isinstance(e, Centered):
            return Difference(e.args[0], name_of(RowMax(e.args[1])))
        if isinstance(e, (RowMax, RowLog1pRest)):
            return name_of(e)
        if isinstance(e, sp.Sum):
            body, (var, _, _) = e.function, e.limits[0]
            if out_index is not None and out_index in body.free_symbols:
                raise NotImplementedError(f"sum depends on the output index: {e}")
            inner = body.replace(lambda q: isinstance(q, (Centered, RowMax, RowLog1pRest, sp.Sum)), visit)
            key = sp.Sum(inner, e.limits[0])
            if key not in names:
                names[key] = sp.Symbol(f"s{len(names)}")
                reductions.append(Reduction(str(names[key]), "sum", inner, var))
            return names[key]
        return e

    out = expr.replace(lambda q: isinstance(q, (Centered, RowMax, RowLog1pRest, sp.Sum)), visit)
    return reductions, out


class RowPrinter(NumbaPrinter):
    """Indexed row elements print as ``x[r, i]``; everything else as in scalar kernels."""

    def _print_Indexed(self, expr):
        return f"{expr.base}[r, {self._print(expr.indices[0])}]"

    def _print_Symbol(self, expr):
        return "g[r]" if expr.name == "g" else expr.name  # a scalar function's upstream gradient

    def _print_Difference(self, expr):
        return f"({self._print(expr.args[0])} - {self._print(expr.args[1])})"

    def _print_Idx(self, expr):
        return expr.name


def row_code(reductions: list[Reduction], out: sp.Expr, tag: str, out_index, scalar: bool) -> list[str]:
    """Body lines of the per-row loop (indented by the template)."""
    p = RowPrinter(tag)
    lines = []
    zero, ninf = p.const(0), p.const(float("-inf"))
    for red in reductions:
        v = str(red.loop_index)
        body = p.doprint(fold_constants(red.body))
        if red.kind == "max":
            lines += [f"{red.var} = {ninf}", f"for {v} in range(n):",
                      f"    {red.var} = max({red.var}, {body})"]
        elif red.kind == "rest":
            lines += [f"{red.var} = {zero}", "skipped = False", f"for {v} in range(n):",
                      f"    t = {body}", f"    if not skipped and t == {zero}:",
                      "        skipped = True  # the maximum's own term, e^0 = 1, goes into log1p's 1",
                      "        continue", f"    {red.var} += {p.doprint(sp.exp(sp.Symbol('t')))}",
                      f"{red.var} = math.log1p({red.var})"]
        else:
            lines += [f"{red.var} = {zero}", f"for {v} in range(n):", f"    {red.var} += {body}"]
    value = p.doprint(fold_constants(out))
    if scalar:
        lines.append(f"out[r] = {value}")
    else:
        lines += [f"for {out_index} in range(n):", f"    out[r, {out_index}] = {value}"]
    return lines


@dataclass
class RowKernel:
    name: str
    vjp: bool
    derived: sp.Expr
    stable: sp.Expr
    proof: object
    reductions: list
    out: sp.Expr
    index: object


def derive_rows(fn) -> list[RowKernel]:
    """The forward and vjp row kernels of a vector function, stabilized, proven and lowered."""
    from .catalog.vectors import i, j
    from .vector import derive_vector

    d = derive_vector(fn)
    kernels = []
    for name, expr, index, is_vjp in ((fn.name, d.value, None if fn.scalar else j, False),
                                       (f"{fn.name}_vjp", d.vjp, i, True)):
        stable = stabilize_row(expr)
        proof = prove_row(stable, expr, f"{name}: stable = derived", index)
        if not proof.ok:
            raise AssertionError(f"{name}: {proof.method}")
        reds, out = lower(stable, index)
        kernels.append(RowKernel(name, is_vjp, expr, stable, proof, reds, out, index))
    return kernels


def render_vector(env, fn, version: str) -> str:
    from .printing import helpers_used

    kernels = []
    rks = derive_rows(fn)
    for rk in rks:
        variants = [{"tag": t, "lines": row_code(rk.reductions, rk.out, t, rk.index, fn.scalar and not rk.vjp)}
                    for t in ("f32", "f64")]
        what = "vector-Jacobian product g·∂y/∂x (what backprop needs)" if rk.vjp else fn.summary
        kernels.append({"name": rk.name, "vjp": rk.vjp, "derived": sp.sstr(rk.derived),
                        "stable": sp.sstr(rk.stable), "proof": rk.proof.method, "variants": variants,
                        "doc": f"{fn.name}{' vjp' if rk.vjp else ''} along ``axis``: {what}. Stable at any "
                               f"magnitude (max-shifted); float32 stays float32."})
    exprs = [sp.exp(sp.Symbol("t"))] + [e for rk in rks for e in [r.body for r in rk.reductions] + [rk.out]]
    helpers = sorted({h for t in ("f32", "f64") for h in helpers_used(exprs, t)})
    params = [{"name": n, "default": repr(float(dflt)), "positive": pos} for n, dflt, pos in fn.params]
    return env.get_template("vector.py.j2").render(
        version=version, fn=fn, definition=sp.sstr(fn.expr()), kernels=kernels, params=params,
        helpers=helpers, scalar=fn.scalar)
