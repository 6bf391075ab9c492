"""Render a framework package (torch or JAX) from the derived catalog: contexts for the templates.

The contexts are the same for both frameworks (argument lists, kernels printed by the backend's
printer, front-end facts); the templates in ``templates/<target>/`` hold the structure.
"""
from __future__ import annotations

import dataclasses

import sympy as sp

from .. import __version__
from .params import param_contexts
from .source import Derived, derive_entry
from .tensor import elementwise_kernel, row_kernel

TARGETS = ("torch", "jax")


def backend_module(target: str):
    if target == "torch":
        from . import torch as mod
    elif target == "jax":
        from . import jax as mod
    else:
        raise ValueError(f"unknown target {target!r}; one of numba, {', '.join(TARGETS)}")
    return mod


def _elementwise_context(d: Derived, backend, prefix: str, args: list[str], tensors, scalars, constants) -> list[dict]:
    """The value kernel and each gradient kernel of an elementwise entry (or a loss variant)."""
    kernels = []
    items = [("value", d.value)] + [(f"grad_{arg}", e) for arg, e in d.grads.items()]
    for role, e in items:
        e = dataclasses.replace(e, stable=e.stable.subs(constants),
                                at_inf=tuple(None if v is None else v.subs(constants) for v in e.at_inf))
        k = elementwise_kernel(f"_{prefix}_{role}", e, backend, args, tensors, scalars)
        k["role"] = role
        kernels.append(k)
    return kernels


def activation_context(entry, backend) -> dict:
    d = derive_entry(entry)
    params = param_contexts(entry.kernel_params)
    args = ["x"] + [p["name"] for p in params]
    tensors = {"x"} | {p["name"] for p in params if p["learnable"]}
    scalars = {p["name"] for p in params if not p["learnable"]}
    kernels = _elementwise_context(d, backend, entry.name, args, tensors, scalars, entry.constants())
    return {"entry": entry, "name": entry.name, "params": params, "args": args, "kernels": kernels,
            "value": kernels[0], "grads": kernels[1:], "definition": sp.sstr(entry.expr()),
            "learnable": [p for p in params if p["learnable"]], "fixed": [p for p in params if not p["learnable"]]}


def loss_context(loss, backend) -> dict:
    d = derive_entry(loss)
    params = param_contexts(loss.params)
    args = ["x"] + ([loss.second_input] if loss.second_input else []) + ["target"] + [p["name"] for p in params]
    tensors = {"x", "target"} | ({loss.second_input} if loss.second_input else set())
    scalars = {p["name"] for p in params}
    defaults = {f.name: f.default for f in loss.flags}
    forms = []
    for v in loss.combinations():  # the defaults first, then each other combination of the loss's flags
        forms.append({"suffix": v.suffix, "target": v.target, "input_domain": v.input_domain, "doc": v.doc,
                      "condition": f"flags == {v.key!r}",
                      "keywords": ", ".join(f"{n}={on}" for n, on in v.values if on != defaults[n]),
                      "title": v.suffix.replace("_", " ").title().replace(" ", ""),
                      "formula": sp.sstr(loss.pointwise(v if v.suffix else None).expr()),
                      "kernels": _elementwise_context(d.variants[v.suffix] if v.suffix else d, backend,
                                                      f"{loss.name}_{v.suffix}" if v.suffix else loss.name, args,
                                                      tensors, scalars, {})})
    for f in forms:
        f["value"], f["grads"] = f["kernels"][0], f["kernels"][1:]
    return {"entry": loss, "name": loss.name, "params": params, "args": args, "forms": forms,
            "flags": loss.flags, "input_kinds": any(f["input_domain"] != loss.input_domain for f in forms),
            "second": loss.second_input, "mean_by": "weights" if loss.weight == "weights" else "count"}


def vector_context(fn, backend) -> dict:
    d = derive_entry(fn)
    params = param_contexts(fn.params)
    names = [p["name"] for p in params]
    value = row_kernel(f"_{fn.name}_value", d.value, backend, ["x"] + names, {"x"}, set(), set(names),
                       layout=fn.layout)
    per_row = {"g"} if fn.scalar else set()
    vjp = row_kernel(f"_{fn.name}_vjp", d.grads["x"], backend, ["x", "g"] + names, {"x", "g"} - per_row, per_row,
                     set(names), layout=fn.layout)
    return {"entry": fn, "name": fn.name, "params": params, "value": value, "vjp": vjp, "scalar": fn.scalar,
            "grouped": fn.grouped, "parts": fn.layout.parts, "sizes": ", ".join(map(str, fn.layout.sizes)),
            "definition": sp.sstr(fn.expr())}


_TARGET_SYMBOL = {"label": "y", "pm1": "s", "prob": "t", "mask": "t", "none": None}


def row_loss_context(loss, backend) -> dict:
    d = derive_entry(loss)
    params = param_contexts(loss.params)
    bases = [base.name for _, base in loss.inputs]
    names = [p["name"] for p in params]
    forms = []
    for target, td in d.targets.items():
        tsym = _TARGET_SYMBOL[target]
        args = bases + ([tsym] if tsym else []) + (["w"] if loss.weight else []) + names
        per_row = {tsym} if tsym in ("y", "s") else set()
        tensors = set(bases) | ({"t"} if tsym == "t" else set())
        value = row_kernel(f"_{loss.name}_{target}_value", td.value, backend, args, tensors, per_row, set(names),
                           like=bases[0])
        grads = [dict(row_kernel(f"_{loss.name}_{target}_grad_{arg}", td.grads[arg], backend, args, tensors,
                                 per_row, set(names), like=bases[0]), arg=arg,
                      position=[a for a, _ in loss.inputs].index(arg))
                 for arg, _ in loss.inputs if arg in td.grads]
        forms.append({"target": target, "symbol": tsym, "args": args, "value": value, "grads": grads,
                      "formula": sp.sstr(loss.formulas[target])})
    return {"entry": loss, "name": loss.name, "params": params, "inputs": [a for a, _ in loss.inputs],
            "bases": bases, "forms": {f["target"]: f for f in forms}, "form_list": forms}


def _stamp(target: str, what: str) -> str:
    return (f"# @generated by symact {__version__} {what}. Do not edit: run "
            f"`symact generate --target {target}`.")


def _contexts() -> dict:
    """What differs per kind, in one table: {entry class: (template, context builder)}."""
    from ..catalog import Activation
    from ..catalog.losses import Loss
    from ..catalog.row_losses import RowLoss
    from ..catalog.vectors import VectorFunction

    return {Activation: ("activation.py.j2", activation_context), VectorFunction: ("vector.py.j2", vector_context),
            Loss: ("loss.py.j2", loss_context), RowLoss: ("row_loss.py.j2", row_loss_context)}


def render_target(target: str, entries, package_hint: str) -> dict[str, str]:
    """Every file of a ``--target torch|jax`` package from catalog entries of any kind: {relative path: text}."""
    from .emit import RUNTIME, _environment

    mod = backend_module(target)
    env = _environment()
    env.globals["module_name"] = mod.module_name
    env.filters["pytuple"] = lambda seq: repr(tuple(seq))
    files: dict[str, str] = {}
    index = []

    def render(template, ctx, sub, entry_name):
        what = f"from catalog entry {entry_name!r} via templates/{target}/{template}"
        text = env.get_template(f"{target}/{template}").render(
            stamp=_stamp(target, what), version=__version__, target=target, support=mod.SUPPORT,
            cls=mod.module_name(entry_name), **ctx)
        files[f"{sub}/{entry_name}.py"] = text
        exports = _top_level_public(text)
        index.extend((name, f"{sub}.{entry_name}") for name in exports)

    contexts = _contexts()
    for e in sorted(entries, key=lambda e: e.name):
        template, context = next(v for cls, v in contexts.items() if isinstance(e, cls))
        render(template, context(e, mod.BACKEND), e.package, e.name)
    for sub, doc in (("activations", "Elementwise activations"), ("vectors", "Vector functions along an axis"),
                     ("losses", "Losses with PyTorch semantics")):
        if any(m.startswith(sub + ".") for _, m in index):
            files[f"{sub}/__init__.py"] = f'"""{doc} (generated by symact, --target {target})."""\n'
    runtime = (RUNTIME / f"{target}_runtime.py").read_text(encoding="utf-8")
    files["_runtime.py"] = _stamp(target, f"from symact/runtime/{target}_runtime.py") + "\n" + runtime
    files["_checks.py"] = (_stamp(target, "from symact/runtime/_checks.py") + "\n"
                           + (RUNTIME / "_checks.py").read_text(encoding="utf-8"))
    names = [n for n, _ in index]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"the {target} package would define {', '.join(dup)} twice")
    files["__init__.py"] = env.get_template(f"{target}/package_init.py.j2").render(
        stamp=_stamp(target, f"from templates/{target}/package_init.py.j2"), version=__version__,
        support=mod.SUPPORT, index=sorted(index), package_hint=package_hint,
        count=len({m for _, m in index}))
    return files


def _top_level_public(text: str) -> list[str]:
    """The names a generated module lists in ``__all__``."""
    import ast

    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise ValueError("a generated module without __all__")
