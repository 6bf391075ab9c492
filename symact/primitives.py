"""Numerically stable primitives, kept opaque to SymPy.

SymPy's automatic evaluation undoes stable forms (``erfc(-z)`` becomes ``2 - erfc(z)``, Add flattening
merges terms), so every stable building block is a ``Function`` subclass that SymPy cannot take apart.
Each one knows, all in this file:

* its textbook meaning (``textbook``), which the prover and the mpmath reference use;
* its derivative (``fdiff``), written with stable primitives so derived gradients stay stable;
* its values at 0 and ±∞ (``special``), so SymPy can evaluate limits and constants.

How each is printed (kernel helper, LaTeX) is a table in ``printing.py``.
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


def to_textbook(expr: sp.Expr) -> sp.Expr:
    """Replace every stable primitive by its textbook formula (for proofs and the mpmath reference)."""
    return expr.replace(lambda e: isinstance(e, StablePrimitive), lambda e: type(e).textbook(e.args[0]))
