"""Naming the limit a sandboxed step broke, from how it ended and what it wrote to stderr."""

from __future__ import annotations

import signal

from eotrust.workflow.sandbox.policy import Limits

_MEMORY = (b"MemoryError", b"Cannot allocate memory", b"out of memory", b"std::bad_alloc", b"memory exhausted")
_FILE = (b"File too large", b"File size limit exceeded", b"[Errno 27]")
_PROCS = (b"Resource temporarily unavailable", b"retry: Resource", b"can't fork", b"Cannot fork", b"[Errno 11]")


def violation(
    exit_status: int | None, stderr_tail: bytes, limits: Limits, *, pids_hit: bool = False, timed_out: bool = False
) -> str | None:
    """A sentence naming the limit the step broke, or None if it broke none we can tell."""
    if timed_out:
        return f"timed out after {limits.wall_s:g} s (sandbox limit broken: wall time; the step was killed)"
    if exit_status == -signal.SIGXCPU or exit_status == 128 + signal.SIGXCPU:
        return f"sandbox limit broken: CPU time ({limits.cpu_s} s); the step was killed"
    if exit_status == -signal.SIGXFSZ or exit_status == 128 + signal.SIGXFSZ or any(m in stderr_tail for m in _FILE):
        return f"sandbox limit broken: bytes written ({limits.file_mb} MiB per file); the write was stopped"
    if pids_hit or (limits.procs and any(m in stderr_tail for m in _PROCS)):
        return f"sandbox limit broken: processes ({limits.procs}); the step could not fork more"
    if any(m in stderr_tail for m in _MEMORY):
        return f"sandbox limit broken: memory ({limits.memory_mb} MiB of address space); the allocation was refused"
    return None


def unwrap_status(code: int | None) -> int | None:
    """bwrap reports a child killed by signal N as exit status 128+N; give it back as -N."""
    if code is not None and 128 < code <= 128 + 64:
        return -(code - 128)
    return code
