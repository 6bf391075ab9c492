"""Pointwise losses: one catalog entry each, written as in the seeds, in (input x, target y).

A loss is an elementwise formula ℓ(x, y; params) plus a reduction; ``name(input, target, …,
reduction='mean')`` and ``name_grad(…)`` (the gradient of the *reduced* loss w.r.t. input) follow
``torch.nn.functional`` where PyTorch has the function. The per-element loss and derivative are
derived, stabilized and emitted by the same pipeline as the activations (x is the input, the target
and any second input are array parameters), so they are proven and accuracy-tested the same way.

``target``: what the target may hold — "real", "pm1" (labels ±1) or "prob" (in [0, 1]); the
kernels reject anything else with a clear error. ``input_domain``: "prob" where the input must be a
probability (binary_cross_entropy). ``grad=False``: forward only (zero_one_loss has no gradient). ``weight``: the loss takes PyTorch's
elementwise ``weight``; with reduction='mean' torch 2.13 divides by the number of elements for
huber_loss and the BCE losses but by the sum of the weights for l1_loss and mse_loss — copied as is.
``flags``: boolean keywords of the loss that select its per-element formula (kl_div's ``log_target``,
poisson_nll_loss's ``log_input`` and ``full``), each with its default; ``formula`` then takes every
flag as a keyword argument. Each combination of flag values is one :class:`Variant`: the all-defaults
one is the main formula (``<name>_elementwise``), every other is derived, stabilized, proven and emitted
like it, as ``<name>_<suffix>_elementwise`` and its gradient, the suffix naming the flags off their
default (``full``, ``no_log_input``, ``no_log_input_full``). ``reductions``: what ``reduction`` may be (kl_div adds
PyTorch's 'batchmean', the sum divided by input.shape[0]). ``notes``: choices to state in the docs
(where symact departs from PyTorch, and why).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from typing import Callable, ClassVar, Optional

import sympy as sp

from . import Activation, Param
from .entry import Entry
from . import references as refs
from .activations import S000, S001, S002


@dataclass(frozen=True)
class Flag:
    """A boolean keyword of a loss that selects its per-element formula. ``target`` and ``input_domain``:
    what the target and the input may hold while the flag is off its default (None: as the loss says)."""

    name: str
    default: bool = False
    doc: str = ""                             # what the non-default value means (docstring and docs)
    target: Optional[str] = None
    input_domain: Optional[str] = None


@dataclass(frozen=True)
class Variant:
    """One combination of a loss's flag values (every flag given one): its per-element formula, the
    kernel-name suffix (the flags off their default: ``full``, ``no_log_input``; "" for the defaults),
    and what the target and input may hold. Built by :meth:`Loss.combinations`, never written by hand."""

    values: tuple[tuple[str, bool], ...]      # (flag, value) for every flag of the loss, in its order
    suffix: str
    formula: Callable[..., sp.Expr]           # lambda x, y, *params: per-element loss under these values
    doc: str
    target: str
    input_domain: str

    @property
    def key(self) -> tuple[bool, ...]:
        """The flag values in the loss's order (what a generated front end compares its checked flags with)."""
        return tuple(on for _, on in self.values)

    @property
    def kwargs(self) -> dict:
        """The flags as keyword arguments of the loss (its generated kernels, PyTorch's function)."""
        return dict(self.values)


@dataclass(frozen=True)
class Loss(Entry):
    name: str
    formula: Callable[..., sp.Expr]          # lambda x, y, *params: per-element loss
    params: tuple[Param, ...] = ()
    source: str = ""
    summary: str = ""
    kinks: str = "smooth: no kinks"
    target: str = "real"
    input_domain: str = "real"
    grad: bool = True
    second_input: Optional[str] = None        # margin_ranking_loss's input2: an array the loss is differentiated by
    weight: Optional[str] = None              # PyTorch's elementwise weight; its 'mean' divides by "count" or "weights" (Σw)
    pytorch: Optional[Callable] = None        # lambda F, input, target, **params, reduction: tensor
    flags: tuple[Flag, ...] = ()
    reductions: tuple[str, ...] = ("none", "mean", "sum")
    notes: str = ""
    reference: tuple = ()                     # primary literature (catalog.references.Reference)
    kind: str = field(default="loss", init=False)
    package: ClassVar[str] = "losses"

    def combinations(self) -> list[Variant]:
        """Every combination of flag values, the all-defaults one first (the main formula)."""
        defaults = tuple(f.default for f in self.flags)
        out = []
        for values in sorted(product((False, True), repeat=len(self.flags)), key=lambda v: v != defaults):
            off = [f for f, v in zip(self.flags, values) if v != f.default]
            kw = {f.name: v for f, v in zip(self.flags, values)}
            targets = {f.target for f in off if f.target} or {self.target}
            domains = {f.input_domain for f in off if f.input_domain} or {self.input_domain}
            if len(targets) > 1 or len(domains) > 1:
                raise ValueError(f"{self.name}: flags {[f.name for f in off]} set different targets or inputs")
            out.append(Variant(
                values=tuple(kw.items()),
                suffix="_".join(f.name if v else f"no_{f.name}" for f, v in zip(self.flags, values) if v != f.default),
                formula=(lambda *a, _kw=kw: self.formula(*a, **_kw)),
                doc="; ".join(f.doc for f in off),
                target=targets.pop(), input_domain=domains.pop()))
        return out

    @property
    def variants(self) -> list[Variant]:
        """The combinations other than the defaults, each emitted as its own per-element kernels."""
        return self.combinations()[1:]

    def pointwise(self, variant: Optional[Variant] = None) -> Activation:
        """The per-element loss (one combination of its flags; None: the defaults) as an entry of the
        elementwise pipeline (x = input)."""
        # the target and a second input are data, checked by the loss's front end (_losses.check):
        # they may be infinite (mse_loss(1, inf) = inf; log_target's t = -inf, the log of a zero
        # probability), and nan there gives nan (the front end marks those elements)
        variant = variant or self.combinations()[0]
        extra = (Param(self.second_input, 0.0, "second input", learnable=True, allow_inf=True),) \
            if self.second_input else ()
        kind = variant.target
        target = (Param("target", 0.0 if kind == "real" else 1.0, "target", allow_inf=True),)
        return Activation(
            name=f"{self.name}_{variant.suffix}_elementwise" if variant.suffix else f"{self.name}_elementwise",
            formula=variant.formula,
            params=extra + target + self.params,
            source=self.source, kinks=self.kinks, reference=self.reference,
            summary=f"{self.summary}{f', {variant.doc}' if variant.suffix else ''} (per element, no reduction)",
        )

    def derive(self):
        """The derived per-element kernels: the main formula's, then each other combination's (one module).
        ``pointwise_view`` reads them as the main formula's elementwise entry."""
        from ..derive.kernel import Derivation

        kernels, proofs = [], []
        for v in [None] + self.variants:
            d = self.pointwise(v).derive(from_output=False, gradients=self.grad)
            kernels += d.kernels
            proofs += d.proofs
        return Derivation(self, kernels, proofs)

    def pointwise_view(self, d):
        """The derivation as the elementwise entry of the main formula (what the per-element kernels'
        module section and the plots are rendered from)."""
        import dataclasses

        return dataclasses.replace(d, entry=self.pointwise())

    def grad_kernels(self) -> list[tuple[str, str, str]]:
        """(name, argument, suffix of the per-element kernel) of each gradient: ``name_grad`` w.r.t. input,
        ``name_grad_<second input>`` w.r.t. the second input."""
        if not self.grad:
            return []
        second = [(f"{self.name}_grad_{self.second_input}", self.second_input, f"grad_{self.second_input}")]
        return [(f"{self.name}_grad", "input", "grad")] + (second if self.second_input else [])

    def kernel_names(self) -> list[str]:
        """The reducing front ends, and the per-element kernels of every flag combination."""
        pointwise = [self.pointwise()] + [self.pointwise(v) for v in self.variants]
        return ([self.name] + [name for name, _, _ in self.grad_kernels()]
                + [k for p in pointwise for k in p.kernel_names()])


def _bce(x, y):
    """-(y log x + (1 - y) log(1 - x)) with 0·log 0 = 0: at y = 0 and y = 1 the term with a zero factor
    is absent (not 0·(-inf) = nan), and so is its derivative. One Piecewise, so that the derivative's
    two quotients -y/x + (1 - y)/(1 - x) meet in one sum (stabilized to (x - y)/(x(1 - x)))."""
    return sp.Piecewise((-sp.log(1 - x), sp.Eq(y, 0)), (-sp.log(x), sp.Eq(y, 1)),
                        (-(y * sp.log(x) + (1 - y) * sp.log(1 - x)), True))


def _bce_logits(x, y, pos_weight):
    """-(p·y log σ(x) + (1 - y) log(1 - σ(x))), p = pos_weight. At y = 1 and y = 0 the term with a
    zero factor is absent, as in _bce: its log is −∞ in the limit x → ±∞, where 0·(−∞) would make the
    loss nan (binary_cross_entropy_with_logits(+inf, 1) is 0, the limit)."""
    def log_sigmoid(z):
        return sp.log(1 / (1 + sp.exp(-z)))

    return sp.Piecewise((-pos_weight * log_sigmoid(x), sp.Eq(y, 1)), (-sp.log(1 - 1 / (1 + sp.exp(-x))), sp.Eq(y, 0)),
                        (-(pos_weight * y * log_sigmoid(x) + (1 - y) * sp.log(1 - 1 / (1 + sp.exp(-x)))), True))


# kl_div with log_target: e^t·(t − x) is 0·(−inf) = nan at t = −inf (the log of a zero probability),
# where the term is 0. Below t = −10⁴ the exact term is under e^−10⁴·(|t| + |x|) < 1e−4000 for every
# finite float x, so it is 0 in float32 and float64 alike: the branch changes no representable value.
LOG_ZERO = -10**4


def _abs_pw(d):  # |d| with d/dd = 0 at d = 0 (PyTorch's sign(0) = 0)
    return sp.Piecewise((d, d > 0), (-d, d < 0), (0, True))


def _gaussian_nll(x, y, var, eps):
    """(log v + (x - y)²/v)/2 with v = max(var, eps): PyTorch clamps var at eps (without a gradient through
    the clamp, which only matters for var's own gradient)."""
    v = sp.Piecewise((eps, var < eps), (var, True))
    return (sp.log(v) + (x - y) ** 2 / v) / 2


def _poisson_nll(x, y, eps, log_input, full):
    """The Poisson negative log-likelihood of a count y with rate λ, up to log y!: λ − y log λ, with the
    input as log λ (log_input) or as λ (then log(λ + eps), PyTorch's guard at λ = 0). ``full`` adds
    Stirling's approximation of log y!, y log y − y + log(2πy)/2, where y > 1 (PyTorch's mask; 0 elsewhere)."""
    loss = sp.exp(x) - y * x if log_input else x - y * sp.log(x + eps)
    if full:
        loss += sp.Piecewise((y * sp.log(y) - y + sp.log(2 * sp.pi * y) / 2, y > 1), (0, True))
    return loss


LOSSES: tuple[Loss, ...] = (
    Loss("l1_loss", lambda x, y: _abs_pw(x - y), source=f"{S000}: L1 = sum |y_true - y_pred|",
         summary="absolute error", kinks="d/dx at x = y is 0 (PyTorch: sign(0) = 0)", weight="weights",
         pytorch=lambda F, x, y, reduction: F.l1_loss(x, y, reduction=reduction),
         reference=(refs.HASTIE_2009,)),
    Loss("mse_loss", lambda x, y: (x - y) ** 2, source=f"{S000}: L2 = sum (y_true - y_pred)^2",
         summary="squared error", weight="weights", pytorch=lambda F, x, y, reduction: F.mse_loss(x, y, reduction=reduction),
         reference=(refs.HASTIE_2009,)),
    Loss("lq_loss", lambda x, y, q: sp.Piecewise(((x - y) ** q, x > y), ((y - x) ** q, x < y), (0, True)),
         params=(Param("q", 1.5, "exponent (q = 1: L1, q = 2: L2)", positive=True, domain=(1.0, 3.0)),),
         source=f"{S001}: L_i = sum_j |s_j - y_j|^q", summary="|x - y|^q",
         kinks="d/dx at x = y is 0 (for q >= 1)",
         reference=(refs.HASTIE_2009,)),
    Loss("huber_loss", lambda x, y, delta: sp.Piecewise(((x - y) ** 2 / 2, sp.Abs(x - y) < delta),
                                                        (delta * (_abs_pw(x - y) - delta / 2), True)),
         params=(Param("delta", 1.0, "switch from quadratic to linear", positive=True),),
         source=f"{S000}: Huber loss L_delta", summary="quadratic near 0, linear beyond delta", weight="count",
         pytorch=lambda F, x, y, reduction, delta: F.huber_loss(x, y, reduction=reduction, delta=delta),
         reference=(refs.HUBER_1964,)),
    Loss("smooth_l1_loss", lambda x, y, beta: sp.Piecewise(((x - y) ** 2 / (2 * beta), sp.Abs(x - y) < beta),
                                                           (_abs_pw(x - y) - beta / 2, True)),
         params=(Param("beta", 1.0, "switch point", positive=True),),
         source=f"{S002}: SmoothL1Loss", summary="Huber divided by beta",
         pytorch=lambda F, x, y, reduction, beta: F.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
         reference=(refs.GIRSHICK_2015, refs.HUBER_1964)),
    Loss("pseudo_huber_loss", lambda x, y, delta: delta**2 * (sp.sqrt(1 + ((x - y) / delta) ** 2) - 1),
         params=(Param("delta", 1.0, "slope for large |x - y|", positive=True),),
         source=f"{S000}: Pseudo-Huber, delta^2 (sqrt(1 + (a/delta)^2) - 1)", summary="smooth Huber",
         reference=(refs.CHARBONNIER_1994, refs.HARTLEY_2004)),
    Loss("hinge_loss", lambda x, y: sp.Piecewise((1 - y * x, 1 - y * x > 0), (0, True)), target="pm1",
         source=f"{S000}: hinge loss max(0, 1 - t·y), t = ±1", summary="max(0, 1 - t·x)",
         kinks="d/dx at t·x = 1 is 0",
         reference=(refs.CORTES_1995,)),
    Loss("squared_hinge_loss", lambda x, y: sp.Piecewise(((1 - y * x) ** 2, 1 - y * x > 0), (0, True)),
         target="pm1", source=f"{S001}: square loss (1 - y f(x))^2, clipped at 0", summary="max(0, 1 - t·x)^2",
         reference=(refs.CORTES_1995,)),
    Loss("logistic_loss", lambda x, y: -sp.log(1 / (1 + sp.exp(-y * x))), target="pm1",
         source=f"{S001}: L = -log(1/(1 + e^(-y f(x))))", summary="log(1 + e^(-t·x)), labels ±1",
         pytorch=lambda F, x, y, reduction: F.soft_margin_loss(x, y, reduction=reduction),
         reference=(refs.COX_1958, refs.ROSASCO_2004)),
    Loss("binary_cross_entropy_with_logits", _bce_logits,
         params=(Param("pos_weight", 1.0, "weight of positive examples (PyTorch's pos_weight)", positive=True),),
         target="prob", source=f"{S000}: sigmoid-cross-entropy loss", summary="BCE on logits", weight="count",
         pytorch=lambda F, x, y, reduction, pos_weight: F.binary_cross_entropy_with_logits(
             x, y, reduction=reduction, pos_weight=x.new_tensor(pos_weight)),
         reference=(refs.COX_1958,)),
    Loss("margin_ranking_loss", lambda x, input2, y, margin: sp.Piecewise(
        (-y * (x - input2) + margin, -y * (x - input2) + margin > 0), (0, True)),
         params=(Param("margin", 0.0, "margin"),), target="pm1", second_input="input2",
         source=f"{S002}: max(0, -y·(x1 - x2) + margin)", summary="ranking hinge on a pair",
         kinks="d/dx1 at the hinge is 0",
         pytorch=lambda F, x, x2, y, reduction, margin: F.margin_ranking_loss(x, x2, y, margin=margin,
                                                                               reduction=reduction),
         reference=(refs.HERBRICH_2000, refs.JOACHIMS_2002)),
    Loss("binary_cross_entropy", _bce,
         target="prob", input_domain="prob", weight="count",
         source=f"{S002}: BCE loss, l_n = -w_n [y_n log x_n + (1 - y_n) log(1 - x_n)]",
         summary="binary cross-entropy on probabilities",
         kinks="0·log 0 = 0: y = 0 drops the log x term and y = 1 the log(1 - x) term, with their derivatives",
         notes="The true loss, not PyTorch's: torch clamps each log at -100, so it returns 100 wherever the "
               "loss exceeds 100 (x = 1e-300, y = 1: torch 100, true 690.78) and +-1e12 for the gradient where "
               "x(1 - x) < 1e-12 (x = 1 - 2^-53, y = 0: torch 1e12, true 9.0e15). symact returns the true values: "
               "loss +inf where x = 0 with y > 0 or x = 1 with y < 1 (a certain prediction that is wrong; "
               "gradient -inf at x = 0, +inf at x = 1), and 0·log 0 = 0 where it is right (x = y = 0 or 1: loss 0, and the "
               "derivative of the term that remains, 1 or -1, not 0/0). log(1 - x) is computed as log1p(-x). "
               "Input and target outside [0, 1] are a ValueError.",
         pytorch=lambda F, x, y, reduction: F.binary_cross_entropy(x, y, reduction=reduction),
         reference=(refs.COX_1958,)),
    Loss("kl_div", lambda x, y, log_target: sp.Piecewise((0, y < LOG_ZERO), (sp.exp(y) * (y - x), True)) if log_target
         else sp.Piecewise((0, sp.Eq(y, 0)), (y * (sp.log(y) - x), True)),
         target="nonneg", reductions=("none", "mean", "sum", "batchmean"),
         flags=(Flag("log_target", doc="target given as log-probabilities t: per element e^t (t - x)", target="real"),),
         source=f"{S002}: KL divergence loss, l_n = y_n (log y_n - log x_n), with the input as log x_n",
         summary="Kullback-Leibler divergence, input as log-probabilities",
         kinks="y = 0 terms are exactly 0 (0·log 0 = 0), their derivative too",
         notes="As torch.nn.functional.kl_div: the input holds log-probabilities; 'mean' divides by the number "
               "of elements and 'batchmean' by input.shape[0] (the KL divergence per sample). A negative target "
               "is a ValueError (torch returns nan). y = 0 terms are 0 even where x = -inf (torch: nan). With "
               "log_target=True, t = -inf terms are 0 (torch: nan): the per-element form is 0 below t = -10^4, "
               "where the exact value is below 1e-4000 for every float x.",
         pytorch=lambda F, x, y, reduction, log_target=False: F.kl_div(x, y, reduction=reduction,
                                                                        log_target=log_target),
         reference=(refs.KULLBACK_1951,)),
    Loss("zero_one_loss", lambda x, y: sp.Piecewise((1, y * x < 0), (0, True)), target="pm1", grad=False,
         source=f"{S001}: L = 1(y f(x) < 0)", summary="misclassification count (forward only: no gradient)",
         reference=(refs.HASTIE_2009, refs.ROSASCO_2004)),
    # --- beyond the seeds: PyTorch's other pointwise losses, and log-cosh ---
    Loss("soft_margin_loss", lambda x, y: -sp.log(1 / (1 + sp.exp(-y * x))), target="pm1",
         source="torch.nn.functional.soft_margin_loss: log(1 + e^(-y·x)), y = ±1 (the logistic loss of "
                "Cox 1958 in PyTorch's name)",
         summary="two-class logistic loss log(1 + e^(-y·x))",
         pytorch=lambda F, x, y, reduction: F.soft_margin_loss(x, y, reduction=reduction),
         reference=(refs.COX_1958, refs.ROSASCO_2004)),
    Loss("hinge_embedding_loss", lambda x, y, margin: sp.Piecewise((x, sp.Eq(y, 1)), (margin - x, x <= margin), (0, True)),
         params=(Param("margin", 1.0, "margin for the dissimilar pairs (y = -1)"),), target="pm1",
         source="Hadsell et al. (2006), the contrastive loss on a distance x: x for y = 1, max(0, margin - x) "
                "for y = -1; torch.nn.functional.hinge_embedding_loss",
         summary="x for similar pairs, max(0, margin - x) for dissimilar ones",
         kinks="d/dx at x = margin (y = -1) is -1 (PyTorch's clamp_min passes the gradient at the boundary)",
         pytorch=lambda F, x, y, reduction, margin: F.hinge_embedding_loss(x, y, margin=margin, reduction=reduction),
         reference=(refs.HADSELL_2006,)),
    Loss("gaussian_nll_loss",
         lambda x, y, var, eps, full: _gaussian_nll(x, y, var, eps) + (sp.log(2 * sp.pi) / 2 if full else 0),
         params=(Param("var", 1.0, "the predicted variance (an array broadcast against input, or a number)",
                       positive=True),
                 Param("eps", 1e-6, "var is clamped from below at eps (PyTorch's clamp)", positive=True)),
         flags=(Flag("full", doc="with the constant log(2π)/2 of the full negative log-likelihood"),),
         source="Nix & Weigend (1994): the Gaussian negative log-likelihood (log v + (x - y)²/v)/2 with "
                "v = max(var, eps); torch.nn.functional.gaussian_nll_loss(input, target, var, full, eps)",
         summary="Gaussian negative log-likelihood with predicted variance var",
         kinks="smooth in the input; var below eps is eps (PyTorch clamps var without a gradient through the clamp)",
         notes="As torch.nn.functional.gaussian_nll_loss: var is clamped from below at eps, and the gradient is "
               "taken with the clamped value. var must be positive: var = 0 is a ValueError here (PyTorch clamps "
               "it to eps), a negative var is a ValueError in both. var and eps are keywords after target "
               "(gaussian_nll_loss(input, target, var) works as in PyTorch); only the gradient with respect to "
               "input is emitted.",
         pytorch=lambda F, x, y, reduction, var, eps, full=False: F.gaussian_nll_loss(
             x, y, x.new_full(x.shape, var), full=full, eps=eps, reduction=reduction),
         reference=(refs.NIX_1994,)),
    Loss("poisson_nll_loss", _poisson_nll,
         params=(Param("eps", 1e-8, "added to the rate inside the log when log_input=False (PyTorch's eps)",
                       positive=True),),
         target="nonneg",
         flags=(Flag("log_input", default=True, input_domain="nonneg",
                     doc="the input is the rate itself, not its log: per element x - y log(x + eps)"),
                Flag("full", doc="with Stirling's approximation y log y - y + log(2πy)/2 of log y! (where y > 1)")),
         source="Nelder & Wedderburn (1972): the Poisson log-likelihood of a generalized linear model with the "
                "log link, e^x - y·x; torch.nn.functional.poisson_nll_loss(input, target, log_input, full, eps)",
         summary="Poisson negative log-likelihood of counts y, input as the log-rate (default) or the rate",
         notes="As torch.nn.functional.poisson_nll_loss: with log_input=True (the default) the input is the "
               "log-rate x and the loss e^x - y·x; with log_input=False the input is the rate and the loss "
               "x - y·log(x + eps); full=True adds y·log y - y + log(2πy)/2 where y > 1. The target (a count "
               "or rate) must be non-negative, and so must the input when log_input=False: both are a "
               "ValueError here, where PyTorch returns a number or nan. Only the gradient with respect to "
               "input is emitted.",
         pytorch=lambda F, x, y, reduction, eps, log_input=True, full=False: F.poisson_nll_loss(
             x, y, log_input=log_input, full=full, eps=eps, reduction=reduction),
         reference=(refs.NELDER_1972, refs.CAMERON_2013)),
    Loss("log_cosh_loss", lambda x, y: sp.log(sp.cosh(x - y)),
         source="Neuneier & Zimmermann (1998): the ln cosh error function, log(cosh(x - y)); in neither "
                "PyTorch nor JAX",
         summary="log(cosh(x - y)): quadratic near 0, |x - y| - log 2 far away",
         notes="Computed as logcosh(d) = |d| + log1p(e^(-2|d|)) - log 2 beyond |d| = 1 and by a polynomial in d² "
               "below, never overflowing (cosh(d) overflows for |d| > 710); the gradient is tanh(x - y).",
         reference=(refs.NEUNEIER_1998,)),
)
