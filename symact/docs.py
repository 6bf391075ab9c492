"""Reference docs: the derived catalog rendered through Jinja2 templates into LaTeX and Markdown.

Nothing here is typed by hand: every formula comes from the catalog and :mod:`symact.derive`, every
property from :mod:`symact.properties`, every proof method from :mod:`symact.verify`'s checks, and
every plot is evaluated from the emitted (stable) expression at the default parameters.

* :func:`build_context` collects, per catalog entry, the definition as written (with its seed
  document), the stable form emitted and the rewrite rules behind it, the derivatives (simplified
  for reading under a time budget), the from-output form and its accuracy caveat, parameters,
  conventions at kinks, properties, identities with how each was proven, measured accuracy (from the
  table ``tests/test_accuracy.py`` writes, when given) and figures.
* :func:`render_docs` writes ``reference.tex`` (vector PDF figures) and/or ``reference.md`` (SVG
  figures) with a ``figures/`` directory next to them. Output is byte-identical on re-run:
  matplotlib runs on fixed rcParams with creation dates and software stamps removed.
* :func:`build_pdf` runs a real TeX engine (``latexmk -pdf``, else ``pdflatex`` twice) and says
  which Debian packages to install when there is none.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Optional

import numpy as np
import sympy as sp
from sympy.printing.latex import LatexPrinter

from .catalog import X
from .derive import DerivedActivation, Kernel
from .primitives import Expm1, Log1p, NormCdf, Sigmoid, Softplus
from .prove import _Timeout, time_budget

FORMATS = ("latex", "markdown")
# What `apt-get install` needs for build_pdf (pdflatex from texlive-latex-base, a dependency of
# texlive-latex-recommended, which brings booktabs and listings; lmodern for the fonts).
TEX_PACKAGES = ("texlive-latex-recommended", "latexmk", "lmodern")
SIMPLIFY_BUDGET = 10.0     # seconds per derivative "simplified for reading"; generous: no timeouts
PLOT_POINTS = 601          # per plot segment between breakpoints
FIG_EXT = {"latex": "pdf", "markdown": "svg"}
OVERVIEW_MAX_CHARS = 200   # longer formulas are unreadable in an overview cell: the cell links the section

# How the opaque stable primitives read in formulas: one table (printing.py keeps the kernel names).
PRIMITIVE_LATEX: dict[type, str] = {
    Sigmoid: r"\sigma",
    Softplus: r"\operatorname{softplus}",
    Expm1: r"\operatorname{expm1}",
    Log1p: r"\operatorname{log1p}",
    NormCdf: r"\Phi",
}
PRIMITIVE_MEANING = {
    Sigmoid: r"\sigma(z) = \frac{1}{1 + e^{-z}}",
    Softplus: r"\operatorname{softplus}(z) = \log\left(1 + e^{z}\right)",
    Expm1: r"\operatorname{expm1}(z) = e^{z} - 1",
    Log1p: r"\operatorname{log1p}(z) = \log(1 + z)",
    NormCdf: r"\Phi(z) = \frac{1}{2}\left(1 + \operatorname{erf}\frac{z}{\sqrt{2}}\right)",
}


class DocsError(RuntimeError):
    """The docs could not be built (no TeX engine, a TeX error, a bad argument)."""


# ------------------------------------------------------------------------------------------------
# formulas

def _symbol_names(exprs) -> dict[sp.Symbol, str]:
    """Multi-letter symbols read as words (\\mathrm{negative\\_slope}); Greek names stay Greek."""
    from sympy.printing.latex import greek_letters_set

    names = {}
    for e in exprs:
        for s in getattr(e, "free_symbols", ()):
            base = s.name.rstrip("0123456789")
            if len(s.name) > 1 and base not in greek_letters_set and not re.fullmatch(r"[A-Za-z]\d+", s.name):
                names[s] = r"\mathrm{" + s.name.replace("_", r"\_") + r"}\,"  # \, : "weight x", not "weightx"
    return names


class DocsLatexPrinter(LatexPrinter):
    """SymPy's LaTeX with the stable primitives readable, |x| without a pipe (tables), and an
    optional one-line Piecewise (Markdown table cells cannot hold ``\\\\``)."""

    def __init__(self, symbol_names=None, inline: bool = False):
        super().__init__({"symbol_names": symbol_names or {}})
        self.inline = inline

    def _print_Function(self, expr, exp=None):
        name = PRIMITIVE_LATEX.get(type(expr))
        if name is None:
            return super()._print_Function(expr, exp)
        args = ", ".join(self._print(a) for a in expr.args)
        head = f"{name}^{{{exp}}}" if exp is not None else name
        return rf"{head}\left({args}\right)"

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
    return DocsLatexPrinter(names if names is not None else _symbol_names([expr]), inline).doprint(expr)


def _cost(e: sp.Expr) -> tuple[int, int]:
    return (int(sp.count_ops(e)), len(sp.latex(e)))


@functools.lru_cache(maxsize=None)
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


def _seed(source: str) -> tuple[str, str]:
    """('seeds/002 (Kainz, ...)', 'ELU, max(0, x) + ...') from a catalog source string."""
    head, sep, rest = source.partition("): ")
    if sep:
        return head + ")", rest
    return source, ""


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
    from . import verify

    try:
        from .catalog import user_identities
    except ImportError:  # pragma: no cover - older catalog without user definitions
        def user_identities():
            return ()
    check = getattr(verify, "check", None) or verify._check
    stated = list(verify.IDENTITIES) + list(user_identities())
    return {i.name: (i, check(i)) for i in stated}


def _identities(d: DerivedActivation, stated: dict) -> list[dict]:
    """The rows ``verify.run(names=[name])`` returns, from the proofs already derived."""
    from .verify import _KIND

    name = d.entry.name
    rows = [dict(name=r.name, kind="identity" if r.kind == "identity" else r.kind, source=_seed(r.source)[0],
                 status=r.status, method=r.method)
            for i, r in stated.values() if name in i.involves]
    for k in d.kernels:
        rows.append(dict(name=k.proof.name, kind=_KIND.get(k.role, "derivative"), source="derived",
                         status=k.proof.status, method=k.proof.method))
    for p in d.proofs:
        rows.append(dict(name=p.name, kind="as written", source="derived", status=p.status, method=p.method))
    return rows


def _properties(d: DerivedActivation) -> tuple[Optional[object], list[dict], str]:
    from .properties import properties

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


def _usage(d: DerivedActivation) -> str:
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

    lines = ["import numpy as np", f"from symact.kernels import {', '.join(k.name for k in d.kernels)}", "",
             "x = np.linspace(-4, 4, 9, dtype=np.float32)"]
    width = max(len(k.name) for k in d.kernels) + 10
    for k in d.kernels:
        params = k.params if k.params is not None else e.kernel_params
        arg = "x" if k.arg == X else "y"
        lhs = {"f": "y"}.get(k.role, "dy_dx" if k.role.startswith("df/dx") else "dy_d" + k.role[4:])
        call = f"{lhs} = {k.name}({arg}{kw(params)})"
        comment = {"f": "float32 in, float32 out", "df/dx": "derivative w.r.t. x"}.get(k.role, "")
        if k.arg != X:
            comment = "derivative from the output y = f(x)"
        elif k.role.startswith("df/d") and k.role != "df/dx":
            comment = f"gradient w.r.t. {k.role[4:]} (per element)"
        lines.append(f"{call:<{width + 30}}# {comment}" if comment else call)
    return "\n".join(lines) + "\n"


def build_context(derived: list[DerivedActivation], accuracy: Optional[Path] = None) -> dict:
    from . import __version__
    from .stabilize import RULES_BY_NAME

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
        seed, section = _seed(e.source)
        kernels_ctx = []
        rules_used: list[str] = []
        for k in d.kernels:
            rules_used += [r for r in k.rules if r not in rules_used]
            shown = readable(k.textbook)
            # the overview's one-cell form: the readable derivative or the stable one, whichever is shorter
            short = min((shown, k.stable), key=lambda e: len(T(e, inline=True)))
            kernels_ctx.append(dict(
                name=k.name, role=k.role, lhs=_role_tex(k, names), arg=k.arg.name,
                textbook=T(shown), short=T(short), short_inline=T(short, inline=True),
                short_fits=len(T(short, inline=True)) <= OVERVIEW_MAX_CHARS,
                simplified=shown != k.textbook,
                stable=T(k.stable), stable_differs=k.stable != k.textbook and k.stable != shown,
                rules=list(k.rules), proof=k.proof.method, proof_ok=k.proof.ok, note=k.note,
                from_output=k.arg != X,
                primitives=[PRIMITIVE_MEANING[t] for t in PRIMITIVE_LATEX if k.stable.has(t)],
            ))
        f_kernel = kernels_ctx[0]
        grad = next((k for k in kernels_ctx if k["role"] == "df/dx"), None)
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
            name=e.name, kind=e.kind, summary=e.summary, seed=seed, section=section, source=e.source,
            definition=T(written if written is not None else f_def),
            definition_inline=T(written if written is not None else f_def, inline=True),
            catalog_form=T(f_def) if written is not None else None,
            stable=f_kernel["stable"], stable_same=not f_kernel["stable_differs"] and d.kernels[0].stable == f_def,
            rules=[dict(name=r, textbook=RULES_BY_NAME[r].textbook, stable=RULES_BY_NAME[r].stable,
                        why=RULES_BY_NAME[r].why) for r in rules_used if r in RULES_BY_NAME],
            primitives=prims, kernels=kernels_ctx, grad=grad, params=params,
            no_from_output=d.no_from_output, kinks=e.kinks, kink_rows=kink_rows,
            properties=prop_rows, properties_error=prop_error,
            notes=list(props.notes) if props is not None else [],
            identities=_identities(d, stated), accuracy=accuracy_rows,
            usage=_usage(d), overview=ov,
            figure=f"figures/{e.name}", thumb=f"figures/{e.name}_thumb",
            plotted=e.kind == "activation",
        ))
    return dict(version=__version__, functions=functions, accuracy_measured=acc is not None,
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
    import math

    expr = sp.sympify(expr).subs(_defaults(e))
    erf = np.vectorize(math.erf, otypes=[float])
    erfc = np.vectorize(math.erfc, otypes=[float])
    impl = {
        "Sigmoid": lambda z: 0.5 * (1 + np.tanh(np.asarray(z, dtype=float) / 2)),
        "Softplus": lambda z: np.logaddexp(0.0, z),
        "Expm1": np.expm1,
        "Log1p": np.log1p,
        "NormCdf": lambda z: 0.5 * erfc(-np.asarray(z, dtype=float) / math.sqrt(2)),
        "erf": erf, "erfc": erfc,
    }
    from .primitives import StablePrimitive

    # primitives without a NumPy form here are plotted through their textbook formula
    expr = expr.replace(lambda q: isinstance(q, StablePrimitive) and type(q).__name__ not in impl,
                        lambda q: type(q).textbook(q.args[0]))
    fn = sp.lambdify([X], expr, modules=[impl, "numpy"])

    def f(x):
        with np.errstate(all="ignore"):
            return np.broadcast_to(np.asarray(fn(x), dtype=float), np.shape(x)).copy()
    return f


def _periodic(d: DerivedActivation) -> Optional[float]:
    expr = d.entry.expr().subs(_defaults(d.entry))
    if not expr.has(sp.sin, sp.cos):
        return None
    try:
        with time_budget(5.0):
            per = sp.periodicity(expr, X)
    except (_Timeout, Exception):  # noqa: BLE001
        return None
    return float(per) if per is not None else None


def _breakpoints(d: DerivedActivation) -> list[float]:
    expr = sp.piecewise_fold(d.entry.expr().subs(_defaults(d.entry)))
    pts = set()
    for rel in expr.atoms(sp.Rel):
        if rel.has(X):
            sol = sp.solve(sp.Eq(rel.lhs, rel.rhs), X)
            pts |= {float(s) for s in sol if s.is_real and s.is_finite}
    return sorted(pts)


def _window(d: DerivedActivation) -> tuple[float, float]:
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


def _plot_function(d: DerivedActivation, base: Path, ext: str, window=None) -> list[Path]:
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


def _plot_comparison(derived: list[DerivedActivation], path: Path) -> Path:
    import matplotlib
    from matplotlib.figure import Figure

    lo, hi = -4.0, 4.0
    styles = ["-", "--", ":", "-."]
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(7.2, 3.2))
        axes = fig.subplots(1, 2)
        i = 0
        for d in derived:
            if d.entry.kind != "activation" or _periodic(d):
                continue
            bps = [b for b in _breakpoints(d) if lo < b < hi]
            color = f"C{i % 10}"
            ls = styles[(i // 10) % len(styles)]
            grad = next(k for k in d.kernels if k.role == "df/dx")
            for ax, k in ((axes[0], d.kernels[0]), (axes[1], grad)):
                x, y, _ = _curve(_numeric(k.stable, d.entry), lo, hi, bps, n=201)
                ax.plot(x, y, color=color, ls=ls, lw=1.1, label=d.entry.name)
            i += 1
        for ax, title, ylim in ((axes[0], "f(x)", (-2.2, 4.0)), (axes[1], "f'(x)", (-0.3, 1.9))):
            ax.set_title(title)
            ax.set_xlim(lo, hi)
            ax.set_ylim(*ylim)
            ax.set_xlabel("x")
            ax.axhline(0, color="0.3", lw=0.5, zorder=0)
            ax.axvline(0, color="0.3", lw=0.5, zorder=0)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=6.5, handlelength=2.6)
        fig.subplots_adjust(left=0.06, right=0.99, bottom=0.30, top=0.93, wspace=0.18)
        _save(fig, path)
    return path


# ------------------------------------------------------------------------------------------------
# rendering

def _environment(fmt: str):
    """Jinja2 for the docs templates; LaTeX uses ((* *)) / ((( ))) / ((= =)) so its braces stay braces."""
    import jinja2

    from .emit import _templates_dir

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
    return env


def _vector_context(vectors) -> list[dict]:
    """Vector functions: definition with symbolic K, each kernel as derived and as emitted (max-shifted)."""
    from .rowwise import derive_rows

    rows = []
    for fn in vectors:
        kernels = [dict(name=rk.name, vjp=rk.vjp, derived=tex(rk.derived), stable=tex(rk.stable),
                        proof=rk.proof.method) for rk in derive_rows(fn)]
        params = [dict(name=n, default=repr(float(dflt))) for n, dflt, _ in fn.params]
        call = ", ".join(["x", "axis=-1"] + [f"{p['name']}={p['default']}" for p in params])
        rows.append(dict(name=fn.name, summary=fn.summary, source=fn.source, scalar=fn.scalar, params=params,
                         definition=tex(fn.expr()), kernels=kernels, torch=fn.torch or "",
                         usage=f"import numpy as np\nfrom symact.kernels import {fn.name}, {fn.name}_vjp\n"
                               f"y = {fn.name}({call})\n"
                               f"dx = {fn.name}_vjp(x, g, axis=-1)   # g: upstream gradient\n"))
    return rows


def _loss_context(losses) -> list[dict]:
    """Losses: per-element formula, stable form, derivative, reduction and weight semantics."""
    rows = []
    for loss, d in losses:
        names = _symbol_names([k.stable for k in d.kernels] + [d.entry.expr()])
        kernels = [dict(name=k.name, role=k.role, derived=tex(readable(k.textbook), names=names),
                        stable=tex(k.stable, names=names), rules=list(k.rules), proof=k.proof.method)
                   for k in d.kernels]
        params = [dict(name=p.name, default=repr(float(p.value)), doc=p.doc) for p in loss.params]
        args = ", ".join(["x"] + ([loss.second_input] if loss.second_input else []) + ["y"]
                         + [f"{p['name']}={p['default']}" for p in params] + ["reduction='mean'"])
        weight = {None: "", "count": "the number of elements", "weights": "the sum of the weights"}[loss.weight]
        kinds = {"real": "real numbers", "pm1": "labels -1 or +1", "prob": "probabilities in [0, 1]",
                 "nonneg": "non-negative numbers (probabilities)"}
        variants = [dict(flag=v.flag, doc=v.doc, target=kinds[v.target],
                         definition=tex(loss.pointwise(v).expr(), names=names)) for v in loss.variants]
        rows.append(dict(name=loss.name, summary=loss.summary, source=loss.source, target=kinds[loss.target],
                         input=kinds[loss.input_domain] if loss.input_domain != "real" else "",
                         variants=variants, notes=loss.notes, reductions=" / ".join(loss.reductions),
                         plotted=loss.grad,
                         kinks=loss.kinks, params=params, grad=loss.grad, weight=weight,
                         definition=tex(d.entry.expr(), names=names), kernels=kernels,
                         torch=loss.name if loss.pytorch else "",
                         usage=f"from symact.kernels import {loss.name}"
                               + (f", {loss.name}_grad" if loss.grad else "")
                               + f"\nloss = {loss.name}({args})\n"
                               + (f"dx = {loss.name}_grad({args})   # gradient of the reduced loss\n" if loss.grad else "")))
    return rows


def _row_loss_context(row_losses) -> list[dict]:
    """Row losses: the per-row formula of each target kind, every kernel as derived and as emitted."""
    from .row_loss import derive_row_loss

    rows = []
    for loss in row_losses:
        kernels = [dict(name=rk.name, derived=tex(rk.derived), stable=tex(rk.stable), proof=rk.proof,
                        check=rk.check) for rk in derive_row_loss(loss) if not rk.fused]
        args = [a for a, _ in loss.inputs] + ([] if set(loss.formulas) == {"none"} else ["target"])
        grads = ", ".join(n for n, _ in loss.grad_names)
        rows.append(dict(name=loss.name, summary=loss.summary, source=loss.source, note=loss.note,
                         formulas=[dict(target=t, tex=tex(f)) for t, f in loss.formulas.items()],
                         kernels=kernels, torch=loss.name if loss.pytorch else "",
                         usage=f"from symact.kernels import {loss.name}{', ' + grads if grads else ''}\n"
                               f"loss = {loss.name}({', '.join(args)})\n"
                               + "".join(f"d_{a} = {n}({', '.join(args)})\n" for n, a in loss.grad_names)))
    return rows


def render_docs(derived: list[DerivedActivation], fmt: str, out_dir: Path,
                accuracy: Optional[Path] = None, vectors=(), losses=(), row_losses=()) -> list[Path]:
    """Write the reference in ``fmt`` ("latex", "markdown" or "both") into ``out_dir``: the document
    (``reference.tex`` / ``reference.md``) and its figures (``figures/*.pdf`` / ``*.svg``).

    ``accuracy`` is an optional path to the table ``tests/test_accuracy.py`` writes
    (``tests/accuracy_table.md``); without it the docs say accuracy was not measured in this build.
    Returns the files written, sorted. Re-running gives byte-identical files.
    """
    formats = FORMATS if fmt == "both" else (fmt,)
    for f in formats:
        if f not in FORMATS:
            raise DocsError(f"unknown docs format {f!r}; use one of {', '.join(FORMATS)} or both")
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    ctx = build_context(derived, accuracy)
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


def build_pdf(tex_path: Path) -> Path:
    """Compile ``tex_path`` with a real TeX engine; return the PDF. Raises :class:`DocsError` when
    no engine is installed (naming the Debian packages) or when TeX reports an error."""
    tex_path = Path(tex_path).resolve()
    cmd = tex_engine()
    if cmd is None:
        raise DocsError(missing_engine_message())
    env = dict(os.environ, SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH", "0"))
    runs = 1 if cmd[0] == "latexmk" else 2  # pdflatex twice: the table of contents and references
    for _ in range(runs):
        proc = subprocess.run(cmd + [tex_path.name], cwd=tex_path.parent, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        if proc.returncode != 0:
            log = tex_path.with_suffix(".log")
            tail = "\n".join(proc.stdout.splitlines()[-25:])
            raise DocsError(f"{cmd[0]} failed on {tex_path} (exit {proc.returncode}); see {log}:\n{tail}")
    pdf = tex_path.with_suffix(".pdf")
    if not pdf.is_file():
        raise DocsError(f"{cmd[0]} ran but wrote no {pdf}")
    return pdf
