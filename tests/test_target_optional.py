"""torch and JAX are optional: ``import symact.kernels`` (and symact's own code generation) never
imports them, and a generated torch/JAX package needs only its framework (no SymPy, Numba or symact
at run time; torch itself imports SymPy, so SymPy is not blocked there). Each check runs in a fresh interpreter whose import system refuses the blocked modules."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

BLOCKER = textwrap.dedent("""
    import sys
    BLOCKED = {blocked!r}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked for this test: {{name}}")
            return None

    sys.meta_path.insert(0, Blocker())
""")


def _run(blocked, body, cwd=None):
    code = BLOCKER.format(blocked=set(blocked)) + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_kernels_never_import_torch_or_jax():
    out = _run({"torch", "jax", "jaxlib"}, """
        import numpy as np
        import symact.kernels as k
        from symact.catalog import all_entries
        from symact.catalog.vectors import VECTORS
        from symact.catalog.losses import LOSSES
        x = np.linspace(-3.0, 3.0, 7)
        for e in all_entries():
            getattr(k, e.name)(x)
        for v in VECTORS:
            getattr(k, v.name)(np.resize(x, 7 * v.layout.parts).reshape(1, -1))  # glu: halves
        import symact.codegen, symact.codegen.package  # the target printers need neither framework
        print(len(all_entries()), "torch" in sys.modules, "jax" in sys.modules)
    """)
    assert out.split()[1:] == ["False", "False"]


@pytest.mark.parametrize("target", ["torch", "jax"])
def test_generated_package_needs_only_its_framework(tmp_path, target):
    pytest.importorskip(target, reason=f"{target} is a test-only dependency; .ci/run installs it")
    from symact.cli import main

    assert main(["generate", "--target", target, "--out", str(tmp_path / "pkg"), "--only", "sigmoid", "softmax",
                 "cross_entropy"]) == 0
    call = {"torch": """
        import torch
        x = torch.linspace(-5, 5, 11, dtype=torch.float64, requires_grad=True)
        pkg.sigmoid(x).sum().backward()
        pkg.cross_entropy(pkg.softmax(x.reshape(1, -1), -1), torch.tensor([3]))
    """, "jax": """
        import jax, jax.numpy as jnp
        jax.grad(lambda v: pkg.sigmoid(v).sum())(jnp.linspace(-5.0, 5.0, 11))
        pkg.cross_entropy(pkg.softmax(jnp.linspace(-5.0, 5.0, 11).reshape(1, -1), -1), jnp.asarray([3]))
    """}[target]
    body = "import pkg\n" + textwrap.dedent(call) + "print(sorted(m for m in ('numba', 'symact') if m in sys.modules))\n"
    out = _run({"numba", "symact"}, body, cwd=tmp_path)
    assert out.strip() == "[]"


def test_reference_docs_name_the_targets_of_every_function():
    """The committed reference (Markdown and LaTeX) has one targets line per catalog function, naming
    the numba kernel, the torch function and nn.Module, and the JAX function."""
    import re
    from pathlib import Path

    from symact.catalog import all_entries
    from symact.catalog.losses import LOSSES
    from symact.catalog.row_losses import ROW_LOSSES
    from symact.catalog.vectors import VECTORS
    from symact.codegen.torch import module_name

    names = [e.name for e in [*all_entries(), *VECTORS, *LOSSES, *ROW_LOSSES]]
    docs = Path(__file__).resolve().parents[1] / "generated" / "docs"
    md = [line for line in (docs / "reference.md").read_text().splitlines() if line.startswith("**Targets:**")]
    found = {re.search(r"`symact\.kernels\.(\w+)`", line).group(1): line for line in md}
    assert sorted(found) == sorted(names) and len(md) == len(names)
    for name, line in found.items():
        assert f"torch: `{name}`, `{module_name(name)}` (nn.Module)" in line, line
        assert f"jax: `{name}` (`symact generate --target jax --out DIR`)" in line, line
    tex = (docs / "reference.tex").read_text()
    assert tex.count(r"\textbf{Targets:}") == len(names)
