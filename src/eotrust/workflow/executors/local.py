"""The default executor: steps run as processes on this machine, as many at once as the
declared CPUs, memory and GPUs allow. Python services run in a pool of warm worker processes."""

from __future__ import annotations

import os
import queue
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from eotrust.errors import WorkflowError
from eotrust.store.base import Store
from eotrust.workflow.executors.base import ExecutorBase
from eotrust.workflow.pool import WorkerPool
from eotrust.workflow.service import Resources
from eotrust.workflow.step import StepJob, StepOutcome, execute_step


def _total_memory_mb() -> int:
    import psutil

    return int(psutil.virtual_memory().total // (1024 * 1024))


class LocalExecutor(ExecutorBase):
    """Runs steps here. ``cpus``/``memory_mb``/``gpus`` default to this machine's."""

    name = "local"

    def __init__(
        self,
        store: Store,
        tmp_root: Path,
        *,
        cpus: float | None = None,
        memory_mb: int | None = None,
        gpus: int = 0,
        preload: tuple[str, ...] = (),
    ) -> None:
        self.store = store
        self.tmp_root = tmp_root
        tmp_root.mkdir(parents=True, exist_ok=True)
        self.capacity = Resources(
            cpus=float(cpus if cpus is not None else (os.cpu_count() or 1)),
            memory_mb=memory_mb if memory_mb is not None else _total_memory_mb(),
            gpus=gpus,
        )
        self.pool = WorkerPool(preload=preload, slot_root=tmp_root.parent / "slots")
        self._threads = ThreadPoolExecutor(
            max_workers=max(4, int(self.capacity.cpus) * 4), thread_name_prefix="eotrust-step"
        )
        self._lock = threading.Lock()
        self._free = {"cpus": self.capacity.cpus, "memory_mb": float(self.capacity.memory_mb), "gpus": float(gpus)}
        self._queue: list[tuple[StepJob, Future[StepOutcome]]] = []
        self._closed = False
        self._trash: queue.Queue[Path | None] = queue.Queue()
        self._cleaner = threading.Thread(target=self._clean, name="eotrust-cleaner", daemon=True)
        self._cleaner.start()

    def _clean(self) -> None:
        """Remove finished working directories off the critical path (close() waits for it)."""
        while True:
            path = self._trash.get()
            try:
                if path is None:
                    return
                shutil.rmtree(path, ignore_errors=True)
            finally:
                self._trash.task_done()

    def drain(self) -> None:
        """Wait until every finished step's working directory is removed."""
        self._trash.join()

    def _need(self, r: Resources) -> dict[str, float]:
        # a step asking for more CPUs than exist still runs alone (it is only slower)
        return {"cpus": min(r.cpus, self.capacity.cpus), "memory_mb": float(r.memory_mb), "gpus": float(r.gpus)}

    def check(self, step: str, resources: Resources) -> None:
        if resources.gpus > self.capacity.gpus:
            raise WorkflowError(
                f"step {step!r} needs {resources.gpus} GPU(s); this local executor has {self.capacity.gpus}",
                hint="run it on a Dask cluster with GPU workers",
            )
        free_mb = shutil.disk_usage(self.tmp_root).free // (1024 * 1024)
        if resources.disk_mb > free_mb:
            raise WorkflowError(
                f"step {step!r} needs {resources.disk_mb} MB of disk; {self.tmp_root} has {free_mb} MB free",
                hint="free some space or lower its disk_mb",
            )
        if resources.memory_mb > self.capacity.memory_mb:
            raise WorkflowError(
                f"step {step!r} needs {resources.memory_mb} MB of memory; this machine has {self.capacity.memory_mb} MB",
                hint="lower its memory_mb or run it on a Dask cluster",
            )

    def submit(self, job: StepJob) -> Future[StepOutcome]:
        fut: Future[StepOutcome] = Future()
        with self._lock:
            if self._closed:
                raise WorkflowError("the executor is closed")
            self._queue.append((job, fut))
        self._dispatch()
        return fut

    def _dispatch(self) -> None:
        start: list[tuple[StepJob, Future[StepOutcome], dict[str, float]]] = []
        with self._lock:
            remaining = []
            for job, fut in self._queue:
                need = self._need(job.service.resources)
                if all(need[k] <= self._free[k] + 1e-9 for k in need):
                    for k in need:
                        self._free[k] -= need[k]
                    start.append((job, fut, need))
                else:
                    remaining.append((job, fut))
            self._queue = remaining
        for job, fut, need in start:
            self._threads.submit(self._run, job, fut, need)

    def _run(self, job: StepJob, fut: Future[StepOutcome], need: dict[str, float]) -> None:
        try:
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(execute_step(job, self.store, self.tmp_root, self.pool, cleanup=self._trash.put))
                except BaseException as exc:  # noqa: BLE001 - surfaces in the engine
                    fut.set_exception(exc)
        finally:
            with self._lock:
                for k in need:
                    self._free[k] += need[k]
            self._dispatch()

    def abort(self) -> None:
        """Stop now: drop queued steps and kill running Python steps (Ctrl-C)."""
        with self._lock:
            queued, self._queue = self._queue, []
        for _, fut in queued:
            fut.cancel()
        self.pool.kill_all()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            queued, self._queue = self._queue, []
        for _, fut in queued:
            fut.cancel()
        self._threads.shutdown(wait=True)
        self.pool.close()
        self._trash.put(None)
        self._cleaner.join()
