from __future__ import annotations

from pathlib import Path

import pytest
from fed_world import World, owner_sets, role

from eotrust.ledger import Chain
from eotrust.settings import Settings
from eotrust.store import LocalStore


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> World:
    chain = Chain.from_settings(settings)
    store = LocalStore(settings.store_dir)
    sets, _ = owner_sets()
    return World(
        chain=chain,
        store=store,
        submitter=role("submitter", 0x21, chain, store, tmp_path),
        aggregator=role("aggregator", 0x22, chain, store, tmp_path),
        participants=[role(f"owner-{i}", 0x23 + i, chain, store, tmp_path) for i in range(3)],
        data=sets,
    )
