"""Code generation backends: one printer, one config and structure-only templates per framework.

``numba`` is today's ``symact.codegen.emit`` (the default target, ``symact.kernels``); ``torch`` and ``jax``
(:mod:`symact.codegen.torch`, :mod:`symact.codegen.jax`) print the same derived, stable expressions
as whole-tensor framework code (:mod:`symact.codegen.tensor`), read through one adapter
(:mod:`symact.codegen.source`) and rendered by :mod:`symact.codegen.package`.
"""
from __future__ import annotations

import sys
from typing import Callable

TARGETS = ("numba", "torch", "jax")


def build_target(target: str, only=None, package_hint: str = "symact_torch",
                 progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)):
    """Derive the catalog (built-in and registered user entries) and render a ``target`` package.
    Returns ``symact.build.Build`` (files, or the failed proofs and nothing to write)."""
    from ..build import Build
    from ..catalog import entries, user_identities
    from ..verify.check import check
    from .package import render_target
    from .source import derive_entry

    todo = [e for e in entries() if not only or e.name in only]
    failures = []
    for n, e in enumerate(todo, 1):
        d = derive_entry(e)
        failures += d.failures
        progress(f"[{n:2d}/{len(todo)}] {e.name:<14} {e.kind}: derived{' FAILED' if d.failures else ''}")
    failures += [r for r in map(check, user_identities()) if r.status != "proved"]
    if failures:
        return Build({}, failures)
    files = render_target(target, todo, package_hint)
    return Build(files, [], kernels=len(todo), functions=len(todo))


def targets_of(name: str) -> list[tuple[str, list[str], str]]:
    """(target, the names it emits for ``name``, how to get them) for every target, as the reference docs
    state it: every catalog entry (and every user entry) is emitted by each target."""
    from .torch import module_name

    return [("numba (default)", [f"symact.kernels.{name}"], "symact generate"),
            ("torch", [name, f"{module_name(name)} (nn.Module)"], "symact generate --target torch --out DIR"),
            ("jax", [name], "symact generate --target jax --out DIR")]


ACCURACY_TABLE = "benchmarks/target_accuracy.md"


def targets_markdown(name: str) -> str:
    parts = ["{}: {} ({})".format(t, ", ".join(f"`{n.split(' ')[0]}`{n[len(n.split(' ')[0]):]}" for n in names),
                                  f"`{how}`") for t, names, how in targets_of(name)]
    return f"**Targets:** {' · '.join(parts)}; measured accuracy of the torch and jax targets: `{ACCURACY_TABLE}`."


def targets_latex(name: str, escape) -> str:
    parts = ["{}: {} ({})".format(t, ", ".join(r"\texttt{%s}%s" % (escape(n.split(' ')[0]), escape(n[len(n.split(' ')[0]):]))
                                               for n in names), r"\texttt{%s}" % escape(how))
             for t, names, how in targets_of(name)]
    return (r"\textbf{Targets:} " + "; ".join(parts)
            + r"; measured accuracy of the torch and jax targets: \texttt{%s}." % escape(ACCURACY_TABLE))
