"""Losses: PyTorch semantics (values, reductions, weights, autograd gradients), mpmath where PyTorch
has no such loss, stability at the extremes, and clear errors on bad input."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

import symact.kernels as K
from symact.catalog import X
from symact.catalog.losses import LOSSES

REDUCTIONS = ["none", "mean", "sum"]
DTYPES = [np.float64, np.float32]
rng = np.random.default_rng(7)


def _data(loss, n, dtype):
    x = (rng.standard_normal(n) * 2).astype(dtype)
    if loss.target == "pm1":
        y = rng.choice([-1.0, 1.0], n).astype(dtype)
    elif loss.target == "prob":
        y = rng.uniform(0, 1, n).astype(dtype)
    else:
        y = (x + rng.standard_normal(n) * 1.5).astype(dtype)
    x[:3] = y[:3]  # ties: the kinks of l1/huber/smooth_l1 (PyTorch's conventions there)
    return x, y


def _params(loss):
    return {p.name: float(p.value) for p in loss.params}


@pytest.mark.parametrize("loss", [l for l in LOSSES if l.pytorch], ids=lambda l: l.name)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_matches_pytorch(loss, reduction, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, y = _data(loss, 64, dtype)
    extra = [(rng.standard_normal(64) * 2).astype(dtype)] if loss.second_input else []
    params = _params(loss)
    xt = torch.tensor(x, requires_grad=True)
    et = [torch.tensor(e, requires_grad=True) for e in extra]
    out = loss.pytorch(F, xt, *et, torch.tensor(y), reduction=reduction, **params)
    (out * torch.ones_like(out)).sum().backward()
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    ours = getattr(K, loss.name)(x, *extra, y, reduction=reduction, **params)
    np.testing.assert_allclose(ours, out.detach().numpy(), **tol, err_msg=f"{loss.name} {reduction}")
    assert np.asarray(ours).dtype == dtype
    g = getattr(K, f"{loss.name}_grad")(x, *extra, y, reduction=reduction, **params)
    np.testing.assert_allclose(g, xt.grad.numpy(), **tol, err_msg=f"{loss.name}_grad {reduction}")
    if loss.second_input:
        g2 = getattr(K, f"{loss.name}_grad_{loss.second_input}")(x, *extra, y, reduction=reduction, **params)
        np.testing.assert_allclose(g2, et[0].grad.numpy(), **tol)


@pytest.mark.parametrize("loss", [l for l in LOSSES if l.weight], ids=lambda l: l.name)
def test_weights_match_pytorch(loss):
    torch = pytest.importorskip("torch")
    x, y = _data(loss, 32, np.float64)
    w = rng.uniform(0.1, 2.0, 32)
    xt = torch.tensor(x, requires_grad=True)
    F = torch.nn.functional
    kw = _params(loss)
    if loss.name == "binary_cross_entropy_with_logits":
        out = F.binary_cross_entropy_with_logits(xt, torch.tensor(y), weight=torch.tensor(w),
                                                 pos_weight=xt.new_tensor(kw["pos_weight"]))
    else:
        out = getattr(F, loss.name)(xt, torch.tensor(y), weight=torch.tensor(w), **kw)
    out.backward()
    np.testing.assert_allclose(getattr(K, loss.name)(x, y, weight=w, **kw), out.item(), rtol=1e-12)
    np.testing.assert_allclose(getattr(K, f"{loss.name}_grad")(x, y, weight=w, **kw), xt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("loss", [l for l in LOSSES if not l.pytorch], ids=lambda l: l.name)
def test_losses_without_pytorch_against_mpmath(loss):
    x, y = _data(loss, 40, np.float64)
    d = loss.pointwise()
    expr = d.expr().subs({p.symbol: p.value for p in d.params if p.name != "target"})
    t = sp.Symbol("target", real=True)
    f = sp.lambdify([X, t], expr, modules="mpmath")
    df = sp.lambdify([X, t], sp.diff(expr, X), modules="mpmath")
    with mpmath.workdps(50):
        want = [float(f(mpmath.mpf(a), mpmath.mpf(b))) for a, b in zip(x, y)]
        dwant = [float(df(mpmath.mpf(a), mpmath.mpf(b))) if a != b else 0.0 for a, b in zip(x, y)]
    np.testing.assert_allclose(getattr(K, loss.name)(x, y, reduction="none"), want, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(getattr(K, loss.name)(x, y), np.mean(want), rtol=1e-13)
    if loss.grad:
        np.testing.assert_allclose(getattr(K, f"{loss.name}_grad")(x, y, reduction="sum"), dwant, rtol=1e-13,
                                   atol=1e-300)
    else:
        assert not hasattr(K, f"{loss.name}_grad")


def test_extremes_stay_finite_and_accurate():
    for dt in DTYPES:
        x = np.array([800.0, -800.0, 800.0, -800.0], dt)
        y = np.array([1.0, 1.0, 0.0, 0.0], dt)
        v = K.binary_cross_entropy_with_logits(x, y, reduction="none")
        np.testing.assert_allclose(v, [0.0, 800.0, 800.0, 0.0], atol=0)
        g = K.binary_cross_entropy_with_logits_grad(x, y, reduction="none")
        np.testing.assert_allclose(g, [0.0, -1.0, 1.0, 0.0], atol=0)
        assert K.logistic_loss(x[:2], np.array([1.0, -1.0], dt), reduction="sum") == 0.0
    a = np.array([1e-9, 3e-12, 1e155, 1e300])
    v = K.pseudo_huber_loss(a, np.zeros(4), reduction="none")
    np.testing.assert_allclose(v[:2], a[:2] ** 2 / 2, rtol=1e-15)   # textbook sqrt(1+a^2)-1 gives 0
    np.testing.assert_allclose(v[2:], a[2:] - 1, rtol=1e-15)         # textbook gives inf
    np.testing.assert_allclose(K.pseudo_huber_loss_grad(a, np.zeros(4), reduction="none")[2:], [1.0, 1.0])


@pytest.mark.parametrize("call,message", [
    (lambda: K.mse_loss([1.0], [1.0], reduction="avg"), "reduction must be one of none, mean, sum"),
    (lambda: K.mse_loss(np.ones(3), np.ones(4)), "target has shape \\(4,\\) but input has shape \\(3,\\)"),
    (lambda: K.hinge_loss([0.5], [0.0]), "target must hold labels -1 or \\+1"),
    (lambda: K.binary_cross_entropy_with_logits([0.5], [1.5]), "target must hold probabilities in \\[0, 1\\]"),
    (lambda: K.huber_loss([1.0], [0.0], delta=-1.0), "parameter 'delta' must be > 0"),
    (lambda: K.mse_loss(["a"], [1.0]), "input must be a real number"),
    (lambda: K.mse_loss(np.ones(3), np.ones(3), weight=np.ones(4)), "weight of shape \\(4,\\) does not broadcast"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
