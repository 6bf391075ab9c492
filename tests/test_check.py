"""`symact check`: every identity of the notes proven, with its method; a false one fails."""
from __future__ import annotations

import json

import pytest
import sympy as sp

from symact import cli
from symact.verify import check as verify
from symact.catalog import X, all_entries
from symact.catalog.identities import IDENTITIES, Extremum, Identity, Limit
from symact.catalog.losses import LOSSES
from symact.catalog.row_losses import ROW_LOSSES
from symact.catalog.vectors import VECTORS
from symact.primitives import Sigmoid


@pytest.fixture(scope="module")
def results():
    return verify.run()


def test_all_proven_and_every_stated_identity_checked(results):
    failed = [r for r in results if r.status != "proved"]
    assert not failed, failed
    stated = [(r.name, r.kind) for r in results if r.kind in ("identity", "limit", "extremum")]
    kind = {Identity: "identity", Limit: "limit", Extremum: "extremum"}
    assert sorted(stated) == sorted((i.name, kind[type(i)]) for i in IDENTITIES)
    for r in results:
        assert r.method.startswith(("symbolic:", "numeric:")), r


def test_every_catalog_function_has_its_proofs_checked(results):
    """Each activation's, vector function's and loss's stable form and derivatives appear in the
    report (taken from the catalog, so a new entry is covered without touching this file)."""
    names = {r.name for r in results}
    for e in all_entries():
        assert f"{e.name}: stable form = definition" in names, e.name
        for wrt in ["x"] + [p.name for p in e.learnable]:
            grad = f"{e.name}_grad" + ("" if wrt == "x" else f"_{wrt}")
            assert f"{grad}: stable df/d{wrt} = df/d{wrt} of the definition" in names, grad
    for v in VECTORS:
        assert {f"{v.name}: stable = derived", f"{v.name}_vjp: stable = derived",
                f"{v.name}_vjp = d/dx at K = {', '.join(map(str, v.layout.sizes))}"} <= names, v.name  # the vjp's explicit-K cross-check
    for loss in LOSSES:
        assert f"{loss.name}_elementwise: stable form = definition" in names, loss.name
        assert (f"{loss.name}_elementwise_grad: stable df/dx = df/dx of the definition" in names) == loss.grad
    for loss in ROW_LOSSES:  # one kernel per target kind (label, prob, mask …), each with its gradients
        rows = [r for r in results if r.name.startswith(f"{loss.name}_")]
        assert any(r.kind == "stable form" for r in rows) and any(r.kind == "derivative" for r in rows), loss.name


@pytest.mark.parametrize("name", ["sigmoid' = sigmoid(1 - sigmoid)", "tanh(x) = 2 sigmoid(2x) - 1",
                                  "softplus' = sigmoid", "softmax with K=2 = sigmoid(x1 - x0)"])
def test_the_briefs_four_identities_are_symbolic(results, name):
    r = next(r for r in results if r.name == name)
    assert r.status == "proved" and r.method.startswith("symbolic"), r


def test_every_identity_names_its_source():
    for i in IDENTITIES:
        assert i.source.strip(), i.name


@pytest.mark.parametrize("bad", [
    Identity("false: tanh = 2 sigmoid(x) - 1", sp.tanh(X), 2 * Sigmoid(X) - 1, "test"),
    Identity("false: off by 1e-40", sp.log(1 + sp.exp(X)), sp.log(1 + sp.exp(X)) + sp.Rational(1, 10**40), "test"),
    Limit("false: sigmoid -> 1/2 at inf", Sigmoid(X), X, sp.oo, sp.Rational(1, 2), "test"),
])
def test_a_false_identity_fails(bad):
    assert verify.check(bad).status == "failed"


def test_cli_exit_status_and_json(monkeypatch, capsys):
    assert cli.main(["check", "relu", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"name", "status", "method", "source", "kind", "seconds"} <= set(rows[0])
    assert any(r["name"] == "relu = max(0, x)" for r in rows)
    monkeypatch.setattr(verify, "IDENTITIES", IDENTITIES + (
        Identity("false: relu = x", X, sp.Piecewise((X, X > 0), (0, True)), "test", ("relu",)),))
    assert cli.main(["check", "relu"]) == 1
    assert "FAIL false: relu = x" in capsys.readouterr().out
