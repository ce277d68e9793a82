"""Moving the embedded chain's clock past a deadline instead of waiting for the wall clock.

eth-tester's time travel (``testing_timeTravel``) mines a block with a later timestamp; the
embedded chain journals it like any other write, so every process sharing the chain sees it.
Later blocks are stamped at least a second after it, as on any chain: the clock never goes back.
(anvil would do the same with ``evm_setNextBlockTimestamp`` and ``evm_mine``.)"""

from __future__ import annotations

from eotrust.ledger import Chain
from eotrust.ledger.backend import EmbeddedBackend


def mine_at(chain: Chain, timestamp: int) -> None:
    """Mine one block on the embedded chain stamped ``timestamp`` (after its latest block)."""
    assert isinstance(chain.backend, EmbeddedBackend), "only the embedded chain's clock is moved here"
    # eth-tester stamps the block it mines one second before the time it is given
    response = chain.w3.provider.make_request("testing_timeTravel", [timestamp + 1])  # type: ignore[arg-type]
    assert "error" not in response, f"testing_timeTravel: {response['error']}"
    assert chain.latest_timestamp() == timestamp, f"the chain's latest block is not stamped {timestamp}"
