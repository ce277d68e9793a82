"""What the benchmark scripts share: a timer and a scratch file of random bytes on the repository's disk."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def scratch_dir(prefix: str) -> Path:
    """A fresh directory under benchmarks/out (the repository's disk, not /tmp, which may be slower)."""
    (HERE / "out").mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=HERE / "out"))


def random_file(path: Path, mib: int) -> Path:
    """Write ``mib`` MiB of random bytes to ``path``."""
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    return path
