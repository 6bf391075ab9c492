"""Numerically stable primitives, kept opaque to SymPy.

SymPy's automatic evaluation undoes stable forms (``erfc(-z)`` becomes ``2 - erfc(z)``, Add flattening
merges terms), so every stable building block is a ``Function`` subclass that SymPy cannot take apart.
Each one knows three things, all in this file:

* its derivative (``fdiff``), written with stable primitives so derived gradients stay stable;
* its textbook meaning (``rewrite_textbook``), which the prover and the mpmath reference use;
* how it is printed (see ``printing.py``, which maps each class to a kernel helper and to LaTeX).
"""
from __future__ import annotations

import sympy as sp


class StablePrimitive(sp.Function):
    """Base class: a unary function with a stable kernel and a textbook definition."""

    nargs = 1
    is_real = True

    @classmethod
    def textbook(cls, z: sp.Expr) -> sp.Expr:  # pragma: no cover - abstract
        raise NotImplementedError

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return self.textbook(z).rewrite(sp.exp)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_evalf(self, prec):
        return self.textbook(self.args[0])._eval_evalf(prec)


class Sigmoid(StablePrimitive):
    """σ(z) = 1/(1+e^{-z}); the kernel picks the branch whose exp cannot overflow."""

    @classmethod
    def textbook(cls, z):
        return 1 / (1 + sp.exp(-z))

    @classmethod
    def eval(cls, z):
        if z is sp.S.Zero:
            return sp.S.Half
        if z is sp.S.Infinity:
            return sp.S.One
        if z is sp.S.NegativeInfinity:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        z = self.args[0]
        # σ(z)·σ(−z), not σ(1−σ): keeps full relative accuracy where σ(z) rounds to 1.
        return Sigmoid(z) * Sigmoid(-z)

    def _eval_is_positive(self):
        return self.args[0].is_real or None


class Softplus(StablePrimitive):
    """softplus(z) = log(1+e^z); kernel: max(z,0) + log1p(e^{-|z|}), never overflows."""

    @classmethod
    def textbook(cls, z):
        return sp.log(1 + sp.exp(z))

    @classmethod
    def eval(cls, z):
        if z is sp.S.Zero:
            return sp.log(2)
        if z is sp.S.Infinity:
            return sp.S.Infinity
        if z is sp.S.NegativeInfinity:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])

    def _eval_is_positive(self):
        return self.args[0].is_real or None


class Expm1(StablePrimitive):
    """e^z − 1 without cancellation for small z."""

    @classmethod
    def textbook(cls, z):
        return sp.exp(z) - 1

    @classmethod
    def eval(cls, z):
        if z is sp.S.Zero:
            return sp.S.Zero
        if z is sp.S.Infinity:
            return sp.S.Infinity
        if z is sp.S.NegativeInfinity:
            return sp.S.NegativeOne

    def fdiff(self, argindex=1):
        return sp.exp(self.args[0])


class Log1p(StablePrimitive):
    """log(1 + z) without cancellation for small z."""

    @classmethod
    def textbook(cls, z):
        return sp.log(1 + z)

    @classmethod
    def eval(cls, z):
        if z is sp.S.Zero:
            return sp.S.Zero

    def _eval_is_real(self):
        return None

    def fdiff(self, argindex=1):
        return 1 / (1 + self.args[0])


class NormCdf(StablePrimitive):
    """Φ(z), the standard normal CDF; kernel: erfc(−z/√2)/2, exact in both tails (1+erf is not)."""

    @classmethod
    def textbook(cls, z):
        return (1 + sp.erf(z / sp.sqrt(2))) / 2

    @classmethod
    def eval(cls, z):
        if z is sp.S.Zero:
            return sp.S.Half
        if z is sp.S.Infinity:
            return sp.S.One
        if z is sp.S.NegativeInfinity:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        z = self.args[0]
        return sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)

    def _eval_is_positive(self):
        return self.args[0].is_real or None


PRIMITIVES: tuple[type[StablePrimitive], ...] = (Sigmoid, Softplus, Expm1, Log1p, NormCdf)


def to_textbook(expr: sp.Expr) -> sp.Expr:
    """Replace every stable primitive by its textbook formula (for proofs and the mpmath reference)."""
    return expr.replace(lambda e: isinstance(e, StablePrimitive), lambda e: type(e).textbook(e.args[0]))
