"""Prove ``lhs == rhs`` and say how.

Cheap symbolic stages run first, each under a time budget (``simplify`` and ``equals`` can take
seconds or raise); piecewise expressions are split into intervals. When no symbolic stage succeeds,
both sides are evaluated with mpmath at 60 digits on a few hundred random points plus every
breakpoint, and the result is reported as *numeric* — never passed off as symbolic. A false identity
fails at the numeric stage.
"""
from __future__ import annotations

import os
import random
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import mpmath
import sympy as sp

from ..primitives import to_textbook

NUMERIC_DIGITS = 60
NUMERIC_POINTS = 200


class ProofFailure(AssertionError):
    """A derived gradient or stable form that was not proven equal to its definition, raised by every
    stage that proves while it derives (vector functions, row losses, their stable forms); ``generate``
    collects them per entry and reports each like a failed :class:`Proof` (exit status 1, nothing
    written)."""

    status = "failed"
    ok = False

    def __init__(self, name: str, method: str):
        super().__init__(f"{name}: {method}")
        self.name, self.method = name, method


class ProofFailures(Exception):
    """Every entry's :class:`ProofFailure` of one render, collected (``failures``)."""

    def __init__(self, failures):
        super().__init__("; ".join(str(f) for f in failures))
        self.failures = list(failures)


@dataclass(frozen=True)
class Proof:
    """The outcome of one proof: ``status`` is 'proved' or 'failed'; ``method`` says how."""

    name: str
    status: str
    method: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == "proved"


class _Timeout(Exception):
    pass


# Budgets stop SymPy steps that may never finish (simplify on some sums, solve on x·tanh(x³)). Where a
# timeout only moves on to the next stage (a "fallback" budget), the outcome — and so generated/ —
# would depend on machine load if a step ever came near its budget. So each fallback budget is at
# least ~10× its step's slowest measured time (2 cores at load 8), none of the built-in catalog's
# steps times out at all, and ``SYMACT_BUDGET_SCALE`` scales them: tests/test_generate.py builds the
# catalog with budgets cut to a quarter and requires byte-identical output. Where a timeout is an
# error (derive's limits, from_output's solve) the budget is not scaled: a step either finishes or
# generation fails, naming it.
BUDGET_SCALE = float(os.environ.get("SYMACT_BUDGET_SCALE", "1"))
_TIMEOUTS = [0]  # budgets that ran out in this process: symact.cache stores no result that met one


def timeouts() -> int:
    return _TIMEOUTS[0]


@contextmanager
def time_budget(seconds: float, *, fallback: bool = True):
    """Raise _Timeout after ``seconds`` (× BUDGET_SCALE for a fallback budget); main thread only,
    elsewhere the step simply runs. Nested budgets keep the outer one's deadline: an inner budget
    never outlives it, and the outer timer is re-armed with what is left of it on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seconds = seconds * BUDGET_SCALE if fallback else seconds
    outer_left, _ = signal.getitimer(signal.ITIMER_REAL)
    start = time.monotonic()

    def handler(signum, frame):
        _TIMEOUTS[0] += 1
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_left) if outer_left > 0 else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if outer_left > 0:  # re-arm the enclosing budget (within 1 ms if already spent, outside this block)
            signal.setitimer(signal.ITIMER_REAL, max(outer_left - (time.monotonic() - start), 1e-3))


def _is_zero(d: sp.Expr) -> str | None:
    """Symbolic stages on a Piecewise-free difference; the name of the stage that gave 0."""
    stages = (
        ("structural", lambda e: e),
        ("cancel(together)", lambda e: sp.cancel(sp.together(e))),
        ("rewrite(exp) + cancel", lambda e: sp.cancel(sp.together(e.rewrite(sp.exp)))),
        ("rewrite(erf) + expand", lambda e: sp.expand(e.rewrite(sp.erf))),
        ("expand_log + cancel", lambda e: sp.cancel(sp.expand_log(e, force=True))),
        ("exp(d) - 1 = 0", lambda e: sp.cancel(sp.expand(sp.exp(e)) - 1)),
    )
    for name, stage in stages:
        try:
            with time_budget(10.0):
                if stage(d) == 0:
                    return name
        except (_Timeout, Exception):  # noqa: BLE001 - a failed stage just moves on
            continue
    try:
        with time_budget(30.0):
            if sp.simplify(d) == 0:
                return "simplify"
    except (_Timeout, Exception):  # noqa: BLE001
        pass
    return None


def _piecewise_zero(d: sp.Expr, x: sp.Symbol) -> str | None:
    """Split a univariate Piecewise difference into intervals and prove each piece is 0."""
    try:
        with time_budget(30.0):
            folded = sp.piecewise_fold(d)
            if not isinstance(folded, sp.Piecewise):
                m = _is_zero(folded)
                return f"piecewise_fold, then {m}" if m else None
            pairs = folded.as_expr_set_pairs(sp.Interval(-sp.oo, sp.oo))
    except (_Timeout, Exception):  # noqa: BLE001
        return None
    methods = []
    for piece, where in pairs:
        if where is sp.S.EmptySet:
            continue
        if isinstance(where, sp.FiniteSet):
            if all(sp.simplify(piece.subs(x, p)) == 0 for p in where):
                methods.append("point")
                continue
            return None
        m = _is_zero(piece)
        if m is None:
            return None
        methods.append(m)
    n = len(methods)
    return f"piecewise: {n} pieces ({', '.join(sorted(set(methods)))})"


def _points(free: list[sp.Symbol], x: sp.Symbol, breakpoints: list[float], rng: random.Random, domains: dict):
    """Random evaluation points: x over several scales plus the breakpoints; parameters drawn from
    their declared domain (default (0.1, 3) for positive ones, ±(0.1, 3) otherwise)."""
    xs = [rng.uniform(-1, 1) * 10 ** rng.uniform(-3, 1.3) for _ in range(NUMERIC_POINTS)]
    for b in breakpoints:
        xs += [b, b + 1e-9, b - 1e-9]

    def draw(s):
        if s.name in domains:
            lo, hi = domains[s.name]
            return rng.uniform(lo, hi)
        return rng.uniform(0.1, 3.0) * (1 if s.is_positive else rng.choice((-1, 1)))

    for xv in xs:
        yield {s: (xv if s == x else draw(s)) for s in free}


def breakpoints(expr: sp.Expr, x: sp.Symbol) -> list[float]:
    """Points where a Piecewise/Max/Min condition in ``expr`` switches (numeric, x only)."""
    pts: set[float] = set()
    for rel in expr.atoms(sp.Rel):
        if rel.free_symbols == {x}:
            try:
                for s in sp.solve(sp.Eq(rel.lhs, rel.rhs), x):
                    if s.is_real:
                        pts.add(float(s))
            except Exception:  # noqa: BLE001
                pass
    for m in expr.atoms(sp.Max, sp.Min):
        for a in m.args:
            for b in m.args:
                if a is not b and (a - b).free_symbols == {x}:
                    try:
                        pts.update(float(s) for s in sp.solve(sp.Eq(a, b), x) if s.is_real)
                    except Exception:  # noqa: BLE001
                        pass
    return sorted(pts)


def numeric_check(lhs: sp.Expr, rhs: sp.Expr, x: sp.Symbol, seed: int = 0, domains: dict | None = None) -> tuple[bool, str]:
    free = sorted((lhs.free_symbols | rhs.free_symbols) | {x}, key=lambda s: s.name)
    f = sp.lambdify(free, lhs, modules="mpmath")
    g = sp.lambdify(free, rhs, modules="mpmath")
    bps = breakpoints(lhs, x) + breakpoints(rhs, x)
    rng = random.Random(seed)
    worst = mpmath.mpf(0)
    n = 0
    with mpmath.workdps(NUMERIC_DIGITS):
        for point in _points(free, x, bps, rng, domains or {}):
            vals = [mpmath.mpf(point[s]) for s in free]
            a, b = f(*vals), g(*vals)
            scale = max(mpmath.mpf(1), abs(a), abs(b))
            err = abs(a - b) / scale
            n += 1
            worst = max(worst, err)
            if err > mpmath.mpf(10) ** (-(NUMERIC_DIGITS - 15)):
                return False, f"numeric: differs at {dict((s.name, float(point[s])) for s in free)}: {a} vs {b}"
    return True, f"numeric: {n} points at {NUMERIC_DIGITS} digits incl. {len(bps)} breakpoints, max rel diff {mpmath.nstr(worst, 2)}"


def prove(lhs: sp.Expr, rhs: sp.Expr, name: str, x: sp.Symbol, domains: dict | None = None) -> Proof:
    """Prove ``lhs == rhs`` for all real x (and parameters); stable primitives are opened first."""
    t0 = time.perf_counter()
    a, b = to_textbook(sp.sympify(lhs)), to_textbook(sp.sympify(rhs))
    free = (a - b).free_symbols
    if x not in free and len(free) == 1:
        (x,) = free  # a one-variable identity in another letter (Huber in a): split and sample in it
    d = a - b
    if d.has(sp.Max, sp.Min, sp.Heaviside):
        d = d.rewrite(sp.Piecewise)
    method = None
    if d.has(sp.Piecewise):
        method = _piecewise_zero(d, x)
    else:
        s = _is_zero(d)
        method = f"symbolic: {s}" if s else None
    if method and not method.startswith("symbolic"):
        method = f"symbolic: {method}"
    if method is None:
        ok, method = numeric_check(a, b, x, domains=domains)
        if not ok:
            return Proof(name, "failed", method, time.perf_counter() - t0)
    return Proof(name, "proved", method, time.perf_counter() - t0)
