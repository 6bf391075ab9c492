"""Row losses (cross_entropy, nll_loss, multiclass/multilabel hinge, cosine embedding, triplet,
entropy) and maxout: PyTorch autograd for values and gradients (all reductions, class weights,
ignore_index), mpmath on extreme rows, the seeds' numbers, and a clear error for every bad input."""
from __future__ import annotations

import subprocess
import sys

import mpmath
import numpy as np
import pytest

import symact.kernels as K
from reference import assert_row_ulp, ulp_error
from symact.catalog.row_losses import ROW_LOSSES

DTYPES = [np.float64, np.float32]
REDUCTIONS = ["none", "mean", "sum"]
N, C = 7, 5


def _tol(dtype):
    return dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=3e-5, atol=3e-6)


def _cases(rng, dtype):
    """(loss name, our positional args, torch positional args, keyword args) for each PyTorch case."""
    x = (rng.standard_normal((N, C)) * 3).astype(dtype)
    x2, x3 = (rng.standard_normal((N, C)).astype(dtype) for _ in range(2))
    labels = rng.integers(0, C, N)
    labels[0] = 2
    w = rng.uniform(0.2, 2.0, C).astype(dtype)
    probs = rng.dirichlet(np.ones(C), N).astype(dtype)
    logp = x - np.log(np.exp(x.astype(np.float64)).sum(1, keepdims=True)).astype(dtype)
    mask = np.array([[0, 3, -1, 1, 1], [1, -1, 0, 0, 0], [4, 3, 2, 1, 0], [-1, 0, 0, 0, 0],
                     [2, -1, 3, 3, 3], [0, 1, -1, 4, 4], [3, -1, 0, 0, 0]])
    pm1 = rng.choice([-1, 1], N)
    return [
        ("cross_entropy", (x, labels), {}),
        ("cross_entropy", (x, labels), {"weight": w}),
        ("cross_entropy", (x, labels), {"ignore_index": 2}),
        ("cross_entropy", (x, labels), {"weight": w, "ignore_index": 2}),
        ("cross_entropy", (x, probs), {}),
        ("cross_entropy", (x, probs), {"weight": w}),
        ("nll_loss", (logp, labels), {}),
        ("nll_loss", (logp, labels), {"weight": w, "ignore_index": 2}),
        ("multiclass_hinge_loss", (x, labels), {"margin": 1.0}),
        ("multiclass_hinge_loss", (x, labels), {"margin": 0.5, "weight": w}),
        ("multilabel_hinge_loss", (x, mask), {}),
        ("cosine_embedding_loss", (x, x2, pm1), {"margin": 0.0}),
        ("cosine_embedding_loss", (x, x2, pm1), {"margin": 0.3}),
        ("triplet_margin_loss", (x, x2, x3), {"margin": 1.0, "p": 2.0, "eps": 1e-6}),
        ("triplet_margin_loss", (x, x2, x3), {"margin": 4.0, "p": 1.0, "eps": 1e-6}),
        ("triplet_margin_loss", (x, x2, x3), {"margin": 3.0, "p": 3.0, "eps": 1e-6}),
    ]


ENTRIES = {loss.name: loss for loss in ROW_LOSSES}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_values_and_gradients_match_pytorch(reduction, dtype):
    torch = pytest.importorskip("torch", reason="PyTorch is a test-only dependency; .ci/run installs it")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    for name, args, kw in _cases(rng, dtype):
        loss = ENTRIES[name]
        n_inputs = len(loss.inputs)
        inputs = [torch.tensor(a, requires_grad=True) for a in args[:n_inputs]]
        rest = [torch.tensor(a) for a in args[n_inputs:]]
        tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        out = loss.pytorch(F, *inputs, *rest, reduction=reduction, **tkw)
        out.sum().backward()
        what = f"{name} {reduction} {sorted(kw)}"
        ours = getattr(K, name)(*args, reduction=reduction, **kw)
        assert np.asarray(ours).dtype == dtype, what
        np.testing.assert_allclose(ours, out.detach().numpy(), **_tol(dtype), err_msg=what)
        for (grad_name, arg), t in zip(loss.grad_names, inputs):
            g = getattr(K, grad_name)(*args, reduction=reduction, **kw)
            assert g.dtype == dtype and g.shape == args[0].shape, grad_name
            np.testing.assert_allclose(g, t.grad.numpy(), **_tol(dtype), err_msg=f"{grad_name} {what}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fused_loss_and_gradient_equal_the_separate_kernels(reduction):
    """name_fwd_grad: one pass over each row, the same numbers as name and name_grad."""
    rng = np.random.default_rng(8)
    for dtype in DTYPES:
        for name, args, kw in _cases(rng, dtype):
            loss, grad = getattr(K, f"{name}_fwd_grad")(*args, reduction=reduction, **kw)
            np.testing.assert_array_equal(loss, getattr(K, name)(*args, reduction=reduction, **kw))
            np.testing.assert_array_equal(grad, getattr(K, f"{name}_grad")(*args, reduction=reduction, **kw))
            assert np.asarray(loss).dtype == dtype and grad.dtype == dtype
    p = np.array([[0.8, 0.15, 0.05]])
    h, dh = K.entropy_fwd_grad(p, base=2)
    assert h == K.entropy(p, base=2) and np.array_equal(dh, K.entropy_grad(p, base=2))


def test_cross_entropy_shapes_follow_pytorch():
    """(C,) with a 0-d label, and (N, C, d) with labels (N, d): classes along dim 1."""
    torch = pytest.importorskip("torch", reason="PyTorch is a test-only dependency; .ci/run installs it")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 2))
    y = rng.integers(0, 4, (3, 2))
    xt = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.cross_entropy(xt, torch.tensor(y))
    out.backward()
    np.testing.assert_allclose(K.cross_entropy(x, y), out.item(), rtol=1e-13)
    np.testing.assert_allclose(K.cross_entropy_grad(x, y), xt.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert K.cross_entropy(x, y, reduction="none").shape == (3, 2)
    v = np.array([1.0, 2.0, 3.0])
    assert K.cross_entropy(v, np.array(2)) == pytest.approx(float(torch.nn.functional.cross_entropy(
        torch.tensor(v), torch.tensor(2))), rel=1e-14)


def _ce_truth(row, label):
    with mpmath.workdps(80):
        xs = [mpmath.mpf(float(v)) for v in row]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in xs))
        value = lse - xs[label]
        grad = [mpmath.exp(v - lse) - (1 if m == label else 0) for m, v in enumerate(xs)]
        grad[label] = -mpmath.fsum(mpmath.exp(v - lse) for m, v in enumerate(xs) if m != label)
        return value, grad


EXTREME = [([1000.0, 0.0, -1000.0], 0), ([1000.0, 0.0, -1000.0], 1), ([1000.0, 0.0, -1000.0], 2),
           ([-745.0, -744.0, -800.0], 0), ([-745.0, -744.0, -800.0], 2), ([100.0, 0.0, 0.0], 0),
           ([100.0, 0.0, 0.0], 1), ([2.0, 1.0, 0.1], 0), ([0.0, 0.0, 0.0, 0.0], 3), ([3.0], 0),
           ([-1e4, 1e4], 0), ([30.0, 0.0, -30.0, 1.0], 0)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_cross_entropy_extreme_rows_against_mpmath(dtype):
    for row, label in EXTREME:
        x = np.array(row, dtype)
        value = K.cross_entropy(x[None, :], np.array([label]))
        grad = K.cross_entropy_grad(x[None, :], np.array([label]))[0]
        assert np.isfinite(value) and np.all(np.isfinite(grad)), (row, label)
        t_value, t_grad = _ce_truth(x.tolist(), label)
        assert_row_ulp(value, t_value, dtype, x.tolist(), (row, label, "value"))
        for m, (g, t) in enumerate(zip(grad.tolist(), t_grad)):
            assert_row_ulp(g, t, dtype, x.tolist(), (row, label, "grad", m))


def test_cross_entropy_keeps_the_tiny_loss():
    """CE([100, 0, 0], 0) = log(1 + 2e-100) ≈ 7.4e-44 (mainstream libraries return 0); its gradient
    at the label is -7.4e-44, not 0."""
    want = float(mpmath.log1p(2 * mpmath.exp(-100)))
    assert K.cross_entropy(np.array([100.0, 0.0, 0.0]), np.array(0)) == pytest.approx(want, rel=1e-15)
    assert K.cross_entropy(np.array([100.0, 0.0, 0.0], np.float32), np.array(0)) == \
        pytest.approx(want, abs=2 * float(np.finfo(np.float32).smallest_subnormal))
    g = K.cross_entropy_grad(np.array([[100.0, 0.0, 0.0]]), np.array([0]))
    np.testing.assert_allclose(g, [[-want, want / 2, want / 2]], rtol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_entropy_against_mpmath_and_the_seed_bits(dtype):
    """H(p) in nats and bits; the seed's optimal code lengths log2(1/p) = 0.32, 2.74, 4.32 bits for
    p = 0.80, 0.15, 0.05 come back from the derivative: dH_bits/dp_i + 1/ln 2 = log2(1/p_i)."""
    p = np.array([0.80, 0.15, 0.05], dtype)
    with mpmath.workdps(50):
        ps = [mpmath.mpf(float(v)) for v in p]
        h = -mpmath.fsum(v * mpmath.log(v) for v in ps)
        grads = [-(mpmath.log(v) + 1) for v in ps]
    assert ulp_error(float(K.entropy(p)), h, dtype) <= 4
    assert ulp_error(float(K.entropy(p, base=2)), h / mpmath.log(2), dtype) <= 4
    for g, t in zip(K.entropy_grad(p).tolist(), grads):
        assert ulp_error(g, t, dtype) <= 4
    bits = K.entropy_grad(p.astype(np.float64), base=2) + 1 / np.log(2)
    np.testing.assert_allclose(bits.round(2), [0.32, 2.74, 4.32])
    assert float(K.entropy(p, base=2)) == pytest.approx(0.80 * 0.32 + 0.15 * 2.74 + 0.05 * 4.32, abs=5e-3)
    # 0·log 0 = 0: a certain outcome has no entropy; rows along any axis
    np.testing.assert_array_equal(K.entropy(np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]), base=2), [0.0, 1.0])
    assert K.entropy(np.array([[0.5, 0.25], [0.5, 0.75]]), axis=0).shape == (2,)


def test_maxout_matches_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is a test-only dependency; .ci/run installs it")
    rng = np.random.default_rng(5)
    for dtype in DTYPES:
        x = rng.standard_normal((4, 6)).astype(dtype)
        g = rng.standard_normal((4, 3)).astype(dtype)
        xt = torch.tensor(x, requires_grad=True)
        yt = xt.view(4, 3, 2).max(dim=-1).values
        (yt * torch.tensor(g)).sum().backward()
        np.testing.assert_array_equal(K.maxout(x, pieces=2), yt.detach().numpy())
        np.testing.assert_array_equal(K.maxout_vjp(x, g, pieces=2), xt.grad.numpy())
        np.testing.assert_array_equal(K.maxout(x), x.max(axis=-1))
        assert K.maxout(x, axis=0, pieces=2).shape == (2, 6)
    # the seeds: max(w1·x + b1, w2·x + b2) with w1, b1 = 0 is ReLU; ties route to the first piece
    z = np.linspace(-2, 2, 9)
    np.testing.assert_array_equal(K.maxout(np.stack([np.zeros_like(z), z], axis=-1)), np.maximum(z, 0))
    np.testing.assert_array_equal(K.maxout_vjp(np.array([[1.0, 3.0, 3.0]]), np.array([1.0])), [[0, 1, 0]])
    assert np.isnan(K.maxout(np.array([1.0, np.nan, 2.0])))


def test_bad_input_gets_a_clear_error():
    x = np.zeros((3, 4))
    labels = np.array([0, 1, 2])
    cases = [
        (lambda: K.cross_entropy(x, np.array([0, 4, 1])), ValueError, "class 4, outside \\[0, 4\\)"),
        (lambda: K.cross_entropy(x, np.array([0, -3, 1])), ValueError, "class -3, outside"),
        (lambda: K.nll_loss(x, np.array([0, 1, 7]), ignore_index=1), ValueError, "class 7"),
        (lambda: K.cross_entropy(x, np.array([0, 2**64 - 1, 1], np.uint64)), ValueError, "class 18446744073709551615"),
        (lambda: K.cross_entropy(x, np.array([0.0, 1.0, 2.0])), TypeError, "must be integers"),
        (lambda: K.nll_loss(x, np.array([0.0, 1.0, 2.0])), TypeError, "integer class labels"),
        (lambda: K.cross_entropy(x, np.array([0, 1])), ValueError, "target has shape \\(2,\\)"),
        (lambda: K.cross_entropy(x, np.full((3, 4), 1.5)), ValueError, "probabilities in \\[0, 1\\]"),
        (lambda: K.cross_entropy(x, labels, reduction="avg"), ValueError, "reduction must be one of"),
        (lambda: K.cross_entropy(x, labels, weight=np.ones(3)), ValueError, "weight must have shape \\(4,\\)"),
        (lambda: K.cross_entropy(np.zeros((3, 0)), np.zeros(3, int)), ValueError, "has no classes"),
        (lambda: K.cross_entropy(np.array(1.0), np.array(0)), ValueError, "at least one dimension"),
        (lambda: K.cross_entropy(np.array(["a", "b"]), labels), TypeError, "input must be a real number"),
        (lambda: K.multiclass_hinge_loss(x, labels, margin=np.nan), ValueError, "parameter 'margin' is nan"),
        (lambda: K.multilabel_hinge_loss(x, np.array([[0, 5, -1, 0]] * 3)), ValueError, "holds 5; class indices"),
        (lambda: K.multilabel_hinge_loss(x, np.array([[0, -2, 1, 0]] * 3)), ValueError, "holds -2; .* or -1"),
        (lambda: K.multilabel_hinge_loss(x, np.zeros((3, 4))), TypeError, "integer class indices"),
        (lambda: K.cosine_embedding_loss(x, x, np.array([1, 0, 1])), ValueError, "labels -1 or \\+1"),
        (lambda: K.cosine_embedding_loss(x, np.zeros((3, 5)), np.ones(3)), ValueError, "input2 has shape"),
        (lambda: K.triplet_margin_loss(x, x, np.zeros((2, 4))), ValueError, "negative has shape"),
        (lambda: K.triplet_margin_loss(x, x, x, p=0.0), ValueError, "parameter 'p' must be > 0"),
        (lambda: K.entropy(np.array([0.5, 1.5])), ValueError, "probabilities in \\[0, 1\\]; found 1.5"),
        (lambda: K.entropy(np.array([0.5, -0.5])), ValueError, "found -0.5"),
        (lambda: K.entropy(np.array([0.5, 0.5]), base=1), ValueError, "base must be a positive number other"),
        (lambda: K.entropy(np.array([0.5, 0.5]), axis=2), ValueError, "axis 2 is out of range"),
        (lambda: K.maxout(np.zeros((2, 6)), pieces=4), ValueError, "pieces must be a positive integer dividing"),
    ]
    for call, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            call()


def test_ignored_rows_and_empty_batches():
    x = np.random.default_rng(6).standard_normal((4, 3))
    y = np.array([0, -100, 2, -100])
    per_row = K.cross_entropy(x, y, reduction="none")
    assert per_row[1] == 0 and per_row[3] == 0
    assert K.cross_entropy(x, y) == pytest.approx(per_row.sum() / 2, rel=1e-15)
    g = K.cross_entropy_grad(x, y)
    assert not g[1].any() and not g[3].any()
    assert K.cross_entropy(np.zeros((0, 3)), np.zeros(0, int), reduction="sum") == 0


def test_listed_with_their_arguments():
    out = subprocess.run([sys.executable, "-m", "symact", "list"], capture_output=True, text=True, check=True).stdout
    for loss in ROW_LOSSES:
        assert loss.name in out
        assert hasattr(K, loss.name)
        for name, _ in loss.grad_names:
            assert name in K.__all__
    line = next(line for line in out.splitlines() if line.startswith("cross_entropy "))
    assert "weight=None" in line and "ignore_index=-100" in line
    assert "maxout" in out and "maxout_vjp" in K.__all__


def test_all_cores_give_the_same_rows_as_one():
    """The prange row loops (large inputs, or configure(parallel=True)) equal the serial ones."""
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((64, 33)) * 5).astype(np.float32)
    y = rng.integers(0, 33, 64)
    before = K.configure(parallel=False)
    try:
        serial = [K.cross_entropy_fwd_grad(x, y, reduction="none"), K.softmax_vjp(x, x), K.log_softmax(x),
                  K.logsumexp(x), K.maxout(x, pieces=3)]
        K.configure(parallel=True)
        parallel = [K.cross_entropy_fwd_grad(x, y, reduction="none"), K.softmax_vjp(x, x), K.log_softmax(x),
                    K.logsumexp(x), K.maxout(x, pieces=3)]
    finally:
        K.configure(*before)
    for a, b in zip(serial, parallel):
        for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            np.testing.assert_array_equal(u, v)


def test_out_along_the_last_axis_is_written_in_place():
    x = np.random.default_rng(10).standard_normal((5, 7))
    o, s = np.empty_like(x), np.empty(5)
    assert K.softmax(x, out=o) is o and np.array_equal(o, K.softmax(x))
    assert K.logsumexp(x, out=s) is s and np.array_equal(s, K.logsumexp(x))
    o2 = np.empty((7, 5))
    assert K.softmax(x.T, axis=0, out=o2) is o2 and np.array_equal(o2, K.softmax(x, axis=1).T)


def test_show_and_check_cover_vectors_and_losses(capsys):
    import json

    from symact import cli

    for name, expect in [("cross_entropy", "cross_entropy_label_grad_input"), ("softmax", "softmax_vjp"),
                         ("maxout", "RowArgMax"), ("huber_loss", "huber_loss_elementwise_grad")]:
        assert cli.main(["show", name]) == 0
        out = capsys.readouterr().out
        assert expect in out and "proof" in out, name
    assert cli.main(["check", "cross_entropy", "log_softmax", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert "cross_entropy_label_grad_input: stable = derived" in names
    assert "cross_entropy_label_grad_input = d/dinput at K = 2, 3, 4" in names
    assert any(n.startswith("log_softmax_vjp") for n in names)
    assert all(r["status"] == "proved" and r["method"].startswith(("symbolic:", "numeric:")) for r in rows)


def test_ignored_labels_whatever_their_type():
    """ignore_index as an int, a NumPy integer or an integral float skips those rows; labels of any
    integer dtype; every row ignored gives PyTorch's nan mean."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3))
    labels = np.array([0, 2, -100, 1, -100])
    want = K.cross_entropy(x[[0, 1, 3]], labels[[0, 1, 3]])
    for ii in (-100, np.int16(-100), -100.0):
        assert K.cross_entropy(x, labels, ignore_index=ii) == want
    assert K.cross_entropy(x, labels.astype(np.int8)) == want
    np.testing.assert_array_equal(K.cross_entropy(x, labels, reduction="none")[[2, 4]], 0)
    with np.errstate(invalid="ignore"):
        assert np.isnan(K.cross_entropy(x, np.full(5, -100)))
