"""Users' own functions: a spec file (the catalog API) or one ``name(p=1) = expression`` string.

Expression strings are never evaluated as Python. They are parsed with :mod:`ast` and rebuilt as
SymPy by a whitelist walk: numbers, the input ``x``, declared parameters, a few constants and the
functions in :data:`FUNCTIONS`; arithmetic, comparisons (for Piecewise conditions), tuples. No
attribute access, subscripts, lambdas, comprehensions, keywords or dunder names; sizes and nesting
are bounded. Everything a user can get wrong is a :class:`SpecError` whose message names the
function and the problem.
"""
from __future__ import annotations

import ast
import importlib.util
import math
import re
import sys
from pathlib import Path

import mpmath
import sympy as sp

from .catalog import X, Activation, Param
from .catalog.primitives import PRIMITIVES

MAX_LENGTH = 2000
MAX_DEPTH = 40
MAX_EXPONENT = 64

# Structure (roots, |·|, max, min, Piecewise), then every primitive of the registry that --define accepts
# (catalog/primitives.py), as its textbook formula: sigmoid(x) is 1/(1 + e^-x), log_cosh(x) is log(cosh(x)),
# which the stabilizer turns back into the stable primitive; SymPy's own functions (exp, cosh) as themselves.
FUNCTIONS = {
    "sqrt": sp.sqrt, "abs": sp.Abs, "Abs": sp.Abs, "max": sp.Max, "Max": sp.Max, "min": sp.Min, "Min": sp.Min,
    "Piecewise": sp.Piecewise,
    **{p.name: p.textbook for p in PRIMITIVES if p.define},
}
CONSTANTS = {"pi": sp.pi, "E": sp.E}
_BINOPS = {ast.Add: sp.Add, ast.Sub: lambda a, b: a - b, ast.Mult: sp.Mul, ast.Div: lambda a, b: a / b,
           ast.Pow: sp.Pow}
_CMPOPS = {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge}
MAX_NAME = 41
_NAME = re.compile(rf"^[a-z][a-z0-9_]{{0,{MAX_NAME - 1}}}$")


class SpecError(ValueError):
    """A user definition that symact cannot accept; the message says which and why."""


def _fail(name: str, problem: str):
    raise SpecError(f"{name}: {problem}")


def parse_expression(text: str, name: str, params: dict[str, sp.Symbol]) -> sp.Expr:
    """SymPy expression from ``text`` through the whitelist; never executes ``text``."""
    if len(text) > MAX_LENGTH:
        _fail(name, f"expression is {len(text)} characters long (at most {MAX_LENGTH})")
    text = text.strip()
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        _fail(name, f"cannot parse {text!r}: {getattr(exc, 'msg', exc)}")
    symbols = {"x": X, **params}

    def walk(node, depth):
        if depth > MAX_DEPTH:
            _fail(name, f"expression nested deeper than {MAX_DEPTH} levels")
        d = depth + 1
        if isinstance(node, ast.Expression):
            return walk(node.body, d)
        if isinstance(node, ast.Constant):
            v = node.value
            if v is True:  # the otherwise-branch of a Piecewise
                return sp.true
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                _fail(name, f"only numbers are allowed as constants, not {v!r}")
            if not math.isfinite(v) or abs(v) > 1e300:
                _fail(name, f"number {text[node.col_offset:node.end_col_offset]} is out of range")
            return sp.Integer(v) if isinstance(v, int) else sp.nsimplify(repr(v), rational=True)
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                _fail(name, f"name {node.id!r} is not allowed")
            if node.id in symbols:
                return symbols[node.id]
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            if node.id in FUNCTIONS:
                _fail(name, f"function {node.id!r} must be called")
            _fail(name, f"unknown symbol {node.id!r}: the input is x, parameters must be declared "
                        f"(name(p=1.0) = ...), known constants are {', '.join(CONSTANTS)}")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = walk(node.operand, d)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            a, b = walk(node.left, d), walk(node.right, d)
            if isinstance(node.op, ast.Pow) and b.is_number and (not b.is_finite or abs(b) > MAX_EXPONENT):
                _fail(name, f"exponent {b} is too large (at most {MAX_EXPONENT} in magnitude)")
            return _BINOPS[type(node.op)](a, b)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMPOPS:
            return _CMPOPS[type(node.ops[0])](walk(node.left, d), walk(node.comparators[0], d))
        if isinstance(node, ast.BoolOp):
            op = sp.And if isinstance(node.op, ast.And) else sp.Or
            return op(*[walk(v, d) for v in node.values])
        if isinstance(node, ast.Tuple):
            return tuple(walk(e, d) for e in node.elts)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                _fail(name, "only plain function calls like exp(x) are allowed (no attribute access)")
            fname = node.func.id
            if fname not in FUNCTIONS:
                _fail(name, f"unknown function {fname!r}; allowed: {', '.join(sorted(FUNCTIONS))}")
            if node.keywords:
                _fail(name, f"{fname}() takes no keyword arguments here")
            args = [walk(a, d) for a in node.args]
            try:
                return FUNCTIONS[fname](*args)
            except (TypeError, ValueError) as exc:
                _fail(name, f"{fname}{tuple(args)} is not valid: {exc}")
        if isinstance(node, ast.Attribute):
            _fail(name, "attribute access is not allowed")
        _fail(name, f"{type(node).__name__} is not allowed in an expression")

    try:
        expr = walk(tree, 0)
    except RecursionError:
        _fail(name, "expression nested too deeply")
    if isinstance(expr, tuple) or not isinstance(expr, sp.Expr):
        _fail(name, "the expression must be a real-valued formula in x")
    return expr


_DEFINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*?)\))?\s*=(?!=)(.*)$", re.S)


def parse_define(text: str) -> Activation:
    """``"mish = x*tanh(log(1 + exp(x)))"`` or ``"name(a=0.25, b=1) = expression"`` → an entry."""
    m = _DEFINE.match(text)
    if not m:
        raise SpecError(f"--define {text!r}: expected 'name = expression' or 'name(p=1.0) = expression'")
    name, plist, body = m.group(1), m.group(2), m.group(3)
    params: list[Param] = []
    for item in filter(None, (s.strip() for s in (plist or "").split(","))):
        pm = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)\s*=\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)", item)
        if not pm:
            _fail(name, f"parameter {item!r} must look like name=1.0")
        if pm.group(1) == "x" or pm.group(1) in FUNCTIONS or pm.group(1) in CONSTANTS:
            _fail(name, f"parameter name {pm.group(1)!r} is reserved")
        if any(p.name == pm.group(1) for p in params):
            _fail(name, f"parameter {pm.group(1)!r} is declared twice")
        value = float(pm.group(2))
        if not math.isfinite(value):
            _fail(name, f"parameter {pm.group(1)} = {pm.group(2)} is not finite")
        params.append(Param(pm.group(1), value, "user parameter"))
    symbols = {p.name: p.symbol for p in params}
    expr = parse_expression(body, name, symbols)
    order = [p.name for p in params]
    return Activation(
        name=name,
        formula=lambda x, *vals, _e=expr, _s=tuple(symbols[n] for n in order): _e.subs(dict(zip(_s, vals))),
        params=tuple(params), source="user definition (--define)", summary=body.strip(),
        kinks="as the Piecewise conditions say (the branch owning a boundary gives its derivative)",
    )


def validate(entry: Activation, taken: dict[str, str] | set[str] | None = None) -> None:
    """Reject what would fail later, with a message that names the entry and the problem.

    ``taken``: {kernel name: whose it is} of every other entry (default: the catalog's, by
    ``symact.build.produced_names``). No kernel name of ``entry`` (``emit.kernel_names``: name, name_grad,
    name_grad_<p>, name_fwd_grad, …) may be taken, nor be a reserved name (``build.reserved_names``:
    keywords, builtins, primitives, the generated package's own names); nor may a parameter."""
    from .build import KERNEL_LOCALS, produced_names, reserved_names
    from .codegen.emit import kernel_names

    name = entry.name
    if taken is None:
        taken = produced_names()
    elif not isinstance(taken, dict):
        taken = {n: "another definition" for n in taken}
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        _fail(name, "a name must be lower case letters, digits and _, starting with a letter")
    if name in taken:
        _fail(name, f"the name is already used by {taken[name]}; choose another name")
    for kernel in kernel_names(entry):
        if kernel in taken:
            _fail(name, f"its kernel {kernel!r} would have the name of {taken[kernel]}; choose another name")
    if not _NAME.match(name):
        _fail(name, f"a name may be at most {MAX_NAME} characters long")
    reserved = reserved_names()
    if name in reserved:
        _fail(name, f"the name is reserved: it is {reserved[name]}; choose another name")
    for kernel in kernel_names(entry):
        if kernel in reserved:
            _fail(name, f"its kernel {kernel!r} would have a reserved name ({reserved[kernel]}); "
                        "choose another name")
    seen = set()
    for p in entry.params:
        if not isinstance(p.name, str) or not _NAME.match(p.name):
            _fail(name, f"parameter name {p.name!r} is not allowed: lower case letters, digits and _, "
                        "starting with a letter")
        if p.name in seen:
            _fail(name, f"parameter {p.name!r} is declared twice")
        seen.add(p.name)
        if p.name in KERNEL_LOCALS:
            _fail(name, f"parameter name {p.name!r} is reserved: the kernels use it for "
                        f"{'the input' if p.name == 'x' else 'an argument or variable of their own'}")
        if p.name in reserved:
            _fail(name, f"parameter name {p.name!r} is reserved: it is {reserved[p.name]}")
        if p.name in kernel_names(entry):
            _fail(name, f"parameter name {p.name!r} is also the name of one of its kernels")
    try:
        expr = entry.expr()
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001 - a user formula that does not build
        _fail(name, f"the formula does not build: {exc}")
    allowed = {X} | {p.symbol for p in entry.params}
    extra = sorted(s.name for s in expr.free_symbols - allowed)
    if extra:
        _fail(name, f"free symbols {', '.join(extra)} are neither x nor declared parameters")
    if expr.has(sp.I):
        _fail(name, "the formula is not real-valued (contains i)")
    d = sp.diff(expr, X)
    if d.has(sp.Derivative, sp.Subs, sp.DiracDelta):
        _fail(name, f"the formula is not differentiable in closed form: d/dx = {d}")
    from sympy.core.function import AppliedUndef

    undefined = sorted({type(f).__name__ for f in expr.atoms(AppliedUndef)})
    if undefined:
        _fail(name, f"unknown function(s) {', '.join(undefined)}")
    defaults = {p.symbol: p.value for p in entry.params}
    f = sp.lambdify([X], expr.subs(defaults), modules="mpmath")
    with mpmath.workdps(30):
        for xv in (-3.5, -1.25, -0.5, 0.0, 0.75, 1.5, 3.25):
            try:
                v = f(mpmath.mpf(xv))
            except (ZeroDivisionError, ValueError, TypeError):
                continue
            if isinstance(v, mpmath.mpc) and abs(v.imag) > 0:
                _fail(name, f"the formula is not real-valued: f({xv}) = {mpmath.nstr(v, 6)}")


def load_spec(path: str | Path) -> tuple[list[Activation], list]:
    """Import a spec file: module-level ``ACTIVATIONS`` (and optional ``IDENTITIES``) lists."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {path} does not exist")
    modname = f"symact_user_spec_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)  # the user's own Python file, run as its author wrote it
    except Exception as exc:  # noqa: BLE001
        raise SpecError(f"spec file {path} failed to import: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.modules.pop(modname, None)
    acts = list(getattr(module, "ACTIVATIONS", []))
    idents = list(getattr(module, "IDENTITIES", []))
    if not acts and not idents:
        raise SpecError(f"spec file {path} defines neither ACTIVATIONS nor IDENTITIES")
    for a in acts:
        if not isinstance(a, Activation):
            raise SpecError(f"spec file {path}: ACTIVATIONS holds {a!r}, not symact.catalog.Activation")
    return acts, idents
