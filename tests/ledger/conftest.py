"""Ledger fixtures: one embedded chain per test module (tasks are cheap, chains are not),
named parties with local keys, and a helper that creates a task."""

from __future__ import annotations

import pytest
from eth_account import Account
from ledger_helpers import CID_A, CID_B, NewTask, Parties, recipient

from eotrust.ledger import Chain, TaskClient, TaskFactoryClient
from eotrust.ledger.escrow import EscrowClient
from eotrust.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _no_factory_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EOTRUST_FACTORY_ADDRESS", raising=False)


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(home=tmp_path_factory.mktemp("ledger-home"))


@pytest.fixture(scope="module")
def chain(module_settings: Settings) -> Chain:
    return Chain.from_settings(module_settings)


@pytest.fixture(scope="module")
def factory(chain: Chain) -> TaskFactoryClient:
    return TaskFactoryClient(chain)


@pytest.fixture(scope="module")
def escrow(chain: Chain, factory: TaskFactoryClient, parties: Parties) -> EscrowClient:
    """The escrow of the module's factory (deployed with it)."""
    factory.ensure_deployed(parties.submitter)
    return EscrowClient(chain)


@pytest.fixture(scope="module")
def parties() -> Parties:
    keys = [Account.from_key(bytes([0x40 + i]) * 32) for i in range(7)]
    return Parties(submitter=keys[0], app=keys[1], platform=keys[2], data=keys[3:6], stranger=keys[6])


@pytest.fixture(scope="module")
def new_task(factory: TaskFactoryClient, parties: Parties) -> NewTask:
    """A task in the state asked for: Initialized (with n requests), RequestsLocked, Running
    (all acknowledged), Finished, Nacked or Failed."""

    def make(state: str = "Initialized", requests: int = 2) -> TaskClient:
        p = parties
        task = factory.create_task(
            p.submitter,
            results_recipient=recipient(),
            application_id=CID_A,
            application_owner=p.app.address,
            platform_id="platform-record",
            platform_owner=p.platform.address,
        )
        if requests:
            task.add_requests(p.submitter, [(f"dataset-{i}", p.data[i].address) for i in range(requests)])
        if state == "Initialized":
            return task
        task.lock(p.submitter)
        if state == "RequestsLocked":
            return task
        if state == "Nacked":
            task.nack_application(p.app)
            return task
        task.ack_application(p.app)
        task.ack_platform(p.platform, recipient())
        for i in range(requests):
            task.ack_request(p.data[i], i, CID_B)
        task.start(p.platform)
        if state == "Running":
            return task
        if state == "Failed":
            task.fail(p.platform, CID_A)
            return task
        task.add_result(p.platform, CID_A)
        task.finish(p.platform)
        assert state == "Finished", state
        return task

    return make
