"""Numerically stable primitives, kept opaque to SymPy.

SymPy's automatic evaluation undoes stable forms (``erfc(-z)`` becomes ``2 - erfc(z)``, Add flattening
merges terms), so every stable building block is a ``Function`` subclass that SymPy cannot take apart.
Each one knows, all in this file:

* its textbook meaning (``textbook``), which the prover and the mpmath reference use;
* its derivative (``fdiff``), written with stable primitives so derived gradients stay stable;
* its values at 0 and ±∞ (``special``), so SymPy can evaluate limits and constants.

Everything else about each (kernel helper, IEEE specials, LaTeX, torch/JAX operation, mpmath truth,
accuracy bound) is its record in the primitive registry, ``catalog/primitives.py``.
"""
from __future__ import annotations

import sympy as sp


class StablePrimitive(sp.Function):
    """Base class: a unary function with a stable kernel and a textbook definition."""

    nargs = 1
    special: dict = {}

    @classmethod
    def textbook(cls, z: sp.Expr) -> sp.Expr:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def eval(cls, z):
        return cls.special.get(z)

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return self.textbook(z).rewrite(sp.exp)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_evalf(self, prec):
        return self.textbook(self.args[0])._eval_evalf(prec)


class Sigmoid(StablePrimitive):
    """σ(z) = 1/(1+e^{-z}); the kernel picks the branch whose exp cannot overflow."""

    special = {sp.S.Zero: sp.S.Half, sp.S.Infinity: sp.S.One, sp.S.NegativeInfinity: sp.S.Zero}

    @classmethod
    def textbook(cls, z):
        return 1 / (1 + sp.exp(-z))

    def fdiff(self, argindex=1):
        z = self.args[0]
        # σ(z)·σ(−z), not σ(1−σ): keeps full relative accuracy where σ(z) rounds to 1.
        return Sigmoid(z) * Sigmoid(-z)

    def _eval_is_positive(self):
        return self.args[0].is_real or None


class Softplus(StablePrimitive):
    """softplus(z) = log(1+e^z); kernel: max(z,0) + log1p(e^{-|z|}), never overflows."""

    special = {sp.S.Zero: sp.log(2), sp.S.Infinity: sp.S.Infinity, sp.S.NegativeInfinity: sp.S.Zero}

    @classmethod
    def textbook(cls, z):
        return sp.log(1 + sp.exp(z))

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])

    def _eval_is_positive(self):
        return self.args[0].is_real or None


class Expm1(StablePrimitive):
    """e^z − 1 without cancellation for small z."""

    special = {sp.S.Zero: sp.S.Zero, sp.S.Infinity: sp.S.Infinity, sp.S.NegativeInfinity: sp.S.NegativeOne}

    @classmethod
    def textbook(cls, z):
        return sp.exp(z) - 1

    def fdiff(self, argindex=1):
        return sp.exp(self.args[0])


class Log1p(StablePrimitive):
    """log(1 + z) without the rounding of 1 + z: log(1 - x) keeps full accuracy for tiny x (BCE)."""

    special = {sp.S.Zero: sp.S.Zero, sp.S.NegativeOne: sp.S.NegativeInfinity, sp.S.Infinity: sp.S.Infinity}

    @classmethod
    def textbook(cls, z):
        return sp.log(1 + z)

    def fdiff(self, argindex=1):
        return 1 / (1 + self.args[0])


class NormCdf(StablePrimitive):
    """Φ(z), the standard normal CDF; kernel: erfc(−z/√2)/2, exact in both tails (1+erf is not)."""

    special = {sp.S.Zero: sp.S.Half, sp.S.Infinity: sp.S.One, sp.S.NegativeInfinity: sp.S.Zero}

    @classmethod
    def textbook(cls, z):
        return (1 + sp.erf(z / sp.sqrt(2))) / 2

    def fdiff(self, argindex=1):
        z = self.args[0]
        return sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)

    def _eval_is_positive(self):
        return self.args[0].is_real or None


class Hypot1(StablePrimitive):
    """sqrt(1 + z²) = hypot(1, z): no overflow of z² for |z| > 1e154."""

    special = {sp.S.Zero: sp.S.One, sp.S.Infinity: sp.S.Infinity, sp.S.NegativeInfinity: sp.S.Infinity}

    @classmethod
    def textbook(cls, z):
        return sp.sqrt(1 + z**2)

    def fdiff(self, argindex=1):
        return self.args[0] / Hypot1(self.args[0])

    def _eval_is_positive(self):
        return self.args[0].is_real or None


class Hypot1m1(StablePrimitive):
    """sqrt(1 + z²) − 1 = |z|·(|z|/(hypot(1, z) + 1)): exact for tiny z, finite for huge z."""

    special = {sp.S.Zero: sp.S.Zero, sp.S.Infinity: sp.S.Infinity, sp.S.NegativeInfinity: sp.S.Infinity}

    @classmethod
    def textbook(cls, z):
        return sp.sqrt(1 + z**2) - 1

    def fdiff(self, argindex=1):
        return self.args[0] / Hypot1(self.args[0])


class LogCosh(StablePrimitive):
    """log(cosh(z)) = |z| + log1p(e^{-2|z|}) - log 2, never overflowing (cosh(z) does for |z| > 710);
    kernel: a polynomial in z² below |z| = 1 (no cancellation near 0), the stable sum beyond."""

    special = {sp.S.Zero: sp.S.Zero, sp.S.Infinity: sp.S.Infinity, sp.S.NegativeInfinity: sp.S.Infinity}

    @classmethod
    def textbook(cls, z):
        return sp.log(sp.cosh(z))

    def fdiff(self, argindex=1):
        return sp.tanh(self.args[0])

    def _eval_is_nonnegative(self):
        return self.args[0].is_real or None


class _Squareplus(sp.Function):
    """Base of the two-argument squareplus primitives f(z, b), b > 0: a textbook formula, evaluated through
    it, and printed in LaTeX as it (the docs' stable form reads as the textbook one; the kernel calls the
    runtime helper)."""

    nargs = 2

    @classmethod
    def textbook(cls, z, b):  # pragma: no cover - abstract
        raise NotImplementedError

    def _eval_rewrite_as_exp(self, z, b, **kwargs):
        return self.textbook(z, b)

    def _eval_is_real(self):
        return self.args[0].is_real and self.args[1].is_positive or None

    def _eval_evalf(self, prec):
        return self.textbook(*self.args)._eval_evalf(prec)

    def _latex(self, printer):
        return printer._print(self.textbook(*self.args))


class Squareplus(_Squareplus):
    """(z + sqrt(z² + b))/2, b > 0 (JAX's squareplus); kernel: squareplus_{t}, the conjugate form
    b/(2(sqrt(z² + b) - z)) for z < 0 (no cancellation), in variables scaled so z² never overflows."""

    @classmethod
    def textbook(cls, z, b):
        return (z + sp.sqrt(z**2 + b)) / 2

    def fdiff(self, argindex=1):
        z, b = self.args
        return SquareplusGrad(z, b) if argindex == 1 else 1 / (4 * sp.sqrt(z**2 + b))

    def _eval_is_positive(self):
        return self._eval_is_real()


class SquareplusGrad(_Squareplus):
    """(1 + z/sqrt(z² + b))/2, b > 0: d/dz squareplus; kernel squareplus_grad_{t}, b/(2h(h - z)) for z < 0."""

    @classmethod
    def textbook(cls, z, b):
        return (1 + z / sp.sqrt(z**2 + b)) / 2

    def fdiff(self, argindex=1):
        z, b = self.args
        return b / (2 * (z**2 + b) ** sp.Rational(3, 2)) if argindex == 1 else -z / (4 * (z**2 + b) ** sp.Rational(3, 2))


def to_textbook(expr: sp.Expr) -> sp.Expr:
    """Replace every stable primitive by its textbook formula (for proofs and the mpmath reference)."""
    return expr.replace(lambda e: isinstance(e, (StablePrimitive, _Squareplus)), lambda e: type(e).textbook(*e.args))


# ---- tanhshrink: z − tanh(z) ----------------------------
class TanhShrink(StablePrimitive):
    """z − tanh(z) (PyTorch's Tanhshrink) without the cancellation near 0, where it is about z³/3: the kernel
    (runtime tanhshrink_{t}) takes −a³·P(a²) with tanh's own fit P = (tanh(a) − a)/a³ and a³ as an exact
    two-part product for a = |z| < 0.55, and (a − 1) + 2e/(1 + e), e = e^(−2a) in two parts, beyond."""

    special = {sp.S.Zero: sp.S.Zero, sp.S.Infinity: sp.S.Infinity, sp.S.NegativeInfinity: sp.S.NegativeInfinity}

    @classmethod
    def textbook(cls, z):
        return z - sp.tanh(z)

    def fdiff(self, argindex=1):
        return sp.tanh(self.args[0]) ** 2  # 1 − sech²: no cancellation in tanh² itself

    def _eval_is_extended_nonnegative(self):
        return self.args[0].is_extended_nonnegative
