"""Issue 11 on the local executor: every hostile service is contained, and the run record
says each step ran sandboxed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_harness import Scene, make_scene, run_attack
from sandbox_hostile import ATTACKS, Attack

from eotrust.settings import load_settings
from eotrust.store import open_store
from eotrust.workflow.record import RunRecord

assert __import__("shutil").which("bwrap"), "needs bubblewrap (make sysdeps installs it)"


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    tmp = tmp_path_factory.mktemp("sandbox-local")
    s = make_scene(load_settings(home=tmp / "home", step_retries=0), tmp)
    yield s
    s.close()


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_hostile_service_is_contained(attack: Attack, scene: Scene, tmp_path: Path) -> None:
    store = open_store(scene.settings)
    run_attack(attack, scene, store, tmp_path)
    # the failed run's record says the step ran sandboxed, without network
    runs = sorted(scene.settings.path("workflow", "runs").glob("*.json"))
    cid = runs[-1].name.split("-", 1)[1].removesuffix(".json")
    record = RunRecord.model_validate_json(store.get_bytes(cid))
    assert record.workflow == f"hostile-{attack.name}"
    assert [(s.sandboxed, s.network) for s in record.steps] == [(True, False)]
