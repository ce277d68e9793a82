"""Running one step instance: materialise its inputs from the store into a fresh working
directory, run the service (warm Python worker or a command line), check and store every
declared output and both logs, and remove the working directory. Executors call this, locally
or on a Dask worker; outputs travel through the store, never through the executor."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eotrust.errors import EotrustError
from eotrust.store.base import Store
from eotrust.workflow.command import render_command
from eotrust.workflow.pool import PythonWorker, WorkerPool, describe_status
from eotrust.workflow.sandbox.bwrap import Sandbox, inside, python_paths
from eotrust.workflow.sandbox.cgroup import open_pids_cgroup
from eotrust.workflow.sandbox.disk import DiskFloor, watching
from eotrust.workflow.sandbox.limits import unwrap_status, violation
from eotrust.workflow.sandbox.policy import SandboxSpec, clean_env
from eotrust.workflow.sandbox.safefs import UnsafePath, is_regular, open_regular, read_tail
from eotrust.workflow.service import ServiceSpec


@dataclass(frozen=True)
class StepJob:
    """One instance of one step, ready to run."""

    step: str
    index: int | None  # position in a scatter, None when the step is not scattered
    service: ServiceSpec
    service_cid: str
    inputs: dict[str, str | list[str]]  # port -> CID or list of CIDs
    params: dict[str, Any]
    key: str  # the cache key
    timeout_s: float
    attempt: int = 1
    sandbox: SandboxSpec | None = None  # None: runs unsandboxed (development only)

    @property
    def label(self) -> str:
        return self.step if self.index is None else f"{self.step}[{self.index}]"


@dataclass
class StepOutcome:
    """What running a StepJob gave."""

    ok: bool
    outputs: dict[str, str] = field(default_factory=dict)
    exit_status: int | None = None
    error: str | None = None
    stdout_cid: str | None = None
    stderr_cid: str | None = None
    log_cid: str | None = None  # stdout + stderr + error, for a failed attempt
    started: float = 0.0
    ended: float = 0.0
    host: str = ""
    sandboxed: bool = False
    network: bool = False


def _materialise(store: Store, job: StepJob, indir: Path) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for port, cids in job.inputs.items():
        spec = job.service.inputs.get(port)
        fname = spec.filename if spec is not None and spec.filename else port
        if isinstance(cids, list):
            d = indir / port
            d.mkdir(parents=True, exist_ok=True)
            paths[port] = [str(store.get_file(c, d / f"{i:05d}_{fname}")) for i, c in enumerate(cids)]
        else:
            dest = indir / fname
            dest.parent.mkdir(parents=True, exist_ok=True)
            paths[port] = str(store.get_file(cids, dest))
    return paths


def _output_paths(service: ServiceSpec, workdir: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, spec in service.outputs.items():
        if spec.glob:
            continue
        rel = spec.filename or f"out/{name}"
        p = workdir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        out[name] = str(p)
    return out


def _thread_env(service: ServiceSpec) -> dict[str, str]:
    n = str(max(1, int(service.resources.cpus or 1)))
    env = {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}
    env.update(clean_env(service.env))
    return env


def _seen(workdir: Path, value: Any) -> Any:
    """Host paths (a path, or a list of them) as a sandboxed step sees them."""
    if isinstance(value, list):
        return [inside(workdir, v) for v in value]
    return inside(workdir, value)


def _run_command(
    job: StepJob,
    workdir: Path,
    inputs: dict[str, Any],
    outputs: dict[str, str],
    stdout: Path,
    stderr: Path,
    floor: DiskFloor | None = None,
) -> tuple[int | None, str | None]:
    if job.sandbox is not None:
        argv = render_command(
            job.service,
            {k: _seen(workdir, v) for k, v in inputs.items()},
            {k: inside(workdir, v) for k, v in outputs.items()},
            job.params,
        )
    else:
        argv = render_command(job.service, inputs, outputs, job.params)
    out_path = Path(outputs[job.service.stdout]) if job.service.stdout else stdout
    cgroup = None
    if job.sandbox is not None:
        spec = job.sandbox
        cgroup = open_pids_cgroup(spec.limits.procs) if spec.limits.procs else None
        indir = workdir / "in"
        box = Sandbox(
            workdir=workdir,
            inputs_ro=(indir,) if indir.is_dir() else (),
            code_ro=tuple(python_paths()),
            hidden=tuple(Path(h) for h in spec.hidden),
            limits=spec.limits,
            network=spec.network,
            env=_thread_env(job.service),
            cgroup_procs=cgroup.procs if cgroup else None,
        )
        argv = box.argv(argv)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    else:
        env = clean_env(dict(os.environ))
        env.update(_thread_env(job.service))
    try:
        with open(out_path, "wb") as out_f, open(stderr, "wb") as err_f:
            try:
                proc = subprocess.Popen(
                    argv, cwd=workdir, stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL, env=env, process_group=0
                )  # own group (killed as one); unlike a new session, still vfork-able
            except OSError as exc:
                return 127, f"cannot start {argv[0]!r}: {exc.strerror or exc}"
            # a blocking wait plus a timer that kills on timeout: Popen.wait(timeout=…) polls with
            # sleeps, which would add milliseconds to every short step
            timed_out = threading.Event()

            def stop() -> None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                if cgroup is not None:
                    cgroup.kill_all()

            def kill() -> None:
                timed_out.set()
                stop()

            timer = threading.Timer(job.timeout_s, kill)
            timer.daemon = True
            timer.start()
            try:
                with watching(floor, stop):
                    code: int | None = proc.wait()
            finally:
                timer.cancel()
        if floor is not None and floor.broken:
            return unwrap_status(code), floor.broken
        if job.sandbox is not None:
            code = unwrap_status(code)
            broke = violation(
                None if timed_out.is_set() else code,
                read_tail(workdir, stderr, 4096),
                job.sandbox.limits,
                pids_hit=cgroup is not None and cgroup.hit_limit(),
                timed_out=timed_out.is_set(),
            )
            if broke and (timed_out.is_set() or code != 0):
                return (None if timed_out.is_set() else code), broke
        if timed_out.is_set():
            return None, f"timed out after {job.timeout_s:g} s"
        if code != 0:
            return code, f"the command {describe_status(code)}"
        return 0, None
    finally:
        if cgroup is not None:
            cgroup.kill_all()
            cgroup.remove()


_EMPTY: dict[int, str] = {}


def _put_safe(store: Store, root: Path, path: Path) -> str:
    """Store the regular file ``path`` inside ``root``, never following a symlink the step made."""
    fd = open_regular(root, path)
    with os.fdopen(fd, "rb") as f:
        return store.put_stream(f)


def _put_log(store: Store, root: Path, path: Path) -> str:
    """Store a log file; an empty one (the usual case) costs no hashing after the first."""
    try:
        fd = open_regular(root, path)
    except UnsafePath:
        fd = -1
    if fd < 0 or os.fstat(fd).st_size == 0:
        if fd >= 0:
            os.close(fd)
        cid = _EMPTY.get(id(store))
        if cid is None:
            cid = _EMPTY[id(store)] = store.put_bytes(b"")
        return cid
    with os.fdopen(fd, "rb") as f:
        return store.put_stream(f)


def execute_step(
    job: StepJob, store: Store, tmp_root: Path, pool: WorkerPool | None, cleanup: Callable[[Path], None] | None = None
) -> StepOutcome:
    """Run one attempt of a step. Never raises for a failure of the step itself.

    The working directory is removed by ``cleanup`` (default: at once; the local executor
    hands it to a background thread, since deleting is slow on some file systems). A
    sandboxed step (Python or command line) runs in a leased warm worker's sandbox, in its
    slot, which is emptied when the step is done: starting a sandbox per step would cost more
    than the step."""
    if job.sandbox is not None and (job.service.python or pool is not None):
        if pool is None:
            raise RuntimeError("a Python service needs a worker pool")
        with pool.lease(job.sandbox) as worker:
            assert worker.slot is not None
            outcome = _execute_in(job, store, worker.slot, pool, worker, lambda _path: None)
            if not outcome.ok:
                worker.retire = True  # a failed step (a broken limit, a crash) never leaves its sandbox to the next
            return outcome
    workdir = Path(tempfile.mkdtemp(prefix=f"{job.step}-", dir=tmp_root))
    return _execute_in(job, store, workdir, pool, None, cleanup or (lambda p: shutil.rmtree(p, ignore_errors=True)))


def _execute_in(
    job: StepJob,
    store: Store,
    workdir: Path,
    pool: WorkerPool | None,
    worker: PythonWorker | None,
    cleanup: Callable[[Path], None],
) -> StepOutcome:
    started = time.time()
    host = socket.gethostname()
    stdout, stderr = workdir / ".stdout", workdir / ".stderr"  # created by the service's process
    outcome = StepOutcome(
        ok=False,
        started=started,
        host=host,
        sandboxed=job.sandbox is not None,
        network=job.sandbox.network if job.sandbox is not None else True,
    )
    try:
        try:
            inputs = _materialise(store, job, workdir / "in")
        except EotrustError as exc:
            outcome.error = f"cannot fetch an input: {exc.message}"
            return outcome
        outputs = _output_paths(job.service, workdir)
        limits = job.sandbox.limits if job.sandbox is not None else None
        floor = DiskFloor(workdir, limits.disk_floor_mb) if limits and limits.disk_floor_mb is not None else None
        if job.service.python:

            def see(v: Any) -> Any:
                return _seen(workdir, v) if worker is not None else v

            req = {
                "entry": job.service.python,
                "cwd": see(str(workdir)),
                "inputs": {k: see(v) for k, v in inputs.items()},
                "outputs": {k: see(v) for k, v in outputs.items()},
                "params": job.params,
                "stdout": see(str(stdout)),
                "stderr": see(str(stderr)),
                "env": _thread_env(job.service),
            }
            if worker is not None:
                with watching(floor, worker.kill):
                    res = worker.call(req, job.timeout_s)
            elif pool is not None:
                res = pool.call(req, job.timeout_s)
            else:
                raise RuntimeError("a Python service needs a worker pool")
            code, error = res.exit_status, res.error
            if floor is not None and floor.broken:
                error = floor.broken
            if job.sandbox is not None and (error is not None or res.timed_out):
                tail = (error or "").encode() + b"\n" + read_tail(workdir, stderr, 4096)
                broke = violation(
                    None if res.timed_out else code,
                    tail,
                    job.sandbox.limits,
                    pids_hit=worker is not None and worker.pids_hit(),
                    timed_out=res.timed_out,
                )
                if broke:
                    error = f"{broke} ({error})" if error else broke
        elif worker is not None:
            assert job.sandbox is not None
            argv = render_command(
                job.service,
                {k: _seen(workdir, v) for k, v in inputs.items()},
                {k: inside(workdir, v) for k, v in outputs.items()},
                job.params,
            )
            out_path = outputs[job.service.stdout] if job.service.stdout else str(stdout)
            req = {
                "argv": argv,
                "cwd": inside(workdir, workdir),
                "stdout": inside(workdir, out_path),
                "stderr": inside(workdir, stderr),
                "env": _thread_env(job.service),
            }
            with watching(floor, worker.kill):
                res = worker.call(req, job.timeout_s)
            code, error = res.exit_status, res.error
            if floor is not None and floor.broken:
                error = floor.broken
            elif error is not None or res.timed_out:
                tail = read_tail(workdir, stderr, 4096)
                broke = violation(
                    None if res.timed_out else code,
                    tail,
                    job.sandbox.limits,
                    pids_hit=worker.pids_hit(),
                    timed_out=res.timed_out,
                )
                if broke:
                    error = broke
        else:
            code, error = _run_command(job, workdir, inputs, outputs, stdout, stderr, floor)
        outcome.exit_status = code
        if error is None:
            produced: dict[str, str] = {}
            for name, spec in job.service.outputs.items():
                if spec.glob:
                    found = sorted(
                        p
                        for p in workdir.glob(spec.glob)
                        if p not in (stdout, stderr) and (workdir / "in") not in p.parents and is_regular(workdir, p)
                    )
                    if len(found) != 1:
                        error = (
                            f"output {name!r}: pattern {spec.glob!r} matched {len(found)} files"
                            f"{' (expected exactly one)' if found else ''}"
                        )
                        break
                    path = found[0]
                else:
                    path = Path(outputs[name])
                if not os.path.lexists(path):
                    error = f"the service wrote no declared output {name!r} (expected at {path.relative_to(workdir)})"
                    break
                try:
                    if floor is not None and path.is_file() and not path.is_symlink():
                        short = floor.room_for(path.stat().st_size)  # it is copied into the store next
                        if short is not None:
                            error = f"output {name!r}: {short}"
                            break
                    produced[name] = _put_safe(store, workdir, path)
                except UnsafePath as exc:
                    error = f"output {name!r} refused: {exc} (a symlink or special file may lead out of the sandbox)"
                    break
            else:
                outcome.outputs = produced
        outcome.error = error
        outcome.ok = error is None
        return outcome
    except EotrustError as exc:
        outcome.error = exc.message
        outcome.ok = False
        return outcome
    finally:
        try:
            outcome.stdout_cid = _put_log(store, workdir, stdout)
            outcome.stderr_cid = _put_log(store, workdir, stderr)
            if not outcome.ok:
                head = (
                    f"step {job.label} attempt {job.attempt} on {host}: {outcome.error}\n"
                    f"{describe_status(outcome.exit_status)}\n"
                )
                body = (
                    head.encode()
                    + b"\n== stdout ==\n"
                    + read_tail(workdir, stdout)
                    + b"\n== stderr ==\n"
                    + read_tail(workdir, stderr)
                )
                outcome.log_cid = store.put_bytes(body)
        finally:
            outcome.ended = time.time()
            cleanup(workdir)
