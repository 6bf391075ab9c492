"""A symact spec file: your own activations, written once, in the catalog API.

    symact generate --spec examples/my_functions.py --out mykernels --only serf swish_pt
    symact check --spec examples/my_functions.py
"""
from sympy import Piecewise, erf, exp, log

from symact.catalog import Activation, Param, X
from symact.catalog.identities import Identity
from symact.primitives import Sigmoid, Softplus

ACTIVATIONS = [
    Activation(
        name="serf",
        formula=lambda x: x * erf(log(1 + exp(x))),
        source="Nag, Bhattacharyya, Kumar (2023), SERF: log-softplus error activation function, arXiv:2108.09598",
        summary="x·erf(softplus(x))",
    ),
    Activation(
        name="swish_pt",
        formula=lambda x, beta, cap: Piecewise((x / (1 + exp(-beta * x)), x < cap), (cap / (1 + exp(-beta * cap)), True)),
        params=(Param("beta", 1.0, "gate sharpness", learnable=True),
                Param("cap", 6.0, "input above which the output is held constant")),
        source="a parametrised, capped swish (example)",
        kinks="d/dx at x = cap is 0 (the constant branch owns the boundary)",
        summary="x·sigmoid(beta·x), held constant above cap",
    ),
]

IDENTITIES = [
    Identity("serf = x·erf(softplus(x))", ACTIVATIONS[0].expr(), X * erf(Softplus(X)),
             "Nag et al. (2023)", ("serf",)),
    Identity("swish_pt below the cap = x·sigmoid(beta·x)", ACTIVATIONS[1].expr().args[0][0],
             X * Sigmoid(ACTIVATIONS[1].params[0].symbol * X), "definition", ("swish_pt",)),
]
