"""Train a small MLP on scikit-learn's digits with symact's kernels doing every non-matmul step.

    python examples/train_mlp.py --quick              # one short run (seconds), prints the test accuracy
    python examples/train_mlp.py --act gelu --optimizer momentum --epochs 30
    python examples/train_mlp.py --compare            # every activation x optimizer x seed; writes docs/

The network is NumPy: affine layers ``z = h @ W + b`` (NumPy's matmuls), an activation after each
hidden layer and a softmax cross-entropy on the logits. Every activation value, activation derivative,
loss, loss gradient and gradient of a learnable activation parameter comes from ``symact.kernels``:

* ``name_fwd_grad(z, *params)`` -> (f(z), f'(z)) in one pass: the forward pass keeps f'(z) for backprop;
* ``name_fwd_vjp(z, g, *params)`` -> (f(z), g * f'(z)) in one pass: with ``--recompute`` the forward
  pass keeps only z, and the backward pass gets back f(z) (needed for the next layer's weight
  gradient) and the backpropagated gradient from one call (activation checkpointing);
* ``cross_entropy_fwd_grad(logits, labels)`` -> (mean loss, d loss / d logits);
* ``name_vjp_<p>(z, g, *params)`` (or, where a kernel package has only the elementwise partial
  ``name_grad_<p>``, its product with g summed over the batch) for a learnable parameter such as
  PReLU's slope or Swish's beta, kept per hidden unit as ``torch.nn.PReLU(num_parameters=H)`` does.

Optimizers, with ``grad`` the gradient of the mini-batch's mean loss:

* SGD (Robbins & Monro 1951):              ``theta -= lr * grad``
* SGD + momentum (Polyak 1964, "heavy ball"): ``v = rho * v + grad;  theta -= lr * v``   (v starts at 0;
  the update of ``torch.optim.SGD(momentum=rho)``)

Everything is deterministic given ``--seed``: the seed draws the initial weights and the order of the
mini-batches; for one seed these are the same for every activation and optimizer, so comparisons are
paired. The train/test split is fixed (stratified, 80/20, ``random_state=0``) and the inputs are
standardized with the training set's mean and standard deviation.
"""
from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

import symact.kernels as K

# what --compare trains: the classic saturating pair, the ReLU family and the smooth modern ones
COMPARE_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu",
                       "swish", "softplus")
OPTIMIZERS = ("sgd", "momentum")


# ----------------------------------------------------------------------------------------- data
def load_data():
    """Digits (1797 8x8 images, 10 classes, bundled with scikit-learn: no download), split 80/20
    stratified with a fixed seed, standardized with the training set's statistics (constant pixels
    are left at 0)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(digits.data.astype(np.float64), digits.target.astype(np.int64),
                                              test_size=0.2, random_state=0, stratify=digits.target)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    std[std == 0] = 1.0
    return (x_tr - mean) / std, y_tr, (x_te - mean) / std, y_te


# ------------------------------------------------------------------------------ the activation
class Activation:
    """The kernels of one activation, found by name in ``symact.kernels``.

    Parameters and their defaults are read from the kernel's signature; a parameter is learnable when
    the package has a gradient kernel for it (``name_vjp_<p>`` or ``name_grad_<p>``).
    """

    def __init__(self, name: str, kernels=K):
        if not hasattr(kernels, f"{name}_fwd_grad"):
            raise ValueError(f"{name!r} is not an elementwise activation of {kernels.__name__}")
        self.name = name
        self.forward = getattr(kernels, name)
        self.fwd_grad = getattr(kernels, f"{name}_fwd_grad")
        self.fwd_vjp = getattr(kernels, f"{name}_fwd_vjp")
        sig = inspect.signature(self.forward).parameters.values()
        self.defaults = {p.name: p.default for p in list(sig)[1:] if p.kind is p.POSITIONAL_OR_KEYWORD}
        self.param_vjp = {}
        for p in self.defaults:
            vjp = getattr(kernels, f"{name}_vjp_{p}", None)
            if vjp is None and hasattr(kernels, f"{name}_grad_{p}"):
                vjp = _vjp_from_partial(getattr(kernels, f"{name}_grad_{p}"))
            if vjp is not None:
                self.param_vjp[p] = vjp

    @property
    def learnable(self) -> tuple[str, ...]:
        return tuple(self.param_vjp)

    def __repr__(self):
        return f"Activation({self.name!r}, learnable={self.learnable})"


def _vjp_from_partial(grad_p):
    """sum over the batch of g * df/dp, for a per-unit parameter of shape (H,) (what name_vjp_<p> returns)."""
    def vjp(z, g, *params):
        return (g * grad_p(z, *params)).sum(axis=0)
    return vjp


# ---------------------------------------------------------------------------------- the network
@dataclass
class MLP:
    """Affine layers ``weights[l]`` (fan_in, fan_out), ``biases[l]`` (fan_out,), and after every hidden
    layer the activation, with its learnable parameters per hidden unit in ``act_params[l]``."""

    act: Activation
    weights: list
    biases: list
    act_params: list = field(default_factory=list)

    @classmethod
    def init(cls, act: Activation, sizes, rng: np.random.Generator) -> "MLP":
        """PyTorch's ``nn.Linear`` initialization, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b, the
        same for every activation; learnable activation parameters start at their defaults."""
        weights, biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / np.sqrt(fan_in)
            weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
            biases.append(rng.uniform(-bound, bound, fan_out))
        act_params = [{p: np.full(h, float(act.defaults[p])) for p in act.learnable} for h in sizes[1:-1]]
        return cls(act, weights, biases, act_params)

    def params(self, layer: int) -> tuple:
        """The activation's parameter values for hidden layer ``layer``, in kernel argument order."""
        return tuple(self.act_params[layer].get(p, d) for p, d in self.act.defaults.items())

    def tensors(self) -> list:
        """Every trainable array, in a fixed order (the optimizers update these in place)."""
        return ([*self.weights, *self.biases]
                + [a[p] for a in self.act_params for p in self.act.learnable])

    def logits(self, x):
        h = x
        for l in range(len(self.weights) - 1):
            h = self.act.forward(h @ self.weights[l] + self.biases[l], *self.params(l))
        return h @ self.weights[-1] + self.biases[-1]

    def loss_and_grads(self, x, y, recompute: bool = False):
        """Mean cross-entropy on (x, y) and its gradient for every array of ``tensors()`` (same order).

        Default: the forward pass keeps each hidden layer's z, f(z) and f'(z) (``name_fwd_grad``).
        ``recompute=True``: it keeps only z, and the backward pass calls ``name_fwd_vjp(z, g)`` once per
        layer for both f(z) (for the next weight gradient) and g * f'(z).
        """
        n_hidden = len(self.weights) - 1
        zs, hs, ds = [], [x], []
        h = x
        for l in range(n_hidden):
            z = h @ self.weights[l] + self.biases[l]
            if recompute:
                h = self.act.forward(z, *self.params(l))
            else:
                h, d = self.act.fwd_grad(z, *self.params(l))
                hs.append(h)
                ds.append(d)
            zs.append(z)
        loss, delta = K.cross_entropy_fwd_grad(h @ self.weights[-1] + self.biases[-1], y)

        dW, db = [None] * (n_hidden + 1), [None] * (n_hidden + 1)
        dact = [dict() for _ in range(n_hidden)]
        for l in range(n_hidden, 0, -1):           # delta = d loss / d z of layer l (l = n_hidden: logits)
            g = delta @ self.weights[l].T          # d loss / d h of hidden layer l-1
            z, params = zs[l - 1], self.params(l - 1)
            if recompute:
                h_below, delta_below = self.act.fwd_vjp(z, g, *params)
            else:
                h_below, delta_below = hs[l], g * ds[l - 1]
            dW[l] = h_below.T @ delta
            db[l] = delta.sum(axis=0)
            for p, vjp in self.act.param_vjp.items():
                dact[l - 1][p] = vjp(z, g, *params)
            delta = delta_below
        dW[0] = x.T @ delta
        db[0] = delta.sum(axis=0)
        grads = [*dW, *db] + [a[p] for a in dact for p in self.act.learnable]
        return float(loss), grads


# ------------------------------------------------------------------------------------ optimizers
class SGD:
    """theta -= lr * grad."""

    def __init__(self, lr: float):
        self.lr = lr

    def step(self, tensors, grads):
        for t, g in zip(tensors, grads):
            t -= self.lr * g


class Momentum:
    """v = rho * v + grad; theta -= lr * v (v starts at 0), as torch.optim.SGD(momentum=rho) does."""

    def __init__(self, lr: float, rho: float = 0.9):
        self.lr, self.rho, self.v = lr, rho, None

    def step(self, tensors, grads):
        if self.v is None:
            self.v = [np.zeros_like(t) for t in tensors]
        for t, v, g in zip(tensors, self.v, grads):
            v *= self.rho
            v += g
            t -= self.lr * v


def make_optimizer(name: str, lr: float, rho: float):
    if name == "sgd":
        return SGD(lr)
    if name == "momentum":
        return Momentum(lr, rho)
    raise ValueError(f"unknown optimizer {name!r}; choose from {OPTIMIZERS}")


# ------------------------------------------------------------------------------------- training
@dataclass
class Run:
    """One training run. ``train_loss[e]``/``test_acc[e]``: after e epochs (e = 0: at initialization);
    ``init_grad_norms[l]``: Frobenius norm of d loss / d W_l at initialization, on the whole training set;
    ``slopes[0]``/``slopes[1]``: mean of f'(z) over the training set per hidden layer, at initialization and
    after the last epoch."""

    act: str
    optimizer: str
    lr: float
    seed: int
    train_loss: np.ndarray
    test_acc: np.ndarray
    init_grad_norms: np.ndarray
    slopes: np.ndarray
    seconds: float

    @property
    def label(self) -> str:
        return f"{self.optimizer}, lr {self.lr:g}"


def evaluate(net: MLP, x_tr, y_tr, x_te, y_te):
    """(mean cross-entropy on the whole training set, accuracy on the test set)."""
    loss = float(K.cross_entropy(net.logits(x_tr), y_tr))
    acc = float(np.mean(np.argmax(net.logits(x_te), axis=1) == y_te))
    return loss, acc


def mean_slopes(net: MLP, x) -> np.ndarray:
    """Mean of f'(z) over the rows of x, per hidden layer (near 0: saturated or dead units)."""
    out, h = [], x
    for l in range(len(net.weights) - 1):
        h, d = net.act.fwd_grad(h @ net.weights[l] + net.biases[l], *net.params(l))
        out.append(d.mean())
    return np.array(out)


def train(act_name: str, optimizer: str, seed: int, data, *, hidden=(64, 64), epochs=60, lr=0.03,
          rho=0.9, batch_size=32, recompute=False, log=None) -> Run:
    """Train one network; deterministic given ``seed`` (initial weights, then the batch order)."""
    x_tr, y_tr, x_te, y_te = data
    rng = np.random.default_rng(seed)
    act = Activation(act_name)
    net = MLP.init(act, (x_tr.shape[1], *hidden, int(y_tr.max()) + 1), rng)
    opt = make_optimizer(optimizer, lr, rho)
    tensors = net.tensors()
    _, g0 = net.loss_and_grads(x_tr, y_tr)
    init_norms = np.array([np.linalg.norm(g) for g in g0[:len(net.weights)]])
    init_slopes = mean_slopes(net, x_tr)
    losses, accs = np.full(epochs + 1, np.nan), np.full(epochs + 1, np.nan)
    losses[0], accs[0] = evaluate(net, *data)
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_tr))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            _, grads = net.loss_and_grads(x_tr[idx], y_tr[idx], recompute=recompute)
            opt.step(tensors, grads)
        losses[epoch], accs[epoch] = evaluate(net, *data)
        if log:
            log(f"epoch {epoch:3d}  train loss {losses[epoch]:.4f}  test accuracy {accs[epoch]:.4f}")
        if not np.isfinite(losses[epoch]):
            break                                   # diverged: the rest stays nan
    slopes = np.array([init_slopes, mean_slopes(net, x_tr)])
    return Run(act_name, optimizer, lr, seed, losses, accs, init_norms, slopes, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- the comparison
def epochs_to(curve: np.ndarray, target: float, below: bool) -> float:
    """First epoch e >= 1 whose end-of-epoch value is <= target (``below``) or >= target; inf if never."""
    hit = curve[1:] <= target if below else curve[1:] >= target
    return float(np.argmax(hit) + 1) if hit.any() else np.inf


def _pm(v, digits=1) -> str:
    v = np.asarray(v, dtype=float)
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f} ({v.min():.{digits}f}–{v.max():.{digits}f})"


def _fmt_epochs(values) -> str:
    v = np.asarray(values, dtype=float)
    reached = np.isfinite(v)
    if not reached.any():
        return "never"
    s = _pm(v[reached])
    if not reached.all():
        s += f"; {int((~reached).sum())}/{len(v)} never"
    return s


def _ratio(num, den, epochs: int) -> str:
    """Per-seed ratio num/den (paired: one seed = the same initial weights and batch order), as
    mean ± standard deviation (min–max). A numerator that never reached the target counts as
    epochs + 1, which makes the ratio a lower bound (marked >=)."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    if not np.isfinite(den).all():
        return "n/a (the denominator did not reach the target for every seed)"
    never = ~np.isfinite(num)
    r = np.where(never, epochs + 1, num) / den
    s = _pm(r, 2)
    if never.any():
        s = f">= {s} ({int(never.sum())}/{len(num)} seeds never reached it: counted as {epochs + 1} epochs)"
    return s


def _group(runs, key):
    out = {}
    for r in runs:
        out.setdefault(key(r), []).append(r)
    return out


def summarize(runs, sweep, settings) -> str:
    """The Markdown results block: settings, the tables, the measured ratios."""
    loss_t, acc_t, epochs = settings["loss_target"], settings["acc_target"], settings["epochs"]
    by = _group(runs, lambda r: (r.act, r.label))
    ep_loss = {k: [epochs_to(r.train_loss, loss_t, True) for r in v] for k, v in by.items()}
    ep_acc = {k: [epochs_to(r.test_acc, acc_t, False) for r in v] for k, v in by.items()}
    acts = list(dict.fromkeys(r.act for r in runs))
    labels = list(dict.fromkeys(r.label for r in runs))
    n_seeds = len(next(iter(by.values())))

    out = [f"Settings: hidden layers {settings['hidden']}, mini-batches of {settings['batch_size']}, "
           f"rho = {settings['rho']} for momentum, {epochs} epochs, seeds {settings['seeds']} "
           f"({n_seeds} per cell), float64; {settings['n_runs']} runs in {settings['seconds']:.0f} s.", "",
           f"*Epochs to loss*: the first epoch after which the mean cross-entropy on the whole training set "
           f"is <= {loss_t}. *Epochs to accuracy*: the first epoch after which the test accuracy is >= "
           f"{acc_t}. Both: mean ± standard deviation over the seeds that reached it (min–max); "
           f"\"k/{n_seeds} never\": seeds that did not within {epochs} epochs. *Final*: after epoch "
           f"{epochs}, mean ± standard deviation (min–max) over all seeds.", "",
           f"| activation | optimizer | epochs to loss <= {loss_t} | epochs to test acc >= {acc_t} "
           f"| final training loss | final test accuracy |",
           "|---|---|---|---|---|---|"]
    for a in acts:
        for lab in labels:
            rs = by[(a, lab)]
            out.append(f"| {a} | {lab} | {_fmt_epochs(ep_loss[(a, lab)])} | {_fmt_epochs(ep_acc[(a, lab)])} "
                       f"| {_pm([r.train_loss[-1] for r in rs], 4)} | {_pm([r.test_acc[-1] for r in rs], 4)} |")

    out += ["", "Ratios of epochs to target, per seed, then mean ± standard deviation (min–max):", ""]
    for lab in labels:
        for slow in ("sigmoid", "tanh"):
            if (slow, lab) in by and ("relu", lab) in by:
                out.append(f"- {lab}: {slow} / relu: to loss {_ratio(ep_loss[(slow, lab)], ep_loss[('relu', lab)], epochs)}; "
                           f"to accuracy {_ratio(ep_acc[(slow, lab)], ep_acc[('relu', lab)], epochs)}")
    same_lr = [(s, m) for s in labels for m in labels
               if s.startswith("sgd,") and m.startswith("momentum,")]
    for s, m in same_lr:
        ratios = [f"{a} {_ratio(ep_loss[(a, s)], ep_loss[(a, m)], epochs)}" for a in acts]
        out.append(f"- epochs to loss, ({s}) / ({m}): " + "; ".join(ratios))

    n_w = len(runs[0].init_grad_norms)
    out += ["", "Gradient norms at initialization (whole training set, Frobenius norm of d loss / d W per "
            "layer, input layer first; mean over seeds), the ratio first / last layer (mean ± standard "
            "deviation (min–max) over seeds), and the mean slope f'(z) of each hidden layer over the "
            f"training set (mean over seeds), at initialization and after the {epochs} epochs of {labels[0]}:", "",
            "| activation | " + " | ".join(f"W{l + 1}" for l in range(n_w))
            + " | first / last | mean f'(z) at init | mean f'(z) after training |",
            "|---|" + "---|" * (n_w + 3)]
    for a in acts:
        rs = by[(a, labels[0])]
        g = np.array([r.init_grad_norms for r in rs])
        slopes = np.array([r.slopes for r in rs]).mean(axis=0)
        out.append(f"| {a} | " + " | ".join(f"{v:.3g}" for v in g.mean(axis=0))
                   + f" | {_pm(g[:, 0] / g[:, -1], 3)} | " + ", ".join(f"{v:.3f}" for v in slopes[0])
                   + " | " + ", ".join(f"{v:.3f}" for v in slopes[1]) + " |")

    if sweep:
        out += ["", _summarize_sweep(sweep, settings)]
    return "\n".join(out) + "\n"


def _summarize_sweep(sweep, settings) -> str:
    """Each activation at every learning rate, and each at its own best one (Krizhevsky et al.'s
    protocol for the 6x: learning rates chosen independently, to make each network train fastest)."""
    loss_t, epochs = settings["loss_target"], settings["epochs"]
    by = _group(sweep, lambda r: (r.act, r.lr))
    ep = {k: np.array([epochs_to(r.train_loss, loss_t, True) for r in v]) for k, v in by.items()}
    acts = list(dict.fromkeys(r.act for r in sweep))
    lrs = list(dict.fromkeys(r.lr for r in sweep))
    opt = sweep[0].optimizer
    out = [f"Learning-rate sweep ({opt}, same seeds): epochs to training loss <= {loss_t}.", "",
           "| lr | " + " | ".join(acts) + " |", "|---|" + "---|" * len(acts)]
    for lr in lrs:
        out.append(f"| {lr:g} | " + " | ".join(_fmt_epochs(ep[(a, lr)]) for a in acts) + " |")
    out += ["", f"The same runs after epoch {epochs}: training loss, and in brackets the mean slope f'(z) of the "
            "last hidden layer over the training set (0: every unit saturated or dead); means over seeds, "
            "then the range of the loss:", "",
            "| lr | " + " | ".join(acts) + " |", "|---|" + "---|" * len(acts)]
    for lr in lrs:
        cells = []
        for a in acts:
            loss = np.array([r.train_loss[-1] for r in by[(a, lr)]])
            slope = np.mean([r.slopes[1][-1] for r in by[(a, lr)]])
            cells.append(f"{loss.mean():.2g} ({slope:.3f}); {loss.min():.2g}–{loss.max():.2g}")
        out.append(f"| {lr:g} | " + " | ".join(cells) + " |")

    def cost(a, lr):   # fewest epochs on average; a seed that never reached counts as epochs + 1
        return np.where(np.isfinite(ep[(a, lr)]), ep[(a, lr)], epochs + 1).mean()
    best = {a: min(lrs, key=lambda lr: cost(a, lr)) for a in acts}
    out += ["", "Each at its own best learning rate: " + ", ".join(f"{a} {best[a]:g}" for a in acts) + "."]
    if "relu" in acts:
        for a in acts:
            if a != "relu":
                out.append(f"- tuned, {a} / relu: {_ratio(ep[(a, best[a])], ep[('relu', best['relu'])], epochs)}")
        for lr in lrs:
            out.append(f"- lr {lr:g}: " + "; ".join(f"{a} / relu {_ratio(ep[(a, lr)], ep[('relu', lr)], epochs)}"
                                                    for a in acts if a != "relu"))
    return "\n".join(out)


def plot(runs, path: str, settings) -> None:
    """Training loss (log scale) and test accuracy per epoch: one column per optimizer setting, one line
    per activation (the mean over seeds) with a band from the minimum to the maximum over seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    acts = list(dict.fromkeys(r.act for r in runs))
    labels = list(dict.fromkeys(r.label for r in runs))
    cmap = plt.get_cmap("tab20").colors
    colors = dict(zip(acts, cmap[::2] + cmap[1::2]))
    fig, axes = plt.subplots(2, len(labels), figsize=(5.2 * len(labels), 8), sharex=True, sharey="row",
                             squeeze=False)
    for j, lab in enumerate(labels):
        for a in acts:
            sel = [r for r in runs if r.act == a and r.label == lab]
            ep = np.arange(len(sel[0].train_loss))
            bold = a in ("sigmoid", "tanh", "relu")
            for i, key in enumerate(("train_loss", "test_acc")):
                ys = np.array([getattr(r, key) for r in sel])
                axes[i, j].plot(ep, ys.mean(axis=0), color=colors[a], lw=2.2 if bold else 1.1,
                                ls="-" if bold else "--", label=a)
                axes[i, j].fill_between(ep, ys.min(axis=0), ys.max(axis=0), color=colors[a], alpha=0.15, lw=0)
        name = "SGD" if lab.startswith("sgd") else f"SGD + momentum (rho {settings['rho']})"
        axes[0, j].set_title(f"{name}, {lab.split(', ')[1]}")
        axes[0, j].set_yscale("log")
        axes[0, j].axhline(settings["loss_target"], color="k", lw=0.6, ls=":")
        axes[1, j].axhline(settings["acc_target"], color="k", lw=0.6, ls=":")
        axes[1, j].set_yscale("logit")
        axes[1, j].set_ylim(0.3, 0.99)
        axes[1, j].set_yticks([0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99])
        axes[1, j].yaxis.set_major_formatter(FormatStrFormatter("%g"))
        axes[1, j].yaxis.set_minor_formatter(NullFormatter())
        axes[1, j].set_xlabel("epoch")
    axes[0, 0].set_ylabel("training loss (mean cross-entropy)")
    axes[1, 0].set_ylabel("test accuracy")
    axes[1, -1].legend(fontsize=8, ncol=2, loc="lower right")
    n = len({r.seed for r in runs})
    fig.suptitle(f"MLP {settings['hidden']} on digits, symact kernels: mean of {n} seeds, band = min–max")
    fig.tight_layout()
    _atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=80, metadata={"Software": None}))
    plt.close(fig)


def _atomic_write(path: str, write) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)               # mkstemp makes it private; a docs file is not
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


BEGIN, END = "<!-- train_mlp.py --compare: begin -->", "<!-- train_mlp.py --compare: end -->"


def write_results(page: str, block: str) -> None:
    """Replace the text between the BEGIN/END markers of ``page`` with ``block`` (or create the page)."""
    text = open(page, encoding="utf-8").read() if os.path.exists(page) else f"# Training\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"train_mlp.py: {page} has no {BEGIN} ... {END} block to write the results into")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    new = f"{head}{BEGIN}\n{block}{END}{tail}"
    _atomic_write(page, lambda f: f.write(new.encode("utf-8")))


def _optimizer_spec(spec: str):
    """'sgd', 'momentum' or 'NAME@LR' -> (name, lr or None)."""
    name, _, lr = spec.partition("@")
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r} in {spec!r}; choose from {OPTIMIZERS}, optionally @LR")
    try:
        return name, (float(lr) if lr else None)
    except ValueError:
        raise ValueError(f"bad learning rate {lr!r} in {spec!r}") from None


def compare(args, data) -> list:
    seeds = range(args.seed, args.seed + args.seeds)
    settings = dict(hidden=tuple(args.hidden), batch_size=args.batch_size, rho=args.rho, epochs=args.epochs,
                    seeds=f"{seeds[0]}–{seeds[-1]}", loss_target=args.loss_target, acc_target=args.acc_target)
    kw = dict(hidden=tuple(args.hidden), epochs=args.epochs, rho=args.rho, batch_size=args.batch_size,
              recompute=args.recompute)
    runs, sweep, t0 = [], [], time.perf_counter()
    for act in args.acts:
        for name, lr in args.optimizers:
            cell = [train(act, name, s, data, lr=args.lr if lr is None else lr, **kw) for s in seeds]
            runs += cell
            print(f"{act:>10s}  {cell[0].label:>16s}: final test accuracy "
                  f"{np.mean([r.test_acc[-1] for r in cell]):.4f}  ({sum(r.seconds for r in cell):.1f} s)",
                  flush=True)
    for lr in args.sweep_lrs:
        for act in args.sweep_acts:
            cell = [train(act, args.sweep_optimizer, s, data, lr=lr, **kw) for s in seeds]
            sweep += cell
            print(f"sweep {act:>10s}  {cell[0].label:>16s}: epochs to loss "
                  f"{_fmt_epochs([epochs_to(r.train_loss, args.loss_target, True) for r in cell])}", flush=True)
    settings["seconds"] = time.perf_counter() - t0
    settings["n_runs"] = len(runs) + len(sweep)
    block = summarize(runs, sweep, settings)
    fig_rel = "figures/training_curves.png"
    plot(runs, os.path.join(args.docs, fig_rel), settings)
    block = f"![Training loss and test accuracy per epoch]({fig_rel})\n\n{block}"
    write_results(os.path.join(args.docs, "training.md"), block)
    print(block)
    print(f"wrote {os.path.join(args.docs, fig_rel)} and the results block of "
          f"{os.path.join(args.docs, 'training.md')}")
    return runs + sweep


@contextlib.contextmanager
def threads(n: int):
    """Use n threads for NumPy's BLAS and symact's kernels inside the block, then restore the settings.
    One is the default: these arrays are small (at most 1437 x 64), and on a loaded 2-core machine
    threads made the run 15x slower (thread start-up and spinning cost more than they save)."""
    import numba

    previous = K.configure(parallel=False if n == 1 else None)
    numba_threads = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        from threadpoolctl import threadpool_limits    # comes with scikit-learn
        blas = threadpool_limits(limits=n, user_api="blas")
    except ImportError:
        blas = None
    try:
        yield
    finally:
        if blas is not None:
            blas.restore_original_limits()
        numba.set_num_threads(numba_threads)
        K.configure(*previous)


def parse_args(argv=None):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="one short run (relu, momentum, 10 epochs)")
    mode.add_argument("--compare", action="store_true",
                      help="train every --acts x --optimizers x --seeds, and the --sweep-lrs; write the figure "
                           "and the tables into --docs")
    ap.add_argument("--act", default="relu", help="activation of a single run (default relu)")
    ap.add_argument("--optimizer", default="momentum", choices=OPTIMIZERS, help="optimizer of a single run")
    ap.add_argument("--lr", type=float, default=0.03, help="learning rate (default 0.03)")
    ap.add_argument("--rho", type=float, default=0.9, help="momentum coefficient (default 0.9)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=None, help="default: 10 with --quick, else 60")
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 64], help="hidden layer widths (default 64 64)")
    ap.add_argument("--seed", type=int, default=0, help="the (first) seed")
    ap.add_argument("--recompute", action="store_true",
                    help="keep only z in the forward pass; name_fwd_vjp recomputes f(z) in the backward pass")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for NumPy's BLAS and the kernels (default 1: these arrays are small)")
    ap.add_argument("--acts", nargs="+", default=list(COMPARE_ACTIVATIONS), help="--compare: activations")
    ap.add_argument("--optimizers", nargs="+", default=None, metavar="NAME[@LR]",
                    help="--compare: optimizer settings (default: sgd momentum sgd@LR/(1-rho), the last one "
                         "with momentum's step size at equilibrium)")
    ap.add_argument("--seeds", type=int, default=5, help="--compare: number of seeds (default 5)")
    ap.add_argument("--loss-target", type=float, default=0.05)
    ap.add_argument("--acc-target", type=float, default=0.95)
    ap.add_argument("--sweep-acts", nargs="+", default=["sigmoid", "tanh", "relu"],
                    help="--compare: activations of the learning-rate sweep")
    ap.add_argument("--sweep-lrs", type=float, nargs="*", default=[0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0],
                    help="--compare: learning rates of the sweep (none: no sweep)")
    ap.add_argument("--sweep-optimizer", default="momentum", choices=OPTIMIZERS)
    ap.add_argument("--docs", default=os.path.join(root, "docs"), help="--compare: where to write")
    args = ap.parse_args(argv)
    if args.epochs is None:
        args.epochs = 10 if args.quick else 60
    for name in [args.act, *args.acts, *(args.sweep_acts if args.sweep_lrs else [])]:
        try:
            Activation(name)
        except ValueError as e:
            ap.error(str(e))
    if args.optimizers is None:
        args.optimizers = ["sgd", "momentum", f"sgd@{args.lr / (1 - args.rho):g}"]
    try:
        args.optimizers = list(dict.fromkeys(_optimizer_spec(s) for s in args.optimizers))
    except ValueError as e:
        ap.error(str(e))
    if min(args.epochs, args.seeds, args.batch_size, args.threads, *args.hidden) < 1:
        ap.error("--epochs, --seeds, --batch-size, --threads and --hidden must be positive")
    if not all(v > 0 and np.isfinite(v) for v in [args.lr, *args.sweep_lrs]) or not 0 <= args.rho < 1:
        ap.error("learning rates must be positive and finite, and 0 <= --rho < 1")
    return args


def main(argv=None) -> float:
    """Run the CLI; returns the final test accuracy (for --compare: the mean over all runs)."""
    args = parse_args(argv)
    with threads(args.threads):
        return _main(args)


def _main(args) -> float:
    data = load_data()
    if args.compare:
        runs = compare(args, data)
        return float(np.mean([r.test_acc[-1] for r in runs]))
    if args.quick:
        args.act, args.optimizer = "relu", "momentum"
    print(f"{args.act}, {args.optimizer}, hidden {tuple(args.hidden)}, lr {args.lr:g}, "
          f"batch {args.batch_size}, seed {args.seed}", flush=True)
    run = train(args.act, args.optimizer, args.seed, data, hidden=tuple(args.hidden), epochs=args.epochs,
                lr=args.lr, rho=args.rho, batch_size=args.batch_size, recompute=args.recompute,
                log=lambda s: print(s, flush=True))
    print(f"trained in {run.seconds:.2f} s")
    print(f"test accuracy: {run.test_acc[-1]:.4f}")
    return float(run.test_acc[-1])


if __name__ == "__main__":
    main()
