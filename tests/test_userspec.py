"""Users' own functions: spec files and --define, parsed safely, with clear errors, same guarantees."""
from __future__ import annotations

import ast
import builtins
import importlib
import json
import keyword
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

from reference import measure
from symact.catalog import Activation, Param, all_entries
from symact.derive.scalar import derive
from symact.userspec import SpecError, parse_define, validate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "my_functions.py"
SERF = "serf = x*erf(log(1 + exp(x)))"
PENALIZED = "penalized_tanh(a=0.25) = Piecewise((tanh(x), x > 0), (a*tanh(x), True))"
# the hyperbolic and inverse primitives of --define's whitelist (printing.HYPERBOLIC)
ATAN_ASINH = "atan_asinh = atan(x) + asinh(x)"
LOG_COSH = "my_log_cosh = log_cosh(x)"
HYPERBOLIC = "hyperbolic = cosh(x/8) + sinh(x/8) + acosh(2 + x**2) + atanh(x/(2 + x**2))"


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symact", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def user_package(tmp_path_factory):
    """The README's --define example, generated into a package and imported by its directory name."""
    root = tmp_path_factory.mktemp("user")
    r = run("generate", "--define", SERF, "--define", PENALIZED, "--define", ATAN_ASINH, "--define", LOG_COSH,
            "--define", HYPERBOLIC, "--out", str(root / "mykernels"),
            "--only", "serf", "penalized_tanh", "atan_asinh", "my_log_cosh", "hyperbolic")
    assert r.returncode == 0, r.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("mykernels")
    finally:
        sys.path.remove(str(root))


def test_define_examples_work_as_written(user_package):
    m = user_package
    assert {"serf", "serf_grad", "penalized_tanh", "penalized_tanh_grad"} <= set(m.__all__)
    x = np.array([-2.0, 0.5, 3.0])
    np.testing.assert_allclose(m.serf(x), x * np.vectorize(math.erf)(np.log1p(np.exp(x))), rtol=1e-15)
    np.testing.assert_allclose(m.penalized_tanh(x, a=0.5), np.where(x > 0, np.tanh(x), 0.5 * np.tanh(x)), rtol=1e-15)
    assert m.serf(np.float32([800.0]))[0] == 800.0  # the textbook log(1 + e^x) overflows there


@pytest.mark.parametrize("text,kernel", [(SERF, "serf"), (SERF, "serf_grad"), (ATAN_ASINH, "atan_asinh"),
                                         (ATAN_ASINH, "atan_asinh_grad"), (LOG_COSH, "my_log_cosh"),
                                         (LOG_COSH, "my_log_cosh_grad"),
                                         (PENALIZED, "penalized_tanh"), (PENALIZED, "penalized_tanh_grad")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_user_kernels_get_the_same_accuracy_testing(user_package, text, kernel, dtype):
    d = derive(parse_define(text))
    worst, where, excess = measure(d, kernel, dtype, user_package)
    assert not excess, excess[:5]


def test_define_whitelist_has_the_hyperbolic_primitives(user_package):
    """cosh, sinh, atan, asinh, acosh, atanh and log_cosh parse to SymPy's functions (log_cosh to
    log(cosh(.)), stabilized to the never-overflowing logcosh) and print as the runtime's helpers: the
    generated kernels agree with NumPy at moderate x, and log_cosh stays finite where cosh overflows."""
    z = sympy.Symbol("x", real=True)
    for name, want in [("cosh", sympy.cosh(z)), ("sinh", sympy.sinh(z)), ("atan", sympy.atan(z)),
                       ("asinh", sympy.asinh(z)), ("acosh", sympy.acosh(1 + z**2)), ("atanh", sympy.atanh(z / (1 + z**2))),
                       ("log_cosh", sympy.log(sympy.cosh(z)))]:
        arg = {"acosh": "1 + x**2", "atanh": "x/(1 + x**2)"}.get(name, "x")
        assert parse_define(f"f = {name}({arg})").expr() == want, name
    m = user_package
    x = np.linspace(-5, 5, 41)
    np.testing.assert_allclose(m.hyperbolic(x), np.cosh(x / 8) + np.sinh(x / 8) + np.arccosh(2 + x**2)
                               + np.arctanh(x / (2 + x**2)), rtol=1e-14)
    np.testing.assert_allclose(m.atan_asinh(x), np.arctan(x) + np.arcsinh(x), rtol=1e-14)
    np.testing.assert_allclose(m.my_log_cosh_grad(x), np.tanh(x), rtol=1e-15)
    assert m.my_log_cosh(np.float32([1000.0]))[0] == np.float32(1000.0 - math.log(2))


def test_a_function_the_printer_lacks_is_an_error_naming_the_entry(tmp_path):
    """A spec with a SymPy function that has no kernel helper (tan) fails at generate time, naming the
    function and the entry (exit 2), and writes nothing — not a kernel that raises NameError later."""
    spec = tmp_path / "spec.py"
    spec.write_text("import sympy as sp\nfrom symact.catalog import Activation\n"
                    "ACTIVATIONS = [Activation('tangent', lambda x: sp.tan(x) / (1 + x**2))]\n")
    r = run("generate", "--spec", str(spec), "--out", str(tmp_path / "k"))
    assert r.returncode == 2 and "tangent: no primitive 'tan'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "k").exists()


def test_spec_file_generate_import_and_check(tmp_path):
    r = run("generate", "--spec", str(EXAMPLE), "--out", str(tmp_path / "mykernels"), "--only", "serf", "swish_pt")
    assert r.returncode == 0, r.stderr
    code = ("import numpy as np, mykernels as m\n"
            "print(m.swish_pt(np.array([1.0, 10.0]), beta=2.0).round(6).tolist(), m.swish_pt_grad_beta(1.0))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    s1, s6 = 1 / (1 + np.exp(-2.0)), 6 / (1 + np.exp(-12.0))
    assert out.stdout.startswith(str([round(float(s1), 6), round(float(s6), 6)]))
    r = run("check", "--spec", str(EXAMPLE), "serf", "swish_pt")
    assert r.returncode == 0 and "serf = x·erf(softplus(x))" in r.stdout


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
    (["--define", "relu = x"], "relu: the name is already used by the built-in activation 'relu'"),
    (["--define", "f = x", "--define", "f = 2*x"], "f: the name is already used by your --define/--spec 'f'"),
    (["--define", "softplus_grad = 3*x", "--only", "softplus", "softplus_grad"],
     "softplus_grad: the name is already used by a kernel of the built-in activation 'softplus'"),
    (["--define", "softplus_fwd = x"], "softplus_fwd: its kernel 'softplus_fwd_grad' would have the name of a kernel "
                                       "of the built-in activation 'softplus'"),
    (["--define", "mse_loss = x"], "mse_loss: the name is already used by the built-in loss 'mse_loss'"),
    (["--define", "f = x", "--define", "f_grad = x"], "f_grad: the name is already used by a kernel of your"),
    (["--define", "exp = x"], "exp: the name is reserved"),
    (["--define", "a(b=1, b=2) = b*x"], "a: parameter 'b' is declared twice"),
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
    spec.write_text(EXAMPLE.read_text().replace("X * erf(Softplus(X))", "X * erf(Softplus(2 * X))"))
    r = run("check", "--spec", str(spec), "serf")
    assert r.returncode == 1 and "FAIL serf = x·erf(softplus(x))" in r.stdout
    r = run("generate", "--spec", str(spec), "--out", str(tmp_path / "k"), "--only", "serf")
    assert r.returncode == 1 and "proof failed: serf = x·erf(softplus(x))" in r.stderr
    assert not (tmp_path / "k").exists()


def test_no_eval_or_exec_of_user_text_in_the_package():
    for path in (ROOT / "symact").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"(?<![\w.])(?<!def )(eval|exec)\(", text), path
        assert "sympify(text" not in text and "parse_expr(" not in text, path


def test_broadcast_views_work(user_package):
    x = np.broadcast_to(np.linspace(-3, 3, 5), (4, 5))
    np.testing.assert_allclose(user_package.serf(x), np.broadcast_to(user_package.serf(x[0]), (4, 5)))


def test_validate_rejects_a_name_clash_directly():
    with pytest.raises(SpecError, match="already used"):
        validate(parse_define("sigmoid = x"), {"sigmoid"})


def _committed_package():
    """The public names of the committed generated/ package (its index), its own top-level names and
    its subpackages: what a user's name must not shadow, read from the output, not from the code."""
    init = ast.parse((ROOT / "generated" / "__init__.py").read_text())
    index = next(ast.literal_eval(n.value) for n in init.body if isinstance(n, ast.Assign)
                 and any(getattr(t, "id", None) == "_INDEX" for t in n.targets))
    own = {t.id for n in init.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    own |= {n.name for n in init.body if isinstance(n, ast.FunctionDef)}
    own |= {(a.asname or a.name) for n in init.body if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    own |= {p.name for p in (ROOT / "generated").iterdir() if p.is_dir() and p.name != "__pycache__"}
    return sorted(index), sorted(n for n in own if re.fullmatch(r"[a-z][a-z0-9_]*", n))


def test_every_kernel_name_of_the_catalog_is_taken():
    """Each name the committed package exports (softplus_grad_from_output, mse_loss_elementwise_grad,
    cross_entropy_fwd_grad, ...) is refused as a --define name."""
    index, _ = _committed_package()
    assert len(index) > len(all_entries())
    for name in index:
        with pytest.raises(SpecError, match=f"^{name}: the name is already used by "):
            validate(parse_define(f"{name} = 2*x"))


def test_a_name_whose_kernels_would_clash_is_refused():
    """``base`` is free but base_grad / base_vjp is an exported name (softplus_fwd -> softplus_fwd_grad)."""
    index, _ = _committed_package()
    bases = sorted({n.removesuffix(suffix) for n in index for suffix in ("_grad", "_vjp")
                    if n.endswith(suffix) and n.removesuffix(suffix) not in index})
    assert bases
    for base in bases:
        with pytest.raises(SpecError, match=f"^{base}: its kernel '{base}_(grad|vjp)' would have the name of"):
            validate(parse_define(f"{base} = 2*x"))


def test_reserved_names_are_refused():
    from symact.codegen.numba import FUNCTIONS as PRIMITIVES
    from symact.userspec import CONSTANTS, FUNCTIONS

    _, own = _committed_package()
    words = [n for n in dir(builtins) + keyword.kwlist if re.fullmatch(r"[a-z][a-z0-9_]*", n)]
    names = own + words + [n for n in FUNCTIONS if n.islower()] + [c.__name__.lower() for c in PRIMITIVES]
    assert {"configure", "activations", "exp", "sigmoid", "max", "lambda"} <= set(names)
    for name in names:
        with pytest.raises(SpecError, match=f"^{name}: "):
            validate(Activation(name, lambda x: 2 * x))
    for name in ["x", "out", "g", "result", "np", "exp", "configure", "max", "f_grad", "f"] + list(CONSTANTS):
        with pytest.raises(SpecError, match="^f: parameter"):
            validate(Activation("f", lambda x, p: p * x, params=(Param(name, 1.0),)))


def test_duplicate_parameters_in_a_spec_file_are_refused():
    with pytest.raises(SpecError, match="parameter 'b' is declared twice"):
        validate(Activation("f", lambda x, b, c: b * x, params=(Param("b", 1.0), Param("b", 2.0))))


def test_render_package_refuses_a_name_twice():
    """Past the CLI's check (a spec that bypasses it): the package index would hold relu_grad twice."""
    from symact.catalog import get
    from symact.codegen.emit import render_package

    clash = derive(parse_define("relu_grad = 3*x"))
    with pytest.raises(ValueError, match="two kernels named 'relu_grad'"):
        render_package([derive(get("relu")), clash])


def test_render_package_refuses_a_name_the_naming_rules_do_not_list(monkeypatch):
    from symact.codegen import emit
    from symact.catalog import get

    real = emit.kernel_names
    monkeypatch.setattr(emit, "kernel_names", lambda e: [n for n in real(e) if not n.endswith("_fwd_vjp")])
    with pytest.raises(AssertionError, match="relu_fwd_vjp.*kernel_names does not list"):
        emit.render_package([derive(get("relu"))])


def test_a_generated_module_that_would_shadow_a_name_fails_loudly():
    """The last line of defence behind the name checks: a parameter named np (refused by validate)
    would shadow numpy in its kernels; the build's check of the rendered modules catches it."""
    from symact.build import check_package
    from symact.codegen.emit import render_package

    files = render_package([derive(parse_define("f(np=1) = np*x"))])
    with pytest.raises(AssertionError, match="argument 'np' of .* is also a module-level name"):
        check_package(files)


def test_user_functions_get_the_same_docs(tmp_path):
    r = run("docs", "--define", SERF, "--format", "markdown", "--out", str(tmp_path / "docs"))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "docs" / "reference.md").read_text()
    section = text.split("\n## serf\n", 1)[1].split("\n## ", 1)[0]
    assert "### Definition" in section and "\\operatorname{erf}" in section and "### Properties" in section
    assert (tmp_path / "docs" / "figures" / "serf.svg").exists()
    listed = json.loads((tmp_path / "docs" / "symact-manifest.json").read_text())["files"]
    assert {"reference.md", "figures/serf.svg"} <= set(listed) and "reference.tex" not in listed
