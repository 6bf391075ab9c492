"""Every kernel on dask arrays: lazy results equal to the NumPy kernels', on a cluster and out of core.

The truth here is the NumPy kernel on the whole array (its values are checked against mpmath and
PyTorch elsewhere): a dask result must equal it element for element where the computation is the
same per element or per row, and agree to rounding where a reduction adds in another order. Kernels
are taken from the catalog (activations, the pointwise losses' per-element kernels, vectors, losses,
row losses), never from a list of names.
"""
from __future__ import annotations

import inspect
import math
import subprocess
import sys
import warnings

import mpmath
import numpy as np
import pytest

import symact.kernels as K
from symact.catalog import all_entries
from symact.catalog.losses import LOSSES
from symact.catalog.row_losses import ROW_LOSSES
from symact.catalog.vectors import VECTORS

import dask  # the test extra installs dask and distributed: these tests run, never skip
import dask.array as da
import distributed

DTYPES = [np.float64, np.float32]
SHAPE, CHUNKS = (13, 10), ((5, 5, 3), (4, 6))  # uneven chunks in both axes


def _tol(dtype):
    """For results a dask reduction adds in another order than NumPy's pairwise sum."""
    return dict(rtol=1e-12, atol=1e-300) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-30)


def _same(lazy, eager):
    """A lazy result equals the NumPy kernel's: same dtype and shape, the same values (nan where nan)."""
    assert isinstance(lazy, da.Array), type(lazy)
    value = lazy.compute()
    assert value.dtype == np.asarray(eager).dtype and value.shape == np.shape(eager)
    np.testing.assert_array_equal(value, eager)


def _close(lazy, eager, dtype):
    assert isinstance(lazy, da.Array), type(lazy)
    value = lazy.compute()
    assert value.dtype == np.asarray(eager).dtype and value.shape == np.shape(eager)
    np.testing.assert_allclose(value, eager, **_tol(dtype))


# ---- elementwise kernels: activations and the losses' per-element kernels ---------------------------

ENTRIES = all_entries() + [loss.pointwise(v) for loss in LOSSES for v in (None, *loss.variants)]


def _kernels(entry):
    """(kernel name, kind) of every exported kernel generated from ``entry``: 'f' (x, *params), 'pair'
    (fused: x, *params -> two arrays), 'vjp' (x, g, *params -> two arrays), 'pvjp' (x, g, *params ->
    the parameter's shape)."""
    module = K._INDEX[entry.name]
    out = []
    for name in K.__all__:
        if K._INDEX[name] != module or not (name == entry.name or name.startswith(entry.name + "_")):
            continue
        rest = name[len(entry.name):]
        kind = ("pair" if rest == "_fwd_grad" else "vjp" if rest == "_fwd_vjp"
                else "pvjp" if rest.startswith("_vjp_") else "f")
        out.append((name, kind))
    return out


ELEMENTWISE = [(e, name, kind) for e in ENTRIES for name, kind in _kernels(e)]


def _params(fn):
    """The kernel's parameters after its array arguments, with their defaults."""
    sig = inspect.signature(fn).parameters.values()
    return [p for p in sig if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty]


def _param_array(default, n):
    """A valid array for a parameter of default ``default`` (same sign; inf stays inf), one per column."""
    d = float(default)
    if d == 0:
        return np.linspace(-0.5, 0.5, n)
    return d * np.linspace(0.5, 1.5, n)


def _call(fn, kind, x, g, params):
    return fn(x, g, *params) if kind in ("vjp", "pvjp") else fn(x, *params)


def _check(kind, lazy, eager, dtype):
    if kind in ("pair", "vjp"):
        assert isinstance(lazy, tuple) and len(lazy) == 2
        for a, b in zip(lazy, eager):
            _same(a, b)
    elif kind == "pvjp":
        _close(lazy, eager, dtype)
    else:
        _same(lazy, eager)


def test_every_kind_is_covered():
    kinds = {kind for _, _, kind in ELEMENTWISE}
    assert kinds == {"f", "pair", "vjp", "pvjp"}
    assert any(name.endswith("_grad_from_output") for _, name, _ in ELEMENTWISE)
    covered = {name for _, name, _ in ELEMENTWISE} | {n for v in VECTORS for n in (v.name, f"{v.name}_vjp")}
    covered |= {n for loss in LOSSES for n in K.__all__ if n == loss.name or n.startswith(loss.name + "_grad")}
    covered |= {n for loss in ROW_LOSSES for n in K.__all__ if K._INDEX[n] == K._INDEX[loss.name]}
    assert covered == set(K.__all__), set(K.__all__) - covered


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("entry,name,kind", ELEMENTWISE, ids=[n for _, n, _ in ELEMENTWISE])
def test_elementwise_equals_numpy(entry, name, kind, dtype):
    """Default parameters, then every parameter as an array broadcast along the last axis (NumPy
    arrays for the kernel with dask x, and dask arrays chunked unlike x's last axis)."""
    fn = getattr(K, name)
    rng = np.random.default_rng(len(name))
    x = (rng.standard_normal(SHAPE) * 3).astype(dtype)
    g = rng.standard_normal(SHAPE).astype(dtype)
    dx, dg = da.from_array(x, chunks=CHUNKS), da.from_array(g, chunks=CHUNKS)
    lazy = _call(fn, kind, dx, dg, [])
    if kind != "pvjp":
        for r in (lazy if isinstance(lazy, tuple) else (lazy,)):
            assert r.chunks == dx.chunks and r.dtype == dtype
    _check(kind, lazy, _call(fn, kind, x, g, []), dtype)
    params = [_param_array(p.default, SHAPE[1]).astype(dtype) for p in _params(fn)]
    if params:
        _check(kind, _call(fn, kind, dx, dg, params), _call(fn, kind, x, g, params), dtype)
        lazy_params = [da.from_array(p, chunks=3) for p in params]
        _check(kind, _call(fn, kind, dx, dg, lazy_params), _call(fn, kind, x, g, params), dtype)
        _check(kind, _call(fn, kind, x, g, lazy_params), _call(fn, kind, x, g, params), dtype)


def test_elementwise_broadcasts_like_numpy():
    entry = next(e for e in all_entries() if any(k == "pvjp" for _, k in _kernels(e)))
    pvjp = next(n for n, k in _kernels(entry) if k == "pvjp")
    x = np.random.default_rng(0).standard_normal((6, 1, 5))
    g = np.random.default_rng(1).standard_normal((4, 5))
    p = np.linspace(0.1, 0.9, 4).reshape(4, 1)
    dx = da.from_array(x, chunks=(4, 1, 3))
    _same(getattr(K, entry.name)(dx, p), getattr(K, entry.name)(x, p))
    _close(getattr(K, pvjp)(dx, da.from_array(g, chunks=(3, 2)), p), getattr(K, pvjp)(x, g, p), np.float64)
    with pytest.raises(ValueError, match="do not broadcast"):
        getattr(K, entry.name)(dx, np.ones(3))


# ---- vectors (softmax family) along an axis ---------------------------------------------------------

def _vector_args(v):
    return {"pieces": 2} if "pieces" in inspect.signature(getattr(K, v.name)).parameters else {}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v.name)
def test_vectors_equal_numpy(v, axis, dtype):
    fn, vjp, kw = getattr(K, v.name), getattr(K, f"{v.name}_vjp"), _vector_args(v)
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((12, 10)) * 4).astype(dtype)
    chunks = {0: ((12,), (4, 6)), -1: ((5, 5, 2), (10,))}[axis]  # the row axis in one chunk
    dx = da.from_array(x, chunks=chunks)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # whole rows: no rechunk, no warning
        y = fn(dx, axis=axis, **kw)
        want = fn(x, axis=axis, **kw)
        _same(y, want)
        g = rng.standard_normal(want.shape).astype(dtype)
        for gg in (g, da.from_array(g)):
            _same(vjp(dx, gg, axis=axis, **kw), vjp(x, g, axis=axis, **kw))


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v.name)
def test_split_row_axis_warns_and_matches(v):
    fn, vjp, kw = getattr(K, v.name), getattr(K, f"{v.name}_vjp"), _vector_args(v)
    x = np.random.default_rng(8).standard_normal((9, 10))
    dx = da.from_array(x, chunks=(4, 3))
    with pytest.warns(K._dask.RowChunkWarning, match=r"row axis 1 .* split into 4 chunks") as record:
        y = fn(dx, **kw)
    assert record[0].filename == __file__  # points at the caller
    _same(y, fn(x, **kw))
    g = np.random.default_rng(9).standard_normal(np.shape(fn(x, **kw)))
    with pytest.warns(K._dask.RowChunkWarning):
        _same(vjp(dx, g, **kw), vjp(x, g, **kw))


# ---- pointwise losses -----------------------------------------------------------------------------

def _loss_data(loss, variant, dtype, rng):
    """Inputs and targets for one combination of the loss's flags (its input domain and target kind)."""
    kind = variant.target
    x = rng.uniform(0.05, 0.95, SHAPE) if variant.input_domain == "prob" else rng.standard_normal(SHAPE) * 2
    if variant.input_domain == "nonneg":
        x = np.abs(x)
    if kind == "pm1":
        y = rng.choice([-1.0, 1.0], SHAPE)
    elif kind in ("prob", "nonneg"):
        y = rng.uniform(0, 1, SHAPE)
    else:
        y = rng.standard_normal(SHAPE)
    y[0, 0] = np.nan  # a nan target: nan there, as NumPy gives
    extra = [rng.standard_normal(SHAPE).astype(dtype)] if loss.second_input else []
    return x.astype(dtype), extra, y.astype(dtype)


LOSS_CASES = [(loss, v) for loss in LOSSES for v in loss.combinations()]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("loss,variant", LOSS_CASES,
                         ids=[l.name + (f"-{v.suffix}" if v.suffix else "") for l, v in LOSS_CASES])
def test_losses_equal_numpy(loss, variant, dtype):
    rng = np.random.default_rng(11)
    x, extra, y = _loss_data(loss, variant, dtype, rng)
    flags = variant.kwargs if variant.suffix else {}
    dx = da.from_array(x, chunks=CHUNKS)
    dextra = [da.from_array(e, chunks=((6, 7), (10,))) for e in extra]
    dy = da.from_array(y, chunks=(4, 5))
    names = [loss.name] + [n for n in K.__all__ if n.startswith(f"{loss.name}_grad")]
    weights = [None] + ([np.random.default_rng(2).uniform(0.1, 3.0, SHAPE[1]).astype(dtype)] if loss.weight else [])
    for name in names:
        fn = getattr(K, name)
        for reduction in loss.reductions:
            for w in weights:
                kw = dict(flags, reduction=reduction, **({"weight": w} if w is not None else {}))
                want = fn(x, *extra, y, **kw)
                lazy = fn(dx, *dextra, dy, **kw)
                if reduction == "none" or (name != loss.name and reduction == "sum"):
                    _same(lazy, want)
                else:
                    _close(lazy, want, dtype)
                if w is not None:  # a dask weight too
                    kw["weight"] = da.from_array(w, chunks=4)
                    _close(fn(dx, *dextra, y, **kw), want, dtype)


def test_loss_domain_errors_surface_on_compute():
    loss = next(l for l in LOSSES if l.target == "pm1" and not l.second_input)
    x = da.ones((4, 3), chunks=2)
    lazy = getattr(K, loss.name)(x, da.full((4, 3), 0.5, chunks=2))  # lazily built: nothing computed
    with pytest.raises(ValueError, match=f"{loss.name}: target must hold labels -1 or \\+1; found 0.5"):
        lazy.compute()
    with pytest.raises(ValueError, match="target has shape"):
        getattr(K, loss.name)(x, da.ones((4, 2), chunks=2))
    with pytest.raises(ValueError, match="reduction must be one of"):
        getattr(K, loss.name)(x, x, reduction="max")


# ---- row losses -----------------------------------------------------------------------------------

def _row_targets(loss, kind, shape, rng, dtype):
    n, c = shape[0], shape[1]
    batch = shape[:1] + shape[2:]
    if kind == "label":
        t = rng.integers(0, c, batch)
        if loss.ignore_index:
            t.flat[::4] = -100
        return t
    if kind == "prob":
        return np.moveaxis(rng.dirichlet(np.ones(c), batch), -1, 1).astype(dtype)
    if kind == "mask":  # PyTorch's form: class indices, ended by -1
        t = np.full(shape, -1)
        for r in range(n):
            k = rng.integers(0, c + 1)
            t[r, :k] = rng.permutation(c)[:k]
        return t
    if kind == "pm1":
        return rng.choice([-1.0, 1.0], batch).astype(dtype)
    return None


ROW_CASES = [(loss, kind) for loss in ROW_LOSSES for kind in loss.formulas]


def _row_call(loss, name, xs, t, reduction, weight):
    kw = {"reduction": reduction}
    if weight is not None:
        kw["weight"] = weight
    return getattr(K, name)(*xs, **kw) if t is None else getattr(K, name)(*xs, t, **kw)


def _row_inputs(loss, shape, dtype, rng):
    if loss.input_domain == "prob":
        return [rng.dirichlet(np.ones(shape[-1]), shape[:-1]).astype(dtype) for _ in loss.inputs]
    return [(rng.standard_normal(shape) * 3).astype(dtype) for _ in loss.inputs]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("loss,kind", ROW_CASES, ids=[f"{l.name}-{k}" for l, k in ROW_CASES])
def test_row_losses_equal_numpy(loss, kind, dtype):
    rng = np.random.default_rng(5)
    shape = (13, 6)
    xs = _row_inputs(loss, shape, dtype, rng)
    t = _row_targets(loss, kind, shape, rng, dtype)
    axis = -1 if loss.axis_arg else 1
    chunks = ((5, 5, 3), (6,))
    dxs = [da.from_array(x, chunks=chunks) for x in xs]
    dt = None if t is None else da.from_array(t, chunks=(4,) + (() if t.ndim == 1 else (-1,)))
    names = [n for n in K.__all__ if K._INDEX[n] == K._INDEX[loss.name]]
    weights = [None] + ([rng.uniform(0.2, 2.0, shape[axis]).astype(dtype)] if loss.weight else [])
    for name in names:
        for reduction in ("none", "mean", "sum"):
            for w in weights:
                want = _row_call(loss, name, xs, t, reduction, w)
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    lazy = _row_call(loss, name, dxs, dt, reduction, w)
                for a, b in zip(*((lazy, want) if name.endswith("_fwd_grad") else ((lazy,), (want,)))):
                    if reduction == "none" or (reduction == "sum" and b.ndim == len(shape)):
                        _same(a, b)
                    else:
                        _close(a, b, dtype)


@pytest.mark.parametrize("loss", [l for l in ROW_LOSSES if "label" in l.formulas], ids=lambda l: l.name)
def test_row_losses_with_class_axis_split_and_3d(loss):
    """PyTorch's (N, C, d) layout, the class axis split across chunks (rechunked with a warning)."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((9, 5, 4)) * 3
    t = _row_targets(loss, "label", x.shape, rng, np.float64)
    dx, dt = da.from_array(x, chunks=(4, 2, 3)), da.from_array(t, chunks=(5, 1))
    for reduction in ("none", "mean", "sum"):
        with pytest.warns(K._dask.RowChunkWarning, match="row axis 1"):
            lazy = getattr(K, f"{loss.name}_fwd_grad")(dx, dt, reduction=reduction)
        want = getattr(K, f"{loss.name}_fwd_grad")(x, t, reduction=reduction)
        _close(lazy[0], want[0], np.float64)
        _close(lazy[1], want[1], np.float64)
    bad = t.copy()
    bad[3, 2] = 5
    lazy = getattr(K, loss.name)(dx.rechunk({1: -1}), da.from_array(bad, chunks=2))
    with pytest.raises(ValueError, match=f"{loss.name}: target holds class 5, outside \\[0, 5\\)"):
        lazy.compute()


# ---- the NumPy path, and what dask calls may not do ---------------------------------------------

def test_numpy_calls_do_not_import_dask():
    code = ("import sys, numpy as np, symact.kernels as K; x = np.ones((3, 4)); K.softplus(x, np.ones(4)); "
            "K.prelu_vjp_weight(x, x, np.ones(4)); K.softmax(x, axis=0); K.mse_loss(x, x); "
            "K.cross_entropy_fwd_grad(x, np.zeros(3, int)); print(any(m.split('.')[0] in ('dask', 'distributed') "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_dask_calls_refuse_out_and_other_dask_collections():
    entry = all_entries()[0]
    x = da.ones(4, chunks=2)
    with pytest.raises(TypeError, match="out= is not supported with dask"):
        getattr(K, entry.name)(x, out=np.empty(4))
    with pytest.raises(TypeError, match="out= is not supported with dask"):
        getattr(K, VECTORS[0].name)(x, out=np.empty(4))
    with pytest.raises(TypeError, match="dask Delayed is not supported"):
        getattr(K, entry.name)(dask.delayed(np.ones)(4))
    with pytest.raises(TypeError, match="must be a real number or array of real numbers, got dtype"):
        getattr(K, entry.name)(da.from_array(np.array(["a", "b"])))


# ---- dask.distributed: worker processes import and run the kernels -----------------------------------

@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  memory_limit="600MiB") as cluster, distributed.Client(cluster) as c:
        yield c


def _few():
    """Two kernels of each elementwise kind for the cluster (its cost is per task, not per element)."""
    picked = []
    for want in ("f", "pair", "vjp", "pvjp"):
        picked += [(e, n, k) for e, n, k in ELEMENTWISE if k == want][:2]
    return picked


def test_on_a_local_cluster_of_worker_processes(client):
    x = np.random.default_rng(1).standard_normal((40, 9))
    g = np.random.default_rng(2).standard_normal((40, 9))
    dx, dg = da.from_array(x, chunks=((10, 17, 13), (4, 5))), da.from_array(g, chunks=(8, 9))
    checks = []
    for entry, name, kind in _few():
        fn = getattr(K, name)
        params = [_param_array(p.default, 9) for p in _params(fn)]
        checks.append((kind, _call(fn, kind, dx, dg, params), _call(fn, kind, x, g, params)))
    xr = dx.rechunk({1: -1})
    for v in VECTORS[:2]:
        checks.append(("f", getattr(K, v.name)(xr), getattr(K, v.name)(x)))
        checks.append(("f", getattr(K, f"{v.name}_vjp")(xr, dg), getattr(K, f"{v.name}_vjp")(x, g)))
    loss = LOSSES[0]
    y = np.random.default_rng(3).standard_normal(x.shape)
    for name in (loss.name, f"{loss.name}_grad"):
        checks.append(("mean", getattr(K, name)(dx, y), getattr(K, name)(x, y)))
    row = next(l for l in ROW_LOSSES if "label" in l.formulas and l.weight)
    labels = np.random.default_rng(4).integers(0, 9, 40)
    w = np.linspace(0.5, 2.0, 9)
    lazy = getattr(K, f"{row.name}_fwd_grad")(xr, da.from_array(labels, chunks=7), weight=w)
    want = getattr(K, f"{row.name}_fwd_grad")(x, labels, weight=w)
    checks += [("mean", lazy[0], want[0]), ("mean", lazy[1], want[1])]
    lazies = [c[1] for c in checks]
    flat = [a for v in lazies for a in (v if isinstance(v, tuple) else (v,))]
    computed = iter(client.compute(flat, sync=True))
    for kind, lazy, want in checks:
        got = tuple(next(computed) for _ in lazy) if isinstance(lazy, tuple) else next(computed)
        if kind in ("pvjp", "mean"):
            np.testing.assert_allclose(got, want, **_tol(np.float64))
        elif kind in ("pair", "vjp"):
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_array_equal(got, want)
    loaded = client.run(lambda: sorted(m for m in sys.modules if m.startswith("symact.kernels.")))
    assert len(loaded) == 2
    # the kernels ran in the workers, imported there (the scheduler may give one worker every row task)
    assert any(f"symact.kernels.{K._INDEX[row.name]}" in modules for modules in loaded.values()), loaded
    assert any("symact.kernels._dask" in modules for modules in loaded.values()), loaded


def test_out_of_core_through_workers_with_less_memory(client):
    """~2 GB of float64 (generated lazily in the workers) through workers given 600 MiB each: softplus
    and a 'mean' loss over it complete, and the mean matches the integral it estimates."""
    rows, cols = 2**17, 2**11  # 2**28 float64: 2 GiB, in 128 chunks of 16 MiB
    limit = sum(w["memory_limit"] for w in client.scheduler_info()["workers"].values())
    assert rows * cols * 8 > 1.5 * limit
    x = da.random.default_rng(0).uniform(-1.0, 1.0, (rows, cols), chunks=(2**10, cols))
    loss = K.mse_loss(K.softplus(x), da.zeros_like(x), reduction="mean")  # E[softplus(U)^2], U ~ U(-1, 1)
    value = float(client.compute(loss, sync=True))
    truth = float(mpmath.quad(lambda u: mpmath.log1p(mpmath.exp(u)) ** 2, [-1, 1]) / 2)
    assert abs(value - truth) < 6 * 0.6 / math.sqrt(rows * cols)  # within 6 standard errors
