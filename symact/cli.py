"""The ``symact`` command line: generate, list, show."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "generated"


def _entries(only: list[str] | None):
    from .catalog import all_entries

    entries = all_entries()
    if not only:
        return entries
    names = {e.name for e in entries}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise SystemExit(f"symact: unknown function(s) {', '.join(unknown)}; `symact list` shows the catalog")
    return [e for e in entries if e.name in only]


def cmd_generate(args) -> int:
    from .atomic import write_atomically
    from .build import all_names, build

    if args.only and Path(args.out).resolve() == DEFAULT_OUT:
        print("symact: --only would drop the other entries from the built-in generated/ "
              "(which a test keeps in sync); give --out DIR for a partial package", file=sys.stderr)
        return 2
    unknown = [n for n in (args.only or []) if n not in all_names()]
    if unknown:
        raise SystemExit(f"symact: unknown function(s) {', '.join(unknown)}; `symact list` shows the catalog")
    out = Path(args.out)
    t0 = time.perf_counter()
    result = build(args.only, package_hint="symact.kernels" if out.resolve() == DEFAULT_OUT else out.name,
                   docs=not args.no_docs)
    if result.failures:
        for p in result.failures:
            print(f"symact: proof failed: {p.name}: {p.method}", file=sys.stderr)
        print("symact: nothing written; the previous output is intact", file=sys.stderr)
        return 1
    write_atomically(result.files, out)
    print(f"symact: wrote {result.kernels} kernels for {result.functions} functions "
          f"to {out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


def cmd_list(args) -> int:
    from .catalog.losses import LOSSES
    from .catalog.row_losses import ROW_LOSSES
    from .catalog.vectors import VECTORS

    rows = [(e.name, e.kind, ", ".join(f"{p.name}={p.default}" + (" (learnable)" if p.learnable else "")
                                       for p in e.kernel_params)) for e in _entries(None)]
    rows += [(v.name, "vector", ", ".join(["axis=-1"] + [f"{n}={d}" for n, d, _ in v.params])) for v in VECTORS]
    rows += [(loss.name, "loss", ", ".join([f"{p.name}={p.default}" for p in loss.params] + ["reduction='mean'"]
                                           + [f"{v.flag}=False" for v in loss.variants]))
             for loss in LOSSES]
    rows += [(r.name, "loss", ", ".join(([] if r.formulas.keys() == {"none"} else ["target"])
                                        + [f"{p.name}={p.default}" for p in r.params]
                                        + (["weight=None"] if r.weight else [])
                                        + (["ignore_index=-100"] if r.ignore_index else [])
                                        + (["axis=-1", "base=None", "reduction='none'"] if r.axis_arg
                                           else ["reduction='mean'"])))
             for r in ROW_LOSSES]
    summaries = {e.name: e.summary for e in _entries(None)}
    summaries |= {v.name: v.summary for v in VECTORS} | {loss.name: loss.summary for loss in LOSSES}
    summaries |= {r.name: r.summary for r in ROW_LOSSES}
    for name, kind, params in rows:
        print(f"{name:<34} {kind:<11} {params or '-':<52} {summaries[name]}")
    return 0


def cmd_show(args) -> int:
    import sympy as sp

    from .catalog import get
    from .derive import derive

    try:
        e, unknown = get(args.name), None
    except KeyError as exc:
        e, unknown = None, exc.args[0]
    if e is None:
        if _show_vector_or_loss(args.name):
            return 0
        print(f"symact: {unknown}", file=sys.stderr)
        return 2
    d = derive(e)
    print(f"{e.name} ({e.kind}): {e.summary}")
    print(f"  source:      {e.source}")
    print(f"  definition:  {sp.sstr(e.expr())}")
    if e.written_expr() is not None:
        print(f"  as written:  {sp.sstr(e.written_expr())}")
    for p in e.params:
        flags = [f for f, on in (("learnable", p.learnable), ("constant", p.constant), ("> 0", p.positive)) if on]
        print(f"  param {p.name} = {p.default}{' [' + ', '.join(flags) + ']' if flags else ''}: {p.doc}")
    print(f"  kinks:       {e.kinks}")
    for k in d.kernels:
        print(f"  {k.name}  ({k.role})")
        print(f"      derived:  {sp.sstr(k.textbook)}")
        print(f"      stable:   {sp.sstr(k.stable)}   [rewrites: {', '.join(k.rules) or 'none needed'}]")
        print(f"      proof:    {k.proof.method} ({k.proof.seconds * 1000:.0f} ms)")
        lim = ", ".join(f"{s}inf -> {v}" for s, v in zip("+-", k.at_inf) if v is not None)
        if lim:
            print(f"      limits:   {lim}")
        if k.note:
            print(f"      accuracy: {k.note}")
    if d.no_from_output:
        print(f"  no derivative from the output: {d.no_from_output}")
    from .properties import format_properties, properties

    print("  properties:")
    for line in format_properties(properties(e, d)):
        print(f"    {line}")
    for p in d.proofs:
        print(f"  identity: {p.name}: {p.status} ({p.method})")
    return 0


def _show_vector_or_loss(name: str) -> bool:
    """`symact show` for a vector function, a pointwise loss or a row loss; False if none is called so."""
    import sympy as sp

    from .catalog.losses import LOSSES
    from .catalog.row_losses import ROW_LOSSES
    from .catalog.vectors import VECTORS

    vector = next((v for v in VECTORS if v.name == name), None)
    loss = next((v for v in LOSSES if v.name == name), None)
    row = next((v for v in ROW_LOSSES if v.name == name), None)
    if vector is not None:
        from .rowwise import derive_rows

        print(f"{name} (vector, along an axis): {vector.summary}")
        print(f"  source:      {vector.source}")
        print(f"  definition:  {sp.sstr(vector.expr())}   (K classes, symbolic)")
        for rk in derive_rows(vector):
            print(f"  {rk.name}")
            print(f"      derived:  {sp.sstr(rk.derived)}")
            print(f"      emitted:  {sp.sstr(rk.stable)}")
            print(f"      proof:    {rk.proof.method}")
        return True
    if loss is not None:
        d = loss.derive()
        print(f"{name} (loss, per element): {loss.summary}")
        print(f"  source:      {loss.source}")
        print(f"  per element: {sp.sstr(d.entry.expr())}")
        for p in loss.params:
            print(f"  param {p.name} = {p.default}: {p.doc}")
        print(f"  kinks:       {loss.kinks}")
        for k in d.kernels:
            print(f"  {k.name}  ({k.role})")
            print(f"      derived:  {sp.sstr(k.textbook)}")
            print(f"      stable:   {sp.sstr(k.stable)}   [rewrites: {', '.join(k.rules) or 'none needed'}]")
            print(f"      proof:    {k.proof.method}")
        return True
    if row is not None:
        from .row_loss import derive_row_loss

        print(f"{name} (loss, per row): {row.summary}")
        print(f"  source:      {row.source}")
        if row.note:
            print(f"  note:        {row.note}")
        for target, f in row.formulas.items():
            print(f"  per row ({target} target): {sp.sstr(f)}")
        for p in row.params:
            print(f"  param {p.name} = {p.default}: {p.doc}")
        for rk in derive_row_loss(row):
            if rk.fused:
                print(f"  {rk.name}: {rk.proof}, in one pass over each row")
                continue
            print(f"  {rk.name}")
            print(f"      derived:  {sp.sstr(rk.derived)}")
            print(f"      emitted:  {sp.sstr(rk.stable)}")
            print(f"      proof:    {rk.proof}")
            if rk.wrt is not None:
                print(f"      checked:  {rk.check}")
        return True
    return False


def cmd_check(args) -> int:
    import json

    from .verify import run

    if args.names:
        from .build import all_names

        unknown = [n for n in args.names if n not in all_names()]
        if unknown:  # a clear error
            raise SystemExit(f"symact: unknown function(s) {', '.join(unknown)}; `symact list` shows the catalog")
    t0 = time.perf_counter()
    results = run(args.names)
    failed = [r for r in results if r.status != "proved"]
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=1))
    else:
        width = max(len(r.name) for r in results)
        for r in results:
            mark = "ok  " if r.status == "proved" else "FAIL"
            print(f"{mark} {r.name:<{width}}  {r.kind:<11} {r.source.split(' (')[0][:12]:<12} "
                  f"{r.seconds * 1000:5.0f} ms  {r.method}")
        kinds = {k: sum(r.kind == k for r in results) for k in sorted({r.kind for r in results})}
        numeric = sum(r.method.startswith("numeric") for r in results)
        print(f"\n{len(results) - len(failed)}/{len(results)} proved ({', '.join(f'{v} {k}' for k, v in kinds.items())}); "
              f"{numeric} by numeric check; {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


def cmd_docs(args) -> int:
    from .derive import derive
    from .docs import DocsError, build_pdf, missing_engine_message, render_docs, tex_engine

    if args.pdf and args.format == "markdown":
        print("symact: --pdf builds the LaTeX reference; use --format latex (or no --format)", file=sys.stderr)
        return 2
    if args.pdf and tex_engine() is None:  # say so before the work, not after
        print(f"symact: {missing_engine_message()}", file=sys.stderr)
        return 3
    entries = _entries(None)
    t0 = time.perf_counter()
    derived = []
    for i, e in enumerate(entries, 1):
        derived.append(derive(e))
        print(f"[{i:2d}/{len(entries)}] {e.name}", file=sys.stderr, flush=True)
    from .catalog.losses import LOSSES
    from .catalog.row_losses import ROW_LOSSES
    from .catalog.vectors import VECTORS

    losses = [(loss, loss.derive()) for loss in LOSSES]
    accuracy = Path(args.accuracy) if args.accuracy else None
    try:
        files = render_docs(derived, args.format, Path(args.out), accuracy=accuracy, vectors=VECTORS,
                            losses=losses, row_losses=ROW_LOSSES)
        if args.pdf:
            files.append(build_pdf(Path(args.out) / "reference.tex"))
    except DocsError as exc:
        print(f"symact: {exc}", file=sys.stderr)
        return 1
    docs = [str(f) for f in files if f.stem == "reference"]
    print(f"symact: wrote {', '.join(docs)} and {len(files) - len(docs)} figures in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


def _user_options() -> argparse.ArgumentParser:
    """--spec/--define, shared by the commands that read the catalog."""
    user = argparse.ArgumentParser(add_help=False)
    user.add_argument("--spec", action="append", metavar="FILE", default=[],
                      help="a Python file with ACTIVATIONS (and IDENTITIES) in the catalog API")
    user.add_argument("--define", action="append", metavar="'NAME(p=1) = EXPR'", default=[],
                      help="one activation as an expression in x, parsed safely (never executed)")
    user.add_argument("--debug", action="store_true", help="show Python tracebacks")
    return user


def _load_user(args) -> None:
    """Validate and register the user's definitions; SpecError on anything wrong."""
    from .catalog import builtin_names, register
    from .userspec import SpecError, load_spec, parse_define, validate

    entries, identities = [], []
    for path in getattr(args, "spec", []):
        acts, idents = load_spec(path)
        entries += acts
        identities += idents
    entries += [parse_define(text) for text in getattr(args, "define", [])]
    taken = set(builtin_names())
    for e in entries:
        validate(e, taken)
        taken.add(e.name)
    from .catalog.identities import Extremum, Identity, Limit

    for i in identities:
        if not isinstance(i, (Identity, Limit, Extremum)):
            raise SpecError(f"IDENTITIES holds {i!r}, not an Identity, Limit or Extremum")
    register(entries, identities)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symact", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    user = _user_options()
    _add_parser = sub.add_parser
    sub.add_parser = lambda *a, **k: _add_parser(*a, parents=[user], **k)  # every command takes them
    g = sub.add_parser("generate", help="derive, prove and emit kernels into a package directory")
    g.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (default: generated/)")
    g.add_argument("--only", nargs="+", metavar="NAME", help="emit only these catalog entries")
    g.add_argument("--no-docs", action="store_true", help="kernels only, no reference docs")
    g.set_defaults(func=cmd_generate)
    sub.add_parser("list", help="the catalog").set_defaults(func=cmd_list)
    c = sub.add_parser("check", help="prove every identity, stable rewrite and derivative; say how")
    c.add_argument("names", nargs="*", metavar="NAME", help="only these catalog entries (and identities about them)")
    c.add_argument("--json", action="store_true", help="one JSON object per result")
    c.set_defaults(func=cmd_check)
    s = sub.add_parser("show", help="definition, derivatives, stable form and proofs of one entry")
    s.add_argument("name")
    s.set_defaults(func=cmd_show)
    d = sub.add_parser("docs", help="the reference docs: LaTeX (optionally built to PDF) and Markdown, with plots")
    d.add_argument("--format", choices=["latex", "markdown", "both"], default="both", help="default: both")
    d.add_argument("--out", default=str(DEFAULT_OUT / "docs"), help="output directory (default: generated/docs/)")
    d.add_argument("--pdf", action="store_true", help="build reference.pdf with a TeX engine (latexmk or pdflatex)")
    from .docs import ACCURACY_TABLE
    d.add_argument("--accuracy", metavar="FILE", default=str(ACCURACY_TABLE) if ACCURACY_TABLE.is_file() else None,
                   help="max-ULP table of tests/test_accuracy.py (default: tests/accuracy_table.md if present)")
    d.set_defaults(func=cmd_docs)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .catalog import clear_user
    from .userspec import SpecError

    args = build_parser().parse_args(argv)
    try:
        _load_user(args)
        return args.func(args)
    except SpecError as exc:
        if args.debug:
            raise
        print(f"symact: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symact: interrupted; any previous output is intact", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `symact show softmax | head`: the reader left; no traceback
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        clear_user()
