"""What the torch and JAX backends share: derived SymPy expressions → whole-tensor operations.

An elementwise expression (an activation, a pointwise loss, their gradients) prints as one
expression over tensors, after common-subexpression elimination. A *row* expression — written with
a symbolic row length K: ``IndexedBase`` elements ``x[k]``, ``Sum`` over k, ``RowMax``,
``RowLog1pRest``, ``Centered``, ``KroneckerDelta``, labels ``y``, class weights ``w[y]`` — prints as
tensor operations along the last axis (the front end moves the row axis there):

* each index in scope (the output index, then one per enclosing ``Sum``) owns a trailing *slot*
  axis: ``x[k]`` inside a sum over k under an output index i is ``x[..., None, :]`` (shape
  ``(..., 1, K)``), and a ``Sum`` over the innermost slot is ``.sum(-1)``; so Σ_j f(i)·h(i, j)
  becomes an ``(..., K, K)`` product summed over its last axis, with no loops;
* per-row reductions that depend on no enclosing index (the row max M, log Σ e^{x−M}, sums of
  shifted exponentials) are computed once into locals of shape ``(...)``;
* a label ``y`` selects with a gather (``x[y]``) or an index (``w[y]``); ``KroneckerDelta(i, y)``
  compares a ``range(K)`` slot with it.

What each SymPy function becomes is the backend's one table (:class:`Backend.functions`, keyed by
the SymPy class): a framework operation, or a helper of the generated ``_runtime`` module that
writes the stable expansion in framework operations.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter
from sympy.printing.precedence import PRECEDENCE

from ..catalog.primitives import BY_CLASS, PRIMITIVES
from ..catalog.vectors import FULL, K, RowArgMax, RowMax, x as X_ROW
from ..stabilize.rowwise import Centered, RowLog1pRest


@dataclass(frozen=True)
class Backend:
    """How a framework spells the operations the lowering needs ({} are filled by the printer)."""

    name: str
    functions: dict            # SymPy class -> framework op or runtime helper (called with the printed args)
    where: str                 # "torch.where"
    to_float: str              # boolean tensor {0} as the float dtype of tensor {1}
    const_like: str            # the number {0} as a 0-d tensor of {1}'s dtype (and device)
    amax: str                  # max of {0} over its last axis
    argmax: str                # first index of the max of {0} over its last axis
    arange: str                # range(K) in the integer dtype of labels, on {0}'s device
    take: str                  # {0}[..., {1}] per row: element {1} (labels, shape (...)) of each row of {0}
    isnan: str                 # elementwise isnan of {0}
    sqrt: str                  # sqrt op
    log1p_rest: str = "log1p_rest"   # runtime: log Σ_k e^{d_k} for d = a − max(a) ≤ 0 (one term is e^0)
    extra: dict = field(default_factory=dict)


class Guarded(sp.Function):
    """Guarded(s, mask): the tensor s, through which no gradient flows where ``mask`` is false
    (``where(mask, s, detach(s))``). Every tensor of a Piecewise branch is guarded by the mask that
    selects the branch: a branch not taken may be inf or nan (exp(800) in ELU's other branch,
    (t − x)^q with t < x in lq_loss), and the chain rule would multiply its zero cotangent by that
    (0·inf = nan) in a second derivative; with the guard the cotangent is selected, not multiplied."""
    nargs = 2


def guard_branches(expr: sp.Expr, tensors) -> sp.Expr:
    """Guard the tensors of every Piecewise branch that evaluates a function or a non-integer power."""
    def risky(e):
        return bool(e.atoms(sp.Function) - e.atoms(Guarded)) or any(not p.exp.is_Integer for p in e.atoms(sp.Pow))

    def visit(pw):
        if not any(str(c) != "True" and {s.name for s in c.free_symbols} & tensors for _, c in pw.args):
            return pw
        out, before = [], []
        for e, c in pw.args:
            mask = sp.And(c, *[sp.Not(b) for b in before]) if before else c
            if risky(e) and mask is not sp.true:
                e = e.xreplace({sym: Guarded(sym, mask) for sym in e.free_symbols if sym.name in tensors})
            out.append((e, c))
            before.append(c)
        return sp.Piecewise(*out, evaluate=False)

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), visit)


def _is_number(e) -> bool:
    return isinstance(e, sp.Basic) and e.is_number and not e.has(sp.Symbol)


class TensorPrinter(PythonCodePrinter):
    """Prints derived expressions as tensor code of one backend.

    ``tensors``: symbol names bound to tensors of the row/elementwise shape; ``scalars``: symbol names
    bound to Python numbers (parameters). ``like``: a tensor whose dtype/device constants take.
    Row mode (``rows=True``): see the module docstring; ``per_row`` names tensors of shape ``(...)``
    (one value per row: the label y, a ±1 target s, the upstream gradient g of a scalar function).
    """

    def __init__(self, backend: Backend, tensors=(), scalars=(), like="x", rows=False, per_row=(),
                 class_weights=("w",)):
        super().__init__({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": False})
        self.backend = backend
        self.tensors = set(tensors)
        self.scalars = set(scalars)
        self.like = like
        self.rows = rows
        self.per_row = set(per_row)
        self.class_weights = set(class_weights)
        self.scope: list[sp.Symbol] = []
        self.hoisted: dict = {}          # key -> local name
        self.lines: list[str] = []       # per-row locals, in dependency order
        self.uses_arange = False
        for p in PRIMITIVES:             # SymPy's own printers (exp, log, ...) go through the table, and a
            setattr(self, f"_print_{p.sympy.__name__}", self._print_Function)  # missing op is an error

    # -- what is a tensor --------------------------------------------------------------------------
    def is_tensor(self, e: sp.Expr) -> bool:
        if isinstance(e, (sp.Indexed, RowMax, RowArgMax, RowLog1pRest, Centered, sp.Sum, Guarded)):
            return True
        names = {s.name for s in e.free_symbols}
        if self.rows and set(self.scope) & e.free_symbols:
            return True
        return bool(names & (self.tensors | self.per_row)) or e.has(sp.Indexed, RowMax, RowLog1pRest)

    # -- numbers -----------------------------------------------------------------------------------
    def _number(self, value) -> str:
        v = float(value)
        if v == float("inf"):
            return "math.inf"
        if v == float("-inf"):
            return "-math.inf"
        return repr(v)

    def _print_Integer(self, expr):
        return self._number(int(expr))

    def _print_Rational(self, expr):
        return self._number(sp.Float(expr, 40))

    def _print_Float(self, expr):
        return self._number(expr)

    def _print_NumberSymbol(self, expr):
        return self._number(sp.Float(expr.evalf(40), 40))

    _print_Pi = _print_Exp1 = _print_NumberSymbol

    def _print_Infinity(self, expr):
        return "math.inf"

    def _print_NegativeInfinity(self, expr):
        return "-math.inf"

    def _print_NaN(self, expr):  # a limit that does not exist (sine at ±inf)
        return "math.nan"

    def _print_Half(self, expr):
        return "0.5"

    def _print_One(self, expr):
        return "1.0"

    def _print_Zero(self, expr):
        return "0.0"

    def _print_NegativeOne(self, expr):
        return "-1.0"

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"

    # -- structure ---------------------------------------------------------------------------------
    def _print_Pow(self, expr, rational=False):
        base, e = expr.base, expr.exp
        b = self.parenthesize(base, PRECEDENCE["Pow"])
        if e.is_Integer and 1 <= e <= 4:
            return "(" + "*".join([b] * int(e)) + ")"
        if e.is_Integer and -4 <= e <= -1:
            return "(1.0/(" + "*".join([b] * int(-e)) + "))"
        if e == sp.S.Half and self.is_tensor(base):
            return f"{self.backend.sqrt}({self._print(base)})"
        if e == -sp.S.Half and self.is_tensor(base):
            return f"(1.0/{self.backend.sqrt}({self._print(base)}))"
        if e == sp.S.Half:
            return f"math.sqrt({self._print(base)})"
        return f"{b}**{self.parenthesize(e, PRECEDENCE['Pow'])}"

    def _print_Relational(self, expr):
        op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    def _logic(self, expr, op, word):
        if any(self.is_tensor(a) for a in expr.args):
            return "(" + f" {op} ".join(self._print(a) for a in expr.args) + ")"
        return "(" + f" {word} ".join(self._print(a) for a in expr.args) + ")"

    def _print_And(self, expr):
        return self._logic(expr, "&", "and")

    def _print_Or(self, expr):
        return self._logic(expr, "|", "or")

    def _print_Not(self, expr):
        return f"(~{self._print(expr.args[0])})" if self.is_tensor(expr.args[0]) else f"(not {self._print(expr.args[0])})"

    def _print_Piecewise(self, expr):
        *branches, (last_e, last_c) = expr.args
        if last_c is not sp.true:
            raise ValueError(f"Piecewise without an otherwise branch: {expr}")
        if not any(self.is_tensor(c) for _, c in branches):  # conditions on parameters only
            out = self._print(last_e)
            for e, c in reversed(branches):
                out = f"({self._print(e)} if {self._print(c)} else {out})"
            return out
        tensor_values = any(self.is_tensor(e) for e, _ in expr.args)
        out = self._print(last_e)
        if not tensor_values:  # where(c, 1, 0): one branch a tensor of the right dtype
            out = self.backend.const_like.format(out, self.like)
        for e, c in reversed(branches):
            out = f"{self.backend.where}({self._print(c)}, {self._print(e)}, {out})"
        return out

    def _print_Max(self, expr):
        return self._minmax(expr, "maximum")

    def _print_Min(self, expr):
        return self._minmax(expr, "minimum")

    def _minmax(self, expr, op):
        if not any(self.is_tensor(a) for a in expr.args):
            return f"{'max' if op == 'maximum' else 'min'}({', '.join(self._print(a) for a in expr.args)})"
        fn = self.backend.extra[op]
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = fn.format(out, self._print(a))
        return out

    def _print_Function(self, expr):
        op = self.backend.functions.get(type(expr))
        if op == "expand":  # no op of the framework's own: the registry's stable expansion
            return self._print(BY_CLASS[type(expr)].expansion(*expr.args))
        if op is None:
            raise ValueError(f"the {self.backend.name} backend has no operation for {type(expr).__name__} "
                             f"(give its entry in symact/catalog/primitives.py a `{self.backend.name}` operation)")
        args = ", ".join(self._print(a) for a in expr.args)
        if not any(self.is_tensor(a) for a in expr.args):  # a function of parameters only
            return f"{op}({self.backend.const_like.format(args, self.like)})"
        return f"{op}({args})"

    def _print_Symbol(self, expr):
        if expr == K:
            return "K"
        if self.rows and expr.name in self.per_row:
            return self._expand(expr.name)
        if expr.name in self.tensors or expr.name in self.scalars or not self.rows:
            return expr.name
        if expr in self.scope:
            return self._slot_range(expr)
        return expr.name

    # -- rows --------------------------------------------------------------------------------------
    def _expand(self, text: str, n: int | None = None) -> str:
        """A per-row value (shape (...)) broadcast against the slots in scope."""
        n = len(self.scope) if n is None else n
        return text if n == 0 else f"{text}[{', '.join(['...'] + ['None'] * n)}]"

    def _slot_view(self, base: str, p: int, batch: bool = True) -> str:
        n = len(self.scope)
        if n == 1:
            return base
        slots = [":" if q == p else "None" for q in range(n)]
        if batch:
            slots = ["..."] + slots
        else:
            while slots and slots[-1] == "None" and False:
                slots.pop()
        return f"{base}[{', '.join(slots)}]"

    def _slot_range(self, index: sp.Symbol) -> str:
        """range(K) along the slot of ``index`` (for comparisons with labels and other indices)."""
        self.uses_arange = True
        p = self.scope.index(index)
        return self._slot_view("ar", p, batch=False)

    def _index(self, idx) -> str:
        """An index value as a tensor broadcastable against the slots: a slot's range, a label, an argmax."""
        if idx in self.scope:
            return self._slot_range(idx)
        if isinstance(idx, RowArgMax):
            return self._expand(self._hoist_argmax(idx))
        if isinstance(idx, sp.Symbol) and idx.name in self.per_row:
            return self._expand(idx.name)
        if idx.is_Integer:
            return str(int(idx))
        raise ValueError(f"cannot print the row index {idx}")

    def _print_Indexed(self, expr):
        base, idx = expr.base.name, expr.indices[0]
        if idx in self.scope:
            return self._slot_view(base, self.scope.index(idx), batch=base not in self.class_weights)
        if isinstance(idx, sp.Symbol) and idx.name in self.per_row:  # x[y], w[y]
            if base in self.class_weights:
                return self._expand(self._hoist(("w_at", base, idx.name), f"{base}[{idx.name}]", "wy"))
            return self._expand(self._hoist(("take", base, idx.name),
                                            self.backend.take.format(base, idx.name), "xy"))
        raise ValueError(f"cannot print {expr}: index {idx} is neither in scope nor a label")

    def _print_Blocks(self, expr):  # a layout in blocks: block p is the row's slice p, side by side
        return self.backend.extra["cat"].format(", ".join(self._print(a) for a in expr.args))

    def _print_KroneckerDelta(self, expr):
        a, b = expr.args
        return self.backend.to_float.format(f"{self._index(a)} == {self._index(b)}", self.like)

    def _print_Eq(self, expr):  # Eq(i, y) among indices
        if expr.lhs in self.scope or expr.rhs in self.scope:
            return f"({self._index(expr.lhs)} == {self._index(expr.rhs)})"
        return self._print_Relational(expr)

    _print_Equality = _print_Eq

    def _print_Guarded(self, expr):
        s, mask = expr.args
        return self.backend.extra["guard"].format(self._print(s), self._print(mask))

    def _print_Step(self, expr):
        z = self._print(expr.args[0])
        if not self.is_tensor(expr.args[0]):
            return f"(1.0 if {z} > 0 else 0.0)"
        return self.backend.to_float.format(f"{z} > 0", self.like)

    def _print_Ramp(self, expr):
        z = self._print(expr.args[0])
        return self.backend.extra["ramp"].format(z) if self.is_tensor(expr.args[0]) else f"max({z}, 0.0)"

    def _print_XLogX(self, expr):
        return self.backend.extra["xlogx"].format(self._print(expr.args[0]))

    def _print_sign(self, expr):
        z = self._print(expr.args[0])
        return self.backend.extra["sign"].format(z) if self.is_tensor(expr.args[0]) else f"math.copysign(1.0, {z})"

    def _print_Abs(self, expr):
        z = self._print(expr.args[0])
        return self.backend.extra["abs"].format(z) if self.is_tensor(expr.args[0]) else f"abs({z})"

    def _hoist(self, key, text: str, prefix: str) -> str:
        if key not in self.hoisted:
            name = f"{prefix}{len(self.hoisted)}"
            self.hoisted[key] = name
            self.lines.append(f"{name} = {text}")
        return self.hoisted[key]

    def _in_row(self, body: sp.Expr, var: sp.Symbol) -> str:
        """``body`` printed over a fresh scope holding only ``var`` (a per-row reduction's operand)."""
        saved = self.scope
        self.scope = [var]
        try:
            return self._print(body)
        finally:
            self.scope = saved

    def _row_var(self, a: sp.Expr) -> sp.Symbol:
        free = [s for s in a.free_symbols if isinstance(s, sp.Symbol) and s.is_integer and s != K]
        idx = {i for ind in a.atoms(sp.Indexed) for i in ind.indices}
        free = [s for s in idx if isinstance(s, sp.Symbol)]
        if len(free) != 1:
            raise ValueError(f"row reduction over {a}: expected one row index")
        return free[0]

    def _hoist_max(self, a: sp.Expr) -> str:
        return self._hoist(("max", a), self.backend.amax.format(self._in_row(a, self._row_var(a))), "m")

    def _hoist_argmax(self, e: RowArgMax) -> str:
        a = e.args[0]
        return self._hoist(("argmax", a), self.backend.argmax.format(self._in_row(a, self._row_var(a))), "a")

    def _print_RowMax(self, expr):
        return self._expand(self._hoist_max(expr.args[0]))

    def _print_RowArgMax(self, expr):
        return self._expand(self._hoist_argmax(expr))

    def _print_Centered(self, expr):
        u, a = expr.args
        return f"({self._print(u)} - {self._expand(self._hoist_max(a))})"

    def _print_RowLog1pRest(self, expr):
        a = expr.args[0]
        m = self._hoist_max(a)
        var = self._row_var(a)
        d = f"{self._in_row(a, var)} - {m}[..., None]"
        return self._expand(self._hoist(("rest", a), f"{self.backend.log1p_rest}({d})", "l"))

    def _print_Sum(self, expr):
        body, (var, lo, hi) = expr.function, expr.limits[0]
        if (lo, hi) != (0, K - 1):
            raise ValueError(f"a sum over {lo}..{hi}: only whole rows (0..K-1) are supported")
        if var not in body.free_symbols:
            return f"(K*{self.parenthesize(body, PRECEDENCE['Mul'])})"
        outer = {s for s in self.scope}
        depends = bool((body.free_symbols | {i for ind in body.atoms(sp.Indexed) for i in ind.indices}) & outer)
        if not depends:  # one value per row: computed once
            text = f"({self._in_row(body, var)}).sum(-1)"
            return self._expand(self._hoist(("sum", expr), text, "s"))
        self.scope = self.scope + [var]
        try:
            inner = self._print(body)
        finally:
            self.scope = self.scope[:-1]
        return f"({inner}).sum(-1)"


def pull_out(expr: sp.Expr) -> sp.Expr:
    """Σ_k a·f(k) → a·Σ_k f(k) for every factor a free of k (so a sum over j under an output index i
    keeps only the factors that need both axes)."""
    from ..stabilize.rowwise import _pull_out

    return expr.replace(lambda e: isinstance(e, sp.Sum), _pull_out)


def combine_powers(expr: sp.Expr) -> sp.Expr:
    """b^p · b^q → b^(p+q) in a product, where an exponent is not an integer (lq_loss's derivative
    q·d^q/d = q·d^(q−1): d^q underflows or overflows, and d^q/d is 0/0 or inf/inf, where d^(q−1) is
    finite). Exact for real b and real exponents: both sides are e^((p+q)·Log b)."""
    def visit(m):
        powers: dict = {}
        rest = []
        for f in m.args:
            base, e = (f.base, f.exp) if isinstance(f, sp.Pow) else (f, sp.S.One)
            powers.setdefault(base, []).append(e)
        if not any(len(es) > 1 and any(not e.is_Integer for e in es) for es in powers.values()):
            return m
        for base, es in powers.items():
            if len(es) > 1 and any(not e.is_Integer for e in es):
                rest.append(sp.Pow(base, sp.Add(*es), evaluate=False))
            else:
                rest += [sp.Pow(base, e) if e != 1 else base for e in es]
        return sp.Mul(*rest, evaluate=False)

    return expr.replace(lambda e: isinstance(e, sp.Mul), visit)


def fold(expr: sp.Expr) -> sp.Expr:
    """Numeric subtrees (sqrt(2)/sqrt(pi), ...) to one Float each."""
    def compound(e):
        return e.is_number and not e.is_Atom and not isinstance(e, sp.Rational)

    return expr.replace(compound, lambda e: sp.Float(e.evalf(40), 40))


def elementwise_code(exprs: list[sp.Expr], backend: Backend, tensors, scalars, like="x", wrap=1):
    """(assignments, results) for expressions over tensors, common subexpressions shared.

    No CSE pre-optimizations (they rewrite 1 − x as −(x − 1), which flips the sign of a zero)."""
    exprs = [guard_branches(combine_powers(fold(e)), set(tensors)) for e in exprs]
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("t"), optimizations=None, ignore=())
    p = TensorPrinter(backend, tensors=set(tensors), scalars=set(scalars), like=like)
    lines = []
    for s, e in replacements:
        if p.is_tensor(e):
            p.tensors.add(s.name)
        else:
            p.scalars.add(s.name)
        lines.append(f"{s} = {p.doprint(e)}")
    results = []
    for n, e in enumerate(reduced):
        text = p.doprint(e)
        if n < wrap and not p.is_tensor(e):  # a constant (binary_step's derivative 0): a tensor like the input
            text = backend.extra["full_like"].format(like, text)
        results.append(text)
    return lines, results


def row_code(expr: sp.Expr, backend: Backend, index, tensors, per_row, scalars, like="x"):
    """(lines, result) for a row expression; ``index`` the output index (None: one value per row)."""
    expr = fold(pull_out(expr))
    p = TensorPrinter(backend, tensors=set(tensors), scalars=set(scalars), like=like, rows=True,
                      per_row=set(per_row))
    p.scope = [index] if index is not None else []
    result = p.doprint(expr)
    lines = list(p.lines)
    if p.uses_arange:
        lines.insert(0, f"ar = {backend.arange.format(like)}")
    if p.uses_arange or expr.has(K):
        lines.insert(0, f"K = {like}.shape[-1]")
    if not p.is_tensor(expr):
        result = backend.extra["full_like"].format(like, result)
    elif index is not None and not expr.has(sp.Indexed):
        pass
    return lines, result


__all__ = ["Backend", "TensorPrinter", "elementwise_code", "row_code", "fold", "pull_out"]


# -- kernel contexts (shared by the templates of both backends) ----------------------------------------

def elementwise_kernel(fn_name: str, e, backend: Backend, args, tensors, scalars, like="x") -> dict:
    """One elementwise kernel function: {'name', 'args', 'lines', 'result', 'derived'} with the guards
    for ±inf and nan inputs that the body does not already satisfy (x·σ(x) at −inf is −inf·0 = nan;
    the derived limit 0 is returned instead)."""
    import math

    from .source import special_value

    exprs = [e.stable]
    guards = []
    for value, lim in ((math.inf, e.at_inf[0]), (-math.inf, e.at_inf[1])):
        if lim is None:
            continue
        got = special_value(e.stable, value)
        want = special_value(lim, 0.0) if not lim.free_symbols else None
        if got is not None and want is not None and (got == want or (got != got and want != want)):
            continue
        guards.append((value, lim))
    nan_free = special_value(e.stable, math.nan)
    nan_guard = not (nan_free is not None and nan_free != nan_free)
    lines, results = elementwise_code(exprs + [lim for _, lim in guards], backend, tensors, scalars, like, wrap=1)
    result, lims = results[0], results[1:]
    if result in args:  # the input itself (identity): a new tensor, as autograd requires
        result = backend.extra["copy"].format(result)
    out = [f"result = {result}"]
    for (value, _), text in zip(guards, lims):
        out.append(f"result = {backend.where}({like} == {'math.inf' if value > 0 else '-math.inf'}, {text}, result)")
    if all(lim is not None and lim.is_finite for lim in e.at_inf):
        # a nan at a huge finite x (gelu_tanh's x·x³ overflows to inf, times sigma = 0): the function has
        # reached its limit there to the last digit; return the derived limit of that side
        plus, minus = (elementwise_code([lim], backend, tensors, scalars, like, wrap=0)[1][0] for lim in e.at_inf)
        out.append(f"result = {backend.where}({backend.isnan.format('result')} & ~{backend.isnan.format(like)}, "
                   f"{backend.where}({like} > 0, {plus}, {minus}), result)")
    if nan_guard:
        out.append(f"result = {backend.where}({backend.isnan.format(like)}, {like}, result)")
    return {"name": fn_name, "args": list(args), "lines": lines + out, "result": "result",
            "emitted": sp.sstr(e.stable), "kernel": e.name}


def split_blocks(expr: sp.Expr, layout) -> tuple[sp.Expr, list[str], set]:
    """A layout in blocks (catalog.vectors.Layout): each row element x[m + p·K/parts] becomes element m
    of block p, a tensor ``x_b{p}`` sliced from the row, so the output index runs over a block's length.
    Returns the expression, the slicing lines and the block tensors' names."""
    if layout.parts == 1:
        return expr, [], set()
    h = sp.Symbol("h", integer=True, positive=True)
    bases = [sp.IndexedBase(f"{X_ROW.name}_b{p}", real=True) for p in range(layout.parts)]

    def to_block(e):
        idx = sp.expand(e.indices[0].subs(K, layout.parts * h))
        p = int(idx.coeff(h))
        return bases[p][idx - p * h]

    expr = expr.replace(lambda q: isinstance(q, sp.Indexed) and q.base == X_ROW, to_block)
    lines = [f"h = {X_ROW.name}.shape[-1] // {layout.parts}"]
    def at(p):
        return "" if p == 0 else "h" if p == 1 else f"{p}*h"
    lines += [f"{b.name} = {X_ROW.name}[..., {at(p)}:{at(p + 1)}]" for p, b in enumerate(bases)]
    return expr, lines, {b.name for b in bases}


def row_kernel(fn_name: str, e, backend: Backend, args, tensors, per_row, scalars, like="x", layout=FULL) -> dict:
    expr, pre, blocks = split_blocks(e.stable, layout)
    lines, result = row_code(expr, backend, e.index, set(tensors) | blocks, per_row, scalars, like)
    return {"name": fn_name, "args": list(args), "lines": pre + lines, "result": result,
            "emitted": sp.sstr(e.stable), "kernel": e.name}
