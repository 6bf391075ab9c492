"""Max-scaling of row sums of squares, products and p-th powers (the row rewrite beside the max shift).

A row sum Σ_k Π_e e(x_k)^{d_e} whose summand is a product of powers of row elements (x_k², x1_k·x2_k,
|a_k − p_k + eps|^p) overflows for elements beyond √max and underflows below √tiny, although the
norms, cosines and distances built on it are finite. As LAPACK's dnrm2 does (Blue 1978,
doi:10.1145/355769.355771; Hammarling & Lucas, LAPACK Working Note 2 / Anderson 2017,
doi:10.1145/3061665), each element e is divided by a per-row scale M_e, the power of two at or below
max_k |e(x_k)|: Σ_k Π e^{d} = Π M_e^{d} · Σ_k Π (e/M_e)^{d}, with the scaled sum in [1, K·…].
SymPy then cancels the powers of M (positive symbols) between numerator and denominator: a cosine
needs none, a distance keeps M·S^{1/p}. A sum plus a constant, M²·S + c (PyTorch's eps in the
cosine), becomes M²·(S + c·M^{−2}) so that M can leave the power; what is left of M around such a
power is one :class:`ScaledPow`, evaluated in whichever of its two exact forms neither overflows nor
underflows (runtime ``scaled_pow``).

Because M is a power of two, x/M is exact and every sum is the unscaled sum times an exact power of
two, rounded the same: in the ordinary range the kernels compute the same bits as before. The
rewrite is an identity for every M > 0, proven as such (``to_textbook``: M a free positive symbol)
at K = 2, 3, 4 like the max shift. At M = inf (a row holding ±inf) the scaled elements are the
limit direction: ±1 at the infinite elements, 0 elsewhere.
"""
from __future__ import annotations

import sympy as sp

from ..catalog.vectors import K, k
from ..codegen.numba import FUNCTIONS


class RowScale(sp.Function):
    """The row's scale for element pattern e(x_k): 2^⌊log2 max_k |e(x_k)|⌋ (1 for a zero row)."""
    cheap = True  # arithmetic and selects only (printing.transcendental)
    nargs = 1
    is_positive = True

    def _latex(self, printer):
        return rf"M\!\left[{printer._print(self.args[0])}\right]"


class Scaled(sp.Function):
    """v/M for a row element v and its row's scale M (printed from 1/M, exact)."""
    cheap = True
    nargs = 2

    def _latex(self, printer):
        return rf"\frac{{{printer._print(self.args[0])}}}{{{printer._print(self.args[1])}}}"


class ScaledPow(sp.Function):
    """M^α·(S + c·M^{−a})^β for a row scale M > 0, a scaled sum S and a constant c >= 0:
    ScaledPow(M, S, c, a, α, β). Equal to M^{α − aβ}·(M^a·S + c)^β, the form used for M < 1."""
    nargs = 6

    def _latex(self, printer):
        m, s, c, a, al, be = (printer._print(v) for v in self.args)
        return rf"{m}^{{{al}}}\left({s} + {c}\,{m}^{{-{a}}}\right)^{{{be}}}"


FUNCTIONS[ScaledPow] = "scaled_pow_{t}"  # a runtime helper, imported where used (Scaled: RowPrinter)

class ScaledSum(sp.Function):
    """ma·xa + mb·xb for two row scales and scaled values (a triplet's ‖a − p‖ − ‖a − n‖), computed
    with the larger scale factored out (runtime ``scaled_sum``): two norms that each overflow still
    give their difference, or inf, where ma·xa + mb·xb would be inf − inf."""
    nargs = 4

    def _latex(self, printer):
        ma, xa, mb, xb = (printer._print(v) for v in self.args)
        return rf"\left({ma} {xa} + {mb} {xb}\right)"


FUNCTIONS[ScaledSum] = "scaled_sum_{t}"

_DATA = ("t", "w")  # targets and class weights: data, not scores


def _elements(body: sp.Expr):
    """[(element pattern e(x_k), degree)] of a Σ_k body that is a product of powers of row elements
    (x_k^n, |e(x_k)|^q) and factors free of k, of total degree above 1 (a product or a power: what
    overflows); None for any other body (exponentials are max-shifted instead)."""
    if body.has(sp.exp, sp.log):
        return None
    out = []
    for f in sp.Mul.make_args(body):
        if k not in f.free_symbols:
            continue
        b, e = f.as_base_exp()
        if isinstance(b, sp.Indexed) and b.base.name not in _DATA and b.indices[0] == k and e.is_positive:
            out.append((b, e))
        elif isinstance(b, sp.Abs) and not b.args[0].has(sp.Abs) and e.is_positive and \
                not any(i.base.name in _DATA for i in b.args[0].atoms(sp.Indexed)):
            out.append((b.args[0], e))
        else:
            return None
    if not out or (len(out) == 1 and out[0][1] == 1):
        return None
    return out


def _split_scales(expr: sp.Expr, scales) -> sp.Expr:
    """(M·z)^e → M^e·z^e for a positive scale M (valid for any real e), then like powers combined."""
    def split(p):
        base, e = p.as_base_exp()
        ms = [f for f in sp.Mul.make_args(base) if f in scales or (f.is_Pow and f.base in scales)]
        rest = sp.Mul(*[f for f in sp.Mul.make_args(base) if f not in ms])
        return sp.Mul(*[m ** e for m in ms]) * rest ** e

    def has_scaled_base(p):
        return isinstance(p, sp.Pow) and isinstance(p.base, sp.Mul) and \
            any(f in scales or (f.is_Pow and f.base in scales) for f in p.base.args)

    while True:
        new = expr.replace(has_scaled_base, split)
        if new == expr:
            return expr
        expr = new


def scale_norms(expr: sp.Expr) -> sp.Expr:
    """The max-scaled form of a row expression (see the module docstring); ``expr`` itself where no
    row sum is a product of row elements."""
    sums = [s for s in expr.atoms(sp.Sum) if s.limits[0] == (k, 0, K - 1) and _elements(s.function)]
    if not sums:
        return expr
    patterns = []
    for s in sums:
        for e, _ in _elements(s.function):
            if e not in patterns:
                patterns.append(e)
    scale = {e: sp.Dummy(f"M{n}", positive=True) for n, e in enumerate(patterns)}
    scales = set(scale.values())

    def occurrence(v):  # (pattern, index) where v is a pattern at some index, else None
        if not isinstance(v, (sp.Indexed, sp.Add)) or v.has(Scaled):
            return None
        for e in patterns:
            for ind in v.atoms(sp.Indexed):
                at = e.subs(k, ind.indices[0])
                if at == v or (isinstance(v, sp.Add) and sp.expand(at - v) == 0):
                    return e
        return None

    def scaled(v):
        e = occurrence(v)
        return scale[e] * Scaled(v, RowScale(e))

    def scale_all(e):
        return _split_scales(e.replace(lambda v: occurrence(v) is not None, scaled), scales)

    placeholders = {}
    for n, s in enumerate(sums):
        body = scale_all(s.function)
        coeff, rest = body.as_independent(Scaled, as_Add=False)
        even = all(d.is_even for _, d in _elements(s.function)) or s.function.has(sp.Abs)
        sj = sp.Dummy(f"S{n}", positive=True) if even else sp.Dummy(f"S{n}", real=True)
        placeholders[sj] = sp.Sum(rest, s.limits[0])
        expr = expr.xreplace({s: coeff * sj})
    expr = scale_all(expr)

    def pull(add):  # M^a·S + c → M^a·(S + c·M^{−a}): M can then leave a power of it
        ms = [m for m in scales if add.has(m)]
        if len(ms) != 1:
            return add
        m = ms[0]
        with_m = [t for t in add.args if t.has(m)]
        const = sp.Add(*[t for t in add.args if not t.has(m)])
        powers = {t.as_independent(m, as_Add=False)[1].as_base_exp() for t in with_m}
        if len(powers) != 1 or const.has(sp.Indexed) or const.has(*placeholders):
            return add
        (_, a), = powers
        return m ** a * sp.Add(*[t / m ** a for t in with_m], sp.Mul(const, m ** -a, evaluate=False))

    expr = expr.replace(lambda v: isinstance(v, sp.Add) and v.has(*scales)
                        and any(not t.has(*scales) for t in v.args), pull)
    expr = _split_scales(expr, scales)
    expr = _fold(expr, scales)
    expr = expr.replace(lambda v: isinstance(v, sp.Add) and v.has(*scales), lambda v: _pair_scaled(v, scales))
    expr = expr.replace(lambda v: isinstance(v, sp.Mul), _abs_powers)
    # sign(v/M) = sign(v) for M > 0: also where v/M is 0 in the limit M = inf (a 1-norm's gradient)
    expr = expr.replace(lambda v: isinstance(v, sp.sign) and isinstance(v.args[0], Scaled),
                        lambda v: sp.sign(v.args[0].args[0]))
    inverse = {m: RowScale(e) for e, m in scale.items()}
    expr = expr.xreplace(placeholders).xreplace(inverse)
    if expr.has(*scales):
        raise AssertionError(f"max-scaling left a scale behind: {expr}")
    return expr


def _pair_scaled(add: sp.Expr, scales) -> sp.Expr:
    """Two terms of a sum that each carry a different row scale to the first power, M_a·X_a and
    M_b·X_b, as ScaledSum(M_a, X_a, M_b, X_b)."""
    scaled = []
    for t in add.args:
        ms = [f for f in sp.Mul.make_args(t) if f in scales]
        if len(ms) == 1 and not (t / ms[0]).has(*scales):
            scaled.append((t, ms[0]))
    if len(scaled) != 2 or scaled[0][1] == scaled[1][1]:
        return add
    (ta, ma), (tb, mb) = scaled
    rest = [t for t in add.args if t is not ta and t is not tb]
    return sp.Add(ScaledSum(ma, ta / ma, mb, tb / mb), *rest)


def _abs_powers(mul: sp.Expr) -> sp.Expr:
    """|u|^p·|u|^(−1) as |u|^(p−1) (a p-norm's gradient, as SymPy leaves it for a symbolic p): the
    scaled |u|^p of an element far below the row's largest underflows where |u|^(p−1) does not
    (d_i/‖d‖ = 3e−201 for d = [1e200, −1e200, 0.6]). Equal wherever u ≠ 0 (u = 0: 0/0 before)."""
    powers: dict = {}
    rest = []
    for f in mul.args:
        b, e = f.as_base_exp()
        if isinstance(b, sp.Abs) and b.has(Scaled):
            powers[b] = powers.get(b, 0) + e
        else:
            rest.append(f)
    if len(powers) == sum(1 for f in mul.args if isinstance(f.as_base_exp()[0], sp.Abs) and f.has(Scaled)):
        return mul
    return sp.Mul(*rest, *[b ** e for b, e in powers.items()])


def _tail(p, m):
    """(S, c, a) where p = (S + c·m^{−a})^β, else None."""
    if not (isinstance(p, sp.Pow) and isinstance(p.base, sp.Add)):
        return None
    with_m = [t for t in p.base.args if t.has(m)]
    if len(with_m) != 1:
        return None
    c, mp = with_m[0].as_independent(m, as_Add=False)
    base, e = mp.as_base_exp()
    if base != m or not e.is_negative or c.has(m):
        return None
    return sp.Add(*[t for t in p.base.args if t is not with_m[0]]), c, -e


def _fold(expr: sp.Expr, scales) -> sp.Expr:
    """Each product's M^α and (S + c·M^{−a})^β factors as one ScaledPow(M, S, c, a, α, β); a power
    (S + c·M^{−a})^β on its own as ScaledPow with α = 0."""
    def fold_mul(mul):
        factors = list(mul.args)
        for m in scales:
            tails = [f for f in factors if _tail(f, m) is not None]
            if not tails:
                continue
            bare = [f for f in factors if f == m or (f.is_Pow and f.base == m)]
            alpha = sp.Add(*[f.as_base_exp()[1] for f in bare])
            for f in bare:
                factors.remove(f)
            for n, f in enumerate(tails):
                s, c, a = _tail(f, m)
                factors[factors.index(f)] = ScaledPow(m, s, c, a, alpha if n == 0 else 0, f.exp)
        return sp.Mul(*factors)

    expr = expr.replace(lambda v: isinstance(v, sp.Mul) and v.has(*scales), fold_mul)

    def fold_pow(p):
        m = next(m for m in scales if _tail(p, m) is not None)
        s, c, a = _tail(p, m)
        return ScaledPow(m, s, c, a, 0, p.exp)

    return expr.replace(lambda v: any(_tail(v, m) is not None for m in scales), fold_pow)


def to_textbook(expr: sp.Expr) -> sp.Expr:
    """The scaled primitives opened, each scale a free positive symbol (for proofs: the rewrite holds
    for every M > 0, the power of two the kernels take included)."""
    rs = sorted(expr.atoms(RowScale), key=sp.default_sort_key)
    table = {r: sp.Symbol(f"M_{n}", positive=True) for n, r in enumerate(rs)}
    expr = expr.replace(lambda v: isinstance(v, ScaledPow),
                        lambda v: v.args[0] ** v.args[4] * (v.args[1] + v.args[2] * v.args[0] ** -v.args[3]) ** v.args[5])
    expr = expr.replace(lambda v: isinstance(v, ScaledSum), lambda v: v.args[0] * v.args[1] + v.args[2] * v.args[3])
    expr = expr.replace(lambda v: isinstance(v, Scaled), lambda v: v.args[0] / v.args[1])
    return expr.xreplace(table)


__all__ = ["RowScale", "Scaled", "ScaledPow", "ScaledSum", "scale_norms", "to_textbook"]
