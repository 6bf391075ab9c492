"""PyTorch functions whose float64 backward is itself off, for the tests that use PyTorch autograd as the
truth: the same function written in exact torch operations replaces it there, and each defect stays
measured (when PyTorch fixes one, :func:`reference` fails and says to drop the entry).

hardsigmoid: PyTorch's backward multiplies by the float32 constant ``1.0f / 6.0f`` in every dtype,
0.1666666716337204 in float64 (3e-8 relative from 1/6; measured, torch 2.13)."""
from __future__ import annotations

DEFECTS = {
    "hardsigmoid": (lambda t, x: t.where((x > -3) & (x < 3), x / 6 + 0.5, (x >= 3).to(x.dtype)),
                    lambda t: t.func.grad(t.nn.functional.hardsigmoid)(t.tensor(0.5, dtype=t.float64)).item()
                    != 1 / 6),
}


def reference(entry, torch):
    """``entry.pytorch``, or its exact replacement where PyTorch's float64 backward is known to be off."""
    if entry.name not in DEFECTS:
        return entry.pytorch
    exact, still_defective = DEFECTS[entry.name]
    assert still_defective(torch), f"PyTorch's {entry.name} backward is exact now: drop it from tests/pytorch_defects.py"
    return exact
