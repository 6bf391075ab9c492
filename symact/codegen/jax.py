"""The JAX backend: a printer configuration (one table), naming, and what the package supports.

Output (``symact generate --target jax --out DIR``): per catalog entry a function with the catalog name
(and jax.nn's arguments where JAX has the function): ``jax.custom_jvp`` for the elementwise functions
(activations, pointwise losses: forward and reverse mode), ``jax.custom_vjp`` for the functions along
an axis (vector functions, row losses), each rule the derived, stable gradient.
"""
from __future__ import annotations

from ..catalog.primitives import PRIMITIVES
from .tensor import Backend

# SymPy class -> the JAX operation (the most accurate one JAX has, measured in
# benchmarks/target_accuracy.md), or a helper of the package's _runtime.py that writes the stable
# expansion in jax.numpy operations. Read from the primitive registry's `jax` field (catalog/primitives.py).
FUNCTIONS: dict[type, str] = {p.sympy: p.jax for p in PRIMITIVES if p.jax}

BACKEND = Backend(
    name="jax",
    functions=FUNCTIONS,
    where="jnp.where",
    to_float="({0}).astype({1}.dtype)",
    const_like="jnp.asarray({0}, {1}.dtype)",
    amax="jnp.max({0}, axis=-1)",
    argmax="jnp.argmax({0}, axis=-1)",
    arange="jnp.arange(K)",
    take="rt.take({0}, {1})",
    isnan="jnp.isnan({0})",
    sqrt="jnp.sqrt",
    log1p_rest="rt.log1p_rest",
    extra={"maximum": "jnp.maximum({0}, {1})", "minimum": "jnp.minimum({0}, {1})",
           "ramp": "jnp.maximum({0}, 0.0)", "xlogx": "jax.scipy.special.xlogy({0}, {0})",
           "sign": "jnp.sign({0})", "abs": "jnp.abs({0})", "full_like": "jnp.full_like({0}, {1})",
           "copy": "{0}", "cat": "jnp.concatenate([{0}], -1)", "guard": "jnp.where({1}, {0}, jax.lax.stop_gradient({0}))"},
)

SUPPORT = """\
Supported: jax.jit, jax.vmap, jax.grad (and higher derivatives: every rule is written in jax.numpy
operations), on any backend JAX runs on; float32 and float64 (float64 needs
jax.config.update("jax_enable_x64", True)); float16/bfloat16 are computed in float32 and returned in
their own dtype. Elementwise functions are jax.custom_jvp (forward and reverse mode); functions along
an axis (vector functions, row losses) are jax.custom_vjp (reverse mode only: jax.jvp/jacfwd are not
supported there). Not differentiated: targets, class weights and fixed parameters (those are static
Python numbers: nondiff arguments; a tangent for a target is a clear ValueError). Value checks (labels
in range, probabilities in [0, 1]) run on concrete arrays only, not under jit. XLA on CPU flushes
subnormal numbers to zero (inputs and intermediate results): there, results follow f(0)."""


def module_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
