"""Derivatives from the output: the closed forms the notes give, proven, and their measured price."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

import symact.kernels as K
from symact.from_output import Y


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


@pytest.mark.parametrize("name", ["silu", "gelu", "gelu_tanh", "swish", "sine", "prelu"])
def test_none_where_no_inverse_exists_and_reason_given(derived, name):
    d = derived[name]
    assert not any(k.name.endswith("_from_output") for k in d.kernels)
    assert d.no_from_output


def test_from_output_matches_input_form_where_unsaturated():
    x = np.linspace(-8, 8, 161)
    for name in ["sigmoid", "tanh", "softplus", "log_sigmoid", "elu", "celu", "selu", "relu", "relu6", "leaky_relu"]:
        y = getattr(K, name)(x)
        np.testing.assert_allclose(getattr(K, f"{name}_grad_from_output")(y), getattr(K, f"{name}_grad")(x),
                                   rtol=1e-6, atol=1e-12, err_msg=name)


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
