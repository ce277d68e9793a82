"""Which chain a party's local federated records (round journal, acceptances) belong to."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain


def chain_key(chain: Chain) -> str:
    """``<chain id>-<genesis hash>``: what a journal entry or an acceptance names beside the
    task's address. A dev chain started afresh (the embedded one, anvil) has the same chain id
    and, replaying the same deployer's nonces, the same task addresses, but another genesis (it
    is stamped when the chain starts); the factories' deployment records are keyed so too."""
    return f"{int(chain.chain_id)}-{chain.genesis_hash.lower()}"
