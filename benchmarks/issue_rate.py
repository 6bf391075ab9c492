"""How far a compute-bound kernel is from this machine's arithmetic limit, from its compiled loop.

    python benchmarks/issue_rate.py            # -> benchmarks/issue_rate.md
    python benchmarks/issue_rate.py --kernels gelu gelu_grad

A kernel over arrays in cache is limited by how many vector instructions its loop body needs and how
many the cores issue per nanosecond, not by memory. This counts the instructions of each serial loop's
hot block in the assembly Numba generates (the block with the most vector instructions), measures
the loop's time per element on 1e5 elements (in L2), and measures the machine's peak issue rate with
three loops of independent chains of the same width: FMAs only, additions only, and the two mixed
(the best case, since the two kinds go to different pipes). From these it gives each kernel's best case at
1e6 elements on all cores, were its instructions issued at that peak, beside the 2×-roofline target.
A best case above the target means the target needs fewer instructions (a cheaper formula: less
accuracy), not better scheduling. Not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit

import symact.kernels as K
from symact.kernels._runtime import fma, wide_vectors

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import KERNELS, DTYPES, _pcopy, machine_line  # noqa: E402  (one list of kernels, one roofline)

N = 10**5
# vector instructions by the pipes that execute them (Zen 4: multiplies, FMAs and divisions on the
# FMA pipes; additions, comparisons, min/max, blends, logic and integer ops elsewhere; Intel's
# AVX-512 cores run both kinds on the same two 512-bit pipes, which the measured peaks show)
MUL_CLASS = re.compile(r"^v(fn?m(add|sub)\d*|mul|div|sqrt)[ps][sd]$")
MEMORY = re.compile(r"^v(mov|broadcast|pbroadcast|extract|insert|gather|scatter)")


def _peak_loops(dtype):
    c = dtype

    @njit(error_model="numpy")
    def fma_only(x, out, reps):
        for _ in range(reps):
            for i in range(x.shape[0]):
                wide_vectors()  # the kernels' width, 512-bit under AVX-512
                v = x[i]
                a = fma(v, c(1.0001), c(0.1))
                b = fma(v, c(0.9999), c(0.2))
                d = fma(v, c(1.0002), c(0.3))
                e = fma(v, c(0.9998), c(0.4))
                for _k in range(4):
                    a = fma(a, c(1.0001), c(0.1))
                    b = fma(b, c(0.9999), c(0.2))
                    d = fma(d, c(1.0002), c(0.3))
                    e = fma(e, c(0.9998), c(0.4))
                out[i] = fma(a, b, fma(d, e, v))  # 22 FMAs

    @njit(error_model="numpy")
    def mixed(x, out, reps):
        for _ in range(reps):
            for i in range(x.shape[0]):
                wide_vectors()  # the kernels' width, 512-bit under AVX-512
                v = x[i]
                a = fma(v, c(1.0001), c(0.1))
                b = v + c(0.2)
                d = fma(v, c(1.0002), c(0.3))
                e = v - c(0.4)
                for _k in range(4):
                    a = fma(a, c(1.0001), c(0.1))
                    b = b + c(0.21)
                    d = fma(d, c(1.0002), c(0.3))
                    e = e - c(0.41)
                out[i] = fma(a, b, d + e)  # 11 FMAs, 11 additions

    @njit(error_model="numpy")
    def add_only(x, out, reps):
        for _ in range(reps):
            for i in range(x.shape[0]):
                wide_vectors()  # the kernels' width, 512-bit under AVX-512
                v = x[i]
                a = v + c(0.1)
                b = v + c(0.2)
                d = v - c(0.3)
                e = v - c(0.4)
                for _k in range(5):
                    a = a + c(0.11)
                    b = b + c(0.21)
                    d = d - c(0.31)
                    e = e - c(0.41)
                out[i] = (a + b) + (d + e)  # 27 additions

    return (fma_only, 22), (add_only, 27), (mixed, 22)


def peak_rates(dtype):
    """Vector instructions per ns of the two peak loops (one core, 1024 elements in L1)."""
    x = np.random.default_rng(0).random(1024).astype(dtype)
    out = np.empty_like(x)
    rates = {}
    for (fn, nops), name in zip(_peak_loops(dtype), ("fma_only", "add_only", "mixed")):
        fn(x, out, 1)
        reps = 4000
        t = min(_time(lambda: fn(x, out, reps)) for _ in range(7))
        lanes = _width(hot_block(next(iter(fn.inspect_asm().values())))) // (8 * np.dtype(dtype).itemsize)
        rates[name] = nops * x.size * reps / lanes / (t * 1e9)
    return rates


def _time(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def _asm(dispatcher):
    """The assembly of a fresh (uncached) compile of a generated loop, for its first signature."""
    fresh = njit(dispatcher.signatures[0], error_model="numpy")(dispatcher.py_func)
    return next(iter(fresh.inspect_asm().values()))


def hot_block(asm):
    """The vectorized loop body: of the basic blocks using the widest registers (the scalar
    remainder loop, also unrolled, uses xmm), the one with the most arithmetic (not the set-up block
    that broadcasts constants)."""
    blocks, cur = [], []
    for line in asm.splitlines():
        if re.match(r"^\.?[\w.$]+:", line):
            blocks.append(cur)
            cur = []
        elif line.startswith("\t") and not line.strip().startswith("."):
            parts = line.split(None, 1)
            cur.append((parts[0], parts[1] if len(parts) > 1 else ""))
    blocks.append(cur)

    def key(block):
        text = " ".join(i[1] for i in block)
        arith = sum(1 for op, _ in block if op.startswith("v") and not MEMORY.match(op))
        return (512 if "zmm" in text else 256 if "ymm" in text else 128 if "xmm" in text else 0), arith
    return max(blocks, key=key)


def _width(block):
    text = " ".join(i[1] for i in block)
    return 512 if "zmm" in text else 256 if "ymm" in text else 128


def count(block, nout):
    """Vector instructions per register of results: (multiply-class, other arithmetic, memory) and
    the lanes. LLVM may unroll the vectorized loop; the stores of results (not spills to the stack)
    say by how much."""
    width = _width(block)
    reg = {512: "%zmm", 256: "%ymm", 128: "%xmm"}[width]
    mul = other = mem = stores = 0
    for op, operands in block:
        if not op.startswith("v"):
            continue
        if MEMORY.match(op):
            mem += 1
            last = operands.rsplit(",", 1)[-1]
            stores += op.startswith("vmov") and "(" in last and "%rsp" not in last and reg in operands
        elif MUL_CLASS.match(op):
            mul += 1
        else:
            other += 1
    per = max(stores // nout, 1)
    return mul / per, other / per, mem / per, width


def loop_of(name, dtype):
    fn = getattr(K, name)
    return sys.modules[fn.__module__].__dict__[f"_{name.upper()}_LOOPS"][dtype][0], fn


def measure_kernel(name, dtype, rng):
    loop, fn = loop_of(name, dtype)
    x = (rng.standard_normal(N) * 4).astype(dtype)
    g = rng.standard_normal(N).astype(dtype)
    vjp, two = name.endswith("_fwd_vjp"), name.endswith(("_fwd_vjp", "_fwd_grad"))
    args = (x, g) if vjp else (x,)
    outs = (np.empty_like(x), np.empty_like(x)) if two else np.empty_like(x)
    K.configure(parallel=False)
    try:
        fn(*args, out=outs)  # compiles (or loads) the serial loop for these types
        call = lambda: fn(*args, out=outs)  # noqa: E731
        t = statistics.median(min(_time(call) for _ in range(20)) for _ in range(5))
    finally:
        K.configure(parallel=None)
    mul, other, mem, width = count(hot_block(_asm(loop)), 2 if two else 1)
    lanes = width // (8 * np.dtype(dtype).itemsize)
    traffic = (2 + two + vjp) * x.nbytes  # bytes read + written
    return dict(kernel=name, dtype=dtype.__name__, mul=mul, other=other, mem=mem, lanes=lanes,
                ns_per_el=t / N * 1e9, traffic_per_el=traffic / N)


def bandwidth():
    """All-cores streaming copy of 1e7 float64 (80 MB read + written, beyond L3): bytes/s."""
    x = np.random.default_rng(0).random(10**7)
    o = np.empty_like(x)
    _pcopy(x, o)
    t = statistics.median(_time(lambda: _pcopy(x, o)) for _ in range(15))
    return 2 * x.nbytes / t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernels", nargs="*", help="elementwise kernels (default: the benchmark's list)")
    ap.add_argument("--out", default=str(HERE / "issue_rate.md"))
    args = ap.parse_args(argv)
    threads = numba.get_num_threads()
    rng = np.random.default_rng(0)
    bw = bandwidth()
    peaks = {dt: peak_rates(dt) for dt in DTYPES}
    lines = ["# Issue rate: compute-bound kernels against the machine's arithmetic limit", "",
             machine_line(), "",
             f"Generated by `python benchmarks/issue_rate.py`. Streaming-copy bandwidth (all cores, 1e7 float64): "
             f"{bw / 1e9:.1f} GB/s. Peak vector instructions per ns on one core, measured with independent chains: "
             + "; ".join(f"{dt.__name__}: FMAs only {p['fma_only']:.2f}, additions only {p['add_only']:.2f}, "
                         f"the two mixed {p['mixed']:.2f}"
                         for dt, p in peaks.items()) + ".", "",
             "*mul / other / mem*: vector instructions per loop iteration (one register of *lanes* elements) on the "
             "FMA pipes (multiplies, FMAs, divisions), on the other arithmetic pipes (additions, min/max, compares, "
             "blends, logic, integer), and loads/stores/moves. *issued/ns*: the arithmetic instructions the serial "
             "loop issued per ns on 1e5 elements (in cache). *best case*: the time at 1e6 on "
             f"{threads} cores were they issued at the peak (the largest of: all arithmetic at the mixed rate, "
             "the FMA-pipe share at the FMA-only rate, the rest at the additions-only rate). *2× roofline*: the "
             "target at 1e6. "
             "*best / target* > 1: the target needs fewer instructions, whatever the scheduling.", "",
             "| kernel | dtype | lanes | mul | other | mem | serial ns/elem | issued/ns | best case 1e6 (ms) "
             "| 2× roofline 1e6 (ms) | best / target |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for dt in DTYPES:
        p = peaks[dt]
        for name in args.kernels or KERNELS:
            if getattr(K, name, None) is None:
                continue
            r = measure_kernel(name, dt, rng)
            arith = r["mul"] + r["other"]
            per_vec_ns = max(arith / p["mixed"], r["mul"] / p["fma_only"], r["other"] / p["add_only"])
            best_ms = per_vec_ns / r["lanes"] * 1e6 / threads / 1e6
            target_ms = 2 * r["traffic_per_el"] * 1e6 / bw * 1e3
            issued = arith / (r["ns_per_el"] * r["lanes"])
            lines.append(f"| {name} | {r['dtype']} | {r['lanes']} | {r['mul']:.0f} | {r['other']:.0f} | {r['mem']:.0f} | "
                         f"{r['ns_per_el']:.3f} | {issued:.2f} | {best_ms:.3f} | {target_ms:.3f} | "
                         f"{best_ms / target_ms:.2f} |")
            print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
