"""What a non-editable install ships: every sub-package of symact/ must be listed in pyproject.toml
(setuptools' explicit list), or `pip install .` installs a symact whose imports fail."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "symact").rglob("__init__.py")
             if "__pycache__" not in p.parts}
    assert found, "no packages found under symact/"
    assert found <= listed, f"not in pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"
