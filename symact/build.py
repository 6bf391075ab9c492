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

from . import catalog
from .catalog import user_identities


@dataclass
class Build:
    files: dict[str, str | bytes]
    failures: list = field(default_factory=list)   # proofs that failed (then nothing may be written)
    kernels: int = 0
    functions: int = 0


def all_names() -> list[str]:
    return [e.name for e in catalog.entries()]


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

    builtin = builtin_names()
    owners = {}
    for e in catalog.entries() if entries is None else entries:
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
    for name in ("_rowwise.py", "_losses.py", "_rowlosses.py", "_dask.py", "_checks.py"):
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


def _progress_line(d) -> str:
    """What ``generate`` says about one derived entry: its kernels and proofs, and where a derivation at
    symbolic K was cross-checked."""
    checked = sorted({k.check.partition(" at ")[0] for k in d.kernels if k.check.startswith("K = ")})
    extra = f", derivatives cross-checked at {'; '.join(checked)}" if checked else ""
    return (f"{d.entry.kind}: {plural(len(d.kernels), 'kernel')}, {plural(len(d.all_proofs()), 'proof')} "
            f"{'FAILED' if d.failures else 'ok'}{extra}")


def build(only: list[str] | None = None, package_hint: str = "symact.kernels", docs: bool = True,
          progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> Build:
    """Derive, prove and render every entry of every kind, one pipeline: ``entry.derive()`` (failures
    collected, never raised), then — only if nothing failed — the package and the docs. Progress lines
    ``[n/total] name ...`` in increasing order, on stderr."""
    from .codegen.emit import render_package
    from .verify.check import check

    todo = [e for e in catalog.entries() if not only or e.name in only]
    derived, failures = [], []
    for n, e in enumerate(todo, 1):
        d = e.derive()
        derived.append(d)
        failures += d.failures
        progress(f"[{n:2d}/{len(todo)}] {e.name:<14} {_progress_line(d)}")
    failures += [r for r in map(check, user_identities()) if r.status != "proved"]
    if failures:
        return Build({}, failures)
    files = render_package(derived, package_hint=package_hint)
    check_package(files)
    if docs and any(e.package == "activations" for e in todo):
        from .docs import ACCURACY_TABLE, render_docs

        with tempfile.TemporaryDirectory() as tmp:
            for path in render_docs(derived, "both", Path(tmp), accuracy=ACCURACY_TABLE):
                files[f"docs/{path.relative_to(tmp)}"] = path.read_bytes()
            for path in Path(tmp).rglob("*"):
                if path.is_file():
                    files.setdefault(f"docs/{path.relative_to(tmp)}", path.read_bytes())
        progress(f"docs: {plural(sum(1 for f in files if f.startswith('docs/')), 'file')}")
    count = sum(1 for line in files["__init__.py"].splitlines() if line.startswith("    '"))
    return Build(files, [], kernels=count, functions=len(todo))
