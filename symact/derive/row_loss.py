"""Row losses: derive each per-row gradient, cross-check it, stabilize, prove, lower and render.

For a catalog :class:`~symact.catalog.row_losses.RowLoss` and each of its target kinds, the per-row
loss L and its gradient ∂L/∂b_i for every input row b are derived by SymPy with a symbolic row
length K (Kronecker deltas reduced as for the vector functions). Every general-K gradient is compared
with plain differentiation of the explicit K = 2, 3, 4 formula, at every index and every label, so a
wrong reduction cannot pass. Σe^{x} terms are max-shifted (``rowwise.stabilize_row``), sums of
squares, products and p-th powers max-scaled (``rowscale.scale_norms``: cosine, p-norm distances), and
each rewritten form is proven equal to the derived one at K = 2, 3, 4; the result is lowered to row loops.
"""
from __future__ import annotations

import sympy as sp

from ..cache import cached
from ..verify.prove import Proof
from .kernel import Kernel
from ..catalog.row_losses import ROW_FUNCTIONS, RowLoss, y
from ..catalog.vectors import i
from ..stabilize.rowwise import (ROW_LOOP_KINDS, heavy_rows, lower, prove_and_scale, row_code, scale_helpers,
                                 stabilize_row)
from ..verify import explicit
from .vector import reduce_deltas

def cross_check(loss_expr: sp.Expr, grad: sp.Expr, base: sp.IndexedBase, name: str) -> str:
    """The general-K gradient equals d/d base[a] of the explicit K = 2, 3, 4 loss, for every a and label
    (the one explicit-K check, :func:`symact.verify.explicit.cross_check`)."""
    return explicit.cross_check(
        name, f"gradient by {base.name}",
        lambda n, label, out: (explicit.instantiate(loss_expr, n, {y: label} if label is not None else None),
                               [base[m] for m in range(n)]),
        lambda n, label, a, out: explicit.instantiate(grad, n, {i: a} | ({y: label} if label is not None else {})),
        labelled=y in loss_expr.free_symbols)


_DERIVED: dict = {}


def derive_row_loss(loss: RowLoss) -> list[Kernel]:
    """The value and gradient kernels of every target kind of a row loss, checked and lowered
    (once per definition: the kernels and the docs both ask)."""
    key = (loss.name, tuple((k, sp.srepr(v)) for k, v in loss.formulas.items()), loss.inputs, loss.params)
    if key not in _DERIVED:
        _DERIVED[key] = _derive_row_loss(loss)
    return _DERIVED[key]


@cached("row_loss", key=lambda loss: loss)
def _derive_row_loss(loss: RowLoss) -> list[Kernel]:
    kernels = []
    for target, formula in loss.formulas.items():
        # log(e^a / Σ) → a − log Σ first (a real, Σ > 0): the derivative then comes out as
        # softmax − onehot instead of a quotient of quotients that only cancels on paper
        formula = sp.expand_log(sp.sympify(formula), force=True)
        items = [(f"{loss.name}_{target}", None, formula, None)]
        for grad_name, arg in loss.grad_names:
            base = dict(loss.inputs)[arg]
            grad = reduce_deltas(sp.diff(formula, base[i]))
            items.append((f"{loss.name}_{target}_grad_{arg}", arg, grad, base))
        first = len(kernels)
        for name, wrt, expr, base in items:
            check = cross_check(formula, expr, base, name) if base is not None else "the definition"
            stable = stabilize_row(expr)
            index = i if wrt is not None else None
            scaled, proof = prove_and_scale(stable, expr, name, name, index)
            kernels.append(Kernel(name, "f" if wrt is None else f"df/d{wrt}", expr, stable, [], proof, check=check,
                                  index=index, wrt=wrt, target=target, lowered=lower(scaled, index), scaled=scaled))
        if len(items) > 1:  # loss and gradient w.r.t. the first input in one pass over each row
            value, grad = kernels[first], kernels[first + 1]
            kernels.append(Kernel(f"{loss.name}_{target}_fwd_grad_{grad.wrt}", grad.role, grad.textbook,
                                  grad.stable, [], Proof(grad.name, "proved", f"as {value.name} and {grad.name}", 0.0),
                                  check=grad.check, index=i, wrt=grad.wrt, target=target,
                                  lowered=lower(grad.scaled, i, row_value=value.scaled), fused=True,
                                  scaled=grad.scaled))
    return kernels


def wide_float32(reductions) -> bool:
    """Whether a row loss's float32 kernels compute in float64: when a row sum adds products or powers
    of the row's elements without an exponential (Σ x1_k², Σ x1_k·x2_k, Σ |a_k − p_k|^p: cosine
    embedding, triplet), which overflow float32 beyond |x| ≈ 1.8e19 and vanish below 1e-23 where float64
    holds them (|x|^3 of a float32 up to 4e115, down to 3e-135); exponentials are max-shifted instead.
    The result is rounded to float32 once, as it is stored."""
    def data(e):  # targets and class weights are not scores
        return isinstance(e, sp.Indexed) and e.base.name in ("t", "w")

    def products(body):
        return any(isinstance(f, sp.Pow) and f.exp != 1 and f.base.has(sp.Indexed) or
                   isinstance(f, sp.Mul) and sum(1 for a in f.args if isinstance(a, sp.Indexed) and not data(a)) > 1
                   for f in sp.preorder_traversal(body))

    if any(r.kind in ("max", "rest", "argmax") for r in reductions):
        return False  # max-shifted (cross-entropy): its sums are bounded by construction
    bodies = [r.body for r in reductions]
    return any(products(b) for b in bodies) and not any(b.has(sp.exp) for b in bodies)


def _signature(loss: RowLoss, target: str) -> list[str]:
    args = [base.name for _, base in loss.inputs]
    if target == "label":
        args.append("y")
    elif target == "pm1":
        args.append("s")
    elif target in ("prob", "mask"):
        args.append("t")
    if loss.weight:
        args.append("w")
    return args + [p.name for p in loss.params]


def render_row_loss(env, loss: RowLoss, version: str, derived=None) -> tuple[str, list[str]]:
    """The generated module of a row loss, and its public names, from its kernels (derived here if not given)."""
    from ..codegen.numba import helpers_used
    from ..codegen.params import param_contexts

    kernels, exprs, reductions = [], [], []
    for rk in derive_row_loss(loss) if derived is None else derived:
        reds, out, inner, *value = rk.lowered
        divisor = None if rk.wrt is None else "gd"
        wide = wide_float32(reds + inner)
        variants = [dict(zip(("lines", "nbuf"), row_code(reds, out, "f64" if wide and tag == "f32" else tag, i,
                                                         rk.wrt is None, inner, *value, divisor=divisor, loss=True,
                                                         widen=wide and tag == "f32")),
                         tag=tag, buf="float64" if wide or tag == "f64" else "float32")
                    for tag in ("f32", "f64")]
        exprs += [r.body for r in reds + inner] + [out] + value
        reductions += reds + inner
        kernels.append({"name": rk.name, "target": rk.target, "wrt": rk.wrt, "derived": sp.sstr(rk.textbook),
                        "stable": sp.sstr(rk.stable), "proof": rk.proof.method, "check": rk.check, "fused": rk.fused,
                        "args": _signature(loss, rk.target) + ([divisor] if divisor else [])
                        + (["vout"] if rk.fused else []),
                        "variants": variants})
    heavy = heavy_rows(reductions, exprs)
    exprs = [e.replace(lambda q: isinstance(q, ROW_FUNCTIONS), lambda q: q.args[0]) for e in exprs]
    exprs.append(sp.exp(sp.Symbol("z")))
    helpers = {h for tag in ("f32", "f64") for h in helpers_used(exprs, tag)}
    helpers = sorted(helpers | scale_helpers(reductions))
    params = param_contexts(loss.params)
    api = [(loss.name, None, False)] + [(n, arg, False) for n, arg in loss.grad_names]
    if loss.grad_names:
        api.append((f"{loss.name}_fwd_grad", loss.grad_names[0][1], True))
    names = [name for name, _, _ in api]
    text = env.get_template("row_loss.py.j2").render(
        version=version, loss=loss, kernels=kernels, helpers=helpers, params=params, loop_kinds=ROW_LOOP_KINDS,
        heavy=heavy,
        formulas={k: sp.sstr(v) for k, v in loss.formulas.items()}, grads=loss.grad_names, api=api,
        inputs=tuple(arg for arg, _ in loss.inputs), targets=tuple(loss.formulas))
    return text, names


__all__ = ["derive_row_loss", "render_row_loss", "cross_check"]
