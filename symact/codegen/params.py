"""The one parameter context: what every template (Numba, torch, JAX, docs' call lines) knows of a
catalog :class:`~symact.catalog.Param`, built here for every kind of entry."""
from __future__ import annotations

import math


def default_text(value) -> str:
    """A default as Python source: ``repr`` of the float, ``math.inf`` for an infinite one."""
    v = float(value)
    if math.isinf(v):
        return "math.inf" if v > 0 else "-math.inf"
    return repr(v)


def param_context(p) -> dict:
    """``name``, ``default`` (source text), ``doc`` and the flags the front ends check (``positive``,
    ``allow_inf``) or the frameworks need (``learnable``)."""
    return {"name": p.name, "default": default_text(p.value), "doc": p.doc, "learnable": p.learnable,
            "positive": p.positive, "allow_inf": p.allow_inf}


def param_contexts(params) -> list[dict]:
    return [param_context(p) for p in params]
