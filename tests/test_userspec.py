"""Users' own functions: spec files and --define, parsed safely, with clear errors, same guarantees."""
from __future__ import annotations

import builtins
import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

from reference import measure
from symact.derive import derive
from symact.userspec import SpecError, parse_define, validate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "my_functions.py"
MISH = "mish = x*tanh(log(1 + exp(x)))"
PENALIZED = "penalized_tanh(a=0.25) = Piecewise((tanh(x), x > 0), (a*tanh(x), True))"


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symact", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def user_package(tmp_path_factory):
    """The README's --define example, generated into a package and imported by its directory name."""
    root = tmp_path_factory.mktemp("user")
    r = run("generate", "--define", MISH, "--define", PENALIZED, "--out", str(root / "mykernels"),
            "--only", "mish", "penalized_tanh")
    assert r.returncode == 0, r.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("mykernels")
    finally:
        sys.path.remove(str(root))


def test_define_examples_work_as_written(user_package):
    m = user_package
    assert {"mish", "mish_grad", "penalized_tanh", "penalized_tanh_grad"} <= set(m.__all__)
    x = np.array([-2.0, 0.5, 3.0])
    np.testing.assert_allclose(m.mish(x), x * np.tanh(np.log1p(np.exp(x))), rtol=1e-15)
    np.testing.assert_allclose(m.penalized_tanh(x, a=0.5), np.where(x > 0, np.tanh(x), 0.5 * np.tanh(x)), rtol=1e-15)
    assert m.mish(np.float32([800.0]))[0] == 800.0  # the textbook log(1 + e^x) overflows there


@pytest.mark.parametrize("text,kernel", [(MISH, "mish"), (MISH, "mish_grad"),
                                         (PENALIZED, "penalized_tanh"), (PENALIZED, "penalized_tanh_grad")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_user_kernels_get_the_same_accuracy_testing(user_package, text, kernel, dtype):
    d = derive(parse_define(text))
    worst, where, excess = measure(d, kernel, dtype, user_package)
    assert not excess, excess[:5]


def test_spec_file_generate_import_and_check(tmp_path):
    r = run("generate", "--spec", str(EXAMPLE), "--out", str(tmp_path / "mykernels"), "--only", "mish", "swish_pt")
    assert r.returncode == 0, r.stderr
    code = ("import numpy as np, mykernels as m\n"
            "print(m.swish_pt(np.array([1.0, 10.0]), beta=2.0).round(6).tolist(), m.swish_pt_grad_beta(1.0))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    s1, s6 = 1 / (1 + np.exp(-2.0)), 6 / (1 + np.exp(-12.0))
    assert out.stdout.startswith(str([round(float(s1), 6), round(float(s6), 6)]))
    r = run("check", "--spec", str(EXAMPLE), "mish", "swish_pt")
    assert r.returncode == 0 and "mish = x·tanh(softplus(x))" in r.stdout


HOSTILE = [
    ("__import__('os').system('touch PWNED')", "only plain function calls|not allowed"),
    ("exp(x).__class__.__bases__", "attribute access is not allowed"),
    ("x.real", "attribute access is not allowed"),
    ("(lambda: 1)()", "only plain function calls"),
    ("[c for c in ()]", "ListComp is not allowed"),
    ("x**1e999999", "out of range"),
    ("1e999999", "out of range"),
    ("x**(10**10)", "too large"),
    ("exp(" * 300 + "x" + ")" * 300, "nested|cannot parse"),
    ("x" + "+x" * 3000, "characters long"),
    ("globals()", "unknown function 'globals'"),
    ("exp(x, base=2)", "keyword"),
    ("'x'", "only numbers"),
]


@pytest.mark.parametrize("body,message", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_expressions_are_refused_without_running(tmp_path, monkeypatch, body, message):
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(builtins, "exec", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(sympy, "sympify", lambda *a, **k: calls.append(a))
    with pytest.raises(SpecError, match=message):
        parse_define(f"bad = {body}")
    assert not calls and not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("args,message", [
    (["--define", "f = foo(x)"], "f: unknown function 'foo'"),
    (["--define", "f = x*y"], "f: unknown symbol 'y'"),
    (["--define", "f = sqrt(x)"], "f: the formula is not real-valued"),
    (["--define", "f = log(x)"], "f: the formula is not real-valued"),
    (["--define", "relu = x"], "relu: the name is already used by a built-in catalog entry"),
    (["--define", "f = x", "--define", "f = 2*x"], "f: the name is already used by another definition"),
    (["--define", "f(x=1) = x"], "f: parameter name 'x' is reserved"),
    (["--define", "f(a=inf) = a*x"], "parameter 'a=inf' must look like name=1.0"),
    (["--define", "no equals sign"], "expected 'name = expression'"),
    (["--define", "F = x"], "F: a name must be lower case"),
    (["--spec", "does_not_exist.py"], "spec file does_not_exist.py does not exist"),
])
def test_user_errors_are_clear_and_tracebackless(tmp_path, args, message):
    r = run("generate", *args, "--out", str(tmp_path / "k"), cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "k").exists()


def test_spec_that_fails_to_import(tmp_path):
    bad = tmp_path / "bad_spec.py"
    bad.write_text("import nonexistent_module_xyz\n")
    r = run("check", "--spec", str(bad))
    assert r.returncode == 2 and "failed to import: ModuleNotFoundError" in r.stderr and "Traceback" not in r.stderr
    r = run("check", "--spec", str(bad), "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_not_differentiable_and_free_symbols_in_spec_files(tmp_path):
    spec = tmp_path / "spec.py"
    spec.write_text("import sympy as sp\nfrom symact.catalog import Activation\n"
                    "ACTIVATIONS = [Activation('opaque', lambda x: sp.Function('g')(x))]\n")
    r = run("generate", "--spec", str(spec), "--out", str(tmp_path / "k"))
    assert r.returncode == 2 and "opaque: the formula is not differentiable in closed form" in r.stderr
    spec.write_text("import sympy as sp\nfrom symact.catalog import Activation\n"
                    "ACTIVATIONS = [Activation('leaky', lambda x: sp.Max(sp.Symbol('k') * x, x))]\n")
    r = run("generate", "--spec", str(spec), "--out", str(tmp_path / "k"))
    assert r.returncode == 2 and "leaky: free symbols k are neither x nor declared parameters" in r.stderr


def test_false_identity_in_a_spec_fails_check_and_generate(tmp_path):
    spec = tmp_path / "spec.py"
    spec.write_text(EXAMPLE.read_text().replace("X * tanh(Softplus(X))", "X * tanh(Softplus(2 * X))"))
    r = run("check", "--spec", str(spec), "mish")
    assert r.returncode == 1 and "FAIL mish = x·tanh(softplus(x))" in r.stdout
    r = run("generate", "--spec", str(spec), "--out", str(tmp_path / "k"), "--only", "mish")
    assert r.returncode == 1 and "proof failed: mish = x·tanh(softplus(x))" in r.stderr
    assert not (tmp_path / "k").exists()


def test_no_eval_or_exec_of_user_text_in_the_package():
    for path in (ROOT / "symact").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"(?<![\w.])(?<!def )(eval|exec)\(", text), path
        assert "sympify(text" not in text and "parse_expr(" not in text, path


def test_broadcast_views_work(user_package):
    x = np.broadcast_to(np.linspace(-3, 3, 5), (4, 5))
    np.testing.assert_allclose(user_package.mish(x), np.broadcast_to(user_package.mish(x[0]), (4, 5)))


def test_validate_rejects_a_name_clash_directly():
    with pytest.raises(SpecError, match="already used"):
        validate(parse_define("sigmoid = x"), {"sigmoid"})


def test_user_functions_get_the_same_docs(tmp_path):
    r = run("docs", "--define", MISH, "--format", "markdown", "--out", str(tmp_path / "docs"))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "docs" / "reference.md").read_text()
    section = text.split("\n## mish\n", 1)[1].split("\n## ", 1)[0]
    assert "### Definition" in section and "x \\tanh" in section and "### Properties" in section
    assert (tmp_path / "docs" / "figures" / "mish.svg").exists()
