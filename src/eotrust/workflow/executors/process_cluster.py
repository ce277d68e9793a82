"""A Dask cluster of separate processes on loopback: one ``dask scheduler`` and N ``dask
worker`` processes (one thread each, no nanny, no dashboard), started from this Python's
environment and stopped by PID.

A cluster for one machine that :class:`~eotrust.workflow.executors.dask_cluster.DaskExecutor`
and ``train --workers dask`` (``EOTRUST_DASK_SCHEDULER`` = :attr:`ProcessCluster.address`) can
use, as the tests and benchmarks do: every worker a real process, so a step or a training rank
really runs apart from the caller (and a worker can be killed by its PID). Unlike
``distributed.LocalCluster`` it starts the ``dask`` command line, exactly as on a real cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

from eotrust.errors import BackendUnavailableError
from eotrust.ports import free_port

if TYPE_CHECKING:
    from distributed import Client


class ProcessCluster:
    """A scheduler and ``workers`` worker processes; use as a context manager, or call
    :meth:`stop` (workers are killed, the scheduler is asked to stop, each waited for by PID)."""

    def __init__(
        self,
        work: Path,
        workers: int,
        *,
        resources: str | None = None,
        pythonpath: Sequence[Path] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.work = work
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.expected_workers = workers
        environ = dict(os.environ if env is None else env)
        # the scheduler's and workers' scratch in the cluster's folder (killed workers leave
        # theirs), never in the machine's shared /tmp: Dask's temporary-directory setting
        environ["DASK_TEMPORARY_DIRECTORY"] = str(work / "scratch")
        extra = [str(p) for p in pythonpath]
        if extra:
            environ["PYTHONPATH"] = os.pathsep.join([*extra, environ.get("PYTHONPATH", "")])
        dask = str(Path(sys.executable).parent / "dask")
        self.log: IO[bytes] = open(work / "dask.log", "ab")  # noqa: SIM115 - closed by stop()
        port = self.address.rsplit(":", 1)[1]
        self.scheduler = self._spawn(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], environ
        )
        self.workers: list[subprocess.Popen[bytes]] = []
        try:
            for i in range(workers):
                argv = [dask, "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
                argv += ["--host", "127.0.0.1", "--name", f"w{i}"]
                if resources:
                    argv += ["--resources", resources]
                self.workers.append(self._spawn(argv, environ))
        except BaseException:
            self.stop()
            raise

    def _spawn(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=self.work)

    def client(self, timeout_s: float = 90.0) -> Client:
        """A client of the scheduler once it listens and every worker has joined (polled; the
        processes take a few seconds to import Dask)."""
        from distributed import Client

        deadline = time.monotonic() + timeout_s
        while True:
            if self.scheduler.poll() is not None:
                raise BackendUnavailableError(
                    f"the Dask scheduler exited ({self.scheduler.returncode}): see {self.log.name}"
                )
            try:
                client = Client(self.address, timeout=5, set_as_default=False)  # type: ignore[no-untyped-call]
                break
            except OSError:  # not listening yet
                if time.monotonic() > deadline:
                    raise BackendUnavailableError(f"the Dask scheduler at {self.address} did not start") from None
                time.sleep(0.3)
        try:
            client.wait_for_workers(self.expected_workers, timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            client.close()  # type: ignore[no-untyped-call]
            raise
        return client

    def stop(self) -> None:
        """Kill the workers (they hold nothing), then stop the scheduler; wait for each by PID."""
        for p in self.workers:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        if self.scheduler.poll() is None:
            self.scheduler.send_signal(signal.SIGTERM)
        for p in [*self.workers, self.scheduler]:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.log.close()

    def __enter__(self) -> ProcessCluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
