"""Issue 11 on a real Dask cluster (a `dask scheduler` and one `dask worker` started here,
loopback, free ports, stopped by PID): every hostile service is contained on the worker,
whose own environment holds a passphrase the steps must never see."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_harness import Scene, make_scene, run_attack
from sandbox_hostile import ATTACKS, Attack
from waiting import wait_for

from eotrust.settings import load_settings
from eotrust.store import open_store
from eotrust.workflow.executors.dask_cluster import DaskExecutor
from eotrust.workflow.executors.process_cluster import ProcessCluster

pytestmark = [
    pytest.mark.server,
]

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def dask_scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Scene, DaskExecutor]]:
    tmp = tmp_path_factory.mktemp("sandbox-dask")
    scene = make_scene(load_settings(home=tmp / "home", step_retries=0), tmp)
    env = dict(os.environ, EOTRUST_PASSPHRASE="test-passphrase")
    cluster = ProcessCluster(tmp, 1, resources="CPU=1 MEMORY=4000", pythonpath=[HERE], env=env)
    address = cluster.address
    ex = None
    try:

        def connected() -> DaskExecutor | None:
            try:
                return DaskExecutor(scene.settings, address, timeout_s=5)
            except Exception:
                return None

        ex = wait_for(connected, timeout_s=60, what="the Dask scheduler to accept a client", interval_s=0.3)
        ex.client.wait_for_workers(1, timeout=60)
        yield scene, ex
    finally:
        if ex is not None:
            ex.close()
        cluster.stop()
        scene.close()


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_hostile_service_is_contained_on_dask(
    attack: Attack, dask_scene: tuple[Scene, DaskExecutor], tmp_path: Path
) -> None:
    scene, ex = dask_scene
    log = run_attack(attack, scene, open_store(scene.settings), tmp_path, executor=ex)
    assert " on " in log.splitlines()[0]  # the step's log names the worker host it ran on


def test_the_dask_workers_local_directory_is_out_of_the_sandbox(
    dask_scene: tuple[Scene, DaskExecutor], tmp_path: Path
) -> None:
    """Dask puts each worker's local directory (where it spills other jobs' data) on the import
    path, and a sandboxed step saw every import-path entry read-only: a hostile step could read
    it. Found when the cluster's scratch moved beside the test's canary and the write-outside
    attack stopped seeing a read-only file system there."""
    from sandbox_harness import log_text

    from eotrust.workflow import RunFailed, run_workflow

    scene, ex = dask_scene
    local = next(iter(ex.client.run(lambda dask_worker: str(dask_worker.local_directory)).values()))
    spill = Path(local) / "spilled-by-another-job"
    spill.write_text("OTHER-JOB-SPILL\n")
    wf = tmp_path / "peek.yaml"
    wf.write_text(
        "name: peek\n"
        "services:\n"
        '  peek: {command: "sh -c \'cat \\"$0\\" > \\"$1\\"\' {params.spill} {outputs.out}",'
        " outputs: {out: file}, params: {spill: str}}\n"
        f"steps: {{peek: {{service: peek, params: {{spill: '{spill}'}}}}}}\n"
        "outputs: {loot: peek.out}\n"
    )
    store = open_store(scene.settings)
    with pytest.raises(RunFailed) as failure:
        run_workflow(scene.settings, wf, {}, {}, store=store, retries=0, executor=ex)
    log = log_text(store, failure.value)
    assert "No such file or directory" in log and "OTHER-JOB-SPILL" not in log, log
