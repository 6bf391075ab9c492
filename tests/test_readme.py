"""The README works as written: every ```python snippet runs as pasted, in order, from the repository
root after the Quickstart; every `symact` command in a ```bash snippet parses with the real command line
(the cheap ones run); the catalog section names real entries of every kind; the Quickstart says what the
suite skips without PyTorch or TeX and how to get them (the same versions and packages CI installs);
every local link resolves. (~15 s: the snippets call compiled kernels, `symact check` proves one spec.)"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from symact.catalog.activations import ACTIVATIONS
from symact.catalog.losses import LOSSES
from symact.catalog.row_losses import ROW_LOSSES
from symact.catalog.vectors import VECTORS
from symact.cli import build_parser
from symact.docs import TEX_PACKAGES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, re.S | re.M)


def _section(title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert m, f"README has no section {title!r}"
    return m.group(1)


def _commands() -> list[list[str]]:
    """Every `symact …` invocation in the bash snippets, as argv after the program name."""
    out = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            for part in line.split("&&"):
                words = shlex.split(part)
                if words and Path(words[0]).name == "symact":
                    out.append(words[1:])
    return out


def test_python_snippets_run_in_order(monkeypatch):
    blocks = _blocks("python")
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(ROOT)
    namespace: dict = {"__name__": "__readme__"}
    for i, code in enumerate(blocks, 1):
        try:
            exec(compile(code, f"README.md python snippet {i}", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - say which snippet failed
            pytest.fail(f"README python snippet {i} fails as pasted: {type(exc).__name__}: {exc}\n{code}")


def test_bash_commands_name_real_subcommands_and_options():
    commands = _commands()
    subcommands = {argv[0] for argv in commands if argv}
    assert {"generate", "check"} <= subcommands
    parser = build_parser()
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"`symact {' '.join(argv)}` in the README does not parse (exit {exc.code})")


def test_cheap_bash_commands_run():
    """`symact check` and `symact list` as the README writes them (generate is covered by test_generate)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for argv in [a for a in _commands() if a and a[0] in ("check", "list")] + [["list"]]:
        proc = subprocess.run([sys.executable, "-m", "symact", *argv], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"symact {' '.join(argv)}: exit {proc.returncode}\n{proc.stderr[-2000:]}"


def test_cli_table_lists_every_subcommand():
    table = _section("Command line")
    parser = build_parser()
    subs = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in subs.choices:
        assert f"`symact {name}" in table, f"the CLI table does not list `symact {name}`"
    for code in ("0", "1", "2", "130"):
        assert f"**{code}**" in table


def test_catalog_section_names_real_entries_of_every_kind():
    """The catalog at a glance names families with examples, not every entry (`symact list` does): each
    name it gives is a catalog entry, and every kind has at least one; a new entry needs no README edit."""
    section = _section("The catalog at a glance")
    kinds = {"activation": ACTIVATIONS, "vector": VECTORS, "loss": LOSSES, "row loss": ROW_LOSSES}
    names = {e.name for entries in kinds.values() for e in entries}
    listed = set(re.findall(r"`([a-z0-9_]+)`", section))
    unknown = {n for n in listed if "name" not in n} - names
    assert not unknown, f"the README's catalog section lists entries the catalog lacks: {sorted(unknown)}"
    for kind, entries in kinds.items():
        assert listed & {e.name for e in entries}, f"the README's catalog section names no {kind}"
    assert "`symact list`" in section


def test_quickstart_says_what_is_skipped_and_how_to_get_it():
    quick = _section("Quickstart")
    assert "python3.11 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/symact generate" in quick
    assert ".venv/bin/python -m pytest -q" in quick
    ci = (ROOT / ".ci" / "run").read_text()
    torch_pin = re.search(r"torch==[\d.]+", ci).group(0)
    assert torch_pin in quick, f"the Quickstart should name CI's {torch_pin}"
    assert all(p in quick for p in TEX_PACKAGES), "the Quickstart should name the TeX packages"
    assert "bash .ci/run" in quick and "PyTorch" in quick and "skipped" in quick


def test_local_links_resolve_and_readme_is_short():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not re.match(r"[a-z]+://", target):
            assert (ROOT / target).exists(), f"README links to a missing {target}"
    assert len(README.splitlines()) <= 200
    assert "seeds/" not in README
