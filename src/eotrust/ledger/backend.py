"""What differs between the embedded chain and a JSON-RPC node, in one protocol.

:class:`~eotrust.ledger.chain.Chain` talks to either through a :class:`ChainBackend` and
never asks which one it has: the backend says where it is (``description``), which account
funds dev parties and whether parties are topped up automatically, how writes are serialised
(``write_lock``), which nonce to count from, how a receipt is waited for, and which
low-level exceptions are the node's refusals. ``open_backend`` picks one from Settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from eotrust.errors import LedgerError
from eotrust.settings import Settings
from eotrust.urls import redacted_url

if TYPE_CHECKING:
    from web3 import Web3

    from eotrust.ledger.embedded import EmbeddedProvider

RECEIPT_TIMEOUT_S = 120.0


class ChainBackend(Protocol):
    """One chain eotrust can reach, seen through web3."""

    w3: Web3
    #: the dev account's key (funds parties on local dev chains; never on real networks)
    dev_private_key: str
    #: parties are topped up from the dev account before they transact
    auto_fund: bool
    #: contracts eotrust deploys for everyone (the factories) come from the dev account
    deploys_from_dev: bool
    #: which block tag a new transaction's nonce is counted at
    nonce_block: str
    #: low-level exceptions that mean "the node refused this request" (else: a bug)
    refusals: tuple[type[BaseException], ...]

    @property
    def url(self) -> str | None:
        """The JSON-RPC node's URL; None for the embedded chain."""
        ...

    @property
    def description(self) -> str: ...

    def write_lock(self) -> AbstractContextManager[None]:
        """Held around one whole transaction (nonce, estimate, send, receipt)."""
        ...

    def wait_receipt(self, tx_hash: str) -> Any:
        """The receipt of a sent transaction, once it is mined."""
        ...


class EmbeddedBackend:
    """The in-process EVM journaled under ``directory`` (eotrust.ledger.embedded)."""

    auto_fund = True
    deploys_from_dev = True
    nonce_block = "latest"
    url: str | None = None

    def __init__(self, directory: Path) -> None:
        from eth_utils.exceptions import ValidationError as EthValidationError
        from web3 import Web3

        from eotrust.ledger.embedded import DEV_PRIVATE_KEY, EmbeddedProvider

        self.provider: EmbeddedProvider = EmbeddedProvider(directory)
        self.w3 = Web3(self.provider)
        self.dev_private_key = DEV_PRIVATE_KEY
        # eth-tester's validation (a bad nonce, an invalid transaction) arrives as these
        self.refusals: tuple[type[BaseException], ...] = (ValueError, TypeError, EthValidationError)

    @property
    def description(self) -> str:
        return f"embedded EVM ({self.provider.journal.path})"

    def write_lock(self) -> AbstractContextManager[None]:
        return self.provider.write_lock()

    def wait_receipt(self, tx_hash: str) -> Any:
        return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]  # mined when sent


class RpcBackend:
    """Any Ethereum JSON-RPC node over HTTP(S)."""

    auto_fund = False
    deploys_from_dev = False
    nonce_block = "pending"
    refusals: tuple[type[BaseException], ...] = ()

    def __init__(self, url: str) -> None:
        from web3 import Web3

        from eotrust.ledger.rpc import ANVIL_DEV_PRIVATE_KEY, http_provider

        if not url.startswith(("http://", "https://")):
            raise LedgerError(
                f"chain URL {redacted_url(url)!r} is not an HTTP(S) JSON-RPC endpoint",
                hint="use e.g. http://127.0.0.1:8545",
            )
        self.url = url
        self.w3 = Web3(http_provider(url))
        self.dev_private_key = ANVIL_DEV_PRIVATE_KEY

    @property
    def description(self) -> str:
        return f"JSON-RPC node {redacted_url(self.url)}"

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        yield  # the node orders transactions; nonces are counted at "pending"

    def wait_receipt(self, tx_hash: str) -> Any:
        from web3.exceptions import TimeExhausted

        try:
            return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S, poll_latency=0.05)  # type: ignore[arg-type]
        except TimeExhausted:
            raise LedgerError(
                f"transaction {tx_hash} was not mined within {RECEIPT_TIMEOUT_S:.0f} s",
                hint="is the node mining? check it and look the transaction up later",
            ) from None


def open_backend(settings: Settings) -> ChainBackend:
    """The node at ``settings.chain_url``, else the embedded chain under ``settings.chain_dir``."""
    if settings.chain_url:
        return RpcBackend(settings.chain_url)
    return EmbeddedBackend(settings.chain_dir)
