"""Fused forward+derivative kernels name_fwd_grad(x, *params) -> (y, dy/dx), and the serial and
parallel loops: each must give exactly what the separate kernels give."""
from __future__ import annotations

import numpy as np
import pytest

import symact.kernels as K
from symact.catalog.row_losses import ROW_LOSSES

# elementwise fused kernels (the row losses' name_fwd_grad are tested in test_row_losses.py)
FUSED = [name for name in K.__all__ if name.endswith("_fwd_grad")
         and name[: -len("_fwd_grad")] not in {loss.name for loss in ROW_LOSSES}]


def test_every_activation_with_f_and_grad_has_a_fused_kernel():
    assert "sigmoid_fwd_grad" in FUSED and "softplus_fwd_grad" in FUSED and "swish_fwd_grad" in FUSED
    for name in FUSED:
        base = name[: -len("_fwd_grad")]
        assert base in K.__all__ and f"{base}_grad" in K.__all__


@pytest.mark.parametrize("name", FUSED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_fused_equals_separate_kernels(name, dtype):
    base = name[: -len("_fwd_grad")]
    x = np.concatenate([np.linspace(-30, 30, 1001), [0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30]]).astype(dtype)
    x = x.reshape(-1, 1)
    with np.errstate(all="ignore"):
        y, dy = getattr(K, name)(x)
        ys = getattr(K, base)(x)
        dys = getattr(K, f"{base}_grad")(x)
    assert y.dtype == dy.dtype == dtype and y.shape == dy.shape == x.shape
    np.testing.assert_array_equal(y, ys)
    np.testing.assert_array_equal(dy, dys)


def test_fused_out_pair_and_parameters():
    x = np.linspace(-5, 5, 11)
    out = (np.empty_like(x), np.empty_like(x))
    y, dy = K.swish_fwd_grad(x, 2.0, out=out)
    assert y is out[0] and dy is out[1]
    np.testing.assert_array_equal(y, K.swish(x, 2.0))
    np.testing.assert_array_equal(dy, K.swish_grad(x, 2.0))
    with pytest.raises(TypeError, match="tuple of 2"):
        K.sigmoid_fwd_grad(x, out=np.empty_like(x))


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "elu", "tanh_grad", "sigmoid_fwd_grad"])
def test_parallel_and_serial_loops_agree(name):
    x = np.random.default_rng(0).standard_normal(5000) * 20
    previous = K.configure(parallel=True)
    try:
        par = getattr(K, name)(x)
        K.configure(parallel=False)
        ser = getattr(K, name)(x)
    finally:
        K.configure(*previous)
    np.testing.assert_array_equal(par, ser)


def test_configure_rejects_bad_values():
    with pytest.raises(ValueError, match="parallel must be"):
        K.configure(parallel="yes")
