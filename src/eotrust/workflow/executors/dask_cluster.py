"""The Dask distributed executor: each step instance becomes a Dask task.

Declared resources become Dask worker resources (``CPU``, ``MEMORY`` in MB, ``GPU``), so
start workers as ``dask worker ADDRESS --resources "CPU=4 MEMORY=16000 GPU=1"``. Only the
small job description and the output CIDs travel through the scheduler; the data travels
through the store (a LocalStore directory shared by path, or IPFS), which every worker opens
from the same settings. A worker lost mid-step is handled by Dask: the task is re-run on
another worker, and the step's result is the same because it is content-addressed.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from concurrent.futures import Future
from typing import Any

from eotrust.errors import BackendUnavailableError, WorkflowError
from eotrust.settings import Settings
from eotrust.workflow.executors.base import ExecutorBase
from eotrust.workflow.service import Resources
from eotrust.workflow.step import StepJob, StepOutcome, execute_step

RESOURCE_NAMES = {"cpus": "CPU", "memory_mb": "MEMORY", "gpus": "GPU"}

# One warm worker pool and one store per Dask worker process (created on first use there).
_PER_PROCESS: dict[int, dict[str, Any]] = {}
_PER_PROCESS_LOCK = threading.Lock()


def _process_state(settings: Settings) -> dict[str, Any]:
    from eotrust.store import open_store
    from eotrust.workflow.pool import WorkerPool

    pid = os.getpid()
    with _PER_PROCESS_LOCK:
        state = _PER_PROCESS.get(pid)
        if state is None:
            tmp = settings.path("workflow", "tmp")
            # Dask puts the worker's local directory (its spilled data, other jobs' too) on the
            # import path: keep it out of the workers' path, and so out of their sandboxes
            pool = WorkerPool(slot_root=tmp.parent / "slots", exclude_path=_dask_local_directory())
            state = {"store": open_store(settings), "pool": pool, "tmp": tmp}
            _PER_PROCESS[pid] = state
    return state


def _dask_local_directory() -> tuple[str, ...]:
    """The local directory of the Dask worker this runs in (none outside one)."""
    from distributed import get_worker

    try:
        return (str(get_worker().local_directory),)
    except ValueError:  # not in a worker
        return ()


def run_on_worker(job: StepJob, settings: Settings) -> StepOutcome:
    """What a Dask task runs (on the worker)."""
    state = _process_state(settings)
    return execute_step(job, state["store"], state["tmp"], state["pool"])


class DaskExecutor(ExecutorBase):
    """Runs steps on the Dask cluster at ``address`` (``tcp://host:8786``)."""

    name = "dask"

    def __init__(self, settings: Settings, address: str, *, client: Any = None, timeout_s: float = 10.0) -> None:
        from distributed import Client

        # workers need the store's configuration, never secrets: the passphrase stays here
        self.settings = settings.model_copy(update={"passphrase": None})
        self.address = address
        self._own_client = client is None
        if client is None:
            try:
                client = Client(address, timeout=timeout_s, set_as_default=False)  # type: ignore[no-untyped-call]
            except (OSError, TimeoutError) as exc:
                raise BackendUnavailableError(
                    f"cannot reach the Dask scheduler at {address}: {exc}",
                    hint="start one with `dask scheduler` or fix EOTRUST_DASK_SCHEDULER",
                ) from None
        self.client = client
        self._declared_at: tuple[float, set[str]] | None = None
        self._running: set[Any] = set()  # Dask futures submitted and not done yet
        self._lock = threading.Lock()

    def _worker_resources(self) -> list[dict[str, float]]:
        info = (
            self.client.scheduler_info(n_workers=-1) if _takes_n_workers(self.client) else self.client.scheduler_info()
        )
        return [dict(w.get("resources") or {}) for w in info.get("workers", {}).values()]

    def _declared(self) -> set[str]:
        """Resource names the workers declare (asked again at most every 5 s)."""
        now = time.monotonic()
        if self._declared_at is None or now - self._declared_at[0] > 5:
            self._declared_at = (now, {k for w in self._worker_resources() for k in w})
        return self._declared_at[1]

    def _restrictions(self, r: Resources) -> dict[str, float]:
        declared = self._declared()
        want = {"CPU": r.cpus, "MEMORY": float(r.memory_mb), "GPU": float(r.gpus)}
        return {k: v for k, v in want.items() if v > 0 and (k in declared or k == "GPU")}

    def check(self, step: str, resources: Resources) -> None:
        workers = self._worker_resources()
        if not workers:
            raise BackendUnavailableError(
                f"the Dask cluster at {self.address} has no workers",
                hint='start workers with `dask worker ADDRESS --resources "CPU=2"`',
            )
        need = self._restrictions(resources)
        if not any(all(w.get(k, 0) >= v for k, v in need.items()) for w in workers):
            have = "; ".join(", ".join(f"{k}={v:g}" for k, v in w.items()) or "no resources" for w in workers)
            raise WorkflowError(
                f"step {step!r} needs {', '.join(f'{k}={v:g}' for k, v in need.items())}, which no Dask worker has ({have})",
                hint="start a `dask worker` with enough --resources, or lower the service's resources",
            )

    def submit(self, job: StepJob) -> Future[StepOutcome]:
        out: Future[StepOutcome] = Future()
        out.set_running_or_notify_cancel()
        dfut = self.client.submit(
            run_on_worker,
            job,
            self.settings,
            key=f"eotrust-{job.label}-{job.key[-10:]}-{job.attempt}-{uuid.uuid4().hex[:6]}",
            resources=self._restrictions(job.service.resources) or None,
            pure=False,
        )

        with self._lock:
            self._running.add(dfut)

        def done(f: Any) -> None:
            with self._lock:
                self._running.discard(f)
            try:
                out.set_result(f.result())
            except BaseException as exc:  # noqa: BLE001
                out.set_exception(exc)

        dfut.add_done_callback(done)
        out._eotrust_dask_future = dfut  # type: ignore[attr-defined]  # keep it alive until done
        return out

    def abort(self) -> None:
        """Cancel every step this executor submitted that has not finished."""
        with self._lock:
            running, self._running = list(self._running), set()
        if running:
            self.client.cancel(running)

    def close(self) -> None:
        if self._own_client:
            self.client.close()


def _takes_n_workers(client: Any) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False
