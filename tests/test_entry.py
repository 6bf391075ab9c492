"""The one entry protocol and the one pipeline (symact.catalog.entry, symact.derive.kernel): every catalog
entry of every kind is an Entry, derives into one Derivation of one Kernel type, and generate, check and
the torch/JAX targets take every kind from ``catalog.entries()`` through it — so a subset of the catalog
with one entry of each kind goes through each of them, and nothing there names a kind's list."""
from __future__ import annotations

import pytest

from symact import catalog
from symact.catalog import Param
from symact.catalog.entry import Entry
from symact.catalog.row_losses import RowLoss
from symact.catalog.vectors import VectorFunction
from symact.derive.kernel import Derivation, Kernel


ROW_KINDS = (VectorFunction, RowLoss)  # derived at symbolic K, lowered to loops over a row


@pytest.fixture(scope="module")
def derivations():
    return {e.name: e.derive() for e in catalog.entries()}


def test_every_entry_follows_the_protocol():
    entries = catalog.entries()
    assert len({e.name for e in entries}) == len(entries)
    for e in entries:
        assert isinstance(e, Entry), e.name
        assert e.name and e.source and e.summary and e.kind and e.package in ("activations", "vectors", "losses")
        assert all(isinstance(p, Param) for p in e.params), e.name
        assert e.name in e.kernel_names(), e.name
        assert catalog.find(e.name) is e
    with pytest.raises(KeyError, match="no_such_function"):
        catalog.find("no_such_function")


def test_every_derivation_is_one_type_and_proven(derivations):
    for e in catalog.entries():
        d = derivations[e.name]
        assert type(d) is Derivation and d.entry is e, e.name
        assert d.kernels and all(type(k) is Kernel for k in d.kernels), e.name
        assert d.ok and not d.raised, (e.name, d.failures)
        for k in d.kernels:
            assert k.proof.ok, k.name
            # a kernel over a row carries its loops and how its general-K derivation was checked
            assert (k.lowered is not None) == isinstance(e, ROW_KINDS), k.name
            if isinstance(e, ROW_KINDS) and k.wrt is not None:
                assert k.check.startswith("K = "), (k.name, k.check)


def test_a_failed_row_derivation_is_collected_not_raised(monkeypatch):
    from symact.derive import row_loss
    from symact.stabilize import rowwise
    from symact.verify.prove import Proof

    def failed(stable, derived, name, *args, **kwargs):
        return Proof(name, "failed", "numeric: differs (simulated)", 0.0)

    monkeypatch.setattr(rowwise, "prove_row", failed)
    monkeypatch.setattr(row_loss, "_DERIVED", {})
    monkeypatch.setenv("SYMACT_CACHE", "0")  # the patched prover is a change the cache cannot see
    for e in catalog.entries():
        if not isinstance(e, ROW_KINDS):
            continue  # elementwise entries: their failed proofs are Proofs (test_generate)
        d = e.derive()
        if any(k.stable != k.textbook for k in d.kernels):  # "no rewrite needed" is never a proof to fail
            continue
        assert not d.ok and d.raised and not d.kernels, e.name
        assert e.name in str(d.failures[0].name), e.name
        break
    else:
        pytest.fail("no row entry has a stable rewrite to fail")


@pytest.fixture
def one_of_each_kind(monkeypatch):
    """catalog.entries() cut to the first entry of each kind (each package and entry class)."""
    chosen = {}
    for e in catalog.entries():
        chosen.setdefault(type(e), e)
    subset = list(chosen.values())
    monkeypatch.setattr(catalog, "entries", lambda: subset)
    return subset


def test_generate_takes_every_kind_from_entries(one_of_each_kind):
    from symact.build import build

    lines = []
    result = build(docs=False, progress=lines.append)
    assert not result.failures and result.functions == len(one_of_each_kind) == 4
    for e in one_of_each_kind:
        assert f"{e.package}/{e.name}.py" in result.files, e.name
        assert any(line.split("] ")[1].startswith(e.name) for line in lines), e.name
    assert sum(1 for f in result.files if f.count("/") == 1 and not f.endswith("__init__.py")) == 4


def test_check_takes_every_kind_from_entries(one_of_each_kind):
    from symact.verify.check import run

    results = run([e.name for e in one_of_each_kind])
    for e in one_of_each_kind:
        mine = [r for r in results if r.name.startswith(e.name)]
        assert any(r.kind == "stable form" for r in mine), e.name
        assert all(r.status == "proved" for r in mine), e.name


@pytest.mark.parametrize("target", ["torch", "jax"])
def test_the_framework_targets_take_every_kind_from_entries(one_of_each_kind, target):
    from symact.codegen import build_target

    result = build_target(target, None, package_hint="p", progress=lambda line: None)
    assert not result.failures
    for e in one_of_each_kind:
        assert f"{e.package}/{e.name}.py" in result.files, e.name
