"""Issue 11 on the local executor: every hostile service is contained, and the run record
says each step ran sandboxed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_harness import Scene, make_scene, run_attack
from sandbox_hostile import ATTACKS, Attack

from eotrust.disk import free_bytes
from eotrust.settings import Settings, load_settings
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


def _scene_with_floor(tmp_path: Path, below_free_mib: int) -> tuple[Settings, Scene]:
    """A scene whose platform keeps free all but ``below_free_mib`` MiB of what is free now."""
    keep = max((free_bytes(tmp_path) >> 20) - below_free_mib, 0)
    settings = load_settings(home=tmp_path / "home", step_retries=0, min_free_disk_mb=keep)
    return settings, make_scene(settings, tmp_path)


def test_a_step_that_fills_the_disk_is_killed_at_the_platforms_floor(tmp_path: Path) -> None:
    """A step may write files of ``sandbox_max_file_mb`` each, but as many as it likes: on the old
    code a service writing 16 MiB files in a loop ran until the disk was full (here, without the
    test's 2 GiB cap: 60 s, until its timeout, far past the floor). Now it is killed once less than ``min_free_disk_mb`` is
    free, the log names the limit, and its working directory goes with it. (The floor is set
    48 MiB under what is free now, so that the test writes about that much, not a disk's worth.)"""
    settings, scene = _scene_with_floor(tmp_path, below_free_mib=48)
    try:
        fill = Attack(
            "fill-the-disk",
            {
                # 2 GiB at most: a broken floor fails the test without filling the disk
                "command": "sh -c 'i=0; while [ $i -lt 128 ]; do head -c 16M /dev/zero > f$i; i=$((i+1)); done' sh",
                "resources": {"disk_mb": 16},
                "timeout_s": 60,
            },
            ("sandbox limit broken: disk",),
        )
        log = run_attack(fill, scene, open_store(settings), tmp_path)
        assert "timed out" not in log and f"which keeps {settings.min_free_disk_mb} MiB" in log, log
        assert (free_bytes(tmp_path) >> 20) > settings.min_free_disk_mb - 256  # nothing of it is left on the disk
        work = settings.path("workflow")
        assert not [p for p in work.rglob("f*") if p.is_file() and p.parent.name.startswith("attack")]
    finally:
        scene.close()


def test_an_output_that_would_take_the_disk_below_the_floor_is_not_stored(tmp_path: Path) -> None:
    """A step's output is copied into the store after the step: a 300 MiB output written while
    the disk had room (floor 512 MiB under what is free now) would take it 88 MiB below the
    floor once stored. The step fails naming the limit and nothing is stored; before, the copy
    was made whatever the disk held. (212 MiB are left for other processes' writes while the
    step writes: with 56, the suite's own writes beside it crossed the floor early once.)"""
    settings, scene = _scene_with_floor(tmp_path, below_free_mib=512)
    try:
        big = Attack(
            "big-output",
            {"command": "sh -c 'head -c 300M /dev/zero > \"$1\"' sh {outputs.out}", "resources": {"disk_mb": 512}},
            ("not stored",),
        )
        store = open_store(settings)
        before = {o.cid for o in store.list()}
        log = run_attack(big, scene, store, tmp_path)
        assert "output 'out': sandbox limit broken: disk (storing it, 300 MiB" in log, log
        assert not [o for o in store.list() if o.cid not in before and o.size > 1 << 20]
    finally:
        scene.close()
