"""Replace an output directory all at once, or not at all.

The new tree is written into a sibling temporary directory. The swap is one ``renameat2``
``RENAME_EXCHANGE`` system call where the platform has it (Linux), so readers see either the old or
the new tree and never a missing one; elsewhere it is two renames with SIGINT held off in between.
A lock file serialises concurrent writers, so two ``symact generate`` runs into one directory end
with one complete output. On any failure or Ctrl-C while writing, the temporary tree is removed and
the previous output is untouched.
"""
from __future__ import annotations

import ctypes
import hashlib
import fcntl
import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


@contextmanager
def _no_sigint():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextmanager
def _locked(out: Path):
    # in the temp dir, keyed by the target's path: nothing is left next to the output
    key = hashlib.sha256(os.fsencode(out)).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"symact-{key}.lock"
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_atomically(files: dict[str, str | bytes], out: Path) -> None:
    """Write ``files`` ({relative path: text or bytes}) as the whole content of ``out``."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for rel, data in sorted(files.items()):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                path.write_bytes(data)
            else:
                path.write_text(data, encoding="utf-8")
        tmp.chmod(0o755)
        with _locked(out), _no_sigint():
            if out.exists() and _exchange(tmp, out):
                pass  # tmp now holds the previous output
            elif out.exists():
                old = tmp.with_name(tmp.name.replace(".tmp-", ".old-"))
                os.rename(out, old)
                os.rename(tmp, out)
                tmp = old
            else:
                os.rename(tmp, out)
                return
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
