"""Reference docs: the derived catalog rendered through Jinja2 templates into LaTeX and Markdown.

Nothing here is typed by hand: every formula comes from the catalog and :mod:`symact.derive.scalar`, every
property from :mod:`symact.derive.properties`, every proof method from :mod:`symact.verify.check`'s checks, and
every plot is evaluated from the emitted (stable) expression at the default parameters.

* :func:`build_context` collects, per catalog entry, the definition (as the course notes write it and
  as the catalog does), its primary references, the stable form emitted and the rewrite rules behind
  it, the derivatives (simplified for reading under a time budget), the simplest proven form of f' for
  the overview (:func:`simplest_derivative`), the from-output form and its accuracy caveat,
  parameters, conventions at kinks, properties, identities with how each was proven, measured
  accuracy (from the table ``tests/test_accuracy.py`` writes, when given) and figures.
* Formulas print through :class:`DocsLatexPrinter`: every stable primitive and every function the
  pipeline invents (row max, max shift, hypot) has LaTeX from one table; long formulas get their
  repeated parts named (:func:`abbreviate`) instead of shrinking.
* :func:`render_docs` writes ``reference.tex`` (vector PDF figures, a bibliography) and/or
  ``reference.md`` (SVG figures) with a ``figures/`` directory next to them. Output is byte-identical
  on re-run: matplotlib runs on fixed rcParams with creation dates and software stamps removed.
* :func:`build_pdf` runs a real TeX engine (``latexmk -pdf``, else ``pdflatex``) in a temporary
  directory and copies only the PDF out; it says which Debian packages to install when there is none.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlparse

import numpy as np
import sympy as sp
from sympy.core.function import UndefinedFunction
from sympy.printing.latex import LatexPrinter

from .cache import cached
from .catalog import X
from .codegen.params import param_contexts
from .runtime._checks import VALUES
from .derive.kernel import Kernel
from .derive.kernel import Derivation
from .catalog.primitives import BY_CLASS, PRIMITIVES
from .primitives import StablePrimitive
from .verify.prove import _Timeout, time_budget

FORMATS = ("latex", "markdown")
# What `apt-get install` needs for build_pdf (pdflatex from texlive-latex-base, a dependency of
# texlive-latex-recommended, which brings booktabs and listings; lmodern for the fonts).
TEX_PACKAGES = ("texlive-latex-recommended", "latexmk", "lmodern")
SIMPLIFY_BUDGET = 120.0    # seconds per derivative "simplified for reading" (slowest: selu', 13.5 s at load 8)
PLOT_POINTS = 601          # per plot segment between breakpoints
FIG_EXT = {"latex": "pdf", "markdown": "svg"}
OVERVIEW_MAX_CHARS = 200
USAGE_WIDTH = 88           # characters per line of a usage example (fits the PDF's code box)   # longer formulas are unreadable in an overview cell: the cell links the section

# How the opaque stable primitives read in formulas, what each means and how the kernels evaluate it (the
# docs' Notation section): the registry's `latex`, `meaning` and `how` fields (catalog/primitives.py).


def primitives() -> list[type]:
    """Every stable primitive class of the registry (symact's own, opaque to SymPy), in registry order."""
    return [p.sympy for p in PRIMITIVES if isinstance(p.sympy, type) and issubclass(p.sympy, StablePrimitive)]


def primitive_latex(cls: type) -> Optional[str]:
    """The function name a primitive prints as, or None for one printed as its textbook formula (hypot1)."""
    return BY_CLASS[cls].latex


def primitive_meaning(cls: type) -> str:
    """``name(z) = textbook formula`` in LaTeX, for the Notation section and each function's "where"."""
    if BY_CLASS[cls].meaning is not None:
        return BY_CLASS[cls].meaning
    z = sp.Symbol("z", real=True)
    return rf"{tex(cls(z))} = {tex(cls.textbook(z))}"


class DocsError(RuntimeError):
    """The docs could not be built (no TeX engine, a TeX error, a bad argument)."""


# ------------------------------------------------------------------------------------------------
# formulas

def _symbol_names(exprs) -> dict[sp.Symbol, str]:
    """Multi-letter symbols read as words (\\mathrm{negative\\_slope}); Greek names stay Greek. A thin
    space between such a word and a following factor is added by :func:`tex` ("weight x", not
    "weightx"), never before a closing bracket or an operator."""
    from sympy.printing.latex import greek_letters_set

    names = {}
    for e in exprs:
        for s in getattr(e, "free_symbols", ()):
            base = s.name.rstrip("0123456789")
            if len(s.name) > 1 and base not in greek_letters_set and not re.fullmatch(r"[A-Za-z]\d+", s.name):
                names[s] = r"\mathrm{" + s.name.replace("_", r"\_") + "}"
    return names


def _is_atom(e) -> bool:
    """Printed without brackets after an operator name: a symbol, a number or x_k."""
    return e.is_Atom or isinstance(e, sp.Indexed)


def _row_max(p, a) -> str:
    """max_k a(x_k), the argument in parentheses unless it is one symbol: max_k(−x_k), not max_k −x_k."""
    arg = p._print(a)
    return rf"\max_k {arg}" if _is_atom(a) else rf"\max_k\left({arg}\right)"


def _print_row_max(p, e, exp=None):
    tex_ = _row_max(p, e.args[0])
    return rf"\left({tex_}\right)^{{{exp}}}" if exp is not None else tex_


def _print_row_argmax(p, e, exp=None):
    a = e.args[0]
    arg = p._print(a) if _is_atom(a) else rf"\left({p._print(a)}\right)"
    return rf"\operatorname{{argmax}}_k {arg}"


def _print_centered(p, e, exp=None):
    tex_ = rf"\left({p._print(e.args[0])} - {_row_max(p, e.args[1])}\right)"
    return f"{tex_}^{{{exp}}}" if exp is not None else tex_


def _print_log1p_rest(p, e, exp=None):
    a = e.args[0]
    tex_ = (rf"\operatorname{{log1p}}\Big(\sum_{{k \neq \operatorname{{argmax}}}} "
            rf"e^{{{p._print(a)} - {_row_max(p, a)}}}\Big)")
    return rf"\left({tex_}\right)^{{{exp}}}" if exp is not None else tex_


def _print_textbook(p, e, exp=None):
    """A stable primitive without a LaTeX name of its own, as its textbook formula (hypot(1, z) as √(1 + z²))."""
    tex_ = p._print(type(e).textbook(*e.args))
    return rf"\left({tex_}\right)^{{{exp}}}" if exp is not None else tex_


def _print_step(p, e, exp=None):
    tex_ = rf"\mathbf{{1}}\left[{p._print(e.args[0])} > 0\right]"  # \mathbb has no digits in amssymb
    return rf"\left({tex_}\right)^{{{exp}}}" if exp is not None else tex_


def _docs_printers() -> dict[type, Callable]:
    """LaTeX for the functions the pipeline invents (row max, the max shift, hypot), one table; these
    take precedence over the classes' own ``_latex`` (which prints max_k −x_k without brackets)."""
    from .catalog.row_losses import Step
    from .catalog.vectors import RowArgMax, RowMax
    from .stabilize.rowwise import Centered, RowLog1pRest

    table = {RowMax: _print_row_max, RowArgMax: _print_row_argmax, Centered: _print_centered,
             RowLog1pRest: _print_log1p_rest, Step: _print_step}
    table.update({cls: _print_textbook for cls in primitives() if primitive_latex(cls) is None})
    return table


class DocsLatexPrinter(LatexPrinter):
    """SymPy's LaTeX with the stable primitives readable, |x| without a pipe (tables), and an
    optional one-line Piecewise (Markdown table cells cannot hold ``\\\\``)."""

    def __init__(self, symbol_names=None, inline: bool = False):
        super().__init__({"symbol_names": symbol_names or {}})
        self.inline = inline
        self.table = _docs_printers()

    def _print(self, expr, **kwargs):
        fn = self.table.get(type(expr))
        if fn is not None:
            return fn(self, expr, **kwargs)
        if isinstance(expr, StablePrimitive):
            return self._print_primitive(expr, **kwargs)
        return super()._print(expr, **kwargs)

    def _print_primitive(self, expr, exp=None):
        name = primitive_latex(type(expr))
        args = ", ".join(self._print(a) for a in expr.args)
        head = f"{name}^{{{exp}}}" if exp is not None else name
        return rf"{head}\left({args}\right)"

    def _print_Function(self, expr, exp=None):
        if isinstance(type(expr), UndefinedFunction):  # f(x) by its catalog name: elu(x), log_sigmoid(x)
            head = r"\operatorname{" + type(expr).__name__.replace("_", r"\_") + "}"
            head = f"{head}^{{{exp}}}" if exp is not None else head
            return head + r"\left(" + ", ".join(self._print(a) for a in expr.args) + r"\right)"
        return super()._print_Function(expr, exp)

    def _print_Abs(self, expr, exp=None):
        tex = rf"\left\lvert {self._print(expr.args[0])} \right\rvert"
        return f"{tex}^{{{exp}}}" if exp is not None else tex

    def _print_Piecewise(self, expr):
        if not self.inline:
            return super()._print_Piecewise(expr)
        parts = []
        for e, c in expr.args:
            cond = r"\text{otherwise}" if c is sp.true else rf"\text{{if }} {self._print(c)}"
            parts.append(rf"{self._print(e)} \ {cond}")
        return r"\left\{ " + r";\ ".join(parts) + r" \right."


def _decimal(r: sp.Rational) -> Optional[str]:
    """'0.044715' for 8943/200000 (the catalog's Rational(44715, 10**6)); None unless an exact
    decimal with a denominator above 100 (1/2 stays a fraction)."""
    q = int(r.q)
    if q <= 100:
        return None
    for f in (2, 5):
        while q % f == 0:
            q //= f
    if q != 1:
        return None
    text = f"{float(abs(r)):.{len(str(r.q)) + 1}f}".rstrip("0")
    return text if sp.Rational(text) == abs(r) else None


def tex(expr, inline: bool = False, names: Optional[dict] = None) -> str:
    expr = sp.sympify(expr)
    decimals = {r: sp.Float(d, len(d)) * sp.sign(r) for r in expr.atoms(sp.Rational) if (d := _decimal(r))}
    if decimals:
        expr = expr.xreplace(decimals)
    out = DocsLatexPrinter(names if names is not None else _symbol_names([expr]), inline).doprint(expr)
    return _WORD_FACTOR.sub(r"\1\\, ", out)


# a word symbol followed by a factor (a letter, a number, a bracket, a function): "weight\, x"
_WORD_FACTOR = re.compile(r"(\\mathrm\{[^{}]*\}\}?) (?=[A-Za-z0-9({]|\\(?:left|frac|mathrm|operatorname|sqrt|"
                          r"sigma|Phi|alpha|beta|gamma|delta|epsilon|varepsilon|omega|lambda|mu|max|min|log|exp|"
                          r"tanh|sin|cos|lvert|mathbb|sum)(?![A-Za-z]))")


def notation() -> list[dict]:
    """Every stable primitive: how it reads, what it means, how the kernels evaluate it."""
    rows = []
    for cls in primitives():
        how, words = BY_CLASS[cls].how
        rows.append(dict(name=cls.__name__, meaning=primitive_meaning(cls), how=how, words=words))
    return rows


# Display formulas longer than this (characters of LaTeX) get their repeated parts named (abbreviate).
ABBREVIATE_CHARS = 300


def abbreviate(expr: sp.Expr, names: dict, limit: int = ABBREVIATE_CHARS) -> tuple[str, list[tuple[str, str]]]:
    """A long formula as ``main`` plus definitions ``[(u_1, ...), ...]``: the repeated subexpression
    that saves the most is named first, until the formula is short enough. Only subexpressions free of
    summation indices are named (Σ_k |a_k − n_k|^p, not a_k − n_k alone), so every definition reads on
    its own; the triplet-margin gradient becomes a line instead of a page-wide fraction."""
    expr = sp.sympify(expr)
    full = tex(expr, names=names)
    defs: list[tuple[sp.Symbol, sp.Expr]] = []
    bound = {v for s in expr.atoms(sp.Sum) for v, *_ in s.limits}
    free = expr.free_symbols - bound
    while len(tex(expr, names=names)) > limit and len(defs) < 6:
        counts: dict = {}
        for sub in sp.preorder_traversal(expr):
            if sub.is_Atom or isinstance(sub, (sp.Indexed, sp.Tuple)) or not isinstance(sub, sp.Expr):
                continue
            if not sub.free_symbols <= free or not sub.free_symbols:
                continue
            counts[sub] = counts.get(sub, 0) + 1
        best = None
        for sub, n in counts.items():
            if n < 2:
                continue
            size = len(tex(sub, names=names))
            if size < 30:
                continue
            gain = (n - 1) * size
            if best is None or gain > best[0] or gain == best[0] and str(sub) < str(best[1]):
                best = (gain, sub)
        if best is None:
            break
        u = sp.Symbol(f"u_{len(defs) + 1}", real=True)
        defs.append((u, best[1]))
        expr = expr.xreplace({best[1]: u})
    if not defs:
        return full, []
    return tex(expr, names=names), [(tex(u, names={}), tex(v, names=names)) for u, v in defs]


def _where(expr) -> list[str]:
    """The meanings of the named primitives in ``expr`` (hypot(1, z) prints as its root: no entry)."""
    return [primitive_meaning(t) for t in primitives() if primitive_latex(t) is not None and expr.has(t)]


def _cost(e: sp.Expr) -> tuple[int, int]:
    return (int(sp.count_ops(e)), len(sp.latex(e)))


@functools.lru_cache(maxsize=None)
@cached("readable", key=lambda expr: expr)
def readable(expr: sp.Expr) -> sp.Expr:
    """``expr`` simplified for reading, when that is shorter; the budget is generous so the result
    does not depend on machine load (deterministic docs)."""
    try:
        with time_budget(SIMPLIFY_BUDGET):
            simple = sp.simplify(expr)
    except _Timeout:
        return expr
    except Exception:  # noqa: BLE001 - SymPy cannot simplify it: show it as derived
        return expr
    def kinds(e):
        return {type(f) for f in e.atoms(sp.Function)}

    # simplify likes cosh²(x/2) for sigmoid': shorter, but not how anyone writes it
    if kinds(simple) - kinds(expr):
        return expr
    return simple if _cost(simple) < _cost(expr) else expr


def _output_of(d: Derivation) -> sp.Expr:
    """f(x) as a formula refers to it: the emitted form when that is one function of x (σ(x),
    tanh(x)), else the entry's name applied to x (elu(x))."""
    f = d.kernels[0].stable
    if isinstance(f, sp.Function) and f.args == (X,):
        return f
    return sp.Function(d.entry.name)(X)


# which form the overview prefers when two are equally simple: the one a reader knows from the textbooks
DERIVATIVE_FORMS = ("in terms of f", "emitted", "simplified", "as derived")


def _derived_key(d: Derivation, *args) -> tuple:
    """What a derived entry's docs depend on, for the cache: its definition and its kernels' forms
    (the proofs follow from them; their timings are no part of the docs)."""
    return (d.entry, d.entry.expr(), d.entry.written_expr(),
            [(k.name, k.role, k.textbook, k.stable, k.arg) for k in d.kernels], *args)


@cached("simplest_derivative", key=_derived_key)
def simplest_derivative(d: Derivation) -> tuple[sp.Expr, str, str]:
    """The simplest form of f'(x) that is proven equal to the derivative of the definition:
    (expression, which form, how it was proven).

    Candidates: f' written through f's own output (from the from-output kernel g: f'(x) = g(f(x)),
    e.g. 1 - tanh²(x), σ(x)(1 - σ(x))), the emitted stable form, the derivative simplified for reading,
    and the derivative as derived. Each is proven equal to the derivative of the definition with
    :func:`symact.verify.prove.prove` (a form that fails is not shown); the fewest operations wins
    (``sympy.count_ops``), then the order of :data:`DERIVATIVE_FORMS`."""
    from .verify.prove import prove

    grad = next(k for k in d.kernels if k.role == "df/dx")
    truth = grad.textbook
    domains = d.entry.domains()
    cands = []
    fo = next((k for k in d.kernels if k.arg != X), None)
    if fo is not None:
        shown = fo.textbook.subs(fo.arg, _output_of(d))
        p = prove(fo.textbook.subs(fo.arg, d.entry.expr()), truth, f"{grad.name}: f' in terms of f", X, domains)
        if p.ok:
            cands.append((shown, DERIVATIVE_FORMS[0], p.method))
    if grad.proof.ok:
        cands.append((grad.stable, DERIVATIVE_FORMS[1], grad.proof.method))
    simple = readable(truth)
    if simple != truth:
        p = prove(simple, truth, f"{grad.name}: simplified", X, domains)
        if p.ok:
            cands.append((simple, DERIVATIVE_FORMS[2], p.method))
    cands.append((truth, DERIVATIVE_FORMS[3], "the derivative of the definition"))
    return min(cands, key=lambda c: (int(sp.count_ops(c[0])), DERIVATIVE_FORMS.index(c[1])))


def _short_number(v) -> sp.Expr:
    """Floats to 6 significant digits, for tables (the methods keep the full digits)."""
    v = sp.sympify(v)
    return v.xreplace({f: sp.Float(f, 6) for f in v.atoms(sp.Float)})


def num_tex(v) -> str:
    if isinstance(v, sp.AccumBounds):
        return rf"\text{{no limit (oscillates in }}[{num_tex(v.min)}, {num_tex(v.max)}]\text{{)}}"
    v = sp.sympify(v)
    if v.is_number and not v.is_Rational and not v.has(sp.Float) and v not in (sp.oo, -sp.oo):
        return rf"{tex(v)} \approx {tex(sp.Float(sp.N(v, 6), 6))}"
    return tex(_short_number(v))


def set_tex(s) -> str:
    if s == sp.S.Reals:
        return r"\mathbb{R}"
    if isinstance(s, sp.Interval):
        left = "(" if s.left_open else "["
        right = ")" if s.right_open else "]"
        return rf"\left{left}{num_tex(s.inf)}, {num_tex(s.sup)}\right{right}"
    if isinstance(s, sp.FiniteSet):
        return r"\{" + ", ".join(num_tex(v) for v in s) + r"\}"
    if isinstance(s, sp.Union):
        return r" \cup ".join(set_tex(a) for a in s.args)
    return num_tex(s)


# ------------------------------------------------------------------------------------------------
# text escaping (template filters)

_TEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
_TEX_UNICODE = {
    "·": r"$\cdot$", "±": r"$\pm$", "∓": r"$\mp$", "≈": r"$\approx$", "∪": r"$\cup$", "→": r"$\to$",
    "←": r"$\leftarrow$", "≤": r"$\le$", "≥": r"$\ge$", "≠": r"$\ne$", "−": "-", "×": r"$\times$",
    "∞": r"$\infty$", "σ": r"$\sigma$", "Φ": r"$\Phi$", "φ": r"$\varphi$", "α": r"$\alpha$",
    "β": r"$\beta$", "ω": r"$\omega$", "ε": r"$\varepsilon$", "∂": r"$\partial$", "√": r"$\surd$",
    "²": r"\textsuperscript{2}", "³": r"\textsuperscript{3}", "′": "'", "‖": r"$\|$", "…": r"\ldots{}",
    "—": "---", "–": "--", "“": "``", "”": "''", "’": "'", "‘": "`", "∈": r"$\in$", "ℝ": r"$\mathbb{R}$",
}


_LONG_NUMBER = re.compile(r"\d+\.\d{7,}")


def tidy_numbers(text) -> str:
    """Long decimals in messages (60-digit mpmath values) to 6 significant digits."""
    return _LONG_NUMBER.sub(lambda m: f"{float(m.group()):.6g}", str(text))


def tex_escape(text) -> str:
    out = []
    for ch in tidy_numbers(text):
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ch in _TEX_UNICODE:
            out.append(_TEX_UNICODE[ch])
        elif ord(ch) < 0x250 and unicodedata.category(ch).startswith("L"):
            out.append(ch)  # ü, é, ç: inputenc (utf8) and T1 fonts typeset them
        elif ord(ch) > 127:
            out.append(r"\texttt{[" + unicodedata.name(ch, f"U+{ord(ch):04X}").lower() + "]}")
        else:
            out.append(ch)
    # let long identifiers and methods break after punctuation in narrow table columns
    return "".join(out).replace(r"\_", r"\_\allowbreak{}").replace("/", r"/\allowbreak{}")


def md_escape(text) -> str:
    """Text for a Markdown table cell or paragraph: pipes escaped, no stray emphasis."""
    return tidy_numbers(text).replace("|", r"\|").replace("*", r"\*")


# ------------------------------------------------------------------------------------------------
# the context

_ROLE_TEX = {"f": "f(x)"}


def _role_tex(k: Kernel, names) -> str:
    if k.role == "df/dx":
        return "f'(x)"
    if k.role.startswith("df/d") and k.arg == X:
        p = k.role[4:]
        sym = next((s for s in names if s.name == p), sp.Symbol(p))
        ptex = names.get(sym, tex(sym))
        return rf"\frac{{\partial f}}{{\partial {ptex}}}"
    if k.arg != X:
        return "f'(x) = g(y)"
    return _ROLE_TEX.get(k.role, k.role)


def _param_value_tex(p) -> str:
    v = p.value
    if v in (sp.oo, -sp.oo):
        return tex(v)
    if isinstance(p.default, str):
        digits = p.default.lstrip("-").replace(".", "").lstrip("0")
        return p.default if len(digits) <= 17 else p.default[:p.default.index(".") + 17] + r"\ldots"
    return tex(v)


_SEED = re.compile(r"seeds/\d+ \((?:[^()]|\([^()]*\))*\)")


def taught(source: str) -> str:
    """The formula as the course notes write it, without the notes' file names (users do not have
    them): 'seeds/002 (Kainz, ...): ELU, max(0, x) + ...' -> 'ELU, max(0, x) + ...'."""
    s = re.sub(r"\s+in " + _SEED.pattern, "", source)
    s = re.sub(_SEED.pattern + r":\s*", "", s)
    s = _SEED.sub("", s)
    return re.sub(r"\s*;\s*(?=;|$)", "", s).strip(" ;:")


def references(entry) -> list[dict]:
    """The entry's primary literature for the templates: short label, full text, link, ids, key."""
    def urls(r):
        out = []
        if r.doi:
            out.append((f"https://doi.org/{r.doi}", f"doi:{r.doi}"))
        if r.arxiv:
            out.append((f"https://arxiv.org/abs/{r.arxiv}", f"arXiv:{r.arxiv}"))
        if r.url and not out:
            out.append((r.url, r.url))
        return out

    return [dict(key=r.key, short=r.short, label=r.short.replace(" (", " ").rstrip(")"), authors=r.authors,
                 title=r.title, year=r.year, venue=r.venue, ids=r.ids, link=r.link, urls=urls(r), text=str(r))
            for r in getattr(entry, "reference", ())]


def references_md(entry) -> str:
    """The entry's references as Markdown (a list when more than one), then the course notes' form."""
    refs = references(entry)
    out = []
    if refs:
        out.append(f"**Reference{'s' if len(refs) > 1 else ''}:**\n")
        for r in refs:
            links = ", ".join(f"[{label if label != u else urlparse(u).netloc}]({u})" for u, label in r["urls"])
            text = (f"{md_escape(r['authors'])} ({r['year']}). *{md_escape(r['title'])}*. "
                    f"{md_escape(r['venue'])}.{' ' + links if links else ''}")
            out.append(f"- {text}" if len(refs) > 1 else text)
        out.append("")
    taught_ = taught(getattr(entry, "source", ""))
    if taught_:
        out.append(f"*As taught:* {md_escape(taught_)}.\n")
    return "\n".join(out)


def bibliography(entries) -> list[dict]:
    """Every reference the entries cite, once, sorted by key (the LaTeX bibliography)."""
    refs = {}
    for e in entries:
        for r in references(e):
            refs.setdefault(r["key"], r)
    return [refs[k] for k in sorted(refs)]


# The max-ULP table tests/test_accuracy.py measures and checks is current (committed with the kernels):
# the reference docs quote its rows. Absent outside a source checkout; the docs then say so.
ACCURACY_TABLE = Path(__file__).resolve().parent.parent / "tests" / "accuracy_table.md"


def read_accuracy(path: Optional[Path]) -> Optional[dict[str, tuple[str, str]]]:
    """{kernel: (float32 cell, float64 cell)} from the table tests/test_accuracy.py writes."""
    if path is None or not Path(path).is_file():
        return None
    table = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("kernel", "") or set(cells[1]) <= set("-:"):
            continue
        table[cells[0]] = (cells[1], cells[2])
    return table


def _stated_identity_results() -> dict:
    """Every stated identity (built-in and the user's) checked once: {name: (identity, verify.Result)}."""
    from .verify import check as verify

    try:
        from .catalog import user_identities
    except ImportError:  # pragma: no cover - older catalog without user definitions
        def user_identities():
            return ()
    check = getattr(verify, "check", None) or verify._check
    stated = list(verify.IDENTITIES) + list(user_identities())
    return {i.name: (i, check(i)) for i in stated}


def _identities(d: Derivation, stated: dict) -> list[dict]:
    """The rows ``verify.run(names=[name])`` returns, from the proofs already derived."""
    from .verify.check import kernel_results

    name = d.entry.name
    rows = [dict(name=r.name, kind="identity" if r.kind == "identity" else r.kind, source=taught(r.source),
                 status=r.status, method=r.method)
            for i, r in stated.values() if name in i.involves]
    return rows + [dict(name=r.name, kind=r.kind, source="derived", status=r.status, method=r.method)
                   for r in kernel_results(d.entry, d)]


def _properties(d: Derivation) -> tuple[Optional[object], list[dict], str]:
    from .derive.properties import properties

    try:
        p = properties(d.entry, d)
    except Exception as exc:  # noqa: BLE001 - docs still render; say why the table is missing
        return None, [], f"properties not available: {exc}"

    def row(label, value_tex, fact, text=None):
        return dict(label=label, math=value_tex, text=text, method=fact.method if fact is not None else "")

    rows = [row("range", set_tex(p.range.value), p.range),
            row("bounded", None, p.bounded, "yes" if p.bounded.value else "no"),
            row("monotonic", None, p.monotonic, p.monotonic.value)]
    if p.minimum is not None:
        xm, fm = p.minimum.value
        rows.append(row("minimum", rf"f({num_tex(xm)}) = {num_tex(fm)}", p.minimum))
    rows.append(row("zero-centred", None, p.zero_centered, "yes" if p.zero_centered.value else "no"))
    lo, hi, label = p.saturating.value
    rows.append(row("saturating", rf"f'(-\infty) = {num_tex(lo)},\ f'(+\infty) = {num_tex(hi)}", p.saturating,
                    label))
    s, where = p.max_slope.value
    if isinstance(where, str):  # "x -> +oo (not attained)"
        head, _, tail = where.partition(" (")
        where_tex = head.replace("->", r"\to").replace("oo", r"\infty")
        where_tex += rf"\ \text{{({tail}}}" if tail else ""
    elif isinstance(where, sp.Set):
        where_tex = rf"x \in {set_tex(where)}"
    else:
        where_tex = f"x = {num_tex(where)}"
    rows.append(row("max slope", rf"\sup \lvert f' \rvert = {num_tex(s)}\ \text{{at}}\ {where_tex}", p.max_slope))
    cont = p.continuity.value
    cont_tex = None if cont == "discontinuous" else cont.replace("inf", r"\infty").replace("^", "^{") + "}"
    rows.append(row("continuity", cont_tex, p.continuity, "discontinuous" if cont_tex is None else None))
    if p.kinks.value:
        parts = [rf"x = {num_tex(b)}:\ f'(x^-) = {num_tex(l)},\ f'(x^+) = {num_tex(r)},\ \text{{kernel}}\ {num_tex(k)}"
                 for b, (l, r, k) in p.kinks.value.items()]
        rows.append(row("kinks", r";\quad ".join(parts), p.kinks))
    else:
        rows.append(row("kinks", None, p.kinks, "none"))
    return p, rows, ""


def _overview_monotonic(text: str) -> str:
    return "no" if text.startswith("not monotonic") else text


def _usage(d: Derivation) -> str:
    e = d.entry
    if e.kind != "activation":
        names = ", ".join(k.name for k in d.kernels)
        return f"from symact.kernels import {names}\n"

    def kw(params):
        out = []
        for p in params:
            v = p.value
            text = "np.inf" if v == sp.oo else repr(float(p.default)) if not isinstance(p.default, str) else p.default
            out.append(f"{p.name}={text}")
        return "".join(", " + s for s in out)

    lines = ["import numpy as np", import_line([k.name for k in d.kernels]), "",
             "x = np.linspace(-4, 4, 9, dtype=np.float32)"]
    calls = []
    for k in d.kernels:
        params = k.params if k.params is not None else e.kernel_params
        arg = "x" if k.arg == X else "y"
        lhs = {"f": "y"}.get(k.role, "dy_dx" if k.role.startswith("df/dx") else "dy_d" + k.role[4:])
        comment = {"f": "float32 in, float32 out", "df/dx": "derivative w.r.t. x"}.get(k.role, "")
        if k.arg != X:
            comment = "derivative from the output y = f(x)"
        elif k.role.startswith("df/d") and k.role != "df/dx":
            comment = f"gradient w.r.t. {k.role[4:]} (per element)"
        calls.append((f"{lhs} = {k.name}({arg}{kw(params)})", comment))
    pad = max(len(c) for c, _ in calls) + 2
    for call, comment in calls:
        if not comment:
            lines.append(call)
        elif pad + 2 + len(comment) <= USAGE_WIDTH:
            lines.append(f"{call:<{pad}}# {comment}")
        else:  # too wide for one line of the PDF: the comment goes above
            lines += [f"# {comment}", call]
    return "\n".join(lines) + "\n"


def build_context(derived: list[Derivation], accuracy: Optional[Path] = None) -> dict:
    from . import __version__
    from .stabilize.rules import RULES_BY_NAME

    stated = _stated_identity_results()
    acc = read_accuracy(accuracy)
    functions = []
    for d in derived:
        e = d.entry
        f_def = e.expr()
        written = e.written_expr()
        all_exprs = [f_def] + [k.textbook for k in d.kernels] + [k.stable for k in d.kernels]
        names = _symbol_names(all_exprs + ([written] if written is not None else []))
        T = functools.partial(tex, names=names)
        kernels_ctx = []
        rules_used: list[str] = []
        for k in d.kernels:
            rules_used += [r for r in k.rules if r not in rules_used]
            shown = readable(k.textbook)
            kernels_ctx.append(dict(
                name=k.name, role=k.role, lhs=_role_tex(k, names), arg=k.arg.name,
                textbook=T(shown),
                simplified=shown != k.textbook,
                stable=T(k.stable), stable_differs=k.stable != k.textbook and k.stable != shown,
                rules=list(k.rules), proof=k.proof.method, proof_ok=k.proof.ok, note=k.note,
                from_output=k.arg != X,
                primitives=_where(k.stable),
            ))
        f_kernel = kernels_ctx[0]
        grad = next((k for k in kernels_ctx if k["role"] == "df/dx"), None)
        fprime = None
        if grad is not None:
            g_expr, g_form, g_proof = simplest_derivative(d)
            fprime = dict(tex=T(g_expr), inline=T(g_expr, inline=True), form=g_form, proof=g_proof,
                          fits=len(T(g_expr, inline=True)) <= OVERVIEW_MAX_CHARS)
        prims = sorted({m for k in kernels_ctx for m in k["primitives"]})
        props, prop_rows, prop_error = _properties(d) if e.kind == "activation" else (None, [], "")
        params = [dict(name=p.name, symbol=names.get(p.symbol, tex(p.symbol)), default=_param_value_tex(p),
                       flags=[f for f, on in (("learnable", p.learnable), ("fixed constant", p.constant),
                                              ("> 0", p.positive)) if on],
                       doc=p.doc) for p in e.params]
        accuracy_rows = None
        if acc is not None:
            accuracy_rows = [dict(kernel=k.name, f32=acc[k.name][0], f64=acc[k.name][1])
                             for k in d.kernels if k.name in acc]
        ov = {}
        if props is not None:
            ov = dict(range=set_tex(props.range.value),
                      continuity=None if props.continuity.value == "discontinuous" else
                      props.continuity.value.replace("inf", r"\infty").replace("^", "^{") + "}",
                      monotonic=_overview_monotonic(props.monotonic.value),
                      zero_centred="yes" if props.zero_centered.value else "no",
                      saturating=props.saturating.value[2])
        kink_rows = []
        if props is not None and props.kinks.value:
            kink_rows = [dict(at=num_tex(b), left=num_tex(l), right=num_tex(r), kernel=num_tex(kv))
                         for b, (l, r, kv) in props.kinks.value.items()]
        functions.append(dict(
            name=e.name, kind=e.kind, summary=e.summary, taught=taught(e.source), references=references(e),
            refs_md=references_md(e),
            definition=T(written if written is not None else f_def),
            definition_inline=T(written if written is not None else f_def, inline=True),
            catalog_form=T(f_def) if written is not None else None,
            stable=f_kernel["stable"], stable_same=not f_kernel["stable_differs"] and d.kernels[0].stable == f_def,
            rules=[dict(name=r, textbook=RULES_BY_NAME[r].textbook, stable=RULES_BY_NAME[r].stable,
                        why=RULES_BY_NAME[r].why) for r in rules_used if r in RULES_BY_NAME],
            primitives=prims, kernels=kernels_ctx, grad=grad, fprime=fprime, params=params,
            no_from_output=d.no_from_output, kinks=e.kinks, kink_rows=kink_rows,
            properties=prop_rows, properties_error=prop_error,
            notes=list(props.notes) if props is not None else [],
            identities=_identities(d, stated), accuracy=accuracy_rows,
            usage=_usage(d), overview=ov,
            figure=f"figures/{e.name}", thumb=f"figures/{e.name}_thumb",
            plotted=e.kind == "activation",
        ))
    return dict(version=__version__, functions=functions, accuracy_measured=acc is not None, notation=notation(),
                accuracy_source=str(accuracy) if acc is not None else None,
                comparison="figures/comparison",
                comparison_excluded=[f["name"] for f in functions if f["plotted"] and _periodic(
                    next(d for d in derived if d.entry.name == f["name"]))])


# ------------------------------------------------------------------------------------------------
# plots

RC = {
    "font.family": "DejaVu Sans", "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8,
    "axes.linewidth": 0.6, "axes.grid": True, "grid.alpha": 0.35, "grid.linewidth": 0.4,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.4, "legend.fontsize": 7,
    "legend.frameon": False, "figure.dpi": 100, "savefig.dpi": 100, "savefig.bbox": "standard",
    "svg.hashsalt": "symact-docs", "svg.fonttype": "path", "pdf.fonttype": 3, "pdf.compression": 6,
    "path.simplify": True, "axes.prop_cycle": None,  # replaced below (cycler)
}
METADATA = {"pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
            "svg": {"Date": None, "Creator": None},
            "png": {"Software": None}}
COLORS = ("#1f5fa8", "#d9591b")  # f, f'


def _rc():
    from cycler import cycler

    rc = dict(RC)
    rc["axes.prop_cycle"] = cycler(color=["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                                          "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"])
    return rc


def _defaults(e) -> dict:
    return {p.symbol: p.value for p in e.params}


def _numeric(expr: sp.Expr, e) -> callable:
    """A NumPy function of x for ``expr`` at the entry's default parameters."""
    expr = sp.sympify(expr).subs(_defaults(e))
    impl = {p.sympy.__name__: p.numpy for p in PRIMITIVES if p.numpy is not None}  # the registry's NumPy forms
    # primitives without a NumPy form are plotted through their textbook formula
    textbook = tuple(p.sympy for p in PRIMITIVES if p.own and p.numpy is None)
    expr = expr.replace(lambda q: isinstance(q, textbook), lambda q: type(q).textbook(*q.args))
    fn = sp.lambdify([X], expr, modules=[impl, "numpy"])

    def f(x):
        with np.errstate(all="ignore"):
            return np.broadcast_to(np.asarray(fn(x), dtype=float), np.shape(x)).copy()
    return f


def _periodic(d: Derivation) -> Optional[float]:
    expr = d.entry.expr().subs(_defaults(d.entry))
    if not expr.has(sp.sin, sp.cos):
        return None
    try:
        with time_budget(30.0):
            per = sp.periodicity(expr, X)
    except (_Timeout, Exception):  # noqa: BLE001
        return None
    return float(per) if per is not None else None


def _breakpoints(d: Derivation) -> list[float]:
    expr = sp.piecewise_fold(d.entry.expr().subs(_defaults(d.entry)))
    pts = set()
    for rel in expr.atoms(sp.Rel):
        if rel.has(X):
            sol = sp.solve(sp.Eq(rel.lhs, rel.rhs), X)
            pts |= {float(s) for s in sol if s.is_real and s.is_finite}
    return sorted(pts)


def _window(d: Derivation) -> tuple[float, float]:
    per = _periodic(d)
    if per:
        return -1.25 * per, 1.25 * per
    bps = _breakpoints(d)
    lo, hi = -5.0, 5.0
    if bps:
        lo, hi = min(lo, bps[0] - 2.0), max(hi, bps[-1] + 2.0)
    return lo, hi


def _curve(fn, lo, hi, bps, n=PLOT_POINTS):
    """x, y with a NaN between pieces (no false vertical lines at jumps), plus jump markers."""
    edges = [lo] + [b for b in bps if lo < b < hi] + [hi]
    xs, ys, jumps = [], [], []
    for a, b in zip(edges[:-1], edges[1:]):
        eps = (b - a) * 1e-9
        x = np.linspace(a + (eps if a in bps else 0), b - (eps if b in bps else 0), n)
        xs += [x, [np.nan]]
        ys += [fn(x), [np.nan]]
    for b in bps:
        if lo < b < hi:
            eps = max(abs(b), 1.0) * 1e-9
            left, at, right = fn(np.array([b - eps, b, b + eps]))
            if abs(left - right) > 1e-6 or abs(at - left) > 1e-6 and abs(at - right) > 1e-6:
                jumps.append((b, left, at, right))
    return np.concatenate(xs[:-1]), np.concatenate(ys[:-1]), jumps


def _draw(ax, fn, lo, hi, bps, color, label=None, markers=True):
    x, y, jumps = _curve(fn, lo, hi, bps)
    ax.plot(x, y, color=color, label=label)
    if markers:
        for b, left, at, right in jumps:
            for v in {left, right} - {at}:
                ax.plot([b], [v], "o", ms=3.5, mfc="white", mec=color, mew=1.0, zorder=3)
            ax.plot([b], [at], "o", ms=3.5, color=color, zorder=3)
    ax.axhline(0, color="0.3", lw=0.5, zorder=0)
    ax.axvline(0, color="0.3", lw=0.5, zorder=0)
    return y


def _save(fig, path: Path):
    ext = path.suffix[1:]
    fig.savefig(path, format=ext, metadata=METADATA[ext])


def _plot_function(d: Derivation, base: Path, ext: str, window=None) -> list[Path]:
    """The plot of f and f' and its thumbnail, ``base.ext`` and ``base_thumb.ext``."""
    written = []
    for name, data in _function_figures(d, base.name, ext, window).items():
        written.append(base.parent / name)
        written[-1].write_bytes(data)
    return written


def _figures_key(d: Derivation, *args) -> tuple:
    import matplotlib

    return _derived_key(d, *args, matplotlib.__version__, np.__version__)


@cached("figures", key=_figures_key)
def _function_figures(d: Derivation, name: str, ext: str, window=None) -> dict[str, bytes]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return {p.name: p.read_bytes() for p in _draw_function(d, Path(tmp) / name, ext, window)}


def _draw_function(d: Derivation, base: Path, ext: str, window=None) -> list[Path]:
    import matplotlib
    from matplotlib.figure import Figure

    e = d.entry
    f = _numeric(d.kernels[0].stable, e)
    grad = next(k for k in d.kernels if k.role == "df/dx")
    g = _numeric(grad.stable, e)
    lo, hi = window or _window(d)
    bps = _breakpoints(d)
    written = []
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(6.4, 2.3))
        axes = fig.subplots(1, 2)
        notes = [f"{p.name}={float(p.value):g}" for p in e.params if not p.constant and p.value not in (sp.oo, -sp.oo)]
        suffix = f"  ({', '.join(notes)})" if notes else ""
        for ax, fn, color, title in ((axes[0], f, COLORS[0], f"{e.name}(x){suffix}"),
                                     (axes[1], g, COLORS[1], f"{e.name}'(x)")):
            _draw(ax, fn, lo, hi, bps, color)
            ax.set_title(title)
            ax.set_xlabel("x")
            ax.set_xlim(lo, hi)
        fig.subplots_adjust(left=0.07, right=0.985, bottom=0.19, top=0.88, wspace=0.22)
        out = base.with_suffix("." + ext)
        _save(fig, out)
        written.append(out)

        thumb = Figure(figsize=(1.1, 0.75))
        ax = thumb.add_axes((0.02, 0.02, 0.96, 0.96))
        _draw(ax, f, lo, hi, bps, COLORS[0], markers=False)
        ax.set_xlim(lo, hi)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for s in ax.spines.values():
            s.set_linewidth(0.4)
            s.set_color("0.6")
        tpath = base.parent / f"{base.name}_thumb.{ext}"
        _save(thumb, tpath)
        written.append(tpath)
    return written


COMPARISON_COLUMNS = 6


def comparison_figure(derived: list[Derivation]):
    """Small multiples: one panel per activation (periodic ones excepted: another scale), each with f
    (solid) and f' (dashed) on the same axes limits, so every curve can be told apart and panels
    compare at a glance (elu and celu, silu and swish, identity and linear coincide at their defaults
    and would hide each other on one plot). Returns the matplotlib Figure (the tests inspect it)."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    lo, hi = -4.0, 4.0
    shown = [d for d in derived if d.entry.kind == "activation" and not _periodic(d)]
    cols = min(COMPARISON_COLUMNS, max(1, len(shown)))
    rows = -(-len(shown) // cols)
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(7.2, 0.35 + 1.25 * rows))
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax, d in zip(axes.flat, shown):
            # the same window everywhere, widened only where a function's kinks lie beyond it (relu6)
            bps = _breakpoints(d)
            right = max([hi] + [b + 2.0 for b in bps])
            grad = next(k for k in d.kernels if k.role == "df/dx")
            top = 4.2
            for k, color, ls, label in ((d.kernels[0], COLORS[0], "-", "f"), (grad, COLORS[1], "--", "f'")):
                x, y, _ = _curve(_numeric(k.stable, d.entry), lo, right, [b for b in bps if lo < b < right], n=201)
                ax.plot(x, y, color=color, ls=ls, lw=1.2, label=label)
                top = max(top, float(np.nanmax(y)) + 0.4)
            ax.set_title(d.entry.name, fontsize=7.5, pad=2)
            ax.axhline(0, color="0.3", lw=0.5, zorder=0)
            ax.axvline(0, color="0.3", lw=0.5, zorder=0)
            ax.tick_params(labelsize=6, length=2, pad=1)
            ax.set_xlim(lo, right)
            ax.set_ylim(-2.2, top)
            ax.set_xticks([-4, 0, 4] if right == hi else [-4, 0] + [round(b) for b in bps if 0 < b < right])
            ax.set_yticks([-2, 0, 2, 4] + ([6] if top > 6.2 else []))
        for ax in list(axes.flat)[len(shown):]:
            ax.set_visible(False)
        handles = [Line2D([], [], color=COLORS[0], ls="-", lw=1.2), Line2D([], [], color=COLORS[1], ls="--", lw=1.2)]
        fig.legend(handles, ["f(x)", "f\u2032(x)"], loc="upper center", ncol=2, fontsize=7, handlelength=2.6,
                   bbox_to_anchor=(0.5, 1.0))
        top = 1 - 0.32 / fig.get_figheight()
        fig.subplots_adjust(left=0.05, right=0.99, bottom=0.14 / rows + 0.04, top=top - 0.04, wspace=0.3,
                            hspace=0.42)
    return fig


def _plot_comparison(derived: list[Derivation], path: Path) -> Path:
    path.write_bytes(_comparison_bytes(derived, path.name))
    return path


@cached("comparison", key=lambda derived, name: [_figures_key(d, name) for d in derived])
def _comparison_bytes(derived: list[Derivation], name: str) -> bytes:
    import tempfile

    import matplotlib

    with tempfile.TemporaryDirectory() as tmp, matplotlib.rc_context(_rc()):
        _save(comparison_figure(derived), Path(tmp) / name)
        return (Path(tmp) / name).read_bytes()


# ------------------------------------------------------------------------------------------------
# rendering

def _environment(fmt: str):
    """Jinja2 for the docs templates; LaTeX uses ((* *)) / ((( ))) / ((= =)) so its braces stay braces."""
    import jinja2

    from .codegen.emit import _templates_dir

    delimiters = {}
    if fmt == "latex":
        delimiters = dict(block_start_string="((*", block_end_string="*))", variable_start_string="(((",
                          variable_end_string=")))", comment_start_string="((=", comment_end_string="=))")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_templates_dir() / "docs")),
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined, autoescape=False, **delimiters,
    )
    env.filters["tex"] = tex_escape
    env.filters["md"] = md_escape
    env.filters["display"] = lambda t: t.replace("{cases}", "{dcases}")  # mathtools: full-size branches
    from .codegen import targets_latex, targets_markdown  # the targets line of each function

    env.globals.update(targets_md=targets_markdown, targets_tex=lambda name: targets_latex(name, tex_escape))
    return env


def import_line(names: list[str], module: str = "symact.kernels", width: int = 79) -> str:
    """``from module import a, b`` on one line, or in parentheses over several when wider than ``width``."""
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= width:
        return line
    lines, cur = [f"from {module} import ("], "    "
    for n in names:
        if len(cur) + len(n) + 2 > width and cur.strip():
            lines.append(cur.rstrip())
            cur = "    "
        cur += n + ", "
    lines.append(cur.rstrip().rstrip(","))
    return "\n".join(lines + [")"])


def _call(lhs: str, fn: str, args: str) -> str:
    """``lhs = fn(args)``, its arguments wrapped under the opening parenthesis where the line would be
    wider than USAGE_WIDTH (poisson_nll_loss with its flags)."""
    head = f"{lhs} = {fn}("
    lines, line = [], head
    for i, a in enumerate(args.split(", ")):
        piece = a + ("," if i < len(args.split(", ")) - 1 else ")")
        if line != head and not line.endswith("(") and len(line) + 1 + len(piece) > USAGE_WIDTH:
            lines.append(line)
            line = " " * len(head) + piece
        else:
            line += ("" if line.endswith("(") or line == head else " ") + piece
    return "\n".join(lines + [line])


def _commented(line: str, comment: str) -> str:
    """``line  # comment``, or the comment on the line above when that would be wider than USAGE_WIDTH."""
    one = f"{line}   # {comment}"
    return (one if len(one.splitlines()[-1]) <= USAGE_WIDTH and "\n" not in line else f"# {comment}\n{line}") + "\n"


def _formula(expr, names=None) -> dict:
    """A display formula, with its repeated parts named when it is long (see :func:`abbreviate`)."""
    names = names if names is not None else _symbol_names([expr])
    main, defs = abbreviate(expr, names)
    return dict(tex=main, defs=[dict(name=u, tex=v) for u, v in defs])


def _kernel_forms(derived, stable, names=None, **extra) -> dict:
    """derived and emitted forms of one kernel; ``same`` when the derived form is emitted as it is."""
    out = dict(role="", rules=[], check="", proof="")
    out.update(extra)
    out.update(derived=_formula(derived, names), stable=_formula(stable, names), same=derived == stable,
               primitives=_where(stable))
    return out


def _vector_usage(fn, call: str) -> str:
    """The usage lines after the import; a layout in blocks (glu) takes rows it can cut and a g of y's shape."""
    if fn.layout.parts == 1:
        return ("x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1000.0]])\n"
                "g = np.ones_like(x)   # the upstream gradient\n"
                f"y = {fn.name}({call})\n"
                f"dx = {fn.name}_vjp(x, g, axis=-1)\n")
    return ("x = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, -1000.0, 1000.0]])\n"
            f"y = {fn.name}({call})   # shape (2, {4 // fn.layout.parts})\n"
            "g = np.ones_like(y)   # the upstream gradient, y's shape\n"
            f"dx = {fn.name}_vjp(x, g, axis=-1)   # x's shape\n")


def _vector_context(vectors) -> list[dict]:
    """Vector functions: definition with symbolic K, each kernel as derived and as emitted (max-shifted)."""
    from .stabilize.rowwise import derive_rows

    rows = []
    for fn in vectors:
        kernels = [_kernel_forms(rk.textbook, rk.stable, name=rk.name, vjp=rk.vjp, proof=rk.proof.method,
                                 check=rk.check if rk.vjp else "")
                   for rk in derive_rows(fn)]
        params = param_contexts(fn.params)
        call = ", ".join(["x", "axis=-1"] + [f"{p['name']}={p['default']}" for p in params])
        rows.append(dict(name=fn.name, summary=fn.summary, taught=taught(fn.source), references=references(fn),
                         refs_md=references_md(fn),
                         scalar=fn.scalar, params=params, parts=fn.layout.parts,
                         definition=tex(fn.expr()), kernels=kernels, torch=fn.torch or "",
                         usage="import numpy as np\n" + import_line([fn.name, f"{fn.name}_vjp"]) + "\n"
                               + _vector_usage(fn, call)))
    return rows


def _loss_context(losses) -> list[dict]:
    """Losses: per-element formula, stable form, derivative, reduction and weight semantics."""
    rows = []
    for loss, d in losses:
        names = _symbol_names([k.stable for k in d.kernels] + [d.entry.expr()])
        kernels = [_kernel_forms(readable(k.textbook), k.stable, names, name=k.name, role=k.role,
                                 rules=list(k.rules), proof=k.proof.method)
                   for k in d.kernels]
        params = param_contexts(loss.params)
        args = ", ".join(["x"] + ([loss.second_input] if loss.second_input else []) + ["y"]
                         + [f"{p['name']}={p['default']}" for p in params] + ["reduction='mean'"]
                         + [f"{f.name}={f.default}" for f in loss.flags])
        weight = {None: "", "count": "the number of elements", "weights": "the sum of the weights"}[loss.weight]
        kinds = {kind: words for kind, (_, words) in VALUES.items()}  # as the front ends' errors say them
        defaults = {f.name: f.default for f in loss.flags}
        variants = [dict(flag=", ".join(f"{n}={on}" for n, on in v.values if on != defaults[n]), doc=v.doc,
                         target=kinds[v.target], input=kinds[v.input_domain] if v.input_domain != "real" else "",
                         definition=tex(loss.pointwise(v).expr(), names=names)) for v in loss.variants]
        rows.append(dict(name=loss.name, summary=loss.summary, taught=taught(loss.source),
                         references=references(loss), refs_md=references_md(loss), target=kinds[loss.target],
                         input=kinds[loss.input_domain] if loss.input_domain != "real" else "",
                         variants=variants, notes=loss.notes, reductions=" / ".join(loss.reductions),
                         plotted=loss.grad,
                         kinks=loss.kinks, params=params, grad=loss.grad, weight=weight,
                         definition=tex(d.entry.expr(), names=names), kernels=kernels,
                         torch=loss.name if loss.pytorch else "",
                         usage=import_line([loss.name] + ([f"{loss.name}_grad"] if loss.grad else []))
                               + "\n" + _call("loss", loss.name, args) + "\n"
                               + (_commented(_call("dx", f"{loss.name}_grad", args), "gradient of the reduced loss")
                                  if loss.grad else "")))
    return rows


def _row_loss_context(row_losses) -> list[dict]:
    """Row losses: the per-row formula of each target kind, every kernel as derived and as emitted."""
    from .derive.row_loss import derive_row_loss

    rows = []
    for loss in row_losses:
        kernels = [_kernel_forms(rk.textbook, rk.stable, name=rk.name, proof=rk.proof.method, check=rk.check)
                   for rk in derive_row_loss(loss) if not rk.fused]
        args = [a for a, _ in loss.inputs] + ([] if set(loss.formulas) == {"none"} else ["target"])
        grads = [n for n, _ in loss.grad_names]
        rows.append(dict(name=loss.name, summary=loss.summary, taught=taught(loss.source),
                         references=references(loss), refs_md=references_md(loss), note=loss.note,
                         formulas=[dict(target=t, **_formula(f)) for t, f in loss.formulas.items()],
                         kernels=kernels, torch=loss.name if loss.pytorch else "",
                         usage=import_line([loss.name] + grads) + "\n"
                               f"loss = {loss.name}({', '.join(args)})\n"
                               + "".join(f"d_{a} = {n}({', '.join(args)})\n" for n, a in loss.grad_names)))
    return rows


def render_docs(derivations: list[Derivation], fmt: str, out_dir: Path,
                accuracy: Optional[Path] = None) -> list[Path]:
    """Write the reference in ``fmt`` ("latex", "markdown" or "both") into ``out_dir``: the document
    (``reference.tex`` / ``reference.md``) and its figures (``figures/*.pdf`` / ``*.svg``), for the
    derived entries of every kind in ``derivations`` (``entry.derive()``).

    ``accuracy`` is an optional path to the table ``tests/test_accuracy.py`` writes
    (``tests/accuracy_table.md``); without it the docs say accuracy was not measured in this build.
    Returns the files written, sorted. Re-running gives byte-identical files.
    """
    formats = FORMATS if fmt == "both" else (fmt,)
    for f in formats:
        if f not in FORMATS:
            raise DocsError(f"unknown docs format {f!r}; use one of {', '.join(FORMATS)} or both")
    from .catalog.losses import Loss

    derived = [d for d in derivations if d.entry.package == "activations"]
    vectors = [d.entry for d in derivations if d.entry.package == "vectors"]
    losses = [(d.entry, d.entry.pointwise_view(d)) for d in derivations if isinstance(d.entry, Loss)]
    row_losses = [d.entry for d in derivations if d.entry.package == "losses" and not isinstance(d.entry, Loss)]
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    ctx = build_context(derived, accuracy)
    ctx["bibliography"] = bibliography([d.entry for d in derived] + list(vectors) + [loss for loss, _ in losses]
                                       + list(row_losses))
    ctx["bibliography_widest"] = max((r["label"] for r in ctx["bibliography"]), key=len, default="M")
    ctx["vectors"] = _vector_context(vectors)
    ctx["losses"] = _loss_context(losses)
    ctx["row_losses"] = _row_loss_context(row_losses)
    written: list[Path] = []
    for f in formats:
        ext = FIG_EXT[f]
        for d in derived:
            if d.entry.kind == "activation":
                written += _plot_function(d, out_dir / "figures" / d.entry.name, ext)
        written.append(_plot_comparison(derived, out_dir / "figures" / f"comparison.{ext}"))
        for loss, d in losses:
            if loss.grad:  # the loss at a fixed target, and its derivative
                # a probability input is plotted inside (0, 1), short of the poles of log x and log(1 - x)
                window = (0.02, 0.98) if loss.input_domain == "prob" else None
                written += _plot_function(d, out_dir / "figures" / loss.name, ext, window)
        name, template = {"latex": ("reference.tex", "reference.tex.j2"),
                          "markdown": ("reference.md", "reference.md.j2")}[f]
        text = _environment(f).get_template(template).render(**ctx, fig_ext=ext)
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return sorted(written)


def tex_engine() -> Optional[list[str]]:
    """The command that builds a PDF, or None when no TeX engine is on PATH."""
    if shutil.which("latexmk") and shutil.which("pdflatex"):
        return ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]
    if shutil.which("pdflatex"):
        return ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]
    return None


def missing_engine_message() -> str:
    return ("no TeX engine found (neither latexmk nor pdflatex is on PATH). On Debian/Ubuntu install one "
            f"with:\n    sudo apt-get install --no-install-recommends {' '.join(TEX_PACKAGES)}\n"
            "then run the command again (the .tex file and its figures are written without it).")


def compile_latex(tex_path: Path) -> tuple[bytes, str]:
    """Compile ``tex_path`` in a temporary directory (a copy of the .tex and its ``figures/*.pdf``) and
    return the PDF's bytes and TeX's log. Nothing is written next to ``tex_path``: no .aux, .log, .toc,
    .out, .fls or .fdb_latexmk. Raises :class:`DocsError` when no engine is installed (naming the
    Debian packages) or when TeX reports an error (with the end of its output)."""
    import tempfile

    tex_path = Path(tex_path).resolve()
    cmd = tex_engine()
    if cmd is None:
        raise DocsError(missing_engine_message())
    if not tex_path.is_file():
        raise DocsError(f"no LaTeX file {tex_path}")
    env = dict(os.environ, SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH", "0"))
    runs = 1 if cmd[0] == "latexmk" else 3  # pdflatex: the table of contents, references, bibliography
    with tempfile.TemporaryDirectory(prefix="symact-pdf-") as tmp:
        work = Path(tmp)
        shutil.copy2(tex_path, work / tex_path.name)
        figures = tex_path.parent / "figures"
        if figures.is_dir():
            (work / "figures").mkdir()
            for f in sorted(figures.glob("*.pdf")):
                shutil.copy2(f, work / "figures" / f.name)
        for _ in range(runs):
            proc = subprocess.run(cmd + [tex_path.name], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
            if proc.returncode != 0:
                tail = "\n".join(proc.stdout.splitlines()[-25:])
                raise DocsError(f"{cmd[0]} failed on {tex_path} (exit {proc.returncode}); the end of its output:\n{tail}")
        pdf = work / tex_path.with_suffix(".pdf").name
        if not pdf.is_file():
            raise DocsError(f"{cmd[0]} ran but wrote no PDF for {tex_path}")
        log = work / tex_path.with_suffix(".log").name
        return pdf.read_bytes(), log.read_text(errors="replace") if log.is_file() else ""


def build_pdf(tex_path: Path) -> Path:
    """Compile ``tex_path`` with a real TeX engine in a temporary directory and write only the PDF
    next to it (``reference.tex`` -> ``reference.pdf``, replaced at once); return its path. Raises
    :class:`DocsError` as :func:`compile_latex` does; then no PDF is written."""
    tex_path = Path(tex_path).resolve()
    data, _ = compile_latex(tex_path)
    pdf = tex_path.with_suffix(".pdf")
    part = pdf.with_name(f".{pdf.name}.part")
    part.write_bytes(data)
    os.replace(part, pdf)
    return pdf
