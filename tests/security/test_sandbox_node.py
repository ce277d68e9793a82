"""Issue 11 through `eotrust node run` on real tasks: one world (five parties, two data
owners' rasters, the embedded chain), one task per hostile application, and one benign task;
one `eotrust node run --once` handles them all. Each hostile task Fails with a log naming what
stopped it, the benign one Finishes, the platform's keys are untouched, its decrypted inputs
are deleted when each task ends, and `eotrust verify` shows every step ran sandboxed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fast_keys import SCRYPT_N
from flow_world import PLATFORM, World, make_world
from sandbox_harness import Scene, check_contained, make_scene
from sandbox_hostile import ATTACKS, Attack, workflow_yaml
from typer.testing import CliRunner

from eotrust.cid import cid_of_bytes
from eotrust.cli.main import app
from eotrust.errors import EotrustError
from eotrust.settings import load_settings

assert __import__("shutil").which("bwrap"), "needs bubblewrap (make sysdeps installs it)"

runner = CliRunner()


#: An object of another task in the platform's private store, there before the runs.
OTHER = b"OTHER-TASK-PLAINTEXT\n"


@dataclass
class NodeRun:
    world: World
    scene: Scene
    tasks: dict[str, str]  # attack name -> task address
    benign: str
    output: str
    states: dict[str, str]


def _cli(world: World, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--home", str(world.settings.home), *args], terminal_width=250)
    if isinstance(result.exception, EotrustError):  # `eotrust` (cli.main.main) prints it as one line + hint
        return 1, f"error: {result.exception.message}\nhint: {result.exception.hint}"
    return result.exit_code, result.output + result.stderr


@pytest.fixture(scope="module")
def node_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeRun]:
    from eotrust.party.party import party_dir
    from eotrust.roles.algorithm_owner.applications import register_workflow_application
    from eotrust.roles.submitter.request import TaskRequest, open_task
    from eotrust.store import LocalStore

    tmp = tmp_path_factory.mktemp("sandbox-node")
    mp = pytest.MonkeyPatch()
    mp.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
    mp.setenv("EOTRUST_STEP_RETRIES", "0")
    mp.setenv("EOTRUST_CONFIG", "")  # no config file
    settings = load_settings(home=tmp / "home", step_retries=0, keystore_scrypt_n=SCRYPT_N)
    world = make_world(settings)
    private = LocalStore(settings.path("nodes", PLATFORM, "private-store"))
    other_cid = private.put_bytes(OTHER)  # as if another task were running
    scene = make_scene(
        settings,
        tmp,
        keystore=party_dir(settings, "platform-owner") / "keystore.json",
        party="platform-owner",
        other=private.object_path(other_cid),
    )
    tasks: dict[str, str] = {}
    for attack in ATTACKS:
        text = workflow_yaml(attack, scene.targets, task_inputs=("lulc", "cloud_mask"))
        application = register_workflow_application(
            world.backends, world.parties["algorithm-owner"], text, name=f"hostile-{attack.name}"
        )
        req = TaskRequest(
            application=application.id,
            platform=world.platform.id,
            inputs={"lulc": world.datasets["labels"].id, "cloud_mask": world.datasets["clouds"].id},
            params={},
        )
        address = open_task(world.backends, world.parties["submitter"], req).address
        world.answer_all(address)
        tasks[attack.name] = address
    benign = world.request().address
    world.answer_all(benign)
    code, output = _cli(world, "node", "run", "--platform", PLATFORM, "--once", "--as", "platform-owner")
    assert code == 0, output
    states = {addr: world.task(addr).status().state.value for addr in [*tasks.values(), benign]}
    yield NodeRun(world, scene, tasks, benign, output, states)
    scene.close()
    mp.undo()


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_hostile_task_fails_contained(attack: Attack, node_run: NodeRun) -> None:
    from eotrust.roles.submitter.collect import failure_log

    w = node_run.world
    address = node_run.tasks[attack.name]
    assert node_run.states[address] == "Failed", node_run.output
    log = failure_log(w.backends, w.parties["submitter"], address)
    check_contained(attack, log, node_run.scene)


def test_node_keeps_serving_and_forgets_decrypted_inputs(node_run: NodeRun) -> None:
    from eotrust.store import LocalStore
    from eotrust.verify.verifier import verify

    w = node_run.world
    assert node_run.states[node_run.benign] == "Finished", node_run.output
    private = LocalStore(w.settings.path("nodes", PLATFORM, "private-store"))
    for dataset in w.datasets.values():
        assert not private.has(dataset.body.cid)
    assert "decrypted input 'lulc' deleted from the platform" in node_run.output
    # nor anything made from them: the benign run's first step joins its two inputs, byte for
    # byte, and that output stayed in the private store after the task (so did the hostile
    # runs' logs); now only what was there before the runs is left (the other task's object)
    assert [o.cid for o in private.list()] == [cid_of_bytes(OTHER)], node_run.output
    assert "intermediate results deleted from the platform" in node_run.output
    verdict = verify(w.backends, node_run.benign)
    steps = {c.name: (c.ok, c.detail) for c in verdict.checks if c.name.endswith("ran sandboxed")}
    assert steps == {
        "step join: ran sandboxed": (True, "bubblewrap sandbox, no network"),
        "step digest: ran sandboxed": (True, "bubblewrap sandbox, no network"),
    }
    assert verdict.ok


def test_node_refuses_without_bwrap_unless_no_sandbox(
    node_run: NodeRun, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from eotrust.verify.verifier import verify

    w = node_run.world
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    code, output = _cli(w, "node", "run", "--platform", PLATFORM, "--once", "--as", "platform-owner")
    assert code != 0 and "bubblewrap (bwrap) is not installed" in output and "apt-get install bubblewrap" in output
    assert "Traceback" not in output and len(output.strip().splitlines()) <= 3
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    address = w.request(pause=0.01).address
    w.answer_all(address)
    code, output = _cli(w, "node", "run", "--platform", PLATFORM, "--once", "--as", "platform-owner", "--no-sandbox")
    assert code == 0, output
    assert "WARNING: --no-sandbox" in output and "the sandbox is OFF" in output
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    verdict = verify(w.backends, address)
    steps = {c.name: (c.ok, c.detail) for c in verdict.checks if c.name.endswith("ran sandboxed")}
    # both ran now: a node runs applications without the step cache (the benign run's join
    # output was deleted with that task's other intermediates when it ended)
    assert steps == {
        "step join: ran sandboxed": (False, "UNSANDBOXED (the platform ran it with --no-sandbox)"),
        "step digest: ran sandboxed": (False, "UNSANDBOXED (the platform ran it with --no-sandbox)"),
    }
    assert not verdict.ok
