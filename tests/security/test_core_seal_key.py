"""Attack: a platform owner acknowledges a task with a key that is not the one it registered
and signed in the catalogue — here the submitter's. Before the fix the data owner's `flow
answer` sealed the raw dataset for that key, and the submitter could decrypt it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from core_cli import cli, refused
from fast_keys import SCRYPT_N
from flow_world import World, make_world

from eotrust.errors import IntegrityError
from eotrust.ledger import RequestStatus
from eotrust.roles.owners.answer import answer_task
from eotrust.settings import load_settings


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    mp = pytest.MonkeyPatch()
    mp.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
    mp.setenv("EOTRUST_KEYSTORE_SCRYPT_N", str(SCRYPT_N))
    mp.setenv("EOTRUST_CONFIG", "")  # no config file
    for var in ("EOTRUST_HOME", "EOTRUST_CHAIN_URL", "EOTRUST_STORE", "EOTRUST_CATALOG_URL"):
        mp.delenv(var, raising=False)
    yield make_world(load_settings(home=tmp_path_factory.mktemp("seal-key") / "home"))
    mp.undo()


def _acked_with_the_submitters_key(world: World) -> tuple[str, str]:
    address = world.request().address
    wrong = world.parties["submitter"].card.age_recipient
    world.task(address).ack_platform(world.parties["platform-owner"].account, wrong)
    return address, wrong


def test_data_is_not_sealed_for_an_unregistered_key(world: World) -> None:
    address, wrong = _acked_with_the_submitters_key(world)
    with pytest.raises(IntegrityError, match="catalogue record"):
        answer_task(world.backends, world.parties["owner-a"], address)
    exc = refused(cli(world.settings.home, "flow", "answer", address, "--as", "owner-b"))
    assert wrong in exc.message
    snap = world.task(address).status()
    assert all(r.status is RequestStatus.Requested for r in snap.requests)  # nothing was sealed or acknowledged


def test_the_key_is_used_only_when_told_explicitly(world: World) -> None:
    address, wrong = _acked_with_the_submitters_key(world)
    answers = answer_task(world.backends, world.parties["owner-a"], address, accept_platform_key=wrong)
    assert answers and all(a.acknowledged for a in answers)
    ok = cli(world.settings.home, "flow", "answer", address, "--as", "owner-b", "--accept-platform-key", wrong)
    assert ok.exit_code == 0, ok.output
