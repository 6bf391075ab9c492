"""Identities the seed documents state or use, each tied to its source — proven by `symact check`.

An :class:`Identity` says ``lhs == rhs`` for all real values of its free symbols (within the
parameter ``domains`` given), a :class:`Limit` says ``lim_{var → point} expr == value``, and an
:class:`Extremum` says ``max_x expr == value``, attained at ``at``. Catalog functions are referenced
by name through :func:`fn`, so an identity about ``celu`` is checked against the very formula the
kernels are generated from. Vector identities (softmax, cross-entropy, KL) use explicit class counts
K = 2 or 3 until the vector catalog lands.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from . import X, get
from .activations import S000, S001, S002, S003
from ..primitives import NormCdf, Sigmoid


def fn(name: str, x: sp.Expr = X, **params) -> sp.Expr:
    """The catalog's textbook formula for ``name`` at ``x``, parameters replaced as given."""
    e = get(name)
    subs = {p.symbol: params[p.name] for p in e.params if p.name in params}
    return e.expr().subs(subs).subs(X, x) if x is not X else e.expr().subs(subs)


def param(name: str, p: str) -> sp.Symbol:
    return next(q.symbol for q in get(name).params if q.name == p)


@dataclass(frozen=True)
class Identity:
    name: str
    lhs: sp.Expr
    rhs: sp.Expr
    source: str
    involves: tuple[str, ...] = ()
    domains: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Limit:
    name: str
    expr: sp.Expr
    var: sp.Symbol
    point: sp.Expr
    value: sp.Expr
    source: str
    involves: tuple[str, ...] = ()


@dataclass(frozen=True)
class Extremum:
    name: str
    expr: sp.Expr      # a function of X
    value: sp.Expr     # its global maximum
    at: sp.Expr        # where
    source: str
    involves: tuple[str, ...] = ()


# symbols for the vector identities
x0, x1, x2, c = sp.symbols("x0 x1 x2 c", real=True)
p0, p1, p2, q0, q1, q2 = sp.symbols("p0 p1 p2 q0 q1 q2", positive=True)
s0, s1, s2, f, y, beta, delta, net, a = sp.symbols("s0 s1 s2 f y beta delta net a", real=True)
bpos, dpos, gap = sp.symbols("beta delta gap", positive=True)
t = sp.Symbol("t", positive=True)


def _softmax(xs, j):
    return sp.exp(xs[j]) / sum(sp.exp(v) for v in xs)


def _logsumexp(xs):
    return sp.log(sum(sp.exp(v) for v in xs))


def _huber(r, d):
    return sp.Piecewise((r**2 / 2, sp.Abs(r) <= d), (d * (sp.Abs(r) - d / 2), True))


def _smooth_l1(r):  # seeds/002: 0.5 r^2 if |r| < 1 else |r| - 0.5
    return sp.Piecewise((r**2 / 2, sp.Abs(r) < 1), (sp.Abs(r) - sp.Rational(1, 2), True))


def _pseudo_huber(r, d):
    return d**2 * (sp.sqrt(1 + (r / d) ** 2) - 1)


def _bce(p, t_):
    return -(t_ * sp.log(p) + (1 - t_) * sp.log(1 - p))


def _relu_pw(v):
    return sp.Piecewise((v, v > 0), (0, True))


XS = (x0, x1, x2)

IDENTITIES: tuple[Identity | Limit | Extremum, ...] = (
    Identity("sigmoid' = sigmoid(1 - sigmoid)", sp.diff(fn("sigmoid"), X), Sigmoid(X) * (1 - Sigmoid(X)),
             f"{S001}: d sigma/dx = sigma(x)(1 - sigma(x))", ("sigmoid",)),
    Identity("tanh(x) = 2 sigmoid(2x) - 1", fn("tanh"), 2 * Sigmoid(2 * X) - 1, f"{S001}: Note tanh(x) = 2 sigma(2x) - 1",
             ("tanh", "sigmoid")),
    Identity("tanh(x) = (e^2x - 1)/(e^2x + 1)", fn("tanh"), (sp.exp(2 * X) - 1) / (sp.exp(2 * X) + 1),
             f"{S001}: tanh(x) = (e^x - e^-x)/(e^x + e^-x) = (e^2x - 1)/(e^2x + 1)", ("tanh",)),
    Identity("tanh' = 1 - tanh^2", sp.diff(fn("tanh"), X), 1 - sp.tanh(X) ** 2,
             f"{S001}: d tanh/dx = 1 - tanh^2(x)", ("tanh",)),
    Identity("softplus' = sigmoid", sp.diff(fn("softplus", threshold=sp.oo, beta=1), X), fn("sigmoid"),
             f"{S001}: f(x) = ln(1 + e^x), f'(x) = 1/(1 + e^-x)", ("softplus", "sigmoid")),
    Identity("softplus_beta' = sigmoid(beta x)", sp.diff(fn("softplus", threshold=sp.oo), X),
             Sigmoid(param("softplus", "beta") * X), f"{S002}: Softplus with beta", ("softplus", "sigmoid")),
    Identity("log sigmoid(x) = -softplus(-x)", fn("log_sigmoid"), -fn("softplus", -X, beta=1, threshold=sp.oo),
             f"{S002}: LogSigmoid = log(1/(1 + e^-x))", ("log_sigmoid", "softplus")),
    Identity("sigmoid(-x) = 1 - sigmoid(x)", fn("sigmoid", -X), 1 - fn("sigmoid"),
             f"{S000}: p(y=0|x) = 1 - p(y=1|x)", ("sigmoid",)),
    Identity("relu' = 1(x > 0) (relu'(0) = 0)", sp.diff(fn("relu"), X), sp.Piecewise((1, X > 0), (0, True)),
             f"{S003}: relu'(z) = 1 if z > 0, 0 if z <= 0", ("relu",)),
    Identity("relu = max(0, x)", sp.Max(0, X), fn("relu"), f"{S003}: relu(z) = max(0, z)", ("relu",)),
    Identity("relu = prelu with a = 0", fn("prelu", weight=0), fn("relu"),
             f"{S000}: if a_i = 0, f becomes ReLU", ("relu", "prelu")),
    Identity("leaky_relu = prelu with a = negative_slope", fn("prelu", weight=param("leaky_relu", "negative_slope")),
             fn("leaky_relu"), f"{S000}: alpha = 0.01 is Leaky ReLU, a special case of PReLU", ("leaky_relu", "prelu")),
    Identity("relu = maxout(0·x + 0, 1·x + 0)", sp.Max(0 * X + 0, 1 * X + 0), fn("relu"),
             f"{S000}: Maxout; for ReLU we have w1, b1 = 0", ("relu",)),
    Identity("leaky_relu = maxout(a·x, x) for 0 <= a <= 1", sp.Max(param("leaky_relu", "negative_slope") * X, X),
             fn("leaky_relu"), f"{S000}: Maxout generalizes the ReLU and its leaky version", ("leaky_relu",),
             {"negative_slope": (0.0, 1.0)}),
    Identity("celu(alpha=1) = elu(alpha=1)", fn("celu", alpha=1), fn("elu", alpha=1),
             f"{S002}: CELU and ELU", ("celu", "elu")),
    Identity("selu = scale · elu_alpha", fn("selu"),
             param("selu", "scale") * fn("elu", alpha=param("selu", "alpha")), f"{S002}: SELU = scale·(max(0,x) + min(0, alpha(e^x - 1)))",
             ("selu", "elu")),
    Identity("gelu = x·Phi(x) = (x/2)(1 + erf(x/sqrt 2))", fn("gelu"), X * NormCdf(X),
             f"{S002}: GELU = x·Phi(x)", ("gelu",)),
    Identity("silu = swish with beta = 1", fn("swish", beta=1), fn("silu"), f"{S000}: y = x·sigmoid(x)", ("silu", "swish")),
    Identity("silu = x · sigmoid(x)", fn("silu"), X * fn("sigmoid"), f"{S000}: Swish y = x·sigmoid(x)", ("silu", "sigmoid")),
    Identity("softmax with K=2 = sigmoid(x1 - x0)", _softmax((x0, x1), 1), Sigmoid(x1 - x0),
             f"{S000}: in binary classification Softmax degrades to Sigmoid", ("sigmoid",)),
    Identity("softmax shift invariance (log C trick)", _softmax((x0 + c, x1 + c, x2 + c), 0), _softmax(XS, 0),
             f"{S001}: e^f_y / sum e^f_j = e^(f_y + log C) / sum e^(f_j + log C)"),
    Identity("softmin(x) = softmax(-x)", sp.exp(-x0) / sum(sp.exp(-v) for v in XS),
             _softmax((-x0, -x1, -x2), 0), f"{S002}: Softmin = e^-x_i / sum e^-x_j"),
    Identity("-log softmax_y = -x_y + logsumexp(x)", -sp.log(_softmax(XS, 0)), -x0 + _logsumexp(XS),
             f"{S000}: L_i = -log(e^f_y/sum e^f_j) = -f_y + log sum e^f_j"),
    Identity("dCE/dx_0 = softmax_0 - 1 (true class)", sp.diff(-x0 + _logsumexp(XS), x0), _softmax(XS, 0) - 1,
             f"{S001}: dL/dw_jk = (p_j - 1) x_ik for j = y_i"),
    Identity("dCE/dx_1 = softmax_1 (other class)", sp.diff(-x0 + _logsumexp(XS), x1), _softmax(XS, 1),
             f"{S001}: dL/dw_jk = p_j x_ik for j != y_i"),
    Identity("KL = sum p log(1/q) - sum p log(1/p) = sum p log(p/q)",
             sum(p * sp.log(1 / q) for p, q in zip((p0, p1, p2), (q0, q1, q2))) - sum(p * sp.log(1 / p) for p in (p0, p1, p2)),
             sum(p * sp.log(p / q) for p, q in zip((p0, p1, p2), (q0, q1, q2))), f"{S001}: KL(p||q)"),
    Identity("H(p, q) = H(p) + KL(p || q)", -sum(p * sp.log(q) for p, q in zip((p0, p1, p2), (q0, q1, q2))),
             -sum(p * sp.log(p) for p in (p0, p1, p2)) + sum(p * sp.log(p / q) for p, q in zip((p0, p1, p2), (q0, q1, q2))),
             f"{S001}: since H(p,q) = H(p) + D_KL(p||q), we are minimizing the KL divergence"),
    Identity("binary CE = CE with K = 2", _bce(p0, y), -(y * sp.log(p0) + (1 - y) * sp.log(1 - p0)),
             f"{S001}: H(p,q) = -sum_j p_j log q_j = -p log q - (1-p) log(1-q)"),
    Identity("logistic loss (y=+1) = BCE with logits (t=1)", -sp.log(fn("sigmoid", 1 * f)), _bce(Sigmoid(f), 1),
             f"{S001}: L = -log(1/(1+e^-yf)), log loss with labels in {{-1, +1}}", ("sigmoid",)),
    Identity("logistic loss (y=-1) = BCE with logits (t=0)", -sp.log(fn("sigmoid", -1 * f)), _bce(Sigmoid(f), 0),
             f"{S001}: L = -log(1/(1+e^-yf)), log loss with labels in {{-1, +1}}", ("sigmoid",)),
    Identity("L_q loss at q = 1 is L1", sp.Abs(s0 - y) ** 1, sp.Abs(s0 - y), f"{S001}: L_i = sum |s_j - y_j|^q"),
    Identity("L_q loss at q = 2 is L2", sp.Abs(s0 - y) ** 2, (s0 - y) ** 2, f"{S001}: L_q = |y - t|^q"),
    Identity("Huber(delta=1) = smooth L1(beta=1)", _huber(a, 1), _smooth_l1(a),
             f"{S000} Huber loss and {S002} SmoothL1Loss"),
    Identity("SVM hinge subgradient, j != y", sp.diff(_relu_pw(s1 - s0 + delta) + _relu_pw(s2 - s0 + delta), s1),
             sp.Piecewise((1, s1 - s0 + delta > 0), (0, True)), f"{S001}: dL_i/dw_m = 1(s_m - s_y + Delta > 0)"),
    Identity("SVM hinge subgradient, j = y", sp.diff(_relu_pw(s1 - s0 + delta) + _relu_pw(s2 - s0 + delta), s0),
             -sp.Piecewise((1, s1 - s0 + delta > 0), (0, True)) - sp.Piecewise((1, s2 - s0 + delta > 0), (0, True)),
             f"{S001}: dL_i/dw_y = -sum_(j != y) 1(s_j - s_y + Delta > 0)"),
    Identity("sigmoid-MLP output delta = (yhat - y) yhat (1 - yhat)",
             sp.diff((fn("sigmoid", net) - y) ** 2 / 2, net),
             (Sigmoid(net) - y) * Sigmoid(net) * (1 - Sigmoid(net)),
             f"{S001}: dL_i/dnet_ic = (yhat_ic - y_ic) yhat_ic (1 - yhat_ic)", ("sigmoid",)),
    Limit("softmax with beta -> inf tends to argmax", _softmax((bpos * x0, bpos * (x0 - gap)), 0), bpos, sp.oo, 1,
          f"{S001}: when beta -> inf, softmax converges to arg max"),
    Limit("softplus with beta -> inf tends to relu (x > 0)", sp.log(1 + sp.exp(bpos * t)) / bpos, bpos, sp.oo, t,
          f"{S002}: Softplus is a smooth approximation to ReLU", ("softplus", "relu")),
    Limit("softplus with beta -> inf tends to relu (x < 0)", sp.log(1 + sp.exp(-bpos * t)) / bpos, bpos, sp.oo, 0,
          f"{S002}: Softplus is a smooth approximation to ReLU", ("softplus", "relu")),
    Limit("pseudo-Huber ~ a^2/2 near 0", _pseudo_huber(a, dpos) / (a**2 / 2), a, 0, 1,
          f"{S000}: this function approximates a^2/2 for small values of a"),
    Limit("pseudo-Huber slope -> delta for large a", sp.diff(_pseudo_huber(a, dpos), a), a, sp.oo, dpos,
          f"{S000}: approximates a straight line with slope delta for large values of a"),
    Extremum("max sigmoid' = 1/4 at 0", sp.diff(fn("sigmoid"), X), sp.Rational(1, 4), 0,
             f"{S003}: the maximum of sigmoid's derivative is 0.25", ("sigmoid",)),
    Extremum("max tanh' = 1 at 0", sp.diff(fn("tanh"), X), 1, 0, f"{S001}: tanh, simple derivative", ("tanh",)),
)
