"""A disk cache for the expensive, deterministic steps: derivations, proofs, properties, docs forms.

``symact generate`` derives every entry; ``show``, ``check`` and ``docs`` right after it would derive
them all again (seconds to minutes). A step decorated with :func:`cached` stores its result under a
key made of

- the step's name and its arguments' *definition* (the ``key`` function of the call site: SymPy
  expressions as ``srepr``, catalog dataclasses field by field, callables left out — the key names what
  they produce, e.g. ``entry.expr()``),
- the generation: symact's version, the Python and SymPy versions, and a hash of the source of every
  module of the package except the pure catalog data (whose effect the keys hold). A code change can
  never serve a stale result; editing one catalog entry (or a ``--spec`` file) invalidates that entry.

Location: ``$SYMACT_CACHE_DIR``, else ``$XDG_CACHE_HOME/symact``, else ``~/.cache/symact``;
``SYMACT_CACHE=0`` (or the CLI's ``--no-cache``) turns it off. Writes are atomic (a temporary file
renamed into place); an unreadable, corrupt or incompatible file is ignored and recomputed; a cache
directory that cannot be written means no cache (one line on stderr under ``--debug``). A result is
stored only if it loads back node for node (SymPy rebuilds expressions through their constructors,
which may evaluate), so output is byte-identical with a cold, a warm or no cache.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pickle
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import sympy as sp

from .verify.prove import BUDGET_SCALE, timeouts

FORMAT = 1          # of the files; part of the generation
KEEP = 8            # generation directories kept (the most recently used); older ones are removed
# catalog modules that only hold data: their effect on a result is in the key (the definition), so an
# edit there invalidates only the entries it changes. Every other module of the package is hashed.
DATA_MODULES = ("catalog/activations.py", "catalog/identities.py", "catalog/references.py")

_MISSING = object()
_settings = {"enabled": True, "debug": False}
# this process's counts: "hit", "miss" (computed), "write", and each also per step ("miss derive")
stats: Counter = Counter()
_warned: set[str] = set()


def configure(enabled: bool = True, debug: bool = False) -> None:
    """Per command (the CLI's ``--no-cache`` and ``--debug``); ``configure()`` restores the defaults."""
    _settings.update(enabled=enabled, debug=debug)


def _count(what: str, step: str) -> None:
    stats[what] += 1
    stats[f"{what} {step}"] += 1


def root() -> Path | None:
    """The cache directory, or None when the cache is off."""
    if not _settings["enabled"] or os.environ.get("SYMACT_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if os.environ.get("SYMACT_CACHE_DIR"):
        return Path(os.environ["SYMACT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symact"


@functools.lru_cache(maxsize=1)
def generation() -> str:
    """symact, Python and SymPy versions, the proof budgets' scale and the package's source: results of
    another generation never match."""
    from . import __version__

    # (tests/test_generate.py builds with budgets cut to a quarter: never from this cache)
    versions = f"{FORMAT} {__version__} {sys.version} {sp.__version__} {BUDGET_SCALE!r}"
    return hashlib.sha256(f"{versions} {source_hash(Path(__file__).resolve().parent)}".encode()).hexdigest()[:20]


def source_hash(package: Path) -> str:
    """Hash of every module of ``package`` but the DATA_MODULES: any code change gives another."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel not in DATA_MODULES and "__pycache__" not in path.parts:
            h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def canonical(value: Any) -> str:
    """A stable text for a key: SymPy as srepr, dataclasses field by field (callables left out: the
    key names what they produce), containers element by element."""
    if isinstance(value, sp.Basic):
        return f"S({sp.srepr(value)})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = ", ".join(f"{f.name}={canonical(getattr(value, f.name))}" for f in dataclasses.fields(value)
                           if not callable(getattr(value, f.name)))
        return f"{type(value).__module__}.{type(value).__qualname__}({fields})"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}[{', '.join(map(canonical, value))}]"
    if isinstance(value, dict):
        return "dict{" + ", ".join(sorted(f"{canonical(k)}: {canonical(v)}" for k, v in value.items())) + "}"
    if value is None or isinstance(value, (str, int, float, bool)):
        return repr(value)
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    raise TypeError(f"no stable cache key for {type(value).__name__}")


def _debug(topic: str, message: str) -> None:
    """One line on stderr under --debug, once per topic and process."""
    if _settings["debug"] and topic not in _warned:
        _warned.add(topic)
        print(f"symact: cache: {message}", file=sys.stderr)


def _path(step: str, key: Any) -> Path | None:
    base = root()
    if base is None:
        return None
    digest = hashlib.sha256(f"{step}\0{canonical(key)}".encode()).hexdigest()
    return _used(base / generation()) / step / f"{digest[:40]}.pkl"


@functools.lru_cache(maxsize=None)
def _used(gen: Path) -> Path:
    """Mark a generation as used (its mtime), once per process: pruning keeps the most recently used."""
    try:
        os.utime(gen)
    except OSError:
        pass
    return gen


def _same(a, b) -> bool:
    """Node for node the same: SymPy by srepr (classes, arguments, assumptions, precisions), the rest
    field by field."""
    if type(a) is not type(b):
        return False
    if isinstance(a, sp.Basic):
        return sp.srepr(a) == sp.srepr(b)
    if dataclasses.is_dataclass(a):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def _pickled(value) -> tuple[bool, bytes] | None:
    """The pickle of ``value`` and the SymPy evaluation setting under which it loads back node for
    node (SymPy rebuilds each node through its constructor: with evaluation on, a stable form built
    with ``evaluate=False`` could be simplified back; with it off, a Sum gains a factor 1); None when
    neither does — such a result is not cached, so the cache can never change an output."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    for evaluate in (True, False):
        try:
            with sp.evaluate(evaluate):
                back = pickle.loads(data)
        except Exception:  # noqa: BLE001 - then it is not cached
            continue
        if _same(value, back):
            return evaluate, data
    return None


def _load(path: Path, step: str):
    try:
        with open(path, "rb") as f:
            tag, evaluate, data = pickle.load(f)
        if tag == (FORMAT, step):
            with sp.evaluate(evaluate):
                return pickle.loads(data)
    except OSError:  # not there, or no cache directory to read
        return _MISSING
    except Exception as exc:  # noqa: BLE001 - corrupt, truncated or from other code: recompute
        _debug(f"bad {step}", f"ignoring {path}: {type(exc).__name__}: {exc}")
    try:
        path.unlink()
    except OSError:
        pass
    return _MISSING


def _store(path: Path, step: str, value) -> None:
    try:
        faithful = _pickled(value)
    except Exception as exc:  # noqa: BLE001 - a result that does not pickle is simply not cached
        _debug(f"pickle {step}", f"not cached ({step}): {type(exc).__name__}: {exc}")
        return
    if faithful is None:
        _count("unfaithful", step)
        _debug(f"faithful {step}", f"not cached ({step}): does not load back node for node")
        return
    data = pickle.dumps(((FORMAT, step), *faithful), protocol=pickle.HIGHEST_PROTOCOL)
    try:
        fresh = not path.parent.parent.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pkl")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        _count("write", step)
        if fresh:
            _prune(path.parent.parent)
    except OSError as exc:
        _debug("write", f"cannot write {root()} ({exc.strerror or exc}): running without a cache")


def _prune(current: Path) -> None:
    """Keep the KEEP most recently used generations (each code change makes a new one)."""
    try:
        gens = sorted((p for p in current.parent.iterdir() if p.is_dir() and p != current),
                      key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in gens[KEEP - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def cached(step: str, key: Callable[..., Any], pack: Callable | None = None, unpack: Callable | None = None):
    """Decorate a deterministic function: its result is stored on disk under ``step`` and
    ``key(*args, **kwargs)`` and loaded instead of recomputed. ``pack(result)`` is what is stored
    (leave out what does not pickle, such as a catalog entry's lambdas), and
    ``unpack(stored, *args, **kwargs)`` rebuilds the result. An exception is never cached, nor a
    result during which a time budget ran out (symact.verify.prove.time_budget: a fallback taken there could
    depend on the machine's load; a result without one cannot)."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                path = _path(step, key(*args, **kwargs))
            except TypeError as exc:  # a definition with no stable text: computed, not cached
                _debug(f"key {step}", f"not cached ({step}): {exc}")
                path = None
            if path is not None:
                value = _load(path, step)
                if value is not _MISSING:
                    _count("hit", step)
                    return unpack(value, *args, **kwargs) if unpack else value
            _count("miss", step)
            before = timeouts()
            result = fn(*args, **kwargs)
            if path is not None and timeouts() != before:  # the result may depend on the machine's load
                _count("budget", step)
                _debug(f"budget {step}", f"not cached ({step}): a time budget ran out while computing it")
            elif path is not None:
                _store(path, step, pack(result) if pack else result)
            return result
        run.uncached = fn
        return run
    return wrap
