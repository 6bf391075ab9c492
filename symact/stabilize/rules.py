"""Textbook formulas → numerically stable forms.

Each rule is a small function on one node of the expression tree, applied bottom-up until nothing
changes. A rule only *recognises* a textbook pattern and replaces it by a stable primitive
(:mod:`symact.primitives`); it never decides that the two are equal — :mod:`symact.verify.prove` proves
every rewritten expression equal to its textbook original, and the result is reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import sympy as sp

from ..catalog import X
from ..primitives import Expm1, Hypot1, Hypot1m1, Log1p, LogCosh, NormCdf, Sigmoid, Softplus, Squareplus


@dataclass(frozen=True)
class Rule:
    name: str
    textbook: str
    stable: str
    why: str
    apply: Callable[[sp.Expr], Optional[sp.Expr]]


def _one_plus(node: sp.Expr, head) -> Optional[tuple[sp.Expr, int, sp.Expr, sp.Expr]]:
    """Match ``c·(1 ± head(a)) + rest`` (SymPy distributes (1 + erf(a))/2 into 1/2 + erf(a)/2):
    return (a, sign, rest/c) scaled so the caller's result is multiplied back by c."""
    if not isinstance(node, sp.Add):
        return None
    c, _ = node.as_coeff_Add()
    if c == 0:
        return None
    for term in node.args:
        coeff, core = term.as_coeff_Mul()
        if isinstance(core, head) and coeff in (c, -c):
            rest = node - c - term
            return core.args[0], int(coeff / c), c, rest
    return None


def _softplus(node):
    # log(1 + e^a) → softplus(a)
    if isinstance(node, sp.log):
        m = _one_plus(node.args[0], sp.exp)
        if m and m[1] == 1 and m[2] == 1 and m[3] == 0:
            return Softplus(m[0])
    return None


def _log1p(node):
    # log(1 + a) → log1p(a) (after the softplus rule has taken log(1 + e^a))
    if isinstance(node, sp.log) and isinstance(node.args[0], sp.Add):
        c, rest = node.args[0].as_coeff_Add()
        if c == 1 and rest != 0:
            return Log1p(rest)
    return None


def _fraction_sum(node):
    # a/u + b/v with u, v linear in x → (a·v + b·u)/(u·v) when the numerator cancels to fewer terms:
    # BCE's -y/x + (1 - y)/(1 - x) = (x - y)/(x(1 - x)), exact where x ≈ y (the sum cancels there)
    if not (isinstance(node, sp.Add) and len(node.args) == 2):
        return None
    parts = []
    for term in node.args:
        num, den = sp.fraction(term)
        if den == 1 or num.has(X) or not den.has(X) or not den.is_polynomial(X) or sp.degree(den, X) != 1:
            return None
        parts.append((num, den))
    (a, u), (b, v) = parts
    top = sp.expand(a * v + b * u)
    if len(sp.Add.make_args(top)) >= len(sp.Add.make_args(sp.expand(a * v))) + len(sp.Add.make_args(sp.expand(b * u))) - 1:
        return None
    return sp.factor_terms(top) / (u * v)


def _sigmoid_recip(node):
    # (1 + e^a)^(-n) → σ(-a)^n
    if isinstance(node, sp.Pow) and node.exp.is_Integer and node.exp < 0:
        m = _one_plus(node.base, sp.exp)
        if m and m[1] == 1 and m[2] == 1 and m[3] == 0:
            return Sigmoid(-m[0]) ** (-node.exp)
    return None


def _log_sigmoid(node):
    # log σ(a) → −softplus(−a); log(1/u) → −log(u) for the σ(a)^n produced above
    if isinstance(node, sp.log):
        arg = node.args[0]
        if isinstance(arg, Sigmoid):
            return -Softplus(-arg.args[0])
        if isinstance(arg, sp.Pow) and isinstance(arg.base, Sigmoid) and arg.exp.is_Integer:
            return -arg.exp * Softplus(-arg.base.args[0])
    return None


def _exp_times_sigmoid(node):
    # e^b · σ(−b) → σ(b)   (e^b/(1+e^b) and the textbook σ' = e^{-x}/(1+e^{-x})²)
    if not isinstance(node, sp.Mul):
        return None
    factors = list(node.args)
    for i, f in enumerate(factors):
        if isinstance(f, sp.exp):
            b = f.args[0]
            for j, g in enumerate(factors):
                base, n = (g.base, g.exp) if isinstance(g, sp.Pow) else (g, sp.S.One)
                if isinstance(base, Sigmoid) and n.is_Integer and n >= 1 and sp.expand(base.args[0] + b) == 0:
                    rest = [h for k, h in enumerate(factors) if k not in (i, j)]
                    return sp.Mul(*rest) * Sigmoid(b) * base ** (n - 1)
    return None


def _expm1(node):
    # c·(e^a − 1) → c·expm1(a), also written c − c·e^a
    m = _one_plus(node, sp.exp)
    if m and m[1] == -1:
        a, _, c, rest = m
        return -c * Expm1(a) + rest
    return None


def _one_minus_square(node):
    # 1 − a² → (1 − a)(1 + a): exact near |a| = 1 (tanh's 1 − y² from the output)
    if isinstance(node, sp.Add) and len(node.args) == 2 and sp.S.One in node.args:
        (term,) = [t for t in node.args if t is not sp.S.One]
        coeff, core = term.as_coeff_Mul()
        if coeff == -1 and isinstance(core, sp.Pow) and core.exp == 2:
            return (1 - core.base) * (1 + core.base)
    return None


def _one_plus_erf(node):
    # 1 ± erf(a) → 2Φ(±√2·a)
    m = _one_plus(node, sp.erf)
    if m:
        a, sign, c, rest = m
        return 2 * c * NormCdf(sign * sp.sqrt(2) * a) + rest
    return None


def _one_plus_tanh(node):
    # 1 ± tanh(a) → 2σ(±2a)
    m = _one_plus(node, sp.tanh)
    if m:
        a, sign, c, rest = m
        return 2 * c * Sigmoid(sign * 2 * a) + rest
    return None


def _sech2(node):
    # 1 − tanh²(a) → 4σ(2a)σ(−2a)
    if isinstance(node, sp.Add) and sp.S.One in node.args:
        for term in node.args:
            coeff, core = term.as_coeff_Mul()
            if coeff == -1 and isinstance(core, sp.Pow) and isinstance(core.base, sp.tanh) and core.exp == 2:
                a = core.base.args[0]
                return 4 * Sigmoid(2 * a) * Sigmoid(-2 * a) + (node - 1 - term)
    return None


def _tanh_ratio(node):
    # (e^a − e^{−a})/(e^a + e^{−a}) → tanh(a)
    if not isinstance(node, sp.Mul):
        return None
    num = den = None
    for f in node.args:
        if isinstance(f, sp.Pow) and f.exp == -1 and isinstance(f.base, sp.Add) and len(f.base.args) == 2:
            den = f
        elif isinstance(f, sp.Add) and len(f.args) == 2:
            num = f
    if num is None or den is None:
        return None
    e1, e2 = den.base.args
    if not (isinstance(e1, sp.exp) and isinstance(e2, sp.exp) and sp.expand(e1.args[0] + e2.args[0]) == 0):
        return None
    a = e1.args[0] if sp.expand(num - (e1 - e2)) == 0 else e2.args[0]
    if sp.expand(num - (sp.exp(a) - sp.exp(-a))) != 0:
        return None
    rest = [f for f in node.args if f is not num and f is not den]
    return sp.Mul(*rest) * sp.tanh(a)


def _one_minus_sigmoid(node):
    # c·(1 − σ(a)) → c·σ(−a)
    m = _one_plus(node, Sigmoid)
    if m and m[1] == -1:
        a, _, c, rest = m
        return c * Sigmoid(-a) + rest
    return None


def _hypot(node):
    # sqrt(1 + t²) → hypot(1, t), and 1/sqrt(1 + t²) → 1/hypot(1, t) (asinh'(t): t² overflows first)
    if isinstance(node, sp.Pow) and node.exp in (sp.S.Half, -sp.S.Half) and isinstance(node.base, sp.Add) \
            and len(node.base.args) == 2 and sp.S.One in node.base.args:
        (sq,) = [t for t in node.base.args if t is not sp.S.One]
        # only t² matters to hypot(1, t): the sign is free, so drop the Abs that sqrt(u²) brings
        t = sp.powdenest(sp.sqrt(sq), force=True).replace(sp.Abs, lambda u: u)
        if not t.has(sp.sqrt) and sp.expand(t**2 - sq) == 0:
            return Hypot1(t) if node.exp == sp.S.Half else 1 / Hypot1(t)
    return None


def _hypot_minus_one(node):
    # c·hypot(1, t) − c → c·hypot1m1(t) = c·|t|·(|t|/(hypot(1, t) + 1)), one opaque primitive (SymPy would
    # merge |t|·|t| back into t², which overflows), also inside a longer sum: SymPy writes the bent
    # identity x + (sqrt(x² + 1) − 1)/2 as x + hypot(1, x)/2 − 1/2
    if not isinstance(node, sp.Add):
        return None
    c, _ = node.as_coeff_Add()
    if c == 0:
        return None
    for term in node.args:
        coeff, core = term.as_coeff_Mul()
        if isinstance(core, Hypot1) and coeff == -c:
            return coeff * Hypot1m1(core.args[0]) + (node - term - c)
    return None


def stabilize(expr: sp.Expr) -> tuple[sp.Expr, list[str]]:
    """Rewrite ``expr`` bottom-up with :data:`RULES`; return the stable form and the rules used."""
    used: list[str] = []

    def walk(node, depth=0):
        if depth > 50:
            raise RecursionError("stabilize: rule loop")
        if node.is_Atom or isinstance(node, (sp.Tuple,)):
            return node
        if isinstance(node, sp.Piecewise):
            node = sp.Piecewise(*[(walk(e), c) for e, c in node.args], evaluate=False)
        else:
            node = node.func(*[walk(a) for a in node.args])
        for rule in RULES:
            new = rule.apply(node)
            if new is not None and new != node:
                used.append(rule.name)
                return walk(new, depth + 1)
        return node

    out = walk(sp.sympify(expr))
    return out, sorted(set(used), key=used.index)


def _power_quotient(node):
    # u^q · u^-1 → u^(q − 1) for a non-numeric exponent q (SymPy's d/dx of (x − y)^q is q(x − y)^q/(x − y));
    if not isinstance(node, sp.Mul):
        return None
    powers = [f for f in node.args if isinstance(f, sp.Pow)]
    for a in powers:
        if a.exp.is_number:
            continue
        for b in powers:
            if b is not a and b.base == a.base and b.exp == -1:
                rest = [f for f in node.args if f is not a and f is not b]
                return sp.Mul(*rest) * sp.Pow(a.base, a.exp - 1)
    return None


# log(cosh(a)) → logcosh(a) (log_cosh_loss)
def _log_cosh(node):
    if isinstance(node, sp.log) and isinstance(node.args[0], sp.cosh):
        return LogCosh(node.args[0].args[0])
    return None


# a/u^m + b/u^n (u linear in x) → one fraction when the numerator cancels (softsign)
def _fraction_sum_powers(node):
    # softsign's 1/(1 + x) - x/(1 + x)² = 1/(1 + x)²: the two quotients cancel to about 1/x² for large x
    if not (isinstance(node, sp.Add) and len(node.args) == 2):
        return None
    parts = []
    for term in node.args:
        num, den = sp.fraction(term)
        base, k = (den.base, den.exp) if isinstance(den, sp.Pow) else (den, sp.S.One)
        if not (k.is_Integer and k > 0 and base.has(X) and base.is_polynomial(X) and sp.degree(base, X) == 1
                and num.is_polynomial(X)):
            return None
        parts.append((num, base, int(k)))
    (a, u, m), (b, v, n) = parts
    if sp.expand(u - v) != 0 or (m == 1 and n == 1):
        return None
    k = max(m, n)
    pieces = [sp.expand(a * u ** (k - m)), sp.expand(b * u ** (k - n))]
    top = sp.expand(pieces[0] + pieces[1])
    if len(sp.Add.make_args(top)) >= sum(len(sp.Add.make_args(p)) for p in pieces):
        return None
    return sp.factor_terms(top) / u ** k


# (a + sqrt(a² + b))/2 → squareplus(a, b)
def _squareplus(node):
    # c·a + c·sqrt(a² + b) (SymPy's spelling of c·(a + sqrt(a² + b))) → 2c·squareplus(a, b), b free of x
    if not isinstance(node, sp.Add):
        return None
    for term in node.args:
        c, root = term.as_coeff_Mul()
        if not (isinstance(root, sp.Pow) and root.exp == sp.S.Half and isinstance(root.base, sp.Add)):
            continue
        for sq in root.base.args:
            if isinstance(sq, sp.Pow) and sq.exp == 2:
                a, b = sq.base, root.base - sq
                if b.has(X) or not b.is_positive:
                    continue
                partner = [t for t in node.args if t is not term and sp.expand(t - c * a) == 0]
                if partner:
                    return 2 * c * Squareplus(a, b) + (node - term - partner[0])
    return None


# c·a − c·tanh(a) → c·tanhshrink(a)
def _tanhshrink(node):
    # a − tanh(a) cancels near a = 0 (it is about a³/3 there): one opaque primitive with a kernel that does not
    if not isinstance(node, sp.Add):
        return None
    from ..primitives import TanhShrink

    for term in node.args:
        c, core = term.as_coeff_Mul()
        if isinstance(core, sp.tanh):
            a = core.args[0]
            partner = [t for t in node.args if t is not term and sp.expand(t + c * a) == 0]
            if partner:
                return -c * TanhShrink(a) + (node - term - partner[0])
    return None


# In the order they are tried at each node (stabilize).
RULES: tuple[Rule, ...] = (
    Rule("tanh_ratio", "(e^a - e^-a)/(e^a + e^-a)", "tanh(a)",
         "the ratio of exponentials is nan for |a| > 710 (inf/inf)", _tanh_ratio),
    Rule("sigmoid", "1/(1 + e^a)", "sigma(-a)",
         "e^a overflows for a > 709; sigma picks the branch whose exp cannot overflow", _sigmoid_recip),
    Rule("exp_times_sigmoid", "e^b·sigma(-b)", "sigma(b)",
         "e^b/(1+e^b) is inf/inf for large b and 0·inf in the textbook sigma'", _exp_times_sigmoid),
    Rule("log_sigmoid", "log sigma(a)", "-softplus(-a)",
         "log of an underflowed sigma is -inf where the truth is about a", _log_sigmoid),
    Rule("softplus", "log(1 + e^a)", "softplus(a) = max(a, 0) + log1p(e^-|a|)",
         "inf for a > 709.8 and 0 for a < -37 (log(1 + tiny) rounds to 0)", _softplus),
    Rule("log1p", "log(1 + a)", "log1p(a)",
         "1 + a rounds: log(1 - x) is 0 for |x| < 1.1e-16 and loses digits well before", _log1p),
    Rule("fraction_sum", "a/u + b/v (u, v linear in x)", "(a·v + b·u)/(u·v), numerator cancelled",
         "the two quotients cancel where the sum is small (BCE's gradient near x = y)", _fraction_sum),
    Rule("expm1", "e^a - 1", "expm1(a)", "cancellation: e^a - 1 is 0 for |a| < 1.1e-16", _expm1),
    Rule("one_plus_erf", "1 ± erf(a)", "2·Phi(±sqrt(2)·a) = erfc(∓a)",
         "1 + erf(a) cancels to 0 for a < -6 (erfc keeps the tail)", _one_plus_erf),
    Rule("sech2", "1 - tanh(a)^2", "4·sigma(2a)·sigma(-2a)",
         "1 - tanh^2 is 0 for |a| > 19 where the truth is about 4e^(-2|a|)", _sech2),
    Rule("one_plus_tanh", "1 ± tanh(a)", "2·sigma(±2a)",
         "1 + tanh(a) cancels to 0 for a < -19", _one_plus_tanh),
    Rule("one_minus_sigmoid", "1 - sigma(a)", "sigma(-a)",
         "1 - sigma(a) cancels to 0 for a > 37 where the truth is e^-a", _one_minus_sigmoid),
    Rule("hypot", "sqrt(1 + t^2)", "hypot(1, t)", "t^2 overflows for |t| > 1.3e154", _hypot),
    Rule("hypot_minus_one", "sqrt(1 + t^2) - 1", "hypot1m1(t) = |t|·(|t|/(hypot(1, t) + 1))",
         "cancels to 0 for |t| < 1.5e-8 (pseudo-Huber near 0)", _hypot_minus_one),
    Rule("one_minus_square", "1 - a^2", "(1 - a)(1 + a)",
         "a^2 rounds before the subtraction: 1 - a^2 loses digits as |a| -> 1", _one_minus_square),
    Rule("power_quotient", "u^q / u", "u^(q - 1)",
         "u^q overflows (or underflows) where u^(q-1) does not: lq_loss's q|x - y|^q/|x - y| is inf at "
         "|x - y| = 1e30 in float32 and 0 at subnormal differences", _power_quotient),
    Rule("log_cosh", "log(cosh(a))", "logcosh(a) = |a| + log1p(e^(-2|a|)) - log 2",
         "cosh(a) overflows for |a| > 710 (89 in float32) where log(cosh(a)) is about |a| - log 2", _log_cosh),
    Rule("fraction_sum_powers", "a/u^m + b/u^n (u linear in x)", "(a·u^(k-m) + b·u^(k-n))/u^k, numerator cancelled",
         "the two quotients cancel where the sum is small (softsign's derivative 1/(1 + |x|)² for large |x|)",
         _fraction_sum_powers),
    Rule("squareplus", "(a + sqrt(a^2 + b))/2", "squareplus(a, b) = b/(2(sqrt(a^2 + b) - a)) for a < 0",
         "cancels to 0 as a -> -inf (the truth is about b/(4|a|)), and a^2 overflows for |a| > 1.3e154",
         _squareplus),
    Rule("tanhshrink", "a - tanh(a)", "tanhshrink(a) = -a³·P(a²) (|a| < 0.55), (|a| - 1) + 2e/(1 + e) beyond",
         "cancels near 0, where it is about a³/3: a - tanh(a) is 0 for |a| < 1e-8 (float64) and loses "
         "every digit below", _tanhshrink),
)
RULES_BY_NAME = {r.name: r for r in RULES}
