"""Accuracy of the row-wise kernels against mpmath, next to PyTorch's (CPU), in ULP.

    python benchmarks/row_accuracy.py [--out benchmarks/row_accuracy.md]

Rows: the extreme ones of the losses issue ([1000, 0, -1000], [-745, -744, -800], [100, 0, 0], …)
and random rows at scales 1, 30 and 300; cross-entropy with the label at the row's maximum and at its
minimum. For each kernel and dtype the table gives the largest error
in ULP of the true value (results below the smallest normal number are measured in units of the
smallest subnormal), and how many results were total losses: not finite, or zero where the truth is
not. "beyond 2·spread" subtracts the error inherent to the problem: x_j − max(x) rounds, and e^x turns
that into a relative error up to |x_j − max|·u, i.e. 2·spread ULP for a row spanning `spread`. Not a test: the tests assert symact's bounds; this shows where the peers stand.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mpmath
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from reference import ulp_error  # noqa: E402

import symact.kernels as K  # noqa: E402

EXTREME = [[1000.0, 0.0, -1000.0], [-745.0, -744.0, -800.0], [100.0, 0.0, 0.0], [2.0, 1.0, 0.1],
           [0.0, 0.0, 0.0, 0.0], [-1e4, 1e4], [30.0, 0.0, -30.0, 1.0], [88.0, 0.0, -100.0]]


def _rows(rng):
    rows = [r for r in EXTREME]
    for scale in (1.0, 30.0, 300.0):
        rows += [list(rng.standard_normal(8) * scale) for _ in range(20)]
    return rows


def _truth(row, label):
    """With M = max and rest = Σ_{k≠argmax} e^(x_k − M): log-sum-exp is M + log1p(rest), so
    x_j − lse = (x_j − M) − log1p(rest) keeps tiny results that M + … at 60 digits would round away."""
    xs = [mpmath.mpf(v) for v in row]
    top = max(range(len(xs)), key=lambda m: xs[m])
    big = xs[top]
    rest = mpmath.fsum(mpmath.exp(v - big) for m, v in enumerate(xs) if m != top)
    shifted = [(v - big) - mpmath.log1p(rest) for v in xs]  # x_j − lse, exactly as far as it matters
    soft = [mpmath.exp(v) for v in shifted]
    grad = [p - (1 if m == label else 0) for m, p in enumerate(soft)]
    grad[label] = -mpmath.fsum(p for m, p in enumerate(soft) if m != label)
    return {"softmax": soft, "log_softmax": shifted, "logsumexp": [big + mpmath.log1p(rest)],
            "cross_entropy": [-shifted[label]], "cross_entropy_grad": grad}


def _ours(name, x, label):
    if name == "cross_entropy":
        return [K.cross_entropy(x[None], np.array([label]))]
    if name == "cross_entropy_grad":
        return list(K.cross_entropy_grad(x[None], np.array([label]))[0])
    return list(np.atleast_1d(getattr(K, name)(x)))


def _torch(torch, name, x, label):
    t = torch.tensor(x)
    if name == "softmax":
        return torch.softmax(t, 0).tolist()
    if name == "log_softmax":
        return torch.log_softmax(t, 0).tolist()
    if name == "logsumexp":
        return [torch.logsumexp(t, 0).item()]
    if name == "cross_entropy":
        return [torch.nn.functional.cross_entropy(t[None], torch.tensor([label])).item()]
    t.requires_grad_(True)
    torch.nn.functional.cross_entropy(t[None], torch.tensor([label])).backward()
    return t.grad.tolist()


def _score(values, truths, dtype, spread):
    """Largest error in ULP, the same beyond the inherent 2·spread ULP, and the total losses."""
    worst, beyond, lost = 0.0, 0.0, 0
    tiny = np.finfo(dtype).tiny
    for v, t in zip(values, truths):
        v = float(v)
        sub = np.finfo(dtype).smallest_subnormal
        if not np.isfinite(v) or (v == 0 and abs(t) >= sub):  # 0 is right only below half a subnormal
            lost += 1
            continue
        if abs(t) < tiny:
            err = float(abs(mpmath.mpf(v) - t) / float(sub))
        else:
            err = ulp_error(v, t, dtype)
        worst, beyond = max(worst, err), max(beyond, err - 2 * spread)
    return worst, beyond, lost


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "row_accuracy.md")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    names = ["softmax", "log_softmax", "logsumexp", "cross_entropy", "cross_entropy_grad"]
    lines = ["| kernel | dtype | symact max ULP | beyond 2·spread | total losses | PyTorch max ULP | beyond 2·spread "
             "| total losses |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    with mpmath.workdps(60):
        for name in names:
            for dtype in (np.float32, np.float64):
                ours, theirs = [0.0, 0.0, 0], [0.0, 0.0, 0]
                for row in _rows(rng):
                    x = np.array(row, dtype)
                    spread = float(x.max() - x.min())  # |x_j − max| ≤ spread: the shift's rounding
                    for label in sorted({int(np.argmax(x)), int(np.argmin(x))}):
                        truths = _truth([float(v) for v in x], label)[name]
                        for acc, values in ((ours, _ours(name, x, label)),
                                            (theirs, _torch(torch, name, x, label) if torch else None)):
                            if values is None:
                                continue
                            w, b, lost = _score(values, truths, dtype, spread)
                            acc[0], acc[1], acc[2] = max(acc[0], w), max(acc[1], b), acc[2] + lost
                peer = (f"{theirs[0]:.3g} | {theirs[1]:.3g} | {theirs[2]}" if torch else "– | – | –")
                lines.append(f"| {name} | {np.dtype(dtype).name} | {ours[0]:.3g} | {ours[1]:.3g} | {ours[2]} | {peer} |")
    text = "\n".join(["# Row kernels: accuracy against mpmath", "",
                      f"{len(_rows(np.random.default_rng(0)))} rows (the extreme ones and random rows at scales "
                      "1, 30, 300; the label at the row's maximum and at its minimum). Generated by `python benchmarks/row_accuracy.py`. "
                      "*beyond 2·spread*: the error minus the 2·(max − min) ULP inherent to rounding x − max.",
                      "", *lines, ""])
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
