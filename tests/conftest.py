"""Shared fixtures: the derived catalog (computed once per test session)."""
from __future__ import annotations

import pytest

from symact.catalog import all_entries
from symact.derive import derive


@pytest.fixture(scope="session")
def derived():
    """{name: DerivedActivation} for the whole built-in catalog."""
    return {e.name: derive(e) for e in all_entries()}


def pytest_configure(config):
    config.addinivalue_line("markers", "torch: cross-checks against PyTorch (a test-only dependency)")
