"""The primitive registry (symact/catalog/primitives.py) is the one place a primitive is declared: every
entry is printable by the Numba printer (and its runtime helper exists), reads as LaTeX in the docs, is
accepted by --define, has special values that are what its helper returns and what mpmath's limits say,
and keeps its accuracy bound against mpmath over its whole finite range in both dtypes — so that adding
an entry is enough for all of these to know it and check it. And no other module of symact lists
primitives."""
from __future__ import annotations

import math
import re
from pathlib import Path

import mpmath
import numba
import numpy as np
import pytest
import sympy as sp
from numba import njit

from symact.catalog import X
from symact.catalog.primitives import BY_CLASS, BY_NAME, PRIMITIVES
from symact.kernels import _runtime as R
from reference import ulp_of

TAGS = {np.float32: "f32", np.float64: "f64"}
DTYPES = [np.float32, np.float64]
IDS = [p.name for p in PRIMITIVES]
B = 4.0  # the second argument of the two-argument primitives (squareplus's b) where one value is needed


def test_names_and_classes_are_unique():
    assert len(BY_NAME) == len(PRIMITIVES) and len(BY_CLASS) == len(PRIMITIVES)
    for p in PRIMITIVES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", p.name), p.name
        assert p.cost in ("transcendental", "arithmetic"), p
        assert set(p.ulp) == {"f32", "f64"} and all(0 < b <= 4 for b in p.ulp.values()), p


def _args(p, z=X):
    return (z, sp.Symbol("b", positive=True))[:p.arity]


def _helper(p, tag):
    if p.numba.startswith("math."):
        return getattr(math, p.numba.removeprefix("math."))
    return getattr(R, p.numba.format(t=tag))


@pytest.mark.parametrize("p", PRIMITIVES, ids=IDS)
def test_every_primitive_prints_as_its_helper(p):
    """The Numba printer prints the entry as a call of its helper, which the runtime defines, in both dtypes;
    the torch and JAX printers as their operation where the entry names one."""
    from symact.codegen.jax import BACKEND as JAX
    from symact.codegen.tensor import TensorPrinter
    from symact.codegen.torch import BACKEND as TORCH
    from symact.codegen.numba import NumbaPrinter

    for tag in ("f32", "f64"):
        out = NumbaPrinter(tag).doprint(p.sympy(*_args(p)))
        assert out.startswith(p.numba.format(t=tag) + "("), out
        assert callable(_helper(p, tag))
    for backend, op in ((TORCH, p.torch), (JAX, p.jax)):
        printer = TensorPrinter(backend, tensors=("x", "b"))
        if op == "expand":  # printed as the registry's stable expansion
            assert printer.doprint(p.sympy(*_args(p))) == printer.doprint(p.expansion(*_args(p)))
        elif op is None:
            with pytest.raises(ValueError, match=f"no operation for {p.sympy.__name__}"):
                printer.doprint(p.sympy(*_args(p)))
        else:
            assert printer.doprint(p.sympy(*_args(p))).startswith(op + "(")


@pytest.mark.parametrize("p", PRIMITIVES, ids=IDS)
def test_every_primitive_has_latex(p):
    """Readable LaTeX (no class name, no SymPy fallback such as \\operatorname{Sigmoid}); symact's own
    primitives are in the docs' Notation section with their meaning."""
    from symact.docs import notation, primitive_meaning, tex

    z = sp.Symbol("z", real=True)
    out = tex(p.sympy(*_args(p, z)))
    assert out and "mathtt" not in out, out
    if p.own:
        assert p.sympy.__name__ not in out, out
    if p.latex is not None:
        assert out.startswith(p.latex), out
    if p.own and p.arity == 1:
        assert primitive_meaning(p.sympy) and p.sympy.__name__ in {n["name"] for n in notation()}


@pytest.mark.parametrize("p", PRIMITIVES, ids=IDS)
def test_define_accepts_every_primitive(p):
    """--define's whitelist is the registry: name(x) parses to the entry's textbook formula, and the name
    is reserved (no user function or parameter may take it)."""
    from symact.build import reserved_names
    from symact.catalog import Activation
    from symact.userspec import SpecError, parse_define, validate

    assert p.define
    text = f"f(b=4) = {p.name}(x, b)" if p.arity == 2 else f"f = {p.name}(x)"
    entry = parse_define(text)
    args = (X, *[par.symbol for par in entry.params])
    assert entry.expr() == p.textbook(*args)
    assert p.name in reserved_names()
    with pytest.raises(SpecError, match=f"^{p.name}: "):
        validate(Activation(p.name, lambda x: 2 * x))


# --- numbers: the helper against its specials and mpmath ----------------------------------------------------

def _loop(p, tag):
    fn = _helper(p, tag)
    arr = (numba.float32 if tag == "f32" else numba.float64)[::1]
    if p.arity == 2:
        def loop(x, b, out):
            for i in range(x.shape[0]):
                out[i] = fn(x[i], b[i])
        return njit(numba.void(arr, arr, arr), error_model="numpy")(loop)

    def loop1(x, out):
        for i in range(x.shape[0]):
            out[i] = fn(x[i])
    return njit(numba.void(arr, arr), error_model="numpy")(loop1)


_LOOPS = {}


def call(p, dtype, x, b=B):
    key = (p.name, dtype)
    if key not in _LOOPS:
        _LOOPS[key] = _loop(p, TAGS[dtype])
    x = np.ascontiguousarray(x, dtype)
    out = np.empty_like(x)
    with np.errstate(all="ignore"):
        if p.arity == 2:
            _LOOPS[key](x, np.full_like(x, b), out)
        else:
            _LOOPS[key](x, out)
    return out


def _truth(p, x, b=B):
    """mpmath's value as an mpf, or None where it has no real one (complex, or mpmath refuses)."""
    try:
        v = p.mpmath(*(mpmath.mpf(x), mpmath.mpf(b))[:p.arity])
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return v if isinstance(v, mpmath.mpf) and not mpmath.isnan(v) else None


def _limit(p, sign, dtype):
    """lim f(x) for x → sign·∞ rounded to the dtype, nan where there is none: mpmath at ±inf, or where
    that is indeterminate (inf/inf), f at ±10^1000 and ±10^1001 agreeing once rounded."""
    with mpmath.workprec(200):
        v = _truth(p, sign * math.inf)
        if v is not None:
            return dtype(float(v))
        far = [_truth(p, sign * mpmath.mpf(10) ** e) for e in (1000, 1001)]
    if any(v is None for v in far):
        return dtype(math.nan)
    a, b = (dtype(float(v)) for v in far)
    return a if a == b else dtype(math.nan)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("p", PRIMITIVES, ids=IDS)
def test_specials_are_the_helpers_and_mpmaths(p, dtype):
    """The entry's values at +inf, -inf, nan are what its helper returns (bit for bit, sign of zero
    included; the two-argument helpers for several b) and what mpmath says the limits are (nan where
    there is none: sin at ±inf, atanh beyond ±1)."""
    want = np.array(p.specials, dtype)
    num = ~np.isnan(want)
    x = np.array([np.inf, -np.inf, np.nan], dtype)
    for b in ((B,) if p.arity == 1 else (np.finfo(dtype).smallest_subnormal, 1e-8, B, np.finfo(dtype).max)):
        got = call(p, dtype, x, b)
        assert np.array_equal(got, want, equal_nan=True) and \
            np.array_equal(np.signbit(got[num]), np.signbit(want[num])), (p.name, b, got, want)
    limits = np.array([_limit(p, 1, dtype), _limit(p, -1, dtype), np.nan], dtype)
    assert np.array_equal(limits, want, equal_nan=True), (p.name, "mpmath's limits", limits, want)


def _sweep(dtype, n):
    """The whole finite range of both signs, log-spaced (subnormals to max), random points in log scale,
    uniform points in [-4, 4] and the edges ±0, ±1, ±max."""
    fi = np.finfo(dtype)
    rng = np.random.default_rng(21)
    with np.errstate(over="ignore"):
        mags = np.geomspace(float(fi.smallest_subnormal), float(fi.max), n)
        rnd = np.exp2(rng.uniform(math.log2(float(fi.smallest_subnormal)), math.log2(float(fi.max)), n // 2))
    xs = np.concatenate([mags, -mags, rnd, -rnd, rng.uniform(-4, 4, n), [0.0, 1.0, -1.0, float(fi.max), -float(fi.max)]])
    with np.errstate(over="ignore"):
        return np.unique(xs.astype(dtype))


def ulp_error(p, dtype, x, y, b=B):
    """ULPs of y from mpmath's value at x (its IEEE result where the value is not finite in the dtype:
    nan where there is no real value, ±inf beyond the largest float)."""
    fi = np.finfo(dtype)
    with mpmath.workprec(200):
        t = _truth(p, x, b)
    if t is None:
        assert math.isnan(y), f"{p.name}({x}) = {y}, expected nan"
        return 0.0
    big = mpmath.mpf(float(fi.max))
    if abs(t) > big:
        if abs(t) >= big + ulp_of(big, dtype) / 2:
            assert y == (math.inf if t > 0 else -math.inf), f"{p.name}({x}) = {y}, truth {t} overflows"
        else:
            assert abs(y) in (float(fi.max), math.inf), f"{p.name}({x}) = {y}, truth {t}"
        return 0.0
    assert math.isfinite(y), f"{p.name}({x}) = {y}, truth {mpmath.nstr(t, 17)} is finite"
    return float(abs(mpmath.mpf(y) - t) / ulp_of(t, dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("p", PRIMITIVES, ids=IDS)
def test_bound_holds_over_the_whole_range(p, dtype):
    """The entry's measured bound (ULPs, per dtype) against its mpmath truth at 200 bits, over the whole
    finite range of both signs (two-argument entries for b from 1e-8 to 1e8); no non-finite result
    where the truth is finite, nan where it has no real value, ±inf where it overflows."""
    xs = _sweep(dtype, 300)
    worst, at = 0.0, None
    for b in ((B,) if p.arity == 1 else (1e-8, B, 1e8)):
        got = call(p, dtype, xs, b)
        assert got.dtype == dtype
        for x, y in zip(xs.tolist(), got.tolist()):
            err = ulp_error(p, dtype, x, y, b)
            if err > worst:
                worst, at = err, (x, b)
    print(f"{p.name} {dtype.__name__}: max {worst:.3f} ULP at (x, b) = {at!r}")
    assert worst <= p.ulp[TAGS[dtype]], f"{p.name} {dtype.__name__}: {worst:.3f} ULP at (x, b) = {at!r}"


# --- one place -------------------------------------------------------------------------------------------------

SYMACT = Path(__file__).resolve().parent.parent / "symact"
HOME = {SYMACT / "catalog" / "primitives.py", SYMACT / "primitives.py"}  # the registry and the SymPy classes


def test_no_other_module_lists_primitives():
    """Outside the registry (and the module defining the classes), no source file of symact spells an
    entry's helper, torch or JAX operation as a string, nor keys a table by a primitive's class
    (``Sigmoid: ...``, ``sp.cosh: ...``): each such table would be a second list to keep in step."""
    strings = {s for p in PRIMITIVES for s in (p.numba, p.torch, p.jax) if s and s != "expand"}
    keys = [re.compile(rf"(?<![\w.])(sp\.)?{re.escape(p.sympy.__name__)}\s*:\s*[\"'(\[{{]") for p in PRIMITIVES]
    offenders = []
    for path in sorted(SYMACT.rglob("*.py")):
        if path in HOME:
            continue
        text = path.read_text()
        for s in strings:
            for quote in ('"', "'"):
                if f"{quote}{s}{quote}" in text:
                    offenders.append(f"{path.relative_to(SYMACT)}: {quote}{s}{quote}")
        for line_no, line in enumerate(text.splitlines(), 1):
            if any(k.search(line) for k in keys) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(SYMACT)}:{line_no}: {line.strip()}")
    assert not offenders, "primitive tables outside symact/catalog/primitives.py:\n" + "\n".join(offenders)
