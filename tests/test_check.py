"""`symact check`: every identity of the notes proven, with its method; a false one fails."""
from __future__ import annotations

import json

import pytest
import sympy as sp

from symact import cli, verify
from symact.catalog import X
from symact.catalog.identities import IDENTITIES, Identity, Limit
from symact.primitives import Sigmoid


@pytest.fixture(scope="module")
def results():
    return verify.run()


def test_all_proven_and_enough_of_them(results):
    failed = [r for r in results if r.status != "proved"]
    assert not failed, failed
    stated = [r for r in results if r.kind in ("identity", "limit", "extremum")]
    assert len(stated) >= 30
    for r in results:
        assert r.method.startswith(("symbolic:", "numeric:")), r


@pytest.mark.parametrize("name", ["sigmoid' = sigmoid(1 - sigmoid)", "tanh(x) = 2 sigmoid(2x) - 1",
                                  "softplus' = sigmoid", "softmax with K=2 = sigmoid(x1 - x0)"])
def test_the_briefs_four_identities_are_symbolic(results, name):
    r = next(r for r in results if r.name == name)
    assert r.status == "proved" and r.method.startswith("symbolic"), r


def test_every_identity_names_its_seed():
    for i in IDENTITIES:
        assert "seeds/0" in i.source, i.name


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
