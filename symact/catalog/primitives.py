"""The primitive registry: one record per function the printers treat as one call.

A primitive is σ, softplus, expm1, log1p, Φ, hypot(1, ·), cosh, atan, … — a function that every backend
calls (a Numba runtime helper, a torch or JAX operation) instead of printing a formula. Everything the
pipeline needs to know about one lives in its :class:`Primitive` record here; the Numba printer
(``printing.py``), the torch and JAX backends (``codegen/``), the docs' notation and plots
(``docs.py``), ``--define``'s whitelist (``userspec.py``) and the elementary-function tests iterate over
:data:`PRIMITIVES`. No other module lists primitives (tests/test_registry.py checks it).

The SymPy classes of symact's own stable primitives (their evaluation rules and ``fdiff``) stay in
``symact/primitives.py``; SymPy's built-in functions (``sp.exp``, ``sp.cosh``, …) are used as they are.
The registry lives in the catalog package because it is data of the same kind as the catalog's
entries: what a function is, written once, with everything else derived from it.

Adding a primitive: a record below (plus its runtime helper in ``templates/runtime.py.j2``, with any fitted
coefficients in ``symact/runtime/elementary.toml``; its SymPy class in ``symact/primitives.py`` when SymPy has
none; and a stabilizer rule in ``stabilize.py`` if a textbook pattern should become it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import mpmath
import numpy as np
import sympy as sp

from ..primitives import (Expm1, Hypot1, Hypot1m1, Log1p, LogCosh, NormCdf, Sigmoid, Softplus, Squareplus,
                          SquareplusGrad, TanhShrink)

_INF = math.inf
_NAN = math.nan


@dataclass(frozen=True)
class Primitive:
    """One primitive. Fields:

    ``name``      its name in ``--define`` expressions and the stem of its runtime helper (``log_cosh``).
    ``sympy``     the SymPy class (symact's opaque stable primitive, or SymPy's own ``sp.exp``, ``sp.cosh``).
    ``numba``     the Numba runtime helper, ``{t}`` the dtype tag (``log_cosh_{t}``), or a ``math.*`` call.
    ``specials``  what the helper returns at +inf, −inf and nan (in its first argument; the code's values,
                  checked against the helper and against mpmath's limits by the tests).
    ``ulp``       the measured accuracy bound of the helper against mpmath, ULPs per dtype tag.
    ``mpmath``    the truth, an mpmath function of the arguments, accurate at any working precision.
    ``torch``, ``jax``  the framework operation (or a helper of the package's ``_runtime.py``); "expand":
                  the backend prints ``expansion`` instead; None where the backend has neither (it then
                  refuses the function, naming it).
    ``expansion`` the stable formula in other primitives, for backends without an op of their own.
    ``latex``     its LaTeX operator name (``\\sigma``); None: printed as SymPy prints it (builtins) or,
                  for symact's own classes, as its textbook formula (hypot(1, z) reads as √(1 + z²)).
    ``meaning``   LaTeX for the docs' Notation section (``\\sigma(z) = …``); None: name(z) = textbook.
    ``how``       (LaTeX, words): how the kernels evaluate it without overflow or cancellation (Notation).
    ``numpy``     a NumPy implementation for the docs' plots, None: plotted through the textbook formula.
    ``cost``      "transcendental" or "arithmetic" (arithmetic-only kernels run parallel later).
    ``define``    whether ``--define`` expressions may call it (as its textbook formula, which the
                  stabilizer turns back into the primitive where it has a rule; builtins as themselves).
    ``elide_guards``  whether the emitter may rely on ``specials`` to leave out a kernel's ±inf/nan
                  selects. False for the entries whose kernels were emitted before they had specials:
                  turning it on may change generated/ (regenerate and check the accuracy tests).
    """

    name: str
    sympy: Callable
    numba: str
    specials: tuple
    ulp: dict
    mpmath: Callable
    torch: Optional[str] = None
    jax: Optional[str] = None
    latex: Optional[str] = None
    meaning: Optional[str] = None
    how: tuple = ("", "")
    numpy: Optional[Callable] = None
    cost: str = "transcendental"
    define: bool = True
    elide_guards: bool = True
    expansion: Optional[Callable] = None

    @property
    def arity(self) -> int:
        return min(self.sympy.nargs)  # log also takes a base: its one-argument form

    @property
    def own(self) -> bool:
        """symact's own opaque class (with ``textbook``), not a SymPy builtin."""
        return hasattr(self.sympy, "textbook")

    def textbook(self, *args) -> sp.Expr:
        """The textbook formula (what proofs rewrite it to, and what ``--define`` builds)."""
        return self.sympy.textbook(*args) if self.own else self.sympy(*args)


_np_erf = np.vectorize(math.erf, otypes=[float])
_np_erfc = np.vectorize(math.erfc, otypes=[float])


def _np_sigmoid(z):
    return 0.5 * (1 + np.tanh(np.asarray(z, dtype=float) / 2))


def _np_softplus(z):
    return np.logaddexp(0.0, z)


def _np_ncdf(z):
    return 0.5 * _np_erfc(-np.asarray(z, dtype=float) / math.sqrt(2))


# mpmath truths written so that no working precision loses them to cancellation or to mpmath's own
# range limits (erfc of more than ~1e300 raises; its value is then far below every subnormal).
def _mp_erfc(z):
    return mpmath.erfc(z) if z < 40 else mpmath.mpf(0)


def _mp_ncdf(z):
    return mpmath.ncdf(z) if z > -56 else mpmath.mpf(0)


def _mp_sigmoid(z):
    return 1 / (1 + mpmath.exp(-z))


def _mp_softplus(z):
    return mpmath.log1p(mpmath.exp(z))


def _mp_hypot1(z):
    return mpmath.sqrt(1 + z * z)


def _mp_hypot1m1(z):
    return z * z / (mpmath.sqrt(1 + z * z) + 1)


def _mp_log_cosh(z):
    return mpmath.log1p(mpmath.expm1(z) ** 2 / (2 * mpmath.exp(z)))  # cosh z − 1 = (e^z − 1)²/(2e^z)


def _mp_squareplus(z, b):
    h = mpmath.sqrt(z * z + b)
    return (z + h) / 2 if z >= 0 else b / (2 * (h - z))


def _mp_squareplus_grad(z, b):
    h = mpmath.sqrt(z * z + b)
    return (1 + z / h) / 2 if z >= 0 else b / (2 * h * (h - z))


def _log_cosh_expansion(z):
    """log(cosh z) without overflow or cancellation: log1p((e^a − 1)²/(2e^a)) below a = |z| = 1 (cosh a − 1
    in full precision), a + log1p(e^(−2a)) − log 2 beyond (no term overflows)."""
    a = sp.Abs(z)
    return sp.Piecewise((Log1p(Expm1(a) ** 2 / (2 * sp.exp(a))), a < 1),
                        (a + Log1p(sp.exp(-2 * a)) - sp.Float(math.log(2)), True))


def _mp_tanhshrink(z):
    """z − tanh z ~ z³/3: z and tanh z agree to 2·log2(1/|z|) bits, which the working precision gets on top."""
    with mpmath.extraprec(2 * max(0, -int(mpmath.mag(z))) + 10 if z else 0):
        return z - mpmath.tanh(z)


def _squareplus_root(z, b):
    """sqrt(z² + b) as sqrt(b)·hypot(1, z/sqrt(b)): z² never overflows."""
    return sp.sqrt(b) * Hypot1(z / sp.sqrt(b))


def _squareplus_expansion(z, b):
    """(z + h)/2, h = sqrt(z² + b), as b/(2(h − z)) for z < 0 (no cancellation)."""
    h = _squareplus_root(z, b)
    return sp.Piecewise((b / (2 * (h - z)), z < 0), (z / 2 + h / 2, True))


def _squareplus_grad_expansion(z, b):
    """(1 + z/h)/2 as (b/(2h))/(h − z) for z < 0 (no cancellation, no overflow of h·(h − z))."""
    h = _squareplus_root(z, b)
    return sp.Piecewise((b / (2 * h) / (h - z), z < 0), ((1 + z / h) / 2, True))


def _ulp(f32, f64=None):
    return {"f32": float(f32), "f64": float(f32 if f64 is None else f64)}


# Bounds: the exp/log family <= 1 ULP, tanh/erf/erfc/Φ <= 2 (SLEEF's u10 level, issue 6), the hyperbolic
# and inverse functions and squareplus <= 1 (tests/test_elementary.py, tests/test_elementary_extra.py,
# dense sweeps); sigmoid, softplus, hypot1, hypot1m1, sin, cos measured by tests/test_registry.py over the whole
# range (max float32 / float64: sigmoid 1.82 / 1.79, softplus 1.24 / 0.94, hypot1 0.50 / 0.52, hypot1m1
# 1.73 / 1.70, sin 0.53 / 0.50, cos 0.53 / 0.50 ULP).
PRIMITIVES: tuple[Primitive, ...] = (
    # --- SymPy's functions, printed as the runtime's vectorizable helpers (math.* calls scalar libm) ---
    Primitive("exp", sp.exp, "exp_{t}", (_INF, 0.0, _NAN), _ulp(1), mpmath.exp, torch="torch.exp", jax="jnp.exp"),
    Primitive("log", sp.log, "log_{t}", (_INF, _NAN, _NAN), _ulp(1), mpmath.log, torch="torch.log", jax="jnp.log"),
    Primitive("sin", sp.sin, "math.sin", (_NAN, _NAN, _NAN), _ulp(1), mpmath.sin, torch="torch.sin", jax="jnp.sin",
              elide_guards=False),
    Primitive("cos", sp.cos, "math.cos", (_NAN, _NAN, _NAN), _ulp(1), mpmath.cos, torch="torch.cos", jax="jnp.cos",
              elide_guards=False),
    Primitive("tanh", sp.tanh, "tanh_{t}", (1.0, -1.0, _NAN), _ulp(2), mpmath.tanh, torch="torch.tanh", jax="jnp.tanh"),
    Primitive("erf", sp.erf, "erf_{t}", (1.0, -1.0, _NAN), _ulp(2), mpmath.erf, torch="torch.special.erf",
              jax="jax.scipy.special.erf", numpy=_np_erf),
    Primitive("erfc", sp.erfc, "erfc_{t}", (0.0, 2.0, _NAN), _ulp(2), _mp_erfc, torch="torch.special.erfc",
              jax="jax.scipy.special.erfc", numpy=_np_erfc),
    # --- symact's stable primitives (symact/primitives.py), in the docs' Notation order ---
    Primitive("sigmoid", Sigmoid, "sigmoid_{t}", (1.0, 0.0, _NAN), _ulp(2), _mp_sigmoid,
              torch="rt.sigmoid", jax="rt.sigmoid", latex=r"\sigma",
              meaning=r"\sigma(z) = \frac{1}{1 + e^{-z}}",
              how=(r"\frac{1}{1 + e^{-z}} \ (z \ge 0), \ \frac{e^{z}}{1 + e^{z}} \ (z < 0)",
                   "the exponential never overflows"), numpy=_np_sigmoid),
    Primitive("softplus", Softplus, "softplus_{t}", (_INF, 0.0, _NAN), _ulp(2), _mp_softplus,
              torch="rt.softplus", jax="rt.softplus", latex=r"\operatorname{softplus}",
              meaning=r"\operatorname{softplus}(z) = \log\left(1 + e^{z}\right)",
              how=(r"\max(z, 0) + \operatorname{log1p}\left(e^{-\lvert z \rvert}\right)", "never overflows"),
              numpy=_np_softplus),
    Primitive("expm1", Expm1, "expm1_{t}", (_INF, -1.0, _NAN), _ulp(1), mpmath.expm1,
              torch="torch.special.expm1", jax="jnp.expm1", latex=r"\operatorname{expm1}",
              meaning=r"\operatorname{expm1}(z) = e^{z} - 1", how=("", "without cancellation for small z"),
              numpy=np.expm1),
    Primitive("log1p", Log1p, "log1p_{t}", (_INF, _NAN, _NAN), _ulp(1), mpmath.log1p,
              torch="torch.special.log1p", jax="jnp.log1p", latex=r"\operatorname{log1p}",
              meaning=r"\operatorname{log1p}(z) = \log(1 + z)", how=("", "without rounding 1 + z"), numpy=np.log1p),
    Primitive("ncdf", NormCdf, "ncdf_{t}", (1.0, 0.0, _NAN), _ulp(2), _mp_ncdf, torch="rt.ndtr", jax="rt.ndtr",
              latex=r"\Phi", meaning=r"\Phi(z) = \frac{1}{2}\left(1 + \operatorname{erf}\frac{z}{\sqrt{2}}\right)",
              how=(r"\tfrac{1}{2}\operatorname{erfc}\left(-z/\sqrt{2}\right)", "exact in both tails"), numpy=_np_ncdf),
    Primitive("hypot1", Hypot1, "hypot1_{t}", (_INF, _INF, _NAN), _ulp(1), _mp_hypot1,
              torch="rt.hypot1", jax="rt.hypot1", meaning=r"\sqrt{1 + z^{2}} = \operatorname{hypot}(1, z)",
              how=(r"\operatorname{hypot}(1, z)", "z² never overflows"), elide_guards=False),
    Primitive("hypot1m1", Hypot1m1, "hypot1m1_{t}", (_INF, _INF, _NAN), _ulp(2), _mp_hypot1m1,
              torch="rt.hypot1m1", jax="rt.hypot1m1", latex=r"\operatorname{hypot1m1}",
              meaning=r"\operatorname{hypot1m1}(z) = \sqrt{1 + z^{2}} - 1 = \frac{z^{2}}{\sqrt{1 + z^{2}} + 1}",
              how=(r"\frac{z^{2}}{\operatorname{hypot}(1, z) + 1}", "exact for tiny z, finite for huge z"),
              elide_guards=False),
    Primitive("log_cosh", LogCosh, "log_cosh_{t}", (_INF, _INF, _NAN), _ulp(1), _mp_log_cosh,
              torch="expand", jax="expand", expansion=_log_cosh_expansion, latex=r"\operatorname{logcosh}"),
    # tanh's fit with an exact a³ below |a| = 0.55 (its rounded −1/3 costs up to ~1 ULP more than a dedicated fit
    # would: measured 1.9 float32, 1.5 float64), (|a| − 1) + 2e/(1 + e), e = e^(−2|a|), beyond
    Primitive("tanhshrink", TanhShrink, "tanhshrink_{t}", (_INF, -_INF, _NAN), _ulp(2), _mp_tanhshrink,
              torch="rt.tanhshrink", jax="rt.tanhshrink", latex=r"\operatorname{tanhshrink}",
              meaning=r"\operatorname{tanhshrink}(z) = z - \tanh z",
              how=(r"-z^{3} P(z^{2}) \ (\lvert z \rvert < 0.55), \ \operatorname{sign}(z)\left(\lvert z \rvert - 1 + "
                   r"\frac{2e^{-2\lvert z \rvert}}{1 + e^{-2\lvert z \rvert}}\right)", "without cancellation near 0")),
    # --- hyperbolic and inverse functions (runtime.py.j2's "hyperbolic and inverse functions" block) ---
    Primitive("cosh", sp.cosh, "cosh_{t}", (_INF, _INF, _NAN), _ulp(1), mpmath.cosh,
              torch="torch.cosh", jax="jnp.cosh"),
    Primitive("sinh", sp.sinh, "sinh_{t}", (_INF, -_INF, _NAN), _ulp(1), mpmath.sinh,
              torch="torch.sinh", jax="jnp.sinh"),
    Primitive("atan", sp.atan, "atan_{t}", (math.pi / 2, -math.pi / 2, _NAN), _ulp(1), mpmath.atan,
              torch="torch.atan", jax="jnp.atan"),
    Primitive("asinh", sp.asinh, "asinh_{t}", (_INF, -_INF, _NAN), _ulp(1), mpmath.asinh,
              torch="torch.asinh", jax="jnp.asinh"),
    Primitive("acosh", sp.acosh, "acosh_{t}", (_INF, _NAN, _NAN), _ulp(1), mpmath.acosh,
              torch="torch.acosh", jax="jnp.acosh"),
    Primitive("atanh", sp.atanh, "atanh_{t}", (_NAN, _NAN, _NAN), _ulp(1), mpmath.atanh,
              torch="torch.atanh", jax="jnp.atanh"),
    # --- two arguments (z, b), b > 0: JAX's squareplus and its derivative; specials in z, for any b ---
    Primitive("squareplus", Squareplus, "squareplus_{t}", (_INF, 0.0, _NAN), _ulp(1), _mp_squareplus,
              torch="expand", jax="expand", expansion=_squareplus_expansion, elide_guards=False),
    Primitive("squareplus_grad", SquareplusGrad, "squareplus_grad_{t}", (1.0, 0.0, _NAN), _ulp(1),
              _mp_squareplus_grad, torch="expand", jax="expand", expansion=_squareplus_grad_expansion,
              elide_guards=False),
)

BY_CLASS: dict = {p.sympy: p for p in PRIMITIVES}
BY_NAME: dict = {p.name: p for p in PRIMITIVES}
