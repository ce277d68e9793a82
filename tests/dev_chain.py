"""A dev chain started afresh, as after ``rm -rf $EOTRUST_HOME/chain`` or restarting anvil: the
home (journals, notes, keys, store, catalogue) is kept and the chain's directory moved aside.
The same dev accounts and the same transactions give the same contract addresses; only the
genesis differs (stamped a few seconds later, as a chain started again later is). Shared by the
federated, market and roles tests of records kept per chain (``Chain.key``)."""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace

import pytest
from flow_world import World

from eotrust.backends import Backends
from eotrust.ledger import Chain
from eotrust.settings import Settings


def restart_embedded_chain(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Chain:
    """The embedded chain of ``settings`` started afresh; its genesis is made and journalled."""
    import eth_tester.backends.pyevm.main as pyevm

    settings.chain_dir.rename(settings.chain_dir.with_name(settings.chain_dir.name + "-before"))
    later = time.time() + 3
    with monkeypatch.context() as m:
        m.setattr(pyevm, "time", SimpleNamespace(time=lambda: later))
        chain = Chain.from_settings(settings)
        chain.block_number()  # the genesis is made and journalled now
    return chain


def restart_world_chain(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """``world`` on its embedded chain started afresh, its parties funded again there."""
    from eotrust.ledger.funding import fund_parties

    restart_embedded_chain(world.settings, monkeypatch)
    fresh = Backends(world.settings)
    fund_parties(fresh.chain, [p.account.address for p in world.parties.values()])
    return dataclasses.replace(world, backends=fresh, catalog=fresh.catalog, chain=fresh.chain, store=fresh.store)
