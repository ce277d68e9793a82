"""Attack: the names of a task's results, chosen by others, used as file names.

Found by hand: the platform owner signs the catalogue record of each result, name included,
and `eotrust flow collect` wrote each decrypted result to ``OUT / name``. A platform owner who
recorded a result named ``/home/alice/.bashrc`` or ``../../.ssh/authorized_keys`` had the
submitter's own command write the platform's bytes there (a record for a result CID that the
platform already recorded is its to re-sign: the newest one named the file). The names come
from the application's workflow outputs, whose names nothing checked: an algorithm owner
could name an output ``../../x`` and have the platform's node write outside its work folder.

Now a result's name is a plain name (a letter or ``_``, then up to 99 ASCII letters, digits,
``_`` or ``-``): refused in the record's model (and the catalogue stores no record its model
refuses; one written into the database directly is refused when read, in one line), in the
workflow's outputs, and by the node before it writes; `flow collect` refuses, before it writes
anything, two results of one name and a result recorded twice differently (which one counted
was the platform's to arrange).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flow_world import World, make_world

from eotrust.catalog.entries import ResultInfo, make_body
from eotrust.errors import EotrustError, InvalidInputError
from eotrust.roles.submitter.collect import collect_results
from eotrust.settings import load_settings
from eotrust.workflow.spec import parse_workflow


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(load_settings(home=tmp_path / "home", step_retries=0))


HOSTILE = ["../escaped", "/tmp/abs", "a/b", "..", ".", "", "x\x00y", "-rf", "a\nb", "n" * 200]


def _finished(world: World) -> str:
    address = world.request().address
    world.answer_all(address)
    assert world.node().recover() == {address: "Finished"}
    return address


@pytest.mark.parametrize("name", HOSTILE)
def test_a_result_record_with_a_path_for_a_name_cannot_be_made(name: str) -> None:
    with pytest.raises(InvalidInputError, match="name"):
        make_body(
            ResultInfo,
            task="0x" + "1" * 40,
            name=name,
            cid="QmX",
            plaintext_cid="QmY",
            size=1,
            run_cid="",
            recipient="",
        )


def test_the_platforms_renamed_result_is_never_written_outside_the_folder(world: World, tmp_path: Path) -> None:
    address = _finished(world)
    snap = world.task(address).status()
    catalog = world.backends.catalog
    platform = world.parties["platform-owner"]
    first = next(r for r in catalog.results(task=address) if r.body.cid == snap.result_cids[0])
    escaped = tmp_path / "escaped.txt"
    # the platform re-signs its record of the first result with a path for a name: eotrust
    # refuses to store it, so the platform writes the signed row into the shared database itself
    forged = ResultInfo.model_construct(**{**first.body.model_dump(), "name": str(escaped)})
    with pytest.raises(InvalidInputError, match="field name"):
        catalog.register(platform, forged)
    from eotrust.catalog.entries import Kind, Record
    from eotrust.catalog.records import ResultRow

    signed = Record.sign(Kind.RESULT, forged, platform.account)
    with catalog._sessions.begin() as session:  # noqa: SLF001 - the platform's own database access
        session.add(ResultRow.from_record(signed))
    with pytest.raises(EotrustError) as caught:
        collect_results(world.backends, world.parties["submitter"], address, tmp_path / "out")
    assert "its body is no longer a valid result: field name" in str(caught.value)
    assert "\n" not in str(caught.value)  # one line
    assert not escaped.exists()
    assert not any(p for p in tmp_path.iterdir() if p.name not in {"out", "home"} and p.name.startswith("escaped"))


def test_two_results_of_one_name_are_refused(world: World, tmp_path: Path) -> None:
    address = _finished(world)
    snap = world.task(address).status()
    catalog = world.backends.catalog
    platform = world.parties["platform-owner"]
    records = {r.body.cid: r for r in catalog.results(task=address)}
    first, second = (records[cid] for cid in snap.result_cids[:2])
    # the platform, with the catalogue's holder, replaces its record of the second result by
    # one that takes the first one's name (the submitter's file of it would be overwritten)
    from sqlalchemy import delete

    from eotrust.catalog.records import ResultRow

    with catalog._sessions.begin() as session:  # noqa: SLF001 - the database holder's own access
        session.execute(delete(ResultRow).where(ResultRow.id == second.id))
    catalog.register(platform, ResultInfo(**{**second.body.model_dump(), "name": first.body.name}))
    with pytest.raises(EotrustError, match="two results named"):
        collect_results(world.backends, world.parties["submitter"], address, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_result_recorded_twice_differently_is_refused(world: World, tmp_path: Path) -> None:
    """Which of two signed records of one result would count was the platform's to arrange
    (the newer; within one second, the smaller id): neither counts."""
    address = _finished(world)
    snap = world.task(address).status()
    catalog = world.backends.catalog
    record = next(r for r in catalog.results(task=address) if r.body.cid == snap.result_cids[0])
    catalog.register(world.parties["platform-owner"], ResultInfo(**{**record.body.model_dump(), "name": "renamed"}))
    with pytest.raises(EotrustError, match="twice, differently"):
        collect_results(world.backends, world.parties["submitter"], address, tmp_path / "out")
    from eotrust.verify import verify

    verdict = verify(world.backends, address)  # and verify says so, as collect does
    assert not verdict.ok and any("twice, differently" in c.detail for c in verdict.failures), verdict


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "/abs"])
def test_a_workflow_output_named_as_a_path_is_refused(name: str) -> None:
    doc = {
        "name": "w",
        "services": {"s": {"python": "m:f", "outputs": {"out": "file"}}},
        "steps": {"a": {"service": "s"}},
        "outputs": {name: "a.out"},
    }
    with pytest.raises(EotrustError, match="workflow output"):
        parse_workflow(json.dumps(doc))


def test_the_node_records_no_result_under_a_path_or_a_repeated_name() -> None:
    from eotrust.errors import WorkflowError
    from eotrust.nodes.runner import result_names

    assert result_names({"b": "Qm2", "a": ["Qm0", "Qm1"]}) == [("a-0", "Qm0"), ("a-1", "Qm1"), ("b", "Qm2")]
    with pytest.raises(WorkflowError, match="two results named 'a-0'"):
        result_names({"a": ["Qm0", "Qm1"], "a-0": "Qm2"})  # a list's first item and an output of that name
    for name in ("../x", "/abs", "a/b", "n" * 101):
        with pytest.raises(WorkflowError, match="not a plain name"):
            result_names({name: "Qm0"})
