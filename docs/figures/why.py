"""The README's picture: two textbook formulas against the truth and symact's kernels, float64.

    python docs/figures/why.py        # writes docs/figures/why.svg (deterministic)

Left: softplus(x) = log(1 + e^x) for negative x, where 1 + e^x rounds to 1 and the textbook form
returns 0 from x ≈ −37 on. Right: σ'(x) from the output, y(1 − y), which is 0 from x ≈ 37 on (what
PyTorch's and JAX's autograd return); symact's kernels follow the truth (mpmath, 50 digits).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import mpmath
import numpy as np
from matplotlib.figure import Figure

from symact.docs import METADATA, _rc
from symact.kernels import sigmoid_grad, softplus

OUT = Path(__file__).with_suffix(".svg")


def main() -> Path:
    mpmath.mp.dps = 50
    xs = np.linspace(-60, 0, 241)
    truth_sp = np.array([float(mpmath.log1p(mpmath.exp(mpmath.mpf(float(x))))) for x in xs])
    with np.errstate(all="ignore"):
        textbook_sp = np.log(1 + np.exp(xs))
    ours_sp = softplus(xs)

    xg = np.linspace(0, 60, 241)
    truth_g = np.array([float(mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2) for x in (mpmath.mpf(float(v)) for v in xg)])
    y = 1 / (1 + np.exp(-xg))
    textbook_g = y * (1 - y)
    ours_g = sigmoid_grad(xg)

    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(7.2, 2.5))
        axes = fig.subplots(1, 2)
        panels = ((axes[0], xs, truth_sp, textbook_sp, ours_sp, "softplus(x), float64", "log(1 + eˣ)"),
                  (axes[1], xg, truth_g, textbook_g, ours_g, "σ′(x), float64", "y(1 − y), y = σ(x)"))
        for ax, x, truth, textbook, ours, title, label in panels:
            ax.set_yscale("log")
            ax.plot(x, truth, color="0.55", lw=3.2, alpha=0.55, label="truth (mpmath)")
            pos = textbook > 0
            ax.plot(x[pos], textbook[pos], color="#d9591b", lw=1.3, ls="--", label=f"textbook {label}")
            zero = x[~pos]
            if zero.size:
                lo = np.nanmin(truth[truth > 0])
                ax.plot(zero[::8], np.full(zero[::8].shape, lo), "x", color="#d9591b", ms=4,
                        label="textbook: exactly 0")
            ax.plot(x[::6], ours[::6], "o", color="#1f5fa8", ms=2.6, label="symact kernel")
            ax.set_title(title)
            ax.set_xlabel("x")
            ax.legend(loc="lower left" if ax is axes[1] else "lower right", fontsize=6.5)
        fig.subplots_adjust(left=0.08, right=0.99, bottom=0.18, top=0.89, wspace=0.22)
        fig.savefig(OUT, format="svg", metadata=METADATA["svg"])
    return OUT


if __name__ == "__main__":
    print(main())
