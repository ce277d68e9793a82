"""A snippet of Python in a child process whose address space is capped, that reports its own
peak memory and turns an EotrustError into the one line the CLI prints: for attack tests whose
old behaviour was to allocate gigabytes (the cap makes that a MemoryError, not a machine out of
memory)."""

from __future__ import annotations

import os
import subprocess
import sys

_CHILD = """\
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
from eotrust.errors import EotrustError
code = 0
try:
    exec(sys.argv[1])
except EotrustError as exc:
    print("error:", exc.message, file=sys.stderr)
    code = 1
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print("peak_kib", peak)
sys.exit(code)
"""


def bounded_child(code: str, *, cap_bytes: int = 3 << 30, timeout: float = 120) -> tuple[int, str, str, int]:
    """``(exit status, stdout, stderr, peak KiB)`` of ``code`` run in a child capped at
    ``cap_bytes`` of address space; the peak is -1 where the child died before reporting it."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD.format(cap=cap_bytes), code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "EOTRUST_AGENT": "0"},
    )
    peak = next((int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("peak_kib")), -1)
    return proc.returncode, proc.stdout, proc.stderr, peak
