"""The one entry protocol: what every catalog entry is, whatever its kind.

An activation, a vector function, a pointwise loss, a row loss and a user's ``--define``/``--spec``
entry each have a ``name``, a ``source``, a one-line ``summary``, their primary literature
(``reference``), their parameters (``params``: :class:`~symact.catalog.Param`), a ``kind`` for people
to read, and the subpackage of the generated package their module goes to (``package``). Each says
every public name it can emit (:meth:`Entry.kernel_names`: the naming rules live with the kind) and
derives itself into the one result type (:meth:`Entry.derive` →
:class:`~symact.derive.kernel.Derivation`, a list of :class:`~symact.derive.kernel.Kernel`).

``generate``, ``check``, ``docs``, ``list`` and the torch/JAX targets go through
:func:`symact.catalog.entries` and this protocol; what differs per kind is looked up in one table per
backend (``_renderers`` in ``codegen/emit.py``, ``_contexts`` in ``codegen/package.py``) and written in
the templates.
"""
from __future__ import annotations

from typing import ClassVar


class Entry:
    """Base of the catalog's entry classes (frozen dataclasses); see the module docstring."""

    package: ClassVar[str] = ""  # "activations", "vectors" or "losses"

    def derive(self):
        """The derived, stabilized, proven kernels (a Derivation; failures collected, never raised)."""
        raise NotImplementedError

    def kernel_names(self) -> list[str]:
        """Every public name (key of the package index) this entry can put into a generated package: a
        superset of what one build emits (``name_grad_from_output`` only exists where the inverse does).
        The CLI checks user names against it before any work; the emitter refuses a name not listed."""
        raise NotImplementedError

    @property
    def kernel_params(self) -> tuple:
        """The parameters the kernels take (an activation's constants are folded in)."""
        return tuple(p for p in self.params if not p.constant)
