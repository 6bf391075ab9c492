"""Reference docs: the LaTeX compiles with a real TeX engine, the Markdown renders on a code host
(math in $$ blocks, intact tables, existing figures), every catalog entry is covered, and a re-run is
byte-identical. The derived catalog comes from the session fixture; the docs are rendered three
times in all (two full renders for determinism, one Markdown-only without an accuracy table)."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from symact import cli
from symact.docs import DocsError, TEX_PACKAGES, build_pdf, read_accuracy, render_docs, tex_engine

ACCURACY = """| kernel | float32 max ULP (at x) | float64 max ULP (at x) |
|---|---|---|
| relu | 0.00 | 0.00 |
| sigmoid | 1.48 (-7.4) | 2.00 (-4.85) |
| sigmoid_grad | 2.50 (-9.2) | 2.00 (-35.66) |
"""


@pytest.fixture(scope="module")
def rendered(derived, tmp_path_factory):
    """Two full renders (both formats) with the same accuracy table, and one Markdown render without."""
    ds = list(derived.values())
    table = tmp_path_factory.mktemp("acc") / "accuracy_table.md"
    table.write_text(ACCURACY)
    a, b, c = (tmp_path_factory.mktemp(n) for n in ("docs_a", "docs_b", "docs_c"))
    files_a = render_docs(ds, "both", a, accuracy=table)
    files_b = render_docs(ds, "both", b, accuracy=table)
    render_docs(ds, "markdown", c, accuracy=None)
    return dict(a=a, b=b, c=c, files_a=files_a, files_b=files_b, names=list(derived))


def _sections(md: str) -> dict[str, str]:
    parts = re.split(r"^## (\S+)\n", md, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


# --- LaTeX -----------------------------------------------------------------------------------------

def test_latex_compiles_to_pdf(rendered, tmp_path):
    if tex_engine() is None:
        msg = f"no TeX engine (pdflatex/latexmk); install: apt-get install {' '.join(TEX_PACKAGES)}"
        if os.environ.get("CI"):
            pytest.fail("CI must compile the LaTeX reference: " + msg)
        pytest.skip(msg)
    work = tmp_path / "pdf"
    shutil.copytree(rendered["a"], work)
    pdf = build_pdf(work / "reference.tex")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    log = (work / "reference.log").read_text(errors="replace")
    assert "LaTeX Error" not in log and "Undefined control sequence" not in log
    assert "There were undefined references" not in log
    pages = int(re.search(r"Output written on reference\.pdf \((\d+) pages", log).group(1))
    assert pages >= len(rendered["names"]) + 2  # title, overview, a page or more per function


def test_latex_covers_every_entry(rendered):
    tex = (rendered["a"] / "reference.tex").read_text()
    for name in rendered["names"]:
        assert re.search(r"\\section\{.*\\kernel\{" + re.escape(name.replace("_", r"\_\allowbreak{}")), tex), name
        assert rf"\label{{fn:{name}}}" in tex
    for fig in re.findall(r"\\includegraphics(?:\[[^]]*\])?\{([^}]+)\}", tex):
        assert (rendered["a"] / fig).is_file(), fig
        assert fig.endswith(".pdf")


# --- Markdown --------------------------------------------------------------------------------------

def test_markdown_has_everything_per_entry(rendered):
    root = rendered["a"]
    md = (root / "reference.md").read_text()
    sections = _sections(md)
    for name in rendered["names"]:
        assert name in sections, f"no section for {name}"
        s = sections[name]
        assert re.search(r"^\$\$\nf\(x\) = .+\n\$\$$", s, re.M), f"{name}: no formula"
        assert re.search(r"^\$\$\nf'\(x\) = .+\n\$\$$", s, re.M), f"{name}: no derivative"
        assert "**Source:** seeds/" in s or "**Source:**" in s
        assert "| property | value | how it was obtained |" in s and "\n| range | " in s, f"{name}: no properties"
        assert "| statement | kind | how it was proven |" in s
        assert f"from symact.kernels import {name}" in s
        figs = re.findall(r"!\[[^]]*\]\(([^)]+)\)", s)
        assert f"figures/{name}.svg" in figs, f"{name}: no plot"
        for f in figs:
            assert (root / f).is_file(), f
    # the overview links every entry and its thumbnail; the comparison figure exists
    for name in rendered["names"]:
        assert f"[`{name}`](#{name})" in md and (root / f"figures/{name}_thumb.svg").is_file()
    assert (root / "figures/comparison.svg").is_file()


def test_markdown_math_and_tables_render_on_a_code_host(rendered):
    md = (rendered["a"] / "reference.md").read_text()
    lines = md.splitlines()
    # display math: $$ alone on a line, paired, one non-empty line between
    opens = [i for i, line in enumerate(lines) if line == "$$"]
    assert len(opens) % 2 == 0 and opens
    for i, j in zip(opens[::2], opens[1::2]):
        assert j == i + 2 and lines[i + 1].strip(), lines[i:j + 1]
    assert "$$" not in "\n".join(line for line in lines if line != "$$")
    # tables: consistent column counts, no pipe or \\ inside math cells
    in_code = False
    width = None
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("|"):
            width = None
            continue
        for math in re.findall(r"\$`(.*?)`\$", line):
            assert "|" not in math and "\\\\" not in math, line
        assert "\\\\" not in line, line
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        if width is None:
            width = len(cells)
        assert len(cells) == width, line


def test_accuracy_table_rendered_when_given(rendered):
    assert read_accuracy(None) is None
    md = _sections((rendered["a"] / "reference.md").read_text())
    assert "| `sigmoid_grad` | 2.50 (-9.2) | 2.00 (-35.66) |" in md["sigmoid"]
    assert "No kernel of this function appears in the accuracy table" in md["tanh"]
    plain = _sections((rendered["c"] / "reference.md").read_text())
    assert all("Not measured in this build" in plain[n] for n in rendered["names"])


# --- determinism and the CLI -----------------------------------------------------------------------

def test_docs_are_deterministic(rendered):
    a, b = rendered["a"], rendered["b"]
    rel_a = sorted(p.relative_to(a) for p in rendered["files_a"])
    rel_b = sorted(p.relative_to(b) for p in rendered["files_b"])
    assert rel_a == rel_b
    assert {p.suffix for p in rel_a} >= {".tex", ".md", ".pdf", ".svg"}
    different = [str(p) for p in rel_a if (a / p).read_bytes() != (b / p).read_bytes()]
    assert not different, f"differ between two renders: {different}"


def test_pdf_without_tex_engine_says_what_to_install(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert tex_engine() is None
    with pytest.raises(DocsError, match="apt-get install .*texlive-latex-recommended"):
        build_pdf(tmp_path / "reference.tex")
    status = cli.main(["docs", "--format", "latex", "--out", str(tmp_path / "out"), "--pdf"])
    err = capsys.readouterr().err
    assert status != 0
    assert "no TeX engine" in err and all(p in err for p in TEX_PACKAGES)
    assert not (tmp_path / "out").exists()  # refused before doing the work
    assert cli.main(["docs", "--format", "markdown", "--pdf", "--out", str(tmp_path / "o")]) != 0


def test_committed_reference_with_vectors_and_losses_compiles():
    """generated/docs (kept in sync by test_generate) has every section — activations, vector
    functions, losses, row losses — and its LaTeX compiles."""
    docs = Path(__file__).resolve().parent.parent / "generated" / "docs"
    md = (docs / "reference.md").read_text()
    from symact.catalog.losses import LOSSES
    from symact.catalog.row_losses import ROW_LOSSES
    from symact.catalog.vectors import VECTORS

    for entry in (*VECTORS, *LOSSES, *ROW_LOSSES):
        assert f"\n### {entry.name}\n" in md, entry.name
    if tex_engine() is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must compile the LaTeX reference; install: apt-get install {' '.join(TEX_PACKAGES)}")
        pytest.skip("no TeX engine")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "docs"
        shutil.copytree(docs, work)
        pdf = build_pdf(work / "reference.tex")
        assert pdf.read_bytes()[:5] == b"%PDF-"
        log = (work / "reference.log").read_text(errors="replace")
        assert "LaTeX Error" not in log and "Undefined control sequence" not in log
