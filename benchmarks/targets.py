"""Speed of the `symact generate --target torch | jax` packages: forward + backward on CPU (and CUDA
where torch sees one), against PyTorch's own (torch.nn.functional, eager and torch.compile) and JAX's
own (jax.nn, under jax.jit).

    python benchmarks/targets.py                      # default functions, 1e6 and 1e7 elements
    python benchmarks/targets.py --sizes 1000000      # one size
    python benchmarks/targets.py --only gelu softmax  # chosen functions
    python benchmarks/targets.py --out docs/perf.md   # also write the Markdown table there

One step is ``y = f(x); y.sum().backward()`` (torch) or ``jax.grad(lambda x: f(x).sum())(x)`` under
jax.jit (JAX): a forward and a backward pass over a float32 array of the given size (rows of 100 for
the functions along an axis and the row losses). Candidates of one (function, size) are timed round
robin, each quoted as the median of its repeats (a burst of load on the machine hits all alike);
compiled candidates are warmed up first (compile time is not counted). Not a test: nothing here
asserts a time.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# PyTorch / JAX counterparts (name -> (torch call, jax call)); x is the input, t a target
ROW = 100


def _theirs(name, torch, jax):
    F = torch.nn.functional
    jnn = jax.nn if jax else None
    jnp = jax.numpy if jax else None
    return {
        "sigmoid": (torch.sigmoid, jnn and jnn.sigmoid),
        "tanh": (torch.tanh, jnp and jnp.tanh),
        "relu": (F.relu, jnn and jnn.relu),
        "elu": (F.elu, jnn and jnn.elu),
        "selu": (F.selu, jnn and jnn.selu),
        "gelu": (F.gelu, jnn and (lambda x: jnn.gelu(x, approximate=False))),
        "gelu_tanh": ((lambda x: F.gelu(x, approximate="tanh")), jnn and (lambda x: jnn.gelu(x, approximate=True))),
        "softplus": (F.softplus, jnn and jnn.softplus),
        "log_sigmoid": (F.logsigmoid, jnn and jnn.log_sigmoid),
        "silu": (F.silu, jnn and jnn.silu),
        "mish": (F.mish, jnn and getattr(jnn, "mish", None)),
        "softmax": ((lambda x: F.softmax(x, -1)), jnn and (lambda x: jnn.softmax(x, -1))),
        "log_softmax": ((lambda x: F.log_softmax(x, -1)), jnn and (lambda x: jnn.log_softmax(x, -1))),
        "cross_entropy": ((lambda x, t: F.cross_entropy(x, t)),
                          jnn and (lambda x, t: -jnp.mean(jnp.take_along_axis(jnn.log_softmax(x, -1), t[:, None], -1)))),
        "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits,
                                             jnn and (lambda x, t: jnp.mean(jnn.softplus(x) - x * t))),
        "mse_loss": (F.mse_loss, jnp and (lambda x, t: jnp.mean((x - t) ** 2))),
    }.get(name)


DEFAULT = ["sigmoid", "tanh", "gelu", "gelu_tanh", "softplus", "log_sigmoid", "silu", "elu", "softmax",
           "log_softmax", "cross_entropy", "binary_cross_entropy_with_logits", "mse_loss"]
TARGET_KIND = {"cross_entropy": "label", "binary_cross_entropy_with_logits": "prob", "mse_loss": "real"}


def _median_times(cands, repeats):
    times = {k: [] for k in cands}
    for _ in range(repeats):
        for k, step in cands.items():
            t0 = time.perf_counter()
            step()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def torch_candidates(name, ours, size, device, compile_too):
    import torch

    theirs = _theirs(name, torch, None)
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(size // ROW, ROW, generator=g) * 3).to(device)
    kind = TARGET_KIND.get(name)
    extra = ()
    if kind == "label":
        extra = (torch.randint(0, ROW, (size // ROW,), generator=g).to(device),)
    elif kind == "prob":
        extra = (torch.rand(size // ROW, ROW, generator=g).to(device),)
    elif kind == "real":
        extra = (torch.randn(size // ROW, ROW, generator=g).to(device),)
    vector = name in ("softmax", "log_softmax")

    def call_ours(v):
        return ours(v, -1) if vector else ours(v, *extra)

    def call_theirs(v):
        return theirs[0](v, *extra)

    def step(f):
        def run():
            v = x.detach().requires_grad_(True)
            f(v).sum().backward()
            if device == "cuda":
                torch.cuda.synchronize()
        return run

    cands = {"symact torch": step(call_ours)}
    if theirs:
        cands["torch.nn.functional"] = step(call_theirs)
    if compile_too:
        torch._dynamo.reset()  # each function compiles afresh (else the shared wrapper hits the recompile limit)
        cands["symact torch, compiled"] = step(torch.compile(call_ours, fullgraph=True))
        if theirs:
            cands["torch.nn.functional, compiled"] = step(torch.compile(call_theirs, fullgraph=True))
    for run in cands.values():  # warm-up (compilation)
        run()
        run()
    return cands


def jax_candidates(name, ours, size):
    import jax
    import jax.numpy as jnp

    import torch

    theirs = _theirs(name, torch, jax)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((size // ROW, ROW)).astype(np.float32) * 3)
    kind = TARGET_KIND.get(name)
    extra = ()
    if kind == "label":
        extra = (jnp.asarray(rng.integers(0, ROW, size // ROW)),)
    elif kind == "prob":
        extra = (jnp.asarray(rng.random((size // ROW, ROW)).astype(np.float32)),)
    elif kind == "real":
        extra = (jnp.asarray(rng.standard_normal((size // ROW, ROW)).astype(np.float32)),)
    vector = name in ("softmax", "log_softmax")

    def jitted(f):
        grad = jax.jit(jax.grad(lambda v: jnp.sum(f(v))))
        return lambda: grad(x).block_until_ready()

    cands = {"symact jax, jit": jitted((lambda v: ours(v, -1)) if vector else (lambda v: ours(v, *extra)))}
    if theirs and theirs[1] is not None:
        cands["jax.nn, jit"] = jitted(lambda v: theirs[1](v, *extra))
    for run in cands.values():
        run()
        run()
    return cands


def _generate(target, names, directory, package):
    """``symact generate --target <target> --only <names>`` into directory/package, imported."""
    import importlib

    from symact.atomic import write_atomically
    from symact.codegen import build_target

    result = build_target(target, names, package_hint=package, progress=lambda line: None)
    assert not result.failures, result.failures
    write_atomically(result.files, directory / package)
    sys.path.insert(0, str(directory))
    return importlib.import_module(package)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10**6, 10**7])
    ap.add_argument("--only", nargs="+", default=DEFAULT)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (its warm-up is ~20 s per function)")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (on a loaded machine, 1 avoids OpenMP barrier stalls)")
    ap.add_argument("--out", type=Path, help="also write the Markdown table to this file")
    args = ap.parse_args()

    import torch

    try:
        import jax
    except ImportError:
        jax = None
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="symact_bench_"))
    tpkg = _generate("torch", args.only, tmp, "symact_torch_bench")
    jpkg = _generate("jax", args.only, tmp, "symact_jax_bench") if jax else None
    print(f"generated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for name in args.only:
        for size in args.sizes:
            for device in devices:
                cands = torch_candidates(name, getattr(tpkg, name), size, device, not args.no_compile)
                if jpkg is not None and device == "cpu":
                    cands.update(jax_candidates(name, getattr(jpkg, name), size))
                med = _median_times(cands, args.repeats)
                rows.append((name, size, device, med))
                print(name, f"{size:.0e}", device, {k: f"{v * 1e3:.1f} ms" for k, v in med.items()},
                      file=sys.stderr, flush=True)
    cols = ["symact torch", "torch.nn.functional", "symact torch, compiled", "torch.nn.functional, compiled",
            "symact jax, jit", "jax.nn, jit"]
    lines = [f"Forward + backward, float32, milliseconds (median of {args.repeats}); "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
             f"({torch.get_num_threads()} threads)" + (f", jax {jax.__version__}" if jax else "") + ".", "",
             "| function | elements | device | " + " | ".join(cols) + " |",
             "|---|---:|---|" + "---:|" * len(cols)]
    for name, size, device, med in rows:
        cells = [f"{med[c] * 1e3:.1f}" if c in med else "-" for c in cols]
        lines.append(f"| `{name}` | {size:.0e} | {device} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
