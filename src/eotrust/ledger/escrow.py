"""Escrow and payment of a paid task on the chain (contracts/Escrow.sol).

The API (everything an amount is in wei, the chain's native ether; every address checksummed):

- ``Quote(task, submitter, platform, payees, maxima, fail_fee, valid_until, deadline,
  quote_cid, chain_id, escrow, minima=())`` — what the platform charges at most for one task:
  ``maxima[i]`` to ``payees[i]``, and at least ``minima[i]`` when it settles (an owner's fixed
  price; all 0 when not given); ``total`` (the sum of the maxima) is what the submitter escrows; ``fail_fee``
  goes to the platform if the task Fails; ``valid_until`` (funding) and ``deadline`` (settling;
  not before ``valid_until``) are unix seconds (chain time); ``quote_cid`` names the itemised
  quote document. ``chain_id`` and ``escrow`` are the EIP-712
  domain; :meth:`EscrowClient.quote` fills them in. ``Quote.digest()`` is the EIP-712 digest,
  ``Quote.sign(account)`` returns a :class:`SignedQuote` (signed with the platform owner's
  key); ``SignedQuote.signer()`` recovers who signed; ``to_json``/``from_json`` round-trip both.
- ``EscrowClient(chain, address=None)`` — the escrow of this chain's task factory when
  ``address`` is None (``EscrowClient.for_task(chain, task)``: the one a task names).

  - ``.fund(task, signed_quote, value=None, sender)`` — the submitter pays ``value`` (default:
    the quote's total; anything else is refused by the contract) and the task is locked in the
    same transaction. A paid task (``TaskFactoryClient.create_task(..., paid=True)``) cannot
    be locked, hence never started, any other way. Refused: an expired quote, a signature that
    is not the task's platform owner's (a tampered quote), a wrong amount, a second funding, a
    sender or task submitter other than the quote's.
  - ``.settle(task, usage_cid, amounts, sender=platform)`` — the platform finishes the running
    task (it must have a result) and pays: ``amounts`` in payee order, or a ``{payee: wei}``
    mapping (missing payees get 0), each at most its quoted maximum and at least its minimum; the submitter is credited
    the rest. ``usage_cid`` names the platform's signed usage record. Returns a ``TxResult``.
    Refused after the quote's deadline.
  - ``.refund(task, sender)`` — release a Nacked task (everything back to the submitter) or a
    Failed one (``fail_fee`` to the platform, the rest to the submitter; all back once the
    deadline has passed); anyone may send it.
  - ``.expire(task, sender)`` — after the quote's deadline, end a task still waiting for answers
    or running (it becomes Expired) and credit the submitter the whole total (less each payee's
    minimum when a result was recorded); anyone may send it.
  - ``.withdraw(sender)`` — pay ``sender`` all it is owed; returns the amount (a ``TxResult``
    in ``last_transaction``). Nothing owed is a ``MissingEntryError``.
  - ``.owed(address)``, ``.funded(task)``, ``.required(task)`` (whether the task is paid),
    ``.quote_of(task)`` (the funded quote, from the ``Funded`` event), ``.events(task=None)``
    (:class:`EscrowEvent` list: Funded, Settled, Released, Expired, Withdrawn, with transaction hashes),
    ``.withdrawals(party)`` (that party's Withdrawn events), ``.balance()`` (ether held).

Credits are pull payments: ``settle`` and ``refund`` only credit; each party withdraws its own,
so no party can block another's payment. Every refusal is an EotrustError naming the contract
error (:mod:`eotrust.ledger.reverts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from eotrust.errors import InvalidInputError, NotFoundError
from eotrust.ledger.abi import abi_type, escrow_abi
from eotrust.ledger.codec import checksum_address, cid_or_none, cid_to_bytes32
from eotrust.ledger.models import STATE_NAMES

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain, TxResult
    from eotrust.ledger.task import TaskClient

#: The EIP-712 domain and type; contracts/Escrow.sol hashes the same.
DOMAIN_NAME = "eotrust Escrow"
DOMAIN_VERSION = "1"
QUOTE_TYPES: list[dict[str, str]] = [
    {"name": "task", "type": "address"},
    {"name": "submitter", "type": "address"},
    {"name": "platform", "type": "address"},
    {"name": "payees", "type": "address[]"},
    {"name": "maxima", "type": "uint256[]"},
    {"name": "minima", "type": "uint256[]"},
    {"name": "total", "type": "uint256"},
    {"name": "failFee", "type": "uint256"},
    {"name": "validUntil", "type": "uint64"},
    {"name": "deadline", "type": "uint64"},
    {"name": "quoteCid", "type": "bytes32"},
]
MAX_PAYEES = 32
ESCROW_EVENTS = ("Funded", "Settled", "Released", "Expired", "Withdrawn")


@dataclass(frozen=True)
class Quote:
    """A platform's quote for one task (see the module docstring). ``total`` defaults to the
    sum of ``maxima``; the contract refuses a quote whose total differs."""

    task: str
    submitter: str
    platform: str
    payees: tuple[str, ...]
    maxima: tuple[int, ...]
    fail_fee: int
    valid_until: int
    deadline: int
    quote_cid: str
    chain_id: int
    escrow: str
    total: int = -1
    minima: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("task", "submitter", "platform", "escrow"):
            set_(self, name, checksum_address(getattr(self, name), what=f"quote {name}"))
        set_(self, "payees", tuple(checksum_address(p, what="payee") for p in self.payees))
        set_(self, "maxima", tuple(int(m) for m in self.maxima))
        if not 1 <= len(self.payees) <= MAX_PAYEES or len(self.maxima) != len(self.payees):
            raise InvalidInputError(f"a quote names 1 to {MAX_PAYEES} payees, one maximum each")
        if self.total == -1:
            set_(self, "total", sum(self.maxima))
        set_(self, "minima", tuple(int(m) for m in self.minima) or (0,) * len(self.payees))
        if len(self.minima) != len(self.payees):
            raise InvalidInputError("a quote names one minimum per payee")
        if any(not 0 <= v < 2**256 for v in (*self.maxima, *self.minima, self.fail_fee, self.total)):
            raise InvalidInputError("a quote's amounts are whole wei from 0 to 2**256 - 1")
        if not (0 <= self.valid_until < 2**64 and 0 <= self.deadline < 2**64):
            raise InvalidInputError("a quote's expiry and deadline are unix seconds from 0 to 2**64 - 1")
        cid_to_bytes32(self.quote_cid)  # a CID eotrust can name, or InvalidInputError

    # -- EIP-712 ------------------------------------------------------------------------------
    def message(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "submitter": self.submitter,
            "platform": self.platform,
            "payees": list(self.payees),
            "maxima": list(self.maxima),
            "minima": list(self.minima),
            "total": self.total,
            "failFee": self.fail_fee,
            "validUntil": self.valid_until,
            "deadline": self.deadline,
            "quoteCid": cid_to_bytes32(self.quote_cid),
        }

    def typed_data(self) -> dict[str, Any]:
        """The full EIP-712 typed data (domain, types, message) the platform signs."""
        return {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Quote": QUOTE_TYPES,
            },
            "primaryType": "Quote",
            "domain": {
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chainId": self.chain_id,
                "verifyingContract": self.escrow,
            },
            "message": self.message(),
        }

    def signable(self) -> SignableMessage:
        return encode_typed_data(full_message=self.typed_data())

    def digest(self) -> bytes:
        """The 32-byte EIP-712 digest (what ``Escrow.quoteDigest`` returns for this quote)."""
        s = self.signable()
        return keccak(b"\x19" + s.version + s.header + s.body)

    def sign(self, account: LocalAccount) -> SignedQuote:
        """Sign with ``account`` (the platform owner's key)."""
        signed = account.sign_message(self.signable())
        return SignedQuote(self, bytes(signed.signature))

    def as_abi(self) -> tuple[Any, ...]:
        """The Solidity ``Escrow.Quote`` tuple."""
        m = self.message()
        return (
            m["task"],
            m["submitter"],
            m["platform"],
            m["payees"],
            m["maxima"],
            m["minima"],
            m["total"],
            m["failFee"],
            m["validUntil"],
            m["deadline"],
            m["quoteCid"],
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["payees"], data["maxima"] = list(self.payees), [str(m) for m in self.maxima]
        data["minima"] = [str(m) for m in self.minima]
        data["total"], data["fail_fee"] = str(self.total), str(self.fail_fee)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Quote:
        try:
            return cls(
                task=str(data["task"]),
                submitter=str(data["submitter"]),
                platform=str(data["platform"]),
                payees=tuple(str(p) for p in data["payees"]),
                maxima=tuple(int(m) for m in data["maxima"]),
                fail_fee=int(data["fail_fee"]),
                valid_until=int(data["valid_until"]),
                deadline=int(data["deadline"]),
                quote_cid=str(data["quote_cid"]),
                chain_id=int(data["chain_id"]),
                escrow=str(data["escrow"]),
                total=int(data.get("total", -1)),
                minima=tuple(int(m) for m in data.get("minima", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"not a quote: {exc}") from None


@dataclass(frozen=True)
class SignedQuote:
    quote: Quote
    signature: bytes

    def signer(self) -> str:
        """The address that signed this quote (compare with the task's platform owner)."""
        return to_checksum_address(Account.recover_message(self.quote.signable(), signature=self.signature))

    def to_json(self) -> dict[str, Any]:
        return {"quote": self.quote.to_json(), "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedQuote:
        try:
            signature = bytes.fromhex(str(data["signature"]).removeprefix("0x"))
        except (KeyError, ValueError) as exc:
            raise InvalidInputError(f"not a signed quote: {exc}") from None
        return cls(Quote.from_json(data["quote"]), signature)


@dataclass(frozen=True)
class EscrowEvent:
    """One escrow event. ``args``: Funded {submitter, quote_hash, total, quote (a Quote, read
    from the funding transaction's calldata; None if the escrow was called through another
    contract)}; Settled {usage_cid, refund, amounts (payee order, from the calldata; None as
    for quote)}; Released {state, to_platform, to_submitter}; Expired {refund}; Withdrawn
    {party, amount}."""

    name: str
    task: str | None
    block_number: int
    log_index: int
    tx_hash: str
    args: dict[str, Any] = field(default_factory=dict)


class EscrowClient:
    """The Escrow contract on ``chain`` (see the module docstring)."""

    def __init__(self, chain: Chain, address: str | None = None) -> None:
        self.chain = chain
        if address is None:
            from eotrust.ledger.factory import TaskFactoryClient

            address = TaskFactoryClient(chain).escrow()
        self.address = checksum_address(address, what="escrow address")
        self._abi = escrow_abi()
        self.last_transaction: TxResult | None = None

    @classmethod
    def for_task(cls, chain: Chain, task: str | TaskClient) -> EscrowClient:
        """The escrow ``task`` names (every task of one factory names the same one)."""
        address = _task_address(task)
        abi = escrow_abi()
        data = chain.call(address, abi.encode_call("escrow"), action=f"read the escrow of task {address}")
        try:
            escrow = abi.decode_output("escrow", data)[0]
        except DecodingError:
            raise NotFoundError(f"no task at {address} on this chain (it names no escrow)") from None
        return cls(chain, to_checksum_address(escrow))

    def __repr__(self) -> str:
        return f"EscrowClient({self.address})"

    # -- plumbing -----------------------------------------------------------------------------
    def _tx(self, account: LocalAccount, function: str, *args: Any, value: int = 0, action: str) -> TxResult:
        result = self.chain.transact(
            account, to=self.address, data=self._abi.encode_call(function, *args), value=value, action=action
        )
        self.last_transaction = result
        return result

    def _call(self, function: str, *args: Any, to: str | None = None) -> tuple[Any, ...]:
        data = self.chain.call(
            to or self.address, self._abi.encode_call(function, *args), action=f"read the escrow ({function})"
        )
        return self._abi.decode_output(function, data)

    # -- quotes -------------------------------------------------------------------------------
    def quote(
        self,
        *,
        task: str | TaskClient,
        submitter: str,
        platform: str,
        payees: Sequence[str],
        maxima: Sequence[int],
        fail_fee: int,
        valid_until: int,
        deadline: int,
        quote_cid: str,
        minima: Sequence[int] = (),
    ) -> Quote:
        """A quote for this escrow on this chain (its EIP-712 domain filled in)."""
        return Quote(
            task=_task_address(task),
            submitter=submitter,
            platform=platform,
            payees=tuple(payees),
            maxima=tuple(maxima),
            minima=tuple(minima),
            fail_fee=fail_fee,
            valid_until=valid_until,
            deadline=deadline,
            quote_cid=quote_cid,
            chain_id=self.chain.chain_id,
            escrow=self.address,
        )

    def digest_on_chain(self, quote: Quote) -> bytes:
        """The digest the contract computes for ``quote`` (must equal ``quote.digest()``)."""
        return bytes(self._call("quoteDigest", quote.as_abi())[0])

    # -- moves --------------------------------------------------------------------------------
    def fund(
        self, task: str | TaskClient, signed_quote: SignedQuote, value: int | None = None, *, sender: LocalAccount
    ) -> TxResult:
        """Pay the quote's total and lock ``task`` (the submitter's move)."""
        quote = signed_quote.quote
        address = _task_address(task)
        if quote.task != address:
            raise InvalidInputError(f"the quote is for task {quote.task}, not {address}")
        if quote.escrow != self.address or quote.chain_id != self.chain.chain_id:
            raise InvalidInputError(
                f"the quote is for escrow {quote.escrow} on chain {quote.chain_id}, not {self.address} on {self.chain.chain_id}"
            )
        return self._tx(
            sender,
            "fund",
            quote.as_abi(),
            signed_quote.signature,
            value=quote.total if value is None else value,
            action=f"fund task {address}",
        )

    def settle(
        self,
        task: str | TaskClient,
        usage_cid: str,
        amounts: Sequence[int] | Mapping[str, int],
        *,
        sender: LocalAccount,
        quote: Quote | None = None,
    ) -> TxResult:
        """Finish ``task`` and pay each payee its actual amount (the platform's move)."""
        address = _task_address(task)
        quote = quote or self._funded_quote(address)
        return self._tx(
            sender,
            "settle",
            quote.as_abi(),
            cid_to_bytes32(usage_cid),
            _amounts(quote, amounts),
            action=f"settle task {address}",
        )

    def refund(self, task: str | TaskClient, *, sender: LocalAccount, quote: Quote | None = None) -> TxResult:
        """Release a Nacked task (all back) or a Failed one (the failure fee to the platform)."""
        address = _task_address(task)
        quote = quote or self._funded_quote(address)
        return self._tx(sender, "release", quote.as_abi(), action=f"release the escrow of task {address}")

    def expire(self, task: str | TaskClient, *, sender: LocalAccount, quote: Quote | None = None) -> TxResult:
        """After the quote's deadline, end a task still waiting or running (Expired) and credit the
        submitter the quote's total (anyone may send it)."""
        address = _task_address(task)
        quote = quote or self._funded_quote(address)
        return self._tx(sender, "expire", quote.as_abi(), action=f"expire task {address} and refund its submitter")

    def withdraw(self, sender: LocalAccount) -> int:
        """Pay ``sender`` everything it is owed; return the amount."""
        result = self._tx(sender, "withdraw", action="withdraw what you are owed")
        for event in self._decode(result.logs):
            if event.name == "Withdrawn":
                return int(event.args["amount"])
        raise InvalidInputError("the escrow paid nothing (no Withdrawn event)")

    # -- reading ------------------------------------------------------------------------------
    def owed(self, address: str) -> int:
        return int(self._call("owed", checksum_address(address, what="address"))[0])

    def funded(self, task: str | TaskClient) -> bool:
        """Whether the escrow holds money for ``task`` now (funded, not settled or released)."""
        return bool(self._call("funded", _task_address(task))[0])

    def required(self, task: str | TaskClient) -> bool:
        """Whether ``task`` is paid (must be funded through the escrow)."""
        return bool(self._call("paymentRequired", to=_task_address(task))[0])

    def balance(self) -> int:
        """The ether the escrow holds (locked for tasks plus owed to parties)."""
        return self.chain.balance(self.address)

    def quote_of(self, task: str | TaskClient) -> Quote | None:
        """The quote ``task`` was funded with, or None."""
        for event in self.events(task):
            if event.name == "Funded":
                return event.args["quote"]  # type: ignore[no-any-return]
        return None

    def _funded_quote(self, task: str) -> Quote:
        quote = self.quote_of(task)
        if quote is None:
            raise InvalidInputError(f"task {task} was never funded through escrow {self.address}")
        return quote

    def events(self, task: str | TaskClient | None = None, *, from_block: int = 0) -> list[EscrowEvent]:
        """The escrow's events (of one task when given; Withdrawn has no task), oldest first."""
        topics: list[Any] | None = None
        if task is not None:
            address = _task_address(task)
            names = ("Funded", "Settled", "Released", "Expired")
            topics = [[self._abi.event_topics[n] for n in names], bytes(12) + bytes.fromhex(address[2:])]
        return self._decode(self.chain.logs(address=self.address, topics=topics, from_block=from_block))

    def withdrawals(self, party: str, *, from_block: int = 0) -> list[EscrowEvent]:
        """Every withdrawal ``party`` made (amount and transaction hash), oldest first."""
        address = checksum_address(party, what="party")
        topics = [self._abi.event_topics["Withdrawn"], bytes(12) + bytes.fromhex(address[2:])]
        return self._decode(self.chain.logs(address=self.address, topics=topics, from_block=from_block))

    def _decode(self, logs: Sequence[Any]) -> list[EscrowEvent]:
        events = []
        for log in logs:
            if log.address != self.address:
                continue
            decoded = self._abi.decode_log(log.topics, log.data)
            if decoded is None or decoded.name not in ESCROW_EVENTS:
                continue
            a = decoded.args
            args: dict[str, Any]
            task = to_checksum_address(a["task"]) if "task" in a else None
            if decoded.name == "Funded":
                call = self._calldata(log.tx_hash, "fund")
                quote = self._quote(call[0]) if call else None
                if quote is not None and quote.signable().body != bytes(a["quoteHash"]):
                    quote = None  # another fund call in the same transaction
                args = {
                    "submitter": to_checksum_address(a["submitter"]),
                    "quote_hash": "0x" + bytes(a["quoteHash"]).hex(),
                    "total": int(a["total"]),
                    "quote": quote,
                }
            elif decoded.name == "Settled":
                call = self._calldata(log.tx_hash, "settle")
                amounts = [int(x) for x in call[2]] if call and call[0][0] == a["task"] else None
                args = {"usage_cid": cid_or_none(a["usageCid"]), "refund": int(a["refund"]), "amounts": amounts}
            elif decoded.name == "Released":
                args = {
                    "state": STATE_NAMES[int(a["state"])],
                    "to_platform": int(a["toPlatform"]),
                    "to_submitter": int(a["toSubmitter"]),
                }
            elif decoded.name == "Expired":
                args = {"refund": int(a["refund"])}
            else:
                args = {"party": to_checksum_address(a["party"]), "amount": int(a["amount"])}
            events.append(EscrowEvent(decoded.name, task, log.block_number, log.log_index, log.tx_hash, args))
        return events

    def _calldata(self, tx_hash: str, function: str) -> tuple[Any, ...] | None:
        """The arguments of ``function`` if ``tx_hash`` called it on this escrow directly."""
        to, data = self.chain.transaction_input(tx_hash)
        selector = self._abi.encode_call(function, *_EMPTY_ARGS[function])[:4]
        if to != self.address or data[:4] != selector:
            return None
        entry = self._abi.functions[function]
        return tuple(abi_decode([abi_type(p) for p in entry["inputs"]], data[4:]))

    def _quote(self, q: tuple[Any, ...]) -> Quote:
        return Quote(
            task=q[0],
            submitter=q[1],
            platform=q[2],
            payees=tuple(q[3]),
            maxima=tuple(q[4]),
            minima=tuple(q[5]),
            total=int(q[6]),
            fail_fee=int(q[7]),
            valid_until=int(q[8]),
            deadline=int(q[9]),
            quote_cid=str(cid_or_none(q[10])),
            chain_id=self.chain.chain_id,
            escrow=self.address,
        )


_ZERO_QUOTE: tuple[Any, ...] = ("0x" + "00" * 20,) * 3 + ([], [], [], 0, 0, 0, 0, bytes(32))
_EMPTY_ARGS: dict[str, tuple[Any, ...]] = {"fund": (_ZERO_QUOTE, b""), "settle": (_ZERO_QUOTE, bytes(32), [])}


def _task_address(task: str | TaskClient) -> str:
    return checksum_address(task if isinstance(task, str) else task.address, what="task address")


def _amounts(quote: Quote, amounts: Sequence[int] | Mapping[str, int]) -> list[int]:
    """Amounts in the quote's payee order."""
    if isinstance(amounts, Mapping):
        by_payee = {checksum_address(k, what="payee"): int(v) for k, v in amounts.items()}
        unknown = set(by_payee) - set(quote.payees)
        if unknown:
            raise InvalidInputError(f"not payees of the quote: {', '.join(sorted(unknown))}")
        if len(set(quote.payees)) != len(quote.payees):
            raise InvalidInputError("the quote names a payee twice; give the amounts as a list in payee order")
        values = [by_payee.get(p, 0) for p in quote.payees]
    else:
        values = [int(v) for v in amounts]
    if any(v < 0 for v in values):
        raise InvalidInputError("an amount cannot be negative")
    return values
