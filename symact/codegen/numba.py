"""SymPy → Numba scalar code, one dtype at a time.

Why a printer of our own: SymPy's NumPy printer emits ``numpy.select`` for Piecewise (which Numba
cannot type in scalar code) and bare float literals (which promote float32 arithmetic to float64).
Here every number is printed as a constant of the kernel's dtype, Piecewise becomes a conditional
expression, and each SymPy function maps, through the primitive registry (``catalog/primitives.py``),
to a ``math`` function or a helper of the generated runtime (``_runtime.py``).
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from ..catalog import X
from ..catalog.primitives import PRIMITIVES
from ..primitives import Hypot1, Hypot1m1, NormCdf, Sigmoid, Softplus


class SinMul(sp.Function):
    """sin(a·b) with a·b kept exact (lowering only): the kernel computes p = a·b, its rounding
    error e = fma(a, b, −p), and sin(p) + e·cos(p). Without it sin(30x) at x = 600 is off by ~1e5 ULP."""
    nargs = 2


class CosMul(sp.Function):
    """cos(a·b) with a·b kept exact: cos(p) − e·sin(p)."""
    nargs = 2


class ExpMul(sp.Function):
    """exp(c·a·b) with a·b and c·(a·b) kept exact (lowering only): the kernel carries both products'
    rounding errors (fma) into the exponential as a low part. Without it e^(-x²/2) is off by about
    x²/4 ULP (GELU's derivative at x = -36.5: 482 ULP in float64, 62 at x = -12.4 in float32)."""
    nargs = 3


class DWPoly(sp.Function):
    """A polynomial in x with numeric coefficients, highest first: DWPoly(x, c_n, ..., c_0), evaluated
    (lowering only) as a double-word h + l by Horner steps that keep each product's and sum's rounding
    error (fma, 2Sum), each coefficient split into two floats. For an argument a transcendental
    magnifies: gelu_tanh's sigma(c1·x + c3·x³) is off by ~|c3·x³| ULP from the rounded cubic (1057 ULP
    at x = -21 in float64), ~3 ULP with it."""

    def helpers(self) -> set[str]:
        return {"_dw_mul_{t}" if c == 0 else "_dw_horner_{t}" for c in self.args[2:]}


class SigmoidPairDW(sp.Function):
    """(sigma(w), sigma(-w)) of a double-word w (lowering only): one exponential, whose reduction takes
    w's low part, and one division for both (GELU-tanh's derivative needs both)."""
    nargs = 1


class SoftplusScaled(sp.Function):
    """softplus(c·z)/c for c > 0 (lowering only), = max(z, 0) + log1p(e^-|c·z|)/c: finite wherever the
    value is. softplus(c·z)/c overflows where c·z does (softplus(x, beta=2) at x = 1e308 was inf; the
    value is x)."""
    nargs = 2


class Pair(sp.Function):
    """a·d (lowering only, printed as one parenthesised product): an unbounded factor a (x, a
    parameter) multiplied into a bounded, decaying one d (sigma, Phi, e^(-x²/2)) before anything
    else, so that a product such as x²·sigma(t)·sigma(-t) never forms x² (inf for |x| > 1.3e154, and
    inf·0 = nan where the value is 0), and beta·x·sigma(-beta·x) never forms an overflowed beta·x."""
    nargs = 2
    cheap = True


class Guarded(sp.Function):
    """r·d, but d where d is 0 (lowering only): for a factor r that may overflow (a polynomial such as
    1 + c·x²) times a decaying product d that has underflowed to exactly 0, whose true product is
    below the smallest subnormal (the decay is exponential, the growth polynomial): inf·0 would be
    nan. Printed as a select, so the loop still vectorizes."""
    nargs = 2
    cheap = True


class Item(sp.Function):
    """Item(e, i): element i of a lowering that returns a tuple (printed e[i])."""
    nargs = 2
    cheap = True


EXACT_PRODUCT = {sp.sin: SinMul, sp.cos: CosMul}

# SymPy function → name in the generated code ({t} is the dtype tag, f32 or f64): every primitive of the
# registry (catalog/primitives.py: exp, log, tanh, erf, … go to the runtime's own vectorizable versions, since
# Numba would call scalar libm for math.* and not vectorize), then the functions the lowering below invents.
FUNCTIONS: dict[type, str] = {p.sympy: p.numba for p in PRIMITIVES}
FUNCTIONS.update({
    sp.Abs: "abs",
    SoftplusScaled: "softplus_scaled_{t}",
    SinMul: "sin_mul_{t}",
    CosMul: "cos_mul_{t}",
    ExpMul: "exp_mul_{t}",
    SigmoidPairDW: "sigmoid_pair_dw_{t}",
})

DTYPES = {"f32": np.float32, "f64": np.float64}


class UnprintableFunction(ValueError):
    """A function the printer has no helper for: an error at generate time, never a kernel that fails
    with NameError on its first call."""

# What each runtime helper returns at +inf, -inf and nan, in both dtypes (tests/test_elementary.py
# checks every entry against the helpers themselves): the code's values at those inputs, which need not
# be the mathematical limits that primitives.StablePrimitive.special gives SymPy. special_value
# uses it to see which of a kernel's guards for the special inputs the body already satisfies: those
# are left out (each guard is a compare and a select per element, ~18% of sigmoid's time).
_NAN = float("nan")
HELPER_SPECIALS: dict[type, tuple[float, float, float]] = {p.sympy: p.specials for p in PRIMITIVES if p.elide_guards}
HELPER_SPECIALS[SoftplusScaled] = (float("inf"), 0.0, _NAN)  # in its last argument, for any valid c > 0
# The same for the helpers that return a pair: sigmoid_pair_dw of a double-word whose high part is
# +inf, -inf or nan (the low part is then nan: inf·x - inf), checked by tests/test_elementary.py too.
PAIR_SPECIALS: dict[type, tuple[tuple[float, float], ...]] = {
    SigmoidPairDW: ((1.0, 0.0), (0.0, 1.0), (_NAN, _NAN)),
}


def fold_constants(expr: sp.Expr) -> sp.Expr:
    """Replace numeric subtrees (sqrt(2)/sqrt(pi), pi, …) by one Float each, so each prints once."""
    def is_compound_number(e):
        return e.is_number and not e.is_Atom and not isinstance(e, sp.Rational)

    return expr.replace(is_compound_number, lambda e: sp.Float(e.evalf(40), 40))


class NumbaPrinter(PythonCodePrinter):
    """Prints scalar expressions for a Numba kernel of one dtype ('f32' or 'f64')."""

    def __init__(self, tag: str):
        super().__init__({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": False})
        self.tag = tag
        self.dtype = DTYPES[tag]
        for cls in FUNCTIONS:  # route SymPy's built-in printers (exp, log, …) through the table
            setattr(self, f"_print_{cls.__name__}", self._print_Function)
        # SymPy's own printers for the other math functions (gamma, tan, …) print bare names the kernels
        # do not define (NameError at the first call): through the table too, which makes them an error
        for name in PythonCodePrinter._kf:
            if f"_print_{name}" not in type(self).__dict__:
                if getattr(sp, name, None) not in FUNCTIONS:
                    setattr(self, f"_print_{name}", self._print_Function)

    def _print(self, expr, **kwargs):
        try:
            return super()._print(expr, **kwargs)
        except sp.printing.codeprinter.PrintMethodNotImplementedError:  # lowergamma, fresnels, …
            raise UnprintableFunction(f"no primitive {type(expr).__name__!r} in the primitive registry "
                                      "(symact/catalog/primitives.py)") from None

    def _print_sign(self, expr):  # SymPy's prints a bare copysign, which the kernels do not import
        a = self._print(expr.args[0])
        return f"({self.const(0)} if {a} == {self.const(0)} else math.copysign({self.const(1)}, {a}))"

    # -- numbers: always in the kernel's dtype --------------------------------------------------
    def const(self, value) -> str:
        v = self.dtype(float(value))
        if np.isinf(v):
            text = "math.inf" if v > 0 else "-math.inf"
            return text if self.tag == "f64" else f"np.float32({text})"
        text = repr(float(v))
        return text if self.tag == "f64" else f"np.float32({text})"

    def _print_Integer(self, expr):
        return self.const(int(expr))

    def _print_Rational(self, expr):
        return self.const(sp.Float(expr, 40))

    def _print_Float(self, expr):
        return self.const(expr)

    def _print_NumberSymbol(self, expr):
        return self.const(sp.Float(expr.evalf(40), 40))

    _print_Pi = _print_Exp1 = _print_NumberSymbol

    def _print_Infinity(self, expr):
        return self.const(float("inf"))

    def _print_NegativeInfinity(self, expr):
        return self.const(float("-inf"))

    def _print_NaN(self, expr):
        return "math.nan" if self.tag == "f64" else "np.float32(math.nan)"

    def _print_Half(self, expr):
        return self.const(0.5)

    def _print_One(self, expr):
        return self.const(1)

    def _print_Zero(self, expr):
        return self.const(0)

    def _print_NegativeOne(self, expr):
        return self.const(-1)

    # -- structure ---------------------------------------------------------------------------------
    def _print_Pow(self, expr, rational=False):
        base, e = expr.base, expr.exp
        b = self.parenthesize(base, sp.printing.precedence.PRECEDENCE["Pow"])
        if e.is_Integer and 1 <= e <= 4:
            return "(" + "*".join([b] * int(e)) + ")"
        if e == -1:
            return f"({self.const(1)}/({b}))"
        if e.is_Integer and -4 <= e <= -2:
            # (1/b)·(1/b), not 1/(b·b): b·b overflows (or goes subnormal) where 1/b² is still a normal or
            # subnormal number — softsign′ = (1 + |x|)⁻² was 0 beyond 1.8e19 in float32. Costs ≤ 0.5 ULP more.
            return "(" + "*".join([f"({self.const(1)}/({b}))"] * int(-e)) + ")"
        if e == sp.S.Half:
            return f"math.sqrt({self._print(base)})"
        if e == -sp.S.Half:
            return f"({self.const(1)}/math.sqrt({self._print(base)}))"
        return f"{b}**{self.parenthesize(e, sp.printing.precedence.PRECEDENCE['Pow'])}"

    def _print_Add(self, expr, order=None):
        """The kernel's argument plus a constant that the dtype cannot hold (y + alpha·scale in SELU's
        derivative from the output) as (y + c_hi) + c_lo: where y is near -c the first sum is exact (Sterbenz)
        and the result keeps c's digits, instead of the 1e-16 the rounded c would leave."""
        numbers = [a for a in expr.args if a.is_number]
        symbols = [a for a in expr.args if a.is_Symbol and a.name in ("x", "y")]  # the kernel's argument
        if len(numbers) == 1 and len(symbols) == 1 and len(expr.args) == 2:
            c, v = numbers[0], symbols[0]
            if sp.Float(c, 40) != sp.Float(float(self.dtype(float(c))), 40):
                hi, lo = self.split(c)
                return f"(({self._print(v)} + {hi}) + {lo})"
        return super()._print_Add(expr, order)

    def _print_Piecewise(self, expr):
        *branches, (last_e, last_c) = expr.args
        if last_c is not sp.true:
            raise ValueError(f"Piecewise without an otherwise branch: {expr}")
        out = self._print(last_e)
        for e, c in reversed(branches):
            out = f"({self._print(e)} if {self._print(c)} else {out})"
        return out

    def _print_Relational(self, expr):
        op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    def _print_And(self, expr):
        return "(" + " and ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " or ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"(not {self._print(expr.args[0])})"

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"

    def _print_Max(self, expr):
        return self._nest("max", expr.args)

    def _print_Min(self, expr):
        return self._nest("min", expr.args)

    def _nest(self, fn, args):
        out = self._print(args[0])
        for a in args[1:]:
            out = f"{fn}({out}, {self._print(a)})"
        return out

    def _print_Function(self, expr):
        name = FUNCTIONS.get(type(expr))
        if name is None:
            raise UnprintableFunction(f"no primitive {type(expr).__name__!r} in the primitive registry "
                                      f"(symact/catalog/primitives.py): "
                                      f"write the entry with functions the kernels have, or add one")
        return f"{name.format(t=self.tag)}({', '.join(self._print(a) for a in expr.args)})"

    def _print_Symbol(self, expr):
        return expr.name

    def _print_Pair(self, expr):
        return f"({self._print(expr.args[0])}*{self._print(expr.args[1])})"

    def _print_Guarded(self, expr):
        r, d = (self._print(a) for a in expr.args)
        return f"(({r})*({d}) if ({d}) != {self.const(0)} else ({d}))"

    def _print_Item(self, expr):
        return f"{self._print(expr.args[0])}[{int(expr.args[1])}]"

    def _print_DWPoly(self, expr):
        x, lead, *rest = expr.args
        out = "({}, {})".format(*self.split(lead))
        for c in rest:
            out = (f"_dw_mul_{self.tag}({out}, {self._print(x)})" if c == 0 else
                   f"_dw_horner_{self.tag}({out}, {self._print(x)}, {', '.join(self.split(c))})")
        return out

    def split(self, value) -> tuple[str, str]:
        """A number as hi + lo in the kernel's dtype (hi = the rounded value, lo = the rest)."""
        v = sp.Float(value, 40)
        hi = self.dtype(float(v))
        return self.const(hi), self.const(v - sp.Float(float(hi), 40))


def _exact_power_of_two(c: sp.Expr) -> bool:
    return c.is_Number and c != 0 and sp.log(abs(c), 2).is_Integer


def lower(expr: sp.Expr) -> sp.Expr:
    """Kernel-level lowering before printing: numeric subtrees folded, periodic functions of a
    product c·x (c not a power of two, so c·x rounds) turned into their exact-product forms, and
    e^(c·x²) into ExpMul(c, x, x), which keeps x² exact, and sigma of a polynomial of degree >= 2 in x
    into an item of SigmoidPairDW of its double-word value (DWPoly, the leading coefficient made
    positive: sigma(P) and sigma(-P) then share one evaluation)."""
    def is_product_arg(e):
        if type(e) not in EXACT_PRODUCT:
            return False
        c, rest = e.args[0].as_independent(X, as_Add=False)
        return rest == X and c != 1 and not _exact_power_of_two(c)

    def exact(e):
        c, _ = e.args[0].as_independent(X, as_Add=False)
        return EXACT_PRODUCT[type(e)](c, X)

    def is_exp_of_square(e):
        if not isinstance(e, sp.exp):
            return False
        c, rest = e.args[0].as_independent(X, as_Add=False)
        return rest == X**2

    def exp_of_square(e):
        c, _ = e.args[0].as_independent(X, as_Add=False)
        return ExpMul(c, X, X)

    def is_sigmoid_of_poly(e):
        if not isinstance(e, Sigmoid) or not e.args[0].has(X) or not e.args[0].is_polynomial(X):
            return False
        p = sp.Poly(e.args[0], X)
        return p.degree() >= 2 and all(c.is_number for c in p.all_coeffs())

    def sigmoid_of_poly(e):
        coeffs = sp.Poly(e.args[0], X).all_coeffs()
        if coeffs[0] < 0:
            return Item(SigmoidPairDW(DWPoly(X, *[-c for c in coeffs])), 1)
        return Item(SigmoidPairDW(DWPoly(X, *coeffs)), 0)

    def is_scaled_softplus(e):
        if not (isinstance(e, sp.Mul) and len(e.args) == 2):
            return False
        inv = [a for a in e.args if isinstance(a, sp.Pow) and a.exp == -1]
        sp_ = [a for a in e.args if isinstance(a, Softplus)]
        if len(inv) != 1 or len(sp_) != 1 or not inv[0].base.is_positive:
            return False
        c, rest = sp_[0].args[0].as_independent(X, as_Add=False)
        return rest == X and c == inv[0].base

    def scaled_softplus(e):
        (inv,) = [a for a in e.args if isinstance(a, sp.Pow)]
        return SoftplusScaled(inv.base, X)

    expr = expr.replace(is_product_arg, exact).replace(is_exp_of_square, exp_of_square)
    expr = expr.replace(is_sigmoid_of_poly, sigmoid_of_poly).replace(is_scaled_softplus, scaled_softplus)
    expr = expr.replace(_is_scaled_difference, _scaled_difference)  # appended for the losses: c·a − c·b
    expr = _lower_extremes(expr)  # appended for the losses at the extremes (end of file)
    return fold_constants(safe_products(expr))


_DECAYING = (Sigmoid, NormCdf, ExpMul, Item)  # bounded by 1 (Item: of SigmoidPairDW), and -> 0 in a tail


def _decaying(f: sp.Expr) -> bool:
    base = f.base if isinstance(f, sp.Pow) and f.exp.is_Integer and f.exp > 0 else f
    return isinstance(base, _DECAYING)


def safe_products(expr: sp.Expr) -> sp.Expr:
    """Products that must not overflow on the way to a finite value (lowering): in a product of
    unbounded factors (x, parameters, their powers, polynomials) and bounded decaying ones (sigma,
    Phi, e^(-x²/2)), each unbounded symbol is first multiplied into its own decaying factor
    (:class:`Pair`), and what is left over (a polynomial) is applied through :class:`Guarded`.
    x²·sigma(t)·sigma(-t) becomes (x·sigma(t))·(x·sigma(-t)): never more than |x|·|x·sigma(-t)|.
    Products with one unbounded factor are left as they are (x·sigma(x) cannot overflow), unless a
    coefficient above 1 would multiply it first: 4·x·sigma(x)·sigma(-t)·sigma(t) becomes
    4·(x·sigma(x)·sigma(-t)·sigma(t)), x multiplied into the decaying factors before the 4."""
    def prone(e):
        if not isinstance(e, sp.Mul):
            return False
        factors = e.args
        unbounded = sum(int(f.exp) if isinstance(f, sp.Pow) and f.base.is_Symbol and f.exp.is_Integer
                        and f.exp > 0 else 1 for f in factors if not f.is_number and not _decaying(f))
        coeff = sp.Mul(*[f for f in factors if f.is_number])
        # a coefficient > 1 applied first would overflow a lone x too (4·x·sigma(x)·... at x = -max)
        return (unbounded >= 2 or (unbounded == 1 and abs(coeff) > 1)) and any(_decaying(f) for f in factors)

    def rebuild(e):
        coeff, atoms, others, decaying = sp.S.One, [], [], []
        for f in e.args:
            if f.is_number:
                coeff *= f
            elif _decaying(f):
                decaying += [f.base] * int(f.exp) if isinstance(f, sp.Pow) else [f]
            elif f.is_Symbol:
                atoms.append(f)
            elif isinstance(f, sp.Pow) and f.base.is_Symbol and f.exp.is_Integer and f.exp > 0:
                atoms += [f.base] * int(f.exp)
            else:
                others.append(f)
        if len(atoms) == 1:  # a lone x into the product of all the decaying factors, whichever decays
            d = Pair(atoms[0], sp.Mul(*decaying))
        else:
            n = min(len(atoms), len(decaying))
            d = sp.Mul(*[Pair(a, g) for a, g in zip(atoms, decaying)], *atoms[n:], *decaying[n:])
        if others:
            d = Guarded(sp.Mul(*others), d)
        return coeff * d

    return expr.replace(prone, rebuild)


_CHEAP = (sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside, sp.Piecewise, sp.KroneckerDelta,
          *[p.sympy for p in PRIMITIVES if p.cost == "arithmetic"])


def transcendental(exprs: list[sp.Expr]) -> bool:
    """Whether kernels for ``exprs`` evaluate more than arithmetic and selects (an exp, log, erf, sqrt,
    sin, ...): they do enough work per element to go parallel at smaller sizes (_runtime.use_parallel).
    Functions of our own that are only arithmetic say so with a class attribute ``cheap = True``."""
    for e in exprs:
        if any(not (isinstance(f, _CHEAP) or getattr(f, "cheap", False)) for f in e.atoms(sp.Function)):
            return True
        if any(not p.exp.is_Integer for p in e.atoms(sp.Pow)):
            return True
    return False


def helpers_used(exprs: list[sp.Expr], tag: str) -> list[str]:
    """Names of the runtime helpers (``sigmoid_f32`` …) that printing ``exprs`` calls."""
    exprs = [lower(e) for e in exprs]
    names = set()
    for f in (f for e in exprs for f in e.atoms(sp.Function)):
        names |= f.helpers() if hasattr(f, "helpers") else {FUNCTIONS.get(type(f), "")}
    return sorted(n.format(t=tag) for n in names if "{t}" in n)


def scalar_body(exprs: list[sp.Expr], tag: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Common-subexpression-eliminated assignments and result expressions for one dtype.

    No CSE pre-optimizations: "basic" rewrites 1 − x as −(x − 1), which is +0 at x = 1 and flips the
    sign of a pole there (BCE's gradient came out −inf instead of +inf)."""
    exprs = [lower(e) for e in exprs]
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("t"), optimizations=None,
                                   ignore=())
    p = NumbaPrinter(tag)
    return [(str(s), p.doprint(e)) for s, e in replacements], [p.doprint(e) for e in reduced]


def special_value(expr: sp.Expr, arg: sp.Symbol, x: float, tag: str):
    """The value the printed kernel computes for ``expr`` at ``arg`` = x (±inf or nan) in the dtype of
    ``tag``, followed through IEEE arithmetic and HELPER_SPECIALS; None where that does not decide it
    (a helper at a finite argument, max/min of a nan, a function not tabulated). Other symbols are
    parameters, unknown, but a nan absorbs them: nan·p and helper(nan) are nan, nan < p is false."""
    dt = DTYPES[tag]
    compare = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
               ">=": np.greater_equal}

    def nan(v):
        return v is not None and not isinstance(v, bool) and np.isnan(v)

    def ev(e):
        if e == arg:
            return dt(x)
        if e.is_Number or isinstance(e, sp.NumberSymbol):
            return dt(float(e)) if e.is_finite or e in (sp.oo, -sp.oo) else None
        if e.is_Symbol:
            return None
        if isinstance(e, sp.Piecewise):
            for branch, cond in e.args:
                c = ev(cond)
                if c is None:
                    return None
                if c:
                    return ev(branch)
            return None
        if e is sp.true or e is sp.false:
            return bool(e)
        vals = [ev(a) for a in e.args]
        if isinstance(e, sp.core.relational.Relational):
            if any(nan(v) for v in vals):
                return e.rel_op == "!="
            return None if None in vals else bool(compare[e.rel_op](*vals))
        if isinstance(e, (sp.And, sp.Or)):
            decisive = isinstance(e, sp.Or)  # a true operand decides an Or, a false one an And
            return decisive if decisive in vals else (None if None in vals else not decisive)
        if isinstance(e, sp.Not):
            return None if vals[0] is None else not vals[0]
        if isinstance(e, (sp.Add, sp.Mul, Pair, Guarded)) or (isinstance(e, sp.Pow) and e.exp.is_number and e.exp != 0) \
                or type(e) in HELPER_SPECIALS or isinstance(e, sp.Abs):
            if any(nan(v) for v in vals):
                return dt(math.nan)
        if isinstance(e, SoftplusScaled) and vals[1] is not None and np.isinf(vals[1]):
            return dt(HELPER_SPECIALS[SoftplusScaled][0 if vals[1] > 0 else 1])  # any c > 0
        if None in vals:
            return None
        if isinstance(e, sp.Add):
            return _fold(vals, lambda a, b: a + b, lambda v: v != 0)
        if isinstance(e, sp.Mul):
            return _fold(vals, lambda a, b: a * b, lambda v: v != 0 and np.frexp(v)[0] not in (0.5, -0.5))
        if isinstance(e, sp.Pow):
            b, p = vals
            if e.exp.is_Integer and 1 <= abs(e.exp) <= 4:
                m = _fold([b] * abs(int(e.exp)), lambda u, v: u * v, lambda v: False)
                return m if e.exp > 0 else dt(1) / m
            if abs(e.exp) == sp.S.Half:
                r = np.sqrt(b)
                return r if e.exp > 0 else dt(1) / r
            return dt(np.power(b, p))
        if isinstance(e, sp.Abs):
            return abs(vals[0])
        if isinstance(e, (sp.Max, sp.Min)):
            r = None if any(nan(v) for v in vals) else (max if isinstance(e, sp.Max) else min)(vals)
            return None if r == 0 else r  # which zero max(0.0, -0.0) keeps is not ours to assume
        if isinstance(e, DWPoly):  # at ±inf and nan only the high parts count: plain Horner
            out = vals[1]
            for c in vals[2:]:
                out = out * vals[0] + c
            return dt(out)
        if isinstance(e, Pair):
            return _fold(vals, lambda a, b: a * b, lambda v: v != 0)
        if isinstance(e, Guarded):
            r, d = vals
            return dt(r * d) if d != 0 else d
        if isinstance(e, Item) and isinstance(vals[0], tuple):
            return vals[0][int(vals[1])]
        if type(e) in PAIR_SPECIALS and len(vals) == 1 and not np.isfinite(vals[0]):
            plus, minus, nan_ = PAIR_SPECIALS[type(e)]
            return tuple(dt(v) for v in (nan_ if np.isnan(vals[0]) else plus if vals[0] > 0 else minus))
        table = HELPER_SPECIALS.get(type(e))
        if table is not None and len(vals) == 1 and not np.isfinite(vals[0]):
            return dt(table[0] if vals[0] > 0 else table[1])
        return None

    def _fold(vals, op, rounds):
        # order-independent only while at most two finite operands can round (the printed order of
        # a sum or product is the printer's, not e.args')
        if sum(1 for v in vals if np.isfinite(v) and rounds(v)) > 2:
            return None
        out = vals[0]
        for v in vals[1:]:
            out = op(out, v)
        return dt(out)

    with np.errstate(all="ignore"):
        return ev(lower(expr))


# ---- appended for the losses: c·a − c·b printed as c·(a − b) -------------------------------------------
# SymPy distributes a number over a sum (2·(x − y) is 2x − 2y), so mse_loss's gradient printed as
# -2.0*target + 2.0*x: inf − inf = nan at x = y = max (the truth is 0), and for c not a power of two three
# roundings where c·(x − y) has two.

class ScaledDifference(sp.Function):
    """c·(a − b): the difference first, then the scale."""
    nargs = 3
    cheap = True

    def _pythoncode(self, printer):
        c, a, b = (printer._print(v) for v in self.args)
        return f"({c}*({a} - {b}))"


def _is_scaled_difference(e) -> bool:
    if not isinstance(e, sp.Add) or len(e.args) != 2:
        return False
    (c1, a), (c2, b) = (t.as_coeff_Mul() for t in e.args)
    return c1.is_Number and c1 == -c2 and abs(c1) != 1 and not a.is_number and not b.is_number


def _scaled_difference(e):
    (c1, a), (c2, b) = (t.as_coeff_Mul() for t in e.args)
    return ScaledDifference(c1, a, b) if c1 > 0 else ScaledDifference(c2, b, a)


# ---- appended for the losses at the extremes: forms that stay finite where the value is ---------------
# Each is lowering only (after the proofs): the same value, computed so that no intermediate overflows,
# underflows to 0 or meets inf/inf, 0·inf where the value is finite (tests/test_losses.py sweeps to ±max).

class Hypot1m1Scaled(sp.Function):
    """k²·hypot1m1((a − b)/k) for k > 0 (pseudo-Huber): |d|·(k·r(|d|/k)), d = a − b taken by halves where
    it overflows. k²·hypot1m1(d/k) was inf where d/k overflows (k < 1) although the value is about k|d|."""
    nargs = 3


class Hypot1Quotient(sp.Function):
    """(a − b)/hypot1((a − b)/k) for k > 0 (pseudo-Huber's gradient): ±k where a − b or (a − b)/k
    overflows (the limit), not inf/inf or d/inf = 0."""
    nargs = 3


class PowDifference(sp.Function):
    """(a − b)^p for a > b and a non-numeric p: where a − b overflows, (a/2 − b/2)^p·2^p (lq_loss's
    q·|x − y|^(q−1) is finite at |x − y| > max)."""
    nargs = 3


class ExpTimes(sp.Function):
    """e^a·b for a factor b that is a sum (it can cancel to exactly 0): b where b is 0 (not inf·0 where
    e^a overflows), and (e^(a/2)·b)·e^(a/2) where e^a alone over- or underflows but the product
    does not (kl_div's log_target term e^t·(t − x))."""
    nargs = 2


class Divided(sp.Function):
    """n/u/v: a quotient with two divisors printed as successive divisions, not n·(1/u)·(1/v), whose
    reciprocal of a subnormal u overflows (BCE's gradient (x − y)/(x(1 − x)) at subnormal x = y was
    0·inf)."""
    nargs = 3
    cheap = True

    def _pythoncode(self, printer):
        n, u, v = (printer._print(a) for a in self.args)
        return f"(({n})/({u})/({v}))"


class Scaled(sp.Function):
    """c·f, the bounded factors c (parameters, the target, numbers) multiplied together before the
    unbounded f (softplus, exp, log): pos_weight·y·softplus(−x) evaluated as pos_weight·softplus(−x)
    first is inf at x = −max for pos_weight > 1 although y·pos_weight·max is finite for small y."""
    nargs = 2
    cheap = True

    def _pythoncode(self, printer):
        c, f = (printer._print(a) for a in self.args)
        return f"(({c})*{f})"


FUNCTIONS.update({Hypot1m1Scaled: "hypot1m1_scaled_{t}", Hypot1Quotient: "hypot1_quotient_{t}",
                  PowDifference: "pow_difference_{t}", ExpTimes: "exp_times_{t}"})


def _difference_operands(u: sp.Expr):
    """(a, b) with a − b = u for a two-term sum (the positive term first), else (u, 0)."""
    if isinstance(u, sp.Add) and len(u.args) == 2 and not any(t.is_number for t in u.args):
        p, q = u.args
        if q.could_extract_minus_sign() and not p.could_extract_minus_sign():
            return p, -q
        if p.could_extract_minus_sign() and not q.could_extract_minus_sign():
            return q, -p
    return u, sp.S.Zero


def _scaled_argument(w: sp.Expr):
    """(u, k) for w = u/k with k a positive symbol, else None."""
    num, den = w.as_numer_denom()
    return (num, den) if den.is_Symbol and den.is_positive else None


def _lower_extremes(expr: sp.Expr) -> sp.Expr:
    def is_scaled_hypot1m1(e):
        if not isinstance(e, sp.Mul):
            return False
        for f in e.args:
            if isinstance(f, Hypot1m1):
                m = _scaled_argument(f.args[0])
                if m and sp.Pow(m[1], 2) in e.args:
                    return True
        return False

    def scaled_hypot1m1(e):
        (f,) = [f for f in e.args if isinstance(f, Hypot1m1)]
        u, k = _scaled_argument(f.args[0])
        rest = [g for g in e.args if g is not f and g != sp.Pow(k, 2)]
        return sp.Mul(*rest) * Hypot1m1Scaled(*_difference_operands(u), k)

    def hypot1_quotient_parts(e):
        if not isinstance(e, sp.Mul):
            return None
        for f in e.args:
            if isinstance(f, sp.Pow) and f.exp == -1 and isinstance(f.base, Hypot1):
                m = _scaled_argument(f.base.args[0])
                if m:
                    for g in e.args:
                        if g == m[0] or g == -m[0]:
                            return f, g, m
        return None

    def hypot1_quotient(e):
        f, g, (u, k) = hypot1_quotient_parts(e)
        rest = [h for h in e.args if h is not f and h is not g]
        sign = 1 if g == u else -1
        return sign * sp.Mul(*rest) * Hypot1Quotient(*_difference_operands(u), k)

    def is_pow_difference(e):
        return isinstance(e, sp.Pow) and not e.exp.is_number and _difference_operands(e.base)[1] != 0

    def pow_difference(e):
        return PowDifference(*_difference_operands(e.base), e.exp)

    def is_exp_times_sum(e):
        return isinstance(e, sp.Mul) and any(isinstance(f, sp.exp) for f in e.args) and \
            any(isinstance(f, sp.Add) and f.has(X) and len(f.free_symbols) > 1 for f in e.args)

    def exp_times_sum(e):
        f = next(f for f in e.args if isinstance(f, sp.exp))
        return ExpTimes(f.args[0], sp.Mul(*[g for g in e.args if g is not f]))

    def is_divided(e):
        if not isinstance(e, sp.Mul):
            return False
        dens = [f for f in e.args if isinstance(f, sp.Pow) and f.exp == -1 and not f.base.is_number]
        nums = [f for f in e.args if f not in dens and not f.is_number]
        return len(dens) == 2 and len(nums) == 1 and isinstance(nums[0], sp.Add)

    def divided(e):
        dens = [f for f in e.args if isinstance(f, sp.Pow) and f.exp == -1 and not f.base.is_number]
        rest = [f for f in e.args if f not in dens]
        return Divided(sp.Mul(*rest), dens[0].base, dens[1].base)

    def is_scaled(e):
        if not isinstance(e, sp.Mul):
            return False
        growing = [f for f in e.args if isinstance(f, (Softplus, sp.exp, sp.log))]
        others = [f for f in e.args if f not in growing]
        return len(growing) == 1 and len(others) >= 2 and \
            sum(1 for f in others if f.is_Symbol) >= 2 and all(not f.has(X) for f in others)

    def scaled(e):
        (f,) = [f for f in e.args if isinstance(f, (Softplus, sp.exp, sp.log))]
        return Scaled(sp.Mul(*[g for g in e.args if g is not f]), f)

    expr = expr.replace(is_scaled_hypot1m1, scaled_hypot1m1)
    expr = expr.replace(lambda e: hypot1_quotient_parts(e) is not None, hypot1_quotient)
    expr = expr.replace(is_pow_difference, pow_difference)
    expr = expr.replace(is_exp_times_sum, exp_times_sum)
    expr = expr.replace(is_divided, divided)
    return expr.replace(is_scaled, scaled)



# ---- appended for the catalog's piecewise-linear entries: c·x + d printed as c·(x + d/c) ---------------------------
# SymPy distributes (x + 3)/6 into x/6 + 1/2 (hardsigmoid; hardswish's derivative x/3 + 1/2): near the zero at
# x = -d/c the rounded c·x cancels against d, and the result is off by many ULP (x/3 + 1/2 at x = -1.5 is 5.6e-17,
# not 0). Where d/c is a small dyadic number (exact in both dtypes), x + d/c is exact near the zero (Sterbenz) and
# c·(x + d/c) rounds twice at most, as PyTorch's (x + 3)/6.

class ScaledSum(sp.Function):
    """c·(a + r): the sum first, then the scale."""
    nargs = 3
    cheap = True

    def _pythoncode(self, printer):
        c, a, r = (printer._print(v) for v in self.args)
        return f"({c}*({a} + {r}))"


def _is_affine(e) -> bool:
    if not isinstance(e, sp.Add) or len(e.args) != 2:
        return False
    d, term = e.as_coeff_Add()
    c, s = term.as_coeff_Mul()
    if not (d.is_Rational and d != 0 and c.is_Rational and s.is_Symbol) or _exact_power_of_two(c):
        return False
    r = d / c
    return r.q & (r.q - 1) == 0 and abs(r.p) < 2 ** 24


def _affine(e):
    d, term = e.as_coeff_Add()
    c, s = term.as_coeff_Mul()
    return ScaledSum(c, s, d / c)


_lower_before_affine = lower


def _is_scaled_scaled_difference(e) -> bool:
    c, rest = e.as_coeff_Mul() if isinstance(e, sp.Mul) else (None, None)
    return c is not None and c.is_Rational and c != 1 and any(isinstance(f, ScaledDifference) for f in sp.Mul.make_args(rest))


def _scaled_scaled_difference(e):
    # c·(k·(a − b))·rest → (c·k)·(a − b)·rest: gaussian_nll_loss's (2x − 2y)·w/2 printed 2·(x − y) first, which
    # overflows at x = max where (x − y)·w is finite
    c, rest = e.as_coeff_Mul()
    factors = list(sp.Mul.make_args(rest))
    sd = next(f for f in factors if isinstance(f, ScaledDifference))
    factors.remove(sd)
    k, a, b = sd.args
    ck = c * k
    scaled = (a - b) if ck == 1 else (b - a) if ck == -1 else ScaledDifference(ck, a, b)
    return sp.Mul(scaled, *factors)


def lower(expr: sp.Expr) -> sp.Expr:  # noqa: F811 - the lowering above, then c·x + d → c·(x + d/c)
    out = _lower_before_affine(expr).replace(_is_affine, _affine)
    return out.replace(_is_scaled_scaled_difference, _scaled_scaled_difference)
