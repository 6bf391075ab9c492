"""Derive everything a catalog entry implies: stable form, gradients, limits, and their proofs.

For each kernel (f, df/dx, df/dp for each learnable p) we keep two SymPy expressions: the *textbook*
one, differentiated straight from the definition (the reference for tests and docs), and the
*stable* one, differentiated from the stabilized definition and stabilized again (what is emitted).
The two are proven equal; nothing here is typed by hand.
"""
from __future__ import annotations

from typing import Optional

import sympy as sp

from ..cache import cached
from ..catalog import X, Activation
from .from_output import Y, derive_from_output
from .kernel import Derivation, Kernel
from ..primitives import to_textbook
from ..verify.prove import _Timeout, prove, time_budget
from ..stabilize.rules import stabilize


LIMIT_BUDGET = 300.0  # an error when exceeded, never a fallback (slowest: gelu_tanh' at ±inf, 19 s at load 8)


def _plain_limit(expr: sp.Expr, direction) -> Optional[sp.Expr]:
    # The budget is generous and a timeout is an error, not a None: emitted code must not depend
    # on how loaded the machine is (generation is byte-for-byte deterministic).
    try:
        with time_budget(LIMIT_BUDGET, fallback=False):
            value = sp.limit(to_textbook(expr), X, direction)
    except _Timeout:
        raise RuntimeError(f"limit of {expr} at {direction} took over {LIMIT_BUDGET} s") from None
    except Exception:  # noqa: BLE001 - SymPy finds no limit: the kernel evaluates plainly
        return None
    if value.has(sp.AccumBounds) and not value.has(sp.Limit, X):
        return sp.nan  # there is none (sin at infinity): nan, which the case split below may need
    if value.has(sp.Limit, sp.AccumBounds, sp.nan, sp.zoo, X, sp.sign) or isinstance(value, sp.Piecewise):
        return None
    return value


def _limit(expr: sp.Expr, direction) -> Optional[sp.Expr]:
    """lim f(x) for x → ±∞ when SymPy finds a definite value; else None (plain evaluation).

    Kernels return this value for infinite input, so that x·σ(x) at −∞ is 0 and not −∞·0 = nan.
    A real parameter without a sign (swish's beta, linear's c) is split into its three cases; a case
    with no limit (sin(omega0·x) for omega0 != 0) gives nan there.
    """
    if isinstance(expr, sp.Add):
        # terms free of x that are piecewise in another argument (poisson_nll_loss's Stirling term, only
        # where target > 1) are added to the limit of the rest, which then need not fold that Piecewise
        free = [t for t in expr.args if not t.has(X)]
        if free and len(free) < len(expr.args) and any(t.has(sp.Piecewise) for t in free):
            rest = _limit(sp.Add(*[t for t in expr.args if t.has(X)]), direction)
            return None if rest is None else rest + sp.Add(*free)
    if expr.has(sp.Piecewise):
        # the branch that owns x -> ±inf, when its condition does not depend on a parameter
        # (leaky_relu's a·x at -inf: a·(-inf) is nan for a = 0, where the limit is 0); none for
        # softplus's (x, beta·x > threshold), whose branch at ±inf depends on beta and threshold
        folded = sp.piecewise_fold(expr)
        if not isinstance(folded, sp.Piecewise):
            return _limit(folded, direction)
        far = (1 if direction == sp.oo else -1) * sp.Integer(10) ** 30
        for branch, cond in folded.args:
            holds = cond.subs(X, far)
            if holds == sp.true:
                return None if branch.has(sp.Piecewise) else _limit(branch, direction)
            if holds != sp.false:
                return None
        return None
    signless = [s for s in expr.free_symbols if s != X and not s.is_positive]
    if not signless:
        value = _plain_limit(expr, direction)
        return None if value is sp.nan else value
    if len(signless) > 1:
        return None
    s = signless[0]
    p = sp.Symbol(s.name, positive=True)
    cases = [(_plain_limit(expr.subs(s, p), direction), s > 0),
             (_plain_limit(expr.subs(s, -p), direction), s < 0),
             (_plain_limit(expr.subs(s, 0), direction), True)]
    if any(v is None for v, _ in cases) or all(v is sp.nan for v, _ in cases):
        return None  # (sin(omega0·x) has a limit only for omega0 = 0: 0, and nan otherwise)
    return sp.Piecewise((cases[0][0].subs(p, s), s > 0), (cases[1][0].subs(p, -s), s < 0),
                        (cases[2][0], True))


@cached("derive", key=lambda entry, from_output=True, gradients=True:
        (entry, entry.expr(), entry.written_expr(), from_output, gradients),
        pack=lambda d: (d.kernels, d.proofs, d.no_from_output),
        unpack=lambda stored, entry, *args, **kwargs: Derivation(entry, *stored))
def derive(entry: Activation, from_output: bool = True, gradients: bool = True) -> Derivation:
    """``gradients=False``: the function only (zero_one_loss has no gradient)."""
    f = entry.expr()
    domains = entry.domains()
    stable_f, rules_f = stabilize(f)
    wrt = [(X, "df/dx", f"{entry.name}_grad")]
    wrt += [(p.symbol, f"df/d{p.name}", f"{entry.name}_grad_{p.name}") for p in entry.learnable]
    if not gradients:
        wrt, from_output = [], False

    kernels = [Kernel(entry.name, "f", f, stable_f, rules_f,
                      prove(stable_f, f, f"{entry.name}: stable form = definition", X, domains))]
    for sym, role, name in wrt:
        textbook = sp.diff(f, sym)
        stable, rules = stabilize(sp.diff(stable_f, sym))
        kernels.append(Kernel(name, role, textbook, stable, rules,
                              prove(stable, textbook, f"{name}: stable {role} = {role} of the definition",
                                    X, domains)))
    for k in kernels:
        k.at_inf = (_limit(k.stable, sp.oo), _limit(k.stable, -sp.oo))

    fo = derive_from_output(entry, f) if from_output and not getattr(entry, "no_from_output", "") else None
    if from_output and getattr(entry, "no_from_output", ""):  # the catalog entry says why not
        from .from_output import FromOutput

        fo = FromOutput(None, None, {}, reason=entry.no_from_output)
    if fo is not None and fo.g is not None:
        stable, rules = stabilize(fo.g)
        proof = prove(stable, fo.g, f"{entry.name}_grad_from_output: stable form = g(y)", Y, domains)
        proof = type(proof)(proof.name, proof.status, f"{fo.proof.method}; stable form: {proof.method}",
                            fo.proof.seconds + proof.seconds) if proof.ok else proof
        fixed = {s.name for s in fo.fixed}
        kernels.append(Kernel(f"{entry.name}_grad_from_output", "df/dx from y = f(x)", fo.g, stable, rules, proof,
                              arg=Y, params=tuple(p for p in entry.kernel_params if p.name not in fixed),
                              note=fo.caveat))

    proofs = []
    written = entry.written_expr()
    if written is not None:
        proofs.append(prove(written, f, f"{entry.name}: definition = the seed's formula as written",
                            X, domains))
    return Derivation(entry, kernels, proofs, no_from_output=fo.reason if fo else "")
