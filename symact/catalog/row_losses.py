"""Row losses: one catalog entry each, a per-row formula over a row of C classes (or features).

Written like the vector functions, with a *symbolic* row length K: ``x`` (an IndexedBase over
k = 0 … K−1) is the row of scores, ``y`` the row's integer class label, ``t`` a target row
(probabilities, or a 0/1 mask of labels), ``w`` the per-class weight (shared by all rows). Losses on
two or three rows (cosine embedding, triplet) name their rows after PyTorch's arguments. The
per-row gradients w.r.t. each input row are derived by SymPy (:mod:`symact.derive.row_loss`), cross-checked
against plain differentiation at K = 2, 3, 4, max-shift stabilized where a Σe^{x} appears (max-scaled
where a sum of squares or p-th powers does: symact.stabilize.rowscale), proven,
and lowered to row loops like the vector functions.

Call semantics follow ``torch.nn.functional`` (argument order, defaults, class ``weight``,
``ignore_index``, what 'mean' divides by); the front end (``_rowlosses.py``) checks labels, shapes
and targets before any kernel runs. ``mean`` says what 'mean' divides by: "weights" (Σ_n w[y_n] over
the rows not ignored, PyTorch's cross_entropy/nll_loss with labels) or "rows".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar, Optional

import sympy as sp

from . import Param
from .entry import Entry
from ..primitives import Softplus
from . import references as refs
from .activations import S001, S002
from .vectors import K, j, k, row_sum, x


class Ramp(sp.Function):
    """max(z, 0), opaque so that its derivative is the step below (PyTorch: 0 at z = 0)."""
    cheap = True  # arithmetic and selects only (printing.transcendental)
    nargs = 1

    def fdiff(self, argindex=1):
        return Step(self.args[0])

    def _eval_rewrite_as_Piecewise(self, z, **kwargs):
        return sp.Piecewise((z, z > 0), (0, True))

    def _latex(self, printer):
        return rf"\max\left(0, {printer._print(self.args[0])}\right)"


class Step(sp.Function):
    """1 for z > 0, else 0: the derivative of Ramp (the subgradient 0 at the kink, as PyTorch)."""
    cheap = True  # arithmetic and selects only (printing.transcendental)
    nargs = 1

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _eval_rewrite_as_Piecewise(self, z, **kwargs):
        return sp.Piecewise((1, z > 0), (0, True))

    def _latex(self, printer):
        return rf"\mathbb{{1}}\left[{printer._print(self.args[0])} > 0\right]"


class XLogX(sp.Function):
    """z·log z with 0·log 0 = 0 (the limit), as entropy needs."""
    nargs = 1

    def fdiff(self, argindex=1):
        return sp.log(self.args[0]) + 1

    def _eval_rewrite_as_Piecewise(self, z, **kwargs):
        return sp.Piecewise((0, sp.Eq(z, 0)), (z * sp.log(z), True))

    def _latex(self, printer):
        a = printer._print(self.args[0])
        return rf"{a} \log {a}"


ROW_FUNCTIONS = (Ramp, Step, XLogX)

y = sp.Symbol("y", integer=True, nonnegative=True)  # the row's class label
s = sp.Symbol("s", real=True)                       # the row's ±1 target (cosine embedding)
t = sp.IndexedBase("t", real=True)                  # a target row: probabilities or a 0/1 label mask
w = sp.IndexedBase("w", positive=True)              # class weights, one per class
x1, x2 = sp.IndexedBase("input1", real=True), sp.IndexedBase("input2", real=True)
anchor, positive, negative = (sp.IndexedBase(n, real=True) for n in ("anchor", "positive", "negative"))


def _log_softmax(idx):
    return sp.log(sp.exp(x[idx]) / row_sum(sp.exp(x[k])))


def _distance(a, b, p, eps):
    """PyTorch's pairwise_distance: (Σ_k |a_k − b_k + eps|^p)^(1/p)."""
    return row_sum(sp.Abs(a[k] - b[k] + eps) ** p) ** (1 / p)


def _cosine(eps):
    """PyTorch's cosine in cosine_embedding_loss: Σ x1·x2 / sqrt((Σ x1² + eps)(Σ x2² + eps))."""
    return row_sum(x1[k] * x2[k]) / sp.sqrt((row_sum(x1[k] ** 2) + eps) * (row_sum(x2[k] ** 2) + eps))


@dataclass(frozen=True)
class RowLoss(Entry):
    name: str
    formulas: dict                        # target kind → per-row loss: "label" (y), "prob" (t), "mask" (t), "pm1" (s), "none"
    inputs: tuple = (("input", x),)        # (argument name, IndexedBase); gradients w.r.t. each
    params: tuple[Param, ...] = ()
    source: str = ""
    summary: str = ""
    weight: bool = False                  # PyTorch's per-class weight (a row w of length C)
    ignore_index: bool = False            # PyTorch's ignore_index=-100 for label targets
    mean: str = "rows"                    # what 'mean' divides by: "rows" or "weights" (Σ w[y] of kept rows)
    class_axis: int = 1                   # PyTorch's class dimension of the input ((C,) inputs: 0)
    axis_arg: bool = False                # entropy: the caller picks the axis (default -1), no target
    input_domain: str = "real"            # "prob": the input must hold probabilities (entropy)
    grad: bool = True
    note: str = ""                        # where the seeds and PyTorch differ, and which is followed
    pytorch: Optional[Callable] = None    # lambda F, *inputs, target, **params, reduction: tensor
    reference: tuple = ()                 # primary literature (catalog.references.Reference)
    kind: str = field(default="loss", init=False)
    package: ClassVar[str] = "losses"

    @property
    def grad_names(self) -> list[tuple[str, str]]:
        """(kernel name, input argument) of each gradient: name_grad for the first input."""
        if not self.grad:
            return []
        return [(f"{self.name}_grad" if n == 0 else f"{self.name}_grad_{arg}", arg)
                for n, (arg, _) in enumerate(self.inputs)]

    def derive(self):
        """Per target kind: the row loss and its gradient by each input row (and the fused loss and gradient),
        cross-checked at explicit K, stabilized, proven, lowered."""
        from ..derive.kernel import Derivation
        from ..derive.row_loss import derive_row_loss
        from ..verify.prove import ProofFailure

        try:
            return Derivation(self, derive_row_loss(self))
        except ProofFailure as exc:
            return Derivation(self, [], raised=[exc])

    def kernel_names(self) -> list[str]:
        return [self.name] + [name for name, _ in self.grad_names] + [f"{self.name}_fwd_grad"]


_CE_SOURCE = (f"{S002}: loss(x, class) = -log(e^(x[class]) / sum_j e^(x[j])) = -x[class] + log(sum_j e^(x[j])); "
              f"{S001}: softmax classifier, cross-entropy H(p, q) = -sum_i p_i log q_i")

ROW_LOSSES: tuple[RowLoss, ...] = (
    RowLoss("cross_entropy",
            {"label": -w[y] * _log_softmax(y),
             "prob": -sp.Sum(w[j] * t[j] * _log_softmax(j), (j, 0, K - 1))},
            source=_CE_SOURCE, summary="softmax cross-entropy (class labels or class probabilities)",
            weight=True, ignore_index=True, mean="weights",
            note="label_smoothing is not offered. With probability targets 'mean' divides by the number of "
                 "rows, with labels by the sum of the kept rows' class weights (as PyTorch).",
            pytorch=lambda F, x, target, reduction, weight=None, ignore_index=-100: F.cross_entropy(
                x, target, weight=weight, ignore_index=ignore_index, reduction=reduction),
            reference=(refs.BRIDLE_1990, refs.KULLBACK_1951)),
    RowLoss("nll_loss", {"label": -w[y] * x[y]},
            source=f"{S002}: l_n = -w_(y_n) x_(n, y_n), w_c = weight[c]·1(c != ignore_index)",
            summary="negative log-likelihood of log-probabilities", weight=True, ignore_index=True, mean="weights",
            pytorch=lambda F, x, target, reduction, weight=None, ignore_index=-100: F.nll_loss(
                x, target, weight=weight, ignore_index=ignore_index, reduction=reduction),
            reference=(refs.BRIDLE_1990,)),
    RowLoss("multiclass_hinge_loss",
            {"label": w[y] * sp.Sum((1 - sp.KroneckerDelta(k, y)) * Ramp(x[k] - x[y] + sp.Symbol("margin", real=True)),
                                    (k, 0, K - 1))},
            params=(Param("margin", 1.0, "the margin Delta"),),
            source=f"{S001}: multiclass SVM loss L_i = sum_(j != y_i) max(0, s_j - s_(y_i) + Delta)",
            summary="multiclass SVM (Weston–Watkins) hinge loss", weight=True,
            note="The multiclass SVM (hinge) loss as usually taught, a sum over the wrong classes. PyTorch's multi_margin_loss (p=1) divides "
                 "it by the number of classes C: multi_margin_loss = multiclass_hinge_loss / C.",
            pytorch=lambda F, x, target, reduction, margin, weight=None: F.multi_margin_loss(
                x, target, margin=margin, weight=weight, reduction=reduction) * x.shape[-1],
            reference=(refs.WESTON_1999,)),
    RowLoss("multilabel_hinge_loss",
            {"mask": sp.Sum(t[j] * sp.Sum((1 - t[k]) * Ramp(1 - (x[j] - x[k])), (k, 0, K - 1)), (j, 0, K - 1)) / K},
            source="PyTorch MultiLabelMarginLoss: sum_(j in labels) sum_(i not in labels) max(0, 1 - (x_j - x_i)) / C",
            summary="multi-label hinge loss (target: class indices, -1 terminated, as PyTorch)",
            note="Follows PyTorch's multilabel_margin_loss, including its division by C.",
            pytorch=lambda F, x, target, reduction: F.multilabel_margin_loss(x, target, reduction=reduction),
            reference=(refs.ELISSEEFF_2001,)),
    RowLoss("multilabel_soft_margin_loss",
            {"prob": sp.Sum(w[k] * (t[k] * Softplus(-x[k]) + (1 - t[k]) * Softplus(x[k])), (k, 0, K - 1)) / K},
            source="torch.nn.functional.multilabel_soft_margin_loss: -(1/C) sum_c w_c [y_c log sigma(x_c) + "
                   "(1 - y_c) log sigma(-x_c)], one logistic loss per class (binary relevance), averaged over C",
            summary="multi-label logistic loss (target: a 0/1 or probability row per input row)", weight=True,
            note="Written with -log sigma(z) = softplus(-z) (never overflowing; the row pipeline rewrites only "
                 "sums of exponentials). As PyTorch: weight is one value per class, 'mean' divides by the "
                 "number of rows. The target may hold any probability in [0, 1] (PyTorch takes 0/1 labels).",
            pytorch=lambda F, x, target, reduction, weight=None: F.multilabel_soft_margin_loss(
                x, target, weight=weight, reduction=reduction),
            reference=(refs.TSOUMAKAS_2007, refs.COX_1958)),
    RowLoss("cosine_embedding_loss",
            {"pm1": sp.Piecewise((1 - _cosine(sp.Float("1e-12")), sp.Eq(s, 1)),
                                 (Ramp(_cosine(sp.Float("1e-12")) - sp.Symbol("margin", real=True)), True))},
            inputs=(("input1", x1), ("input2", x2)), params=(Param("margin", 0.0, "margin for dissimilar pairs"),),
            source=f"{S002}: loss = 1 - cos(x1, x2) if y = 1, max(0, cos(x1, x2) - margin) if y = -1",
            summary="cosine similarity loss on a pair of rows, target ±1",
            note="cos uses PyTorch's 1e-12 added to each squared norm, so zero rows give cos = 0, not nan.",
            pytorch=lambda F, a, b, target, reduction, margin: F.cosine_embedding_loss(
                a, b, target, margin=margin, reduction=reduction),
            reference=(refs.HADSELL_2006,)),
    RowLoss("triplet_margin_loss",
            {"none": Ramp(sp.Symbol("margin", real=True)
                          + _distance(anchor, positive, sp.Symbol("p", positive=True), sp.Symbol("eps", real=True))
                          - _distance(anchor, negative, sp.Symbol("p", positive=True), sp.Symbol("eps", real=True)))},
            inputs=(("anchor", anchor), ("positive", positive), ("negative", negative)),
            params=(Param("margin", 1.0, "margin"), Param("p", 2.0, "norm degree", positive=True),
                    Param("eps", 1e-6, "added to the differences, as PyTorch's pairwise_distance",
                          domain=(0.0, 1e-2))),
            source=f"{S002}: l_n = max(0, m + |f(x_a) - f(x_p)| - |f(x_a) - f(x_n)|)",
            summary="triplet margin loss on anchor, positive and negative rows",
            note="PyTorch's swap option is not offered.",
            pytorch=lambda F, a, p_, n, reduction, margin, p, eps: F.triplet_margin_loss(
                a, p_, n, margin=margin, p=p, eps=eps, reduction=reduction),
            reference=(refs.SCHROFF_2015, refs.WEINBERGER_2009, refs.BALNTAS_2016)),
    RowLoss("entropy", {"none": -sp.Sum(XLogX(x[k]), (k, 0, K - 1))},
            inputs=(("p", x),), axis_arg=True, class_axis=-1, input_domain="prob",
            source=f"{S001}: H(p) = sum_i p_i log(1/p_i); optimal bits for an event of probability p: log2(1/p)",
            summary="Shannon entropy of a distribution along an axis (nats; base=2 for bits)",
            note="0·log 0 = 0. The derivative -(log p_i + 1) is +inf at p_i = 0, the true one-sided value.",
            reference=(refs.SHANNON_1948,)),
)
