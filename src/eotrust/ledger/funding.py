"""Ether for parties on a development chain."""

from __future__ import annotations

from collections.abc import Iterable

from eotrust.ledger.chain import Chain


def fund_parties(chain: Chain, addresses: Iterable[str], *, wei: int = 10**18) -> None:
    """On a JSON-RPC dev chain (anvil), give each party with less than a tenth of ``wei`` that
    much ether from the dev account; the embedded chain tops parties up by itself. On a real
    network parties bring their own."""
    if chain.is_embedded:
        return
    for address in addresses:
        if chain.balance(address) < wei // 10:
            chain.fund(address, wei)
