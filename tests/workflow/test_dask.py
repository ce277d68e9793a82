"""The Dask executor on a real cluster: a `dask scheduler` and two `dask worker` processes
started here (loopback, free ports), stopped by PID. Outputs travel through the store."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from one_cid import one_cid
from waiting import wait_for

from eotrust.errors import WorkflowError
from eotrust.workflow import RunFailed, run_workflow
from eotrust.workflow.executors.dask_cluster import DaskExecutor
from eotrust.workflow.executors.process_cluster import ProcessCluster
from eotrust.workflow.spec import load_workflow

if TYPE_CHECKING:
    from distributed import Worker

    from eotrust.settings import Settings
    from eotrust.store.base import Store
    from eotrust.workflow.progress import StepEvent

pytestmark = pytest.mark.server

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ProcessCluster]:
    with ProcessCluster(tmp_path, 2, resources="CPU=1", pythonpath=[HERE]) as c:
        yield c


def _executor(settings: Settings, cluster: ProcessCluster) -> DaskExecutor:
    def connected() -> DaskExecutor | None:
        try:
            return DaskExecutor(settings, cluster.address, timeout_s=5)
        except Exception:  # the scheduler is not listening yet
            return None

    ex = wait_for(connected, timeout_s=60, interval_s=0.3, what=f"the Dask scheduler at {cluster.address}")
    ex.client.wait_for_workers(cluster.expected_workers, timeout=60)
    return ex


WF = """\
name: fan
inputs: {text: file}
params: {seconds: {type: float, default: 0.1}, seconds_b: {type: float, default: 0.11}}
services:
  sleepy: {python: wf_services:sleepy, inputs: {src: file}, outputs: {out: file}, params: {seconds: float}, resources: {cpus: 1}}
  concat: {python: wf_services:concat, inputs: {parts: "file[]"}, outputs: {out: file}}
  copy: {command: "cp {inputs.src} {outputs.out}", inputs: {src: file}, outputs: {out: file}}
steps:
  a: {service: sleepy, in: {src: inputs.text}, params: {seconds: "${seconds}"}}
  b: {service: sleepy, in: {src: inputs.text}, params: {seconds: "${seconds_b}"}}
  c: {service: copy, in: {src: a.out}}
  d: {service: concat, in: {parts: [c.out, b.out]}}
outputs: {result: d.out}
"""


def test_workflow_runs_on_a_real_dask_cluster(settings: Settings, store: Store, cluster: ProcessCluster) -> None:
    ex = _executor(settings, cluster)
    assert settings.passphrase is not None and ex.settings.passphrase is None  # no secret goes to the cluster
    try:
        text = store.put_bytes(b"t")
        res = run_workflow(settings, load_workflow(WF), {"text": text}, {}, executor=ex)
        out = store.get_bytes(one_cid(res.outputs["result"])).decode()
        pids = {int(part.split("+")[1]) for part in out.split("|")}
        assert os.getpid() not in pids and len(res.steps) == 4
        assert {s.step for s in res.steps} == {"a", "b", "c", "d"} and not any(s.cache_hit for s in res.steps)
        from eotrust.workflow.runs import load_run

        assert load_run(settings, res.run_cid)[1].executor == "dask"
        # the workers keep their scratch in the cluster's folder (killed, they leave it there,
        # never a dask-scratch-space in the machine's shared /tmp)
        assert list((cluster.work / "scratch").glob("dask-scratch-space/worker-*")) != []
        # cached on the second run, whichever executor
        again = run_workflow(settings, load_workflow(WF), {"text": text}, {}, executor=ex)
        assert all(s.cache_hit for s in again.steps)

        # a step that crashes on a worker fails the run with its log, as locally
        crash = "name: c\nservices:\n  s: {python: wf_services:crash, outputs: {out: file}}\nsteps: {s: {service: s}}\n"
        with pytest.raises(RunFailed) as info:
            run_workflow(settings, load_workflow(crash), {}, {}, executor=ex, retries=1, backoff_s=0.01)
        assert info.value.attempts == 2 and "boom" in store.get_bytes(one_cid(info.value.log_cid)).decode()

        # resources no worker has are refused before anything runs
        wf = WF.replace("resources: {cpus: 1}", "resources: {cpus: 4}")
        with pytest.raises(WorkflowError, match="needs CPU=4, which no Dask worker has"):
            run_workflow(settings, load_workflow(wf), {"text": text}, {}, executor=ex)
    finally:
        ex.close()


def test_worker_lost_mid_run_the_step_reruns_elsewhere(
    settings: Settings, store: Store, cluster: ProcessCluster
) -> None:
    ex = _executor(settings, cluster)
    events = []
    try:
        import threading

        killed = threading.Event()
        lost: list[str] = []

        def kill_when_both_run(ev: StepEvent) -> None:
            events.append(ev)

        def executing() -> bool:
            """Both a and b execute, one on each worker (each has CPU=1), as the workers say."""

            def count(dask_worker: Worker) -> int:
                return sum(ts.state == "executing" for ts in dask_worker.state.tasks.values())

            counts: dict[str, int] = ex.client.run(count)  # worker address -> its count
            return sum(counts.values()) >= 2

        def killer() -> None:
            # wait until a and b both run, then kill worker 0
            wait_for(executing, timeout_s=60, what="steps a and b to execute")
            workers = ex.client.scheduler_info()["workers"]
            w0 = next(addr for addr, w in workers.items() if w.get("name") == "w0")
            lost.extend(ex.client.processing()[w0])
            os.kill(cluster.workers[0].pid, signal.SIGKILL)
            killed.set()

        t = threading.Thread(target=killer)
        t.start()
        res = run_workflow(
            settings,
            load_workflow(WF),
            {"text": store.put_bytes(b"t")},
            {"seconds": 2.0, "seconds_b": 2.01},
            executor=ex,
            progress=kill_when_both_run,
        )
        t.join()
        assert killed.is_set() and cluster.workers[0].wait(timeout=10) == -signal.SIGKILL
        assert lost, "the killed worker was running a step"
        assert res.status == "succeeded" and store.has(one_cid(res.outputs["result"]))
        assert len(ex.client.scheduler_info()["workers"]) == 1
    finally:
        ex.close()
