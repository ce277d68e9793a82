"""Each fresh dev chain has a genesis of its own, so ``Chain.key`` (``<chain id>-<genesis hash>``,
what a home keeps its records under) tells two of them apart even when they start in the same
second; every process of one chain sees the same genesis, so its key never changes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from anvil_node import anvil

from eotrust.ledger import Chain
from eotrust.settings import load_settings

PRINT_KEY = textwrap.dedent(
    """
    import sys
    from eotrust.ledger import Chain
    from eotrust.settings import load_settings
    print(Chain.from_settings(load_settings(home=sys.argv[1])).key)
    """
)


def _fresh_embedded(home: Path) -> Chain:
    chain = Chain.from_settings(load_settings(home=home))
    chain.block_number()  # the genesis is made and journalled now
    return chain


def test_two_embedded_chains_started_in_the_same_second_have_different_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the genesis was eth-tester's default: the same header but for its timestamp (the
    wall clock's second), so two dev chains started in the same second had the same genesis
    hash, and one's records (a node's journal, federated acceptances, the market's notes) were
    taken for the other's."""
    import eth_tester.backends.pyevm.main as pyevm

    second = float(int(time.time()))
    monkeypatch.setattr(pyevm, "time", SimpleNamespace(time=lambda: second))  # both in this second
    first, other = _fresh_embedded(tmp_path / "a"), _fresh_embedded(tmp_path / "b")
    assert first.block_timestamp(0) == other.block_timestamp(0) == int(second)
    assert first.chain_id == other.chain_id
    assert first.key != other.key
    assert first.genesis_hash != other.genesis_hash


def test_two_embedded_chains_created_back_to_back_have_different_keys(tmp_path: Path) -> None:
    keys = {_fresh_embedded(tmp_path / str(i)).key for i in range(3)}
    assert len(keys) == 3


def test_an_embedded_chain_keeps_its_key_in_every_process(tmp_path: Path) -> None:
    """The genesis is made once and journalled: a second Chain in this process and another
    process opening the same home load it, and a transaction later does not change it."""
    home = tmp_path / "home"
    chain = _fresh_embedded(home)
    key = chain.key
    assert Chain.from_settings(load_settings(home=home)).key == key
    out = subprocess.run(
        [sys.executable, "-c", PRINT_KEY, str(home)], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == key
    chain.fund("0x" + "42" * 20, 1)  # a block later: still the same chain
    assert chain.block_number() >= 1
    reopened = Chain.from_settings(load_settings(home=home))
    assert reopened.key == key and reopened.block_number() == chain.block_number()


@pytest.mark.server
def test_two_anvil_nodes_started_in_the_same_second_have_different_keys(tmp_path: Path) -> None:
    """Before, anvil's genesis depended only on the second it started in (and its settings): two
    started in the same second had the same genesis hash. tests/anvil_node.py now gives each a
    random coinbase in a genesis file of its own (``--init``)."""
    for attempt in range(5):  # until both genesis blocks carry the same second (almost always at once)
        with anvil() as url_a, anvil() as url_b:
            a = Chain.from_settings(load_settings(home=tmp_path / f"a{attempt}", chain_url=url_a))
            b = Chain.from_settings(load_settings(home=tmp_path / f"b{attempt}", chain_url=url_b))
            if a.block_timestamp(0) != b.block_timestamp(0):
                continue
            assert a.chain_id == b.chain_id == 31337
            assert a.key != b.key
            return
    pytest.fail("no two anvil nodes started in the same second in 5 attempts")
