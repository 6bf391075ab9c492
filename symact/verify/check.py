"""The verify stage: prove every stated identity, limit and extremum, and every derived kernel.

`symact check` prints what this returns. Each result says how it was obtained — symbolic (which
method) or numeric (how many points, how many digits) — and a failure is a failure: the exit status
of `symact check` is non-zero.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import mpmath
import sympy as sp

from ..cache import cached
from ..catalog import X, user_identities
from ..catalog.identities import IDENTITIES, Extremum, Identity, Limit
from ..primitives import to_textbook
from .prove import _Timeout, prove, time_budget


@dataclass(frozen=True)
class Result:
    name: str
    kind: str        # identity | limit | extremum | stable form | derivative | as written
    source: str
    status: str      # proved | failed
    method: str
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def _check_identity(i: Identity) -> Result:
    p = prove(i.lhs, i.rhs, i.name, X, i.domains)
    return Result(i.name, "identity", i.source, p.status, p.method, p.seconds)


def _numeric_limit(expr, var, point, value) -> tuple[bool, str]:
    """Evaluate along var → point at 50 digits, other symbols fixed at 0.7 / 1.3 (positive)."""
    others = sorted(expr.free_symbols - {var}, key=lambda s: s.name)
    subs = {s: sp.Float(0.7 + 0.6 * k, 50) for k, s in enumerate(others)}
    target = sp.sympify(value).subs(subs)
    steps = [10**k for k in (2, 4, 8)] if point in (sp.oo, -sp.oo) else [sp.Float(10) ** -k for k in (4, 8, 16)]
    sign = -1 if point == -sp.oo else 1
    errs = []
    with mpmath.workdps(50):
        for h in steps:
            v = sign * h if point in (sp.oo, -sp.oo) else point + h
            errs.append(abs(sp.N(to_textbook(expr).subs(subs).subs(var, v), 50) - sp.N(target, 50)))
    ok = errs[-1] <= errs[0] and errs[-1] < 1e-6
    return ok, f"numeric: {len(steps)} points approaching {point} at 50 digits, last error {float(errs[-1]):.1e}"


def _check_limit(lim: Limit) -> Result:
    t0 = time.perf_counter()
    found = None
    for how, prep in (("limit", lambda e: e), ("simplify, then limit", sp.simplify)):
        try:
            with time_budget(30.0):
                found = sp.limit(prep(to_textbook(lim.expr)), lim.var, lim.point)
        except (_Timeout, Exception):  # noqa: BLE001 - next attempt, then numbers (labelled)
            found = None
        if found is not None and not found.has(sp.Limit) and prove(found, lim.value, lim.name, X).ok:
            return Result(lim.name, "limit", lim.source, "proved", f"symbolic: {how} = {found}",
                          time.perf_counter() - t0)
    ok, method = _numeric_limit(lim.expr, lim.var, lim.point, lim.value)
    return Result(lim.name, "limit", lim.source, "proved" if ok else "failed", method, time.perf_counter() - t0)


def _check_extremum(e: Extremum) -> Result:
    """Symbolic: the value at ``at`` is ``value``, ``at`` is a critical point, and the maximum over
    the reals (SymPy's ``maximum``) equals it. Else a 20001-point grid at 30 digits."""
    t0 = time.perf_counter()
    expr = to_textbook(e.expr)
    try:
        with time_budget(60.0):
            crit = sp.simplify(sp.diff(expr, X).subs(X, e.at)) == 0
            at_value = sp.simplify(expr.subs(X, e.at) - e.value) == 0
            top = sp.maximum(expr, X, sp.S.Reals)
        if crit and at_value and sp.simplify(top - e.value) == 0:
            return Result(e.name, "extremum", e.source, "proved",
                          "symbolic: f'(at) = 0, f(at) = value, sympy.maximum over R", time.perf_counter() - t0)
    except (_Timeout, Exception):  # noqa: BLE001
        pass
    f = sp.lambdify([X], expr, modules="mpmath")
    with mpmath.workdps(30):
        grid = [mpmath.mpf(k) / 400 - 25 for k in range(20001)]
        best = max(grid, key=f)
        ok = abs(f(best) - sp.N(e.value, 30)) < 1e-9 and abs(best - sp.N(e.at, 30)) < 1e-2
    return Result(e.name, "extremum", e.source, "proved" if ok else "failed",
                  f"numeric: max over a 20001-point grid on [-25, 25] at 30 digits is {mpmath.nstr(f(best), 12)} "
                  f"at {mpmath.nstr(best, 6)}", time.perf_counter() - t0)


@cached("check", key=lambda item: item)
def check(item) -> Result:
    """Prove one Identity, Limit or Extremum."""
    if isinstance(item, Limit):
        return _check_limit(item)
    if isinstance(item, Extremum):
        return _check_extremum(item)
    return _check_identity(item)


def run(names: list[str] | None = None, extra: tuple = ()) -> list[Result]:
    """Check the identities (those involving ``names``, or all) and the derived kernels' proofs, for
    entries of every kind through one protocol (``entry.derive()``)."""
    from ..catalog import entries

    stated = IDENTITIES + tuple(user_identities()) + tuple(extra)
    items = [i for i in stated if not names or set(i.involves) & set(names)]
    results = [check(i) for i in items]
    for e in entries():
        if not names or e.name in names:
            results += kernel_results(e, e.derive())
    return results


def kernel_results(entry, d) -> list[Result]:
    """One derived entry's proofs as results: each kernel's (an elementwise gradient is proven equal to the
    definition's derivative; a kernel over a row has its explicit-K cross-check, then its stable form),
    the formula as the source writes it, and a row derivation that failed."""
    results = []
    for k in d.kernels:
        if k.fused:  # a fused kernel repeats two proven ones
            continue
        if k.lowered is None:  # elementwise
            kind = "stable form" if k.role == "f" else "derivative"
            results.append(Result(k.proof.name, kind, entry.source, k.proof.status, k.proof.method, k.proof.seconds))
            continue
        if k.wrt is not None:
            results.append(Result(f"{k.name} = d/d{k.wrt} at {k.check.partition(' at ')[0]}", "derivative",
                                  entry.source, "proved", _labelled(k.check), 0.0))
        results.append(Result(f"{k.name}: stable = derived", "stable form", entry.source, k.proof.status,
                              _labelled(k.proof.method), k.proof.seconds))
    for p in d.proofs:
        results.append(Result(p.name, "as written", entry.source, p.status, p.method, p.seconds))
    for exc in d.raised:  # a derivative or a stable form over a row that does not hold
        results.append(Result(exc.name, "derivative", entry.source, "failed", _labelled(exc.method), 0.0))
    return results


def _labelled(method: str) -> str:
    """Row proofs name their stages; a result is numeric if any stage was."""
    if method.startswith(("symbolic:", "numeric:")):
        return method
    return f"{'numeric' if 'numeric' in method else 'symbolic'}: {method}"
