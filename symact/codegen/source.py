"""The one adapter between the derivation stages and the framework backends.

Everything the torch and JAX printers know about a catalog entry comes through :func:`derive_entry`:
the stable (emitted) SymPy expression of the value and of each derived gradient, plus what the
front end needs (parameters, targets, variants). Today it reads four result types —
``derive.derive`` (activations), ``Loss.derive`` (pointwise losses), ``rowwise.derive_rows``
(vector functions) and ``row_loss.derive_row_loss`` (row losses); when the redesign unifies them
into one derived-kernel type, only this module changes.

Derivations are cached per process (keyed by the entry object): generating the torch and the JAX
package in one process derives the catalog once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy as sp

from ..catalog import X


@dataclass
class Expr:
    """One emitted expression: the value or a gradient."""

    name: str                      # numba kernel name it corresponds to (for docs and errors)
    stable: sp.Expr                # what the backend computes (derived, stabilized, proven)
    at_inf: tuple = (None, None)   # lim at x = +inf, -inf (elementwise only; None: plain evaluation)
    index: Optional[sp.Symbol] = None  # row expressions: the output index (None: one value per row)


@dataclass
class Derived:
    """What a backend prints for one catalog entry."""

    entry: object
    kind: str                      # "activation" | "loss" | "vector" | "row_loss"
    value: Optional[Expr] = None   # elementwise / vector value
    grads: dict = field(default_factory=dict)       # argument name -> Expr (d value / d argument, or vjp)
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
    from ..catalog import Activation
    from ..catalog.losses import Loss
    from ..catalog.row_losses import RowLoss
    from ..catalog.vectors import VectorFunction

    if isinstance(entry, Activation):
        from ..derive.scalar import derive

        d = derive(entry, from_output=False)
        out = _elementwise(entry, "activation", d.kernels)
        out.failures = [p for p in d.all_proofs() if not p.ok]
        return out
    if isinstance(entry, Loss):
        d = entry.derive()
        main = _elementwise(entry, "loss", [k for k in d.kernels if k.name.startswith(f"{entry.name}_elementwise")])
        main.failures = [p for p in d.all_proofs() if not p.ok]
        for v in entry.variants:
            prefix = f"{entry.name}_{v.suffix}_elementwise"
            main.variants[v.suffix] = _elementwise(entry, "loss", [k for k in d.kernels if k.name.startswith(prefix)])
        return main
    if isinstance(entry, VectorFunction):
        from ..stabilize.rowwise import derive_rows

        value, vjp = derive_rows(entry)
        return Derived(entry, "vector", Expr(value.name, value.stable, index=value.index),
                       {"x": Expr(vjp.name, vjp.stable, index=vjp.index)})
    if isinstance(entry, RowLoss):
        from ..catalog.vectors import i
        from ..derive.row_loss import derive_row_loss

        out = Derived(entry, "row_loss")
        for rk in derive_row_loss(entry):
            if rk.fused:
                continue
            t = out.targets.setdefault(rk.target, Derived(entry, "row_loss"))
            if rk.wrt is None:
                t.value = Expr(rk.name, rk.stable)
            else:
                t.grads[rk.wrt] = Expr(rk.name, rk.stable, index=i)
        return out
    raise TypeError(f"no backend derivation for {type(entry).__name__} {entry.name!r}")


def _elementwise(entry, kind, kernels) -> Derived:
    """f and its gradients: role 'f' -> value, 'df/d<arg>' -> grads[arg] ('x' for the input)."""
    out = Derived(entry, kind)
    for k in kernels:
        if k.arg != X:
            continue  # from-output kernels: the backends differentiate from the input
        e = Expr(k.name, k.stable, k.at_inf)
        if k.role == "f":
            out.value = e
        else:
            out.grads[k.role.removeprefix("df/d")] = e
    return out


def special_value(expr: sp.Expr, x: float):
    """What IEEE evaluation of ``expr`` gives at X = x (±inf or nan), or None where undecided; the
    backends add a guard for ±inf / nan only where this differs from the derived limit."""
    from .numba import special_value as numba_special

    return numba_special(expr, X, x, "f64")
