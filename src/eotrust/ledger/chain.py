"""One connection to a chain: the embedded EVM or any Ethereum JSON-RPC node.

:meth:`Chain.from_settings` picks the backend (``settings.chain_url`` unset: the embedded
chain under ``settings.chain_dir``; set: that node). The rest of eotrust never knows which,
and neither does this module: what differs is the backend's (:mod:`eotrust.ledger.backend`).
Transactions are signed locally with the acting party's key; nonce, fees, gas estimation,
receipts and revert reasons are handled here, and a revert becomes an EotrustError naming
the contract error (:mod:`eotrust.ledger.reverts`).

Funding: on the embedded chain a party's address is funded automatically (10 ether from the
dev account, :data:`eotrust.ledger.embedded.DEV_PRIVATE_KEY`) when it first transacts with
less than 1 ether. On a JSON-RPC chain the party brings its own ether; :meth:`Chain.fund`
pays from the node's well-known dev account (anvil's first) for tests and demos.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from urllib3.exceptions import LocationValueError
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)

from eotrust.errors import BackendUnavailableError, EotrustError, LedgerError
from eotrust.ledger.abi import contracts_abi
from eotrust.ledger.reverts import revert_error
from eotrust.settings import Settings

if TYPE_CHECKING:
    from eotrust.ledger.backend import ChainBackend

T = TypeVar("T")

ETHER = 10**18
#: What an embedded party is topped up with, and below which it is.
AUTO_FUND_WEI = 10 * ETHER
AUTO_FUND_BELOW_WEI = 1 * ETHER
GAS_MARGIN = 1.15


@dataclass(frozen=True)
class RawLog:
    """One log entry of a receipt or a query."""

    address: str
    topics: list[bytes]
    data: bytes
    block_number: int
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction."""

    tx_hash: str
    block_number: int
    gas_used: int
    contract_address: str | None = None
    logs: list[RawLog] = field(default_factory=list)


def _raw_log(entry: Any) -> RawLog:
    return RawLog(
        address=to_checksum_address(entry["address"]),
        topics=[bytes(t) for t in entry["topics"]],
        data=bytes(entry["data"]),
        block_number=int(entry["blockNumber"]),
        tx_hash="0x" + bytes(entry["transactionHash"]).hex(),
        log_index=int(entry["logIndex"]),
    )


class Chain:
    """A chain eotrust talks to. Build it with :meth:`from_settings`."""

    def __init__(self, backend: ChainBackend, *, settings: Settings) -> None:
        self.backend = backend
        self.w3: Web3 = backend.w3
        self.settings = settings
        self._chain_id: int | None = None
        self._genesis_hash: str | None = None
        self._dev: LocalAccount | None = None

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings) -> Chain:
        """The embedded chain under ``settings.chain_dir``, or the node at ``settings.chain_url``."""
        from eotrust.ledger.backend import open_backend

        return cls(open_backend(settings), settings=settings)

    @classmethod
    def embedded(cls, settings: Settings) -> Chain:
        from eotrust.ledger.backend import EmbeddedBackend

        return cls(EmbeddedBackend(settings.chain_dir), settings=settings)

    @classmethod
    def rpc(cls, settings: Settings, url: str) -> Chain:
        from eotrust.ledger.backend import RpcBackend

        return cls(RpcBackend(url), settings=settings)

    # -- identity -----------------------------------------------------------------------------
    @property
    def is_embedded(self) -> bool:
        """Whether this is the in-process chain (for display and tests; behaviour asks the backend)."""
        from eotrust.ledger.backend import EmbeddedBackend

        return isinstance(self.backend, EmbeddedBackend)

    @property
    def url(self) -> str | None:
        return self.backend.url

    @property
    def description(self) -> str:
        return self.backend.description

    @property
    def _shown_url(self) -> str:
        from eotrust.urls import redacted_url

        return redacted_url(self.url) if self.url else "(embedded)"

    def _scrub(self, text: str) -> str:
        """``text`` with the node's URL (its credentials) replaced by what may be shown."""
        return text.replace(self.url, self._shown_url) if self.url else text

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self._guard(lambda: int(self.w3.eth.chain_id))
        return self._chain_id

    @property
    def genesis_hash(self) -> str:
        if self._genesis_hash is None:
            block = self._guard(lambda: self.w3.eth.get_block(0))
            self._genesis_hash = "0x" + bytes(block["hash"]).hex()
        return self._genesis_hash

    @property
    def key(self) -> str:
        """``<chain id>-<genesis hash>``: which chain a local record belongs to. A dev chain
        started afresh (the embedded one, anvil) has the same id and, replaying the same
        deployer's nonces, the same contract addresses, but another genesis (stamped when the
        chain starts; the embedded chain's also carries random bytes, so two started in the
        same second differ): what a home keeps about a task (the factory's deployment, a node's
        journal, a federated party's rounds and acceptances) is kept under this key."""
        return f"{self.chain_id}-{self.genesis_hash.lower()}"

    # -- reading ------------------------------------------------------------------------------
    def block_number(self) -> int:
        """The number of the latest mined block."""
        return self._guard(lambda: int(self.w3.eth.block_number))

    def block_timestamp(self, number: int) -> int:
        return self._guard(lambda: int(self.w3.eth.get_block(number)["timestamp"]))

    def block_hash(self, number: int) -> str:
        """The hash of block ``number``, asked each time (``genesis_hash`` is read once)."""
        return self._guard(lambda: "0x" + bytes(self.w3.eth.get_block(number)["hash"]).hex())

    def latest_timestamp(self) -> int:
        """The timestamp of the latest mined block: the chain's clock (its next block carries a
        later one), which contracts judge deadlines by."""
        return self._guard(lambda: int(self.w3.eth.get_block("latest")["timestamp"]))

    def next_block_time(self) -> float:
        """The earliest time the next block can carry (unix seconds): a second after the latest
        block, never behind the wall clock. Contracts judge deadlines and expiries by it; the
        embedded chain stamps each block at least a second after its parent, so while it mines
        more than a block a second its clock runs ahead of the wall clock."""
        return max(time.time(), float(self.latest_timestamp() + 1))

    def balance(self, address: str) -> int:
        return self._guard(lambda: int(self.w3.eth.get_balance(to_checksum_address(address))))

    def gas_used(self, tx_hash: str) -> int:
        """The gas a mined transaction used (from its receipt)."""
        return self._guard(lambda: int(self.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"]))  # type: ignore[arg-type]

    def transaction_input(self, tx_hash: str) -> tuple[str | None, bytes]:
        """A mined transaction's recipient and calldata (what a compact event leaves out)."""
        tx = self._guard(lambda: self.w3.eth.get_transaction(tx_hash))  # type: ignore[arg-type]
        to = tx.get("to")
        return (to_checksum_address(to) if to else None), bytes(tx["input"])

    def code(self, address: str) -> bytes:
        return self._guard(lambda: bytes(self.w3.eth.get_code(to_checksum_address(address))))

    def call(self, to: str, data: bytes, *, action: str, sender: str | None = None) -> bytes:
        """``eth_call``; a revert becomes the EotrustError of its contract error."""
        tx: dict[str, Any] = {"to": to_checksum_address(to), "data": data}
        if sender:
            tx["from"] = to_checksum_address(sender)
        return self._guard(lambda: bytes(self.w3.eth.call(tx)), action=action, caller=sender)  # type: ignore[arg-type]

    def logs(
        self,
        *,
        address: str | list[str] | None = None,
        topics: list[Any] | None = None,
        from_block: int = 0,
        to_block: int | None = None,
    ) -> list[RawLog]:
        query: dict[str, Any] = {"fromBlock": from_block, "toBlock": "latest" if to_block is None else to_block}
        if address is not None:
            query["address"] = (
                [to_checksum_address(a) for a in address] if isinstance(address, list) else to_checksum_address(address)
            )
        if topics:
            query["topics"] = [
                None
                if t is None
                else ["0x" + bytes(x).hex() for x in t]
                if isinstance(t, list)
                else "0x" + bytes(t).hex()
                for t in topics
            ]
        entries = self._guard(lambda: self.w3.eth.get_logs(query))  # type: ignore[arg-type]
        return [_raw_log(e) for e in entries]

    # -- writing ------------------------------------------------------------------------------
    def transact(
        self,
        account: LocalAccount,
        *,
        to: str | None,
        data: bytes = b"",
        value: int = 0,
        action: str,
    ) -> TxResult:
        """Sign and send one transaction; wait for its receipt.

        ``action`` says what it does in words ("acknowledge the platform request") for the
        error a revert becomes."""
        with self.backend.write_lock():
            if self.backend.auto_fund and account.address != self._dev_account().address:
                self._top_up(account.address)
            tx: dict[str, Any] = {
                "from": account.address,
                "data": data,
                "value": value,
                "chainId": self.chain_id,
            }
            if to is not None:
                tx["to"] = to_checksum_address(to)
            estimate = self._guard(lambda: int(self.w3.eth.estimate_gas(tx)), action=action, caller=account.address)  # type: ignore[arg-type]
            tx["gas"] = int(estimate * GAS_MARGIN) + 10_000
            tx.update(self._fees())
            tx_hash = self._send(account, tx, action=action)
            receipt = self._wait(tx_hash)
        if int(receipt["status"]) != 1:
            self._explain_failure(tx, int(receipt["blockNumber"]), action=action, caller=account.address)
        contract_address = receipt.get("contractAddress")
        return TxResult(
            tx_hash=tx_hash,
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            contract_address=to_checksum_address(contract_address) if contract_address else None,
            logs=[_raw_log(e) for e in receipt["logs"]],
        )

    def deploy(self, account: LocalAccount, bytecode: bytes, *, action: str) -> TxResult:
        """Deploy a contract; the result's ``contract_address`` is where it lives."""
        result = self.transact(account, to=None, data=bytecode, action=action)
        if result.contract_address is None:
            raise LedgerError(f"cannot {action}: the receipt names no contract")
        return result

    def fund(self, address: str, wei: int) -> TxResult:
        """Send ``wei`` to ``address`` from the chain's dev account (embedded: eth-tester's
        first genesis account; a local node: anvil's first). Not for real networks."""
        dev = self._dev_account()
        if not self.backend.auto_fund and self.balance(dev.address) < wei:
            raise LedgerError(
                f"the dev account {dev.address} has no ether on {self.description}",
                hint="fund the party from an account of yours; fund() is for local dev chains",
            )
        return self.transact(dev, to=address, value=wei, action=f"fund {address}")

    def _dev_account(self) -> LocalAccount:
        if self._dev is None:
            self._dev = Account.from_key(self.backend.dev_private_key)
        return self._dev

    def dev_account(self) -> LocalAccount:
        """The account :meth:`fund` pays from (a well-known key: local dev chains only)."""
        return self._dev_account()

    def _top_up(self, address: str) -> None:
        if self.balance(address) < AUTO_FUND_BELOW_WEI:
            self.fund(address, AUTO_FUND_WEI)

    def _fees(self) -> dict[str, int]:
        def fees() -> dict[str, int]:
            latest = self.w3.eth.get_block("latest")
            base = int(latest.get("baseFeePerGas") or 0)
            try:
                tip = int(self.w3.eth.max_priority_fee)
            except (Web3Exception, ValueError):
                tip = 10**9
            return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

        return self._guard(fees)

    def _send(self, account: LocalAccount, tx: dict[str, Any], *, action: str) -> str:
        """Choose the nonce, sign, send; a stale nonce (another process sent first) is retried."""
        for attempt in range(5):
            tx["nonce"] = self._guard(
                lambda: int(self.w3.eth.get_transaction_count(account.address, self.backend.nonce_block))  # type: ignore[arg-type]
            )
            signed = account.sign_transaction(tx)
            tx_hash = "0x" + bytes(signed.hash).hex()
            try:
                self._guard(
                    lambda: self.w3.eth.send_raw_transaction(signed.raw_transaction),
                    action=action,
                    caller=account.address,
                )
                return tx_hash
            except LedgerError as exc:
                text = str(exc).lower()
                if "already known" in text:
                    return tx_hash
                if "nonce" in text and attempt < 4:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise
        raise LedgerError(
            f"cannot {action}: no nonce was accepted", hint="another process keeps sending from this account"
        )

    def _wait(self, tx_hash: str) -> Any:
        return self._guard(lambda: self.backend.wait_receipt(tx_hash))

    def _explain_failure(self, tx: dict[str, Any], block: int, *, action: str, caller: str) -> None:
        """A mined transaction failed: replay it as a call to learn why, then raise."""
        replay = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value", "gas")}
        self._guard(lambda: self.w3.eth.call(replay, block - 1 if block > 0 else block), action=action, caller=caller)  # type: ignore[arg-type]
        raise LedgerError(f"cannot {action}: the transaction failed on chain (out of gas?)")

    # -- errors ---------------------------------------------------------------------------------
    def _guard(self, fn: Callable[[], T], *, action: str | None = None, caller: str | None = None) -> T:
        """Run one node request; turn what can go wrong into one clear EotrustError."""
        try:
            return fn()
        except EotrustError:
            raise
        except ContractLogicError as exc:
            raw = exc.data
            data = bytes.fromhex(raw[2:]) if isinstance(raw, str) and raw.startswith("0x") else None
            decoded = contracts_abi().decode_error(data) if data else None
            what = action or "do this"
            if decoded is not None:
                raise revert_error(decoded, action=what, caller=caller) from None
            raise LedgerError(f"cannot {what}: the contract reverted ({exc.message or exc})") from None
        except (requests.ConnectionError, requests.Timeout, ConnectionError) as exc:
            raise BackendUnavailableError(
                f"cannot reach the Ethereum JSON-RPC node at {self._shown_url}: {type(exc).__name__}",
                hint="start the node, or point EOTRUST_CHAIN_URL (chain_url) at a reachable one",
            ) from None
        except LocationValueError:  # urllib3 parses the URL's host only when it connects (a..b)
            raise BackendUnavailableError(
                f"cannot reach the Ethereum JSON-RPC node at {self._shown_url}: its host name does not parse",
                hint="point EOTRUST_CHAIN_URL (chain_url) at a valid URL",
            ) from None
        except requests.HTTPError as exc:  # the node's HTTP server refused: a wrong key, a rate limit
            answer = exc.response
            status = f"HTTP {answer.status_code} {answer.reason or ''}".strip() if answer is not None else "HTTP error"
            raise BackendUnavailableError(
                f"the Ethereum JSON-RPC node at {self._shown_url} answered {status}",
                hint="check the node's credentials and limits in EOTRUST_CHAIN_URL (chain_url)",
            ) from None
        except (requests.RequestException, json.JSONDecodeError) as exc:
            raise BackendUnavailableError(
                f"the Ethereum JSON-RPC node at {self._shown_url} did not answer JSON-RPC ({type(exc).__name__})",
                hint="is EOTRUST_CHAIN_URL (chain_url) a JSON-RPC endpoint?",
            ) from None
        except TransactionNotFound as exc:
            raise LedgerError(self._scrub(f"{exc}")) from None
        except Web3RPCError as exc:
            message = exc.rpc_response.get("error", {}).get("message") if exc.rpc_response else None
            what = f"cannot {action}" if action else "the chain node refused a request"
            raise LedgerError(self._scrub(f"{what}: {message or exc}")) from None
        except Web3Exception as exc:
            what = f"cannot {action}" if action else "chain request failed"
            raise LedgerError(self._scrub(f"{what}: {exc}")) from None
        except Exception as exc:
            if not isinstance(exc, self.backend.refusals):
                raise
            what = f"cannot {action}" if action else "the chain refused a request"
            raise LedgerError(self._scrub(f"{what}: {exc}")) from None
