"""The same lifecycle against a real JSON-RPC node: anvil, started on a free loopback port and
stopped by its PID."""

from __future__ import annotations

from pathlib import Path

import pytest
from anvil_node import anvil
from eth_account import Account
from ledger_helpers import CID_A, CID_B, recipient

from eotrust.errors import BackendUnavailableError
from eotrust.ledger import Chain, ContractRevertError, TaskClient, TaskFactoryClient, TaskState
from eotrust.ports import free_port
from eotrust.settings import load_settings

pytestmark = [pytest.mark.server]


def test_lifecycle_on_anvil(tmp_path: Path) -> None:
    sub, app, plat, d0, d1 = (Account.from_key(bytes([0x70 + i]) * 32) for i in range(5))
    with anvil() as url:
        settings = load_settings(home=tmp_path / "home", chain_url=url)
        chain = Chain.from_settings(settings)
        assert not chain.is_embedded and chain.chain_id == 31337
        for party in (sub, app, plat, d0, d1):
            chain.fund(party.address, 10**18)
        factory = TaskFactoryClient(chain)
        task = factory.create_task(
            sub,
            results_recipient=recipient(),
            application_id=CID_A,
            application_owner=app.address,
            platform_id="platform",
            platform_owner=plat.address,
        )
        assert task.add_requests(sub, [("d0", d0.address), ("d1", d1.address)]) == [0, 1]
        task.lock(sub)
        with pytest.raises(ContractRevertError) as info:
            task.ack_platform(app, recipient())
        assert info.value.error_name == "NotPlatformOwner"
        assert f"you are {app.address}" in info.value.message
        task.ack_application(app)
        task.ack_platform(plat, recipient())
        task.ack_request(d0, 0, CID_B)
        with pytest.raises(ContractRevertError) as info:
            task.start(plat)
        assert info.value.error_name == "NotAcknowledged"
        task.ack_request(d1, 1, CID_B)
        task.start(plat)
        task.add_result(plat, CID_A)
        task.finish(plat)
        snap = task.status()
        assert snap.state is TaskState.Finished and snap.results[0].cid == CID_A
        assert [e.name for e in task.history()][0] == "TaskCreated"
        assert factory.tasks_of(sub.address) == [task.address]
        events = factory.events_since(0)
        assert {e.task for e in events} == {task.address}

        # a second process (another Chain on the same home) finds the recorded factory
        again = TaskFactoryClient(Chain.from_settings(settings))
        assert again.address == factory.address
        assert TaskClient(again.chain, task.address).state() is TaskState.Finished


def test_unreachable_node_is_one_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    chain = Chain.from_settings(load_settings(home=tmp_path / "home", chain_url=url))
    with pytest.raises(BackendUnavailableError) as info:
        chain.block_number()
    assert url in info.value.message
    assert "EOTRUST_CHAIN_URL" in str(info.value.hint)
