"""The command line as a user meets it: output directories that hold other files, exit statuses,
messages. Commands run in-process through ``symact.cli.main`` (fast); a subprocess where the exit
status or a traceback of the real program is the point."""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import symact
from symact import atomic, cli
from symact.atomic import MANIFEST, write_atomically
from symact.catalog import all_entries
from symact.catalog.losses import LOSSES
from symact.catalog.row_losses import ROW_LOSSES
from symact.catalog.vectors import VECTORS

ROOT = Path(__file__).resolve().parent.parent
FIRST = all_entries()[0].name  # any catalog entry: these tests are about files, not math
FOREIGN = "is not empty and was not written by symact (no manifest); choose an empty or new directory"


def run(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "symact", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})})


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (symlinks as their target text), relative path -> bytes."""
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_symlink():
            out[p.relative_to(path).as_posix()] = b"-> " + os.readlink(p).encode()
        elif p.is_file():
            out[p.relative_to(path).as_posix()] = p.read_bytes()
    return out


def listed(path: Path) -> list[str]:
    return json.loads((path / MANIFEST).read_text())["files"]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """One small generated package with docs (one entry), to copy and regenerate over."""
    out = tmp_path_factory.mktemp("pkg") / "kernels"
    assert cli.main(["generate", "--out", str(out), "--only", FIRST]) == 0
    return out


@pytest.fixture
def pkg(package, tmp_path):
    copy = tmp_path / "kernels"
    shutil.copytree(package, copy, symlinks=True)
    return copy


# --- 1. never lose a user's files ------------------------------------------------------------------

def test_a_foreign_directory_is_refused_and_left_alone(tmp_path, capsys):
    out = tmp_path / "p"
    out.mkdir()
    (out / "train.py").write_text("x = 1\n")
    assert cli.main(["generate", "--out", str(out), "--only", FIRST, "--no-docs"]) == 2
    assert f"symact: {out} {FOREIGN}" in capsys.readouterr().err
    assert tree(out) == {"train.py": b"x = 1\n"}


def test_out_dot_in_a_foreign_directory_is_refused(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / ".hidden").mkdir()
    monkeypatch.chdir(tmp_path)
    for command in (["generate", "--out", ".", "--only", FIRST, "--no-docs"], ["docs", "--out", "."]):
        assert cli.main(command) == 2
        assert FOREIGN in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "notes.txt"]


def test_the_output_carries_a_manifest_of_exactly_its_files(package):
    files = listed(package)
    on_disk = sorted(p for p in tree(package) if p != MANIFEST)
    assert files == on_disk == sorted(files)
    assert json.loads((package / MANIFEST).read_text())["version"] == symact.__version__
    assert "docs/reference.md" in files and f"activations/{FIRST}.py" in files


def test_regeneration_replaces_only_what_the_manifest_lists(pkg):
    before = tree(pkg)
    user = {"train.py": b"import kernels\n", "data/x.csv": b"1,2\n", "activations/my_notes.txt": b"mine\n",
            "docs/reference.pdf": b"%PDF-1.5 built earlier by symact docs --pdf\n"}
    for rel, data in user.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_bytes(data)
    (pkg / "empty_dir").mkdir()
    (pkg / "link").symlink_to("train.py")
    cache = pkg / "activations" / "__pycache__"
    cache.mkdir()
    (cache / f"{FIRST}.nbi").write_bytes(b"numba cache")
    (pkg / "activations" / "stale.py").write_text("# listed, so symact's: removed\n")
    manifest = json.loads((pkg / MANIFEST).read_text())
    manifest["files"] = sorted(manifest["files"] + ["activations/stale.py"])
    (pkg / MANIFEST).write_text(json.dumps(manifest))

    second = next(e.name for e in all_entries() if e.name != FIRST)
    assert cli.main(["generate", "--out", str(pkg), "--only", FIRST, second, "--no-docs"]) == 0
    after = tree(pkg)
    assert all(after[rel] == data for rel, data in user.items())  # the user's files, unchanged
    assert after["link"] == b"-> train.py" and (pkg / "empty_dir").is_dir()
    assert not cache.exists()  # a derived cache: dropped
    assert not (pkg / "activations" / "stale.py").exists()  # symact's (listed), not rewritten: removed
    assert not (pkg / "docs" / "reference.md").exists()  # --no-docs: the old docs were symact's
    assert f"activations/{second}.py" in listed(pkg) and "train.py" not in listed(pkg)
    assert after[f"activations/{FIRST}.py"] == before[f"activations/{FIRST}.py"]


def test_a_user_file_where_symact_writes_is_refused(pkg, capsys):
    second = next(e.name for e in all_entries() if e.name != FIRST)
    mine = pkg / "activations" / f"{second}.py"
    mine.write_text("# my own module, not symact's\n")
    before = tree(pkg)
    assert cli.main(["generate", "--out", str(pkg), "--only", FIRST, second, "--no-docs"]) == 2
    err = capsys.readouterr().err
    assert f"{mine} was not written by symact" in err and "move it away" in err
    assert tree(pkg) == before


def test_an_unreadable_manifest_is_refused(pkg, capsys):
    (pkg / MANIFEST).write_text("{not json")
    before = tree(pkg)
    assert cli.main(["generate", "--out", str(pkg), "--only", FIRST, "--no-docs"]) == 2
    assert "is not a valid symact manifest" in capsys.readouterr().err
    assert tree(pkg) == before


def test_an_output_from_before_manifests_is_adopted_keeping_the_users_files(pkg):
    """A directory an older symact wrote (stamped __init__.py, no manifest) is regenerated; only
    stamped files and files symact writes are replaced."""
    (pkg / MANIFEST).unlink()
    (pkg / "train.py").write_text("mine\n")
    (pkg / "activations" / "old_kernel.py").write_text("# @generated by symact 0.0.9 ...\n")
    assert cli.main(["generate", "--out", str(pkg), "--only", FIRST]) == 0
    assert (pkg / "train.py").read_text() == "mine\n"
    assert not (pkg / "activations" / "old_kernel.py").exists()
    assert "train.py" not in listed(pkg) and "__init__.py" in listed(pkg)


def test_docs_out_refuses_a_foreign_directory_before_any_work(tmp_path, capsys):
    out = tmp_path / "d"
    out.mkdir()
    (out / "thesis.tex").write_text("mine\n")
    assert cli.main(["docs", "--format", "markdown", "--out", str(out)]) == 2
    assert FOREIGN in capsys.readouterr().err
    assert tree(out) == {"thesis.tex": b"mine\n"}


def test_docs_into_the_docs_of_a_package_update_its_manifest_and_keep_the_rest(pkg):
    """`symact docs --out PKG/docs` (the default is generated/docs): that directory has no manifest of
    its own, its parent's lists it. Written with merge=True as `symact docs` does: a Markdown-only
    run keeps the LaTeX files; a reference.pdf left there survives."""
    docs = pkg / "docs"
    (docs / "reference.pdf").write_bytes(b"%PDF")
    md = (docs / "reference.md").read_bytes()
    tex = (docs / "reference.tex").read_bytes()
    write_atomically({"reference.md": md + b"\nnew\n", "figures/new.svg": b"<svg/>"}, docs, merge=True)
    assert (docs / "reference.md").read_bytes() == md + b"\nnew\n"
    assert (docs / "reference.tex").read_bytes() == tex and (docs / "reference.pdf").read_bytes() == b"%PDF"
    assert not (docs / MANIFEST).exists()
    files = listed(pkg)
    assert {"docs/reference.md", "docs/reference.tex", "docs/figures/new.svg"} <= set(files)
    assert "docs/reference.pdf" not in files and f"activations/{FIRST}.py" in files
    # and generate, later, replaces what that manifest lists and keeps the PDF
    assert cli.main(["generate", "--out", str(pkg), "--only", FIRST]) == 0
    assert (docs / "reference.pdf").read_bytes() == b"%PDF" and not (docs / "figures" / "new.svg").exists()
    assert (docs / "reference.md").read_bytes() == md


def test_a_failed_build_writes_nothing_into_a_populated_package(pkg, monkeypatch):
    (pkg / "train.py").write_text("mine\n")
    before = tree(pkg)
    real = Path.write_text

    def full_disk(self, *a, **k):
        if ".tmp-" in str(self):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full_disk)
    assert cli.main(["generate", "--out", str(pkg), "--only", FIRST, "--no-docs"]) == 2
    monkeypatch.undo()
    assert tree(pkg) == before
    assert sorted(p.name for p in pkg.parent.iterdir()) == ["kernels"]


# --- 3. exit statuses ------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["show", "softplu"], ["check", "softplu"],
                                     ["generate", "--out", "{tmp}/k", "--only", "softplu"]])
def test_unknown_names_are_usage_errors_with_a_suggestion(command, tmp_path, capsys):
    name = "softplus"
    assert name in {e.name for e in all_entries()}
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("symact: unknown function 'softplu'") and f"did you mean {name}" in err
    assert not (tmp_path / "k").exists()


def test_every_kind_of_entry_is_suggested(capsys):
    for entry in (VECTORS[0], LOSSES[0], ROW_LOSSES[0]):
        assert cli.main(["show", entry.name[:-1]]) == 2
        assert entry.name in capsys.readouterr().err.split("did you mean ")[1]


def test_debug_shows_the_traceback_and_keeps_the_status(tmp_path):
    for args in (["show", "softplu", "--debug"], ["--debug", "show", "softplu"]):
        r = run(*args)
        assert r.returncode == 2 and "Traceback" in r.stderr and "symact: unknown function" in r.stderr
    r = run("show", "softplu")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run("generate", "--define", "f = x*", "--out", "k", "--debug", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"symact {symact.__version__}"


def test_argparse_usage_errors_are_2(capsys):
    for args in (["generate", "--bogus"], ["nonesuch"], []):
        with pytest.raises(SystemExit) as exc:
            cli.main(args)
        assert exc.value.code == 2


def test_pdf_without_a_tex_engine_is_a_usage_error(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert cli.main(["docs", "--format", "latex", "--pdf", "--out", str(tmp_path / "d")]) == 2
    assert "no TeX engine" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("where", ["file", "proc", "denied", "readonly"])
def test_filesystem_errors_are_one_line_and_status_2(where, tmp_path, monkeypatch, capsys):
    (tmp_path / "README.md").write_text("a file\n")
    out = {"file": tmp_path / "README.md" / "x", "proc": Path("/proc/x/y")}.get(where, tmp_path / "k")
    if where == "denied":  # as root, chmod does not deny: the error the file system gives a user
        def denied(*a, **k):
            raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))
        monkeypatch.setattr(atomic.tempfile, "mkdtemp", denied)
    if where == "readonly":  # the write itself fails (a read-only file system under the output)
        real = Path.write_text

        def read_only(self, *a, **k):
            if ".tmp-" in str(self):
                raise OSError(errno.EROFS, "Read-only file system", str(self))
            return real(self, *a, **k)
        monkeypatch.setattr(Path, "write_text", read_only)
    assert cli.main(["generate", "--out", str(out), "--only", FIRST, "--no-docs"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]  # after the progress lines, one
    assert err.startswith("symact: ") and "Traceback" not in err
    expect = {"file": "README.md is a file, not a directory", "proc": "cannot create /proc/x/y",
              "denied": "Permission denied", "readonly": "Read-only file system"}[where]
    assert expect in err
    assert (tmp_path / "README.md").read_text() == "a file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_filesystem_errors_from_the_real_program(tmp_path):
    (tmp_path / "README.md").write_text("a file\n")
    for out in ("README.md/x", "/proc/x/y"):
        r = run("generate", "--out", out, "--only", FIRST, "--no-docs", cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.startswith("symact: ") and "Traceback" not in r.stderr, r.stderr


def test_a_vanished_working_directory_is_a_usage_error(monkeypatch, capsys):
    """After `symact generate --out .` a shell still sits in the replaced directory."""
    def gone():
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")
    monkeypatch.setattr(os, "getcwd", gone)
    assert cli.main(["generate", "--out", "k", "--only", FIRST]) == 2
    assert "the current directory no longer exists" in capsys.readouterr().err


def test_interrupt_is_130_and_writes_nothing(pkg, monkeypatch, capsys):
    from symact import build

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(build, "build", interrupted)
    before = tree(pkg)
    assert cli.main(["generate", "--out", str(pkg), "--only", FIRST]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert tree(pkg) == before


# --- 4. messages -----------------------------------------------------------------------------------

def test_help_lists_every_command_with_its_exit_statuses():
    r = run("--help", env={"COLUMNS": "80"})
    assert r.returncode == 0
    assert "``" not in r.stdout
    for command in ("generate", "list", "show", "check", "docs"):
        assert re.search(rf"^    {command} +\w.+$", r.stdout, re.M), command
    for status in ("0", "1", "2", "130"):
        assert re.search(rf"^  {status} +\w", r.stdout, re.M), status


def test_check_json_is_the_array_its_help_promises(capsys):
    with pytest.raises(SystemExit):
        cli.main(["check", "--help"])
    assert "one JSON array" in capsys.readouterr().out.replace("\n", " ").replace("  ", " ")
    assert cli.main(["check", FIRST, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and rows and all(r["status"] == "proved" for r in rows)


def test_counts_are_pluralized(tmp_path, capsys):
    from symact.build import plural

    assert [plural(1, "proof"), plural(2, "proof"), plural(3, "identity"), plural(1, "identity")] == \
        ["1 proof", "2 proofs", "3 identities", "1 identity"]
    assert cli.main(["generate", "--out", str(tmp_path / "k"), "--only", FIRST, "--no-docs"]) == 0
    err = capsys.readouterr().err
    assert "for 1 function " in err
    assert not re.search(r"\b1 (kernels|proofs|functions|files|figures)\b", err), err


def test_progress_is_in_order_on_stderr(tmp_path, capsys):
    """One entry of each kind; [n/total] counts up (vector functions and row losses printed after the
    losses once came out of order)."""
    names = [all_entries()[0].name, LOSSES[0].name,
             next(v.name for v in VECTORS if v.name == "maxout"),  # the cheapest of each kind to prove
             next(r.name for r in ROW_LOSSES if r.name == "nll_loss")]
    assert cli.main(["generate", "--out", str(tmp_path / "k"), "--only", *names, "--no-docs"]) == 0
    captured = capsys.readouterr()
    assert not re.search(r"\[\s*\d+/", captured.out)
    counts = [(int(n), int(t)) for n, t in re.findall(r"^\[\s*(\d+)/(\d+)\]", captured.err, re.M)]
    assert counts == [(i, 4) for i in range(1, 5)], captured.err
