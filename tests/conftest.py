"""Shared fixtures: the derived catalog (computed once per test session)."""
from __future__ import annotations

import functools

import pytest

from symact.catalog import all_entries
from symact.derive import derive


@functools.cache
def derived_catalog():
    """{name: DerivedActivation} for the whole built-in catalog, derived once per process (~13 s):
    for the fixture, and for test parameters that depend on the derived kernels."""
    return {e.name: derive(e) for e in all_entries()}


@pytest.fixture(scope="session")
def derived():
    """{name: DerivedActivation} for the whole built-in catalog."""
    return derived_catalog()


def pytest_configure(config):
    config.addinivalue_line("markers", "torch: cross-checks against PyTorch (a test-only dependency)")
