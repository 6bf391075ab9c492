"""Accuracy of the torch and JAX targets against mpmath, next to the framework's own functions.

For every activation and pointwise loss of the catalog, value and gradient(s), float32 and float64,
on the stress sweep of tests/targets_common.py (about 200 points with the extremes, ±inf, nan; the
losses at each of a few targets): the max ULP of symact's generated function (gradients through
autograd, i.e. the derived backward) and of the framework's own function (the catalog's PyTorch
expression; jax.nn's function of the same name), and where a total loss occurs (zero, inf or nan
where the truth is finite, nonzero and representable). Writes benchmarks/target_accuracy.md.

    python benchmarks/target_accuracy.py            # both targets (needs torch and jax)
"""
from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import targets_common as tc  # noqa: E402

TOTAL = "total loss"


def _measure(values, truths, dtype):
    try:
        worst, _ = tc.judge(values, truths, dtype, "")
        return worst
    except AssertionError:
        return TOTAL


def _torch_rows(pkg):
    import torch

    out = []
    for e in tc.all_entries():
        learn = [p.name for p in e.learnable]
        for dt in tc.DTYPES:
            tdt = getattr(torch, dt.__name__)
            xs = tc.points(dt)
            params = {p.name: float(p.value) for p in e.kernel_params}
            for wrt in ["value", "x"] + learn:
                truths = tc.elementwise_truth(e.name, wrt, dt)
                ours = _torch_eval(lambda x, **kw: getattr(pkg, e.name)(x, **kw), xs, tdt, params, learn, wrt)
                theirs = None
                if e.pytorch is not None:
                    tp = dict(params, threshold=20.0) if e.name == "softplus" else params
                    theirs = _torch_eval(lambda x, **kw: e.pytorch(torch, x, *kw.values()), xs, tdt, tp, learn, wrt)
                out.append(("torch", e.name, wrt, dt.__name__, _measure(ours, truths, dt),
                            None if theirs is None else _measure(theirs, truths, dt)))
    return out


def _torch_eval(f, xs, tdt, params, learn, wrt):
    import torch

    x = torch.tensor(xs, dtype=tdt, requires_grad=True)
    kw = {k: torch.tensor(v, dtype=tdt, requires_grad=True) if k in learn else v for k, v in params.items()}
    y = f(x, **kw)
    if wrt == "value":
        return y.detach().numpy()
    target = x if wrt == "x" else kw[wrt]
    g = torch.autograd.grad(y, target, torch.ones_like(y), allow_unused=True)[0] if wrt == "x" else None
    if wrt != "x":  # the elementwise d/dp: one call per point
        g = []
        for n in range(len(xs)):
            p = {k: torch.tensor(v, dtype=tdt, requires_grad=True) if k in learn else v for k, v in params.items()}
            yy = f(x.detach()[n:n + 1], **p)
            g.append(torch.autograd.grad(yy.sum(), p[wrt])[0].item())
        return np.array(g)
    return g.detach().numpy()


def _jax_rows(pkg):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    out = []
    for e in tc.all_entries():
        learn = [p.name for p in e.learnable]
        own = getattr(jax.nn, e.name, None) if e.name != "swish" else None
        if e.name == "tanh":
            own = jnp.tanh
        if e.name == "gelu":
            own = lambda x: jax.nn.gelu(x, approximate=False)  # noqa: E731
        if e.name == "gelu_tanh":
            own = lambda x: jax.nn.gelu(x, approximate=True)  # noqa: E731
        for dt in tc.DTYPES:
            xs = jnp.asarray(tc.points(dt))
            params = {p.name: float(p.value) for p in e.kernel_params}
            for wrt in ["value", "x"] + learn:
                truths = tc.elementwise_truth(e.name, wrt, dt)
                f = getattr(pkg, e.name)
                ours = _jax_eval(lambda x, **kw: f(x, **kw), xs, params, wrt, dt)
                theirs = None
                if own is not None and not learn:
                    kw = {k: v for k, v in params.items() if k != "threshold"}
                    theirs = _jax_eval(lambda x, **k: own(x, **k), xs, kw, wrt, dt)
                out.append(("jax", e.name, wrt, dt.__name__, _measure(ours, truths, dt),
                            None if theirs is None else _measure(theirs, truths, dt)))
    return out


def _jax_eval(f, xs, params, wrt, dt):
    import jax
    import jax.numpy as jnp

    if wrt == "value":
        return np.asarray(f(xs, **params))
    if wrt == "x":
        return np.asarray(jax.vmap(jax.grad(lambda v: f(v, **params)))(xs))
    rest = {k: v for k, v in params.items() if k != wrt}
    return np.asarray(jax.vmap(lambda v: jax.grad(lambda p: f(v, **{wrt: p}, **rest))(jnp.asarray(params[wrt], dt)))(xs))


def _cell(v):
    if v is None:
        return "-"
    return f"**{v}**" if isinstance(v, str) else f"{v:.1f}"


def main():
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = sys.argv[1:] or ["torch", "jax"]
        for target in targets:
            pkg = tc.generate(target, Path(tmp), f"symact_{target}_accuracy")
            rows += _torch_rows(pkg) if target == "torch" else _jax_rows(pkg)
    lines = ["# Accuracy of the torch and JAX targets (max ULP against mpmath)", "",
             "Generated by `benchmarks/target_accuracy.py` (CPU). Per activation, value and each gradient (through",
             "autograd / jax.grad, i.e. the derived backward), over the stress sweep of `tests/targets_common.py`",
             "(about 200 points: zero, subnormals, the overflow edges, 1e4, the largest float, ±inf, nan).",
             "'own' is the framework's function (the catalog's PyTorch expression; jax.nn's function of the same",
             "name); **total loss**: a zero, inf or nan where the truth is finite, nonzero and representable.", "",
             "| target | function | gradient | dtype | symact max ULP | own max ULP |", "|---|---|---|---|---|---|"]
    for target, name, wrt, dt, ours, theirs in rows:
        what = "value" if wrt == "value" else f"d/d{wrt}"
        lines.append(f"| {target} | {name} | {what} | {dt} | {_cell(ours)} | {_cell(theirs)} |")
    totals = [r for r in rows if r[4] == TOTAL]
    worse = [r for r in rows if r[5] is not None and not isinstance(r[4], str)
             and (r[5] == TOTAL or False) is False and not isinstance(r[5], str) and r[4] > max(r[5], 4.0)]
    own_total = [r for r in rows if r[5] == TOTAL]
    lines += ["", f"Rows: {len(rows)}; symact total losses: {len(totals)}; the frameworks' own functions with a total "
              f"loss: {len(own_total)}; rows where symact's max ULP exceeds both 4 and the framework's: {len(worse)}"
              + (" (" + ", ".join(f"{r[0]} {r[1]} {r[2]} {r[3]}" for r in worse) + ")" if worse else "") + ".",
              "", f"({time.perf_counter() - t0:.0f} s)"]
    (HERE / "target_accuracy.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
