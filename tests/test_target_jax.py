"""`symact generate --target jax`: the generated JAX package, for the whole catalog.

The package is generated once per session (tests/targets_common.py; the torch tests of the same session
reuse the derivation). Every catalog entry is checked: values and gradients against mpmath (the textbook
definition differentiated by SymPy's plain ``diff``, evaluated by mpmath; tests/targets_common.py) on
the stress sweep in float32 and float64, with no total loss anywhere and no worse than jax.nn's own
function where it has one; ``jax.test_util.check_grads`` (first and second order, forward and reverse
mode for the custom_jvp functions, reverse mode for the custom_vjp ones) in float64; ``jax.jit`` equals
eager; ``jax.vmap``/``jax.grad``; float16/bfloat16 computed in float32. float64 needs
``jax_enable_x64``: set here, at import.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

import targets_common as tc
from symact.catalog import all_entries
from symact.catalog.losses import LOSSES
from symact.catalog.row_losses import ROW_LOSSES
from symact.catalog.vectors import VECTORS

jax = pytest.importorskip("jax", reason="JAX is a test-only dependency; .ci/run installs it")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
from jax.test_util import check_grads  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")


@pytest.fixture(scope="session")
def jpkg(tmp_path_factory):
    t0 = time.perf_counter()
    pkg = tc.generate("jax", tmp_path_factory.mktemp("jax_target"), "symact_jax_generated")
    print(f"\njax target generated in {time.perf_counter() - t0:.1f} s")
    return pkg


def _own(entry):
    """jax.nn's function of the same name (tanh: jnp.tanh; gelu exact and tanh-approximated), None
    where JAX has none or its parameters differ (learnable ones, softplus's beta/threshold)."""
    if entry.learnable or entry.name in ("softplus", "swish"):
        return None
    if entry.name == "tanh":
        return jnp.tanh
    if entry.name == "gelu":
        return lambda x: jax.nn.gelu(x, approximate=False)
    if entry.name == "gelu_tanh":
        return lambda x: jax.nn.gelu(x, approximate=True)
    own = getattr(jax.nn, entry.name, None)
    if own is None:
        return None
    params = {p.name: float(p.value) for p in entry.kernel_params}
    try:
        own(jnp.zeros(2), **params)
    except TypeError:  # jax.nn names its parameters differently: not the same function to compare
        return None
    return lambda x: own(x, **params)


def _normal_inputs(truths, xs, dtype):
    """The truths, with None (not judged) at subnormal inputs: XLA on CPU flushes subnormal numbers to
    zero (jnp.asarray(1e-45, float32) * 1 is 0.0), so JAX computes f(0) there — a property of the
    framework, stated in the package's docstring, not of the derived forms."""
    tiny = np.finfo(dtype).tiny
    return [None if 0 < abs(x) < tiny else t for x, t in zip(np.asarray(xs, np.float64).tolist(), truths)]


def _ftz(got, truths, dtype):
    """The truths, with None where XLA's flush to zero explains a zero result: a truth within 2^p of the
    underflow threshold is a product with a subnormal factor (x·Φ(x) at x = −13 in float32), and the
    flushed factor makes it 0. Everything else is judged."""
    fi = np.finfo(dtype)
    edge = float(fi.tiny) * 2.0 ** (fi.nmant + 1)
    out = []
    for v, t in zip(np.asarray(got, np.float64).tolist(), truths):
        small = t is not None and not isinstance(t, float) and 0 < abs(t) < edge
        out.append(None if small and v == 0 else t)
    return out


def judge(got, truths, dtype, what, same_as=None):
    return tc.judge(got, _ftz(got, truths, dtype), dtype, what, same_as)


def row_ulp(got, truth, dtype, row, baseline=None):
    if float(got) == 0 and 0 < abs(truth) < np.finfo(dtype).tiny:  # a subnormal result, flushed by XLA
        return
    if baseline is None:
        tc.row_ulp(got, truth, dtype, row)
    else:
        tc.row_ulp_or_baseline(got, baseline, truth, dtype, row)


def _eval(f, xs, dt, params, wrt):
    """Value, d/dx, or d/dparam at every point (jax.grad per point, vmapped)."""
    xs = jnp.asarray(xs, dt)
    if wrt == "value":
        return np.asarray(f(xs, **params))
    if wrt == "x":
        return np.asarray(jax.vmap(jax.grad(lambda v: f(v, **params)))(xs))
    rest = {k: v for k, v in params.items() if k != wrt}
    return np.asarray(jax.vmap(lambda v: jax.grad(lambda p: f(v, **{wrt: p}, **rest))(jnp.asarray(params[wrt], dt)))(xs))


# -- accuracy against mpmath -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", tc.DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("entry", all_entries(), ids=lambda e: e.name)
def test_activation_accuracy(jpkg, entry, dtype):
    xs = tc.points(dtype)
    params = {p.name: float(p.value) for p in entry.kernel_params}
    f, own = getattr(jpkg, entry.name), _own(entry)
    for wrt in ["value", "x"] + [p.name for p in entry.learnable]:
        truths = _normal_inputs(tc.elementwise_truth(entry.name, wrt, dtype), xs, dtype)
        ours = _eval(f, xs, dtype, params, wrt)
        assert ours.dtype == dtype
        worst, _ = judge(ours, truths, dtype, f"{entry.name} {wrt}")
        if own is None:
            continue
        try:
            theirs, _ = judge(_eval(lambda x: own(x), xs, dtype, {}, wrt), truths, dtype, "jax.nn")
        except AssertionError:
            continue  # jax.nn's own loses the result somewhere; ours does not (judged above)
        assert worst <= max(theirs, 4.0), f"{entry.name} {wrt}: {worst:.1f} ULP, jax.nn's own {theirs:.1f}"


def _loss_forms(loss):
    return tc.loss_forms(loss)


@pytest.mark.parametrize("dtype", tc.DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("loss", LOSSES, ids=lambda e: e.name)
def test_pointwise_loss_accuracy(jpkg, loss, dtype):
    fn = getattr(jpkg, loss.name)
    for flag in _loss_forms(loss):
        xs = jnp.asarray(tc.loss_points(loss, dtype, flag))
        for target in tc.loss_targets(loss, flag):
            kw = tc.loss_kwargs(loss, flag)
            extra = [jnp.full_like(xs, 0.5)] if loss.second_input else []
            t = jnp.full_like(xs, target)

            def call(x, *e):
                return fn(x, *e, t, reduction="none", **kw)
            if not loss.grad:  # forward only: a gradient is a clear error (test_bad_input_is_a_clear_error)
                y = call(xs, *extra)
            else:
                y, vjp = jax.vjp(call, xs, *extra)
            judge(np.asarray(y), _normal_inputs(tc.loss_truth(loss.name, "value", dtype, target, flag), xs, dtype), dtype,
                  f"{loss.name} {flag} t={target}", tc.numba_loss(loss, "value", xs, extra, target, dtype, kw))
            if not loss.grad:
                continue
            grads = vjp(jnp.ones_like(y))
            for wrt, g in zip(["x"] + ([loss.second_input] if loss.second_input else []), grads):
                judge(np.asarray(g), _normal_inputs(tc.loss_truth(loss.name, wrt, dtype, target, flag), xs, dtype), dtype,
                      f"{loss.name} d/d{wrt} {flag} t={target}", tc.numba_loss(loss, wrt, xs, extra, target, dtype, kw))


@pytest.mark.parametrize("dtype", tc.DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("fn", VECTORS, ids=lambda e: e.name)
def test_vector_accuracy(jpkg, fn, dtype):
    import symact.kernels as kernels

    f = getattr(jpkg, fn.name)
    for row, g in tc.vector_cases(fn):
        values, grads = tc.vector_case_truth(fn.name, row, g)
        x = jnp.asarray([row], dtype)
        y, vjp = jax.vjp(lambda v: f(v, -1), x)
        gt = jnp.asarray([g] if not fn.scalar else g, dtype).reshape(y.shape)
        (dx,) = vjp(gt)
        # no worse than symact.kernels where the form itself loses bits (glu's subnormal gate σ(−744) times
        # 745; test_rowwise judges that kernel against mpmath)
        value_base = np.ravel(getattr(kernels, fn.name)(np.array([row], dtype)))
        for got, base, truth in zip(np.asarray(y).ravel(), value_base, values):
            row_ulp(got, truth, dtype, row, base)
        baseline = getattr(kernels, f"{fn.name}_vjp")(np.array([row], dtype), np.array([g] if not fn.scalar else g, dtype))
        for got, base, truth in zip(np.asarray(dx).ravel(), np.ravel(baseline), grads):
            row_ulp(got, truth, dtype, row, base)


def _row_target(kind, target, dt):
    if kind in ("label", "mask"):
        return (jnp.asarray([target]),)
    if kind in ("prob", "pm1"):
        return (jnp.asarray([target], dt),)
    return ()


@pytest.mark.parametrize("dtype", tc.DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("loss", ROW_LOSSES, ids=lambda e: e.name)
def test_row_loss_accuracy(jpkg, loss, dtype):
    import sympy

    shifted = any(f.has(sympy.exp) for f in loss.formulas.values())
    f = getattr(jpkg, loss.name)
    for kind, inputs, target in tc.row_loss_cases(loss):
        value, grads = tc.row_loss_case_truth(loss.name, kind, inputs, target)
        ins = [jnp.asarray([r], dtype) for r in inputs]
        t = _row_target(kind, target, dtype)
        y, vjp = jax.vjp(lambda *xs: f(*xs, *t, reduction="sum"), *ins)
        gs = vjp(jnp.ones_like(y))
        what = f"{loss.name} {kind} {inputs} {target}"
        scale = max(abs(v) for r in inputs for v in r) + 1
        got = [(float(y), value)] + [(a, b) for g, tr in zip(gs, grads) for a, b in zip(np.asarray(g).ravel(), tr)]
        for a, b in got:
            if shifted:
                row_ulp(a, b, dtype, inputs[0])
            else:
                tc.close(a, b, dtype, scale, what)


# -- gradients: check_grads (float64), every function ------------------------------------------------------

EPS = 1e-6  # check_grads' finite-difference step (its default 1e-4 is too coarse for sine's omega0 = 30)


def _away_from_kinks(n, seed):
    x = np.random.default_rng(seed).random(n) * 4 - 2
    return jnp.asarray(np.where(np.abs(x) < 0.05, x + 0.1, x))


@pytest.mark.parametrize("entry", all_entries(), ids=lambda e: e.name)
def test_activation_check_grads(jpkg, entry):
    f = getattr(jpkg, entry.name)
    x = _away_from_kinks(12, 1).reshape(2, 3, 2)
    names = [p.name for p in entry.learnable]
    learn = [jnp.full((2,), float(p.value) + 0.1) for p in entry.learnable]
    fixed = {p.name: float(p.value) for p in entry.kernel_params if not p.learnable}

    def call(x, *ps):
        return f(x, **dict(zip(names, ps)), **fixed)
    check_grads(call, (x, *learn), order=2, modes=("fwd", "rev"), eps=EPS)


@pytest.mark.parametrize("loss", [loss for loss in LOSSES if loss.grad], ids=lambda e: e.name)
def test_pointwise_loss_check_grads(jpkg, loss):
    f = getattr(jpkg, loss.name)
    extra = [_away_from_kinks(8, 3) + 0.01] if loss.second_input else []
    for flag in _loss_forms(loss):
        kw = tc.loss_kwargs(loss, flag)
        form = tc.loss_form(loss, flag)
        x = _away_from_kinks(8, 2)
        if form.input_domain == "prob":
            x = jnp.abs(x) / 2.5 + 0.1
        elif form.input_domain == "nonneg":
            x = jnp.abs(x) + 0.1
        tt = {"pm1": jnp.asarray([1.0, -1.0] * 4), "prob": jnp.linspace(0.1, 0.9, 8),
              "nonneg": jnp.linspace(0.0, 2.8, 8)}.get(form.target, x * 0.3 + 0.7)
        for reduction in ("mean", "none"):
            def call(x, *e):
                return f(x, *e, tt, reduction=reduction, **kw)
            check_grads(call, (x, *extra), order=2, modes=("fwd", "rev"), eps=EPS)


@pytest.mark.parametrize("fn", VECTORS, ids=lambda e: e.name)
def test_vector_check_grads(jpkg, fn):
    shape = tc.shaped(fn, 2, 3, 4)
    x = _away_from_kinks(math.prod(shape), 4).reshape(shape)
    f = getattr(jpkg, fn.name)
    for axis in (-1, 1):
        check_grads(lambda v: f(v, axis), (x,), order=2, modes=("rev",), eps=EPS)


def _row_args(loss, kind, n=3, c=4):
    rng = np.random.default_rng(5)
    ins = [jnp.asarray(rng.standard_normal((n, c)) * 1.5) for _ in loss.inputs]
    if loss.input_domain == "prob":
        ins = [jax.nn.softmax(ins[0], -1)]
    target = {"label": lambda: jnp.asarray([0, 3, 1][:n]),
              "prob": lambda: jax.nn.softmax(jnp.asarray(rng.standard_normal((n, c))), -1),
              "mask": lambda: jnp.asarray([[1, 3, -1, 0], [0, -1, 0, 0], [2, 1, 0, -1]][:n]),
              "pm1": lambda: jnp.asarray([1.0, -1.0, 1.0][:n]),
              "none": lambda: None}[kind]()
    return ins, target


@pytest.mark.parametrize("loss", [r for r in ROW_LOSSES if r.grad], ids=lambda e: e.name)
def test_row_loss_check_grads(jpkg, loss):
    f = getattr(jpkg, loss.name)
    for kind in loss.formulas:
        ins, target = _row_args(loss, kind)
        extra = () if target is None else (target,)
        for reduction in ("mean", "none"):
            def call(*xs):
                return f(*xs, *extra, reduction=reduction)
            check_grads(call, tuple(ins), order=2, modes=("rev",), eps=EPS)


# -- jit equals eager, vmap/grad, dtypes ----------------------------------------------------------------------

def _every_function():
    """(name, keyword arguments, builder of the positional arguments, how many of them are
    differentiated) for every catalog function: activations, vector functions, pointwise losses (every
    variant flag), row losses (every target kind)."""
    cases = []
    for e in all_entries():
        cases.append((e.name, {}, lambda: (_away_from_kinks(20, 7).reshape(4, 5),), 1))
    for v in VECTORS:
        cases.append((v.name, {}, lambda v=v: (_away_from_kinks(20 * v.layout.parts, 8).reshape(4, 5 * v.layout.parts),), 1))
    for loss in LOSSES:
        for flag in _loss_forms(loss):
            def args(loss=loss, flag=flag):
                form = tc.loss_form(loss, flag)
                x = _away_from_kinks(20, 9).reshape(4, 5)
                if form.input_domain == "prob":
                    x = jnp.abs(x) / 2.5 + 0.1
                elif form.input_domain == "nonneg":
                    x = jnp.abs(x) + 0.1
                t = {"pm1": jnp.sign(_away_from_kinks(20, 10)).reshape(4, 5), "prob": jnp.full((4, 5), 0.3),
                     "nonneg": jnp.full((4, 5), 1.5)}.get(form.target, x * 0.3 + 0.7)
                extra = (_away_from_kinks(20, 11).reshape(4, 5) + 0.01,) if loss.second_input else ()
                return (x, *extra, t)
            cases.append((loss.name, tc.loss_kwargs(loss, flag), args,
                          (1 + bool(loss.second_input)) if loss.grad else 0))
    for r in ROW_LOSSES:
        for kind in r.formulas:
            def args(r=r, kind=kind):
                ins, target = _row_args(r, kind)
                return (*ins, *(() if target is None else (target,)))
            cases.append((r.name, {}, args, len(r.inputs) if r.grad else 0))
    return cases


@pytest.mark.parametrize("name,kw,args,n_diff", _every_function(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_jit_equals_eager(jpkg, name, kw, args, n_diff):
    f = getattr(jpkg, name)
    a = args()
    np.testing.assert_allclose(jax.jit(lambda *xs: f(*xs, **kw))(*a), f(*a, **kw), rtol=1e-13, atol=1e-15)
    if not n_diff:
        return

    def total(*xs):
        return jnp.sum(f(*xs, *a[n_diff:], **kw))
    argnums = tuple(range(n_diff))
    eager = jax.grad(total, argnums)(*a[:n_diff])
    jitted = jax.jit(jax.grad(total, argnums))(*a[:n_diff])
    for u, v in zip(jitted, eager):
        np.testing.assert_allclose(u, v, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("entry", all_entries(), ids=lambda e: e.name)
def test_vmap_and_grad(jpkg, entry):
    f = getattr(jpkg, entry.name)
    x = _away_from_kinks(12, 8).reshape(4, 3)
    np.testing.assert_allclose(jax.vmap(f)(x), f(x), rtol=1e-15, atol=0)
    g = jax.grad(lambda v: jnp.sum(f(v)))(x)
    np.testing.assert_allclose(jax.vmap(jax.grad(lambda v: jnp.sum(f(v))))(x), g, rtol=1e-15, atol=0)
    _, jvp = jax.jvp(f, (x,), (jnp.ones_like(x),))  # forward mode: the same derivative
    np.testing.assert_allclose(jvp, g, rtol=1e-15, atol=0)


@pytest.mark.parametrize("fn", VECTORS, ids=lambda e: e.name)
def test_vector_vmap(jpkg, fn):
    f = getattr(jpkg, fn.name)
    x = jnp.asarray(np.random.default_rng(3).standard_normal((5, 3, 4)))
    np.testing.assert_allclose(jax.vmap(lambda v: f(v, -1))(x), f(x, -1), rtol=1e-15, atol=0)


@pytest.mark.parametrize("entry", all_entries(), ids=lambda e: e.name)
def test_low_precision_computed_in_float32(jpkg, entry):
    f = getattr(jpkg, entry.name)
    x = jnp.linspace(-6, 6, 25, dtype=jnp.float32)
    for low in (jnp.float16, jnp.bfloat16):
        y = f(x.astype(low))
        assert y.dtype == low
        np.testing.assert_array_equal(np.asarray(y, np.float32), np.asarray(f(x.astype(low).astype(jnp.float32)).astype(low), np.float32))


def test_where_jax_loses_the_result(jpkg):
    assert float(jax.grad(jax.nn.sigmoid)(37.4)) == 0.0  # jax.nn's own backward
    assert float(jax.grad(jpkg.sigmoid)(37.4)) == pytest.approx(5.7199e-17, rel=1e-4)
    row = jnp.asarray([[100.0, 0.0, 0.0]])
    loss, g = jax.value_and_grad(lambda r: jpkg.cross_entropy(r, jnp.asarray([0])))(row)
    want = float(np.log1p(2 * np.exp(-100.0)))
    assert float(loss) == pytest.approx(want, rel=1e-15)
    np.testing.assert_allclose(g, [[-want, want / 2, want / 2]], rtol=1e-15)


def test_cli_jax_target_takes_user_functions(tmp_path):
    import importlib
    import sys

    from symact.cli import main

    out = tmp_path / "myjax"
    assert main(["generate", "--target", "jax", "--out", str(out), "--only", "gate",
                 "--define", "gate(a=2) = x*sigmoid(a*x)"]) == 0
    sys.path.insert(0, str(tmp_path))
    try:
        pkg = importlib.import_module("myjax")
        assert [n for n in pkg.__all__ if n.islower()] == ["gate"]
        x = jnp.linspace(-40, 40, 81)
        got = jax.vmap(jax.grad(pkg.gate))(x)
        want = jax.vmap(jax.grad(lambda v: v * jax.nn.sigmoid(2 * v)))(x)  # JAX autodiff of the definition
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        check_grads(pkg.gate, (x[30:50],), order=2, modes=("fwd", "rev"), eps=EPS)
    finally:
        sys.path.remove(str(tmp_path))


def test_bad_input_is_a_clear_error(jpkg):
    x = jnp.asarray(np.random.default_rng(1).standard_normal((3, 4)))
    with pytest.raises(ValueError, match="outside \\[0, 4\\)"):
        jpkg.cross_entropy(x, jnp.asarray([0, 4, 1]))
    with pytest.raises(ValueError, match="labels -1 or \\+1"):
        jpkg.hinge_loss(x, jnp.zeros((3, 4)))
    with pytest.raises(TypeError, match="floating-point"):
        jpkg.sigmoid(jnp.arange(3))
    with pytest.raises(ValueError, match="reduction"):
        jpkg.l1_loss(x, x, reduction="avg")
    forward_only = [loss for loss in LOSSES if not loss.grad]
    for loss in forward_only:
        t = jnp.ones_like(x)
        with pytest.raises(ValueError, match="no derivative"):
            jax.grad(lambda v: getattr(jpkg, loss.name)(v, t))(x)


@pytest.mark.parametrize("fn", [v for v in VECTORS if getattr(jax.nn, v.name, None) and not v.params],
                         ids=lambda e: e.name)
def test_vector_matches_jax_nn(jpkg, fn):
    """jax.nn's function of the same name (softmax, log_softmax, logsumexp, glu), its value and its
    gradient under jax.vjp, along both axes, in float64 at moderate values."""
    own = getattr(jax.nn, fn.name)
    x = jnp.asarray(np.random.default_rng(6).standard_normal(tc.shaped(fn, 3, 4)) * 3)
    for axis in (-1, 0):
        a, va = jax.vjp(lambda v: getattr(jpkg, fn.name)(v, axis), x)
        b, vb = jax.vjp(lambda v: own(v, axis=axis), x)
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
        g = jnp.asarray(np.random.default_rng(7).standard_normal(a.shape))
        np.testing.assert_allclose(va(g)[0], vb(g)[0], rtol=1e-12, atol=1e-15)
