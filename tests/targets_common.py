"""Shared by tests/test_target_torch.py, tests/test_target_jax.py and benchmarks/target_accuracy.py:
generating a framework package once, the sweeps, and the mpmath truth (cached per process, so the
torch and JAX tests of one session compute it once).

The truth is the catalog's textbook definition, differentiated by SymPy here (plain ``diff``, at an
explicit row length K for the row functions — not symact's derivation) and evaluated by mpmath at
high precision (tests/reference.py); GELU's ``1 + erf(z)`` is written ``erfc(-z)`` for mpmath, an exact
identity, so the tails need no thousands of digits.
"""
from __future__ import annotations

import functools
import importlib
import math
import sys
from pathlib import Path

import mpmath
import numpy as np
import sympy as sp

from reference import ulp_error, ulp_of

sys.set_int_max_str_digits(0)  # mpmath at thousands of digits (textbook forms near x = 1e4)
from symact.catalog import X, all_entries
from symact.catalog.losses import LOSSES
from symact.catalog.row_losses import ROW_LOSSES, XLogX, s as S_PM1, t as T_ROW, w as W_ROW, y as Y_LABEL
from symact.catalog.vectors import VECTORS, K, g as G_ROW, j as J_INDEX, x as X_ROW

DTYPES = (np.float32, np.float64)


# -- the mpmath truth of a bound expression (the textbook form at growing precision; tests/reference.py's
# pre-jet evaluator, kept here for the target tests, which need plain expressions of x incl. losses) --

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



def generate(target: str, directory: Path, name: str):
    """Generate the whole catalog for ``target`` into directory/name and import it."""
    from symact.atomic import write_atomically
    from symact.codegen import build_target

    result = build_target(target, None, package_hint=name, progress=lambda line: None)
    assert not result.failures, result.failures
    cites_notes = sorted(path for path, text in result.files.items() if isinstance(text, str) and "seeds/" in text)
    assert not cites_notes, f"{target} docstrings cite the course notes, not the literature: {cites_notes[:5]}"
    write_atomically(result.files, directory / name)
    sys.path.insert(0, str(directory))
    importlib.invalidate_caches()
    return importlib.import_module(name)


# -- elementwise: activations and the per-element losses ------------------------------------------------

def points(dtype) -> np.ndarray:
    """A stress sweep (about 200 points): zero, subnormals, tiny, moderate, the exp/log overflow edges of
    both dtypes, 1e4, 1e30, 1.3e154 (where z² overflows float64), ±inf and nan (a thinned
    tests/reference.py sweep, which stops at 1e4; the dtype's largest values are left out as sin(30·x)
    and x³ overflow there, so a finite truth is out of any float formula's reach)."""
    fi = np.finfo(dtype)
    base = [fi.smallest_subnormal, fi.tiny, 1e-30, 1e-8, 1e-4, 0.01, 0.1, 0.5, 1.5, 3.0, 6.0, 8.0, 15.0,
            17.0, 20.0, 20.5, 25.0, 30.0, 37.4, 40.0, 50.0, 88.7, 89.0, 100.0, 103.0, 500.0, 709.78, 710.0,
            745.0, 1e4, 1e30, 1.3e154]
    pos = np.concatenate([base, np.logspace(-8, 3, 36)])
    with np.errstate(over="ignore"):
        xs = np.concatenate([[0.0], pos, -pos, np.linspace(-10, 10, 41), [6 - 1e-6, 6 + 1e-6]]).astype(dtype)
    return np.concatenate([np.unique(xs), np.array([np.inf, -np.inf, np.nan], dtype)])


def _erfc_form(expr: sp.Expr) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, sp.erf), lambda e: sp.erfc(-e.args[0]) - 1)


def _bind(expr, params, values=None):
    values = values or {}
    return expr.subs({p.symbol: values.get(p.name, p.value) for p in params})


@functools.cache
def elementwise_truth(name: str, wrt: str, dtype, target=None, flag=None):
    """[truth at each point of ``points(dtype)``] (mpf, or float for inf/nan) of d^n f: ``wrt`` is
    'value', 'x' or a learnable parameter's name; losses take their target (and input2 = 0.5)."""
    entry, expr, params, values = _elementwise_entry(name, target, flag)
    if wrt != "value":
        sym = X if wrt == "x" else next(p.symbol for p in params if p.name == wrt)
        expr = sp.diff(expr, sym)
    expr = _bind(expr, params, values)
    ref = Reference(expr, _erfc_form(expr))
    return [_truth(ref, v) for v in points(dtype).tolist()]


def _truth(ref, v):
    """ref(v), with three additions: a pole (log 0 at x = 1 in BCE: reference.py's convergence test
    fails on inf − inf) is confirmed at 2000 digits and returned as ±inf; a division by an exact zero
    (BCE's −y/x at x = 0) has no mpmath value and is not judged (None); beyond |v| = 1e4 (where
    reference.py's precision rule asks for 0.9·|v| digits) two evaluations at d and 2d digits must
    agree, d = 60 doubled while they do not (a zero that both give is a zero)."""
    f = ref.f_stable if ref.has_erf else ref.f_text
    if not (math.isfinite(v) and abs(v) > 1e4):
        try:
            return ref(v)
        except ZeroDivisionError:
            return None
        except RuntimeError:
            with mpmath.workdps(2000):
                value = f(mpmath.mpf(v))
            assert mpmath.isinf(value), (v, value)
            return float(value)
    dps = 60
    while True:  # doubled while the two disagree: squareplus's x + sqrt(x² + b) at x = -1e30 cancels ~60 digits
        try:
            with mpmath.workdps(dps):
                a = f(mpmath.mpf(v))
            with mpmath.workdps(2 * dps):
                b = f(mpmath.mpf(v))
        except (OverflowError, ZeroDivisionError):  # erfc beyond ~1e100, a cancelled 1/(1 − σ): no truth
            return None
        if mpmath.isinf(a) or mpmath.isinf(b):  # the textbook form's cancellation (log(1 − σ(1e30))): no truth
            return None
        if a == b or abs(a - b) <= abs(b) * mpmath.mpf(10) ** -30:
            return b
        assert dps < 2000, (v, a, b)
        dps *= 2


def _elementwise_entry(name, target, flag):
    for e in all_entries():
        if e.name == name:
            return e, e.expr(), e.params, {}
    loss = next(loss for loss in LOSSES if loss.name == name)
    pw = loss.pointwise(loss_form(loss, flag))
    values = {"target": sp.Rational(target), "input2": sp.Rational(1, 2)}  # exact: a Float would distribute
    return loss, pw.expr(), pw.params, values


def loss_form(loss, flag=None):
    """The combination of the loss's flags named ``flag`` (its kernel suffix: "log_target", "full",
    "no_log_input_full"; None: the defaults)."""
    return next(v for v in loss.combinations() if v.suffix == (flag or ""))


def loss_forms(loss) -> list:
    """Every combination of the loss's flags by name (None: the defaults), from the catalog."""
    return [None] + [v.suffix for v in loss.variants]


def loss_kwargs(loss, flag=None) -> dict:
    """The keywords that select a combination (the defaults: none passed)."""
    return loss_form(loss, flag).kwargs if flag else {}


def loss_targets(loss, flag=None) -> list[float]:
    kind = loss_form(loss, flag).target
    # binary fractions: the same target in float32, float64 and the truth (3: a count, above
    # poisson_nll_loss's Stirling mask at 1)
    return {"real": [0.0, 1.5, -2.0], "pm1": [1.0, -1.0], "prob": [0.0, 0.25, 1.0],
            "nonneg": [0.0, 0.25, 1.0, 3.0]}[kind]


def loss_points(loss, dtype, flag=None) -> np.ndarray:
    domain = loss_form(loss, flag).input_domain
    if domain == "prob":
        fi = np.finfo(dtype)
        xs = [0.0, float(fi.smallest_subnormal), float(fi.tiny), 1e-30, 1e-8, 0.01, 0.3, 0.5, 0.9, 1 - 1e-7, 1.0]
        return np.array(xs + [1 - float(fi.eps) / 2], dtype)
    xs = points(dtype)
    return xs[~(xs < 0)] if domain == "nonneg" else xs


@functools.cache
def loss_truth(name: str, wrt: str, dtype, target: float, flag=None):
    loss = next(loss for loss in LOSSES if loss.name == name)
    entry, expr, params, values = _elementwise_entry(name, target, flag)
    if wrt != "value":
        expr = sp.diff(expr, X if wrt == "x" else next(p.symbol for p in params if p.name == wrt))
    expr = _bind(expr, params, values)
    ref = Reference(expr, _erfc_form(expr))
    return [_truth(ref, v) for v in loss_points(loss, dtype, flag).tolist()]


def numba_loss(loss, wrt, xs, extra, target, dtype, kw):
    """The Numba kernel's values (wrt 'value') or input gradients (wrt 'x') at the same points, for
    ``judge(same_as=...)``; None where symact.kernels has no such kernel (a second input's gradient)."""
    import symact.kernels as K

    x = np.asarray(xs, dtype=dtype)
    args = [x] + [np.full_like(x, 0.5)] * len(extra) + [np.full_like(x, target)]
    if wrt == "value":
        return getattr(K, loss.name)(*args, reduction="none", **kw)
    if wrt == "x" and loss.grad:
        return getattr(K, f"{loss.name}_grad")(*args, reduction="sum", **kw)
    return None


def judge(got, truths, dtype, what, same_as=None):
    """Max ULP of ``got`` against the truths; AssertionError on a total loss: a non-finite or zero result
    where the truth is finite, nonzero and a normal number, a wrong inf or nan. Gradual underflow as
    tests/reference.py: a truth within 2^(p/2) of the smallest normal number is judged by its absolute
    error: at most 4·tiny·2^(-p/2) is not counted; beyond, its ULP counts (a subnormal truth's ULP is the
    subnormal spacing).
    ``same_as``: the Numba kernel's results at the same points. A total loss is accepted where the Numba
    kernel gives the very same value: the target is then no worse than symact's reference kernels, which
    tests/test_losses.py bounds against mpmath (with its allowance for cancellation between terms, as
    in poisson_nll_loss's e^x − y at y = 1 and x → 0).
    Returns (max ULP, index of it)."""
    fi = np.finfo(dtype)
    half_p = mpmath.mpf(2) ** ((fi.nmant + 1) // 2)
    tiny = mpmath.mpf(float(fi.tiny))
    worst, at = 0.0, None
    for n, (v, t) in enumerate(zip(np.asarray(got, dtype=np.float64).tolist(), truths)):
        if t is None:
            continue
        if isinstance(t, float) and math.isnan(t):
            assert math.isnan(v), f"{what}[{n}] = {v}, expected nan"
            continue
        if isinstance(t, float) and math.isinf(t) or abs(mpmath.mpf(t)) > float(fi.max):
            assert math.isinf(v) and (v > 0) == (t > 0), f"{what}[{n}] = {v}, expected {t}"
            continue
        t = mpmath.mpf(t)
        if abs(t) < tiny * half_p and math.isfinite(v) and abs(mpmath.mpf(v) - t) <= 4 * tiny / half_p:
            continue
        if abs(t) >= tiny and not (same_as is not None and float(same_as[n]) == v):
            assert math.isfinite(v) and v != 0, f"{what}[{n}] = {v}: a total loss (truth {mpmath.nstr(t, 8)})"
        err = ulp_error(v, t, dtype)
        if err > worst:
            worst, at = err, n
    return worst, at


# -- rows: vector functions and row losses ---------------------------------------------------------------

ROWS = [[1000.0, 0.0, -1000.0], [-745.0, -744.0, -800.0], [100.0, 0.0, 0.0], [2.0, 1.0, 0.1],
        [0.0, 0.0, 0.0, 0.0], [-1e4, 1e4, 0.5], [30.0, 0.0, -30.0, 1.0], [0.3, -0.2, 0.7, 0.1]]


def _mp_functions():
    return {"Ramp": lambda z: max(z, 0), "Step": lambda z: mpmath.mpf(1) if z > 0 else mpmath.mpf(0),
            "XLogX": lambda z: mpmath.mpf(0) if z == 0 else z * mpmath.log(z), "sign": mpmath.sign,
            "RowMax": None, **_MP_PRIMS}  # the stable primitives a row formula may use, by their definitions


def _explicit(expr, n, subs):
    e = expr.subs(K, n).subs(subs).doit()
    table = {}
    for base in {a.base for a in e.atoms(sp.Indexed)}:
        for m in range(n):
            table[base[m]] = sp.Symbol(f"{base.name}_{m}", real=True)
    return e.xreplace(table), table


def fit_row(fn, row) -> list:
    """A sweep row as the entry's layout takes it: a row whose length is not a multiple of the layout's
    parts (glu's halves) becomes its rotations side by side ([a, b, c] → [a, b, c, b, c, a]: every
    element meets every other across the halves)."""
    parts = fn.layout.parts
    row = list(row)
    return row if len(row) % parts == 0 else [v for p in range(parts) for v in row[p:] + row[:p]]


def shaped(fn, *shape) -> tuple:
    """A test array's shape with every axis a multiple of the entry's layout parts (each may be the row)."""
    return tuple(s * fn.layout.parts for s in shape)


def vector_truth(fn, row, g_row):
    """(value, vjp) of a vector function at one row, by explicit-K differentiation in mpmath."""
    n = len(row)
    params = {p.symbol: p.value for p in fn.params}
    outs = [fn.expr(m) for m in (range(1) if fn.scalar else range(fn.layout.outputs(n)))]
    if fn.grouped:  # maxout: the max of the row; its derivative routes to the first maximal element
        winner = max(range(n), key=lambda m: (row[m], -m))
        return [mpmath.mpf(row[winner])], [mpmath.mpf(g_row[0]) if m == winner else mpmath.mpf(0) for m in range(n)]
    values, grads = [], [mpmath.mpf(0)] * n
    with mpmath.workdps(120):
        point = {sp.Symbol(f"x_{m}", real=True): mpmath.mpf(v) for m, v in enumerate(row)}
        for b, expr in enumerate(outs):
            e, table = _explicit(expr.subs(params), n, {})
            syms = [table[X_ROW[m]] for m in range(n)]
            f = sp.lambdify(syms, e, [_MP_PRIMS, "mpmath"])  # glu's σ: a stable primitive
            values.append(f(*[point[s] for s in syms]))
            for a in range(n):
                d = sp.lambdify(syms, sp.diff(e, syms[a]), [_MP_PRIMS, "mpmath"])
                grads[a] += mpmath.mpf(g_row[b]) * d(*[point[s] for s in syms])
    return values, grads


def row_loss_truth(loss, target, inputs, label=None, trow=None, pm1=None, params=None):
    """(value, [gradient row per input]) of a row loss at one row (class weights 1), in mpmath."""
    n = len(inputs[0])
    formula = loss.formulas[target]
    subs = {sp.Symbol(p.name, positive=True) if p.positive else sp.Symbol(p.name, real=True):
            sp.Rational((params or {}).get(p.name, float(p.value))) for p in loss.params}
    if label is not None:
        subs[Y_LABEL] = label
    if pm1 is not None:
        subs[S_PM1] = pm1
    e = formula.subs(subs).subs(K, n)
    e = e.subs({W_ROW[m]: 1 for m in range(n)}).doit()
    e = e.subs({W_ROW[m]: 1 for m in range(n)})
    if trow is not None:
        e = e.subs({T_ROW[m]: sp.Rational(trow[m]) for m in range(n)})
    e, table = _explicit(e, n, {})
    bases = [b for _, b in loss.inputs]
    syms = [table[b[m]] for b in bases for m in range(n)]
    mods = [{k: v for k, v in _mp_functions().items() if v is not None}, "mpmath"]
    with mpmath.workdps(120):
        vals = [mpmath.mpf(v) for row in inputs for v in row]
        f = sp.lambdify(syms, e, mods)
        value = f(*vals)
        grads = []
        for b in range(len(bases)):
            grads.append([sp.lambdify(syms, sp.diff(e, syms[b * n + m]), mods)(*vals) for m in range(n)])
    return value, grads


def row_ulp(got, truth, dtype, row) -> float:
    """The project's row bound (tests/reference.py assert_row_ulp) with its error in ULP."""
    from reference import assert_row_ulp

    return assert_row_ulp(float(got), truth, dtype, list(map(float, row)), "row")


__all__ = ["generate", "points", "elementwise_truth", "loss_truth", "loss_points", "loss_targets",
           "loss_form", "loss_forms", "loss_kwargs", "judge", "numba_loss",
           "ROWS", "fit_row", "shaped", "vector_truth", "row_loss_truth", "row_ulp", "DTYPES", "VECTORS", "ROW_LOSSES", "LOSSES",
           "all_entries", "ulp_of", "G_ROW", "J_INDEX", "XLogX"]


# -- row cases: inputs for every vector function and row loss, with their truths (cached) ----------------

def vector_cases(fn):
    """(row, upstream gradient) pairs for a vector function."""
    cases = []
    for row in ROWS:
        row = fit_row(fn, row)
        g = [0.5] if fn.scalar else [((m * 7) % 5 - 2) / 2.0 for m in range(fn.layout.outputs(len(row)))]
        cases.append((tuple(row), tuple(g)))
    return cases


@functools.cache
def vector_case_truth(name, row, g):
    fn = next(v for v in VECTORS if v.name == name)
    return vector_truth(fn, list(row), list(g))


def row_loss_cases(loss):
    """[(target kind, inputs (tuple of rows), target value (label, t row, mask index row, ±1) or None)]."""
    n_in = len(loss.inputs)
    moderate = [(0.3, -0.2, 0.7, 0.1), (1.5, 0.5, -1.0, 2.0)]
    cases = []
    for kind in loss.formulas:
        if kind == "label":
            for row in [tuple(r) for r in ROWS[:3]] + moderate:
                for label in sorted({0, len(row) - 1}):
                    cases.append((kind, (row,), label))
        elif kind == "prob":
            cases += [(kind, (tuple(ROWS[2]),), (0.2, 0.5, 0.3)), (kind, (moderate[0],), (0.0, 0.25, 0.75, 0.0))]
        elif kind == "mask":
            cases += [(kind, (row,), (1, 3, -1, 0)) for row in moderate]
        elif kind == "pm1":
            cases += [(kind, (moderate[0], moderate[1]), s) for s in (1.0, -1.0)]
        elif loss.input_domain == "prob":
            cases += [(kind, (row,), None) for row in [(0.5, 0.5, 0.0), (0.8, 0.15, 0.05), (1.0, 0.0, 0.0, 0.0)]]
        else:
            rows = [moderate[0], moderate[1], (0.0, 0.1, -0.3, 0.2), (-3.0, 0.1, 0.2, 5.0)]
            cases += [(kind, tuple(rows[m:m + n_in]), None) for m in (0, 1)]
    return cases


def mask_of(indices, n):
    listed = []
    for v in indices:
        if v < 0:
            break
        listed.append(v)
    return tuple(1.0 if m in listed else 0.0 for m in range(n))


@functools.cache
def row_loss_case_truth(name, kind, inputs, target):
    loss = next(r for r in ROW_LOSSES if r.name == name)
    n = len(inputs[0])
    kw = {}
    if kind == "label":
        kw["label"] = target
    elif kind == "prob":
        kw["trow"] = target
    elif kind == "mask":
        kw["trow"] = mask_of(target, n)
    elif kind == "pm1":
        kw["pm1"] = target
    return row_loss_truth(loss, kind, [list(r) for r in inputs], **kw)


def close(got, truth, dtype, scale, what):
    """|got − truth| within 8 ulp of the terms' scale (for row losses whose value is a sum of terms of
    magnitude ``scale``; the max-shift family is held to tests/reference.py's row bound instead)."""
    eps = float(np.finfo(dtype).eps)
    t = float(truth)
    if not math.isfinite(t):
        assert float(got) == t, (what, got, t)
        return
    assert math.isfinite(float(got)), (what, got, t)
    assert abs(float(got) - t) <= 8 * eps * max(abs(t), scale) + 8 * eps * abs(t), (what, float(got), t)


def row_ulp_or_baseline(got, baseline, truth, dtype, row) -> None:
    """The project's row bound, or — where the derived form itself cancels (softmax's vjp
    p_i·(g_i − Σ_j p_j·g_j) at [100, 0, 0]: symact.kernels loses it too; reported upstream) — no worse
    than the numba kernel of the same derived form (symact.kernels, the default backend)."""
    try:
        row_ulp(got, truth, dtype, row)
    except AssertionError:
        t = mpmath.mpf(truth)
        assert abs(mpmath.mpf(float(got)) - t) <= abs(mpmath.mpf(float(baseline)) - t) + 4 * ulp_of(t, dtype), \
            (float(got), float(baseline), mpmath.nstr(t, 17))
