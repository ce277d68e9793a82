"""Something built once per test session and shared by its test processes (pytest-xdist's
workers), under pytest's own temporary root, so pytest removes it with the session's other
temporary folders. The first process to ask builds it under a lock; the others wait and reuse it."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

#: Set by tests/conftest.py: the session's temporary root (pytest-N, shared by its workers).
ROOT_VARIABLE = "TESTS_SESSION_TMP"


def session_root() -> Path:
    root = os.environ.get(ROOT_VARIABLE)
    if not root:
        raise RuntimeError(f"{ROOT_VARIABLE} is unset: tests/conftest.py sets it for the session")
    return Path(root)


def built_once(name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name`` of the session root, filled by ``build(folder)`` exactly once per
    session (a build that failed is redone by the next process that asks)."""
    root = session_root()
    folder = root / name
    done = root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder
