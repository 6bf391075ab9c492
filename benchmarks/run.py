"""symact kernels against NumPy, scipy.special, PyTorch (CPU) and a streaming copy, in one run.

    /work/venv/bin/python benchmarks/run.py              # full table -> benchmarks/results.md + .png
    /work/venv/bin/python benchmarks/run.py --quick      # fewer repeats, 1e5 and 1e6 only
    /work/venv/bin/python benchmarks/run.py --crossover  # serial vs parallel loop by array size

Times are medians of repeats; every ratio divides two medians measured in the same run. Outputs
are written into preallocated arrays ("out=") and, separately, allocated per call ("alloc"): both
are reported, like with like. Numba and PyTorch use the same thread count. Numba runs with its
'workqueue' threading layer: Numba's OpenMP and PyTorch's bundled OpenMP in one process are two
runtimes (field notes). Not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import numba  # noqa: E402
import numpy as np  # noqa: E402
import scipy.special as ss  # noqa: E402

import symact.kernels as K  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:  # pragma: no cover - torch is optional
    torch = None

HERE = Path(__file__).resolve().parent
SIZES = (10**5, 10**6, 10**7)
DTYPES = (np.float32, np.float64)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_softplus(x):
    return np.log(1 + np.exp(x))


def _np_elu(x):
    return np.where(x > 0, x, np.exp(x) - 1)


def _np_tanh_grad(x):
    return 1 - np.tanh(x) ** 2


def _np_silu(x):
    return x / (1 + np.exp(-x))


# kernel -> (textbook NumPy, scipy.special or None, torch allocating, torch out= (or None))
def _peers():
    t = torch
    tf = t.nn.functional if t else None
    return {
        "sigmoid": (_np_sigmoid, ss.expit, t and t.sigmoid, t and (lambda x, o: t.sigmoid(x, out=o))),
        "sigmoid_grad": (lambda x: _np_sigmoid(x) * (1 - _np_sigmoid(x)), None, None, None),
        "sigmoid_fwd_grad": (None, None, t and (lambda x: (lambda y: (y, y * (1 - y)))(t.sigmoid(x))), None),
        "log_sigmoid": (lambda x: -np.log(1 + np.exp(-x)), ss.log_expit, tf and tf.logsigmoid, None),
        "softplus": (_np_softplus, lambda x: np.logaddexp(0, x), tf and tf.softplus, None),
        "silu": (_np_silu, None, tf and tf.silu, None),
        "silu_grad": (None, None, None, None),
        "elu": (_np_elu, None, tf and tf.elu, None),
        "tanh": (np.tanh, None, t and t.tanh, t and (lambda x, o: t.tanh(x, out=o))),
        "tanh_grad": (_np_tanh_grad, None, None, None),
        "gelu": (lambda x: 0.5 * x * ss.erfc(-x / np.sqrt(2)), None, tf and tf.gelu, None),
        "relu": (lambda x: np.maximum(x, 0), None, t and t.relu, None),
    }


def timeit(fn, target_s=0.02, repeats=7):
    """Median seconds per call: each repeat runs enough calls to last ~target_s."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(target_s / one))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def machine_line():
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    simd = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "SSE")
    tv = torch.__version__ if torch else "absent"
    return (f"{cpu}, {os.cpu_count()} cores, {simd}; Python {platform.python_version()}, NumPy {np.__version__}, "
            f"Numba {numba.__version__} ({numba.threading_layer() if _layer_ready() else 'n/a'} layer, "
            f"{numba.get_num_threads()} threads), PyTorch {tv} ({torch.get_num_threads() if torch else 0} threads)")


def _layer_ready():
    try:
        numba.threading_layer()
        return True
    except ValueError:
        return False


def run(sizes, repeats, kernels):
    rng = np.random.default_rng(0)
    peers = _peers()
    rows = []
    for dt in DTYPES:
        for n in sizes:
            x = (rng.standard_normal(n) * 4).astype(dt)
            o1, o2 = np.empty_like(x), np.empty_like(x)
            copy = timeit(lambda: np.copyto(o1, x), repeats=repeats)
            tx = torch.from_numpy(x) if torch else None
            to = torch.empty_like(tx) if torch else None
            for name in kernels:
                fn = getattr(K, name)
                fused = name.endswith("_fwd_grad")
                outs = (o1, o2) if fused else o1
                s_out = timeit(lambda: fn(x, out=outs), repeats=repeats)
                s_alloc = timeit(lambda: fn(x), repeats=repeats)
                np_f, sp_f, t_alloc, t_out = peers.get(name, (None,) * 4)
                with np.errstate(all="ignore"):
                    r = {"kernel": name, "dtype": dt.__name__, "n": n, "copy": copy,
                         "symact_out": s_out, "symact_alloc": s_alloc,
                         "numpy": timeit(lambda: np_f(x), repeats=repeats) if np_f else None,
                         "scipy": timeit(lambda: sp_f(x), repeats=repeats) if sp_f else None,
                         "torch_alloc": timeit(lambda: t_alloc(tx), repeats=repeats) if t_alloc else None,
                         "torch_out": timeit(lambda: t_out(tx, to), repeats=repeats) if t_out else None}
                rows.append(r)
                print(_fmt_row(r), flush=True)
    return rows


def _ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "–"


def _fmt_row(r):
    return (f"{r['kernel']:18s} {r['dtype']:8s} {r['n']:>9,d}  copy {r['copy'] * 1e3:7.3f} ms  "
            f"symact out= {r['symact_out'] * 1e3:7.3f} ms ({r['symact_out'] / r['copy']:.2f}× copy)  "
            f"alloc {r['symact_alloc'] * 1e3:7.3f} ms  "
            f"/torch alloc {_ratio(r['symact_alloc'], r['torch_alloc'])}  /torch out= {_ratio(r['symact_out'], r['torch_out'])}  "
            f"/numpy {_ratio(r['symact_alloc'], r['numpy'])}  /scipy {_ratio(r['symact_alloc'], r['scipy'])}")


def write_markdown(rows, path, machine):
    lines = ["# symact benchmark results", "", f"Machine: {machine}", "",
             "Generated by `python benchmarks/run.py`. Medians of repeats. Ratios < 1: symact is faster.",
             "*roofline* = symact (out=) time / streaming copy of the same array (`np.copyto` into a",
             "preallocated array: read n + write n; fused kernels write 2n). *torch alloc* compares allocating calls,",
             "*torch out=* compares `out=` calls (only where PyTorch has `out=`); *numpy* = textbook NumPy formula",
             "(allocating); *scipy* = scipy.special (expit, log_expit) or np.logaddexp for softplus. – = no peer.", "",
             "| kernel | dtype | n | symact out= (ms) | roofline | /torch alloc | /torch out= | /numpy | /scipy |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['kernel']} | {r['dtype']} | {r['n']:.0e} | {r['symact_out'] * 1e3:.3f} | "
                     f"{r['symact_out'] / r['copy']:.2f} | {_ratio(r['symact_alloc'], r['torch_alloc'])} | "
                     f"{_ratio(r['symact_out'], r['torch_out'])} | {_ratio(r['symact_alloc'], r['numpy'])} | "
                     f"{_ratio(r['symact_alloc'], r['scipy'])} |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    n = max(r["n"] for r in rows)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for ax, dt in zip(axes, ("float32", "float64")):
        sel = [r for r in rows if r["n"] == n and r["dtype"] == dt]
        names = [r["kernel"] for r in sel]
        ys = np.arange(len(sel))
        ax.barh(ys - 0.2, [r["symact_out"] / r["copy"] for r in sel], 0.4, label="symact (out=)")
        ax.barh(ys + 0.2, [r["torch_alloc"] / r["copy"] if r["torch_alloc"] else 0 for r in sel], 0.4,
                label="PyTorch (allocating)")
        ax.axvline(1, color="k", lw=0.8)
        ax.set_yticks(ys, names)
        ax.set_xscale("log")
        ax.set_xlabel("time / streaming copy")
        ax.set_title(f"{dt}, n = {n:.0e}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def crossover(repeats):
    """Serial vs parallel loop per size for a few kernels: where does all-cores start to win?"""
    sizes = [int(v) for v in np.geomspace(1e3, 4e6, 16)]
    rng = np.random.default_rng(0)
    print(f"{'kernel':12s} {'dtype':8s} " + " ".join(f"{n:>9d}" for n in sizes))
    for name in ("relu", "sigmoid", "softplus", "gelu"):
        fn = getattr(K, name)
        for dt in DTYPES:
            ratios = []
            for n in sizes:
                x = rng.standard_normal(n).astype(dt)
                o = np.empty_like(x)
                K.configure(parallel=False)
                ser = timeit(lambda: fn(x, out=o), target_s=0.01, repeats=repeats)
                K.configure(parallel=True)
                par = timeit(lambda: fn(x, out=o), target_s=0.01, repeats=repeats)
                ratios.append(par / ser)
            K.configure(parallel=None)
            print(f"{name:12s} {dt.__name__:8s} " + " ".join(f"{r:9.2f}" for r in ratios), flush=True)
    print("(parallel time / serial time; < 1: all cores win)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1e5 and 1e6 only, fewer repeats")
    ap.add_argument("--crossover", action="store_true", help="serial vs parallel loop by size")
    ap.add_argument("--out", default=str(HERE / "results.md"))
    args = ap.parse_args(argv)
    threads = numba.get_num_threads()
    if torch:
        torch.set_num_threads(threads)
    repeats = 3 if args.quick else 7
    if args.crossover:
        crossover(repeats)
        return
    kernels = ["relu", "sigmoid", "sigmoid_grad", "sigmoid_fwd_grad", "log_sigmoid", "softplus", "silu",
               "silu_grad", "elu", "tanh", "tanh_grad", "gelu"]
    sizes = SIZES[:2] if args.quick else SIZES
    rows = run(sizes, repeats, kernels)
    machine = machine_line()
    out = Path(args.out)
    write_markdown(rows, out, machine)
    plot(rows, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}\n{machine}", file=sys.stderr)


if __name__ == "__main__":
    main()
