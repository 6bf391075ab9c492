"""symact kernels against NumPy, scipy.special, PyTorch (CPU) and a streaming copy, in one run.

    python benchmarks/run.py              # everything -> benchmarks/results.md + results.png
    python benchmarks/run.py --runs 3     # the same, each time the median of three whole runs
    python benchmarks/run.py --quick      # fewer repeats, 1e5 and 1e6 only
    python benchmarks/run.py --crossover  # serial vs parallel loop by array size
    python benchmarks/run.py --startup    # import / first-use times only

Candidates for one (kernel, dtype, size) are timed interleaved (round robin, so a burst of load on
the machine hits all of them alike) and each is quoted as the median of its repeats; every ratio
divides two medians of the same run. Outputs are written into preallocated arrays ("out=") and,
separately, allocated per call ("alloc"): like is compared with like. Numba and PyTorch use the same
thread count. Numba uses its default threading layer (OpenMP here; its 'workqueue' fallback costs
~0.1 ms per parallel launch and scaled badly, see the README). Not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import llvmlite.binding
import numba
import numpy as np
import scipy.special as ss

import symact.kernels as K

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

HERE = Path(__file__).resolve().parent
SIZES = (10**5, 10**6, 10**7)
ROWS = ((128, 1000), (4096, 1000))
DTYPES = (np.float32, np.float64)
KERNELS = ["relu", "relu_grad", "sigmoid", "sigmoid_grad", "sigmoid_fwd_grad", "sigmoid_fwd_vjp", "log_sigmoid",
           "softplus", "softplus_grad", "silu", "silu_grad", "silu_fwd_vjp", "elu", "elu_grad", "tanh", "tanh_grad",
           "tanh_fwd_vjp", "gelu", "gelu_grad", "gelu_fwd_vjp"]


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _peers():
    """kernel -> (textbook NumPy, scipy.special, torch allocating, torch out=), None where absent.
    Gradient and vjp peers in torch are what autograd runs: the forward op, then aten's backward op."""
    t = torch
    tf = t.nn.functional if t else None
    a = t.ops.aten if t else None
    one = {}  # ones like x, per tensor (the grad output of a plain derivative)

    def ones(x):
        key = (x.dtype, x.shape)
        if key not in one:
            one[key] = t.ones_like(x)
        return one[key]

    def textbook_sigmoid_grad(x):
        s = _np_sigmoid(x)
        return s * (1 - s)

    peers = {
        "relu": (lambda x: np.maximum(x, 0), None, t and t.relu, t and (lambda x, o: t.clamp_min(x, 0, out=o))),
        "relu_grad": (lambda x: (x > 0).astype(x.dtype), None,
                      t and (lambda x: a.threshold_backward(ones(x), x, 0)), None),
        "sigmoid": (_np_sigmoid, ss.expit, t and t.sigmoid, t and (lambda x, o: t.sigmoid(x, out=o))),
        "sigmoid_grad": (textbook_sigmoid_grad, None,
                         t and (lambda x: a.sigmoid_backward(ones(x), t.sigmoid(x))), None),
        "sigmoid_fwd_grad": (None, None, t and (lambda x: (lambda y: (y, a.sigmoid_backward(ones(x), y)))(t.sigmoid(x))),
                             None),
        "log_sigmoid": (lambda x: -np.log(1 + np.exp(-x)), ss.log_expit, tf and tf.logsigmoid, None),
        "softplus": (lambda x: np.log(1 + np.exp(x)), lambda x: np.logaddexp(0, x), tf and tf.softplus, None),
        "softplus_grad": (_np_sigmoid, ss.expit, t and (lambda x: a.softplus_backward(ones(x), x, 1, 20)), None),
        "silu": (lambda x: x / (1 + np.exp(-x)), None, tf and tf.silu, None),
        "silu_grad": (None, None, t and (lambda x: a.silu_backward(ones(x), x)), None),
        "elu": (lambda x: np.where(x > 0, x, np.exp(x) - 1), None, tf and tf.elu, None),
        "elu_grad": (lambda x: np.where(x > 0, 1, np.exp(x)), None,
                     t and (lambda x: a.elu_backward(ones(x), 1.0, 1, 1, False, x)), None),
        "tanh": (np.tanh, None, t and t.tanh, t and (lambda x, o: t.tanh(x, out=o))),
        "tanh_grad": (lambda x: 1 - np.tanh(x) ** 2, None, t and (lambda x: a.tanh_backward(ones(x), t.tanh(x))), None),
        "gelu": (lambda x: 0.5 * x * ss.erfc(-x / np.sqrt(2)), None, tf and tf.gelu, None),
        "gelu_grad": (None, None, t and (lambda x: a.gelu_backward(ones(x), x)), None),
    }
    vjp_peers = {  # (x, g) -> (y, g·f'(x))
        "sigmoid_fwd_vjp": t and (lambda x, g: (lambda y: (y, a.sigmoid_backward(g, y)))(t.sigmoid(x))),
        "silu_fwd_vjp": t and (lambda x, g: (tf.silu(x), a.silu_backward(g, x))),
        "tanh_fwd_vjp": t and (lambda x, g: (lambda y: (y, a.tanh_backward(g, y)))(t.tanh(x))),
        "gelu_fwd_vjp": t and (lambda x, g: (tf.gelu(x), a.gelu_backward(g, x))),
    }
    return peers, vjp_peers


def measure(cands, repeats, target_s=0.02):
    """Median seconds per call of each candidate (name -> callable), timed round robin: each
    repeat runs every candidate for ~target_s."""
    inner = {}
    for name, fn in cands.items():
        fn()
        t0 = time.perf_counter()
        fn()
        inner[name] = max(1, int(target_s / max(time.perf_counter() - t0, 1e-7)))
    times = {name: [] for name in cands}
    for _ in range(repeats):
        for name, fn in cands.items():
            n = inner[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - t0) / n)
    return {name: statistics.median(v) for name, v in times.items()}


def median_rows(runs):
    """One row per cell: every time (and every other number, which the runs share) the median over
    the runs; ratios are then taken between these medians."""
    if len(runs) == 1:
        return runs[0]
    merged = []
    for cells in zip(*runs):
        row = dict(cells[0])
        for key, value in row.items():
            if isinstance(value, float):
                row[key] = statistics.median(c[key] for c in cells)
        merged.append(row)
    return merged


@numba.njit(parallel=True, cache=True)
def _pcopy(src, dst):
    for i in numba.prange(src.shape[0]):
        dst[i] = src[i]


def streaming_bandwidth(rows):
    """The machine's streaming-copy bandwidth in bytes/s (read + write), the roofline: the median,
    over the 1e7-element rows (80 / 40 MB arrays, beyond the 32 MB L3, so DRAM), of an all-cores
    copy timed interleaved with each kernel (so a burst of load elsewhere hits both alike); with
    np.copyto's (one thread) alongside. A kernel's time at the roofline = its bytes / this."""
    big = [r for r in rows if r["n"] == max(SIZES)]
    return (statistics.median(r["nbytes"] / r["pcopy"] for r in big),
            {"np.copyto": statistics.median(r["nbytes"] / r["copy"] for r in big)})


def machine_line():
    cpu = platform.processor() or "cpu"
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = text
        for line in text.splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    simd = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "SSE")
    tv = torch.__version__ if torch else "absent"
    llvm_cpu = llvmlite.binding.get_host_cpu_name()  # the tuning Numba compiles for
    return (f"{cpu} (LLVM: {llvm_cpu}), {os.cpu_count()} cores, {simd}; Python {platform.python_version()}, NumPy {np.__version__}, "
            f"Numba {numba.__version__} ({_layer()} layer, {numba.get_num_threads()} threads), "
            f"PyTorch {tv} ({torch.get_num_threads() if torch else 0} threads)")


def _layer():
    try:
        return numba.threading_layer()
    except ValueError:
        return "not yet chosen"


def loadavg():
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def run_elementwise(sizes, repeats, kernels):
    rng = np.random.default_rng(0)
    peers, vjp_peers = _peers()
    rows = []
    for dt in DTYPES:
        for n in sizes:
            x = (rng.standard_normal(n) * 4).astype(dt)
            g = rng.standard_normal(n).astype(dt)
            o1, o2 = np.empty_like(x), np.empty_like(x)
            tx = torch.from_numpy(x) if torch else None
            tg = torch.from_numpy(g) if torch else None
            to = torch.empty_like(tx) if torch else None
            for name in kernels:
                fn = getattr(K, name, None)
                if fn is None:
                    continue
                vjp = name.endswith("_fwd_vjp")
                two = vjp or name.endswith("_fwd_grad")
                outs = (o1, o2) if two else o1
                args = (x, g) if vjp else (x,)
                cands = {"copy": lambda: np.copyto(o1, x), "pcopy": lambda: _pcopy(x, o1),
                         "symact_out": lambda: fn(*args, out=outs),
                         "symact_alloc": lambda: fn(*args)}
                np_f, sp_f, t_alloc, t_out = peers.get(name, (None,) * 4)
                if vjp and torch:
                    t_alloc = vjp_peers.get(name)
                if np_f:
                    cands["numpy"] = lambda: np_f(x)
                if sp_f:
                    cands["scipy"] = lambda: sp_f(x)
                if t_alloc:
                    cands["torch_alloc"] = (lambda: t_alloc(tx, tg)) if vjp else (lambda: t_alloc(tx))
                if t_out:
                    cands["torch_out"] = lambda: t_out(tx, to)
                with np.errstate(all="ignore"):
                    r = measure(cands, repeats)
                r.update(kernel=name, dtype=dt.__name__, n=n, traffic=(2 + two + vjp) / 2, nbytes=2 * x.nbytes)
                rows.append(r)
                print(_fmt_row(r), flush=True)
    return rows


def run_rowwise(repeats):
    rng = np.random.default_rng(1)
    rows = []
    t = torch
    for dt in DTYPES:
        for shape in ROWS:
            x = (rng.standard_normal(shape) * 4).astype(dt)
            g = rng.standard_normal(shape).astype(dt)
            labels = rng.integers(0, shape[1], shape[0])
            o = np.empty_like(x)
            tx, tg = (t.from_numpy(x), t.from_numpy(g)) if t else (None, None)
            tl = t.from_numpy(labels) if t else None
            specs = [("softmax", lambda: K.softmax(x, out=o), lambda: K.softmax(x),
                      t and (lambda: t.softmax(tx, -1)), 1.0),
                     ("softmax_vjp", lambda: K.softmax_vjp(x, g, out=o), lambda: K.softmax_vjp(x, g),
                      t and (lambda: t._softmax_backward_data(tg, t.softmax(tx, -1), -1, tx.dtype)), 1.5),
                     ("log_softmax", lambda: K.log_softmax(x, out=o), lambda: K.log_softmax(x),
                      t and (lambda: t.log_softmax(tx, -1)), 1.0),
                     ("log_softmax_vjp", lambda: K.log_softmax_vjp(x, g, out=o), lambda: K.log_softmax_vjp(x, g),
                      t and (lambda: t._log_softmax_backward_data(tg, t.log_softmax(tx, -1), -1, tx.dtype)), 1.5)]
            ce, ce_grad = getattr(K, "cross_entropy", None), getattr(K, "cross_entropy_grad", None)
            if ce is not None:
                specs.append(("cross_entropy", None, lambda: ce(x, labels),
                              t and (lambda: t.nn.functional.cross_entropy(tx, tl)), 0.5))
            if ce_grad is not None:
                def torch_ce_grad():
                    xr = tx.detach().requires_grad_(True)
                    t.nn.functional.cross_entropy(xr, tl).backward()
                    return xr.grad
                specs.append(("cross_entropy_grad", None, lambda: ce_grad(x, labels), t and torch_ce_grad, 1.0))
            ce_fused = getattr(K, "cross_entropy_fwd_grad", None)
            if ce_fused is not None:  # loss and gradient in one pass; torch: forward + backward
                specs.append(("cross_entropy_fwd_grad", None, lambda: ce_fused(x, labels), t and torch_ce_grad, 1.0))
            for name, s_out, s_alloc, t_fn, traffic in specs:
                cands = {"copy": lambda: np.copyto(o, x), "symact_alloc": s_alloc}
                if s_out:
                    cands["symact_out"] = s_out
                if t_fn:
                    cands["torch_alloc"] = t_fn
                r = measure(cands, repeats)
                r.setdefault("symact_out", None)
                r.update(kernel=name, dtype=dt.__name__, n=f"{shape[0]}×{shape[1]}", traffic=traffic, nbytes=2 * x.nbytes)
                rows.append(r)
                print(_fmt_row(r), flush=True)
    return rows


def _ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "–"


def _best(r):
    return r["symact_out"] if r.get("symact_out") is not None else r["symact_alloc"]


def _fmt_row(r):
    n = f"{r['n']:,d}" if isinstance(r["n"], int) else r["n"]
    return (f"{r['kernel']:20s} {r['dtype']:8s} {n:>10s}  copy {r['copy'] * 1e3:7.3f} ms  "
            f"symact {_best(r) * 1e3:7.3f} ms ({_best(r) / r['copy']:.2f}× copy)  "
            f"/torch alloc {_ratio(r['symact_alloc'], r.get('torch_alloc'))}  "
            f"/torch out= {_ratio(r.get('symact_out'), r.get('torch_out'))}  "
            f"/numpy {_ratio(r['symact_alloc'], r.get('numpy'))}  /scipy {_ratio(r['symact_alloc'], r.get('scipy'))}")


def startup(runs=5):
    """Median wall times, each in a fresh interpreter with a warm Numba cache."""
    code = {
        "import numba": "import time; t=time.perf_counter(); import numba; print(time.perf_counter()-t)",
        "import symact.kernels (imports and sets up Numba)": (
            "import time; t=time.perf_counter(); import symact.kernels; print(time.perf_counter()-t)"),
        "first use after import: sigmoid(1000 elements)": (
            "import time, numpy as np; x=np.ones(1000); import symact.kernels as K; t=time.perf_counter(); "
            "K.sigmoid(x); print(time.perf_counter()-t)"),
        "first use, all cores: softplus(10^6 elements)": (
            "import time, numpy as np; x=np.ones(10**6); import symact.kernels as K; t=time.perf_counter(); "
            "K.softplus(x); print(time.perf_counter()-t)"),
        "second kernel (gelu_fwd_vjp)": (
            "import time, numpy as np; x=np.ones(1000); import symact.kernels as K; K.sigmoid(x); "
            "t=time.perf_counter(); K.gelu_fwd_vjp(x, x); print(time.perf_counter()-t)"),
        "import to first result (import + sigmoid)": (
            "import time; t=time.perf_counter(); import numpy as np; import symact.kernels as K; "
            "K.sigmoid(np.ones(1000)); print(time.perf_counter()-t)"),
    }
    try:
        import torch  # noqa: F401  (for comparison: PyTorch's own import)
        code["import torch (for comparison)"] = (
            "import time; t=time.perf_counter(); import torch; print(time.perf_counter()-t)")
    except ImportError:
        pass
    for src in code.values():  # warm the cache (and the OS file cache)
        subprocess.run([sys.executable, "-c", src], capture_output=True, check=True)
    out = {}
    for what, src in code.items():
        ts = [float(subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, check=True)
                    .stdout.split()[-1]) for _ in range(runs)]
        out[what] = statistics.median(ts)
        print(f"{what:45s} {out[what] * 1e3:8.1f} ms (median of {runs})", flush=True)
    return out


def _roof_time(r, bw):
    """A kernel's time at the roofline: its bytes at the streaming bandwidth; at 1e7 elements that of
    the all-cores copy timed with it (DRAM at that moment), in cache the run's median."""
    return r["traffic"] * (r["pcopy"] if r["n"] == max(SIZES) else r["nbytes"] / bw)


def _roof(r, bw):
    return _best(r) / _roof_time(r, bw)


def summary(rows, bw):
    lines = []
    ew = [r for r in rows if isinstance(r["n"], int)]
    for n, bound in ((10**6, 2.0), (10**7, 1.3)):
        sel = [r for r in ew if r["n"] == n]
        if not sel:
            continue
        over = [f"{r['kernel']} {r['dtype']} ({_roof(r, bw):.2f})" for r in sel if _roof(r, bw) > bound]
        over_copy = [r for r in sel if r["symact_out"] / r["copy"] > bound * r["traffic"]]
        lines.append(f"- n = {n:.0e}: {len(sel) - len(over)} of {len(sel)} within {bound}× the roofline "
                     f"({len(sel) - len(over_copy)} of {len(sel)} within {bound}× a same-size copy's time per byte)"
                     + (f"; over the roofline: {', '.join(over)}" if over else ""))
    vs = [r for r in ew if r.get("torch_alloc")]
    slower = [f"{r['kernel']} {r['dtype']} {r['n']:.0e} ({r['symact_alloc'] / r['torch_alloc']:.2f})"
              for r in vs if r["symact_alloc"] >= r["torch_alloc"]]
    lines.append(f"- faster than PyTorch (allocating vs allocating) in {len(vs) - len(slower)} of {len(vs)} cases"
                 + (f"; not in: {', '.join(slower)}" if slower else ""))
    vs_out = [r for r in ew if r.get("torch_out")]
    slower = [f"{r['kernel']} {r['dtype']} {r['n']:.0e} ({r['symact_out'] / r['torch_out']:.2f})"
              for r in vs_out if r["symact_out"] >= r["torch_out"]]
    lines.append(f"- faster than PyTorch (out= vs out=) in {len(vs_out) - len(slower)} of {len(vs_out)} cases"
                 + (f"; not in: {', '.join(slower)}" if slower else ""))
    rw = [r for r in rows if not isinstance(r["n"], int)]
    slower = [f"{r['kernel']} {r['dtype']} {r['n']} ({r['symact_alloc'] / r['torch_alloc']:.2f})"
              for r in rw if r.get("torch_alloc") and r["symact_alloc"] >= r["torch_alloc"]]
    lines.append(f"- row-wise: faster than PyTorch in {sum(1 for r in rw if r.get('torch_alloc')) - len(slower)} of "
                 f"{sum(1 for r in rw if r.get('torch_alloc'))} cases" + (f"; not in: {', '.join(slower)}" if slower else ""))
    for r in rw:
        if r["n"].startswith("4096"):
            lines.append(f"- {r['kernel']} {r['dtype']} 4096×1000: {_roof(r, bw):.2f}× the roofline, "
                         f"{_best(r) / r['copy']:.2f}× a same-size copy (moves {r['traffic']:.1f}× a copy's bytes), "
                         f"{_ratio(r['symact_alloc'], r.get('torch_alloc'))}× torch")
    return lines


def write_markdown(rows, path, machine, load_before, load_after, start, bw, bws, runs=1):
    lines = ["# symact benchmark results", "", f"Machine: {machine}", "",
             f"Load average (1 min) before the run: {load_before}, after: {load_after}.", "",
             f"Streaming-copy bandwidth (the roofline: an all-cores copy of 1e7 elements, read + write, "
             f"timed with each kernel; median): {bw / 1e9:.1f} GB/s "
             f"({', '.join(f'{k} {v / 1e9:.1f}' for k, v in bws.items())}).", "",
             f"Generated by `python benchmarks/run.py{' --runs ' + str(runs) if runs > 1 else ''}`. Medians of "
             f"interleaved repeats{f', then of {runs} whole runs (per cell)' if runs > 1 else ''}. "
             "Ratios < 1: symact is faster.",
             "*/roofline* = symact (out=) time / the time its bytes take at the streaming-copy bandwidth: at 1e7",
             "the all-cores copy of the same array timed with it, at 1e5 and 1e6 (arrays in cache, where kernels",
             "can beat DRAM) the run's median bandwidth above. */copy* = symact time / `np.copyto` of the same",
             "array (one thread; at 1e5 and 1e6 an in-cache copy, a stricter bound). A kernel moving more (fused:",
             "writes 2n; vjp: reads 2n, writes 2n) has its traffic in the *bytes* column, in copies; /roofline",
             "counts it, /copy does not.",
             "*torch alloc* compares allocating calls (for grads and vjps: the forward op plus aten's backward op,",
             "what autograd runs), *torch out=* compares `out=` calls where PyTorch has them; *numpy* = textbook",
             "NumPy formula, *scipy* = scipy.special (allocating).",
             "", "## Summary against the targets", ""] + summary(rows, bw) + [
             "", "## Elementwise kernels", "",
             "| kernel | dtype | n | symact out= (ms) | /roofline | /copy | bytes | /torch alloc | /torch out= | /numpy | /scipy |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if not isinstance(r["n"], int):
            continue
        lines.append(f"| {r['kernel']} | {r['dtype']} | {r['n']:.0e} | {r['symact_out'] * 1e3:.3f} | "
                     f"{_roof(r, bw):.2f} | {r['symact_out'] / r['copy']:.2f} | {r['traffic']:.1f} | "
                     f"{_ratio(r['symact_alloc'], r.get('torch_alloc'))} | {_ratio(r['symact_out'], r.get('torch_out'))} | "
                     f"{_ratio(r['symact_alloc'], r.get('numpy'))} | {_ratio(r['symact_alloc'], r.get('scipy'))} |")
    rw = [r for r in rows if not isinstance(r["n"], int)]
    if rw:
        lines += ["", "## Row-wise kernels (along the last axis)", "",
                  "| kernel | dtype | rows×cols | symact (ms) | /roofline | /copy | bytes | /torch alloc |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for r in rw:
            lines.append(f"| {r['kernel']} | {r['dtype']} | {r['n']} | {_best(r) * 1e3:.3f} | {_roof(r, bw):.2f} | "
                         f"{_best(r) / r['copy']:.2f} | "
                         f"{r['traffic']:.1f} | {_ratio(r['symact_alloc'], r.get('torch_alloc'))} |")
    if start:
        lines += ["", "## Start-up (fresh interpreter, warm Numba cache, medians of 5)", "", "| what | ms |", "|---|---:|"]
        lines += [f"| {k} | {v * 1e3:.1f} |" for k, v in start.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot(rows, path, bw):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    ew = [r for r in rows if isinstance(r["n"], int)]
    if not ew:
        return
    n = max(r["n"] for r in ew)
    fig, axes = plt.subplots(1, 2, figsize=(12, 7), sharey=True)
    for ax, dt in zip(axes, ("float32", "float64")):
        sel = [r for r in ew if r["n"] == n and r["dtype"] == dt]
        names = [r["kernel"] for r in sel]
        ys = np.arange(len(sel))
        roof = [_roof_time(r, bw) for r in sel]
        ax.barh(ys - 0.2, [r["symact_out"] / t for r, t in zip(sel, roof)], 0.4, label="symact (out=)")
        ax.barh(ys + 0.2, [r["torch_alloc"] / t if r.get("torch_alloc") else 0 for r, t in zip(sel, roof)], 0.4,
                label="PyTorch (allocating)")
        ax.axvline(1, color="k", lw=0.8)
        ax.set_yticks(ys, names)
        ax.set_xscale("log")
        ax.set_xlabel("time / roofline (its bytes at the streaming-copy bandwidth)")
        ax.set_title(f"{dt}, n = {n:.0e}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def crossover(repeats):
    """Serial vs parallel loop per size for a few kernels: where does all-cores start to win?"""
    sizes = [int(v) for v in np.geomspace(1e3, 4e6, 13)]
    rng = np.random.default_rng(0)
    print(f"{'kernel':12s} {'dtype':8s} " + " ".join(f"{n:>8d}" for n in sizes))
    for name in ("relu", "sigmoid", "gelu"):
        fn = getattr(K, name)
        for dt in DTYPES:
            ratios = []
            for n in sizes:
                x = rng.standard_normal(n).astype(dt)
                o = np.empty_like(x)
                loops = sys.modules[fn.__module__].__dict__[f"_{name.upper()}_LOOPS"][dt]
                r = measure({"ser": lambda: loops[0](x, o), "par": lambda: loops[1](x, o)}, repeats, 0.01)
                ratios.append(r["par"] / r["ser"])
            print(f"{name:12s} {dt.__name__:8s} " + " ".join(f"{v:8.2f}" for v in ratios), flush=True)
    print(f"(parallel time / serial time; < 1: all cores win; threading layer {_layer()})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1e5 and 1e6 only, fewer repeats")
    ap.add_argument("--crossover", action="store_true", help="serial vs parallel loop by size")
    ap.add_argument("--startup", action="store_true", help="import and first-use times only")
    ap.add_argument("--kernels", nargs="*", help="elementwise kernels to run (default: a fixed list)")
    ap.add_argument("--threads", type=int, help="threads for Numba and PyTorch (default: Numba's, all cores)")
    ap.add_argument("--runs", type=int, default=1,
                    help="whole runs, one after another; each time is the median over them (the machine's load "
                         "drifts over minutes, which interleaving within a run cannot even out)")
    ap.add_argument("--out", default=str(HERE / "results.md"))
    args = ap.parse_args(argv)
    if args.threads:
        numba.set_num_threads(args.threads)
        if args.threads == 1:
            K.configure(parallel=False)  # the serial loops, no thread pool at all
    threads = numba.get_num_threads()
    if torch:
        torch.set_num_threads(threads)
        # PyTorch's float64 GELU ran at 11-12 ms per 1e6 elements in a process whose first torch op
        # was that GELU, and at 3.3-3.8 ms after any small op first (a 1000-element linspace;
        # float32 unaffected). Compare against the fast state, whatever --kernels selects.
        torch.linspace(-6, 6, 1000, dtype=torch.float64)
    repeats = 5 if args.quick else 9
    if args.crossover:
        crossover(repeats)
        return
    if args.startup:
        startup()
        return
    load_before = loadavg()
    sizes = SIZES[:2] if args.quick else SIZES
    runs = []
    for i in range(args.runs):
        if args.runs > 1:
            print(f"## run {i + 1} of {args.runs}", flush=True)
        rows = run_elementwise(sizes, repeats, args.kernels or KERNELS)
        if max(SIZES) not in sizes:
            rows += run_elementwise(SIZES[-1:], repeats, ["relu"])  # the roofline needs one DRAM-sized copy
        runs.append(rows + run_rowwise(repeats))
    rows = median_rows(runs)
    bw, bws = streaming_bandwidth(rows)
    print(f"streaming-copy bandwidth: {bw / 1e9:.1f} GB/s ({bws})", flush=True)
    start = startup()
    load_after = loadavg()
    machine = machine_line()
    out = Path(args.out)
    write_markdown(rows, out, machine, load_before, load_after, start, bw, bws, args.runs)
    plot(rows, out.with_suffix(".png"), bw)
    print("\n".join(summary(rows, bw)))
    print(f"wrote {out} and {out.with_suffix('.png')}\n{machine}\nload: {load_before} -> {load_after}", file=sys.stderr)


if __name__ == "__main__":
    main()
