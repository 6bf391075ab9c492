"""Render the derived catalog through the Jinja2 templates and write it atomically.

Output is deterministic (sorted, no timestamps, stamped with the generator version) so a re-run is
byte-identical and a test can compare the committed ``generated/`` with a fresh generation.
Writing goes to a sibling temporary directory that replaces the target only when every file is
written: a failure leaves the previous output intact.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import jinja2
import mpmath
import numpy as np
import sympy as sp

from . import __version__
from .derive import DerivedActivation, Kernel
from .printing import NumbaPrinter, fold_constants, helpers_used, scalar_body


def _templates_dir() -> Path:
    """templates/ of the source tree, or the installed copy (package ``symact._templates``)."""
    here = Path(__file__).resolve().parent.parent / "templates"
    return here if here.is_dir() else Path(str(resources.files("symact._templates")))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_templates_dir())),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["repr"] = repr
    return env


def _const_filter(tag):
    printer = NumbaPrinter(tag)
    return lambda v: printer.const(v)


def _split(value: mpmath.mpf, dtype) -> tuple[float, float]:
    hi = dtype(float(value))
    lo = dtype(float(value - mpmath.mpf(float(hi))))
    return float(hi), float(lo)


def render_runtime(env: jinja2.Environment) -> str:
    with mpmath.workdps(50):
        inv_sqrt2 = 1 / mpmath.sqrt(2)
        his, los = {}, {}
        for tag, dtype in (("f32", np.float32), ("f64", np.float64)):
            his[tag], los[tag] = _split(inv_sqrt2, dtype)
        inv_sqrt_pi = float(1 / mpmath.sqrt(mpmath.pi))
    return env.get_template("runtime.py.j2").render(
        version=__version__,
        dtypes=[("f32", "float32", _const_filter("f32")), ("f64", "float64", _const_filter("f64"))],
        inv_sqrt2_hi=his, inv_sqrt2_lo=los, inv_sqrt_pi=inv_sqrt_pi,
    )


def _default_text(p) -> str:
    v = float(p.value)
    if np.isinf(v):
        return "math.inf" if v > 0 else "-math.inf"
    return repr(v)


def _param_context(p) -> dict:
    return {"name": p.name, "positive": p.positive, "allow_inf": p.allow_inf, "default_text": _default_text(p)}


def _variant(k: Kernel, tag: str, constants: dict) -> dict:
    stable = k.stable.subs(constants)
    printer = NumbaPrinter(tag)
    a = k.arg.name
    guards = [f"if {a} != {a}:  # nan in, nan out (also where a branch or a constant would hide it)",
              f"    return {a}"]
    for value, sign in zip(k.at_inf, ("", "-")):
        if value is not None:
            guards.append(f"if {a} == {sign}math.inf:  # limit at {sign}inf, derived by SymPy")
            guards.append(f"    return {printer.doprint(fold_constants(value.subs(constants)))}")
    assignments, (result,) = scalar_body([stable], tag)
    return {"tag": tag, "guards": guards, "assignments": assignments, "result": result}


def _kernel_context(d: DerivedActivation, k: Kernel) -> dict:
    e = d.entry
    constants = e.constants()
    if k.role == "f":
        doc = f"{e.name}(x): {e.summary}."
    elif k.role == "df/dx":
        doc = f"Derivative of {e.name} with respect to x."
    elif k.arg.name == "y":
        doc = (f"Derivative of {e.name} from its output y = {e.name}(x): what backprop needs when only y "
               f"was kept.\n\n    Accuracy: {k.note}.")
    else:
        doc = (f"Derivative of {e.name} with respect to its parameter {k.role[3:]!r}, elementwise "
               f"(sum over the broadcast axes for the parameter's gradient).")
    names = [p.name for p in e.kernel_params]
    params = k.params if k.params is not None else e.kernel_params
    specs = "_PARAMS" if [p.name for p in params] == names else \
        "(" + "".join(f"_PARAMS[{names.index(p.name)}], " for p in params).rstrip(" ") + ")"
    return {
        "name": k.name, "role": k.role, "doc": doc, "proof": k.proof, "arg": k.arg.name,
        "params": [_param_context(p) for p in params], "specs": specs,
        "stable_text": sp.sstr(k.stable),
        "rules_text": ", ".join(k.rules) or "none needed",
        "variants": [_variant(k, "f32", constants), _variant(k, "f64", constants)],
    }


def render_activation(env: jinja2.Environment, d: DerivedActivation) -> str:
    e = d.entry
    kernels = [_kernel_context(d, k) for k in d.kernels]
    helpers = sorted({h for k in d.kernels for tag in ("f32", "f64") for h in helpers_used([k.stable], tag)})
    params = [_param_context(p) for p in e.kernel_params]
    return env.get_template("activation.py.j2").render(
        version=__version__, entry=e, definition=sp.sstr(e.expr()), kernels=kernels,
        params=params, helpers=helpers,
    )


def render_package(derived: list[DerivedActivation], package_hint: str = "symact.kernels") -> dict[str, str]:
    """All files of the output package, as {relative path: text}."""
    env = _environment()
    files = {"_runtime.py": render_runtime(env),
             "activations/__init__.py": '"""Elementwise activations (generated by symact)."""\n'}
    index = []
    for d in sorted(derived, key=lambda d: d.entry.name):
        files[f"activations/{d.entry.name}.py"] = render_activation(env, d)
        index += [(k.name, f"activations.{d.entry.name}") for k in d.kernels]
    files["__init__.py"] = env.get_template("package_init.py.j2").render(
        version=__version__, index=sorted(index), modules=sorted({m for _, m in index}),
        count=len(index), package_hint=package_hint)
    return files


def write_atomically(files: dict[str, str], out: Path) -> None:
    """Write ``files`` into ``out``, replacing it only once everything is written."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for rel, text in sorted(files.items()):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "previous")
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
