"""Derivatives from the output: the closed forms the notes give, proven; every from-output kernel of the
catalog against the independent truth; and the price of keeping only y, measured."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

import symact.kernels as K
from accuracy import DTYPES, RESULTS, entry_kernels, measure_kernel
from conftest import derived_catalog
from symact.derive.from_output import Y


@pytest.mark.parametrize("name,expected", [
    ("sigmoid", Y * (1 - Y)),                          # seeds/001: sigma' = sigma(1 - sigma)
    ("tanh", 1 - Y**2),                                # seeds/001: tanh' = 1 - tanh^2
    ("softplus", 1 - sp.exp(-sp.Symbol("beta", positive=True) * Y)),
    ("log_sigmoid", 1 - sp.exp(Y)),
    ("relu", sp.Piecewise((1, Y > 0), (0, True))),
    ("elu", sp.Piecewise((1, Y > 0), (Y + sp.Symbol("alpha", real=True), True))),
])
def test_closed_forms(derived, name, expected):
    k = next(k for k in derived[name].kernels if k.name == f"{name}_grad_from_output")
    assert sp.simplify(k.textbook - expected) == 0
    assert k.proof.ok


def test_every_entry_has_a_from_output_kernel_or_says_why(derived):
    """The catalog decides: each activation either gets name_grad_from_output (proven g(f(x)) = f'(x))
    or states why not (no closed-form inverse: SiLU needs LambertW; sine is not injective)."""
    for name, d in derived.items():
        has = any(k.name == f"{name}_grad_from_output" for k in d.kernels)
        assert has != bool(d.no_from_output), (name, d.no_from_output)
        assert has == (f"{name}_grad_from_output" in K.__all__), name


def _cases():
    for name, d in derived_catalog().items():
        for kernel, kind in entry_kernels(d, K.__all__):
            if kind == "from_output":
                for dt in DTYPES:
                    yield pytest.param(name, kernel, dt, id=f"{kernel}-{dt.__name__}")


@pytest.mark.parametrize("entry_name,kernel,dtype", list(_cases()))
def test_from_output_accuracy(derived, entry_name, kernel, dtype):
    """name_grad_from_output(y) for y = f(x) correctly rounded over the full sweep (defaults) and the
    short sweep (every other parameter value): within 4 ULP of f'(x'), f(x') = y, the truth at the
    kernel's own input, from the definition only (tests/accuracy.py: one Newton step of the inverse
    from x, with f' and f'' from reference.py). The from-output form itself loses nothing there."""
    res = measure_kernel(derived[entry_name], kernel, "from_output", dtype, K)
    RESULTS[(kernel, dtype.__name__)] = res
    assert not res.failures, f"{len(res.failures)} points over the bound:\n" + "\n".join(res.failures[:12])


def test_caveat_is_real_and_measured(derived):
    """y(1 - y) dies where sigma(x) rounds to 1; the input form keeps sigma'(x) ~ e^-x."""
    with mpmath.workdps(50):
        truth = float(mpmath.exp(-40) / (1 + mpmath.exp(-40)) ** 2)
    assert K.sigmoid_grad_from_output(K.sigmoid(np.array([40.0])))[0] == 0.0
    assert K.sigmoid_grad(np.array([40.0]))[0] == pytest.approx(truth, rel=1e-14)
    k = next(k for k in derived["sigmoid"].kernels if k.name == "sigmoid_grad_from_output")
    assert "float32: g(f(x)) loses f'(x) from x = 12.5" in k.note
    assert "float64: g(f(x)) loses f'(x) from x = 22" in k.note
    x = np.float32(12.5)
    rel = abs(K.sigmoid_grad_from_output(K.sigmoid(np.float32([x])))[0] - truth_at(x)) / truth_at(x)
    assert rel > 1e-4  # the float32 loss the note states, seen in the kernel itself


def truth_at(x):
    with mpmath.workdps(50):
        e = mpmath.exp(-mpmath.mpf(float(x)))
        return float(e / (1 + e) ** 2)
