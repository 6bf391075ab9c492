"""Reference docs: the LaTeX compiles with a real TeX engine (no overfull lines, no formula shrunk until
unreadable, every citation resolved), the Markdown renders on a code host (math in $$ blocks, intact
tables, existing figures, a Contents line that links every section), every catalog entry is covered and
cites its primary literature, every function the printers can produce has LaTeX, and a re-run is
byte-identical. ``docs --pdf`` builds in a temporary directory and leaves only the PDF.

The activations come from the session fixture and are rendered three times (two full renders for
determinism, one Markdown-only without an accuracy table); the vector functions and losses are checked
in the committed ``generated/docs`` (kept in sync with the catalog by tests/test_generate.py), which is
compiled once. Two TeX runs in all (~20-40 s each)."""
from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import mpmath
import pytest
import sympy as sp
from sympy.core.function import UndefinedFunction

from symact import cache, cli
from symact.catalog import X
from symact.catalog.activations import ACTIVATIONS
from symact.catalog.losses import LOSSES
from symact.catalog.row_losses import ROW_LOSSES
from symact.catalog.vectors import VECTORS
from symact.docs import (USAGE_WIDTH, DocsError, TEX_PACKAGES, build_pdf, compile_latex, comparison_figure,
                         notation, primitive_meaning, primitives, read_accuracy, render_docs,
                         simplest_derivative, tex, tex_engine)
from symact.primitives import to_textbook
from symact.verify.prove import breakpoints

ACCURACY = """| kernel | float32 max ULP (at x) | float64 max ULP (at x) |
|---|---|---|
| relu | 0.00 | 0.00 |
| sigmoid | 1.48 (-7.4) | 2.00 (-4.85) |
| sigmoid_grad | 2.50 (-9.2) | 2.00 (-35.66) |
"""
COMMITTED = Path(__file__).resolve().parent.parent / "generated" / "docs"
MIN_SCALE = 60   # percent: no formula in the PDF is scaled below this (the triplet gradients once were ~20)


def _need_tex():
    if tex_engine() is None:
        msg = f"no TeX engine (pdflatex/latexmk); install: apt-get install {' '.join(TEX_PACKAGES)}"
        if os.environ.get("CI"):
            pytest.fail("CI must compile the LaTeX reference: " + msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def rendered(derived, tmp_path_factory):
    """Two full renders (both formats) with the same accuracy table, and one Markdown render without."""
    ds = list(derived.values())
    table = tmp_path_factory.mktemp("acc") / "accuracy_table.md"
    table.write_text(ACCURACY)
    a, b, c = (tmp_path_factory.mktemp(n) for n in ("docs_a", "docs_b", "docs_c"))
    files_a = render_docs(ds, "both", a, accuracy=table)
    cache.configure(enabled=False)  # b afresh (figures drawn again), not from what a stored
    try:
        files_b = render_docs(ds, "both", b, accuracy=table)
    finally:
        cache.configure()
    render_docs(ds, "markdown", c, accuracy=None)
    return dict(a=a, b=b, c=c, files_a=files_a, files_b=files_b, names=list(derived))


@pytest.fixture(scope="module")
def committed_log():
    """TeX's log of the committed reference (all sections), compiled once."""
    _need_tex()
    pdf, log = compile_latex(COMMITTED / "reference.tex")
    assert pdf[:5] == b"%PDF-"
    return log


def _sections(md: str, level: int = 2) -> dict[str, str]:
    parts = re.split(rf"^{'#' * level} (\S+)\n", md, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _entry_sections(md: str) -> dict[str, str]:
    """Each catalog entry's section: activations are ## headings, the others ### headings."""
    return {**_sections(md, 3), **_sections(md, 2)}


def _catalog():
    return (*ACTIVATIONS, *VECTORS, *LOSSES, *ROW_LOSSES)


def _check_log(log: str):
    assert "LaTeX Error" not in log and "Undefined control sequence" not in log
    assert "There were undefined references" not in log
    assert not re.search(r"Citation `[^']*' .*undefined", log), "a \\cite without its \\bibitem"
    over = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert not [w for w in over if w > 1.0], f"lines overflow the margin by {over} pt"
    scales = [int(s) for s in re.findall(r"symact-scale: (\d+)", log)]
    assert all(s >= MIN_SCALE for s in scales), f"formulas shrunk to {sorted(scales)[:5]}% of their size"


# --- LaTeX -----------------------------------------------------------------------------------------

def test_latex_compiles_to_pdf(rendered):
    _need_tex()
    pdf, log = compile_latex(rendered["a"] / "reference.tex")
    assert pdf[:5] == b"%PDF-"
    _check_log(log)
    pages = int(re.search(r"Output written on reference\.pdf \((\d+) pages", log).group(1))
    assert pages >= len(rendered["names"]) + 2  # title, overview, a page or more per function


def test_latex_covers_every_entry(rendered):
    tex_ = (rendered["a"] / "reference.tex").read_text()
    for name in rendered["names"]:
        assert re.search(r"\\section\{.*\\kernel\{" + re.escape(name.replace("_", r"\_\allowbreak{}")), tex_), name
        assert rf"\label{{fn:{name}}}" in tex_
    for fig in re.findall(r"\\includegraphics(?:\[[^]]*\])?\{([^}]+)\}", tex_):
        assert (rendered["a"] / fig).is_file(), fig
        assert fig.endswith(".pdf")


def test_committed_reference_compiles_cleanly(committed_log):
    """All sections, vector functions and losses included: no TeX error, no line past the margin (the
    triplet-margin usage once overflowed by 114 pt), no formula shrunk below MIN_SCALE, every
    citation in the bibliography."""
    _check_log(committed_log)


def test_pdf_build_leaves_only_the_pdf(rendered, tmp_path):
    """`docs --pdf` builds in a temporary directory: next to reference.tex only reference.pdf appears."""
    _need_tex()
    work = tmp_path / "docs"
    shutil.copytree(rendered["a"], work)
    before = {p.relative_to(work) for p in work.rglob("*")}
    pdf = build_pdf(work / "reference.tex")
    assert pdf == work / "reference.pdf" and pdf.read_bytes()[:5] == b"%PDF-"
    after = {p.relative_to(work) for p in work.rglob("*")}
    assert after - before == {Path("reference.pdf")}


def test_tex_error_writes_no_pdf(tmp_path):
    _need_tex()
    bad = tmp_path / "reference.tex"
    bad.write_text("\\documentclass{article}\\begin{document}\\undefinedmacro\\end{document}\n")
    with pytest.raises(DocsError, match="failed"):
        build_pdf(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference.tex"]


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
        assert "**Reference" in s, f"{name}: no reference"
        assert "| property | value | how it was obtained |" in s and "\n| range | " in s, f"{name}: no properties"
        assert "| statement | kind | how it was proven |" in s
        assert f"from symact.kernels import {name}" in s or f"    {name}," in s
        figs = re.findall(r"!\[[^]]*\]\(([^)]+)\)", s)
        assert f"figures/{name}.svg" in figs, f"{name}: no plot"
        for f in figs:
            assert (root / f).is_file(), f
    # the overview links every entry and its thumbnail; the comparison figure exists
    for name in rendered["names"]:
        assert f"[`{name}`](#{name})" in md and (root / f"figures/{name}_thumb.svg").is_file()
    assert (root / "figures/comparison.svg").is_file()


def test_markdown_math_and_tables_render_on_a_code_host(rendered):
    for md in ((rendered["a"] / "reference.md").read_text(), (COMMITTED / "reference.md").read_text()):
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


def test_contents_links_every_section():
    """The Contents block links every top-level heading of the document (the overview, the notation,
    each part, each activation) and every catalog entry (vector functions, losses, row losses too)."""
    md = (COMMITTED / "reference.md").read_text()
    head, _, body = md.partition("\n## Overview\n")
    links = set(re.findall(r"\]\(#([^)]+)\)", head))
    for entry in _catalog():
        assert entry.name in links, f"Contents does not link {entry.name}"
    for heading in re.findall(r"^## (.+)$", "## Overview\n" + body, re.M):
        anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        assert anchor in links, f"Contents does not link the section {heading!r}"


def test_accuracy_table_rendered_when_given(rendered):
    assert read_accuracy(None) is None
    md = _sections((rendered["a"] / "reference.md").read_text())
    assert "| `sigmoid_grad` | 2.50 (-9.2) | 2.00 (-35.66) |" in md["sigmoid"]
    assert "No kernel of this function appears in the accuracy table" in md["tanh"]
    plain = _sections((rendered["c"] / "reference.md").read_text())
    assert all("Not measured in this build" in plain[n] for n in rendered["names"])


def test_usage_examples_fit_the_page():
    """Code lines in the usage examples stay short enough for the PDF's code box (the triplet import
    line was 114 pt too wide) and the Markdown (imports wrap in parentheses)."""
    for path in (COMMITTED / "reference.md", COMMITTED / "reference.tex"):
        text = path.read_text()
        blocks = re.findall(r"```python\n(.*?)```", text, re.S) + re.findall(
            r"\\begin\{lstlisting\}\n(.*?)\\end\{lstlisting\}", text, re.S)
        assert blocks
        for block in blocks:
            for line in block.splitlines():
                assert len(line) <= USAGE_WIDTH, line
            compile(block, str(path), "exec")  # valid Python


# --- formulas --------------------------------------------------------------------------------------

def test_every_primitive_has_latex_and_a_meaning():
    """Whatever primitive the stabilizer can emit prints as readable LaTeX (no class names such as
    Hypot_1) and is explained in the Notation section."""
    z = sp.Symbol("z", real=True)
    names = {n["name"] for n in notation()}
    for cls in primitives():
        out = tex(cls(z))
        assert cls.__name__ not in out and not re.search(r"[A-Z][a-z]+_\{?\d", out), (cls, out)
        assert primitive_meaning(cls) and cls.__name__ in names


def test_reference_uses_only_defined_function_names():
    """Every \\operatorname in the committed reference is a primitive the Notation section defines or
    a standard function — never an internal class name."""
    defined = {"erf", "erfc", "sign", "argmax", "hypot", "softplus", "expm1", "log1p"}
    z = sp.Symbol("z", real=True)
    defined |= {m.group(1) for cls in primitives()
                for m in [re.search(r"\\operatorname\{([^}]+)\}", tex(cls(z)))] if m}
    for path in (COMMITTED / "reference.tex", COMMITTED / "reference.md"):
        used = set(re.findall(r"\\operatorname\{([^}]+)\}", path.read_text()))
        assert used <= defined, f"{path.name}: undefined function names {used - defined}"


def test_row_max_argument_in_parentheses():
    """max_k(−x_k), not max_k −x_k (softmin): every \\max_k is followed by one symbol or a bracket."""
    for path in (COMMITTED / "reference.tex", COMMITTED / "reference.md"):
        text = path.read_text()
        assert "\\max_k" in text
        for m in re.finditer(r"\\max_k\s*(.{0,12})", text):
            assert m.group(1).startswith(("\\left(", "{x}_{k}", "x_k", "a_k")), m.group(0)
    assert "\\max_k\\left(- {x}_{k}\\right)" in (COMMITTED / "reference.tex").read_text()


def test_word_symbols_have_no_stray_space():
    """A multi-letter parameter reads "(threshold)", not "(threshold )": a thin space only between a
    word and a following factor."""
    t, w = sp.Symbol("threshold", real=True), sp.Symbol("weight", real=True)
    assert tex(t) == r"\mathrm{threshold}"
    assert tex(w * X) == r"\mathrm{weight}\, x"
    text = (COMMITTED / "reference.tex").read_text()
    assert not re.search(r"\\,\s*(\$|\\right|\)|\}|,)", text)


def test_overview_derivative_is_the_simplest_proven_form(derived):
    """The overview's f' equals the derivative (checked here independently: mpmath differentiates the
    definition at random points) and has no more operations than the emitted or the derived form."""
    rng = random.Random(5)
    for name, d in derived.items():
        expr, form, _ = simplest_derivative(d)
        grad = next(k for k in d.kernels if k.role == "df/dx")
        assert sp.count_ops(expr) <= min(sp.count_ops(grad.stable), sp.count_ops(grad.textbook)), name
        params = {p.symbol: p.value for p in d.entry.params}
        f_def = d.entry.expr().subs(params)
        # f' written through f (elu(x) + alpha): f(x) is the definition
        shown = expr.replace(lambda e: isinstance(type(e), UndefinedFunction), lambda e: d.entry.expr())
        f = sp.lambdify(X, f_def, "mpmath")
        g = sp.lambdify(X, to_textbook(shown).subs(params), "mpmath")
        kinks = breakpoints(f_def, X)
        with mpmath.workdps(40):
            for _ in range(12):
                x0 = mpmath.mpf(rng.uniform(-4, 4))
                if any(abs(x0 - b) < 1e-3 for b in kinks):
                    continue
                assert abs(mpmath.diff(f, x0) - g(x0)) < mpmath.mpf(10) ** -25, (name, form, float(x0))
    for name, shape in (("tanh", r"1 - \tanh^{2}"), ("sigmoid", r"\left(1 - \sigma\left(x\right)\right) \sigma")):
        if name in derived:  # the examples: the textbook forms, not 4e^{2x}/(e^{4x} + 2e^{2x} + 1)
            assert shape in tex(simplest_derivative(derived[name])[0]), name


# --- citations -------------------------------------------------------------------------------------

def test_every_entry_cites_its_primary_reference():
    """Activations, vector functions, losses and row losses: authors, title, a year, and an arXiv id, a
    DOI or the venue."""
    keys = {}
    for entry in _catalog():
        assert entry.reference, f"{entry.name}: no reference"
        for r in entry.reference:
            assert r.authors and r.title and 1800 <= r.year <= 2030, (entry.name, r)
            assert (re.fullmatch(r"\d{4}\.\d{4,5}", r.arxiv) or re.fullmatch(r"10\.\d{4,9}/\S+", r.doi)
                    or len(r.venue.strip()) >= 5), (entry.name, r)
            assert keys.setdefault(r.key, r) == r, f"two references share the key {r.key}"


def test_references_are_in_the_docs_and_the_course_notes_are_not():
    md = (COMMITTED / "reference.md").read_text()
    tex_ = (COMMITTED / "reference.tex").read_text()
    sections = _entry_sections(md)
    for entry in _catalog():
        for r in entry.reference:
            assert r.title in sections[entry.name], (entry.name, r.key)
            if r.link:
                assert r.link in sections[entry.name] or r.link in md
            assert f"\\cite{{{r.key}}}" in tex_ and f"]{{{r.key}}}" in tex_, r.key  # cited and in the bibliography
    assert "\\begin{thebibliography}" in tex_
    for text in (md, tex_):  # users do not have the course notes' files
        assert "seeds/" not in text


# --- figures, determinism and the CLI --------------------------------------------------------------

def test_comparison_figure_tells_every_curve_apart(derived):
    """Small multiples: one panel per plotted activation, each with f (solid) and f' (dashed) only —
    no two functions share a panel, so coinciding curves (elu/celu, silu/swish) cannot hide each other."""
    from symact.docs import _periodic

    plotted = [d.entry.name for d in derived.values() if not _periodic(d)]
    fig = comparison_figure(list(derived.values()))
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in panels) == sorted(plotted)
    for ax in panels:
        lines = [ln for ln in ax.get_lines() if ln.get_label() in ("f", "f'")]
        assert sorted(ln.get_label() for ln in lines) == ["f", "f'"], ax.get_title()
        assert len({ln.get_linestyle() for ln in lines}) == 2 and len({ln.get_color() for ln in lines}) == 2


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


def test_committed_reference_has_every_section():
    """generated/docs (kept in sync by test_generate) has every section — activations, vector
    functions, losses, row losses."""
    md = (COMMITTED / "reference.md").read_text()
    for entry in (*VECTORS, *LOSSES, *ROW_LOSSES):
        assert f"\n### {entry.name}\n" in md, entry.name
    for entry in ACTIVATIONS:
        assert f"\n## {entry.name}\n" in md, entry.name
