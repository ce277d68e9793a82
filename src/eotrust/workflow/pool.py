"""A pool of warm Python worker processes (:mod:`eotrust.workflow.worker`).

Starting ``python`` for every step costs 50 ms or more (and seconds once torch is imported);
a warm worker answers in well under a millisecond. Each worker is a separate OS process, so
a step that crashes, hangs or is killed by a signal takes only its worker with it: a hung
call is killed after its timeout (its whole process group), a dead worker is replaced.
"""

from __future__ import annotations

import os
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from eotrust.workflow.worker import frame

_READY_TIMEOUT_S = 120.0


def describe_status(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


@dataclass
class CallResult:
    exit_status: int | None
    error: str | None
    timed_out: bool = False
    worker_died: bool = False


class _WorkerDied(Exception):
    pass


class _Timeout(Exception):
    pass


class PythonWorker:
    """One warm worker process."""

    def __init__(self, python: str, preload: tuple[str, ...], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [python, "-m", "eotrust.workflow.worker", *preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            process_group=0,  # its own process group: a timeout kills the service and its children
        )
        self._ready = False

    def wait_ready(self) -> None:
        if not self._ready:
            self._read(time.monotonic() + _READY_TIMEOUT_S)
            self._ready = True

    def _read_exact(self, n: int, deadline: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while len(buf) < n:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise _Timeout
                chunk = os.read(fd, n - len(buf))
                if not chunk:
                    raise _WorkerDied
                buf += chunk
        return buf

    def _read(self, deadline: float) -> dict[str, Any]:
        import json

        (n,) = struct.unpack(">I", self._read_exact(4, deadline))
        return json.loads(self._read_exact(n, deadline))

    def call(self, request: dict[str, Any], timeout_s: float) -> CallResult:
        deadline = time.monotonic() + timeout_s
        try:
            self.wait_ready()
            assert self.proc.stdin is not None
            self.proc.stdin.write(frame(request))
            self.proc.stdin.flush()
            resp = self._read(deadline)
        except _Timeout:
            self.kill()
            return CallResult(None, f"timed out after {timeout_s:g} s", timed_out=True, worker_died=True)
        except (_WorkerDied, BrokenPipeError, OSError):
            code = self.proc.wait()
            return CallResult(code, f"the service's process died ({describe_status(code)})", worker_died=True)
        return CallResult(resp.get("exit_status"), resp.get("error"))

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def worker_env(extra_path: list[str] | None = None) -> dict[str, str]:
    """The workers' environment: ours, with our import path so our entry points import there."""
    env = dict(os.environ)
    # what we can import, and the current directory (as `python -m` would have it)
    paths = [p or os.getcwd() for p in sys.path] + [os.getcwd()] + list(extra_path or [])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class WorkerPool:
    """Warm workers handed out one call at a time; thread-safe."""

    def __init__(self, preload: tuple[str, ...] = (), python: str | None = None) -> None:
        self.preload = tuple(preload)
        self.python = python or sys.executable
        self._env = worker_env()
        self._idle: list[PythonWorker] = []
        self._all: set[PythonWorker] = set()
        self._lock = threading.Lock()
        self._closed = False

    def warm(self, n: int) -> None:
        """Start ``n`` workers at once (in parallel) so the first steps need not wait."""
        started = [self._start() for _ in range(n)]
        for w in started:
            w.wait_ready()
        with self._lock:
            self._idle.extend(started)

    def _start(self) -> PythonWorker:
        w = PythonWorker(self.python, self.preload, self._env)
        with self._lock:
            self._all.add(w)
        return w

    def call(self, request: dict[str, Any], timeout_s: float) -> CallResult:
        with self._lock:
            if self._closed:
                raise RuntimeError("worker pool is closed")
            worker = self._idle.pop() if self._idle else None
        if worker is None or worker.proc.poll() is not None:
            worker = self._start()
        result = worker.call(request, timeout_s)
        with self._lock:
            if result.worker_died or worker.proc.poll() is not None or self._closed:
                self._all.discard(worker)
                dead = True
            else:
                self._idle.append(worker)
                dead = False
        if dead:
            worker.close()
        return result

    def kill_all(self) -> None:
        """Kill every worker now, busy or idle (an interrupted run)."""
        with self._lock:
            workers = list(self._all)
        for w in workers:
            w.kill()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
        for w in workers:
            w.close()
