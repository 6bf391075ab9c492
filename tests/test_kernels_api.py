"""The kernel contract: names, dtypes, broadcasting, out=, and clear errors on bad input."""
from __future__ import annotations

import inspect
import subprocess
import sys

import mpmath
import numba
import numpy as np
import pytest

import symact.kernels as K
from symact.catalog import all_entries
from symact.catalog.losses import LOSSES
from symact.catalog.vectors import VECTORS

ALL = [(e, k) for e in all_entries() + [loss.pointwise() for loss in LOSSES]
       for k in [e.name, f"{e.name}_grad"] + [f"{e.name}_grad_{p.name}" for p in e.learnable]
       + ([f"{e.name}_grad_from_output"] if f"{e.name}_grad_from_output" in K.__all__ else [])
       if k in K.__all__]


def _within_ulps(value, truth, ulps=2):
    """|value - truth| <= ulps·ulp(truth) in value's dtype (truth: an mpmath number)."""
    t = value.dtype.type(float(truth))
    return abs(mpmath.mpf(float(value)) - truth) <= ulps * float(np.spacing(np.abs(t)))


def test_every_derived_kernel_is_exported(derived):
    names = set(K.__all__)
    for d in derived.values():
        assert {k.name for k in d.kernels} <= names
        assert f"{d.entry.name}_fwd_grad" in names
    for v in VECTORS:
        assert {v.name, f"{v.name}_vjp"} <= names
    for loss in LOSSES:
        assert loss.name in names and (f"{loss.name}_grad" in names) == loss.grad
    assert "zero_one_loss_grad" not in names and "zero_one_loss_elementwise_grad" not in names
    for name in K.__all__:
        assert callable(getattr(K, name)), name


@pytest.mark.parametrize("entry,name", ALL, ids=[k for _, k in ALL])
def test_dtype_preserved_and_no_float64_in_float32_code(entry, name):
    fn = getattr(K, name)
    for dt in (np.float32, np.float64):
        x = np.linspace(-3, 3, 7, dtype=dt).reshape(7, 1)
        y = fn(x)
        assert y.dtype == dt and y.shape == x.shape
    # the float32 loop must not promote to double anywhere (a bare Python float constant would):
    # compile it afresh (the cached one has no IR) and read its LLVM IR, minus the Python wrapper.
    module = sys.modules[fn.__module__]
    # error_model="numpy" as the generated loops: x = 1 is a pole of BCE's log1p(-x), inf there, no exception
    loop = numba.njit(error_model="numpy")(getattr(module, f"_{name}_loop_f32").py_func)
    sig = inspect.signature(fn)
    params = [np.float32(v.default) for v in list(sig.parameters.values())[1:] if v.name != "out"]
    loop(np.ones(4, np.float32), *params, np.empty(4, np.float32))
    (ir,) = loop.inspect_llvm().values()
    bodies = [f for f in ir.split("\ndefine ")[1:] if "cpython" not in f.split("\n")[0]]
    assert bodies and any(" float" in b for b in bodies)
    if any(h in inspect.getsource(getattr(module, f"_{name}_f32").py_func) for h in K._runtime.F32_THROUGH_F64):
        return  # sin/cos of the exact float32 product, computed in float64 on purpose (the runtime says so)
    for body in bodies:
        assert "fpext" not in body and "double" not in body, f"{name}: float32 kernel computes in float64"


def test_integer_and_bool_inputs_become_float64():
    assert K.relu(np.array([1, -2, 3])).dtype == np.float64
    np.testing.assert_array_equal(K.relu(np.array([1, -2, 3])), [1.0, 0.0, 3.0])
    assert K.sigmoid(np.array([True, False])).dtype == np.float64


@pytest.mark.parametrize("bad", [np.array(["a"]), np.array([1 + 2j]), np.array([object()], dtype=object)])
def test_non_real_input_is_rejected(bad):
    with pytest.raises(TypeError, match="sigmoid: x must be a real number"):
        K.sigmoid(bad)


def test_scalar_empty_and_noncontiguous_inputs():
    assert isinstance(K.sigmoid(0.0), np.float64) and K.sigmoid(0.0) == 0.5
    assert K.relu(np.array([], dtype=np.float32)).shape == (0,)
    x = np.arange(-10, 10, dtype=np.float64).reshape(4, 5).T  # Fortran-ordered view
    np.testing.assert_array_equal(K.relu(x), np.maximum(x, 0))
    np.testing.assert_array_equal(K.relu(x[::2, 1:]), np.maximum(x[::2, 1:], 0))


def test_nan_propagates_everywhere():
    for _, name in ALL:
        assert np.isnan(getattr(K, name)(np.array([np.nan]))[0]), name


def test_per_channel_prelu_weight_broadcasts():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    w = np.array([0.1, 0.2, 0.3], dtype=np.float32).reshape(3, 1, 1)
    y = K.prelu(x, w)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, np.where(x > 0, x, w * x))
    gw = K.prelu_grad_weight(x, w)
    np.testing.assert_array_equal(gw, np.where(x > 0, 0, x))
    np.testing.assert_array_equal(K.prelu_grad(x, w), np.where(x > 0, 1, np.broadcast_to(w, x.shape)))


def test_out_argument():
    x = np.linspace(-5, 5, 11)
    out = np.empty_like(x)
    assert K.softplus(x, out=out) is out
    np.testing.assert_allclose(out, np.logaddexp(0, x), rtol=1e-15)
    strided = np.empty((11, 2))[:, 0]
    K.relu(x, out=strided)
    np.testing.assert_array_equal(strided, np.maximum(x, 0))
    with pytest.raises(ValueError, match="out has shape .* dtype float32"):
        K.relu(x, out=np.empty(11, np.float32))
    with pytest.raises(ValueError, match="expected shape \\(11,\\)"):
        K.relu(x, out=np.empty(3))


@pytest.mark.parametrize("call,message", [
    (lambda: K.softplus([1.0], beta=0.0), "softplus: parameter 'beta' must be > 0"),
    (lambda: K.softplus([1.0], beta=-1.0), "softplus: parameter 'beta' must be > 0"),
    (lambda: K.elu([1.0], alpha=np.inf), "elu: parameter 'alpha' must be finite"),
    (lambda: K.leaky_relu([1.0], negative_slope=np.nan), "leaky_relu: parameter 'negative_slope' is nan"),
    (lambda: K.prelu(np.ones((2, 3)), np.ones(4)), "prelu: shapes .* do not broadcast"),
    (lambda: K.swish([1.0], beta="x"), "swish: parameter 'beta' must be a real number"),
])
def test_bad_parameters_raise_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_softplus_threshold_accepts_inf_default_and_pytorch_value():
    with mpmath.workdps(50):
        truth = mpmath.log1p(mpmath.exp(30))  # 30 + 9.4e-14: 26 ULP above 30
    assert K.softplus(30.0) != 30.0 and _within_ulps(np.float64(K.softplus(30.0)), truth, 1)
    assert K.softplus(30.0, threshold=20.0) == 30.0


def test_seed_numbers_and_stability_edges():
    """softplus(800) = 800 (textbook: inf), softplus(-800) = e^-800 (textbook: 0 in float32/64).
    Truths from mpmath at 50 digits: softplus(x) = log(1 + e^x), gelu(x) = x·erfc(-x/√2)/2."""
    y = K.softplus(np.float32([800, -800, 0]))
    assert y.dtype == np.float32 and y[0] == 800 and y[1] == 0 and y[2] == np.float32(np.log(2))
    with mpmath.workdps(50):
        softplus_m700 = mpmath.log1p(mpmath.exp(mpmath.mpf(-700)))        # 9.86e-305, normal
        gelu_m10 = -10 * mpmath.erfc(10 / mpmath.sqrt(2)) / 2            # -7.62e-23 (1 + erf cancels)
    assert _within_ulps(K.softplus(np.array([-700.0]))[0], softplus_m700)
    assert K.sigmoid(np.array([-800.0, 800.0])).tolist() == [0.0, 1.0]
    assert K.tanh(np.array([-1e4, 1e4])).tolist() == [-1.0, 1.0]
    assert K.elu(np.array([1e-300]))[0] == 1e-300  # e^x - 1 would give 0
    assert _within_ulps(K.gelu(np.array([-10.0]))[0], gelu_m10)


def test_import_sets_up_numba_loads_kernels_lazily_needs_no_sympy():
    # the import pays Numba's one-time set-up (a cached trivial kernel is loaded), so a kernel's
    # first call only loads that kernel; no kernel module is imported before its first use
    code = ("import sys; sys.modules['sympy'] = None\n"
            "import symact.kernels as K\n"
            "assert K._runtime._warm.signatures, 'Numba not set up at import'\n"
            "assert not [m for m in sys.modules if m.startswith('symact.kernels.activations.')]\n"
            "import numpy as np\n"
            "assert K.relu(np.array([-1.0, 2.0])).tolist() == [0.0, 2.0]\n"
            "loaded = [m for m in sys.modules if m.startswith('symact.kernels.activations.')]\n"
            "assert loaded == ['symact.kernels.activations.relu'], loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True)
