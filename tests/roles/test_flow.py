"""The task flow end to end on the embedded backends, and each fault of the issue."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flow_world import PLATFORM, SAMPLE, World, flip_byte

from eotrust.errors import EotrustError, PermissionDeniedError, StateError
from eotrust.ledger import RequestStatus
from eotrust.ledger.funding import fund_parties
from eotrust.roles.owners.answer import answer_task
from eotrust.roles.submitter.collect import collect_results, failure_log

if TYPE_CHECKING:
    from eotrust.ledger.task import TaskClient
    from eotrust.nodes.journal import TaskJournal
    from eotrust.nodes.node import PlatformNode


def test_happy_path_seven_steps(world: World, tmp_path: Path) -> None:
    opened = world.request()
    address = opened.address
    assert world.state(address) == "RequestsLocked"
    world.answer_all(address)
    snap = world.task(address).status()
    assert snap.all_acknowledged
    # every input on the contract is a ciphertext in the store, not the plaintext
    for request in snap.requests:
        cid = request.input_cid
        assert world.store.has(cid)
        assert cid not in {d.body.cid for d in world.datasets.values()}

    states = world.node().recover()
    assert states == {address: "Finished"}
    snap = world.task(address).status()
    assert len(snap.results) == 3  # digest, stacked, run record

    results = {
        r.name: r for r in collect_results(world.backends, world.parties["submitter"], address, tmp_path / "out")
    }
    assert set(results) == {"digest", "stacked", "run-record"}
    joined = (SAMPLE / "lulc.tif").read_bytes() + (SAMPLE / "cloud_mask.tif").read_bytes()
    assert results["stacked"].path.read_bytes() == joined
    assert results["digest"].path.read_text().strip() == hashlib.sha256(joined).hexdigest()
    assert results["stacked"].encrypted and not results["run-record"].encrypted
    # the platform never wrote a plaintext into the shared store
    assert not world.store.has(results["stacked"].plaintext_cid)
    # a second pass of the node changes nothing
    assert world.node().recover() == {}


def test_a_data_owner_refuses(world: World) -> None:
    address = world.request().address
    answer_task(world.backends, world.parties["algorithm-owner"], address)
    answers = answer_task(world.backends, world.parties["owner-b"], address, refuse=True)
    assert [a.acknowledged for a in answers] == [False]
    assert world.state(address) == "Nacked"
    assert world.node().recover() == {}
    with pytest.raises(StateError, match="Nacked"):
        answer_task(world.backends, world.parties["owner-a"], address)


def test_a_wrong_party_cannot_acknowledge(world: World) -> None:
    from eotrust.party import Role, create_party

    address = world.request().address
    mallory = create_party(world.settings, "mallory", Role.DATA_OWNER)
    fund_parties(world.chain, [mallory.account.address])
    with pytest.raises(PermissionDeniedError, match="no open request"):
        answer_task(world.backends, mallory, address)
    # and the contract itself refuses, whatever the client does
    task = world.task(address)
    with pytest.raises(EotrustError, match="application owner"):
        task.ack_application(mallory.account)
    with pytest.raises(EotrustError, match="platform owner"):
        task.ack_platform(mallory.account, mallory.card.age_recipient)
    with pytest.raises(EotrustError):
        task.ack_request(world.parties["owner-a"].account, 1, world.datasets["labels"].body.cid)  # owner-b's
    assert world.state(address) == "RequestsLocked"


def _answer_all_but_clouds(world: World, address: str) -> int:
    for name in ("algorithm-owner", "platform-owner", "owner-b"):
        answer_task(world.backends, world.parties[name], address)
    snap = world.task(address).status()
    return next(i for i, r in enumerate(snap.requests) if r.status is RequestStatus.Requested)


def test_dataset_encrypted_for_the_wrong_key_fails_the_task(world: World) -> None:
    from eotrust.crypto import generate_identity, seal_to_store

    address = world.request().address
    index = _answer_all_but_clouds(world, address)
    _, stranger = generate_identity()
    sealed = seal_to_store(world.store, SAMPLE / "cloud_mask.tif", [stranger])
    world.task(address).ack_request(world.parties["owner-a"].account, index, sealed.cid)

    assert world.node().recover() == {address: "Failed"}
    assert world.task(address).status().results == []
    log = failure_log(world.backends, world.parties["submitter"], address)
    assert "input 'cloud_mask'" in log


def test_input_altered_after_acknowledgment_fails_the_task(world: World) -> None:
    address = world.request().address
    world.answer_all(address)
    snap = world.task(address).status()
    clouds = next(r for r in snap.requests if r.dataset_record == world.datasets["clouds"].id)
    assert clouds.input_cid is not None  # acknowledged: the owner has named its input
    flip_byte(world.store, clouds.input_cid)

    assert world.node().recover() == {address: "Failed"}
    assert world.task(address).status().results == []
    log = failure_log(world.backends, world.parties["submitter"], address)
    assert "input 'cloud_mask'" in log and clouds.input_cid in log


def test_failing_workflow_step_ends_failed_with_its_log(world: World) -> None:
    address = world.request(fail=1).address
    world.answer_all(address)
    assert world.node().recover() == {address: "Failed"}
    snap = world.task(address).status()
    assert snap.results == []  # nothing half-recorded
    # no result recorded, only the sealed failure log (its plaintext CID, signed, for the reader's check)
    assert [r.body.name for r in world.catalog.results(task=address)] == ["failure-log"]
    log = failure_log(world.backends, world.parties["submitter"], address)
    assert "step 'digest' failed" in log and "exit status 3" in log and "digest: told to fail" in log
    with pytest.raises(StateError, match="Failed"):
        collect_results(world.backends, world.parties["submitter"], address, Path("unused"))


class Crash(BaseException):
    """A kill -9 stand-in: not an Exception, so nothing on the way catches it."""


@pytest.mark.parametrize("where", ["after-start", "after-seal", "after-first-result", "before-finish"])
def test_restart_mid_task_finishes_exactly_once(world: World, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from eotrust.nodes.collector import Collector
    from eotrust.nodes.runner import Runner

    address = world.request().address
    world.answer_all(address)
    node = world.node()
    task_type = type(world.task(address))

    if where == "after-start":
        monkeypatch.setattr(Runner, "execute", lambda self, task, snap: (_ for _ in ()).throw(Crash()))
    elif where == "after-seal":
        monkeypatch.setattr(Collector, "collect", lambda self, task, snap, entry: (_ for _ in ()).throw(Crash()))
    elif where == "after-first-result":
        real = task_type.add_result
        calls = {"n": 0}

        def add_once(self: TaskClient, *args: Any, **kwargs: Any) -> int:
            if calls["n"] >= 1:
                raise Crash()
            calls["n"] += 1
            return real(self, *args, **kwargs)

        monkeypatch.setattr(task_type, "add_result", add_once)
    else:
        monkeypatch.setattr(task_type, "finish", lambda self, *a, **k: (_ for _ in ()).throw(Crash()))

    with pytest.raises(Crash):
        node.recover()
    assert world.state(address) == "Running"
    monkeypatch.undo()

    restarted = world.node()  # a new process would build a new node: nothing carried in memory
    assert restarted.recover() == {address: "Finished"}
    cids = world.task(address).status().result_cids
    assert len(cids) == 3 and len(set(cids)) == 3
    entry = restarted.ctx.journal.load(address)
    assert cids == [r.cid for r in entry.results]
    records = world.catalog.results(task=address)
    assert sorted(r.body.cid for r in records) == sorted(cids)


def test_one_node_per_platform_and_home(world: World) -> None:
    """While a node of the platform runs (here: holds its lock, as `run` and `recover` do), a
    second node on the same home is refused in one line naming the holder; once the first
    lets go, the second runs. (The processes' version: tests/roles/test_multiprocess.py.)"""
    import os

    first, second = world.node(), world.node()
    with first.exclusive(), first.exclusive():  # re-entrant for the node that holds it
        with pytest.raises(StateError, match=f"already runs on this home \\(pid {os.getpid()}\\)"):
            second.recover()
        with open(first._pid_path, "wb") as f:  # whoever can write the home: only a few bytes are read
            f.truncate(1 << 30)
        with pytest.raises(StateError, match=r"already runs on this home \(stop it first"):
            second.recover()
    assert second.recover() == {}
    with second.exclusive():
        with pytest.raises(StateError, match="already runs"):
            first.run()


def test_a_servers_node_thread_refused_logs_and_returns(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """`eotrust serve` runs the nodes of the platforms it holds keys for, in threads; when a
    node of that platform already runs on the home, its thread logs why and ends (the server
    serves on) instead of dying with a traceback."""
    import threading

    from eotrust.api.background import _run_node

    holder = world.node()
    with holder.exclusive(), caplog.at_level("WARNING", logger="eotrust.api.background"):
        _run_node(world.node(), threading.Event(), "test-platform")
    assert "the node of platform test-platform does not run in this server: a node of platform" in caplog.text


def test_a_node_cleans_up_after_a_killed_one(world: World) -> None:
    """What a node killed mid-task (SIGKILL) left is deleted by the next node of the platform
    before anything else: objects its run added to the private store (named by what the store
    held before, in in-flight.json) and its work directories. An unreadable record deletes
    nothing from the store and says so. (A real SIGKILL: tests/roles/test_multiprocess.py.)"""
    node = world.node()
    private, ctx = node.ctx.private, node.ctx
    before = private.put_bytes(b"there before the run")
    made = private.put_bytes(b"a decrypted input of the killed run")
    (ctx.work_dir / "task-killed" / "inputs").mkdir(parents=True)
    ctx.in_flight_path.write_text(f'{{"task": "0x{"ab" * 20}", "kept": ["{before}"]}}')
    node.recover()
    assert private.has(before) and not private.has(made)
    assert not list(ctx.work_dir.glob("task-*")) and not ctx.in_flight_path.exists()
    assert any("interrupted" in line for line in world.logs)

    made = private.put_bytes(b"another run's object")
    ctx.in_flight_path.write_text('{"task": ')  # torn: nothing can say what to keep
    world.node().recover()
    assert private.has(before) and private.has(made)
    assert not ctx.in_flight_path.exists()
    assert any("cannot be read" in line for line in world.logs)
    from eotrust.nodes.runner import IN_FLIGHT_MAX_BYTES

    with open(ctx.in_flight_path, "wb") as f:  # whoever can write the home: a huge record is not read
        f.truncate(IN_FLIGHT_MAX_BYTES + 1)
    world.node().recover()
    assert private.has(before) and private.has(made) and not ctx.in_flight_path.exists()
    private.remove(before)  # the module's world is shared
    private.remove(made)


def test_a_platform_short_of_disk_fails_the_task_before_decrypting_anything(world: World) -> None:
    """A data owner's huge dataset must not fill the platform's disk (its node journal, chain and
    catalogue live there): the node checks the inputs' sizes against ``min_free_disk_mb`` before
    it decrypts one, and the task fails with that reason in its log. Before, the node decrypted
    whatever it was given until the disk was full."""
    from eotrust.backends import Backends
    from eotrust.disk import free_bytes
    from eotrust.nodes.node import PlatformNode

    address = world.request().address
    world.answer_all(address)
    free_mib = free_bytes(world.settings.home) >> 20
    short = Backends(world.settings.model_copy(update={"min_free_disk_mb": free_mib + 4096}))
    private = world.settings.path("nodes", PLATFORM, "private-store")
    before = {p for p in private.rglob("*") if p.is_file()}
    node = PlatformNode(short, world.parties["platform-owner"], PLATFORM, log=world.logs.append)
    assert node.recover() == {address: "Failed"}
    log = failure_log(world.backends, world.parties["submitter"], address)
    assert f"platform {PLATFORM} is short of disk" in log, log
    assert not any("decrypted on the platform" in line for line in world.logs)
    assert {p for p in private.rglob("*") if p.is_file()} == before  # nothing decrypted, nothing left


def test_a_scan_reads_in_full_only_the_tasks_the_node_can_move(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anyone may open tasks naming any platform. A node's scan (every start, every `node run
    --once`, every return of the chain) read each task of the factory in full — its logs from
    its creation block to the head — whoever it named and whatever its state: 400 strangers'
    tasks cost 41 s, growing with the square of their number (an audit). Now a task of another
    platform owner or an ended one is glanced at once per node, one waiting for answers on every
    scan (one contract call), and only a task the node can move is read in full."""
    from eotrust.ledger.task import TaskClient

    submitter = world.parties["submitter"]
    elsewhere = world.backends.factory.create_task(
        submitter.account,
        results_recipient=submitter.card.age_recipient,
        application_id=world.application.id,
        application_owner=world.application.owner,
        platform_id=world.platform.id,
        platform_owner=world.parties["owner-a"].account.address,  # not this platform's owner
        paid=False,
    )
    waiting = world.request()  # names this platform; nobody answered
    ready = world.request()
    world.answer_all(ready.address)
    reads: list[str] = []
    glances: list[str] = []
    status, glance = TaskClient.status, TaskClient.glance

    def counted_status(self: TaskClient) -> Any:
        reads.append(self.address)
        return status(self)

    def counted_glance(self: TaskClient) -> Any:
        glances.append(self.address)
        return glance(self)

    monkeypatch.setattr(TaskClient, "status", counted_status)
    monkeypatch.setattr(TaskClient, "glance", counted_glance)
    node = world.node()
    assert node.recover() == {ready.address: "Finished"}
    assert set(reads) == {ready.address}
    assert set(glances) == {elsewhere.address, waiting.address, ready.address}
    reads.clear()
    glances.clear()
    assert node.recover() == {} and reads == [] and glances == [waiting.address]
    world.answer_all(waiting.address)
    assert node.recover() == {waiting.address: "Finished"} and set(reads) == {waiting.address}


def test_a_journal_entry_planted_in_the_home_records_nothing(world: World) -> None:
    """Whoever could write the platform's home wrote the node's journal entry of a task it was
    about to run — results never computed — and the node signed them onto the contract and
    into the catalogue and finished the task without running anything (an audit). Now an entry
    the platform's owner did not sign is refused: nothing is recorded, the task waits."""
    import json

    from eotrust.nodes.journal import SealedResult, TaskJournal

    address = world.request().address
    world.answer_all(address)
    forged = world.store.put_bytes(b"FORGED RESULT, NEVER COMPUTED\n")
    entry = TaskJournal(
        address=address,
        run_cid=forged,
        results=[SealedResult(name="classmap", cid=forged, plaintext_cid=forged, size=30, recipient="")],
    )
    node = world.node()
    path = node.ctx.journal.path(node.ctx.chain.key, address)
    path.parent.mkdir(parents=True, exist_ok=True)
    for planted in (entry.model_dump_json(), json.dumps({"entry": entry.model_dump(mode="json"), "signature": "0x00"})):
        path.write_text(planted)
        assert node.recover() == {address: "error"}
        snap = world.task(address).status()
        assert snap.results == [] and not snap.state.is_terminal
        assert world.catalog.results(task=address) == []
        assert "not one this platform's owner signed" in world.logs[-1]
    path.unlink()  # the operator moves it aside: the task runs
    assert node.recover() == {address: "Finished"}
    assert forged not in world.task(address).status().result_cids


def _plant_unkeyed(world: World, node: PlatformNode, entry: TaskJournal) -> None:
    """``entry`` as the node wrote it before entries named their chain: version 1, signed by the
    platform's owner, at ``tasks/<address>.json``."""
    from eotrust.crypto.signing import Domain, signed_document

    legacy = node.ctx.journal.dir / f"{entry.address.lower()}.json"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    owner = world.parties["platform-owner"].account
    payload = {"platform": node.ctx.platform.id, "entry": entry.model_dump(mode="json")}
    legacy.write_bytes(signed_document(owner, Domain.NODE_JOURNAL, 1, payload))


def test_a_journal_entry_of_another_chain_is_not_recorded_on_this_ones_task(world: World) -> None:
    """A dev chain started afresh (the embedded one's directory removed, anvil restarted) gives
    its tasks the previous chain's addresses. The node's journal was keyed by the task's address
    alone, so the entry its owner signed for the previous chain's task at this address (results
    sealed for that task's submitter) was recorded on this chain's task, which finished without
    running (shown here with an entry of the format the node wrote then). Now entries are kept
    and signed per chain (``Chain.key``): another chain's, or one naming no chain, is not read."""
    from eotrust.crypto.signing import Domain, signed_document
    from eotrust.nodes.journal import SealedResult, TaskJournal

    address = world.request().address
    world.answer_all(address)
    earlier = world.store.put_bytes(b"THE PREVIOUS CHAIN'S RESULT\n")
    entry = TaskJournal(
        address=address,
        run_cid=earlier,
        results=[SealedResult(name="classmap", cid=earlier, plaintext_cid=earlier, size=28, recipient="")],
    )
    node = world.node()
    owner, platform = world.parties["platform-owner"].account, node.ctx.platform.id
    _plant_unkeyed(world, node, entry)  # the entry as the node signed it before it named its chain
    # and as it signs it now, for another chain
    other = node.ctx.journal.path("31337-0x" + "ab" * 32, address)
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(
        signed_document(
            owner,
            Domain.NODE_JOURNAL,
            2,
            {"platform": platform, "chain": "31337-0x" + "ab" * 32, "entry": entry.model_dump(mode="json")},
        )
    )
    assert node.recover() == {address: "Finished"}
    assert earlier not in world.task(address).status().result_cids  # before: the previous chain's result


def test_a_task_running_across_the_upgrade_finishes_with_the_results_it_began_to_record(world: World) -> None:
    """A node upgraded while a task was Running, some of its results already on the contract:
    its entry is of the format before entries named their chain, and running the task again
    would record a second set beside the first. Such an entry is taken over when the contract
    already holds results and every one of them is in it (sealed outputs are random
    ciphertexts: no other task's entry holds them); the task finishes with exactly its results."""
    from eotrust.nodes.journal import SealedResult, TaskJournal

    p = world.parties
    address = world.request().address
    world.answer_all(address)
    world.task(address).start(p["platform-owner"].account)
    first, second = (world.store.put_bytes(f"result {i} sealed before the upgrade\n".encode()) for i in (1, 2))
    world.task(address).add_result(p["platform-owner"].account, first, owner=p["submitter"].account.address)
    entry = TaskJournal(
        address=address,
        run_cid=first,
        results=[
            SealedResult(name=name, cid=cid, plaintext_cid=cid, size=36, recipient="")
            for name, cid in (("digest", first), ("stacked", second))
        ],
    )
    node = world.node()
    _plant_unkeyed(world, node, entry)
    assert node.recover() == {address: "Finished"}
    assert world.task(address).status().result_cids == [first, second]  # not a second, freshly sealed set


def test_a_data_file_swapped_while_it_is_sealed_is_not_sent(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The owner's holdings are re-hashed before sealing, but the file was opened again to seal
    it: one swapped in between (whoever can write where the data lies) was sealed and sent to
    the platform as the dataset (an audit, by reading). What was sealed must be the dataset."""
    import eotrust.roles.data_owner.holdings as holdings

    address = world.request().address
    swapped = world.settings.home.parent / "swapped.tif"
    swapped.write_bytes(b"not the registered dataset")
    located = holdings.locate
    monkeypatch.setattr(holdings, "locate", lambda *a, **k: (located(*a, **k), swapped)[1])
    with pytest.raises(EotrustError, match="changed while it was sealed"):
        answer_task(world.backends, world.parties["owner-a"], address)
    assert all(r.status is not RequestStatus.Acknowledged for r in world.task(address).status().requests)
