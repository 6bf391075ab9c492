"""The derivation cache: a warm cache computes nothing and changes no byte of any output; a changed
entry is recomputed alone; a corrupt or unwritable cache is survived; SYMACT_CACHE=0 writes nothing.

Entries are taken from the catalog: the smallest definition of each kind (cheap to derive), so every
kind of cached step (activation, vector function, pointwise loss, row loss, stated identity) is run.
"""
from __future__ import annotations

import json
import pickle
import re
import shutil
import time
from pathlib import Path

import pytest
import sympy as sp

from symact import cache, cli, docs
from symact.derive import row_loss
from symact.catalog import all_entries
from symact.catalog.losses import LOSSES
from symact.catalog.row_losses import ROW_LOSSES
from symact.catalog.vectors import VECTORS
from symact.verify.prove import _Timeout, time_budget

ROOT = Path(__file__).resolve().parent.parent


def _smallest(entries, definition, where=lambda e: True):
    return min((e for e in entries if where(e)), key=lambda e: len(sp.srepr(definition(e)))).name


ACTIVATION = _smallest(all_entries(), lambda e: e.expr(), lambda e: e.learnable)  # with a parameter gradient
VECTOR = _smallest(VECTORS, lambda v: v.expr())
LOSS = _smallest(LOSSES, lambda loss: loss.pointwise().expr())
ROW_LOSS = _smallest(ROW_LOSSES, lambda r: list(r.formulas.values()))
NAMES = [ACTIVATION, VECTOR, LOSS, ROW_LOSS]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh, empty cache for one test; the process-wide memo of row losses forgotten."""
    where = tmp_path / "cache"
    monkeypatch.setenv("SYMACT_CACHE_DIR", str(where))
    monkeypatch.delenv("SYMACT_CACHE", raising=False)
    monkeypatch.setattr(row_loss, "_DERIVED", {})
    cache.stats.clear()
    return where


def _run(argv, capsys) -> tuple[str, dict]:
    """One CLI command in this process: (stdout, the cache's counts during it); the memos of earlier
    commands in this process forgotten."""
    row_loss._DERIVED.clear()
    docs.readable.cache_clear()
    cache.stats.clear()
    capsys.readouterr()
    assert cli.main(argv) == 0
    return capsys.readouterr().out, dict(cache.stats)


def _untimed(text: str) -> str:
    return re.sub(r"\(\d+ ms\)", "(… ms)", text)


def _tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _files(where: Path) -> list[Path]:
    return sorted(where.rglob("*.pkl")) if where.exists() else []


def test_generate_is_byte_identical_cold_warm_and_without_cache(cache_dir, tmp_path, capsys):
    trees, counts = {}, {}
    for run, extra in (("cold", []), ("warm", []), ("none", ["--no-cache"])):
        out = tmp_path / run / "pkg"  # one package name: the output names it
        _, counts[run] = _run(["generate", "--out", str(out), "--only", *NAMES, *extra], capsys)
        trees[run] = _tree(out)
    cold, warm, none = counts["cold"], counts["warm"], counts["none"]
    assert cold["miss"] > 0 and cold["write"] == cold["miss"]
    for step in ("derive", "rows", "row_loss"):
        assert cold.get(f"miss {step}", 0) > 0, step
    assert warm.get("miss", 0) == 0, warm  # the warm run computed nothing
    assert warm["hit"] == cold["miss"] + cold.get("hit", 0)
    assert none.get("hit", 0) == none.get("write", 0) == 0 and none["miss"] == warm["hit"]
    assert trees["cold"] == trees["warm"] == trees["none"]


@pytest.mark.parametrize("name", NAMES)
def test_show_is_the_same_from_the_cache(name, cache_dir, capsys):
    cold, _ = _run(["show", name], capsys)
    warm, counts = _run(["show", name], capsys)
    assert counts.get("miss", 0) == 0 and counts["hit"] > 0
    assert warm == cold and name in cold


def test_check_is_the_same_from_the_cache(cache_dir, capsys):
    def results(text):  # the same proofs, methods and outcomes (the seconds are the run's own)
        return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(text)]

    cold, cold_counts = _run(["check", "--json", *NAMES], capsys)
    warm, counts = _run(["check", "--json", *NAMES], capsys)
    assert cold_counts["miss check"] > 0  # the stated identities about these entries
    assert counts.get("miss", 0) == 0 and counts["hit"] == cold_counts["miss"] + cold_counts.get("hit", 0)
    assert results(warm) == results(cold) and len(results(cold)) > len(NAMES)


SPEC = """
from symact.catalog import Activation, Param

ACTIVATIONS = [
    Activation(name="cache_probe_a", formula=lambda x: x * x / 2, summary="x²/2"),
    Activation(name="cache_probe_b", formula=lambda x, a: {b_formula}, summary="a probe",
               params=(Param("a", {a_default}, "a coefficient"),)),
]
"""


@pytest.mark.parametrize("edit", [{"b_formula": "a * x**3 + x"}, {"a_default": "2.0"}],
                         ids=["formula", "default"])
def test_a_changed_spec_entry_is_recomputed_alone(edit, cache_dir, tmp_path, capsys):
    spec = tmp_path / "my_spec.py"
    outs = []
    for version in ({}, edit):
        spec.write_text(SPEC.format(**({"b_formula": "a * x**3", "a_default": "1.0"} | version)))
        out = tmp_path / f"run{len(outs)}" / "probes"
        _, counts = _run(["generate", "--spec", str(spec), "--only", "cache_probe_a", "cache_probe_b",
                          "--no-docs", "--out", str(out)], capsys)
        outs.append(_tree(out))
    assert counts["miss derive"] == 1 and counts["hit derive"] == 1  # cache_probe_b only
    changed = {f for f in outs[0].keys() | outs[1].keys() if outs[0].get(f) != outs[1].get(f)}
    assert any("cache_probe_b" in f for f in changed) and not any("cache_probe_a" in f for f in changed)


def test_a_corrupt_or_incompatible_file_is_recomputed(cache_dir, capsys):
    cold, _ = _run(["show", ACTIVATION], capsys)
    files = _files(cache_dir)
    assert files
    bad = [b"", b"not a pickle", b"csymact.derive\nNoSuchThing\n.",  # truncated, garbage, a class now gone
           pickle.dumps(((cache.FORMAT + 1, "derive"), True, pickle.dumps("from another format")))]
    for n, path in enumerate(files):
        path.write_bytes(bad[n % len(bad)])
    again, counts = _run(["show", ACTIVATION], capsys)
    assert _untimed(again) == _untimed(cold)  # recomputed: the proofs took their own time
    assert counts["miss"] == len(files) and counts["write"] == len(files)
    warm, counts = _run(["show", ACTIVATION], capsys)  # the rewritten files are good
    assert warm == again and counts.get("miss", 0) == 0


@pytest.mark.parametrize("off", ["env", "flag"])
def test_switched_off_it_writes_nothing(off, cache_dir, monkeypatch, capsys):
    if off == "env":
        monkeypatch.setenv("SYMACT_CACHE", "0")
    out, counts = _run(["show", ROW_LOSS] + (["--no-cache"] if off == "flag" else []), capsys)
    assert ROW_LOSS in out and counts["miss"] > 0 and counts.get("hit", 0) == counts.get("write", 0) == 0
    assert not cache_dir.exists()


def test_an_unwritable_cache_directory_means_no_cache(cache_dir, tmp_path, monkeypatch, capsys):
    blocked = tmp_path / "a_file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("SYMACT_CACHE_DIR", str(blocked))
    for debug in ([], ["--debug"]):
        cache._warned.clear()
        assert cli.main(["show", ACTIVATION, *debug]) == 0
        captured = capsys.readouterr()
        lines = [line for line in captured.err.splitlines() if "cache" in line]
        assert len(lines) == (1 if debug else 0), captured.err
        assert ACTIVATION in captured.out
    assert blocked.read_text() == "not a directory"


def test_keys_name_each_definition(cache_dir):
    """Every catalog entry has a key; no two entries share one; the same entry gives the same key."""
    entries = [*all_entries(), *(loss.pointwise() for loss in LOSSES), *VECTORS, *ROW_LOSSES]
    keys = [cache.canonical((e, e.expr() if hasattr(e, "expr") else None)) for e in entries]
    assert keys == [cache.canonical((e, e.expr() if hasattr(e, "expr") else None)) for e in entries]
    assert len(set(keys)) == len(entries)
    with pytest.raises(TypeError, match="no stable cache key"):
        cache.canonical(object())


def test_a_code_change_is_another_generation(tmp_path):
    """Editing any module changes the source hash (no stale result after a code change); editing a
    catalog data module does not (the keys hold each entry's definition)."""
    package = tmp_path / "symact"
    shutil.copytree(ROOT / "symact", package, ignore=shutil.ignore_patterns("__pycache__"))
    base = cache.source_hash(package)
    for rel in cache.DATA_MODULES:
        with open(package / rel, "a") as f:
            f.write("\n# a comment\n")
    assert cache.source_hash(package) == base
    code = sorted(p for p in package.rglob("*.py") if p.relative_to(package).as_posix() not in cache.DATA_MODULES)
    for path in code:
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        assert cache.source_hash(package) != base, path
        path.write_bytes(original)
    assert cache.source_hash(package) == base


def test_a_result_that_met_a_time_budget_is_not_cached(cache_dir):
    """A budget that ran out may have made the result depend on the machine's load: not stored."""
    calls = []

    @cache.cached("test budget", key=lambda n: n)
    def budgeted(n):
        calls.append(n)
        try:
            with time_budget(0.01):
                time.sleep(30)  # interrupted by the budget
        except _Timeout:
            return "fallback"
        return "finished"

    assert budgeted(1) == budgeted(1) == "fallback" and calls == [1, 1]
    assert cache.stats["budget test budget"] == 2 and not _files(cache_dir)


def test_a_result_that_does_not_load_back_node_for_node_is_not_cached(cache_dir):
    """SymPy rebuilds each node through its constructor: a tree built with evaluate=False that neither
    setting rebuilds as it was is computed each time, never served changed."""
    x, k, n = sp.symbols("x k n")
    unevaluated = sp.Add(sp.Sum(x * k, (k, 0, n)), sp.Mul(2, x + 1, evaluate=False), evaluate=False)
    calls = []

    @cache.cached("test faithful", key=lambda i: i)
    def build(i):
        calls.append(i)
        return [unevaluated, i]

    assert sp.srepr(build(1)) == sp.srepr(build(1)) == sp.srepr([unevaluated, 1]) and calls == [1, 1]
    assert cache.stats["unfaithful test faithful"] == 2 and not _files(cache_dir)
    calls.clear()

    @cache.cached("test plain", key=lambda i: i)
    def plain(i):
        calls.append(i)
        return [x + 1, i]

    assert plain(2) == plain(2) == [x + 1, 2] and calls == [2] and len(_files(cache_dir)) == 1
