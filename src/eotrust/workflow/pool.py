"""A pool of warm Python worker processes (:mod:`eotrust.workflow.worker`).

Starting ``python`` for every step costs 50 ms or more (and seconds once torch is imported);
a warm worker answers in well under a millisecond. Each worker is a separate OS process, so
a step that crashes, hangs or is killed by a signal takes only its worker with it: a hung
call is killed after its timeout (its whole process group), a dead worker is replaced.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eotrust.limits import json_loads
from eotrust.workflow.sandbox.bwrap import Sandbox, python_paths
from eotrust.workflow.sandbox.cgroup import PidsCgroup, open_pids_cgroup
from eotrust.workflow.sandbox.limits import unwrap_status
from eotrust.workflow.sandbox.policy import SandboxSpec, clean_env
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


class _Malformed(Exception):
    """The worker answered something that is not a call's answer: the code it runs (a
    service's, which shares its process) may have written to the answer pipe."""


#: An answer is a small JSON object (exit status, error line, CPU seconds); a longer frame is
#: refused before it is read.
MAX_ANSWER_BYTES = 1 << 20


class PythonWorker:
    """One warm worker process. A sandboxed worker (``spec`` given) runs inside its own
    bubblewrap sandbox whose only writable place is its ``slot`` directory; each step it
    serves is materialised into that slot (inputs into ``slot/in``, bound read-only) and the
    slot is emptied after the step."""

    def __init__(
        self,
        python: str,
        preload: tuple[str, ...],
        env: dict[str, str],
        spec: SandboxSpec | None = None,
        slot_root: Path | None = None,
    ) -> None:
        argv = [python, "-m", "eotrust.workflow.worker", *preload]
        self.spec = spec
        self.slot: Path | None = None
        self.cgroup: PidsCgroup | None = None
        self.cpu_s = 0.0
        self.retire = False  # set by the step: close this worker instead of keeping it warm
        self.errlog: Path | None = None  # a sandboxed worker's own stderr (bwrap, start-up), outside its sandbox
        if spec is not None:
            assert slot_root is not None
            slot_root.mkdir(parents=True, exist_ok=True)
            self.slot = Path(tempfile.mkdtemp(prefix="slot-", dir=slot_root))
            (self.slot / "in").mkdir()
            self.cgroup = open_pids_cgroup(spec.limits.procs) if spec.limits.procs else None
            code = [Path(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p] + python_paths()
            box = Sandbox(
                workdir=self.slot,
                inputs_ro=(self.slot / "in",),
                code_ro=tuple(code),
                hidden=tuple(Path(h) for h in spec.hidden),
                limits=spec.limits,
                network=spec.network,
                env={"PYTHONPATH": env.get("PYTHONPATH", ""), "PYTHONDONTWRITEBYTECODE": "1"},
                cgroup_procs=self.cgroup.procs if self.cgroup else None,
            )
            argv = box.argv(argv)
            env = {"PATH": env.get("PATH", "/usr/bin:/bin")}
            self.errlog = self.slot.with_suffix(".err")
        err = open(self.errlog, "wb") if self.errlog is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                process_group=0,  # its own process group: a timeout kills the service and its children
            )
        finally:
            if not isinstance(err, int):
                err.close()
        self._ready = False

    def clear_slot(self) -> None:
        """Empty the slot for the next step (never following a symlink the step left)."""
        if self.slot is None:
            return
        for child in list(self.slot.iterdir()):
            if child.name == "in" and child.is_dir() and not child.is_symlink():
                for sub in list(child.iterdir()):
                    if sub.is_dir() and not sub.is_symlink():
                        shutil.rmtree(sub, ignore_errors=True)
                    else:
                        sub.unlink(missing_ok=True)
            elif child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

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

    def _read(self, deadline: float) -> tuple[int | None, str | None, float]:
        """The answer to a call: (exit status, error, CPU seconds so far)."""
        (n,) = struct.unpack(">I", self._read_exact(4, deadline))
        if n > MAX_ANSWER_BYTES:
            raise _Malformed(f"an answer of {n} bytes (at most {MAX_ANSWER_BYTES})")
        try:
            resp = json_loads(self._read_exact(n, deadline))
        except ValueError as exc:
            raise _Malformed(f"an answer that is not JSON ({str(exc)[:100]})") from None
        if not isinstance(resp, dict):
            raise _Malformed("an answer that is not a JSON object")
        status, error, cpu = (resp.get(k) for k in ("exit_status", "error", "cpu_s"))
        if not (
            (status is None or (isinstance(status, int) and not isinstance(status, bool)))
            and (error is None or isinstance(error, str))
            and (cpu is None or (isinstance(cpu, (int, float)) and not isinstance(cpu, bool)))
        ):
            raise _Malformed("an answer that is not {exit_status, error, cpu_s}")
        return status, error, float(cpu or 0.0)

    def call(self, request: dict[str, Any], timeout_s: float) -> CallResult:
        deadline = time.monotonic() + timeout_s
        try:
            self.wait_ready()
            assert self.proc.stdin is not None
            self.proc.stdin.write(frame(request))
            self.proc.stdin.flush()
            status, error, self.cpu_s = self._read(deadline)
        except _Malformed as exc:
            self.kill()  # whatever it runs can no longer be told apart from the worker
            return CallResult(None, f"the service's worker sent {exc}; it was stopped", worker_died=True)
        except _Timeout:
            self.kill()
            return CallResult(None, f"timed out after {timeout_s:g} s", timed_out=True, worker_died=True)
        except (_WorkerDied, BrokenPipeError, OSError):
            code: int | None = self.proc.wait()
            if self.spec is not None:
                code = unwrap_status(code)
            said = ""
            if self.errlog is not None and self.errlog.exists():
                tail = self.errlog.read_bytes()[-2000:].decode("utf-8", "replace").strip()
                said = f"; it said: {tail}" if tail else ""
            return CallResult(code, f"the service's process died ({describe_status(code)}){said}", worker_died=True)
        return CallResult(status, error)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.cgroup is not None:
            self.cgroup.kill_all()
        self.proc.wait()

    def pids_hit(self) -> bool:
        return self.cgroup is not None and self.cgroup.hit_limit()

    def worn_out(self) -> bool:
        """A sandboxed worker that used half its CPU-time limit is retired before it hits it."""
        lim = self.spec.limits.cpu_s if self.spec is not None else None
        return bool(lim) and self.cpu_s > lim / 2  # type: ignore[operator]

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
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.slot is not None:
            shutil.rmtree(self.slot, ignore_errors=True)
        if self.errlog is not None:
            self.errlog.unlink(missing_ok=True)


def worker_env(extra_path: list[str] | None = None, *, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """The workers' environment: ours without any ``EOTRUST_*`` secret, with our import path
    so our entry points import there. ``exclude``: folders kept off that path (and so out of a
    sandbox, which sees its entries read-only), with everything under them — a Dask worker's
    local directory, which Dask puts on the import path and which holds its spilled data."""
    env = clean_env(dict(os.environ))
    # what we can import, and the current directory (as `python -m` would have it)
    paths = [p or os.getcwd() for p in sys.path] + [os.getcwd()] + list(extra_path or [])
    kept = [p for p in paths if not any(_within(p, root) for root in exclude)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(kept))
    return env


def _within(path: str, root: str) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


class WorkerPool:
    """Warm workers handed out one call at a time; thread-safe.

    Unsandboxed workers are shared by every call (:meth:`call`). Sandboxed workers are leased
    (:meth:`lease`) by the key of their :class:`SandboxSpec`: only steps of the same run with
    the same network and limits share one, so a worker never carries one task's data into
    another's. At most ``max_idle`` sandboxed workers wait idle; the oldest are closed."""

    def __init__(
        self,
        preload: tuple[str, ...] = (),
        python: str | None = None,
        *,
        slot_root: Path | None = None,
        max_idle: int = 8,
        exclude_path: tuple[str, ...] = (),
    ) -> None:
        self.preload = tuple(preload)
        self.python = python or sys.executable
        self._env = worker_env(exclude=exclude_path)
        self._idle: list[PythonWorker] = []
        self._boxed_idle: list[tuple[tuple[object, ...], PythonWorker]] = []
        self._all: set[PythonWorker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.slot_root = slot_root or Path(tempfile.gettempdir()) / "eotrust-slots"
        self.max_idle = max_idle

    @contextmanager
    def lease(self, spec: SandboxSpec) -> Iterator[PythonWorker]:
        """A sandboxed worker for one step; its slot is emptied when the step is done."""
        key = spec.worker_key
        with self._lock:
            if self._closed:
                raise RuntimeError("worker pool is closed")
            worker = None
            for i, (k, w) in enumerate(self._boxed_idle):
                if k == key:
                    worker = w
                    del self._boxed_idle[i]
                    break
        if worker is None or worker.proc.poll() is not None:
            worker = PythonWorker(self.python, self.preload, self._env, spec, self.slot_root)
            with self._lock:
                self._all.add(worker)
        keep = False
        try:
            yield worker
            keep = worker.proc.poll() is None and not worker.worn_out() and not worker.retire
        finally:
            try:
                worker.clear_slot()
            except OSError:
                keep = False
            retire: list[PythonWorker] = []
            with self._lock:
                if keep and not self._closed:
                    self._boxed_idle.append((key, worker))
                    while len(self._boxed_idle) > self.max_idle:
                        retire.append(self._boxed_idle.pop(0)[1])
                else:
                    retire.append(worker)
                for w in retire:
                    self._all.discard(w)
            for w in retire:
                w.kill()
                w.close()

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
            self._boxed_idle.clear()
        for w in workers:
            w.close()
