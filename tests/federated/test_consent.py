"""A stranger opens a federated task naming a data owner as its participant and itself as the
aggregator and auditor: the owner's node trained on its private pixels and sealed the update
for the stranger's keys (an update is derived from those pixels), and a platform's node
aggregated for whoever named it. A node now takes part only in the tasks its party accepted,
one by one (``federated accept``, after reading the plan) or from a submitter it trusts
(``node run --accept-from``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from dev_chain import restart_embedded_chain
from fed_world import owner_sets, tiny_plan
from typer.testing import CliRunner

from eotrust.backends import Backends
from eotrust.cli.main import app
from eotrust.errors import InvalidInputError, NotFoundError
from eotrust.federated.consent import Consent, consent_dir
from eotrust.federated.create import create_federated_task
from eotrust.federated.update import open_update
from eotrust.ledger.federated import FederatedSnapshot, FederatedTaskClient
from eotrust.nodes.federated import FederatedNode
from eotrust.party import Party, Role, create_party
from eotrust.settings import Settings, load_settings

runner = CliRunner()


def _stranger_task(
    backends: Backends, stranger: Party, participant: str, aggregator: Party, *, sealed_for: str | None = None
) -> FederatedTaskClient:
    """A task ``stranger`` opens naming ``participant`` and ``aggregator``, its updates sealed
    for ``sealed_for`` (default: the aggregator's own key)."""
    return create_federated_task(
        backends.chain,
        backends.store,
        stranger.account,
        auditor_recipient=stranger.age_recipient,
        plan=tiny_plan(),
        aggregator=aggregator.address,
        aggregator_recipient=sealed_for or aggregator.age_recipient,
        participants=[participant],
        rounds=1,
        round_seconds=3600,
    )


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    return load_settings(home=tmp_path / "home")


@dataclass(frozen=True)
class People:
    backends: Backends
    acme: Party  # a data owner
    globex: Party  # another
    hpc: Party  # a platform
    mallory: Party  # a stranger who opens tasks


@pytest.fixture
def people(home: Settings) -> People:
    return People(
        Backends(home),
        create_party(home, "acme", Role.DATA_OWNER),
        create_party(home, "globex", Role.DATA_OWNER),
        create_party(home, "hpc", Role.PLATFORM_OWNER),
        create_party(home, "mallory", Role.SUBMITTER),
    )


def test_a_strangers_task_gets_nothing_from_a_data_owners_node(people: People) -> None:
    backends, owner, stranger = people.backends, people.acme, people.mallory
    task = _stranger_task(backends, stranger, owner.address, stranger)
    node = FederatedNode(backends, owner, "participant", data=owner_sets()[0][0])
    said = node.step_all()[task.address]
    assert said.startswith("named as participant, not accepted: nothing done")
    assert f"eotrust federated accept {task.address} --as acme" in said
    assert task.status().submitted == [] and task.updates_of(0) == []  # nothing trained, nothing sealed
    # trusting the stranger as a submitter is the owner's choice: then it trains for it
    trusting = FederatedNode(backends, owner, "participant", data=owner_sets()[0][0], accept_from=[stranger.address])
    assert trusting.step_all()[task.address] == "round 0: submitted"
    (update,) = task.updates_of(0)
    assert open_update(backends.store, update.update_cid, stranger.age_identity).samples > 0


def test_a_platform_aggregates_only_what_it_accepted(home: Settings, people: People) -> None:
    backends, owner, platform, stranger = people.backends, people.acme, people.hpc, people.mallory
    task = _stranger_task(backends, stranger, owner.address, platform)
    FederatedNode(backends, owner, "participant", data=owner_sets()[0][0], accept_from=[stranger.address]).step_all()
    aggregator = FederatedNode(backends, platform, "aggregator")
    assert aggregator.step_all()[task.address].startswith("named as aggregator, not accepted")
    assert task.rounds()[0].aggregate_cid is None
    # accepted by address, from the command line: the plan is shown first
    shown = runner.invoke(app, ["--home", str(home.home), "federated", "accept", task.address, "--as", "hpc"])
    assert shown.exit_code == 0, shown.output
    flat = " ".join(shown.stdout.split())
    assert f"submitter {stranger.address}" in flat and "temporal_cnn" in flat and "no differential privacy" in flat
    assert "accepted as aggregator" in flat
    assert aggregator.step_all()[task.address] == "round 0: aggregated"


def test_accepting_is_checked(home: Settings, people: People) -> None:
    backends, owner, other, stranger = people.backends, people.acme, people.globex, people.mallory
    task = _stranger_task(backends, stranger, owner.address, stranger)
    base = ["--home", str(home.home), "federated", "accept"]
    # a party the task does not name
    bad = runner.invoke(app, [*base, task.address, "--as", "globex"])
    assert isinstance(bad.exception, InvalidInputError)
    assert str(bad.exception).startswith(f"federated task {task.address} names globex ({other.address}) neither")
    # no address, no task there
    bad = runner.invoke(app, [*base, "../../etc", "--as", "acme"])
    assert isinstance(bad.exception, InvalidInputError) and "not an Ethereum address" in str(bad.exception)
    bad = runner.invoke(app, [*base, owner.address, "--as", "acme"])
    assert isinstance(bad.exception, NotFoundError)
    bad = runner.invoke(
        app,
        ["--home", str(home.home), "node", "run", "--federated", "aggregator", "--as", "acme"]
        + ["--accept-from", "nobody", "--once"],
    )
    assert isinstance(bad.exception, InvalidInputError) and "'nobody' is not an Ethereum address" in str(bad.exception)
    assert not any((home.home / "nodes").rglob("0x*"))  # nothing recorded
    ok = runner.invoke(app, [*base, task.address, "--as", "acme", "--json"])
    assert ok.exit_code == 0, ok.output
    assert '"role": "participant"' in ok.stdout


def test_a_poll_reads_no_task_again_that_names_another_party_or_waits_for_acceptance(
    home: Settings, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone may open federated tasks by the thousand (100 cost a node 1.5 s a poll, each read
    again every poll); who a task names and who opened it never change, so a task naming
    another party is read once, and one naming this party but not accepted is read again only
    once it is accepted."""
    backends, owner, other, stranger = people.backends, people.acme, people.globex, people.mallory
    elsewhere = _stranger_task(backends, stranger, other.address, stranger)
    mine = _stranger_task(backends, stranger, owner.address, stranger)
    reads: list[str] = []
    status = FederatedTaskClient.status

    def counted(self: FederatedTaskClient) -> FederatedSnapshot:
        reads.append(self.address)
        return status(self)

    monkeypatch.setattr(FederatedTaskClient, "status", counted)
    node = FederatedNode(backends, owner, "participant", data=owner_sets()[0][0])
    first = node.step_all()
    assert elsewhere.address not in first and first[mine.address].startswith("named as participant, not accepted")
    assert sorted(reads) == sorted([elsewhere.address, mine.address])
    reads.clear()
    assert node.step_all() == {} and reads == []  # nothing read, nothing said again
    Consent(consent_dir(home, "acme"), signer=owner.account, chain=backends.chain).accept(status(mine))
    assert node.step_all() == {mine.address: "round 0: submitted"} and reads == [mine.address]


def test_a_plan_too_large_to_train_is_not_accepted(home: Settings, people: People) -> None:
    """A submitter that creates the contract itself may name any plan: one whose network has
    1.6 billion parameters is refused before anything is recorded (a participant's node would
    refuse to build it anyway)."""
    from eotrust.federated.weights import encode
    from eotrust.ledger.federated import FederatedFactoryClient

    params = {"hidden": 1024, "layers": 8, "kernel_size": 15, "dropout": 0.0, "pooling": "avg", "members": 16}
    store = people.backends.store
    task = FederatedFactoryClient(people.backends.chain).create(
        people.mallory.account,
        aggregator=people.mallory.address,
        aggregator_recipient=people.mallory.age_recipient,
        auditor_recipient=people.mallory.age_recipient,
        plan_cid=store.put_bytes(tiny_plan(params=params).canonical()),
        model_cid=store.put_bytes(encode(tiny_plan().initial_weights())),
        participants=[people.acme.address],
        rounds=1,
        quorum=1,
        round_seconds=3600,
    )
    bad = runner.invoke(app, ["--home", str(home.home), "federated", "accept", task.address, "--as", "acme"])
    assert isinstance(bad.exception, InvalidInputError)
    assert "parameters; a federated plan's model may have at most 20,000,000" in str(bad.exception)
    assert not any((home.home / "nodes").rglob("0x*"))  # nothing recorded


def test_a_consent_file_planted_in_the_home_accepts_nothing(home: Settings, people: People) -> None:
    """Any file at `accepted/<task>` counted as the party's acceptance: whoever could write the
    home planted one, and the owner's node trained on its private pixels for a stranger's task
    and sealed the update for the stranger (an audit). An acceptance is now signed by the party
    (task and plan); another's signature, another task's acceptance, or a text file accept
    nothing."""
    backends, owner, stranger = people.backends, people.acme, people.mallory
    task = _stranger_task(backends, stranger, owner.address, stranger)
    other = _stranger_task(backends, stranger, owner.address, stranger)
    node = FederatedNode(backends, owner, "participant", data=owner_sets()[0][0])
    directory = consent_dir(home, "acme")
    mine = Consent(directory, signer=owner.account, chain=backends.chain)
    planted = Consent(directory, signer=stranger.account, chain=backends.chain).accept(
        task.status()
    )  # signed, by someone else
    assert planted == mine.path(task.address)
    for forged in (planted.read_bytes(), mine.accept(other.status()).read_bytes(), b"anything\n"):
        planted.write_bytes(forged)
        said = node.step_all()
        assert said.get(task.address, "").startswith("named as participant, not accepted"), said
        assert task.status().submitted == [] and task.updates_of(0) == []
        node = FederatedNode(backends, owner, "participant", data=owner_sets()[0][0])  # forgets what it read
    mine.accept(task.status())  # the owner's own acceptance
    assert node.step_all()[task.address] == "round 0: submitted"


def test_accept_shows_who_reads_the_updates_and_refuses_a_key_that_is_not_the_aggregators(
    home: Settings, people: People
) -> None:
    """Before (an audit), a task naming hpc as its aggregator could seal every update for
    mallory's key: `accept` said only "sealed for the aggregator and the submitter", the owners
    trained and submitted, and mallory read them while hpc could open none. Now `accept` prints
    both keys, and refuses one that is not the card's of the party it names, where this home
    holds that card."""
    backends, owner, platform, stranger = people.backends, people.acme, people.hpc, people.mallory
    base = ["--home", str(home.home), "federated", "accept"]
    honest = _stranger_task(backends, stranger, owner.address, platform)
    shown = runner.invoke(app, [*base, honest.address, "--as", "acme"])
    assert shown.exit_code == 0, shown.output
    flat = " ".join(shown.stdout.split())
    assert platform.age_recipient in flat and stranger.age_recipient in flat
    hijacked = _stranger_task(backends, stranger, owner.address, platform, sealed_for=stranger.age_recipient)
    refused = runner.invoke(app, [*base, hijacked.address, "--as", "acme"])
    assert isinstance(refused.exception, InvalidInputError), refused.output
    assert f"is not the key of hpc ({platform.address})" in str(refused.exception)
    assert not Consent(consent_dir(home, "acme"), signer=owner.account, chain=backends.chain).accepts(hijacked.status())


def test_an_acceptance_does_not_carry_over_to_a_fresh_chain_at_the_same_address(
    home: Settings, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh dev chain (the embedded one restarted, anvil) replays the same deployer's same
    nonces, so a task opened on it gets the address of one on the previous chain — with another
    plan, other keys, or none of the owner's say. Before (an audit), an acceptance was keyed by
    the task's address alone (and the plan's CID): the owner's node trained for the new chain's
    task on the strength of what it had accepted on the old one. An acceptance now names the
    chain (its id and genesis hash)."""
    backends, owner, stranger = people.backends, people.acme, people.mallory
    old = _stranger_task(backends, stranger, owner.address, stranger)
    shown = runner.invoke(app, ["--home", str(home.home), "federated", "accept", old.address, "--as", "acme"])
    assert shown.exit_code == 0, shown.output
    restart_embedded_chain(home, monkeypatch)
    fresh = Backends(home)
    task = _stranger_task(fresh, stranger, owner.address, stranger)
    assert task.address == old.address and fresh.chain.genesis_hash != backends.chain.genesis_hash
    node = FederatedNode(fresh, owner, "participant", data=owner_sets()[0][0])
    said = node.step_all()[task.address]
    assert said.startswith("named as participant, not accepted: nothing done"), said
    assert task.status().submitted == []
    # accepted again, on this chain: it takes part
    shown = runner.invoke(app, ["--home", str(home.home), "federated", "accept", task.address, "--as", "acme"])
    assert shown.exit_code == 0, shown.output
    assert node.step_all()[task.address] == "round 0: submitted"


def test_a_running_node_stops_when_its_chain_is_started_afresh(people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node keeps polling across a chain that went away (anvil restarted): the fresh chain's
    tasks have the old one's addresses, while the node remembers by address which tasks ended
    or name others, and reads its journal and acceptances under the chain it read first. It now
    stops, in one line, when the chain's genesis is another. (The running node's ``Chain`` is
    pointed at the fresh chain, as one talking to anvil by URL is when anvil is restarted.)"""
    from eotrust.errors import StateError

    backends, owner = people.backends, people.acme
    node = FederatedNode(backends, owner, "participant", data=owner_sets()[0][0])
    assert node.step_all() == {}
    fresh = restart_embedded_chain(backends.settings, monkeypatch)
    monkeypatch.setattr(node.ctx.chain, "backend", fresh.backend)
    monkeypatch.setattr(node.ctx.chain, "w3", fresh.w3)
    with pytest.raises(StateError, match="was started afresh"):
        node.step_all()


def test_a_running_node_stops_when_its_chain_is_started_afresh_in_the_same_second(
    people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the node told chains apart by its genesis block's timestamp: a chain started
    afresh in the same second (its genesis another, by its random bytes, but stamped the same)
    was taken for the one it polled first. The embedded chain is started afresh for real, with
    eth-tester's clock pinned to the first genesis's second; the running node's ``Chain`` is
    pointed at it, as one talking to anvil by URL is when anvil is restarted there (an embedded
    chain's ``Chain`` keeps the journal it opened, so it never follows a restart by itself)."""
    import eth_tester.backends.pyevm.main as pyevm

    from eotrust.errors import StateError
    from eotrust.ledger import Chain

    backends, owner = people.backends, people.acme
    node = FederatedNode(backends, owner, "participant", data=owner_sets()[0][0])
    assert node.step_all() == {}
    chain = node.ctx.chain
    second = chain.block_timestamp(0)
    settings = backends.settings
    settings.chain_dir.rename(settings.chain_dir.with_name(settings.chain_dir.name + "-before"))
    with monkeypatch.context() as m:
        m.setattr(pyevm, "time", SimpleNamespace(time=lambda: float(second)))
        fresh = Chain.from_settings(settings)
        fresh.block_number()  # the genesis is made and journalled now
    assert fresh.block_timestamp(0) == second and fresh.genesis_hash != chain.genesis_hash
    monkeypatch.setattr(chain, "backend", fresh.backend)
    monkeypatch.setattr(chain, "w3", fresh.w3)
    with pytest.raises(StateError, match="was started afresh"):
        node.step_all()
