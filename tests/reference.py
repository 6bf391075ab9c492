"""Truth for accuracy tests: mpmath at high precision, independent of the code under test.

The reference value of a kernel at x is its *textbook* expression (differentiated straight from the
catalog definition, no stable rewrites) evaluated by mpmath with enough digits that the textbook
form's own cancellations (1 + e^-800, e^1e-300 - 1) cannot hurt: the precision grows with |x| and
|log10 x|, and every value is confirmed by a second evaluation 40 digits higher.
Where the textbook form needs impossibly many digits (1 + erf(x/√2) for x < -40 needs ~x²/4.6
digits), the proven-equal stable form is evaluated in mpmath instead (mpmath's erfc/ncdf are exact
to the working precision) — only there, and the test says so.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp

from symact.catalog import X

_MP_PRIMS = {
    "Sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
    "Softplus": lambda z: mpmath.log1p(mpmath.exp(z)),
    "Expm1": mpmath.expm1,
    "NormCdf": mpmath.ncdf,
}


def _lambdify(expr):
    return sp.lambdify([X], expr, modules=[_MP_PRIMS, "mpmath"])


class Reference:
    """f(x) in mpmath for one kernel, with all parameters bound to numbers."""

    def __init__(self, textbook: sp.Expr, stable: sp.Expr):
        self.textbook = textbook
        self.f_text = _lambdify(textbook)
        self.f_stable = _lambdify(stable)
        self.has_erf = textbook.has(sp.erf)
        self.limits = {}

    def limit(self, sign: int) -> float:
        """lim f(x) for x → ±∞ (nan where none exists, as for sin). For a Piecewise, the branch
        that holds for large |x| is chosen first (SymPy's limit does not see through them)."""
        if sign not in self.limits:
            expr = sp.piecewise_fold(self.textbook)
            if isinstance(expr, sp.Piecewise):
                far = sign * sp.Integer(10) ** 30
                expr = next(e for e, c in expr.args if c.subs(X, far) == sp.true)
            try:
                v = sp.limit(expr, X, sp.oo if sign > 0 else -sp.oo)
                self.limits[sign] = float(v) if (v.is_real or v in (sp.oo, -sp.oo)) else math.nan
            except Exception:  # noqa: BLE001 - no limit (sin at inf): nan is the truth
                self.limits[sign] = math.nan
        return self.limits[sign]

    def __call__(self, x: float):
        """Reference value as an mpf (or a float for ±inf / nan inputs)."""
        if math.isnan(x):
            return math.nan
        if math.isinf(x):
            return self.limit(1 if x > 0 else -1)
        fn = self.f_stable if (self.has_erf and abs(x) > 40) else self.f_text
        mx = mpmath.mpf(x)
        ax = abs(x)
        dps = 40 + int(0.9 * ax) + (int(abs(math.log10(ax))) if ax > 0 else 0)
        while True:
            with mpmath.workdps(dps):
                a = fn(mx)
            with mpmath.workdps(dps + 40):
                b = fn(mx)
            if b != 0 and abs(a - b) <= abs(b) * mpmath.mpf(10) ** -30:
                return b
            if a == b == 0 and dps >= 2000:
                return b  # a zero that survives 2000 digits is an exact zero (relu(-1))
            dps *= 2
            if dps > 20000:
                raise RuntimeError(f"reference did not converge at x={x!r}")


_FMT = {np.float32: (24, -126), np.float64: (53, -1022)}


def ulp_of(truth, dtype):
    """The spacing of ``dtype`` at ``truth`` (the subnormal spacing below the normal range)."""
    p, emin = _FMT[dtype]
    t = mpmath.mpf(truth)
    e = emin if t == 0 else max(int(mpmath.floor(mpmath.log(abs(t), 2))), emin)
    return mpmath.mpf(2) ** (e - p + 1)


def ulp_error(got: float, truth, dtype) -> float:
    """|got − truth| in units of the last place of truth in ``dtype``."""
    return float(abs(mpmath.mpf(float(got)) - mpmath.mpf(truth)) / ulp_of(truth, dtype))


def assert_row_ulp(got, truth, dtype, row, what) -> float:
    """A row kernel's result within 4 ULP plus the error inherent to its max shift: x − max(x)
    rounds, a relative error up to |x − max|·u that e^x carries into the result (2·spread ULP).
    Subnormal results: within 2 subnormal steps. Returns the error in ULP."""
    if abs(truth) < np.finfo(dtype).tiny:
        assert abs(mpmath.mpf(float(got)) - truth) <= 2 * np.finfo(dtype).smallest_subnormal, (what, got, truth)
        return 0.0
    err = ulp_error(float(got), truth, dtype)
    spread = max(abs(float(v) - max(float(u) for u in row)) for v in row)
    assert err <= 4 + 2 * spread, (what, float(got), mpmath.nstr(truth, 17), err)
    return err


def sweep(dtype) -> np.ndarray:
    """The stress sweep of the foundation issue, in ``dtype``."""
    fi = np.finfo(dtype)
    tiny = [fi.smallest_subnormal, fi.smallest_subnormal * 3, fi.tiny / 2, fi.tiny]
    lo = -300 if dtype is np.float64 else -37
    small = np.logspace(lo, -8, 40)
    dense = np.logspace(-8, 3, 700)
    edges = [88.7, 89.0, 103.0, 709.78, 710.0, 745.0, 1e4]
    grid = np.linspace(-10, 10, 401)
    kinks = [0.0, 6.0, 1e-7, 6 - 1e-6, 6 + 1e-6]
    pos = np.concatenate([tiny, small, dense, edges])
    xs = np.concatenate([[0.0], pos, -pos, grid, kinks, [np.inf, -np.inf, np.nan]])
    with np.errstate(over="ignore"):
        return np.unique(xs.astype(dtype))


def _bind(expr, entry):
    return expr.subs({p.symbol: p.value for p in entry.params})


def measure(d, kernel: str, dtype, kernels) -> tuple[float, float | None, list]:
    """Run ``kernels.<kernel>`` over the sweep and judge it against mpmath (bounds: test_accuracy.py).

    Hard failures (non-finite where the truth is finite, wrong inf/nan) raise AssertionError; returns
    the max ULP, where it occurred, and the points beyond the documented bounds.
    """
    k = next(k for k in d.kernels if k.name == kernel)
    # from-output kernels take y: written in X here, fed the forward kernel's outputs over the sweep
    textbook = _bind(k.textbook, d.entry).subs(k.arg, X)
    stable = _bind(k.stable, d.entry).subs(k.arg, X)
    ref = Reference(textbook, stable)
    slope = Reference(sp.diff(textbook, X), sp.diff(stable, X))
    # the terms the kernel adds up: an error relative to their magnitude is what the sum allows
    terms = sp.lambdify([X], [sp.Abs(t) for t in stable.args] if stable.is_Add else [stable],
                        modules=[_MP_PRIMS, "mpmath"])
    fi = np.finfo(dtype)
    u = mpmath.mpf(2) ** -(fi.nmant + 1)
    xs = sweep(dtype)
    if k.arg != X:
        xs = np.unique(getattr(kernels, d.entry.name)(xs))
    got = getattr(kernels, kernel)(xs)
    assert got.dtype == dtype
    worst, worst_x, excess = 0.0, None, []
    for x, y in zip(xs.tolist(), got.tolist()):
        truth = ref(x)
        if isinstance(truth, float) and math.isnan(truth):
            assert math.isnan(y), f"{kernel}({x}) = {y}, expected nan"
            continue
        if isinstance(truth, float) and math.isinf(truth):
            assert y == truth, f"{kernel}({x}) = {y}, expected {truth}"
            continue
        t = mpmath.mpf(truth)
        if abs(t) > fi.max:
            assert math.isinf(y) and (y > 0) == (t > 0), f"{kernel}({x}) = {y}, truth {t} overflows"
            continue
        assert math.isfinite(y), f"{kernel}({x}) = {y} but the true value {mpmath.nstr(t, 17)} is finite"
        err = ulp_error(y, t, dtype)
        if err > worst:
            worst, worst_x = err, x
        if err > 4:
            with mpmath.workdps(60):
                abs_err = abs(mpmath.mpf(y) - t)
                half_p = mpmath.mpf(2) ** ((fi.nmant + 1) // 2)
                if abs(t) < fi.tiny * half_p:
                    if abs_err <= 4 * mpmath.mpf(float(fi.tiny)) / half_p:
                        continue
                sens = 2 * u * abs(mpmath.mpf(x) * slope(x))
                magnitude = sum(terms(mpmath.mpf(x)))
                if abs_err > 4 * max(ulp_of(t, dtype), ulp_of(magnitude, dtype)) + sens:
                    excess.append((x, y, mpmath.nstr(t, 17), round(err, 1)))
    return worst, worst_x, excess
