"""Attacks on the submitter's catalogue record of a task (which dataset feeds which workflow
input, the parameters), as the platform's node reads it.

Found by hand:
- anyone may sign a record naming any contract address, and the node read the newest record
  of the address as the task's: a stranger's record made the node fail every task it named
  ("not signed by its submitter") — any party could fail any other party's task;
- the input names are the submitter's words, and the node decrypted each input to
  ``WORK/inputs/NAME``: a submitter who named an input ``../../../x`` (and owned, or colluded
  with the owner of, the dataset feeding it) had the platform's node write those bytes outside
  its work folder.

Now the node (and verify, the market and the API) reads the record the contract's submitter
signed, refusing a submitter's two differing records; an input name is a plain name (a letter
or ``_``, then up to 99 letters, digits, ``_`` or ``-``) in the record's model, so a record
written past it is refused when read; and the node decrypts each input under a name of its own."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flow_world import World, make_world

from eotrust.catalog.entries import Kind, Record, TaskInfo
from eotrust.catalog.records import TaskRow
from eotrust.errors import InvalidInputError
from eotrust.settings import load_settings


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(load_settings(home=tmp_path / "home", step_retries=0))


def test_a_strangers_record_of_the_task_changes_nothing(world: World) -> None:
    address = world.request().address
    world.answer_all(address)
    genuine = world.backends.catalog.task(address, submitter=None)
    stranger = world.parties["owner-a"]
    later = datetime.fromisoformat(genuine.created) + timedelta(hours=1)  # the newest record of the address
    world.backends.catalog.register(
        stranger, TaskInfo(**{**genuine.body.model_dump(), "params": {"x": 1}}), created=later
    )
    assert world.node().recover() == {address: "Finished"}


@pytest.mark.parametrize("name", ["../../../escaped", "/abs/escaped", "a/b", ".."])
def test_an_input_named_as_a_path_cannot_be_recorded(name: str) -> None:
    with pytest.raises(InvalidInputError, match="inputs"):
        from eotrust.catalog.entries import make_body

        make_body(
            TaskInfo,
            address="0x" + "1" * 40,
            application_id="a",
            platform_id="p",
            inputs={name: "d"},
            results_recipient="r",
        )


def test_an_input_named_as_a_path_is_never_written_there(world: World, tmp_path: Path) -> None:
    address = world.request().address
    world.answer_all(address)
    catalog = world.backends.catalog
    genuine = catalog.task(address, submitter=None)
    escaped = tmp_path / "escaped"
    escaped.write_text("the platform's own file")  # written over, then deleted, by the old node
    first = next(iter(genuine.body.inputs))
    inputs = {("../" * 12 + str(escaped).lstrip("/")) if k == first else k: v for k, v in genuine.body.inputs.items()}
    forged = TaskInfo.model_construct(**{**genuine.body.model_dump(), "inputs": inputs})
    # the submitter replaces its record (with the database's holder): signed, but built unchecked
    from sqlalchemy import delete

    with catalog._sessions.begin() as session:  # noqa: SLF001 - the database holder's own access
        session.execute(delete(TaskRow).where(TaskRow.id == genuine.id))
        session.add(TaskRow.from_record(Record.sign(Kind.TASK, forged, world.parties["submitter"].account)))
    assert world.node().recover() == {address: "Failed"}
    from eotrust.roles.submitter.collect import failure_log

    log = failure_log(world.backends, world.parties["submitter"], address)
    assert "its body is no longer a valid task: field inputs" in log, log
    assert escaped.read_text() == "the platform's own file"


def test_a_request_with_an_input_named_as_a_path_opens_no_contract(world: World) -> None:
    """An application that declares no input names took any: the submitter's request with an
    input named ``../x`` created the contract, then failed with pydantic's traceback when its
    record was built — a contract left behind. Now refused in one line before anything is made."""
    from eotrust.catalog.entries import ApplicationInfo
    from eotrust.roles.submitter.request import TaskRequest, open_task

    catalog = world.backends.catalog
    open_app = catalog.register(
        world.parties["algorithm-owner"],
        ApplicationInfo(**{**world.application.body.model_dump(), "name": "no-declared-inputs", "inputs": []}),
    )
    before = len(world.backends.factory.all_tasks())
    request = TaskRequest(
        application=open_app.id, platform=world.platform.id, inputs={"../x": world.datasets["labels"].id}
    )
    with pytest.raises(InvalidInputError, match="input name"):
        open_task(world.backends, world.parties["submitter"], request)
    assert len(world.backends.factory.all_tasks()) == before


def test_a_strangers_records_are_not_the_tasks_provenance(world: World) -> None:
    """The catalogue's linked data (`eotrust sparql`, GET /linked-data) described every task
    record's run: a stranger's record naming a task made the task's results derive from the
    datasets the stranger named and associated the task with the stranger, and a result record
    the stranger signed became one of the run's results. Now only the records of the contract's
    submitter and platform owner describe the run."""
    import pyoxigraph as ox

    from eotrust.catalog.entries import ResultInfo
    from eotrust.linked.catalog_rdf import PROV, RDFS, Iris
    from eotrust.linked.graph import catalogue_store

    address = world.request().address
    world.answer_all(address)
    assert world.node().recover() == {address: "Finished"}
    catalog = world.backends.catalog
    genuine = catalog.task(address, submitter=None)
    stranger = world.parties["owner-a"]
    later = datetime.fromisoformat(genuine.created) + timedelta(hours=1)
    catalog.register(stranger, TaskInfo(**{**genuine.body.model_dump(), "inputs": {}}), created=later)
    some = world.task(address).status().result_cids[0]
    fake = ResultInfo(task=address, name="fake", cid=some, plaintext_cid=some, size=1, run_cid="", recipient="")
    catalog.register(stranger, fake)
    iris = Iris("http://x")
    store = catalogue_store(catalog, "http://x", chain=world.backends.chain)
    used = {q.object for q in store.quads_for_pattern(None, ox.NamedNode(PROV + "used"), None)}
    assert used == {iris.record(d) for d in genuine.body.inputs.values()}
    labels = {
        q.object.value
        for q in store.quads_for_pattern(None, ox.NamedNode(RDFS + "label"), None)
        if isinstance(q.object, ox.Literal)
    }
    assert "fake" not in labels and "run-record" in labels
    agents = {
        q.object for q in store.quads_for_pattern(iris.task(address), ox.NamedNode(PROV + "wasAssociatedWith"), None)
    }
    assert agents == {iris.agent(world.parties["submitter"].account.address)}


def test_made_up_tasks_do_not_weigh_on_the_markets_estimates(world: World) -> None:
    """The market estimates a run from past tasks of the same workflow: every task record with
    its platform's result records, as the record named the platform. A party could sign a
    record of a made-up task on a platform of its own, with results of any size, and so weigh on
    every later quote for the workflow. With the chain, only tasks whose contract exists and
    whose submitter and platform owner signed the records count."""
    from eotrust.catalog.entries import PlatformInfo, ResultInfo
    from eotrust.market.estimate import history

    address = world.request().address
    world.answer_all(address)
    assert world.node().recover() == {address: "Finished"}
    catalog, store, chain = world.backends.catalog, world.backends.store, world.backends.chain
    workflow = world.application.body.workflow_cid
    before = history(catalog, store, workflow, chain=chain)
    assert len(before.stored_bytes) == 1 and before.runs
    results = catalog.results_of(address, platform_owner=world.task(address).status().platform_owner)
    some = next(iter(results.values())).run_cid
    stranger = world.parties["owner-a"]
    own = catalog.register(stranger, PlatformInfo(name="made-up-platform", age_recipient=stranger.age_recipient))
    genuine = catalog.task(address, submitter=None).body
    made_up = "0x" + "9" * 40
    catalog.register(stranger, TaskInfo(**{**genuine.model_dump(), "address": made_up, "platform_id": own.id}))
    catalog.register(
        stranger,
        ResultInfo(task=made_up, name="huge", cid=some, plaintext_cid=some, size=10**15, run_cid=some, recipient=""),
    )
    after = history(catalog, store, workflow, chain=chain)
    assert after.stored_bytes == before.stored_bytes
