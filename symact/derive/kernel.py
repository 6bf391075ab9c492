"""The one derived-kernel type: what every stage after derivation reads, for every kind of entry.

An activation's f and gradients, a pointwise loss's per-element kernels, a vector function's value and
vjp and a row loss's value and gradients per target are each one :class:`Kernel`: the form derived
from the definition (the truth tests compare against), the stable form that is emitted, the proof that
they are equal, and — for kernels over a row — how the general-K derivation was cross-checked at
explicit K and the lowered row loops. Printers, docs, ``show`` and ``check`` read these fields only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy as sp

from ..catalog import X, Param
from ..verify.prove import Proof


@dataclass
class Kernel:
    """One kernel to emit.

    ``role``: "f" (the value), "df/dx", "df/d<param>", "df/dx from y = f(x)", "vjp" (a vector function's
    g·∂y/∂x), "df/d<input>" (a row loss's gradient by an input row); a fused row-loss kernel keeps its
    gradient's role and sets ``fused``."""

    name: str                  # kernel name, e.g. "softplus_grad_beta", "cross_entropy_label_grad_input"
    role: str
    textbook: sp.Expr          # derived straight from the definition: the truth
    stable: sp.Expr            # what the kernel computes
    rules: list[str]           # elementwise stabilizer rules applied (row kernels: [], their rewrites are proven whole)
    proof: Proof               # stable == textbook, and how it was shown
    # elementwise kernels
    at_inf: tuple[Optional[sp.Expr], Optional[sp.Expr]] = (None, None)  # values at x = +inf, -inf
    arg: sp.Symbol = X                          # the kernel's input: x, or y = f(x) for from-output kernels
    params: Optional[tuple[Param, ...]] = None  # kernel parameters if not the entry's
    note: str = ""                              # accuracy caveat to state in docs and `symact show`
    # kernels over a row (vector functions, row losses)
    check: str = ""                             # how the general-K derivation was checked at explicit K
    index: Optional[sp.Symbol] = None           # the output index (None: one value per row)
    wrt: Optional[str] = None                   # the input row differentiated by (None: the value)
    target: Optional[str] = None                # a row loss's target kind ("label", "prob", …)
    lowered: Optional[tuple] = None             # (reductions, output, inner reductions[, row value]): the loops
    fused: bool = False                         # the value and this gradient in one pass over each row
    scaled: Optional[sp.Expr] = None            # the stable form with norm sums max-scaled: what is lowered

    @property
    def vjp(self) -> bool:
        return self.role == "vjp"


@dataclass
class Derivation:
    """What deriving one catalog entry of any kind gives (``entry.derive()``): its kernels, any further
    proofs (the formula as the source writes it = the definition), and what failed.

    A failure is a :class:`~symact.verify.prove.Proof` that did not hold, or a
    :class:`~symact.verify.prove.ProofFailure` raised where a row derivation proves as it goes; either
    way ``generate`` reports it and writes nothing."""

    entry: object
    kernels: list[Kernel]
    proofs: list[Proof] = field(default_factory=list)
    no_from_output: str = ""  # why there is no from-output kernel, if there is none (activations)
    raised: list = field(default_factory=list)  # ProofFailures of a row derivation (then no kernels)

    def all_proofs(self) -> list[Proof]:
        return [k.proof for k in self.kernels] + self.proofs

    @property
    def failures(self) -> list:
        return [p for p in self.all_proofs() if not p.ok] + self.raised

    @property
    def ok(self) -> bool:
        return not self.failures
