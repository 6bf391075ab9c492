"""The PyTorch backend: a printer configuration (one table), naming, and the render of a package.

Output (``symact generate --target torch --out DIR``): a package with, per catalog entry, a
function with the catalog name and PyTorch's signature, a ``torch.autograd.Function`` whose
backward is the derived stable gradient in differentiable torch operations, and an ``nn.Module``.
"""
from __future__ import annotations

from ..catalog.primitives import PRIMITIVES
from .tensor import Backend

# SymPy class -> the torch operation (the most accurate one torch has, measured in
# benchmarks/target_accuracy.md), or a helper of the package's _runtime.py that writes the stable
# expansion in torch operations where torch has no accurate op (softplus: F.softplus switches to x
# above 20; torch.special.ndtr is 0 at -10 on the CPU; hypot(1, z) forms). Read from the primitive
# registry's `torch` field (catalog/primitives.py).
FUNCTIONS: dict[type, str] = {p.sympy: p.torch for p in PRIMITIVES if p.torch}

BACKEND = Backend(
    name="torch",
    functions=FUNCTIONS,
    where="torch.where",
    to_float="({0}).to({1}.dtype)",
    const_like="torch.scalar_tensor({0}, dtype={1}.dtype, device={1}.device)",
    amax="torch.amax({0}, -1)",
    argmax="torch.argmax({0}, -1)",
    arange="torch.arange(K, device={0}.device)",
    take="rt.take({0}, {1})",
    isnan="torch.isnan({0})",
    sqrt="torch.sqrt",
    log1p_rest="rt.log1p_rest",
    extra={"maximum": "torch.maximum({0}, {1})", "minimum": "torch.minimum({0}, {1})",
           "ramp": "torch.clamp({0}, min=0)", "xlogx": "torch.special.xlogy({0}, {0})",
           "sign": "torch.sign({0})", "abs": "torch.abs({0})", "full_like": "torch.full_like({0}, {1})",
           "copy": "{0}.clone()", "cat": "torch.cat([{0}], -1)", "guard": "torch.where({1}, {0}, {0}.detach())"},
)

# nn.Module class names: torch.nn's where PyTorch has the function; CamelCase of the name otherwise
# (``linear`` is c·x, not nn.Linear's affine map: LinearActivation).
MODULE_NAMES = {
    "identity": "Identity", "linear": "LinearActivation", "binary_step": "BinaryStep", "sigmoid": "Sigmoid",
    "tanh": "Tanh", "relu": "ReLU", "leaky_relu": "LeakyReLU", "prelu": "PReLU", "elu": "ELU", "celu": "CELU",
    "selu": "SELU", "gelu": "GELU", "gelu_tanh": "GELUTanh", "relu6": "ReLU6", "softplus": "Softplus",
    "log_sigmoid": "LogSigmoid", "silu": "SiLU", "swish": "Swish", "sine": "Sine",
    "softmax": "Softmax", "softmin": "Softmin", "log_softmax": "LogSoftmax", "logsumexp": "LogSumExp",
    "maxout": "Maxout", "glu": "GLU",
    "l1_loss": "L1Loss", "mse_loss": "MSELoss", "lq_loss": "LqLoss", "huber_loss": "HuberLoss",
    "smooth_l1_loss": "SmoothL1Loss", "pseudo_huber_loss": "PseudoHuberLoss", "hinge_loss": "HingeLoss",
    "squared_hinge_loss": "SquaredHingeLoss", "logistic_loss": "LogisticLoss",
    "binary_cross_entropy_with_logits": "BCEWithLogitsLoss", "margin_ranking_loss": "MarginRankingLoss",
    "binary_cross_entropy": "BCELoss", "kl_div": "KLDivLoss", "zero_one_loss": "ZeroOneLoss",
    "cross_entropy": "CrossEntropyLoss", "nll_loss": "NLLLoss", "multiclass_hinge_loss": "MulticlassHingeLoss",
    "multilabel_hinge_loss": "MultiLabelMarginLoss", "cosine_embedding_loss": "CosineEmbeddingLoss",
    "triplet_margin_loss": "TripletMarginLoss", "entropy": "Entropy",
    "rrelu": "RReLU", "gaussian_nll_loss": "GaussianNLLLoss", "multilabel_soft_margin_loss": "MultiLabelSoftMarginLoss",
    "poisson_nll_loss": "PoissonNLLLoss",
}

SUPPORT = """\
Supported: CPU and CUDA tensors; float32 and float64 (float16 and bfloat16 are computed in float32 and
returned in their own dtype, as PyTorch does); autograd with double backward (every backward is
written in differentiable torch operations); torch.compile(fullgraph=True); torch.func.grad and
torch.func.vmap (each autograd.Function has generate_vmap_rule = True). Not supported: forward-mode
AD (torch.func.jvp / jacfwd: no jvp staticmethod); in-place variants (inplace=); gradients with
respect to targets, class weights and fixed (non-learnable) parameters (a tensor that requires grad
there is a clear ValueError). Value checks (labels in range, probabilities in [0, 1]) run in eager
mode only; under torch.compile and torch.func they are skipped."""


def module_name(name: str) -> str:
    return MODULE_NAMES.get(name) or "".join(part.capitalize() for part in name.split("_"))
