"""Elementwise activations, each written once as in the seed documents (``../shared/seeds/``).

Kink conventions follow PyTorch: the Piecewise branch that owns a boundary point decides the
derivative there, so ``(x, x > 0), (0, True)`` gives relu'(0) = 0.
"""
from __future__ import annotations

import math

from sympy import Float, Max, Min, Piecewise, Rational, erf, exp, log, pi, sin, sqrt, tanh

from . import Activation, Param
from . import references as refs

S000 = "seeds/000 (activation functions overview)"
S001 = "seeds/001 (lecture: backprop, losses, activations)"
S002 = "seeds/002 (Kainz, Deep Learning: activation and loss functions)"
S003 = "seeds/003 (activation function notes)"
S004 = "seeds/004 (activation function slides)"

_SELU_ALPHA = "1.6732632423543772848170429916717"
_SELU_SCALE = "1.0507009873554804934193349852946"

ACTIVATIONS: tuple[Activation, ...] = (
    Activation(
        name="identity",
        reference=(refs.GOODFELLOW_2016,),
        formula=lambda x: x,
        source=f"{S003}: output layer 'linear identity activation'",
        summary="f(x) = x",
        pytorch=lambda t, x: x * 1,
    ),
    Activation(
        name="linear",
        reference=(refs.GOODFELLOW_2016,),
        formula=lambda x, c: c * x,
        params=(Param("c", 1.0, "slope"),),
        source=f"{S002}: Linear activation, Output = c·x",
        summary="f(x) = c·x",
    ),
    Activation(
        name="binary_step",
        reference=(refs.MCCULLOCH_1943, refs.ROSENBLATT_1958),
        formula=lambda x: Piecewise((1, x >= 0), (0, True)),
        source=f"{S002}: naive activation, 'above a certain value, declare it activated'",
        kinks="step(0) = 1 (torch.heaviside(x, 1)); derivative 0 everywhere it exists (the jump at 0 "
              "has no derivative; 0 is returned, as a subgradient-free step cannot train)",
        kink_grad=((0, 0),),  # torch.heaviside has no gradient; the documented 0
        summary="1 for x ≥ 0, else 0",
        pytorch=lambda t, x: (x >= 0).to(x.dtype) + 0 * x,  # torch.heaviside(x, 1) has no autograd
    ),
    Activation(
        name="sigmoid",
        reference=(refs.LECUN_1998,),
        formula=lambda x: 1 / (1 + exp(-x)),
        source=f"{S001}: sigma(x) = 1/(1+e^-x)",
        summary="logistic function, range (0, 1)",
        pytorch=lambda t, x: t.sigmoid(x),
    ),
    Activation(
        name="tanh",
        reference=(refs.LECUN_1998,),
        formula=lambda x: (exp(x) - exp(-x)) / (exp(x) + exp(-x)),
        source=f"{S001}: tanh(x) = (e^x - e^-x)/(e^x + e^-x)",
        summary="hyperbolic tangent, range (-1, 1), zero-centred",
        pytorch=lambda t, x: t.tanh(x),
    ),
    Activation(
        name="relu",
        reference=(refs.NAIR_2010, refs.GLOROT_2011),
        formula=lambda x: Piecewise((x, x > 0), (0, True)),
        as_written=lambda x: Max(0, x),
        source=f"{S003}: relu(z) = max(0, z), relu'(z) = 1 if z > 0 else 0",
        kinks="relu'(0) = 0 (PyTorch, and the seed's relu'(z) = 0 for z <= 0)",
        kink_grad=((0, 0),),
        summary="max(0, x)",
        pytorch=lambda t, x: t.relu(x),
    ),
    Activation(
        name="leaky_relu",
        reference=(refs.MAAS_2013,),
        formula=lambda x, negative_slope: Piecewise((x, x > 0), (negative_slope * x, True)),
        params=(Param("negative_slope", 0.01, "slope for x <= 0", domain=(0.0, 1.0)),),
        as_written=lambda x, negative_slope: Max(negative_slope * x, x),
        source=f"{S000}: Leaky ReLU, 0.01x for x < 0 (max(0.1x, x) in {S004})",
        kinks="leaky_relu'(0) = negative_slope (PyTorch); the textbook 1(x>=0)·x form would give 1",
        kink_grad=((0, Rational(1, 100)),),
        summary="x for x > 0, negative_slope·x otherwise",
        pytorch=lambda t, x, negative_slope: t.nn.functional.leaky_relu(x, negative_slope),
    ),
    Activation(
        name="prelu",
        reference=(refs.HE_2015,),
        formula=lambda x, weight: Piecewise((x, x > 0), (weight * x, True)),
        params=(Param("weight", 0.25, "learnable negative slope a_i (PyTorch init 0.25); "
                      "broadcasts, e.g. one value per channel", learnable=True),),
        source=f"{S000}: PReLU, f(y_i) = y_i if y_i > 0 else a_i·y_i, a_i learnable",
        kinks="prelu'(0) = weight and d/dweight at 0 is 0 (PyTorch)",
        kink_grad=((0, Rational(1, 4)),),
        summary="leaky ReLU with a learnable slope",
        pytorch=lambda t, x, weight: t.where(x > 0, x, weight * x),
    ),
    Activation(
        name="elu",
        reference=(refs.CLEVERT_2015,),
        formula=lambda x, alpha: Piecewise((x, x > 0), (alpha * (exp(x) - 1), True)),
        params=(Param("alpha", 1.0, "saturation value -alpha for x -> -inf", domain=(0.0, 3.0)),),
        as_written=lambda x, alpha: Max(0, x) + Min(0, alpha * (exp(x) - 1)),
        source=f"{S002}: ELU, max(0, x) + min(0, alpha·(e^x - 1))",
        kinks="elu'(0) = alpha (PyTorch takes the x <= 0 branch); C1 only for alpha = 1",
        kink_grad=((0, 1),),
        summary="x for x > 0, alpha·(e^x - 1) otherwise",
        pytorch=lambda t, x, alpha: t.nn.functional.elu(x, alpha),
    ),
    Activation(
        name="celu",
        reference=(refs.BARRON_2017,),
        formula=lambda x, alpha: Piecewise((x, x > 0), (alpha * (exp(x / alpha) - 1), True)),
        params=(Param("alpha", 1.0, "scale of the negative part", positive=True),),
        as_written=lambda x, alpha: Max(0, x) + Min(0, alpha * (exp(x / alpha) - 1)),
        source=f"{S002}: CELU, max(0, x) + min(0, alpha·(e^(x/alpha) - 1))",
        kinks="celu'(0) = 1 from both sides (continuously differentiable for every alpha)",
        kink_grad=((0, 1),),
        summary="continuously differentiable ELU",
        pytorch=lambda t, x, alpha: t.nn.functional.celu(x, alpha),
    ),
    Activation(
        name="selu",
        reference=(refs.KLAMBAUER_2017,),
        formula=lambda x, alpha, scale: scale * Piecewise((x, x > 0), (alpha * (exp(x) - 1), True)),
        params=(Param("alpha", _SELU_ALPHA, "fixed SELU alpha", constant=True, domain=(1.6, 1.7)),
                Param("scale", _SELU_SCALE, "fixed SELU scale", constant=True, domain=(1.0, 1.1))),
        as_written=lambda x, alpha, scale: scale * (Max(0, x) + Min(0, alpha * (exp(x) - 1))),
        source=f"{S002}: SELU, scale·(max(0, x) + min(0, alpha·(e^x - 1)))",
        kinks="selu'(0) = scale·alpha (PyTorch takes the x <= 0 branch)",
        kink_grad=((0, Float(_SELU_SCALE, 40) * Float(_SELU_ALPHA, 40)),),
        summary="self-normalising scaled ELU",
        pytorch=lambda t, x: t.nn.functional.selu(x),
    ),
    Activation(
        name="gelu",
        reference=(refs.HENDRYCKS_2016,),
        formula=lambda x: x * (1 + erf(x / sqrt(2))) / 2,
        source=f"{S002}: GELU, x·Phi(x) with Phi the standard normal CDF",
        summary="exact Gaussian error linear unit x·Phi(x)",
        pytorch=lambda t, x: t.nn.functional.gelu(x),
    ),
    Activation(
        name="gelu_tanh",
        reference=(refs.HENDRYCKS_2016,),
        formula=lambda x: x / 2 * (1 + tanh(sqrt(2 / pi) * (x + Rational(44715, 10**6) * x**3))),
        source=f"{S002}: GELU (tanh approximation of Phi, PyTorch approximate='tanh')",
        summary="GELU with Phi approximated through tanh",
        pytorch=lambda t, x: t.nn.functional.gelu(x, approximate="tanh"),
    ),
    Activation(
        name="relu6",
        reference=(refs.KRIZHEVSKY_2010,),
        formula=lambda x: Piecewise((0, x <= 0), (6, x >= 6), (x, True)),
        as_written=lambda x: Min(Max(0, x), 6),
        source=f"{S002}: ReLU6, min(max(0, x), 6)",
        kinks="relu6'(0) = 0 and relu6'(6) = 0 (PyTorch hardtanh convention)",
        kink_grad=((0, 0), (6, 0)),
        summary="ReLU clipped at 6",
        pytorch=lambda t, x: t.nn.functional.relu6(x),
    ),
    Activation(
        name="softplus",
        reference=(refs.DUGAS_2001,),
        formula=lambda x, beta, threshold: Piecewise(
            (x, beta * x > threshold), (log(1 + exp(beta * x)) / beta, True)),
        params=(Param("beta", 1.0, "sharpness; softplus -> relu as beta -> inf", positive=True),
                Param("threshold", math.inf, "PyTorch's switch to x where beta·x > threshold. "
                      "Default inf: the true softplus everywhere (PyTorch's 20 costs ~6e5 ULP "
                      "just above it); pass 20 for bit-for-bit PyTorch behaviour", allow_inf=True)),
        source=f"{S002}: Softplus, (1/beta)·log(1 + e^(beta·x)), linear if beta·x > threshold; "
               f"f = ln(1 + e^x) in {S000}",
        summary="smooth ReLU, log(1 + e^x)",
        pytorch=lambda t, x, beta, threshold: t.nn.functional.softplus(x, beta, threshold),
    ),
    Activation(
        name="log_sigmoid",
        reference=(refs.LECUN_1998, refs.GOODFELLOW_2016),
        formula=lambda x: log(1 / (1 + exp(-x))),
        source=f"{S002}: LogSigmoid, log(1/(1 + e^-x))",
        summary="log of the logistic function, range (-inf, 0)",
        pytorch=lambda t, x: t.nn.functional.logsigmoid(x),
    ),
    Activation(
        name="silu",
        reference=(refs.ELFWING_2017, refs.HENDRYCKS_2016),
        formula=lambda x: x / (1 + exp(-x)),
        source=f"{S000}: Swish, y = x·sigmoid(x) (SiLU)",
        summary="x·sigmoid(x)",
        pytorch=lambda t, x: t.nn.functional.silu(x),
    ),
    Activation(
        name="swish",
        reference=(refs.RAMACHANDRAN_2017,),
        formula=lambda x, beta: x / (1 + exp(-beta * x)),
        params=(Param("beta", 1.0, "learnable gate sharpness (beta = 1 is SiLU)", learnable=True),),
        source=f"{S001}: Swish, a self-gated activation, x·sigma(beta·x)",
        summary="x·sigmoid(beta·x) with learnable beta",
        pytorch=lambda t, x, beta: x * t.sigmoid(beta * x),
    ),
    Activation(
        name="sine",
        reference=(refs.SITZMANN_2020,),
        formula=lambda x, omega0: sin(omega0 * x),
        params=(Param("omega0", 30.0, "frequency (SIREN's omega_0 = 30)"),),
        source=f"{S002}: periodic activations, SIREN, phi(x) = sin(W x + b) with first-layer omega_0",
        summary="sin(omega0·x), SIREN",
        pytorch=lambda t, x, omega0: t.sin(omega0 * x),
    ),
    # --- beyond the seeds: PyTorch's and JAX's other activations ---
    Activation(
        name="mish",
        reference=(refs.MISRA_2019,),
        formula=lambda x: x * tanh(log(1 + exp(x))),
        source="Misra (2019), eq. 1: f(x) = x·tanh(softplus(x)); torch.nn.functional.mish",
        summary="x·tanh(softplus(x))",
        pytorch=lambda t, x: t.nn.functional.mish(x),
    ),
    Activation(
        name="hardsigmoid",
        reference=(refs.HOWARD_2019, refs.COURBARIAUX_2015),
        formula=lambda x: Piecewise((0, x <= -3), (1, x >= 3), (x / 6 + Rational(1, 2), True)),
        as_written=lambda x: Min(Max(0, x + 3), 6) / 6,
        source="Howard et al. (2019), h-sigmoid = ReLU6(x + 3)/6; torch.nn.functional.hardsigmoid",
        kinks="hardsigmoid'(-3) = hardsigmoid'(3) = 0 (PyTorch: the slope 1/6 only strictly inside)",
        kink_grad=((-3, 0), (3, 0)),
        summary="piecewise-linear sigmoid, ReLU6(x + 3)/6",
        pytorch=lambda t, x: t.nn.functional.hardsigmoid(x),
    ),
    Activation(
        name="hardswish",
        reference=(refs.HOWARD_2019,),
        formula=lambda x: Piecewise((0, x <= -3), (x, x >= 3), (x * (x + 3) / 6, True)),
        as_written=lambda x: x * Min(Max(0, x + 3), 6) / 6,
        source="Howard et al. (2019), h-swish = x·ReLU6(x + 3)/6; torch.nn.functional.hardswish",
        kinks="hardswish'(-3) = 0 and hardswish'(3) = 1 (PyTorch: the outer branches own the boundaries)",
        kink_grad=((-3, 0), (3, 1)),
        summary="x·hardsigmoid(x)",
        pytorch=lambda t, x: t.nn.functional.hardswish(x),
    ),
    Activation(
        name="hardtanh",
        reference=(refs.COLLOBERT_2004, refs.GULCEHRE_2016),
        formula=lambda x, min_val, max_val: Piecewise((min_val, x <= min_val), (max_val, x >= max_val), (x, True)),
        params=(Param("min_val", -1.0, "lower clip (below max_val)", domain=(-1024.0, 0.0)),
                Param("max_val", 1.0, "upper clip (above min_val)", domain=(0.0, 1024.0))),
        as_written=lambda x, min_val, max_val: Min(Max(min_val, x), max_val),
        source="Collobert (2004): HardTanh, x clipped to [-1, 1]; torch.nn.functional.hardtanh(min_val, max_val)",
        kinks="hardtanh'(min_val) = hardtanh'(max_val) = 0 (PyTorch)",
        kink_grad=((-1, 0), (1, 0)),
        summary="x clipped to [min_val, max_val]",
        pytorch=lambda t, x, min_val, max_val: t.nn.functional.hardtanh(x, min_val, max_val),
    ),
    Activation(
        name="hardshrink",
        reference=(refs.DONOHO_1994,),
        formula=lambda x, lambd: Piecewise((x, x > lambd), (x, x < -lambd), (0, True)),
        params=(Param("lambd", 0.5, "threshold (PyTorch's lambd; > 0 here, where lambd = 0 would be the identity)",
                      positive=True),),
        source="Donoho & Johnstone (1994): hard thresholding, x if |x| > lambd else 0; "
               "torch.nn.functional.hardshrink",
        kinks="hardshrink'(±lambd) = 0 (PyTorch: the zero branch owns |x| = lambd; the jumps have no derivative)",
        kink_grad=((Rational(-1, 2), 0), (Rational(1, 2), 0)),
        summary="x where |x| > lambd, else 0",
        pytorch=lambda t, x, lambd: t.nn.functional.hardshrink(x, lambd),
    ),
    Activation(
        name="softshrink",
        reference=(refs.DONOHO_1995,),
        formula=lambda x, lambd: Piecewise((x - lambd, x > lambd), (x + lambd, x < -lambd), (0, True)),
        params=(Param("lambd", 0.5, "threshold (PyTorch's lambd; > 0 here, where lambd = 0 would be the identity)",
                      positive=True),),
        source="Donoho (1995): soft thresholding, sign(x)·max(|x| - lambd, 0); torch.nn.functional.softshrink",
        kinks="softshrink'(±lambd) = 0 (PyTorch: the zero branch owns |x| = lambd)",
        kink_grad=((Rational(-1, 2), 0), (Rational(1, 2), 0)),
        summary="x shrunk towards 0 by lambd",
        pytorch=lambda t, x, lambd: t.nn.functional.softshrink(x, lambd),
    ),
    Activation(
        name="softsign",
        reference=(refs.GLOROT_2010,),
        formula=lambda x: Piecewise((x / (1 + x), x >= 0), (x / (1 - x), True)),
        source="Glorot & Bengio (2010): softsign x/(1 + |x|); torch.nn.functional.softsign",
        kinks="smooth: f'(0) = 1 from both sides (the branches meet with equal slopes)",
        kink_grad=((0, 1),),
        summary="x/(1 + |x|), range (-1, 1)",
        no_from_output="g(y) = (1 - |y|)², which SymPy returns expanded as y² - 2|y| + 1: it cancels as |y| -> 1 "
                       "(10⁴ ULP at x = -2.5e4 in float32); use softsign_grad",
        pytorch=lambda t, x: t.nn.functional.softsign(x),
    ),
    Activation(
        name="tanhshrink",
        reference=(refs.COLLOBERT_2011,),
        formula=lambda x: x - tanh(x),
        source="torch.nn.functional.tanhshrink: x - tanh(x) (Torch7's nn.TanhShrink, Collobert et al. 2011)",
        summary="x - tanh(x): about x³/3 near 0, x - sign(x) far away",
        no_from_output="the inverse of x - tanh(x) has no closed form",
        pytorch=lambda t, x: t.nn.functional.tanhshrink(x),
    ),
    Activation(
        name="threshold",
        reference=(refs.COLLOBERT_2011, refs.MCCULLOCH_1943),
        formula=lambda x, thresh, value: Piecewise((x, x > thresh), (value, True)),
        params=(Param("thresh", 0.0, "PyTorch's threshold (positional as there; renamed because a parameter may "
                      "not share the function's name): x is kept where x > thresh; PyTorch requires it, default 0"),
                Param("value", 0.0, "the value elsewhere (PyTorch requires it; default here 0: ReLU)")),
        source="torch.nn.functional.threshold(input, threshold, value): x if x > threshold else value "
               "(Torch7's nn.Threshold, Collobert et al. 2011)",
        kinks="threshold'(thresh) = 0 (PyTorch: the constant branch owns x = threshold)",
        kink_grad=((0, 0),),
        summary="x where x > thresh, else value",
        pytorch=lambda t, x, thresh, value: t.nn.functional.threshold(x, thresh, value),
    ),
    Activation(
        name="rrelu",
        reference=(refs.XU_2015,),
        formula=lambda x, lower, upper: Piecewise((x, x > 0), ((lower + upper) / 2 * x, True)),
        params=(Param("lower", 0.125, "lower bound of the random slope (PyTorch 1/8)", domain=(0.0, 1.0)),
                Param("upper", "1/3", "upper bound of the random slope (PyTorch 1/3)", domain=(0.0, 1.0))),
        source="Xu et al. (2015): randomized leaky ReLU; at test time the slope is (lower + upper)/2 "
               "(torch.nn.functional.rrelu, training=False)",
        kinks="rrelu'(0) = (lower + upper)/2 (PyTorch's evaluation mode is leaky_relu with that slope)",
        kink_grad=((0, Rational(11, 48)),),
        summary="leaky ReLU with slope (lower + upper)/2 (evaluation mode)",
        pytorch=lambda t, x, lower, upper: t.nn.functional.rrelu(x, lower, upper, training=False),
    ),
    Activation(
        name="squareplus",
        reference=(refs.BARRON_2021,),
        formula=lambda x, b: (x + sqrt(x**2 + b)) / 2,
        params=(Param("b", 4.0, "curvature near 0 (JAX's b = 4; b -> 0 gives relu)", positive=True),),
        source="Barron (2021), eq. 1: (x + sqrt(x² + b))/2; jax.nn.squareplus",
        summary="algebraic softplus (x + sqrt(x² + b))/2 (JAX)",
        no_from_output="g(y) = 4y²/(4y² + b), but SymPy's inverse gives it through sqrt(b + (b/(4y) - y)²), which "
                       "overflows and cancels; use squareplus_grad",
    ),
    Activation(
        name="sparse_plus",
        reference=(refs.BLONDEL_2020,),
        formula=lambda x: Piecewise((0, x <= -1), (x, x >= 1), ((x + 1) ** 2 / 4, True)),
        source="Blondel et al. (2020), sparsemax's 2-D case: 0, (x + 1)²/4, x; jax.nn.sparse_plus",
        kinks="C1: f'(-1) = 0 and f'(1) = 1 from both sides (JAX's jnp.where branches)",
        kink_grad=((-1, 0), (1, 1)),
        summary="smooth ReLU with a quadratic piece on [-1, 1] (JAX)",
    ),
    Activation(
        name="sparse_sigmoid",
        reference=(refs.BLONDEL_2020, refs.MARTINS_2016),
        formula=lambda x: Piecewise((0, x <= -1), (1, x >= 1), ((x + 1) / 2, True)),
        as_written=lambda x: Min(Max(0, x + 1), 2) / 2,
        source="Blondel et al. (2020): the derivative of sparse_plus, (x + 1)/2 clipped to [0, 1]; "
               "jax.nn.sparse_sigmoid",
        kinks="sparse_sigmoid'(±1) = 0 (the constant branches own the boundaries, as PyTorch's hardtanh)",
        kink_grad=((-1, 0), (1, 0)),
        summary="piecewise-linear sigmoid on [-1, 1] (JAX)",
    ),
)
