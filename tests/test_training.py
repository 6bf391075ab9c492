"""examples/train_mlp.py: backprop through a whole network built from the kernels, and training with it.

The gradients of one step (every weight matrix, bias and learnable activation parameter of an MLP with
two hidden layers) are checked for every activation in the catalog against two outside truths:
PyTorch autograd on the same weights and data (float64, with pre-activations placed exactly on the
kinks), and, so that a plain ``pytest`` without torch still checks backprop, central differences of the
loss evaluated in mpmath at 40 digits from the catalog's textbook formulas.
"""
from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp

import pytorch_defects
from symact.catalog import X, all_entries

_PATH = Path(__file__).resolve().parents[1] / "examples" / "train_mlp.py"
_spec = importlib.util.spec_from_file_location("train_mlp", _PATH)
train_mlp = importlib.util.module_from_spec(_spec)
sys.modules["train_mlp"] = train_mlp
_spec.loader.exec_module(train_mlp)

ENTRIES = all_entries()
SIZES = (5, 4, 4, 3)          # inputs, two hidden layers, classes
N = 6                         # batch


def _network(entry, rng, sizes=SIZES, kinks=False):
    """An MLP with random weights; learnable activation parameters drawn around their defaults.
    ``kinks``: the first sample is all zeros and some first-layer biases sit exactly on 0 (and on 6,
    relu6's upper kink), so those pre-activations hit the kinks exactly."""
    net = train_mlp.MLP.init(train_mlp.Activation(entry.name), sizes, rng)
    for w in net.weights:
        w *= 3.0                                       # larger than the init, so layers 2+ see curvature
    for a in net.act_params:
        for p in a:
            a[p] *= 1 + 0.3 * rng.uniform(-1, 1, a[p].shape)
    x = rng.normal(size=(N, sizes[0]))
    y = rng.integers(0, sizes[-1], N)
    if kinks:
        x[0] = 0.0
        net.biases[0][:3] = (0.0, -0.0, 6.0)
    return net, x, y


def _close(ours, truth, what):
    """|ours - truth| <= 1e-12 (|truth| + max |truth|): relative 1e-12 for every element of the size of
    the tensor's largest. Smaller ones are differences of larger terms (a weight gradient sums h·delta
    over the batch), and rounding those terms, exact as each is, moves their sum by eps times theirs:
    with sine(30 x), one float64 step of z moves cos(30 z) by ~30 |z| eps."""
    truth = np.asarray(truth, dtype=np.float64)
    scale = np.abs(truth).max(initial=0.0)
    np.testing.assert_allclose(ours, truth, rtol=1e-12, atol=1e-12 * scale, err_msg=what)


def test_learnable_parameters_are_the_catalogs():
    """The example finds each activation's learnable parameters from the kernels alone; they are the
    catalog's, and its defaults are the catalog's defaults."""
    for e in ENTRIES:
        act = train_mlp.Activation(e.name)
        assert act.learnable == tuple(p.name for p in e.learnable), e.name
        assert list(act.defaults) == [p.name for p in e.kernel_params], e.name
        for p in e.kernel_params:
            assert act.defaults[p.name] == float(p.value), (e.name, p.name)


@pytest.mark.parametrize("recompute", [False, True], ids=["fwd_grad", "fwd_vjp"])
@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.pytorch is not None], ids=lambda e: e.name)
def test_step_gradients_match_pytorch_autograd(entry, recompute):
    torch = pytest.importorskip("torch", reason="PyTorch is a test-only dependency; .ci/run installs it")
    reference = pytorch_defects.reference(entry, torch)  # PyTorch's own, unless its float64 backward is off
    rng = np.random.default_rng(20)
    net, x, y = _network(entry, rng, kinks=True)
    loss, grads = net.loss_and_grads(x, y, recompute=recompute)

    tensors = [torch.tensor(t, requires_grad=True) for t in net.tensors()]
    n_lin = len(net.weights)
    ws, bs, acts = tensors[:n_lin], tensors[n_lin:2 * n_lin], iter(tensors[2 * n_lin:])
    layer_params = [{p: next(acts) for p in net.act.learnable} for _ in range(n_lin - 1)]
    h = torch.tensor(x)
    for l in range(n_lin - 1):
        params = [layer_params[l].get(p.name, float(p.value)) for p in entry.kernel_params]
        h = reference(torch, h @ ws[l] + bs[l], *params)
    tloss = torch.nn.functional.cross_entropy(h @ ws[-1] + bs[-1], torch.tensor(y))
    tloss.backward()

    assert loss == pytest.approx(tloss.item(), rel=1e-13)
    assert len(grads) == len(tensors)
    for i, (g, t) in enumerate(zip(grads, tensors)):
        assert g.shape == tuple(t.shape)
        _close(g, t.grad.numpy(), f"{entry.name}: gradient of tensor {i} of {len(tensors)}")


def _mp_network_loss(entry, net, x, y):
    """The mean cross-entropy of ``net`` on (x, y) in mpmath, from the catalog's textbook formula."""
    syms = [p.symbol for p in entry.kernel_params]
    f = sp.lambdify([X, *syms], entry.expr().subs(entry.constants()), modules="mpmath")
    fixed = {p.name: mpmath.mpf(float(p.value)) for p in entry.kernel_params if not p.learnable}

    def loss(flat):
        it = iter(flat)
        take = lambda shape: np.array([next(it) for _ in range(int(np.prod(shape)))], dtype=object).reshape(shape)
        ws = [take(w.shape) for w in net.weights]
        bs = [take(b.shape) for b in net.biases]
        aps = [{p: take(a[p].shape) for p in net.act.learnable} for a in net.act_params]
        h = np.array([[mpmath.mpf(v) for v in row] for row in x], dtype=object)
        for l in range(len(ws) - 1):
            z = h.dot(ws[l]) + bs[l]
            h = np.empty_like(z)
            for i, j in np.ndindex(z.shape):
                args = [aps[l][p.name][j] if p.learnable else fixed[p.name] for p in entry.kernel_params]
                h[i, j] = f(z[i, j], *args)
        logits = h.dot(ws[-1]) + bs[-1]
        return sum(mpmath.log(sum(mpmath.exp(v) for v in row)) - row[c]
                   for row, c in zip(logits, y)) / len(y)
    return loss


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_step_gradients_match_mpmath_differences(entry):
    """Central differences of the loss at 40 digits (step 1e-15: truncation ~1e-30, rounding ~1e-25):
    exact to float64, so the kernels' backprop must agree to rtol 1e-12. No torch needed."""
    rng = np.random.default_rng(21)
    net, x, y = _network(entry, rng)
    _, grads = net.loss_and_grads(x, y)
    flat = [mpmath.mpf(float(v)) for t in net.tensors() for v in t.ravel()]
    with mpmath.workdps(40):
        loss = _mp_network_loss(entry, net, x, y)
        h = mpmath.mpf("1e-15")
        fd = []
        for k in range(len(flat)):
            up, down = list(flat), list(flat)
            up[k] += h
            down[k] -= h
            fd.append(float((loss(up) - loss(down)) / (2 * h)))
    offset = 0
    for i, g in enumerate(grads):
        _close(g.ravel(), fd[offset:offset + g.size], f"{entry.name}: gradient of tensor {i}")
        offset += g.size


def _small_data():
    pytest.importorskip("sklearn", reason="scikit-learn (the digits data) is in the 'test' extra")
    x_tr, y_tr, x_te, y_te = train_mlp.load_data()
    return x_tr[:320], y_tr[:320], x_te, y_te


@pytest.mark.parametrize("optimizer", train_mlp.OPTIMIZERS)
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_short_run_loss_decreases(entry, optimizer):
    run = train_mlp.train(entry.name, optimizer, 0, _small_data(), hidden=(16, 16), epochs=3, lr=0.01)
    assert np.isfinite(run.train_loss).all(), run.train_loss
    assert run.train_loss[-1] < run.train_loss[0], (entry.name, optimizer, run.train_loss)


def test_training_is_deterministic_given_the_seed():
    data = _small_data()
    name = ENTRIES[0].name
    a, b = (train_mlp.train(name, "momentum", 3, data, hidden=(8, 8), epochs=2) for _ in range(2))
    c = train_mlp.train(name, "momentum", 4, data, hidden=(8, 8), epochs=2)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    np.testing.assert_array_equal(a.test_acc, b.test_acc)
    assert not np.array_equal(a.train_loss, c.train_loss)


def test_quick_mode_ends_with_the_test_accuracy(capsys):
    pytest.importorskip("sklearn", reason="scikit-learn (the digits data) is in the 'test' extra")
    acc = train_mlp.main(["--quick"])
    lines = capsys.readouterr().out.strip().splitlines()
    m = re.fullmatch(r"test accuracy: (0\.\d{4}|1\.0000)", lines[-1])
    assert m, lines[-1]
    assert float(m.group(1)) == round(acc, 4)
    assert acc > 0.9                                   # digits is easy: a working MLP gets > 95 %


def test_compare_writes_figure_and_table(tmp_path, capsys):
    pytest.importorskip("sklearn", reason="scikit-learn (the digits data) is in the 'test' extra")
    page = tmp_path / "training.md"
    page.write_text(f"# Training\n\nprose before\n\n{train_mlp.BEGIN}\nold\n{train_mlp.END}\n\nprose after\n")
    names = [e.name for e in ENTRIES[:2]]
    train_mlp.main(["--compare", "--acts", *names, "--seeds", "2", "--epochs", "2", "--hidden", "8",
                    "--sweep-acts", *names, "--sweep-lrs", "0.01", "--docs", str(tmp_path)])
    text = page.read_text()
    assert text.startswith("# Training\n\nprose before\n\n") and text.endswith("\n\nprose after\n")
    assert "old" not in text and (tmp_path / "figures" / "training_curves.png").stat().st_size > 10_000
    rows = [l.split(" | ")[:2] for l in text.splitlines() if l.startswith("| ") and ", lr " in l]
    assert rows == [[f"| {a}", f"{o}, lr {lr:g}"] for a in names
                    for o, lr in (("sgd", 0.03), ("momentum", 0.03), ("sgd", 0.3))]
    assert "Learning-rate sweep (momentum" in text
    assert not list(tmp_path.glob("**/*.tmp"))


def test_bad_activation_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        train_mlp.main(["--act", "no_such_activation"])
    assert e.value.code == 2
    assert "no_such_activation" in capsys.readouterr().err


def test_epochs_to_target():
    curve = np.array([2.0, 1.0, 0.5, 0.04, 0.06, 0.01])
    assert train_mlp.epochs_to(curve, 0.05, below=True) == 3
    assert train_mlp.epochs_to(curve, 0.001, below=True) == math.inf
    assert train_mlp.epochs_to(np.array([0.1, 0.9, 0.96]), 0.95, below=False) == 2
