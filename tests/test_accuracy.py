"""Every elementwise kernel (forward, derivative, parameter derivatives and their VJPs) against the
textbook definition evaluated in mpmath (tests/reference.py), float32 and float64, at the default
parameters over the full stress sweep and at every other parameter value of reference.param_sets
over the short sweep: 0, subnormals, tiny, dense ±[1e-8, 1e3], the overflow edges, log-spaced up to
±max, ±max itself, ±inf (the limit) and nan.

The bounds are those of tests/accuracy.py's docstring: 4 ULP; ±inf exactly where the truth overflows;
the limit at ±inf; the argument-rounding allowance 2u·|x·g'(x)| only for kernels that round a
transcendental's argument; the gradual-underflow allowance below 2^(p/2)·tiny.

The max ULP per kernel and dtype is kept in tests/accuracy_table.md (committed, quoted by the
reference docs). A test run never writes it: when the measurement changes, the table test fails and
names the command that rewrites it, ``python tests/update_accuracy_table.py``.
"""
from __future__ import annotations

import math
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp

import symact.kernels as K
from accuracy import DTYPES, RESULTS, all_results, entry_kernels, measure_kernel, rounds_argument, table_text
from conftest import derived_catalog
from reference import bound_params, param_sets, truth, ulp_error, ulp_of
from symact.catalog import X, all_entries
from symact.codegen.numba import ExpMul, SigmoidPairDW, lower

TABLE = Path(__file__).with_name("accuracy_table.md")
UPDATE = "python tests/update_accuracy_table.py"


def _cases(kinds=("f", "df", "dp")):
    for name, d in derived_catalog().items():
        for kernel, kind in entry_kernels(d, K.__all__):
            if kind.split(":")[0] in kinds:
                for dt in DTYPES:
                    yield pytest.param(name, kernel, kind, dt, id=f"{kernel}-{dt.__name__}")


@pytest.mark.parametrize("entry_name,kernel,kind,dtype", list(_cases()))
def test_kernel_accuracy(derived, entry_name, kernel, kind, dtype):
    res = measure_kernel(derived[entry_name], kernel, kind, dtype, K)
    RESULTS[(kernel, dtype.__name__)] = res
    assert not res.failures, f"{len(res.failures)} points over the bound:\n" + "\n".join(res.failures[:12])


def test_every_parameter_is_swept_beyond_its_default():
    """Each kernel parameter takes at least three non-default values, some extreme (from its catalog
    metadata only): a kernel that ignored a parameter (elu_grad without alpha) is then measured wrong."""
    for e in all_entries():
        for p in e.kernel_params:
            moved = [s[p.name] for s in param_sets(e)[1:] if s[p.name] != float(p.value)]
            assert len(moved) >= 3, (e.name, p.name, moved)
            assert any(abs(v) >= 2 ** 10 or 0 < abs(v) <= 2 ** -10 or v in (0.0, 1.0, 20.0) for v in moved), (e.name, p.name)


@pytest.mark.parametrize("name", sorted(derived_catalog()))
def test_differentiation_agrees_with_mpmath_diff(name):
    """The reference's automatic differentiation against mpmath.diff (central differences) of the same
    definition printed by SymPy's own mpmath printer, at moderate points and three parameter sets: two
    independent ways to differentiate the textbook formula. The Piecewise branch is the one whose
    condition holds at x."""
    e = next(e for e in all_entries() if e.name == name)
    learn = [p.name for p in e.learnable]
    for params in param_sets(e)[:3]:
        ptuple = bound_params(e, params, np.float64)
        fixed = {k: v for k, v in ptuple if k not in learn}
        expr = e.expr().subs(e.constants())
        expr = expr.subs({s: (sp.Rational(fixed[s.name]) if math.isfinite(fixed[s.name]) else sp.oo * sp.sign(fixed[s.name]))
                          for s in expr.free_symbols if s.name in fixed})
        syms = [next(s for s in expr.free_symbols | {sp.Symbol(n)} if s.name == n) for n in learn]
        for x in (-3.7, -0.61, 0.43, 2.9, 7.25):
            t = truth(name, ptuple, x, np.float64)
            at = {X: sp.Rational(x), **{s: sp.Rational(dict(ptuple)[s.name]) for s in syms}}
            branch = sp.piecewise_fold(expr)
            if isinstance(branch, sp.Piecewise):
                branch = next(b for b, c in branch.args if c.subs(at) == sp.true)
            f = sp.lambdify([X, *syms], branch, "mpmath")
            pv = [mpmath.mpf(dict(ptuple)[s.name]) for s in syms]
            with mpmath.workdps(40):
                want = mpmath.diff(lambda xx: f(xx, *pv), mpmath.mpf(x))
                assert abs(t.df - want) <= 1e-25 * (1 + abs(want)), (name, params, x, t.df, want)
                for i, s in enumerate(syms):
                    def along(v, i=i):
                        q = list(pv)
                        q[i] = v
                        return f(mpmath.mpf(x), *q)
                    want_p = mpmath.diff(along, pv[i])
                    assert abs(t.dp[s.name] - want_p) <= 1e-25 * (1 + abs(want_p)), (name, params, x, s, want_p)


def _exact_argument_cases():
    for name, d in derived_catalog().items():
        for k in d.kernels:
            if k.arg == X and lower(k.stable.subs(d.entry.constants())).has(ExpMul, SigmoidPairDW):
                for dt in DTYPES:
                    yield pytest.param(name, k.name, dt, id=f"{k.name}-{dt.__name__}")


@pytest.mark.parametrize("entry_name,kernel,dtype", list(_exact_argument_cases()))
def test_exact_arguments_hold_in_the_tails(derived, entry_name, kernel, dtype):
    """Kernels whose transcendental's argument is kept exact (printing.ExpMul: GELU's e^(-x²/2);
    printing.DWPoly: GELU-tanh's sigma of a cubic) within 4 ULP on random points of both tails, where
    a rounded argument would cost ~x² (480 ULP at x = -36.5) or ~x³ ULP: no allowance of any kind
    (points near gradual underflow are left out)."""
    d = derived[entry_name]
    kind = next(kd for kn, kd in entry_kernels(d, K.__all__) if kn == kernel)
    fi = np.finfo(dtype)
    rng = np.random.default_rng(21)
    xs = np.concatenate([rng.uniform(-40, -2, 150), rng.uniform(2, 10, 30), -np.geomspace(2, 40, 50)]).astype(dtype)
    got = getattr(K, kernel)(xs)
    worst, judged = 0.0, 0
    for x, y in zip(xs.tolist(), got.tolist()):
        t = truth(entry_name, (), x, dtype)
        v = t.f if kind == "f" else t.df
        if abs(v) < float(fi.tiny) * 2.0 ** ((fi.nmant + 1) // 2):
            continue
        judged += 1
        worst = max(worst, ulp_error(y, v, dtype))
    assert judged >= 80
    assert worst <= 4, f"{kernel} {dtype.__name__}: {worst:.2f} ULP"


def test_rounds_argument_reads_only_rounded_arguments(derived):
    """The argument-rounding allowance goes only where an argument must round: swish at beta = 1.5,
    not at beta = 1 or 2^10; never GELU, GELU-tanh or the sine, whose arguments printing keeps exact."""
    sw = derived["swish"]
    k = next(k for k in sw.kernels if k.name == "swish_grad_beta")
    assert rounds_argument(sw.entry, k, {"beta": 1.5})
    assert not rounds_argument(sw.entry, k, {"beta": 1.0}) and not rounds_argument(sw.entry, k, {"beta": 1024.0})
    for name in ("gelu", "gelu_tanh", "sine", "sigmoid", "tanh", "elu"):
        d = derived[name]
        params = {p.name: float(p.value) for p in d.entry.kernel_params}
        assert not any(rounds_argument(d.entry, k, params) for k in d.kernels if k.arg == X), name


# ---- parameter VJPs ---------------------------------------------------------------------------------------

def _vjp_cases():
    for name, d in derived_catalog().items():
        for p in d.entry.learnable:
            if f"{name}_vjp_{p.name}" in K.__all__:
                yield pytest.param(name, p.name, id=f"{name}_vjp_{p.name}")


VJP_CASES = list(_vjp_cases())


def test_every_learnable_parameter_has_a_vjp():
    learnable = {(e.name, p.name) for e in all_entries() for p in e.learnable}
    assert learnable and learnable == {tuple(c.values) for c in VJP_CASES}


def _vjp_reference(entry, x, g, pname, pvalues, dtype):
    """Σ g·df/dp over the broadcast axes, from the truth per element (mpmath, exactly summed), in p's
    shape: the plain reference the kernel is held to."""
    shape = np.broadcast_shapes(x.shape, g.shape, pvalues.shape)
    xb, gb, pb = (np.broadcast_to(a, shape) for a in (x, g, pvalues))
    others = {p.name: float(p.value) for p in entry.kernel_params if p.name != pname}
    out = np.empty(pvalues.shape, dtype=object)
    for idx in np.ndindex(pvalues.shape):
        out[idx] = []
    lead = len(shape) - pvalues.ndim
    for idx in np.ndindex(shape):
        pidx = tuple(0 if pvalues.shape[i] == 1 else idx[lead + i] for i in range(pvalues.ndim))
        params = dict(others, **{pname: float(pb[idx])})
        t = truth(entry.name, bound_params(entry, params, dtype), float(xb[idx]), dtype)
        out[pidx].append(mpmath.mpf(float(gb[idx])) * t.dp[pname])
    terms = {idx: out[idx] for idx in np.ndindex(pvalues.shape)}
    return {idx: (mpmath.fsum(v), mpmath.fsum(abs(a) for a in v), len(v)) for idx, v in terms.items()}


@pytest.mark.parametrize("entry_name,param", VJP_CASES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_param_vjp_against_the_truth(derived, entry_name, param, dtype):
    """name_vjp_p(x, g, p) = Σ g·df/dp over the axes p was broadcast along, in p's shape, against the
    per-element truth summed exactly: per channel (p of shape (3, 1, 1) for x of shape (2, 3, 4, 4)),
    per feature (p of shape (5,)), and scalar p (a 0-d result). Bound: 4 ULP of the sum plus
    (n + 4)·u·Σ|g·df/dp| (n terms, each rounded once as a product and within 4 ULP as a kernel value;
    float32 sums in float64)."""
    entry = derived[entry_name].entry
    rng = np.random.default_rng(7)
    fn = getattr(K, f"{entry_name}_vjp_{param}")
    u = 2.0 ** -(np.finfo(dtype).nmant + 1)
    for xshape, pshape in (((2, 3, 4, 4), (3, 1, 1)), ((6, 5), (5,)), ((7,), ())):
        x = (rng.standard_normal(xshape) * 4).astype(dtype)
        x.flat[:3] = [0.0, -30.0, 25.0]
        g = rng.standard_normal(xshape).astype(dtype)
        pv = (np.float32(0.25) + rng.integers(-4, 5, pshape).astype(np.float32) / 8).astype(dtype) \
            if pshape else np.asarray(dtype(0.75))
        got = fn(x, g, pv if pshape else float(pv))
        assert np.shape(got) == pshape and np.asarray(got).dtype == dtype, (np.shape(got), pshape)
        ref = _vjp_reference(entry, x, g, param, pv, dtype)
        for idx, (total, mag, n) in ref.items():
            y = float(np.asarray(got)[idx])
            bound = 4 * ulp_of(total, dtype) + (n + 4) * u * mag
            assert abs(mpmath.mpf(y) - total) <= bound, (xshape, pshape, idx, y, mpmath.nstr(total, 17))


@pytest.mark.parametrize("entry_name,param", VJP_CASES)
def test_param_vjp_matches_pytorch_autograd(derived, entry_name, param):
    """weight.grad from PyTorch's autograd for the same forward (the catalog's PyTorch equivalent),
    float64, per-channel and scalar parameters."""
    torch = pytest.importorskip("torch")
    entry = derived[entry_name].entry
    rng = np.random.default_rng(3)
    for xshape, pshape in (((2, 3, 4, 4), (3, 1, 1)), ((9,), ())):
        x = rng.standard_normal(xshape) * 3
        g = rng.standard_normal(xshape)
        pv = rng.uniform(0.1, 0.9, pshape)
        others = {p.name: float(p.value) for p in entry.kernel_params if p.name != param}
        xt = torch.tensor(x)
        pt = torch.tensor(pv, requires_grad=True)
        y = entry.pytorch(torch, xt, **others, **{param: pt})
        y.backward(torch.tensor(g))
        got = getattr(K, f"{entry_name}_vjp_{param}")(x, g, **others, **{param: pv if pshape else float(pv)})
        np.testing.assert_allclose(got, pt.grad.numpy(), rtol=1e-12, atol=1e-12 * np.abs(g).sum())


def test_param_vjp_shapes_and_errors():
    x = np.ones((2, 3, 4, 4))
    g = np.ones_like(x)
    assert K.prelu_vjp_weight(x * -1, g, np.full((3, 1, 1), 0.25)).shape == (3, 1, 1)
    np.testing.assert_array_equal(K.prelu_vjp_weight(-x, g, np.full((3, 1, 1), 0.25)), np.full((3, 1, 1), -32.0))
    assert np.ndim(K.prelu_vjp_weight(-x, g, 0.25)) == 0 and K.prelu_vjp_weight(-x, g, 0.25) == -96.0
    assert K.prelu_vjp_weight(-x.astype(np.float32), g.astype(np.float32), 0.25).dtype == np.float32
    assert K.swish_vjp_beta(x, g, np.ones((4, 1))).shape == (4, 1)
    with pytest.raises(ValueError, match="do not broadcast"):
        K.prelu_vjp_weight(x, np.ones(5), 0.25)
    with pytest.raises(ValueError, match="'weight' is nan"):
        K.prelu_vjp_weight(x, g, float("nan"))


# ---- the committed table -------------------------------------------------------------------------------------

def test_committed_accuracy_table_is_current(derived):
    """tests/accuracy_table.md holds what this module measures (runs last; kernels a selection left out,
    the from-output ones included, are measured here). It is never written by a test run."""
    text = table_text(all_results(derived))
    committed = TABLE.read_text(encoding="utf-8") if TABLE.is_file() else ""
    assert committed == text, (f"the measured accuracy differs from tests/accuracy_table.md: run `{UPDATE}`, "
                               f"check the change, commit it and run `symact generate` (the docs quote it)")
