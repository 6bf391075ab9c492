"""Everything ``symact generate`` writes, assembled in one place (the CLI and the sync test use it).

Derives the activations (built-in and the user's), the vector functions and the losses, proves what
they state, renders the kernel package and the reference docs, and returns the files — nothing is
written here; ``symact.atomic.write_atomically`` does that, all at once.
"""
from __future__ import annotations

import ast
import functools
import re
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


def plural(n: int, word: str) -> str:
    """"1 proof", "2 proofs", "3 identities"."""
    if n == 1 or word in ("as written",):
        return f"{n} {word}"
    irregular = {"extremum": "extrema"}
    if word in irregular:
        return f"{n} {irregular[word]}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else f"{n} {word}s"


def produced_names(entries=None) -> dict[str, str]:
    """{kernel name: whose it is, in words} for every public name the entries put into a package
    (default: the whole catalog, built-in and registered user entries), by ``emit.kernel_names``."""
    from .catalog import builtin_names
    from .codegen.emit import kernel_names

    if entries is None:
        entries = [*all_entries(), *VECTORS, *LOSSES, *ROW_LOSSES]
    builtin = builtin_names()
    owners = {}
    for e in entries:
        whose = "the built-in" if e.kind != "activation" or e.name in builtin else "your"
        owner = f"{whose} {e.kind} {e.name!r}"
        for name in kernel_names(e):
            owners.setdefault(name, owner if name == e.name else f"a kernel of {owner}")
    return owners


# Argument and local names of the kernel functions in templates/activation.py.j2 (input x, output y of
# the from-output kernels, incoming gradient g, out/dout, loop index i, xi, result): a parameter may not
# be called so. build() checks the rendered modules for any shadowing this list misses.
KERNEL_LOCALS = ("x", "y", "g", "out", "dout", "i", "xi", "result")
SUBPACKAGES = ("activations", "vectors", "losses", "docs")


@functools.lru_cache(maxsize=1)
def reserved_names() -> dict[str, str]:
    """{name: why it is taken} for names a user's function or parameter may not have: Python keywords
    and builtins, the functions and constants of user expressions and the primitives of the registry,
    and every name the generated package and its kernel modules define or import."""
    import builtins
    import keyword

    from .codegen.emit import _environment, _templates_dir, render_runtime, runtime_module
    from .codegen.numba import FUNCTIONS as PRINTED
    from .userspec import CONSTANTS, FUNCTIONS

    taken = {}
    for name in sorted(dir(builtins)):
        taken.setdefault(name, "a Python builtin")
    for name in keyword.kwlist + keyword.softkwlist:
        taken[name] = "a Python keyword"
    for name in FUNCTIONS:
        taken.setdefault(name, "a function that --define expressions call")
    for name in CONSTANTS:
        taken.setdefault(name, "a constant that --define expressions use")
    for cls, printed in PRINTED.items():
        for name in (cls.__name__.lower(), printed.removeprefix("math.").removesuffix("_{t}")):
            taken.setdefault(name, "a primitive function of symact's registry")
    env = _environment()
    modules = {"__init__.py": env.get_template("package_init.py.j2").render(
        version="0", index=[], modules=[], count=0, package_hint="p"), "_runtime.py": render_runtime(env)}
    for name in ("_rowwise.py", "_losses.py", "_rowlosses.py", "_dask.py"):
        modules[name] = runtime_module(name)
    for rel, text in modules.items():
        for name in _top_level(ast.parse(text)):
            taken.setdefault(name, f"a name the generated package defines ({rel})")
    for template in sorted(_templates_dir().glob("*.py.j2")):  # what the kernel modules import
        for line in template.read_text(encoding="utf-8").splitlines():
            m = re.match(r"(?:from\s+\S+\s+)?import\s+(.*)", re.sub(r"\{%.*?%\}|\{\{.*?\}\}|#.*", "", line))
            for part in m.group(1).split(",") if m else ():
                name = part.split(" as ")[-1].strip().split(".")[0]
                if name.isidentifier():
                    taken.setdefault(name, f"a name the generated kernel modules import ({template.name})")
    for name in SUBPACKAGES:
        taken.setdefault(name, "a subpackage of the generated package")
    return taken


def _top_level(tree: ast.Module) -> list[str]:
    """Names bound at the top level of a module: imports, defs, classes, assignments."""
    names = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return names


def check_package(files: dict[str, str | bytes]) -> None:
    """Fail loudly (AssertionError) where a name in the rendered package would hide another: a name
    bound twice at the top of a kernel module, a kernel argument that shadows a module-level name or a
    function it calls or is reassigned in the body, an index key that the package defines itself."""
    problems = []
    for rel, text in sorted(files.items()):
        if not rel.endswith(".py") or rel.split("/")[0] not in SUBPACKAGES or rel.endswith("__init__.py"):
            continue
        tree = ast.parse(text)
        top = _top_level(tree)
        problems += [f"{rel}: {n!r} is bound twice at the top level" for n in sorted(set(top)) if top.count(n) > 1]
        for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            args = {a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs}
            stored = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            called = {n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            for what, names in (("a module-level name", set(top)), ("reassigned in it", stored),
                                ("a function it calls", called)):
                problems += [f"{rel}: argument {a!r} of {fn.name} is also {what}" for a in sorted(args & names)]
    init = ast.parse(files["__init__.py"])
    index = next(ast.literal_eval(n.value) for n in init.body if isinstance(n, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "_INDEX" for t in n.targets))
    own = set(_top_level(init)) | set(SUBPACKAGES) | {p.split("/")[0].removesuffix(".py") for p in files}
    problems += [f"__init__.py: kernel {n!r} has the name of the package's own {n!r}" for n in sorted(own & set(index))]
    if problems:
        raise AssertionError("the generated package would hide names:\n  " + "\n  ".join(problems))


def build(only: list[str] | None = None, package_hint: str = "symact.kernels", docs: bool = True,
          progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> Build:
    """Derive, prove and render; progress lines ``[n/total] name ...`` in increasing order, on stderr."""
    from .derive.scalar import derive
    from .codegen.emit import render_package
    from .verify.check import check
    from .verify.prove import ProofFailures

    def wanted(name):
        return not only or name in only

    entries = [e for e in all_entries() if wanted(e.name)]
    vectors = [v for v in VECTORS if wanted(v.name)]
    losses = [loss for loss in LOSSES if wanted(loss.name)]
    row_losses = [r for r in ROW_LOSSES if wanted(r.name)]
    total = len(entries) + len(vectors) + len(losses) + len(row_losses)
    derived, pointwise, failures = [], [], []
    n = 0
    for e in entries:
        d = derive(e)
        derived.append(d)
        bad = [p for p in d.all_proofs() if not p.ok]
        failures += bad
        n += 1
        progress(f"[{n:2d}/{total}] {e.name:<14} {plural(len(d.kernels), 'kernel')}, "
                 f"{plural(len(d.all_proofs()), 'proof')} {'FAILED' if bad else 'ok'}")
    for loss in losses:
        d = loss.derive()
        pointwise.append((loss, d))
        bad = [p for p in d.all_proofs() if not p.ok]
        failures += bad
        n += 1
        progress(f"[{n:2d}/{total}] {loss.name:<14} loss, {plural(len(d.all_proofs()), 'proof')} "
                 f"{'FAILED' if bad else 'ok'}")
    failures += [r for r in map(check, user_identities()) if r.status != "proved"]
    if failures:
        return Build({}, failures)
    if vectors or row_losses:
        progress(f"vector functions and row losses: proving and rendering at explicit K ...")
    try:
        files = render_package(derived, package_hint=package_hint, vectors=vectors, losses=pointwise,
                               row_losses=row_losses)
    except ProofFailures as exc:  # vector functions and row losses prove while they render
        return Build({}, exc.failures)
    for v in vectors:  # proven while rendering (an unproven form raises there)
        n += 1
        progress(f"[{n:2d}/{total}] {v.name:<14} vector: value and vjp proven at K = "
                 f"{', '.join(map(str, v.layout.sizes))}")
    for r in row_losses:
        n += 1
        progress(f"[{n:2d}/{total}] {r.name:<14} row loss: gradients checked and stable forms proven at K = 2, 3, 4")
    check_package(files)
    if docs and derived:
        from .docs import ACCURACY_TABLE, render_docs

        with tempfile.TemporaryDirectory() as tmp:
            for path in render_docs(derived, "both", Path(tmp), vectors=vectors, losses=pointwise,
                                     row_losses=row_losses, accuracy=ACCURACY_TABLE):
                files[f"docs/{path.relative_to(tmp)}"] = path.read_bytes()
            for path in Path(tmp).rglob("*"):
                if path.is_file():
                    files.setdefault(f"docs/{path.relative_to(tmp)}", path.read_bytes())
        progress(f"docs: {plural(sum(1 for f in files if f.startswith('docs/')), 'file')}")
    count = sum(1 for line in files["__init__.py"].splitlines() if line.startswith("    '"))
    return Build(files, [], kernels=count, functions=total)
