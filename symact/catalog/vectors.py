"""Vector functions along an axis, written once with a *symbolic* class count K.

``x`` is an IndexedBase over k = 0 … K−1, ``Sum`` is over the whole row; a function gives output
component ``j`` (or a scalar, for logsumexp). Their Jacobians and vector-Jacobian products are
derived in :mod:`symact.derive.vector` and cross-checked against explicit K = 2, 3, 4.
maxout is the max over a row (of affine pieces computed by the layer before); its derivative routes
the gradient to the first winning piece (``RowArgMax``), as PyTorch's max does.
A :class:`Layout` says how output components relate to the row: one per element (``FULL``), or one per
pair of halves (``HALVES``: glu's a·σ(b), component j reading x_j and x_{j+K/2}).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar, Optional

import sympy as sp

from . import Param
from .entry import Entry
from .activations import S000, S001, S002
from . import references as refs
from ..primitives import Sigmoid

K = sp.Symbol("K", integer=True, positive=True)
i, j, k = sp.symbols("i j k", integer=True, nonnegative=True)
x = sp.IndexedBase("x", real=True)
g = sp.IndexedBase("g", real=True)  # the upstream gradient of a vector-Jacobian product


class RowMax(sp.Function):
    """max_k a(x_k) over the row; the argument is a(x[k]) with k the row index. Its derivative by
    x[i] is δ(i, argmax): the subgradient that routes everything to the first winning piece."""
    cheap = True  # arithmetic and selects only (printing.transcendental)
    nargs = 1

    def _eval_derivative(self, s):
        if isinstance(s, sp.Indexed) and s.base == x and self.args[0] == x[k]:
            return sp.KroneckerDelta(s.indices[0], RowArgMax(self.args[0]))
        raise NotImplementedError(f"d/d{s} of {self}")

    def _latex(self, printer):
        return rf"\max_k {printer._print(self.args[0])}"


class RowArgMax(sp.Function):
    """The first k at which a(x_k) is largest."""
    cheap = True  # arithmetic and selects only (printing.transcendental)
    nargs = 1

    def _latex(self, printer):
        return rf"\operatorname{{argmax}}_k {printer._print(self.args[0])}"


class Blocks(sp.Function):
    """A row result in blocks (Layout.parts > 1): args[p] is its component i + p·K/parts, i < K/parts
    (the vector-Jacobian product of glu: ∂/∂a_i, then ∂/∂b_i)."""

    def _latex(self, printer):
        return r" \;\Big|\; ".join(printer._print(a) for a in self.args)


def row_sum(body: sp.Expr) -> sp.Expr:
    """Σ_k body(k) over the row."""
    return sp.Sum(body, (k, 0, K - 1))


@dataclass(frozen=True)
class Layout:
    """How a row of K elements maps to output components. The row is ``parts`` equal blocks; output
    component j (0 ≤ j < K/parts) reads x[j + p·K/parts] of each block p, so it has K/parts components
    (a vector-Jacobian product has the row's K: its block p is ∂/∂x[i + p·K/parts]). ``sizes``: the
    explicit row lengths the general-K derivation is cross-checked at (each a multiple of ``parts``).
    Another layout (thirds, pairs of neighbours…) is one more value here; the derivation, lowering,
    front ends and tests read only these fields."""
    name: str
    parts: int = 1
    sizes: tuple = (2, 3, 4)

    def outputs(self, n):
        """Output components for a row of n elements (n a multiple of ``parts``)."""
        return n // self.parts

    def offset(self, p: int, n=None) -> sp.Expr:
        """Where block p starts in a row of n elements (symbolic K by default)."""
        return p * (K if n is None else n) / self.parts


FULL = Layout("full")
HALVES = Layout("halves", parts=2, sizes=(2, 4, 6))


@dataclass(frozen=True)
class VectorFunction(Entry):
    name: str
    formula: Callable[..., sp.Expr]  # lambda j, *params: output component j (ignored when scalar)
    source: str
    summary: str
    scalar: bool = False               # one value per row (logsumexp) instead of one per component
    params: tuple[Param, ...] = ()     # kernel parameters, after axis (softmax's inverse temperature)
    torch: Optional[str] = None
    grouped: bool = False              # takes pieces=: the max over groups of that many along the axis
    reference: tuple = ()              # primary literature (catalog.references.Reference)
    layout: Layout = FULL              # how output components relate to the row (Layout)
    kind: str = field(default="vector", init=False)
    package: ClassVar[str] = "vectors"

    def symbols(self) -> list[sp.Symbol]:
        return [p.symbol for p in self.params]

    def expr(self, index: sp.Expr = j) -> sp.Expr:
        return sp.sympify(self.formula(index, *self.symbols()))

    def derive(self):
        """The value and vjp row kernels, derived at symbolic K, cross-checked, stabilized, proven, lowered."""
        from ..derive.kernel import Derivation
        from ..stabilize.rowwise import derive_rows
        from ..verify.prove import ProofFailure

        try:
            return Derivation(self, derive_rows(self))
        except ProofFailure as exc:
            return Derivation(self, [], raised=[exc])

    def kernel_names(self) -> list[str]:
        return [self.name, f"{self.name}_vjp"]


VECTORS: tuple[VectorFunction, ...] = (
    VectorFunction("softmax", lambda j, beta: sp.exp(beta * x[j]) / row_sum(sp.exp(beta * x[k])),
                   f"{S001}: sm_beta(s_i) = e^(beta s_i) / sum_j e^(beta s_j), beta = 1/T; {S000}: Softmax",
                   "normalised exponentials, with inverse temperature beta", params=(Param("beta", 1, "inverse temperature 1/T", positive=True),),
                   torch="torch.softmax",
                   reference=(refs.BRIDLE_1990, refs.BLANCHARD_2021)),
    VectorFunction("softmin", lambda j: sp.exp(-x[j]) / row_sum(sp.exp(-x[k])),
                   f"{S002}: Softmin = e^(-x_i) / sum_j e^(-x_j)", "softmax of -x", torch="torch.nn.functional.softmin",
                   reference=(refs.BRIDLE_1990,)),
    VectorFunction("log_softmax", lambda j: sp.log(sp.exp(x[j]) / row_sum(sp.exp(x[k]))),
                   f"{S002}: LogSoftmax = log(e^(x_i) / sum_j e^(x_j))", "log of softmax",
                   torch="torch.log_softmax",
                   reference=(refs.BRIDLE_1990, refs.BLANCHARD_2021)),
    VectorFunction("maxout", lambda j: RowMax(x[k]),
                   f"{S000}: Maxout max(w_1^T x + b_1, w_2^T x + b_2); {S001}: maxout (Goodfellow et al. 2013)",
                   "max over the pieces (groups of `pieces` along the axis)", scalar=True, grouped=True,
                   torch="torch.amax",
                   reference=(refs.GOODFELLOW_2013,)),
    VectorFunction("logsumexp", lambda j: sp.log(row_sum(sp.exp(x[k]))),
                   f"{S001}: log sum_j e^(f_j), stabilised by the log C = -max_j f_j trick",
                   "smooth maximum of a row", scalar=True, torch="torch.logsumexp",
                   reference=(refs.BLANCHARD_2021,)),
    VectorFunction("glu", lambda j: x[j] * Sigmoid(x[j + K / 2]),
                   "Dauphin et al. (2017), eq. 1: h(X) = (X*W + b) (x) sigma(X*V + c); torch.nn.functional.glu",
                   "gated linear unit a·σ(b), a the first and b the second half of the axis",
                   layout=HALVES, torch="torch.nn.functional.glu",
                   reference=(refs.DAUPHIN_2017,)),
)
