"""A symact spec file: your own activations, written once, in the catalog API.

    symact generate --spec examples/my_functions.py --out mykernels --only mish swish_pt
    symact check --spec examples/my_functions.py
"""
from sympy import Piecewise, exp, log, tanh

from symact.catalog import Activation, Param, X
from symact.catalog.identities import Identity
from symact.primitives import Sigmoid, Softplus

ACTIVATIONS = [
    Activation(
        name="mish",
        formula=lambda x: x * tanh(log(1 + exp(x))),
        source="Misra (2019), Mish: a self regularized non-monotonic activation function",
        summary="x·tanh(softplus(x))",
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
    Identity("mish = x·tanh(softplus(x))", ACTIVATIONS[0].expr(), X * tanh(Softplus(X)),
             "Misra (2019)", ("mish",)),
    Identity("swish_pt below the cap = x·sigmoid(beta·x)", ACTIVATIONS[1].expr().args[0][0],
             X * Sigmoid(ACTIVATIONS[1].params[0].symbol * X), "definition", ("swish_pt",)),
]
