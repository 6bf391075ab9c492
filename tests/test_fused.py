"""Fused kernels name_fwd_grad(x, *params) -> (y, dy/dx) and name_fwd_vjp(x, g, *params) ->
(y, g·dy/dx): against the independent truth (tests/reference.py) over the stress sweep at every
parameter set, and bit for bit against the separate kernels; and the serial and parallel (prange)
loops of every elementwise kernel, bit for bit on the full sweep."""
from __future__ import annotations


import numpy as np
import pytest

import symact.kernels as K
from accuracy import DTYPES, judge_series, rounds_argument, underflow_degree
from conftest import derived_catalog
from reference import bound_params, param_sets, sweep, truth
from symact.catalog.row_losses import ROW_LOSSES

# elementwise fused kernels (the row losses' name_fwd_grad are tested in test_row_losses.py)
FUSED = [name for name in K.__all__ if name.endswith("_fwd_grad")
         and name[: -len("_fwd_grad")] not in {loss.name for loss in ROW_LOSSES}]
VJP = [name for name in K.__all__ if name.endswith("_fwd_vjp")]


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


def test_every_activation_with_fwd_grad_has_a_fwd_vjp():
    activations = {n[: -len("_fwd_grad")] for n in FUSED if not n.endswith("_elementwise_fwd_grad")}
    assert activations and activations == {n[: -len("_fwd_vjp")] for n in VJP}


@pytest.mark.parametrize("name", VJP)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_fwd_vjp_equals_separate_kernels(name, dtype):
    base = name[: -len("_fwd_vjp")]
    x = np.concatenate([np.linspace(-30, 30, 1001), [0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30]]).astype(dtype)
    g = np.random.default_rng(1).standard_normal(x.size).astype(dtype)
    g[:3] = [0.0, np.inf, np.nan]
    with np.errstate(all="ignore"):
        y, vjp = getattr(K, name)(x, g)
        ys = getattr(K, base)(x)
        expected = g * getattr(K, f"{base}_grad")(x)
    assert y.dtype == vjp.dtype == dtype and y.shape == vjp.shape == x.shape
    np.testing.assert_array_equal(y, ys)
    np.testing.assert_array_equal(vjp, expected)


def test_fwd_vjp_broadcasts_converts_and_writes_out():
    x = np.linspace(-4, 4, 12).reshape(3, 4)
    g = np.array([1.0, -2.0, 0.5, 3.0])  # broadcasts along the rows
    y, vjp = K.swish_fwd_vjp(x, g, 1.5)
    np.testing.assert_array_equal(y, K.swish(x, 1.5))
    np.testing.assert_array_equal(vjp, g * K.swish_grad(x, 1.5))
    out = (np.empty_like(x), np.empty_like(x))
    r = K.sigmoid_fwd_vjp(x, np.ones_like(x), out=out)
    assert r[0] is out[0] and r[1] is out[1]
    np.testing.assert_array_equal(out[1], K.sigmoid_grad(x))
    y32, v32 = K.tanh_fwd_vjp(x.astype(np.float32), np.ones(4, np.float32))
    assert y32.dtype == v32.dtype == np.float32
    with pytest.raises(ValueError, match="do not broadcast"):
        K.sigmoid_fwd_vjp(x, np.ones(5))
    with pytest.raises(TypeError, match="g must be a real number"):
        K.sigmoid_fwd_vjp(x, np.array(["a"] * 4))


def test_fast_path_and_general_path_agree():
    """Contiguous float arrays with Python-number parameters take the front end's fast path; other
    inputs (lists, strided arrays, NumPy scalars as parameters) the general one: same results."""
    x = np.random.default_rng(2).standard_normal((40, 30)) * 5
    for fn, params in ((K.softplus, (2.0, 20.0)), (K.elu, (0.7,)), (K.sigmoid, ())):
        fast = fn(x, *params)
        np.testing.assert_array_equal(fn(x.tolist(), *params), fast)
        np.testing.assert_array_equal(fn(np.asfortranarray(x), *[np.float64(p) for p in params]), fast)
        out = np.empty_like(x)
        assert fn(x, *params, out=out) is out
        np.testing.assert_array_equal(out, fast)
        out_f = np.empty_like(x, order="F")
        fn(x, *params, out=out_f)
        np.testing.assert_array_equal(out_f, fast)
    with pytest.raises(ValueError, match="'beta' must be > 0"):  # the fast path leaves errors to the general one
        K.softplus(x, -1.0)
    with pytest.raises(ValueError, match="'beta' is nan"):
        K.softplus(x, float("nan"))
    x1 = x.ravel().astype(np.float32)  # the one-array call's own branch: 1-D, float32, both out forms
    out1 = np.empty_like(x1)
    assert K.sigmoid(x1, out=out1) is out1
    np.testing.assert_array_equal(out1, K.sigmoid(x1))
    with pytest.raises(ValueError, match="dtype float64; expected shape"):
        K.sigmoid(x1, out=np.empty(x1.shape))
    out1.flags.writeable = False
    with pytest.raises(ValueError, match="sigmoid: out is read-only"):  # not a typing error inside Numba
        K.sigmoid(x1, out=out1)
    with pytest.raises(ValueError, match="softmax: out is read-only"):
        K.softmax(x, out=np.broadcast_to(np.empty(x.shape[1]), x.shape))


def test_fused_out_pair_and_parameters():
    x = np.linspace(-5, 5, 11)
    out = (np.empty_like(x), np.empty_like(x))
    y, dy = K.swish_fwd_grad(x, 2.0, out=out)
    assert y is out[0] and dy is out[1]
    np.testing.assert_array_equal(y, K.swish(x, 2.0))
    np.testing.assert_array_equal(dy, K.swish_grad(x, 2.0))
    with pytest.raises(TypeError, match="tuple of 2"):
        K.sigmoid_fwd_grad(x, out=np.empty_like(x))


def _activation_kernels():
    """The fused forward+VJP kernels (each runs an activation's forward and derivative scalar code in one
    loop) and the parameter VJPs of the activation modules, with the entry each belongs to. (Every other
    kernel's loops come from the same template around the same inlined scalar code, and compiling a
    prange loop costs seconds, so one loop per scalar body is checked.)"""
    for name in K.__all__:
        module = getattr(K, name).__module__
        if ".activations." in module and (name.endswith("_fwd_vjp") or "_vjp_" in name):
            yield name, module.rsplit(".", 1)[1]


def _args(kernel, entry, x, g):
    if kernel.endswith("_fwd_vjp") or "_vjp_" in kernel:
        return (x, g)
    return (x,)


@pytest.mark.parametrize("kernel,entry_name", list(_activation_kernels()))
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_parallel_and_serial_loops_agree(kernel, entry_name, dtype):
    """The prange loop and the serial loop of every fused forward+VJP kernel and parameter VJP: bit for
    bit, signs of zero included, on the full sweep; nan in the same places (IEEE 754 leaves the sign and
    payload of a nan produced by arithmetic unspecified, and the vectorized loop may differ there)."""
    x = sweep(dtype)
    g = np.resize(np.array([1.0, -0.75, 3.0, 2.0 ** -20, 1e4], dtype), x.shape)
    previous = K.configure(parallel=True)
    try:
        with np.errstate(all="ignore"):
            par = getattr(K, kernel)(*_args(kernel, entry_name, x, g))
            K.configure(parallel=False)
            ser = getattr(K, kernel)(*_args(kernel, entry_name, x, g))
    finally:
        K.configure(*previous)
    for a, b in zip(par if isinstance(par, tuple) else (par,), ser if isinstance(ser, tuple) else (ser,)):
        a, b = np.asarray(a), np.asarray(b)
        assert np.array_equal(np.isnan(a), np.isnan(b)), (kernel, dtype.__name__)
        keep = ~np.isnan(a)
        assert a[keep].tobytes() == b[keep].tobytes(), (kernel, dtype.__name__)


def _fused_cases():
    for name, d in derived_catalog().items():
        if f"{name}_fwd_grad" in K.__all__:
            for dt in DTYPES:
                yield pytest.param(name, dt, id=f"{name}-{dt.__name__}")


@pytest.mark.parametrize("entry_name,dtype", list(_fused_cases()))
def test_fused_against_the_truth(derived, entry_name, dtype):
    """name_fwd_grad and name_fwd_vjp against the definition's value and derivative (reference.py),
    not only against the separate kernels, at the defaults over the full sweep and at every other
    parameter set over the short one; g·f'(x) of the vjp with 1/2 ULP for its product. Bounds as in
    tests/accuracy.py (these kernels keep their arguments as the separate ones do)."""
    d = derived[entry_name]
    entry = d.entry
    degree = underflow_degree(entry)
    kf = next(k for k in d.kernels if k.role == "f")
    kg = next(k for k in d.kernels if k.role == "df/dx")
    failures, points = [], 0
    for i, params in enumerate(param_sets(entry)):
        xs = sweep(dtype, full=i == 0)
        g = np.resize(np.array([1.0, -0.75, 3.0, 2.0 ** -20, 0.5], dtype), xs.shape)
        bound = bound_params(entry, params, dtype)
        cond_f, cond_g = (rounds_argument(entry, k, dict(bound)) for k in (kf, kg))
        with np.errstate(all="ignore"):
            y, dy = getattr(K, f"{entry_name}_fwd_grad")(xs, **params)
            y2, vjp = getattr(K, f"{entry_name}_fwd_vjp")(xs, g, **params)
        ts = [truth(entry_name, bound, x, dtype) for x in xs.tolist()]
        f = [t.f for t in ts]
        df = [t.df for t in ts]
        d2 = [t.d2f for t in ts]
        gdf = [t.df * float(gv) for t, gv in zip(ts, g)]
        gd2 = [t.d2f * float(gv) for t, gv in zip(ts, g)]
        p = dict(bound)
        x = xs.tolist()
        failures += judge_series(x, y, f, df, dtype, cond_f, p, degree)
        failures += judge_series(x, y2, f, df, dtype, cond_f, p, degree)
        failures += judge_series(x, dy, df, d2, dtype, cond_g, p, degree)
        failures += judge_series(x, vjp, gdf, gd2, dtype, cond_g, p, degree, extra_ulp=0.5)
        points += 4 * len(x)
    assert points > 1000
    assert not failures, f"{len(failures)} points over the bound:\n" + "\n".join(failures[:12])


def _loop_used(name, x, monkeypatch):
    """'serial' or 'parallel': which of the kernel's two loops its front end ran for ``x``."""
    import sys
    fn = getattr(K, name)
    table = sys.modules[fn.__module__].__dict__[f"_{name.upper()}_LOOPS"]
    used = []
    serial, parallel = table[x.dtype.type]

    def record(which, loop):
        return lambda *args: (used.append(which), loop(*args))[1]
    monkeypatch.setitem(table, x.dtype.type, (record("serial", serial), record("parallel", parallel)))
    fn(x)
    return used[0]


def test_transcendental_kernels_go_parallel_at_smaller_sizes(monkeypatch):
    # arithmetic kernels from PARALLEL_MIN_SIZE elements, those with an exp/log/erf from an eighth
    # of it (the measured crossovers are ~50k and ~6k elements, benchmarks/run.py --crossover)
    size = K._runtime.PARALLEL_MIN_SIZE
    small, mid, big = (np.zeros(n) for n in (size // 16, size // 4, size))
    assert _loop_used("relu", mid, monkeypatch) == "serial"
    assert _loop_used("relu", big, monkeypatch) == "parallel"
    for name in ("sigmoid", "gelu_grad", "softplus"):
        assert _loop_used(name, small, monkeypatch) == "serial"
        assert _loop_used(name, mid, monkeypatch) == "parallel"
    assert _loop_used("sigmoid_grad_from_output", mid, monkeypatch) == "serial"  # arithmetic only
    rows = mid.reshape(-1, 64)  # row kernels by the same rule: softmax has exps, maxout only compares
    assert _loop_used("softmax", rows, monkeypatch) == "parallel"
    assert _loop_used("maxout", rows, monkeypatch) == "serial"
    previous = K.configure(min_size=size * 4)
    try:
        assert _loop_used("sigmoid", mid, monkeypatch) == "serial"
        assert _loop_used("relu", big, monkeypatch) == "serial"
    finally:
        K.configure(*previous)


def test_configure_rejects_bad_values():
    with pytest.raises(ValueError, match="parallel must be"):
        K.configure(parallel="yes")


def _array_param_cases():
    from symact.catalog import all_entries

    out = []
    for entry in all_entries():
        if not getattr(entry, "kernel_params", None):
            continue
        for suffix in ("_fwd_grad", "_fwd_vjp"):
            if f"{entry.name}{suffix}" in K.__all__:
                out.append((entry, suffix))
    return out


@pytest.mark.parametrize("entry,suffix", _array_param_cases(), ids=lambda v: v if isinstance(v, str) else v.name)
def test_fused_with_array_parameters_on_the_parallel_path(entry, suffix):
    """Fused kernels with a parameter given per element (an array, cycling through its legal values)
    on the prange path (Numba once refused these loops: "Overwrite of parallel loop index", from
    at(weight, i) inlined twice in one parallel body): bit for bit the separate kernels, and at
    sampled points the independent mpmath truth (tests/reference.py) of f and df/dx."""
    import mpmath

    from reference import param_values

    n = 4096
    x = np.linspace(-5.0, 5.0, n)  # even n: no exact 0 (a kink of several entries)
    params = {p.name: np.resize(np.array([v for v in param_values(p) if np.isfinite(v)][:3]), n)
              for p in entry.kernel_params}
    g = np.cos(np.arange(n, dtype=np.float64))
    previous = K.configure(parallel=True)
    try:
        if suffix == "_fwd_grad":
            y, dy = getattr(K, f"{entry.name}{suffix}")(x, **params)
        else:
            y, dy = getattr(K, f"{entry.name}{suffix}")(x, g, **params)
        ys = getattr(K, entry.name)(x, **params)
        dys = getattr(K, f"{entry.name}_grad")(x, **params)
    finally:
        K.configure(*previous)
    if suffix == "_fwd_vjp":
        dys = g * dys
    np.testing.assert_array_equal(y, ys)
    np.testing.assert_array_equal(dy, dys)
    for i in range(0, n, n // 16 + 1):
        pt = tuple((p.name, float(params[p.name][i])) for p in entry.kernel_params)
        t = truth(entry.name, pt, float(x[i]), np.float64)
        want = [t.f, t.df * (mpmath.mpf(float(g[i])) if suffix == "_fwd_vjp" else 1)]
        for got, w in zip((y[i], dy[i]), want):
            assert abs(mpmath.mpf(float(got)) - w) <= 1e-12 * (abs(w) + 1e-300), (entry.name, pt, x[i], got, w)
