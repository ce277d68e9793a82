"""Waiting on a real condition, with a timeout, instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], *, timeout_s: float, what: str | Callable[[], str], interval_s: float = 0.05
) -> T:
    """Call ``probe`` until it returns something truthy and return that; fail with ``what``
    (a str, or a callable giving one, e.g. a log tail) after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what() if callable(what) else what}")
        time.sleep(interval_s)
