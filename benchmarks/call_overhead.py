"""Front-end cost per call of a few kernels on small NumPy arrays (where the call, not the math, dominates).

    python benchmarks/call_overhead.py            # prints a table of medians (µs per call)
    python benchmarks/call_overhead.py --rounds 31
    python benchmarks/call_overhead.py --package old_kernels   # another generated package on sys.path

Used to check that the dask support costs the NumPy path nothing: run it before and after a change to
the front ends and compare the medians. Each round times every case once (round robin, so a burst of
load on the machine hits all of them alike), each time as the best of a few batches of calls; the table
gives the median over rounds. Not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import time

import numpy as np


def cases(K):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16)
    x32 = x.astype(np.float32)
    g = rng.standard_normal(16)
    rows = rng.standard_normal((4, 8))
    labels = np.array([0, 3, 7, 1])
    t = rng.standard_normal(16)
    return {
        "sigmoid(x) f64": lambda: K.sigmoid(x),
        "sigmoid(x) f32": lambda: K.sigmoid(x32),
        "softplus(x, beta=2.0)": lambda: K.softplus(x, 2.0),
        "gelu_fwd_vjp(x, g)": lambda: K.gelu_fwd_vjp(x, g),
        "prelu_vjp_weight(x, g, 0.25)": lambda: K.prelu_vjp_weight(x, g, 0.25),
        "softmax(rows)": lambda: K.softmax(rows),
        "logsumexp_vjp(rows, g)": lambda: K.logsumexp_vjp(rows, g[:4]),
        "mse_loss(x, t)": lambda: K.mse_loss(x, t),
        "cross_entropy(rows, labels)": lambda: K.cross_entropy(rows, labels),
        "cross_entropy_fwd_grad(rows, labels)": lambda: K.cross_entropy_fwd_grad(rows, labels),
    }


def measure(fns, rounds, calls=200, batches=3):
    times = {name: [] for name in fns}
    for fn in fns.values():  # warm: load and compile
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            best = float("inf")
            for _ in range(batches):
                t0 = time.perf_counter()
                for _ in range(calls):
                    fn()
                best = min(best, (time.perf_counter() - t0) / calls)
            times[name].append(best)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--package", default="symact.kernels", help="the generated package to time")
    args = ap.parse_args(argv)
    result = measure(cases(importlib.import_module(args.package)), args.rounds)
    print(f"{'call':40s} {'µs per call (median of ' + str(args.rounds) + ' rounds)'}")
    for name, s in result.items():
        print(f"{name:40s} {s * 1e6:8.2f}")


if __name__ == "__main__":
    main()
