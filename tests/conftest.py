"""Shared fixtures: the derived catalog (computed once per test session)."""
from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile

import pytest

from symact.catalog import all_entries
from symact.derive.scalar import derive


@functools.cache
def derived_catalog():
    """{name: Derivation} for the whole built-in catalog, derived once per process (~13 s):
    for the fixture, and for test parameters that depend on the derived kernels."""
    return {e.name: derive(e) for e in all_entries()}


@pytest.fixture(scope="session")
def derived():
    """{name: Derivation} for the whole built-in catalog."""
    return derived_catalog()


def pytest_addoption(parser):
    parser.addoption("--no-torch", action="store_true",
                     help="hide PyTorch (import torch fails, torch tests skip): what a plain pytest without "
                          "torch checks; tests/mutation/run.py does the same for its runs")


def pytest_configure(config):
    # the derivation cache of this session only (and of the CLI runs it starts): never the user's.
    # A test that patches a derivation step (a code change the cache cannot see) runs with --no-cache.
    config._symact_cache = os.environ["SYMACT_CACHE_DIR"] = tempfile.mkdtemp(prefix="symact-test-cache-")
    config.addinivalue_line("markers", "torch: cross-checks against PyTorch (a test-only dependency)")
    if config.getoption("--no-torch"):
        if sys.modules.get("torch") is not None:
            raise pytest.UsageError("--no-torch: torch was imported before the tests started")
        sys.modules["torch"] = None  # `import torch` raises ModuleNotFoundError


def pytest_unconfigure(config):
    if getattr(config, "_symact_cache", None):
        shutil.rmtree(config._symact_cache, ignore_errors=True)
