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
