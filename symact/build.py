"""Everything ``symact generate`` writes, assembled in one place (the CLI and the sync test use it).

Derives the activations (built-in and the user's), the vector functions and the losses, proves what
they state, renders the kernel package and the reference docs, and returns the files — nothing is
written here; ``symact.atomic.write_atomically`` does that, all at once.
"""
from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .catalog import all_entries, user_identities
from .catalog.losses import LOSSES
from .catalog.row_losses import ROW_LOSSES
from .catalog.vectors import VECTORS


@dataclass
class Build:
    files: dict[str, str | bytes]
    failures: list = field(default_factory=list)   # proofs that failed (then nothing may be written)
    kernels: int = 0
    functions: int = 0


def all_names() -> list[str]:
    return [e.name for e in all_entries()] + [v.name for v in VECTORS] + [loss.name for loss in LOSSES] + [r.name for r in ROW_LOSSES]


def build(only: list[str] | None = None, package_hint: str = "symact.kernels", docs: bool = True,
          progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> Build:
    from .derive import derive
    from .emit import render_package
    from .verify import check

    def wanted(name):
        return not only or name in only

    entries = [e for e in all_entries() if wanted(e.name)]
    vectors = [v for v in VECTORS if wanted(v.name)]
    losses = [loss for loss in LOSSES if wanted(loss.name)]
    row_losses = [r for r in ROW_LOSSES if wanted(r.name)]
    total = len(entries) + len(vectors) + len(losses) + len(row_losses)
    derived, pointwise, failures = [], [], []
    for n, e in enumerate(entries, 1):
        d = derive(e)
        derived.append(d)
        bad = [p for p in d.all_proofs() if not p.ok]
        failures += bad
        progress(f"[{n:2d}/{total}] {e.name:<14} {len(d.kernels)} kernels, {len(d.all_proofs())} proofs "
                 f"{'FAILED' if bad else 'ok'}")
    for n, loss in enumerate(losses, len(entries) + len(vectors) + 1):
        d = loss.derive()
        pointwise.append((loss, d))
        bad = [p for p in d.all_proofs() if not p.ok]
        failures += bad
        progress(f"[{n:2d}/{total}] {loss.name:<14} loss, {len(d.all_proofs())} proofs {'FAILED' if bad else 'ok'}")
    failures += [r for r in map(check, user_identities()) if r.status != "proved"]
    if failures:
        return Build({}, failures)
    files = render_package(derived, package_hint=package_hint, vectors=vectors, losses=pointwise,
                           row_losses=row_losses)
    for n, v in enumerate(vectors, len(entries) + 1):
        progress(f"[{n:2d}/{total}] {v.name:<14} vector: value and vjp proven at K = 2, 3, 4")
    for n, r in enumerate(row_losses, len(entries) + len(vectors) + len(losses) + 1):
        progress(f"[{n:2d}/{total}] {r.name:<14} row loss: gradients checked and stable forms proven at K = 2, 3, 4")
    if docs and derived:
        from .docs import ACCURACY_TABLE, render_docs

        with tempfile.TemporaryDirectory() as tmp:
            for path in render_docs(derived, "both", Path(tmp), vectors=vectors, losses=pointwise,
                                     row_losses=row_losses, accuracy=ACCURACY_TABLE):
                files[f"docs/{path.relative_to(tmp)}"] = path.read_bytes()
            for path in Path(tmp).rglob("*"):
                if path.is_file():
                    files.setdefault(f"docs/{path.relative_to(tmp)}", path.read_bytes())
        progress(f"docs: {sum(1 for f in files if f.startswith('docs/'))} files")
    count = sum(1 for line in files["__init__.py"].splitlines() if line.startswith("    '"))
    return Build(files, [], kernels=count, functions=total)
