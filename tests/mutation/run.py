#!/usr/bin/env python3
"""Mutation testing for symact: does a plain ``pytest`` (no PyTorch) notice representative bugs?

Each mutation in ``mutations.toml`` (next to this file) is a textual patch — file, exact old text,
new text — with a description, what it changes in ``generated/`` and which tests to run. For each
one this script:

1. copies the repository's working tree (uncommitted changes included; not .git, .venv or caches)
   to a throwaway directory, starting from a *baseline* copy whose tests already ran (step 0);
2. applies the patch there (the original tree is never touched);
3. regenerates what the patch affects: the mutation's ``regenerate`` names are built with the
   copy's own code (``symact.build``, kernels only) and the files that differ from an unmutated
   build are written into the copy's ``generated/`` (``"all"``: the whole catalog, compared with the
   committed files; ``"none"``: the patch edits ``generated/`` itself; a subset whose change reaches
   the package index, which depends on the subset, falls back to the whole catalog);
4. clears the Numba caches that the change invalidates: those of every changed generated module and
   of every generated module importing one (Numba inlines the runtime helpers into the caller's
   cache, which its own staleness check does not see). ``--cold`` clears every cache instead;
5. runs pytest in the copy on the mutation's test selection with ``--maxfail`` (default 3), with
   ``import torch`` failing (a ``sitecustomize`` on PYTHONPATH), so torch tests skip: the question is
   whether a plain ``pytest`` catches the bug. The copy's ``symact``, ``symact.kernels`` and
   ``symact._templates`` are imported from the copy (the package-dir mapping of pyproject.toml);
6. reports which tests failed. ``tests/test_generate.py``'s generated-files sync test never counts
   (a partly regenerated copy is out of sync by construction), nor does a test that already fails in
   the baseline (it is deselected in the mutation runs and listed in the report).

Step 0, the baseline: the unmutated copy runs the union of all selected mutations' tests once (no
``--maxfail``), which also compiles the Numba caches the mutation copies start from. ``--no-baseline``
skips it (then every copy compiles from cold, and pre-existing failures count as catches).

Usage, from the repository root with the project's virtualenv (never collected by pytest)::

    .venv/bin/python tests/mutation/run.py                       # all mutations, Markdown table on stdout
    .venv/bin/python tests/mutation/run.py --only exp_coefficient --only relu_kink_flipped
    .venv/bin/python tests/mutation/run.py --report mutation-report.md
    .venv/bin/python tests/mutation/run.py --check               # do all patches still apply? (seconds)
    .venv/bin/python tests/mutation/run.py --list                # the mutations and their selections
    .venv/bin/python tests/mutation/run.py --only sigmoid_grad_flushed --with-torch --tests tests/test_torch.py

Options: ``--tests PATH ...`` overrides every mutation's selection; ``--maxfail N``; ``--with-torch``
lets PyTorch import (to check the torch tests themselves); ``--keep`` keeps the copies (their paths are
printed); ``--timeout MIN`` per pytest run (default 40). Run it under ``nice``. Measured on 2 shared
cores (load ~5): all 13 mutations in 56 min wall, 20 min CPU (the baseline 16 min of it); an escaped
mutation costs its whole selection (1-5 min), a caught one stops at ``--maxfail``; a change to
``_runtime.py`` recompiles every kernel its tests touch.

Exit status: 0 every mutation caught; 1 one or more escaped, or a run failed; 2 bad usage, or a
patch that no longer applies (update ``old`` in mutations.toml, keeping the bug the same).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MUTATIONS = HERE / "mutations.toml"

# Test selections a mutation can name as "@group". The numeric tests check values against mpmath,
# NumPy references or PyTorch; structural tests (proof shapes, docs, CLI) are not counted on by default.
GROUPS = {
    "elementwise": ["tests/test_accuracy.py", "tests/test_fused.py", "tests/test_from_output.py",
                    "tests/test_kernels_api.py", "tests/test_torch.py"],
    "rows": ["tests/test_vector.py", "tests/test_explicit.py", "tests/test_rowwise.py"],
    "losses": ["tests/test_losses.py", "tests/test_row_losses.py"],
    "runtime": ["tests/test_elementary.py", "tests/test_runtime.py"],
}
GROUPS["numeric"] = GROUPS["runtime"] + GROUPS["elementwise"] + GROUPS["rows"] + GROUPS["losses"]

# never counted: it fails whenever generated/ is not exactly what `symact generate` writes
SYNC_TEST = "tests/test_generate.py::test_committed_generated_is_up_to_date"

COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "__pycache__", ".pytest_cache", "*.egg-info",
                                     "build", "dist", ".mypy_cache", ".ruff_cache", "*.nbi", "*.nbc", "*.pyc")

SITECUSTOMIZE = '''\
"""Written by tests/mutation/run.py: import symact from the mutated copy, and (unless allowed) no torch."""
import importlib.util
import json
import os
import sys
from importlib.abc import MetaPathFinder

_MAP = json.loads(os.environ["SYMACT_MUTATION_MAP"])  # {package: directory}, from pyproject's package-dir


class _FromCopy(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in _MAP:
            d = _MAP[name]
            return importlib.util.spec_from_file_location(name, os.path.join(d, "__init__.py"),
                                                          submodule_search_locations=[d])
        return None


sys.meta_path.insert(0, _FromCopy())
if os.environ.get("SYMACT_MUTATION_TORCH") != "1":
    sys.modules["torch"] = None  # `import torch` raises ModuleNotFoundError, find_spec("torch") is None
'''

# Run inside a copy (its own code, through the sitecustomize above): build kernels, write them as JSON.
BUILD = '''\
import json, sys
from symact import build
only = json.loads(sys.argv[1])
result = build.build(only, docs=False, progress=lambda line: None)
out = {"failures": [str(f) for f in result.failures],
       "files": {k: v for k, v in result.files.items() if isinstance(v, str)}}
with open(sys.argv[2], "w") as fh:
    json.dump(out, fh)
'''


class PatchError(Exception):
    pass


@dataclass
class Mutation:
    name: str
    description: str
    patches: list[dict]
    regenerate: str | list[str] = "all"
    tests: list[str] = field(default_factory=lambda: ["@numeric"])

    def selection(self, override: list[str] | None = None) -> list[str]:
        paths = []
        for t in override or self.tests:
            for p in (GROUPS[t[1:]] if t.startswith("@") else [t]):
                if p not in paths:
                    paths.append(p)
        return paths


@dataclass
class Outcome:
    name: str
    status: str                 # caught | escaped | build refused | error
    failed: list[str]
    seconds: float
    detail: str = ""
    copy: str = ""


def load(path: Path = MUTATIONS) -> list[Mutation]:
    data = tomllib.loads(path.read_text())
    out = []
    for m in data["mutation"]:
        mut = Mutation(m["name"], m["description"], m["patch"], m.get("regenerate", "all"),
                       m.get("tests", ["@numeric"]))
        for t in mut.tests:
            if t.startswith("@") and t[1:] not in GROUPS:
                raise SystemExit(f"run.py: mutation {mut.name}: unknown test group {t} (known: {sorted(GROUPS)})")
        out.append(mut)
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise SystemExit("run.py: duplicate mutation names in mutations.toml")
    return out


def apply_patches(root: Path, mutation: Mutation, write: bool = True) -> list[str]:
    """Apply (or with write=False only check) every patch; return the files touched."""
    texts: dict[str, str] = {}
    for p in mutation.patches:
        path = root / p["file"]
        if not path.is_file():
            raise PatchError(f"{mutation.name}: {p['file']} does not exist")
        text = texts.get(p["file"], path.read_text())
        n = text.count(p["old"])
        if n != 1:
            first = p["old"].strip().splitlines()[0][:80]
            raise PatchError(f"{mutation.name}: the old text ({first!r}…) occurs {n} times in {p['file']}, "
                             "expected once: update the patch in tests/mutation/mutations.toml")
        texts[p["file"]] = text.replace(p["old"], p["new"])
    if write:
        for f, text in texts.items():
            (root / f).write_text(text)
    return list(texts)


def package_map(root: Path) -> dict[str, str]:
    """{package: directory in the copy} from pyproject.toml's [tool.setuptools.package-dir]."""
    cfg = tomllib.loads((root / "pyproject.toml").read_text())
    dirs = cfg.get("tool", {}).get("setuptools", {}).get("package-dir", {}) or {"symact": "symact"}
    return {pkg: str(root / d) for pkg, d in dirs.items() if pkg}


def environment(copy: Path, site: Path, torch: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NUMBA_") and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    env.update(PYTHONPATH=str(site), SYMACT_MUTATION_MAP=json.dumps(package_map(copy)),
               SYMACT_MUTATION_TORCH="1" if torch else "0")
    return env


def run_build(copy: Path, env: dict, only: list[str] | None, scratch: Path) -> dict:
    out = scratch / f"build-{time.monotonic_ns()}.json"
    r = subprocess.run([sys.executable, "-c", BUILD, json.dumps(only), str(out)], cwd=copy, env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"build failed:\n{r.stderr[-3000:]}")
    data = json.loads(out.read_text())
    out.unlink()
    return data


def regenerate(copy: Path, env: dict, mutation: Mutation, scratch: Path, base: dict | None) -> tuple[list[str], list[str]]:
    """Rebuild what the mutation affects into copy/generated; return (changed files, proof failures).

    ``base``: the unmutated build of the same names (None for a full build, whose base is the
    committed generated/). A changed file whose unmutated subset build already differs from the
    committed one depends on which entries were built (the package index): then the whole catalog
    is rebuilt instead, as a subset's index would drop every other kernel."""
    only = None if mutation.regenerate == "all" else list(mutation.regenerate)
    new = run_build(copy, env, only, scratch)
    if new["failures"]:
        return [], new["failures"]
    gen = copy / "generated"

    def on_disk(rel):
        return (gen / rel).read_text() if (gen / rel).is_file() else None

    if base is None:
        changed = [rel for rel, text in sorted(new["files"].items()) if on_disk(rel) != text]
    else:
        changed = [rel for rel, text in sorted(new["files"].items()) if base["files"].get(rel) != text]
        partial = [rel for rel in changed if base["files"].get(rel) != on_disk(rel)]
        if partial:
            log(f"  {mutation.name}: {', '.join(partial)} depend on the subset built: rebuilding the whole catalog")
            full = Mutation(mutation.name, mutation.description, mutation.patches, "all", mutation.tests)
            return regenerate(copy, env, full, scratch, None)
    for rel in changed:
        (gen / rel).parent.mkdir(parents=True, exist_ok=True)
        (gen / rel).write_text(new["files"][rel])
    return changed, []


_IMPORT = re.compile(r"^\s*from\s+(\.+)([\w.]*)\s+import", re.M)


def _module(rel: str) -> str:
    return rel[:-3].replace("/", ".")


def dependents(gen: Path, changed: list[str]) -> set[str]:
    """The changed generated modules and, transitively, every generated module importing one."""
    imports: dict[str, set[str]] = {}
    for path in gen.rglob("*.py"):
        rel = path.relative_to(gen).as_posix()
        if "__pycache__" in rel or rel.startswith("docs/"):
            continue
        pkg = _module(rel).split(".")[:-1]  # the package relative imports start from (also for __init__)
        deps = set()
        for dots, name in _IMPORT.findall(path.read_text()):
            base = pkg[: len(pkg) - (len(dots) - 1)] if len(dots) > 1 else pkg
            deps.add(".".join(base + ([name] if name else [])))
        imports[_module(rel)] = deps
    hit = {_module(c) for c in changed if c.endswith(".py")}
    grew = True
    while grew:
        grew = False
        for mod, deps in imports.items():
            if mod not in hit and deps & hit:
                hit.add(mod)
                grew = True
    return hit


def clear_caches(copy: Path, modules: set[str] | None) -> int:
    """Delete Numba caches (*.nbi, *.nbc) of these generated modules (None: of every file in the copy)."""
    n = 0
    for cache in list(copy.rglob("*.nbi")) + list(copy.rglob("*.nbc")):
        if modules is not None:
            try:
                rel = cache.parent.parent.relative_to(copy / "generated").as_posix()
            except ValueError:
                continue
            stem = cache.name.split(".")[0]
            mod = ".".join([p for p in rel.split("/") if p and p != "."] + [stem])
            if mod not in modules:
                continue
        cache.unlink()
        n += 1
    return n


def junit_failures(xml: Path) -> list[str]:
    """Node ids of the failed or errored tests, in run order."""
    if not xml.is_file():
        return []
    out = []
    for case in ET.parse(xml).getroot().iter("testcase"):
        if case.find("failure") is None and case.find("error") is None:
            continue
        cls, name = case.get("classname", ""), case.get("name", "")
        parts = cls.split(".") if cls else []
        for k in range(len(parts), 0, -1):  # the longest prefix that is a file: tests.test_x.Class
            if (ROOT / ("/".join(parts[:k]) + ".py")).is_file():
                nodeid = "/".join(parts[:k]) + ".py::" + "::".join(parts[k:] + [name])
                break
        else:
            nodeid = f"{cls}::{name}" if cls else f"collecting {name}"
        out.append(nodeid)
    return out


def run_pytest(copy: Path, env: dict, tests: list[str], maxfail: int | None, deselect: list[str],
               scratch: Path, timeout_min: float) -> tuple[int, list[str], str]:
    xml = scratch / f"junit-{time.monotonic_ns()}.xml"
    tests = [t for t in tests if (copy / t.split("::")[0]).exists()]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
           "-o", "junit_family=xunit1", "--deselect", SYNC_TEST]
    cmd += [f"--maxfail={maxfail}"] if maxfail else []
    for d in deselect:
        cmd += ["--deselect", d]
    proc = subprocess.Popen(cmd + tests, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_min * 60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return -1, junit_failures(xml), out
    return proc.returncode, [f for f in junit_failures(xml) if f != SYNC_TEST], out


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_one(m: Mutation, base_copy: Path, tmp: Path, site: Path, args, known: list[str]) -> Outcome:
    t0 = time.perf_counter()
    copy = tmp / m.name
    shutil.copytree(base_copy, copy, symlinks=True)
    env = environment(copy, site, args.with_torch)
    try:
        base = None
        if m.regenerate not in ("all", "none"):
            base = run_build(copy, env, list(m.regenerate), tmp)   # the unmutated build of the same names
        touched = apply_patches(copy, m)
        if m.regenerate == "none":
            changed = [t[len("generated/"):] for t in touched if t.startswith("generated/")]
        else:
            changed, failures = regenerate(copy, env, m, tmp, base)
            if failures:
                return Outcome(m.name, "build refused", [], time.perf_counter() - t0,
                               f"proof failed: {failures[0][:200]}", str(copy))
        if args.cold:
            cleared = clear_caches(copy, None)
        else:
            cleared = clear_caches(copy, dependents(copy / "generated", changed))
        log(f"  {m.name}: {len(changed)} generated files changed ({', '.join(changed[:4])}"
            f"{'…' if len(changed) > 4 else ''}), {cleared} Numba cache files cleared")
        if not changed and m.regenerate != "none" and not any(t.startswith("tests/") for t in touched):
            log(f"  {m.name}: warning: the patch changed no generated file")
        rc, failed, out = run_pytest(copy, env, m.selection(args.tests), args.maxfail, known, tmp, args.timeout)
        failed = [f for f in failed if f not in known]  # e.g. a module that already fails to import
    except Exception as exc:  # noqa: BLE001 - reported as this mutation's error, the others still run
        return Outcome(m.name, "error", [], time.perf_counter() - t0, f"{type(exc).__name__}: {exc}", str(copy))
    seconds = time.perf_counter() - t0
    if rc == -1:
        return Outcome(m.name, "error", failed, seconds, f"pytest ran over {args.timeout} min", str(copy))
    if failed:
        return Outcome(m.name, "caught", failed, seconds, copy=str(copy))
    if rc == 0:
        return Outcome(m.name, "escaped", [], seconds, copy=str(copy))
    return Outcome(m.name, "error", [], seconds, f"pytest exit {rc}: {out.strip().splitlines()[-1:]}", str(copy))


def table(outcomes: list[Outcome], mutations: dict[str, Mutation], known: list[str], total: float,
          torch: bool) -> str:
    lines = ["| mutation | caught? | first catching tests | seconds |", "|---|---|---|---|"]
    for o in outcomes:
        caught = {"caught": "yes", "escaped": "**NO**", "build refused": "by the prover",
                  "error": "error"}[o.status]
        tests = "<br>".join(f"`{f}`" for f in o.failed[:3]) or o.detail or "–"
        cells = [f"`{o.name}`: {mutations[o.name].description}", caught, tests, f"{o.seconds:.0f}"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    n = sum(o.status in ("caught", "build refused") for o in outcomes)
    lines += ["", f"{n} of {len(outcomes)} mutations caught, PyTorch {'importable' if torch else 'hidden'}; "
                  f"total {total / 60:.1f} min (baseline included)."]
    if known:
        lines += ["", "Already failing without any mutation (deselected in the mutation runs, not counted):"]
        lines += [f"- `{k}`" for k in known]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", metavar="NAME", help="run only this mutation (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--check", action="store_true", help="only check that every patch applies to this tree")
    ap.add_argument("--report", metavar="FILE", help="also write the Markdown table to FILE")
    ap.add_argument("--tests", nargs="+", metavar="PATH", help="override every mutation's test selection")
    ap.add_argument("--maxfail", type=int, default=3, help="stop a mutation's run after N failures (default 3)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated baseline run")
    ap.add_argument("--cold", action="store_true", help="clear every Numba cache in each copy")
    ap.add_argument("--with-torch", action="store_true", help="let the tests import PyTorch")
    ap.add_argument("--keep", action="store_true", help="keep the copies (paths printed)")
    ap.add_argument("--timeout", type=float, default=40.0, metavar="MIN", help="per pytest run (default 40)")
    args = ap.parse_args(argv)

    mutations = load()
    by_name = {m.name: m for m in mutations}
    unknown = [n for n in args.only or [] if n not in by_name]
    if unknown:
        print(f"run.py: unknown mutation {', '.join(unknown)} (known: {', '.join(by_name)})", file=sys.stderr)
        return 2
    chosen = [by_name[n] for n in args.only] if args.only else mutations
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.description}\n    regenerate: {m.regenerate}; tests: {' '.join(m.selection(args.tests))}")
        return 0
    problems = []
    for m in chosen:
        try:
            apply_patches(ROOT, m, write=False)
        except PatchError as exc:
            problems.append(str(exc))
    if problems or args.check:
        print("\n".join(problems) or f"all {len(chosen)} mutations apply to {ROOT}", file=sys.stderr)
        return 2 if problems else 0

    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="symact-mutation-"))
    site = tmp / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    base_copy = tmp / "baseline"
    shutil.copytree(ROOT, base_copy, ignore=COPY_IGNORE, symlinks=True)
    log(f"copies under {tmp}")
    known: list[str] = []
    try:
        if not args.no_baseline:
            union = []
            for m in chosen:
                union += [t for t in m.selection(args.tests) if t not in union]
            log(f"baseline: {' '.join(union)}")
            tb = time.perf_counter()
            rc, known, out = run_pytest(base_copy, environment(base_copy, site, args.with_torch), union, None, [],
                                        tmp, args.timeout)
            if rc not in (0, 1):
                print(f"run.py: the baseline run failed (pytest exit {rc}):\n{out[-3000:]}", file=sys.stderr)
                return 1
            log(f"baseline: {out.strip().splitlines()[-1] if out.strip() else ''} ({time.perf_counter() - tb:.0f} s)")
        outcomes = []
        for i, m in enumerate(chosen, 1):
            log(f"[{i}/{len(chosen)}] {m.name}")
            o = run_one(m, base_copy, tmp, site, args, known)
            log(f"  {o.status} in {o.seconds:.0f} s" + (f": {o.failed[0]}" if o.failed else f" {o.detail}"))
            outcomes.append(o)
            if not args.keep:
                shutil.rmtree(tmp / m.name, ignore_errors=True)
        report = table(outcomes, by_name, known, time.perf_counter() - t0, args.with_torch)
        print(report)
        if args.report:
            Path(args.report).write_text(report)
        return 0 if all(o.status in ("caught", "build refused") for o in outcomes) else 1
    finally:
        if args.keep:
            log(f"copies kept under {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
