"""The symact command line: generate, list, show, check, docs (``symact --help``)."""
from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "generated"

DESCRIPTION = """\
Activation functions and losses, derived and proven with SymPy and emitted as Numba kernels.
Run `symact COMMAND --help` for the options of a command."""

EPILOG = """\
exit status (every command):
  0    ok
  1    a check or proof failed (nothing was written)
  2    bad usage or input: unknown name, bad expression, unusable output path
  130  interrupted (Ctrl-C); the previous output is intact
Errors are one line, `symact: ...`; --debug adds the Python traceback (same exit status).

derivation cache: results of derivations and proofs are kept in $SYMACT_CACHE_DIR, else
$XDG_CACHE_HOME/symact, else ~/.cache/symact, keyed by each entry's definition and symact's source,
so `show`, `check` and `docs` after a `generate` reuse them; --no-cache or SYMACT_CACHE=0 turns it off."""

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad usage or input (exit status 2); the message says what was wrong."""


def _unknown(names: list[str]) -> UsageError:
    """An error for names not in the catalog, each with its closest catalog names ("did you mean")."""
    from .build import all_names

    known = all_names()
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        parts.append(f"unknown function {name!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    return UsageError(f"{'; '.join(parts)}; `symact list` shows the catalog")


def _check_names(names: list[str] | None) -> None:
    from .build import all_names

    unknown = [n for n in (names or []) if n not in all_names()]
    if unknown:
        raise _unknown(unknown)


def _entries(only: list[str] | None):
    from .catalog import all_entries

    entries = all_entries()
    if not only:
        return entries
    _check_names(only)
    return [e for e in entries if e.name in only]


def cmd_generate(args) -> int:
    from .atomic import plan, write_atomically
    from .build import build

    if args.target != "numba":
        return _generate_target(args)
    out = Path(args.out or DEFAULT_OUT)
    if args.only and out.resolve() == DEFAULT_OUT:
        raise UsageError("--only would drop the other entries from the built-in generated/ "
                         "(which a test keeps in sync); give --out DIR for a partial package")
    _check_names(args.only)
    plan(out)  # an unusable or foreign directory is refused now, not after minutes of work
    t0 = time.perf_counter()
    result = build(args.only, package_hint="symact.kernels" if out.resolve() == DEFAULT_OUT else out.resolve().name,
                   docs=not args.no_docs)
    if result.failures:
        for p in result.failures:
            print(f"symact: proof failed: {p.name}: {p.method}", file=sys.stderr)
        print("symact: nothing written; the previous output is intact", file=sys.stderr)
        return FAILED
    inside = _cwd_inside(out)
    write_atomically(result.files, out)
    from .build import plural

    print(f"symact: wrote {plural(result.kernels, 'kernel')} for {plural(result.functions, 'function')} "
          f"to {out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    _note_new_directory(out, inside)
    return OK


def _generate_target(args) -> int:
    """`generate --target torch|jax --out DIR`: a framework package (no docs; generated/ stays numba's)."""
    from .atomic import plan, write_atomically
    from .build import plural
    from .codegen import build_target

    if not args.out:
        raise UsageError(f"--target {args.target} needs --out DIR (the default generated/ is the numba package "
                         "symact.kernels)")
    out = Path(args.out)
    if out.resolve() == DEFAULT_OUT:
        raise UsageError(f"--target {args.target} cannot write generated/ (the numba package symact.kernels); "
                         "give another --out DIR")
    _check_names(args.only)
    plan(out)
    t0 = time.perf_counter()
    result = build_target(args.target, args.only, package_hint=out.resolve().name)
    if result.failures:
        for p in result.failures:
            print(f"symact: proof failed: {p.name}: {p.method}", file=sys.stderr)
        print("symact: nothing written; the previous output is intact", file=sys.stderr)
        return FAILED
    inside = _cwd_inside(out)
    write_atomically(result.files, out)
    print(f"symact: wrote the {args.target} package for {plural(result.functions, 'function')} to {out} "
          f"in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    _note_new_directory(out, inside)
    return OK


def _note_new_directory(out: Path, inside: bool) -> None:
    if inside:  # the swap replaced the directory a shell may be in (--out .)
        print(f"symact: note: {out} is a new directory now; a shell inside it still sees the old one: "
              'run `cd "$PWD"`', file=sys.stderr)


def _cwd_inside(out: Path) -> bool:
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        return False
    out = out.resolve()
    return cwd == out or out in cwd.parents


def _call_arguments(e) -> list[str]:
    """The keyword arguments of an entry's generated function, as `symact list` shows them."""
    from .catalog import Activation
    from .catalog.losses import Loss
    from .catalog.vectors import VectorFunction

    params = [f"{p.name}={p.default}" + (" (learnable)" if p.learnable else "") for p in e.kernel_params]
    if isinstance(e, Activation):
        return params
    if isinstance(e, VectorFunction):
        return ["axis=-1"] + params
    if isinstance(e, Loss):
        return params + ["reduction='mean'"] + [f"{f.name}={f.default}" for f in e.flags]
    return (([] if e.formulas.keys() == {"none"} else ["target"]) + params  # a row loss
            + (["weight=None"] if e.weight else []) + (["ignore_index=-100"] if e.ignore_index else [])
            + (["axis=-1", "base=None", "reduction='none'"] if e.axis_arg else ["reduction='mean'"]))


def cmd_list(args) -> int:
    from .catalog import entries

    for e in entries():
        print(f"{e.name:<34} {e.kind:<11} {', '.join(_call_arguments(e)) or '-':<52} {e.summary}")
    return 0


def cmd_show(args) -> int:
    import sympy as sp

    from .catalog import get
    from .derive.scalar import derive

    try:
        e = get(args.name)
    except KeyError:
        if _show_vector_or_loss(args.name):
            return OK
        raise _unknown([args.name]) from None
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
    from .derive.properties import format_properties, properties

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
        from .stabilize.rowwise import derive_rows

        print(f"{name} (vector, along an axis): {vector.summary}")
        print(f"  source:      {vector.source}")
        print(f"  definition:  {sp.sstr(vector.expr())}   (K classes, symbolic)")
        if vector.layout.parts > 1:
            print(f"  layout:      {vector.layout.name}: output j < K/{vector.layout.parts}; the vjp has the row's K, "
                  f"in blocks (Blocks); checked at K = {', '.join(map(str, vector.layout.sizes))}")
        for rk in derive_rows(vector):
            print(f"  {rk.name}")
            print(f"      derived:  {sp.sstr(rk.textbook)}")
            print(f"      emitted:  {sp.sstr(rk.stable)}")
            print(f"      proof:    {rk.proof.method}")
            print(f"      checked:  {rk.check}")
        return True
    if loss is not None:
        d = loss.derive()
        print(f"{name} (loss, per element): {loss.summary}")
        print(f"  source:      {loss.source}")
        print(f"  per element: {sp.sstr(loss.pointwise().expr())}")
        for p in loss.params:
            print(f"  param {p.name} = {p.default}: {p.doc}")
        for f in loss.flags:
            print(f"  flag {f.name} = {f.default}: {f.name}={not f.default}: {f.doc}")
        for v in loss.variants:
            print(f"  with {', '.join(f'{n}={on}' for n, on in v.values)}: {sp.sstr(loss.pointwise(v).expr())}"
                  f"   (kernels {loss.pointwise(v).name}*)")
        print(f"  kinks:       {loss.kinks}")
        for k in d.kernels:
            print(f"  {k.name}  ({k.role})")
            print(f"      derived:  {sp.sstr(k.textbook)}")
            print(f"      stable:   {sp.sstr(k.stable)}   [rewrites: {', '.join(k.rules) or 'none needed'}]")
            print(f"      proof:    {k.proof.method}")
        return True
    if row is not None:
        from .derive.row_loss import derive_row_loss

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
                print(f"  {rk.name}: {rk.proof.method}, in one pass over each row")
                continue
            print(f"  {rk.name}")
            print(f"      derived:  {sp.sstr(rk.textbook)}")
            print(f"      emitted:  {sp.sstr(rk.stable)}")
            print(f"      proof:    {rk.proof.method}")
            if rk.wrt is not None:
                print(f"      checked:  {rk.check}")
        return True
    return False


def cmd_check(args) -> int:
    import json

    from .build import plural
    from .verify.check import run

    _check_names(args.names)
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
        print(f"\n{len(results) - len(failed)}/{len(results)} proved "
              f"({', '.join(plural(v, k) for k, v in kinds.items())}); "
              f"{numeric} by numeric check; {time.perf_counter() - t0:.1f} s")
    return FAILED if failed else OK


def cmd_docs(args) -> int:
    from .atomic import plan, replace_file, write_atomically
    from .build import plural
    from .docs import DocsError, build_pdf, missing_engine_message, render_docs, tex_engine

    if args.pdf and args.format == "markdown":
        raise UsageError("--pdf builds the LaTeX reference; use --format latex (or no --format)")
    if args.pdf and tex_engine() is None:  # say so before the work, not after
        raise UsageError(missing_engine_message())
    accuracy = Path(args.accuracy) if args.accuracy else None
    if accuracy is not None and not accuracy.is_file():
        raise UsageError(f"--accuracy {accuracy}: no such file")
    out = Path(args.out)
    plan(out)  # an unusable or foreign directory is refused now, not after the work
    from .catalog import entries

    t0 = time.perf_counter()
    todo = entries()
    derived = []
    for i, e in enumerate(todo, 1):
        derived.append(e.derive())
        print(f"[{i:2d}/{len(todo)}] {e.name}", file=sys.stderr, flush=True)
    failures = [f for d in derived for f in d.failures]
    for f in failures:  # documented as proven: so nothing is written unless everything is
        print(f"symact: proof failed: {f.name}: {f.method}", file=sys.stderr)
    if failures:
        return FAILED
    try:
        with tempfile.TemporaryDirectory() as tmp:  # rendered and built aside; only the results are copied
            render_docs(derived, args.format, Path(tmp), accuracy=accuracy)
            files = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*"))
                     if p.is_file()}
            pdf = build_pdf(Path(tmp) / "reference.tex").read_bytes() if args.pdf else None
    except DocsError as exc:
        print(f"symact: {exc}", file=sys.stderr)
        return FAILED
    inside = _cwd_inside(out)
    write_atomically(files, out, merge=True)  # keeps the other format's files, and the user's
    if pdf is not None:
        replace_file(pdf, out / "reference.pdf")
    docs = sorted(f for f in files if f.startswith("reference")) + (["reference.pdf"] if pdf is not None else [])
    print(f"symact: wrote {', '.join(docs)} and {plural(len(files) - len(docs) + (pdf is not None), 'figure')} "
          f"to {out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    _note_new_directory(out, inside)
    return OK


def _user_options() -> argparse.ArgumentParser:
    """--spec/--define, shared by the commands that read the catalog."""
    user = argparse.ArgumentParser(add_help=False)
    user.add_argument("--spec", action="append", metavar="FILE", default=[],
                      help="a Python file with ACTIVATIONS (and IDENTITIES) in the catalog API")
    user.add_argument("--define", action="append", metavar="'NAME(p=1) = EXPR'", default=[],
                      help="one activation as an expression in x, parsed safely (never executed)")
    user.add_argument("--no-cache", action="store_true", default=argparse.SUPPRESS,
                      help="derive everything afresh: neither read nor write the derivation cache "
                           "(also SYMACT_CACHE=0)")
    user.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                      help="show the Python traceback of an error (the exit status stays the same)")
    return user


def _load_user(args) -> None:
    """Validate and register the user's definitions; SpecError on anything wrong."""
    from .build import produced_names
    from .catalog import register
    from .codegen.emit import kernel_names
    from .userspec import SpecError, load_spec, parse_define, validate

    entries, identities = [], []
    for path in getattr(args, "spec", []):
        acts, idents = load_spec(path)
        entries += acts
        identities += idents
    entries += [parse_define(text) for text in getattr(args, "define", [])]
    if not entries and not identities:
        return
    taken = produced_names()  # every kernel name of the built-in catalog, and then of each entry before
    for e in entries:
        validate(e, taken)
        taken.update({n: f"your --define/--spec {e.name!r}" if n == e.name
                      else f"a kernel of your --define/--spec {e.name!r}" for n in kernel_names(e)})
    from .catalog.identities import Extremum, Identity, Limit

    for i in identities:
        if not isinstance(i, (Identity, Limit, Extremum)):
            raise SpecError(f"IDENTITIES holds {i!r}, not an Identity, Limit or Extremum")
    register(entries, identities)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="symact", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"symact {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    user = _user_options()

    def command(name, help_, description=None):
        return sub.add_parser(name, help=help_, description=description or help_[0].upper() + help_[1:] + ".",
                              parents=[user], epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)

    g = command("generate", "derive, prove and emit kernels and docs into a package")
    g.add_argument("--target", choices=("numba", "torch", "jax"), default="numba",
                   help="backend: numba (default: kernels and docs, symact.kernels), or a self-contained PyTorch "
                        "or JAX package with the derived, stable gradients (needs --out)")
    g.add_argument("--out", default=None,
                   help="output directory (default: generated/, numba only). A new or empty directory, or one symact wrote "
                        "(it holds symact-manifest.json): symact replaces only the files it wrote there and keeps "
                        "every other file")
    g.add_argument("--only", nargs="+", metavar="NAME", help="emit only these catalog entries")
    g.add_argument("--no-docs", action="store_true", help="kernels only, no reference docs")
    g.set_defaults(func=cmd_generate)
    command("list", "the catalog: name, kind, parameters, summary").set_defaults(func=cmd_list)
    s = command("show", "definition, derivatives, stable forms and proofs of one entry")
    s.add_argument("name", metavar="NAME")
    s.set_defaults(func=cmd_show)
    c = command("check", "prove every identity and stable form; say how each was proven")
    c.add_argument("names", nargs="*", metavar="NAME", help="only these catalog entries (and identities about them)")
    c.add_argument("--json", action="store_true",
                   help="print the results as one JSON array of objects with the keys name, kind, source, "
                        "status, method, seconds (instead of the table)")
    c.set_defaults(func=cmd_check)
    d = command("docs", "the reference docs: LaTeX, PDF and Markdown, with plots")
    d.add_argument("--format", choices=["latex", "markdown", "both"], default="both", help="default: both")
    d.add_argument("--out", default=str(DEFAULT_OUT / "docs"),
                   help="output directory (default: generated/docs/); as for generate, only files symact wrote "
                        "are replaced")
    d.add_argument("--pdf", action="store_true",
                   help="also build reference.pdf with a TeX engine (latexmk or pdflatex), in a temporary "
                        "directory; only the PDF is copied out")
    from .docs import ACCURACY_TABLE
    d.add_argument("--accuracy", metavar="FILE", default=str(ACCURACY_TABLE) if ACCURACY_TABLE.is_file() else None,
                   help="max-ULP table of tests/test_accuracy.py (default: tests/accuracy_table.md if present)")
    d.set_defaults(func=cmd_docs)
    return parser


def _error(message: str, status: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"symact: {message}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 a check failed, 2 bad usage or input, 130 Ctrl-C)."""
    from . import cache
    from .atomic import OutputError
    from .catalog import clear_user
    from .userspec import SpecError

    args = build_parser().parse_args(argv)  # usage errors: argparse's message, exit status 2
    debug = args.debug
    cache.configure(enabled=not getattr(args, "no_cache", False), debug=debug)
    try:
        try:
            os.getcwd()
        except FileNotFoundError:  # e.g. a shell left inside a directory that `--out .` replaced
            raise UsageError('the current directory no longer exists (replaced or removed); run `cd "$PWD"` '
                             "or change to another directory, and run again") from None
        _load_user(args)
        return args.func(args)
    except (SpecError, UsageError, OutputError) as exc:
        return _error(str(exc), USAGE, debug)
    except KeyboardInterrupt:
        return _error("interrupted; any previous output is intact", INTERRUPTED, debug)
    except BrokenPipeError:  # `symact show softmax | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK
    except OSError as exc:  # the file system refused: an unusable path
        where = f": {exc.filename}" if exc.filename else ""
        return _error(f"{exc.strerror or exc}{where}", USAGE, debug)
    except Exception as exc:  # noqa: BLE001 - a bug in symact: one line, the traceback with --debug
        return _error(f"internal error: {type(exc).__name__}: {exc}"
                      + ("" if debug else " (run again with --debug for the traceback)"), FAILED, debug)
    finally:
        clear_user()
        cache.configure()
