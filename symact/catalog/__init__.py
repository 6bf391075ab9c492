"""The catalog: the one place where each function is written.

An entry reads like the lecture notes: a name, the textbook formula as a SymPy expression, its
parameters with PyTorch's defaults, the seed document it comes from and the convention at kinks.
Everything else (gradients, stable forms, kernels, docs, tests) is derived from the entry.

Fields of :class:`Activation`:

``name``        kernel and CLI name (``softplus`` gives ``softplus``, ``softplus_grad`` …).
``formula``     ``lambda x, *params: expr`` — the textbook formula; argument names must match
                ``params``. Piecewise conditions fix the derivative at kinks (the branch owning the
                boundary point wins), so write them to match the stated convention.
``params``      :class:`Param` tuple, in kernel argument order.
``source``      seed document and section the formula comes from.
``kinks``       the derivative convention at non-differentiable points, and PyTorch's.
``as_written``  optional: the formula exactly as the seed writes it when that differs in form
                (``max(0, x)``); it is proven equal to ``formula`` at generation time.
``pytorch``     optional ``lambda torch, x, *params: tensor`` — the PyTorch equivalent, used by the
                tests to cross-check values and autograd (the catalog never imports torch).
``kink_grad``   PyTorch's (or JAX's) derivative at each kink, at the default parameters: a tuple of
                (breakpoint, f'(breakpoint)) pairs, e.g. ``((0, 0),)`` for relu'(0) = 0 — the convention
                tests/test_properties.py holds the derived kernel to (and test_torch.py holds to autograd).
``no_from_output`` optional: why there is no ``name_grad_from_output`` kernel where the inverse exists
                but g(y) loses accuracy (it is then not emitted).
``summary``     one line for ``symact list`` and the docs.
``reference``   the primary literature: a tuple of :class:`~symact.catalog.references.Reference`
                (authors, title, year, venue, arXiv id or DOI), printed per function in the docs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Optional

import sympy as sp

from .entry import Entry

X = sp.Symbol("x", real=True)


@dataclass(frozen=True)
class Param:
    """A parameter of an entry.

    ``learnable`` parameters get a gradient kernel ``name_grad_<param>``. ``constant`` parameters
    (SELU's alpha and scale) are fixed numbers kept symbolic for readable formulas; they are not
    kernel arguments. ``positive`` makes the symbol positive (needed for log identities) and makes the
    kernel reject values <= 0; ``allow_inf`` lets a finite-only check accept ±inf (softplus threshold).
    ``domain`` is the range where the entry's stated identities hold (e.g. ``max(a·x, x)`` is leaky
    ReLU only for 0 <= a <= 1); the prover samples parameters from it.
    """

    name: str
    default: float | str
    doc: str = ""
    learnable: bool = False
    positive: bool = False
    nonzero: bool = False
    constant: bool = False
    allow_inf: bool = False
    domain: tuple[float, float] | None = None

    @property
    def symbol(self) -> sp.Symbol:
        if self.positive:
            return sp.Symbol(self.name, positive=True)
        return sp.Symbol(self.name, real=True, nonzero=True if self.nonzero else None)

    @property
    def value(self) -> sp.Expr:
        """The default as an exact SymPy number (strings keep all their digits)."""
        if isinstance(self.default, str):
            return sp.Float(self.default, 40) if "." in self.default else sp.sympify(self.default)
        if isinstance(self.default, float) and math.isinf(self.default):
            return sp.oo if self.default > 0 else -sp.oo
        return sp.nsimplify(self.default, rational=True)


@dataclass(frozen=True)
class Activation(Entry):
    """An elementwise activation f(x; params)."""

    package: ClassVar[str] = "activations"

    name: str
    formula: Callable[..., sp.Expr]
    params: tuple[Param, ...] = ()
    source: str = ""
    kinks: str = "smooth: no kinks"
    summary: str = ""
    as_written: Optional[Callable[..., sp.Expr]] = None
    pytorch: Optional[Callable] = None
    reference: tuple = ()
    kink_grad: tuple = ()  # ((breakpoint, f' there), ...) at the defaults: PyTorch's convention
    no_from_output: str = ""  # why the entry has no name_grad_from_output although an inverse exists
    kind: str = field(default="activation", init=False)

    def derive(self, from_output: bool = True, gradients: bool = True):
        """f, df/dx, df/dp for each learnable p and (where the inverse exists) df/dx from y = f(x)."""
        from ..derive.scalar import derive

        return derive(self, from_output=from_output, gradients=gradients)

    def kernel_names(self) -> list[str]:
        n = self.name
        names = [n, f"{n}_grad", f"{n}_grad_from_output", f"{n}_fwd_grad", f"{n}_fwd_vjp", f"{n}_vjp"]
        for p in self.learnable:
            names += [f"{n}_grad_{p.name}", f"{n}_vjp_{p.name}"]
        return names

    @property
    def learnable(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.learnable)

    def _call(self, fn) -> sp.Expr:
        return sp.sympify(fn(X, *(p.symbol for p in self.params)))

    def expr(self) -> sp.Expr:
        """The textbook formula with symbolic parameters."""
        return self._call(self.formula)

    def written_expr(self) -> Optional[sp.Expr]:
        return None if self.as_written is None else self._call(self.as_written)

    def domains(self) -> dict[str, tuple[float, float]]:
        return {p.name: p.domain for p in self.params if p.domain is not None}

    def constants(self) -> dict[sp.Symbol, sp.Expr]:
        return {p.symbol: p.value for p in self.params if p.constant}


_USER_ENTRIES: list[Activation] = []
_USER_IDENTITIES: list = []


def builtin_names() -> set[str]:
    from .activations import ACTIVATIONS

    return {e.name for e in ACTIVATIONS}


def all_entries() -> list[Activation]:
    """The built-in catalog followed by the user's registered definitions (``--spec``/``--define``)."""
    from .activations import ACTIVATIONS

    entries = list(ACTIVATIONS) + _USER_ENTRIES
    names = [e.name for e in entries]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"duplicate catalog names: {sorted(dup)}")
    return entries


def register(entries: list[Activation], identities: list = ()) -> None:
    """Add user definitions for this process (validated by ``symact.userspec.validate`` first)."""
    _USER_ENTRIES.extend(entries)
    _USER_IDENTITIES.extend(identities)


def user_identities() -> list:
    return list(_USER_IDENTITIES)


def clear_user() -> None:
    _USER_ENTRIES.clear()
    _USER_IDENTITIES.clear()


def get(name: str) -> Activation:
    for e in all_entries():
        if e.name == name:
            return e
    raise KeyError(f"unknown function {name!r}; `symact list` shows the catalog")


def entries() -> list[Entry]:
    """Every entry of every kind, in the catalog's order: the activations (built-in, then the user's),
    the vector functions, the pointwise losses and the row losses. Names are unique across kinds."""
    from .losses import LOSSES
    from .row_losses import ROW_LOSSES
    from .vectors import VECTORS

    out = [*all_entries(), *VECTORS, *LOSSES, *ROW_LOSSES]
    names = [e.name for e in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"duplicate catalog names: {sorted(dup)}")
    return out


def find(name: str) -> Entry:
    """The entry of any kind called ``name``."""
    for e in entries():
        if e.name == name:
            return e
    raise KeyError(f"unknown function {name!r}; `symact list` shows the catalog")
