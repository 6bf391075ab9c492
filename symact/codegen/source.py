"""The one adapter between the derivation stages and the framework backends.

Everything the torch and JAX printers know about a catalog entry comes through :func:`derive_entry`:
the derived :class:`~symact.derive.kernel.Kernel` of the value and of each gradient (the one kernel
type of every kind: its stable form, limits at ±inf, output index), arranged by argument, loss
variant and row-loss target — what the front end needs.

Derivations are cached per process (keyed by the entry object): generating the torch and the JAX
package in one process derives the catalog once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy as sp

from ..catalog import X
from ..derive.kernel import Kernel


@dataclass
class Derived:
    """What a backend prints for one catalog entry."""

    entry: object
    kind: str                      # the entry's kind ("activation", "vector", "loss")
    value: Optional[Kernel] = None  # elementwise / vector value
    grads: dict = field(default_factory=dict)       # argument name -> Kernel (d value / d argument, or vjp)
    variants: dict = field(default_factory=dict)    # loss flag combination's suffix -> Derived ("full", "no_log_input")
    targets: dict = field(default_factory=dict)     # row loss target kind -> Derived
    failures: list = field(default_factory=list)    # proofs that failed (nothing may be emitted then)

    @property
    def name(self) -> str:
        return self.entry.name


_CACHE: dict = {}


def derive_entry(entry) -> Derived:
    """The derived, stable expressions of any catalog entry (activation, vector function, pointwise
    loss, row loss, or a user's activation)."""
    key = (type(entry).__name__, entry.name, id(entry))
    if key not in _CACHE:
        _CACHE[key] = _derive(entry)
    return _CACHE[key]


def _derive(entry) -> Derived:
    """``entry.derive()`` (the one protocol), arranged for the front ends: the value and each gradient by
    argument, per loss flag combination and per row-loss target kind."""
    from ..catalog import Activation

    # an activation's from-output kernels are not printed: the backends differentiate from the input
    d = entry.derive(from_output=False) if isinstance(entry, Activation) else entry.derive()
    out = Derived(entry, entry.kind, failures=d.failures)
    for k in d.kernels:
        if k.fused or k.arg != X:  # a fused row kernel repeats two others; the framework fuses itself
            continue
        holder = out
        if k.target is not None:
            holder = out.targets.setdefault(k.target, Derived(entry, entry.kind))
        elif (suffix := _variant_of(entry, k.name)) is not None:
            holder = out.variants.setdefault(suffix, Derived(entry, entry.kind))
        if k.role == "f":
            holder.value = k
        else:
            holder.grads[k.wrt or k.role.removeprefix("df/d")] = k
    return out


def _variant_of(entry, kernel: str):
    """The flag combination (its suffix) a pointwise loss's per-element kernel belongs to; None: the defaults."""
    for v in getattr(entry, "variants", ()):
        if kernel.startswith(f"{entry.name}_{v.suffix}_elementwise"):
            return v.suffix
    return None


def special_value(expr: sp.Expr, x: float):
    """What IEEE evaluation of ``expr`` gives at X = x (±inf or nan), or None where undecided; the
    backends add a guard for ±inf / nan only where this differs from the derived limit."""
    from .numba import special_value as numba_special

    return numba_special(expr, X, x, "f64")
