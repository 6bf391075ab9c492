"""Values and autograd gradients against PyTorch (CPU), including the kinks.

PyTorch is a test-only dependency (.ci/run installs it); the catalog holds, per entry, the PyTorch
expression to compare with, so a new entry is cross-checked without touching this file.
"""
from __future__ import annotations

import numpy as np
import pytest

import symact.kernels as K
from symact.catalog import all_entries

torch = pytest.importorskip("torch", reason="PyTorch is a test-only dependency; .ci/run installs it")

KINKS = [0.0, 6.0, -0.0, 1e-30, -1e-30, 5.999999, 6.000001]
X64 = np.concatenate([np.linspace(-12, 12, 241), KINKS, [-30.0, 19.5, 30.0, -700.0, 700.0]])
ENTRIES = [e for e in all_entries() if e.pytorch is not None]


def _defaults(entry, **override):
    return {p.name: override.get(p.name, float(p.value)) for p in entry.kernel_params}


def _torch_call(entry, xt, params):
    tparams = {}
    for p in entry.kernel_params:
        v = params[p.name]
        tparams[p.name] = (torch.tensor(v, dtype=xt.dtype, requires_grad=True) if p.learnable else v)
    return entry.pytorch(torch, xt, *tparams.values()), tparams


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_matches_pytorch(entry, dtype):
    override = {"threshold": 20.0} if entry.name == "softplus" else {}  # PyTorch's switch, for drop-in use
    params = _defaults(entry, **override)
    x = X64.astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt, tparams = _torch_call(entry, xt, params)
    yt.sum().backward()
    # PyTorch loses accuracy in the tails (sigma'(30), GELU at -10; mpmath is the judge there, see
    # test_accuracy): compare to a few eps relative to the scale of the values, not of the tails.
    # PyTorch rounds inner products such as 30·x before sin: allow what that rounding can move, eps·|x|
    # times the slope (symact keeps the product exact; test_accuracy judges both against mpmath).
    eps = np.finfo(dtype).eps
    grad = getattr(K, f"{entry.name}_grad")
    x64 = x.astype(np.float64)
    h = 1e-5 * (1 + np.abs(x64))
    curvature = np.abs(grad(x64 + h, **params) - grad(x64 - h, **params)) / (2 * h)
    slope = np.abs(grad(x64, **params))

    def close(ours, theirs, sensitivity, what):
        atol = 8 * eps * (1 + np.abs(x) * (1 + sensitivity))
        bad = ~(np.abs(ours - theirs) <= atol + 8 * eps * np.abs(theirs))
        assert not bad.any(), f"{what}: x={x[bad][:5]} symact={ours[bad][:5]} torch={theirs[bad][:5]}"

    close(getattr(K, entry.name)(x, **params), yt.detach().numpy(), slope, f"{entry.name} value")
    close(grad(x, **params), xt.grad.numpy(), curvature, f"{entry.name} gradient")
    for p in entry.learnable:
        gp = getattr(K, f"{entry.name}_grad_{p.name}")(x, **params)
        np.testing.assert_allclose(gp.sum(dtype=np.float64), tparams[p.name].grad.item(),
                                   rtol=1e-10 if dtype == np.float64 else 1e-4, err_msg=f"d{entry.name}/d{p.name}")


@pytest.mark.parametrize("name,x,expected_grad", [
    ("relu", 0.0, 0.0), ("relu6", 0.0, 0.0), ("relu6", 6.0, 0.0), ("leaky_relu", 0.0, 0.01),
    ("prelu", 0.0, 0.25), ("elu", 0.0, 1.0), ("celu", 0.0, 1.0),
    ("selu", 0.0, 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717),
])
def test_kink_conventions_are_pytorchs(name, x, expected_grad):
    """The conventions the catalog states, pinned (and equal to PyTorch's autograd at the kink)."""
    entry = next(e for e in ENTRIES if e.name == name)
    xt = torch.tensor([x], dtype=torch.float64, requires_grad=True)
    yt, _ = _torch_call(entry, xt, _defaults(entry))
    yt.sum().backward()
    assert xt.grad.item() == pytest.approx(expected_grad, rel=1e-15)
    assert getattr(K, f"{name}_grad")(np.array([x]))[0] == pytest.approx(expected_grad, rel=1e-15)


def test_softplus_default_is_true_softplus_where_pytorch_switches():
    """Above PyTorch's threshold (20) the default kernel stays the true softplus (x + log1p(e^-x))."""
    x = np.array([20.5, 25.0, 30.0])
    ours = K.softplus(x)
    torch_default = torch.nn.functional.softplus(torch.tensor(x)).numpy()
    exact = x + np.log1p(np.exp(-x))
    np.testing.assert_array_equal(ours, exact)
    assert np.all(torch_default == x)          # PyTorch returns x itself there
    np.testing.assert_array_equal(K.softplus(x, threshold=20.0), torch_default)


def test_sigmoid_grad_where_pytorch_underflows():
    """torch returns sigma'(37.4) = 0; the truth is 5.55e-17 and symact keeps it."""
    xt = torch.tensor([37.4], dtype=torch.float64, requires_grad=True)
    torch.sigmoid(xt).sum().backward()
    assert xt.grad.item() == 0.0
    assert K.sigmoid_grad(np.array([37.4]))[0] == pytest.approx(5.5459e-17, rel=1e-4)
