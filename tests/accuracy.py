"""Judging elementwise kernels against the truth of tests/reference.py: the bounds, the sweeps per
kernel, and the max-ULP table (tests/accuracy_table.md, quoted by the reference docs).

The bounds, each stated where it is applied:

* **4 ULP** of the true value in the normal range, plus 1/2 ULP for each extra rounding the kernel's
  contract adds (g·f'(x) of a vjp kernel).
* **Overflow and the limits**: where the true value is beyond the dtype's largest finite number the
  kernel returns ±inf (either of max and inf within 8 ULP of the rounding boundary); at x = ±inf the
  truth is the limit (reference.py), nan where there is none, and nan in gives nan out.
* **Argument rounding**: a kernel that must round a transcendental's argument (softplus's e^(-|beta·x|)
  with beta = 1.5, celu's e^(x/alpha) with alpha = 1.5) may err by what an input error of one unit
  roundoff costs the function it computes: 2u·|x·g'(x)|, g' = f', f'' or d²f/dx dp from the truth
  (the textbook conditioning, not the kernel's). Which kernels round an argument is read from the
  lowered emitted form (:func:`rounds_argument`), which can only take an allowance away: arguments
  that are x, -x, 2^k·x, or kept exact by printing (ExpMul, DWPoly/SigmoidPairDW, SinMul, CosMul) get
  none, so GELU, GELU-tanh and the sine are held to 4 ULP at every |x|.
* **Near a root** of the computed function (where the truth changes sign between neighbouring sweep
  points x0): the value is a difference of terms much larger than itself (GELU' = Phi(x) + x·phi(x)
  at x = -0.75, SiLU' at -1.28), of about the size |x0·g'(x0)| there, whose rounding no fixed-
  precision form avoids. Within a factor 8 of x0 (in x) the bound adds the conditioning of the
  function at x, 2u·|x·g'(x)| (a backward error of one unit roundoff on x), and within a factor 3
  the size of those terms, 2u·|x0·g'(x0)| (for a minimum of g near its root, as Mish's, where g' = 0).
  g' comes from the truth. Away from roots (GELU's Gaussian tail) exact-argument kernels get no such
  allowance.
* **Gradual underflow**: a true value below 2^(p/2)·tiny (the last p/2 binades before and in the
  subnormals) may carry the rounding of a subnormal intermediate (e^-x of sigma(-745) has one bit)
  multiplied by the factors the definition applies after it; the bound is 4 ULP plus 2s·M, s the
  smallest subnormal and M those factors' size: (1 + |x|)^k (k the degree of the definition's
  polynomial factor in x, :func:`underflow_degree`: 1 for x·sigma(x), 2 for x²·sigma·sigma, 3 for
  GELU-tanh's derivative) times max(1, |p|, 1/|p|) for each parameter p (celu's alpha·expm1(x/alpha)
  with alpha = 1024 at x = -1e-37: x/alpha is subnormal in float32).
* **From the output**: a from-output kernel receives y, f(x) rounded to the dtype (correctly, from the
  truth). Its truth is f'(x') at the x' with f(x') = y exactly (the derivative at the point its input
  stands for), from the definition only: f'(x') = f'(x) + (f''(x)/f'(x))·(y - f(x)) to first order
  (one Newton step of the definition's inverse), held to 4 ULP plus the second-order remainder,
  bounded by 8·(y - f(x))²·max(1, |f''/f'|)². Where y has saturated (that correction is more than
  1/16 of f'(x): sigma(40) = 1 in float64) the input no longer determines f'(x), which the
  from-output form cannot recover: there the truth is f'(x) and the bound adds the conditioning of
  x -> y, 2·|f''/f'|·|y - f(x)| (symact.derive.from_output's caveat says from which |x| on, per dtype).
  Not judged: x = ±inf when rounding moved the limit (SELU's -lambda·alpha: y then stands for a
  finite x, judged there), and points where f'(x) is below e^-2000 while y moved.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp
from mpmath import mpf

from reference import bound_params, near_underflow, param_sets, sweep, truth_of, ulp_of
from symact.catalog import X
from symact.derive.from_output import Y
from symact.codegen.numba import (FUNCTIONS, CosMul, ExpMul, Guarded, Item, Pair, SigmoidPairDW, SinMul,
                             SoftplusScaled, lower)

DTYPES = (np.float32, np.float64)
RESULTS: dict = {}  # (kernel, dtype name) -> Result, filled by the tests that measure, read by the table test
_EXACT_BY_CONSTRUCTION = (SinMul, CosMul, ExpMul, SigmoidPairDW, Item, Pair, Guarded)


# ---- which kernels of an entry, and what their truth is ------------------------------------------------

def entry_kernels(d, names) -> list[tuple[str, str]]:
    """(kernel, kind) for a derived activation's kernels present in ``names`` (K.__all__): kind is
    "f", "df", "dp:<param>" or "from_output"."""
    out = []
    for k in d.kernels:
        if k.name not in names:
            continue
        if k.role == "f":
            out.append((k.name, "f"))
        elif k.role == "df/dx":
            out.append((k.name, "df"))
        elif k.arg != X:
            out.append((k.name, "from_output"))
        else:
            out.append((k.name, "dp:" + k.role[4:]))
    return out


def component(t, kind: str):
    """The truth's value for a kernel kind, and the x-derivative of that function (for allowances)."""
    if kind in ("f",):
        return t.f, t.df
    if kind in ("df", "from_output"):
        return t.df, t.d2f
    p = kind[3:]
    return t.dp[p], t.d2p[p]


# ---- allowances that depend on the kernel -----------------------------------------------------------

def _is_power_of_two(c) -> bool:
    c = abs(sp.nsimplify(c))
    return c != 0 and sp.log(c, 2).is_Integer


def rounds_argument(entry, kernel, params: dict) -> bool:
    """Whether the kernel (a derive.Kernel), with ``params`` bound, evaluates a transcendental of an
    argument it has to round: anything but x, -x, 2^k·x or a number, unless printing keeps it exact."""
    def value(v):
        return sp.Float(v) if math.isfinite(v) else (sp.oo if v > 0 else -sp.oo)
    stable = kernel.stable.subs(entry.constants())
    e = lower(stable.subs({s: value(params[s.name]) for s in stable.free_symbols if s.name in params}))
    for node in sp.preorder_traversal(e):
        if isinstance(node, _EXACT_BY_CONSTRUCTION) or type(node) not in FUNCTIONS:
            continue
        if isinstance(node, SoftplusScaled):
            c = node.args[0]
            if not (c.is_number and _is_power_of_two(c)):
                return True
            continue
        for a in node.args:
            if not a.has(X, Y) or a in (X, -X, Y, -Y):
                continue
            c, rest = a.as_independent(X, Y, as_Add=False)
            if rest in (X, Y) and c.is_number and _is_power_of_two(c):
                continue
            return True
    return False


def underflow_degree(entry) -> int:
    """The degree in x of the polynomial factors of the definition (x·sigma(x): 1; x²·...: 2): how many
    powers of x a subnormal intermediate may be multiplied by on the way to a tiny result. Read from
    the definition's factors outside its transcendental functions, counted over the derivatives too
    (d/dbeta of x·sigma(beta·x) brings a second x)."""
    expr = sp.piecewise_fold(entry.expr())
    degree = 0
    for term in sp.preorder_traversal(expr):
        if isinstance(term, sp.Pow) and term.base == X and term.exp.is_Integer:
            degree = max(degree, int(term.exp))
        elif term == X:
            degree = max(degree, 1)
    # one more for each differentiation that pulls an x out of an exponential (the parameters' and x's)
    return degree + (1 if entry.learnable else 0) + 1


# ---- judging one point ------------------------------------------------------------------------------------

def conditioning(at, slope, dtype):
    """2u·|at·g'(at)|: what an error of one unit roundoff in the argument ``at`` costs a function with
    x-derivative ``slope`` (None or a float limit: no allowance)."""
    if slope is None or isinstance(slope, float) or not math.isfinite(at):
        return mpf(0)
    return 2 * mpmath.ldexp(1, -(np.finfo(dtype).nmant + 1)) * abs(mpf(at) * slope)


def near_roots(xs, values, slopes=None):
    """For each x: (within a factor 8 of a sign change of ``values`` between neighbouring points, in x
    and of the same sign; the absolute allowance 2u·|x0·g'(x0)| if within a factor 3 of that root x0,
    else 0). ``values``/``slopes``: the truth and its x-derivative (mpf; floats where not finite)."""
    slopes = slopes if slopes is not None else [None] * len(xs)
    pts = sorted((x, v, s) for x, v, s in zip(xs, values, slopes)
                 if v is not None and math.isfinite(x) and not isinstance(v, float))
    brackets = []
    for (a, va, sa), (b, vb, sb) in zip(pts, pts[1:]):
        if (va < 0 < vb or vb < 0 < va) and a * b > 0:
            scale = max(abs(mpf(a) * sa) if sa is not None and not isinstance(sa, float) else mpf(0),
                        abs(mpf(b) * sb) if sb is not None and not isinstance(sb, float) else mpf(0))
            brackets.append((min(abs(a), abs(b)), max(abs(a), abs(b)), 1 if a > 0 else -1, scale))
    near = np.zeros(len(xs), bool)
    extra = [mpf(0)] * len(xs)
    for i, x in enumerate(xs):
        for lo, hi, sign, scale in brackets:
            if (x > 0) == (sign > 0):
                if lo / 8 <= abs(x) <= hi * 8:
                    near[i] = True
                if lo / 3 <= abs(x) <= hi * 3:
                    extra[i] = max(extra[i], scale)
    return near, extra


def underflow_scale(x: float, params: dict, degree: int):
    """The size of the factors a subnormal intermediate may be multiplied by (see the docstring)."""
    if not math.isfinite(x):
        return 1
    m = (1 + abs(mpf(x))) ** degree
    for v in params.values():
        if v != 0 and math.isfinite(v):
            m *= max(1, abs(v), 1 / abs(v))
    return m


def judge(x: float, got: float, want, dtype, extra_ulp=0.0, allowance=0, scale=1):
    """(ULP error or None, failure text or None) for one kernel result against its truth.

    ``want``: the true value (mpf, or a float ±inf/nan from a limit); ``allowance``: an absolute
    allowance on top of 4 ULP (argument rounding, near a root, from-output remainder); ``scale``: the
    factors a subnormal intermediate may be multiplied by (the gradual underflow bound)."""
    fi = np.finfo(dtype)
    p = fi.nmant + 1
    if isinstance(want, float) and math.isnan(want):
        return None, None if math.isnan(got) else f"x={x!r}: got {got!r}, expected nan"
    if isinstance(want, float) and math.isinf(want):
        return None, None if got == want else f"x={x!r}: got {got!r}, expected the limit {want}"
    t = mpf(want)
    edge = mpmath.ldexp(mpf(2) - mpmath.ldexp(1, -p), int(fi.maxexp) - 1)  # max + ulp(max)/2
    if abs(t) >= edge * (1 + mpmath.ldexp(1, 3 - p)):
        ok = math.isinf(got) and (got > 0) == (t > 0)
        return None, None if ok else f"x={x!r}: got {got!r}, the truth {mpmath.nstr(t, 8)} overflows"
    if abs(t) >= edge * (1 - mpmath.ldexp(1, 3 - p)) and math.isinf(got) and (got > 0) == (t > 0):
        return None, None  # within 8 ULP of the rounding edge to inf: inf is as good as max
    if not math.isfinite(got):
        return None, f"x={x!r}: got {got!r} but the truth {mpmath.nstr(t, 17)} is finite"
    err_abs = abs(mpf(got) - t)
    ulp = ulp_of(t, dtype)
    err = float(err_abs / ulp)
    bound = (4 + extra_ulp) * ulp + allowance
    if near_underflow(t, dtype):
        bound += 2 * mpf(float(fi.smallest_subnormal)) * scale
    if err_abs > bound:
        return err, (f"x={x!r}: got {got!r}, truth {mpmath.nstr(t, 17)}: {err:.1f} ULP "
                     f"(bound {float(bound / ulp):.1f})")
    return err, None


# ---- one kernel over its sweeps ---------------------------------------------------------------------------

class Result:
    """Max ULP at the defaults (full sweep) and over the other parameter sets, with where."""

    def __init__(self):
        self.default = (0.0, None)
        self.other = (0.0, None, None)
        self.points = 0
        self.failures: list[str] = []

    def add(self, err, x, params, is_default):
        if err is None:
            return
        if is_default and err > self.default[0]:
            self.default = (err, x)
        if not is_default and err > self.other[0]:
            self.other = (err, x, params)


def _call(fn, xs, params: dict):
    with np.errstate(all="ignore"):
        return fn(xs, **params)


def measure_kernel(d, kernel: str, kind: str, dtype, kernels) -> Result:
    """Run ``kernels.<kernel>`` over the full sweep at the defaults and the short sweep at every other
    parameter set (reference.param_sets), and judge each point."""
    entry = d.entry
    k = next(k for k in d.kernels if k.name == kernel)
    takes = {p.name for p in (k.params if k.params is not None else entry.kernel_params)}
    fn = getattr(kernels, kernel)
    degree = underflow_degree(entry)
    res = Result()
    seen = set()
    for i, params in enumerate(param_sets(entry)):
        params = {n: v for n, v in params.items() if n in takes}
        key = tuple(sorted(params.items()))
        if key in seen:
            continue
        seen.add(key)
        is_default = i == 0
        xs = sweep(dtype, full=is_default)
        bound = dict(bound_params(entry, {**{p.name: float(p.value) for p in entry.kernel_params}, **params}, dtype))
        cond = rounds_argument(entry, k, bound)
        ptuple = tuple(bound.items())
        truths = [truth_of(entry, ptuple, x, dtype, kind == "from_output") for x in xs.tolist()]
        if kind == "from_output":
            with np.errstate(over="ignore"):
                ys = np.array([t.f if isinstance(t.f, float) else float(t.f) for t in truths]).astype(dtype)
            got = _call(fn, ys, params)
        else:
            ys = None
            got = _call(fn, xs, params)
        assert got.dtype == dtype, (kernel, got.dtype)
        roots, root_scale = near_roots(xs.tolist(), [component(t, kind)[0] for t in truths],
                                       [component(t, kind)[1] for t in truths])
        for j, (x, t, y) in enumerate(zip(xs.tolist(), truths, got.tolist())):
            want, slope = component(t, kind)
            allowance = mpf(0)
            saturated = False
            if kind == "from_output":
                yj = float(ys[j])
                if isinstance(t.f, float) or not math.isfinite(x):  # x = ±inf: y is the rounded limit
                    if not (isinstance(t.f, float) or mpf(yj) == t.f):
                        continue  # rounding moved it: y stands for a finite x, judged there
                elif t.df == 0 and mpf(yj) != t.f:
                    continue  # f'(x) below e^-2000 (flushed): f'(x') for the moved y is not known here
                else:
                    want, allowance, *saturated = _at_output(t, yj)
                    if (cond or roots[j]) and t.df != 0:  # the kernel's argument is y: g'(y) = f''/f'
                        allowance += conditioning(yj, t.d2f / t.df, dtype)
            elif cond or roots[j]:
                allowance = conditioning(x, slope, dtype)
            allowance += 2 * mpmath.ldexp(1, -(np.finfo(dtype).nmant + 1)) * root_scale[j]
            err, fail = judge(x, y, want, dtype, allowance=allowance, scale=underflow_scale(x, bound, degree))
            res.points += 1
            if not (kind == "from_output" and saturated):  # no ULP count where y no longer determines f'
                res.add(err, x, key, is_default)
            if fail:
                res.failures.append(f"{kernel} {dtype.__name__} {dict(key)}: {fail}")
    return res


def _at_output(t, y: float):
    """(the truth for a from-output kernel given y, its allowance). Where y is a small move from f(x)
    (the first-order correction below 1/16 of f'(x)): f'(x') for f(x') = y, to first order, with the
    second-order remainder as allowance. Where y has saturated (the correction is most of f'(x), as
    for sigma(40) = 1): the input no longer determines f'(x); the truth is f'(x) and the allowance the
    conditioning of x -> y, twice the correction's size."""
    if not math.isfinite(y) or t.df == 0:
        return t.df, mpf(0)
    moved = mpf(y) - t.f
    ratio = t.d2f / t.df
    step = ratio * moved
    if abs(step) <= abs(t.df) / 16:
        return t.df + step, 8 * moved ** 2 * max(mpf(1), abs(ratio)) ** 2
    return t.df, 2 * abs(step), "saturated"


# ---- the table ---------------------------------------------------------------------------------------------

def table_text(results: dict) -> str:
    """tests/accuracy_table.md from {(kernel, dtype name): Result}: the max ULP at the defaults (the
    3-column table the reference docs read, symact/docs.py), then the worst over the other parameters."""
    rows = ["| kernel | float32 max ULP (at x) | float64 max ULP (at x) |", "|---|---|---|"]
    # from-output kernels: x is where y = f(x) came from; points where y has saturated are judged by a
    # bound (tests/accuracy.py) but not counted in ULP, since y no longer determines f'(x) there
    names = sorted({k for k, _ in results})
    for name in names:
        cells = []
        for dt in ("float32", "float64"):
            w, x = results[(name, dt)].default
            cells.append(f"{w:.2f} ({x:.4g})" if x is not None else f"{w:.2f}")
        rows.append(f"| {name} | {cells[0]} | {cells[1]} |")
    rows += ["", "From-output kernels: at the x whose f(x) rounded to their input y; points where y has saturated "
             "(y no longer determines f'(x)) are held to a bound, not counted here (tests/accuracy.py).", "",
             "Worst over the non-default parameter values of tests/reference.py (`param_sets`), each swept "
             "over the short sweep:", "",
             "| kernel | float32 max ULP | float32 at (x; parameters) | float64 max ULP | float64 at (x; parameters) |",
             "|---|---|---|---|---|"]
    for name in names:
        cells = []
        for dt in ("float32", "float64"):
            w, x, params = results[(name, dt)].other
            where = "" if x is None else f"{x:.4g}; " + ", ".join(f"{k}={v:.4g}" for k, v in params)
            cells += [f"{w:.2f}", where or "-"]
        if any(results[(name, dt)].other[1] is not None for dt in ("float32", "float64")):
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def all_results(derived=None, kernels=None) -> dict:
    """Every elementwise kernel's Result in both dtypes: those this run measured (RESULTS), the others
    measured now."""
    if derived is None:
        from conftest import derived_catalog

        derived = derived_catalog()
    if kernels is None:
        import symact.kernels as kernels
    for d in derived.values():
        for kernel, kind in entry_kernels(d, kernels.__all__):
            for dt in DTYPES:
                if (kernel, dt.__name__) not in RESULTS:
                    RESULTS[(kernel, dt.__name__)] = measure_kernel(d, kernel, kind, dt, kernels)
    return RESULTS


def judge_series(xs, gots, wants, slopes, dtype, cond: bool, params: dict, degree: int, extra_ulp=0.0) -> list[str]:
    """judge() over a sweep for one computed function: the argument-rounding allowance where ``cond``,
    the near-root allowance where the truth changes sign nearby. Returns the failures."""
    roots, root_scale = near_roots(list(xs), list(wants), list(slopes))
    out = []
    for j, (x, got, want, slope) in enumerate(zip(xs, gots, wants, slopes)):
        allowance = conditioning(x, slope, dtype) if (cond or roots[j]) else 0
        allowance += 2 * mpmath.ldexp(1, -(np.finfo(dtype).nmant + 1)) * root_scale[j]
        _, fail = judge(x, float(got), want, dtype, extra_ulp=extra_ulp, allowance=allowance,
                        scale=underflow_scale(x, params, degree))
        if fail:
            out.append(f"{params}: {fail}")
    return out
