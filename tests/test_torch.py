"""Values and autograd gradients against PyTorch (CPU), including the kinks.

PyTorch is a test-only dependency (.ci/run installs it); the catalog holds, per entry, the PyTorch
expression to compare with, so a new entry is cross-checked without touching this file.

Agreement is judged in ULP, never with an absolute tolerance (an absolute one lets a gradient flushed
to 0 at x = ±700 pass). Where symact and PyTorch differ by more than a few ULP, mpmath decides: the
catalog's definition at 60+ digits (its derivative by mpmath.diff), evaluated at the exact input.
PyTorch is known to be the inaccurate one at such points (design.md, field-notes.md): σ'(x) = 0 for
x > 37 (float64), elu'(x) = 0 far left (computed from the output), GELU's 1 + erf cancellation near
x = -10, sin(30·x) with 30·x rounded; there symact must be closer to the truth than PyTorch, or within
4 ULP of it. At a kink the derivative is a convention, not a limit: there PyTorch's value is the truth.
"""
from __future__ import annotations

import functools

import mpmath
import numpy as np
import pytest
import sympy as sp

import symact.kernels as K
from symact.catalog import X, all_entries

torch = pytest.importorskip("torch", reason="PyTorch is a test-only dependency; .ci/run installs it")

KINKS = [0.0, 6.0, -0.0, 1e-30, -1e-30, 5.999999, 6.000001]
X64 = np.concatenate([np.linspace(-12, 12, 241), KINKS, [-30.0, 19.5, 30.0, -700.0, 700.0]])
ENTRIES = [e for e in all_entries() if e.pytorch is not None]
ULPS = 4  # agreement with PyTorch, and with mpmath where PyTorch is off


def _defaults(entry, **override):
    return {p.name: override.get(p.name, float(p.value)) for p in entry.kernel_params}


def _torch_call(entry, xt, params):
    tparams = {}
    for p in entry.kernel_params:
        v = params[p.name]
        tparams[p.name] = (torch.tensor(v, dtype=xt.dtype, requires_grad=True) if p.learnable else v)
    return entry.pytorch(torch, xt, *tparams.values()), tparams


@functools.cache
def _definition(name: str, params: tuple):
    """The catalog definition with these parameter values, as an mpmath function of x."""
    entry = next(e for e in ENTRIES if e.name == name)
    values = {**entry.constants(), **{p.symbol: sp.nsimplify(v) if np.isfinite(v) else sp.oo
                                      for p, v in zip(entry.kernel_params, params)}}
    return sp.lambdify(X, entry.expr().subs(values), modules="mpmath")


def _truth(fn, x: float, derivative: bool):
    """(g(x), g'(x)) for g = f or f' at the exact binary x, g to about 20 significant digits: evaluated
    at doubling precision until two evaluations agree and are nonzero (1 + tanh(u) and 1 - σ(x) cancel
    for hundreds of digits; a true zero is accepted at 16384 bits). None where f' does not exist (a
    kink: the one-sided derivatives differ)."""
    n = 1 if derivative else 0
    prec, last = 256, None
    while True:
        with mpmath.workprec(prec):
            xm = mpmath.mpf(float(x))
            if derivative:
                left, right = mpmath.diff(fn, xm, direction=-1), mpmath.diff(fn, xm, direction=1)
                if abs(left - right) > mpmath.mpf(2) ** (-prec // 4) * max(1, abs(left)):
                    return None
            v = mpmath.diff(fn, xm, n) if n else fn(xm)
            converged = last is not None and abs(v - last) <= mpmath.mpf(10) ** -20 * abs(v) and (v != 0 or prec >= 1 << 14)
            if converged:
                return v, mpmath.diff(fn, xm, n + 1)
        if prec >= 1 << 14:
            raise AssertionError(f"mpmath did not converge at x = {x}")
        prec, last = 2 * prec, v


def _ulp(v, dtype):
    v = dtype(float(v))
    return float(np.spacing(np.abs(v))) if np.isfinite(v) else np.inf


def _compare(entry, params, x, ours, theirs, what, derivative):
    """ours agrees with PyTorch to ULPS ULP; where not, mpmath decides: ours must be closer to the
    truth g(x) than PyTorch, or within ULPS ULP of it plus what the problem's own conditioning moves it
    when x moves by two unit roundoffs, 2u·|x·g'(x)| (near a root of g, such as SiLU' at -1.28, both
    libraries lose digits). Returns the points where PyTorch was the one off (for the report)."""
    dtype = x.dtype.type
    finfo = np.finfo(dtype)
    scale = np.maximum(np.maximum(np.abs(ours), np.abs(theirs)), finfo.tiny)
    with np.errstate(invalid="ignore"):
        agree = (ours == theirs) | (np.isnan(ours) & np.isnan(theirs)) | \
            (np.abs(ours.astype(np.float64) - theirs) <= ULPS * finfo.eps * scale)
    fn = _definition(entry.name, tuple(params[p.name] for p in entry.kernel_params))
    bad, torch_off = [], []
    for i in np.flatnonzero(~agree):
        found = _truth(fn, x[i], derivative)
        if found is None:  # a kink: the convention is PyTorch's
            bad.append((x[i], ours[i], theirs[i], "kink"))
            continue
        truth, slope = found
        err_ours, err_torch = abs(mpmath.mpf(float(ours[i])) - truth), abs(mpmath.mpf(float(theirs[i])) - truth)
        allowed = ULPS * _ulp(truth, dtype) + finfo.eps * abs(float(x[i]) * slope)  # eps = 2u
        if err_ours <= allowed or err_ours < err_torch:
            torch_off.append(x[i])
        else:
            bad.append((x[i], ours[i], theirs[i], mpmath.nstr(truth, 17)))
    assert not bad, f"{what}: (x, symact, torch, mpmath) {bad[:5]}"
    return torch_off


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_matches_pytorch(entry, dtype):
    override = {"threshold": 20.0} if entry.name == "softplus" else {}  # PyTorch's switch, for drop-in use
    params = _defaults(entry, **override)
    x = X64.astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt, tparams = _torch_call(entry, xt, params)
    yt.sum().backward()
    off = _compare(entry, params, x, getattr(K, entry.name)(x, **params), yt.detach().numpy(),
                   f"{entry.name} value", derivative=False)
    off += _compare(entry, params, x, getattr(K, f"{entry.name}_grad")(x, **params), xt.grad.numpy(),
                    f"{entry.name} gradient", derivative=True)
    if off:
        print(f"\n{entry.name} {dtype.__name__}: PyTorch off, symact closer to mpmath at x = {sorted(set(off))[:8]}")
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
    assert xt.grad.item() == pytest.approx(expected_grad, rel=1e-15, abs=0)
    assert getattr(K, f"{name}_grad")(np.array([x]))[0] == pytest.approx(expected_grad, rel=1e-15, abs=0)


def test_softplus_default_is_true_softplus_where_pytorch_switches():
    """Above PyTorch's threshold (20) the default kernel stays the true softplus log(1 + e^x), within
    1 ULP of mpmath; PyTorch returns x itself there (and so does the kernel with threshold=20)."""
    x = np.array([20.5, 25.0, 30.0])
    ours = K.softplus(x)
    torch_default = torch.nn.functional.softplus(torch.tensor(x)).numpy()
    with mpmath.workdps(50):
        truth = [mpmath.log1p(mpmath.exp(mpmath.mpf(float(v)))) for v in x]
    for o, t in zip(ours, truth):
        assert abs(mpmath.mpf(float(o)) - t) <= _ulp(t, np.float64), (o, t)
    assert np.all(torch_default == x)          # PyTorch returns x itself there
    assert all(abs(mpmath.mpf(float(v)) - t) > 10 * _ulp(t, np.float64) for v, t in zip(torch_default, truth))
    np.testing.assert_array_equal(K.softplus(x, threshold=20.0), torch_default)


def test_sigmoid_grad_where_pytorch_underflows():
    """torch returns σ'(37.4) = 0; the truth σ(x)σ(-x) = e^-x/(1 + e^-x)² (mpmath, 50 digits) is
    5.72e-17, and symact keeps it to 2 ULP."""
    xt = torch.tensor([37.4], dtype=torch.float64, requires_grad=True)
    torch.sigmoid(xt).sum().backward()
    assert xt.grad.item() == 0.0
    with mpmath.workdps(50):
        x = mpmath.mpf(37.4)
        truth = mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2
    ours = K.sigmoid_grad(np.array([37.4]))[0]
    assert abs(mpmath.mpf(float(ours)) - truth) <= 2 * _ulp(truth, np.float64), (ours, truth)
