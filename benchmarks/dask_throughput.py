"""Throughput of symact kernels on dask arrays against the NumPy kernels and a streaming copy.

    python benchmarks/dask_throughput.py              # -> benchmarks/dask_throughput.md
    python benchmarks/dask_throughput.py --quick      # smaller arrays, fewer repeats

Two kernels: softplus (elementwise) and cross_entropy_fwd_grad (a row loss and its gradient, the
'mean' reduction), each on the same data four ways:

- the NumPy kernel on the whole in-memory array (all cores through Numba's parallel loops);
- dask with its threaded scheduler (the default for dask arrays): the array in chunks, ``persist``;
- dask.distributed with a LocalCluster of 2 worker processes, 1 thread each: the input persisted in
  the workers first (not timed), then the kernel's result persisted there (what a cluster job does);
- the roofline: ``np.copyto`` of an array of the bytes the kernel moves (read + write), one core, and
  the same copy on all cores (a parallel Numba loop).

Each is the median of its repeats (interleaved, so a burst of load elsewhere hits all alike).
Throughput is the kernel's memory traffic (bytes read + written) per second. Not a test: nothing here
asserts a time.
"""
from __future__ import annotations

import argparse
import warnings
import os
import platform
import statistics
import time
from pathlib import Path

import numba
import numpy as np

import symact.kernels as K

HERE = Path(__file__).resolve().parent


@numba.njit(parallel=True, cache=True)
def _pcopy(src, dst):
    for i in numba.prange(src.shape[0]):
        dst[i] = src[i]


def _timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _cases(n, classes, chunk_rows):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    rows = n // classes
    logits = rng.standard_normal((rows, classes)) * 3
    labels = rng.integers(0, classes, rows)
    return [
        # name, NumPy call, dask call (on dask arrays), arrays, chunks, traffic in bytes (read + write)
        ("softplus", lambda a: K.softplus(a), lambda a: K.softplus(a), (x,), ((chunk_rows * classes,),),
         2 * x.nbytes),
        ("cross_entropy_fwd_grad", lambda a, t: K.cross_entropy_fwd_grad(a, t),
         lambda a, t: K.cross_entropy_fwd_grad(a, t), (logits, labels), ((chunk_rows, classes), (chunk_rows,)),
         2 * logits.nbytes + labels.nbytes + rows * 8),
    ]


def run(n, classes, chunk_rows, repeats):
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster, wait

    results = []
    warnings.filterwarnings("ignore", "Sending large graph")  # the inputs, sent once before the timing
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)  # the default client; the threaded runs name their scheduler
    try:
        for name, numpy_call, dask_call, arrays, chunks, traffic in _cases(n, classes, chunk_rows):
            src = np.empty(traffic // 16)
            src[:] = 1.0
            dst = np.empty_like(src)
            darrays = [da.from_array(a, chunks=c) for a, c in zip(arrays, chunks)]
            remote = client.persist([da.from_array(a, chunks=c) for a, c in zip(arrays, chunks)])
            wait(remote)

            def threads():
                out = dask_call(*darrays)
                out = out if isinstance(out, tuple) else (out,)
                dask.persist(*out, scheduler="threads")

            def cluster_run():
                out = dask_call(*remote)
                out = client.persist(list(out) if isinstance(out, tuple) else [out])
                wait(out)
                del out

            cands = {"numpy kernel": lambda: numpy_call(*arrays), "dask threads": threads,
                     "dask 2 processes": cluster_run, "np.copyto (1 core)": lambda: np.copyto(dst, src),
                     "copy, all cores": lambda: _pcopy(src, dst)}
            for fn in cands.values():  # warm: compile, load in the workers
                fn()
            times = {k: [] for k in cands}
            for _ in range(repeats):
                for k, fn in cands.items():
                    times[k] += _timed(fn, 1)
            med = {k: statistics.median(v) for k, v in times.items()}
            results.append((name, traffic, med))
            del remote
    finally:
        client.close()
        cluster.close()
    return results


def markdown(results, n, classes, chunk_rows, repeats, load):
    lines = ["# symact kernels on dask arrays: throughput", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Numba {numba.__version__} "
             f"({numba.config.THREADING_LAYER} threading layer requested, {numba.get_num_threads()} threads), "
             f"`python benchmarks/dask_throughput.py` (median of {repeats}). softplus on {n:,} float64; "
             f"cross_entropy_fwd_grad on {n // classes:,} rows × {classes} classes float64 with int64 labels "
             f"('mean'); chunks of {chunk_rows * classes * 8 / 2**20:.0f} MiB. Throughput = bytes the kernel "
             "reads and writes, per second; the copies move the same bytes. Load average (1 min) before and "
             f"after the run: {load[0]:.2f}, {load[1]:.2f} (other work on the machine slows everything alike).", "",
             "| kernel | how | time (ms) | GB/s | × np.copyto time | × all-cores copy time |",
             "|---|---|---:|---:|---:|---:|"]
    for name, traffic, med in results:
        for how, t in med.items():
            lines.append(f"| {name} | {how} | {t * 1e3:.1f} | {traffic / t / 1e9:.2f} | "
                         f"{t / med['np.copyto (1 core)']:.2f} | {t / med['copy, all cores']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(HERE / "dask_throughput.md"))
    args = ap.parse_args(argv)
    n, classes, chunk_rows, repeats = (2**22, 64, 2**13, 3) if args.quick else (2**25, 64, 2**16, 7)
    before = os.getloadavg()[0]
    results = run(n, classes, chunk_rows, repeats)
    text = markdown(results, n, classes, chunk_rows, repeats, (before, os.getloadavg()[0]))
    print(text)
    if not args.quick:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
