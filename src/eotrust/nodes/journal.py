"""What a platform node remembers between restarts, per task — only what the ledger cannot say.

The ledger is the source of truth for where a task stands (state, recorded results). The
journal keeps what the node made but the ledger does not hold yet: the ciphertext CIDs of the
sealed outputs (age encryption is randomised, so sealing again would make a different CID),
the run record's CID, or the CID of a failure log. Every write is atomic, and each entry is
written *before* the transaction that publishes it, so a node killed anywhere finds, on
restart, either nothing (and runs again) or exactly the objects it will record — never a
second set.

Each entry is signed by the platform owner's account (domain ``node journal``, over the
platform's catalogue id and the entry, which names its task): the node records whatever its
journal says, so before, whoever could write the home planted an entry — results never
computed — and the node signed them onto the contract and into the catalogue without running
anything. An entry not signed so is refused, naming its file; nothing is recorded from it.

Entries are kept and signed per chain (:attr:`eotrust.ledger.chain.Chain.key`: its id and
genesis hash), under ``tasks/<chain key>/``: a dev chain started afresh gives its tasks the
previous chain's addresses, and before (version 1, keyed by the address alone) the entry of the
previous chain's task was recorded on the new one's, which finished without running. Version 1
entries are never read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, Field, ValidationError

from eotrust.crypto.signing import Domain, open_signed_file, signed_document
from eotrust.errors import IntegrityError
from eotrust.settings import Settings
from eotrust.store.atomic import write_atomic

#: The version of the signed journal format (2: an entry names its chain).
JOURNAL_VERSION = 2
#: Most bytes of one entry (255 results of a few hundred bytes each fit many times over).
MAX_ENTRY_BYTES = 4 * 1024 * 1024


class SealedResult(BaseModel):
    name: str
    cid: str
    plaintext_cid: str
    size: int
    recipient: str = Field(description="the age recipient it is encrypted for; empty when public")


class TaskJournal(BaseModel):
    address: str
    run_cid: str | None = None
    results: list[SealedResult] = Field(default_factory=list)
    failure_log_cid: str | None = None
    failure_log: SealedResult | None = Field(
        default=None, description="the sealed failure log, recorded in the catalogue"
    )
    failure: str | None = None


class Journal:
    """One signed JSON file per chain and task under ``<home>/nodes/<platform>/tasks/<chain>/``.
    ``chain`` is the chain's :attr:`~eotrust.ledger.chain.Chain.key`, or a function giving it,
    asked on first use (a node is made before it reaches its chain, which may be away then)."""

    def __init__(
        self,
        settings: Settings,
        platform: str,
        *,
        signer: LocalAccount,
        platform_id: str,
        chain: str | Callable[[], str],
    ) -> None:
        self.dir = settings.path("nodes", platform, "tasks")
        self._signer = signer
        self._platform_id = platform_id
        self._chain_of = chain

    @cached_property
    def _chain(self) -> str:
        return self._chain_of if isinstance(self._chain_of, str) else self._chain_of()

    def path(self, chain: str, address: str) -> Path:
        """Where the entry of the task at ``address`` on ``chain`` (its key) is kept."""
        return self.dir / chain / f"{address.lower()}.json"

    def _path(self, address: str) -> Path:
        return self.path(self._chain, address)

    def _payload(self, entry: TaskJournal) -> dict[str, object]:
        return {"platform": self._platform_id, "chain": self._chain, "entry": entry.model_dump(mode="json")}

    def load(self, address: str) -> TaskJournal:
        """The entry of task ``address`` (empty if none); IntegrityError for one the platform's
        owner did not sign for this platform and task."""
        path = self._path(address)
        if not path.is_file():
            return TaskJournal(address=address)
        payload = open_signed_file(
            path, Domain.NODE_JOURNAL, JOURNAL_VERSION, self._signer.address, max_bytes=MAX_ENTRY_BYTES
        )
        entry = None
        if isinstance(payload, dict) and (payload.get("platform"), payload.get("chain")) == (
            self._platform_id,
            self._chain,
        ):
            try:
                entry = TaskJournal.model_validate(payload.get("entry"))
            except ValidationError:
                entry = None
        if entry is None or entry.address.lower() != address.lower():
            raise IntegrityError(
                f"the node's journal entry {path} is not one this platform's owner signed for task {address} "
                "on this chain: "
                "nothing is recorded from it",
                hint="someone else wrote into this home; move the file aside to run the task again",
            )
        return entry

    def adopt_unkeyed(self, address: str, recorded: list[str]) -> TaskJournal | None:
        """The entry of ``address`` a node wrote before entries named their chain (version 1,
        ``tasks/<address>.json``), taken over — saved under this chain — only when it is
        surely this task's: the contract already ``recorded`` some results and every one of them
        is in the entry (sealed outputs are random ciphertexts: no other task holds them). A
        task running when its node was upgraded so finishes with the results it began to
        record, never a second set; any other version 1 entry is left unread (the task runs)."""
        legacy = self.dir / f"{address.lower()}.json"
        if not recorded or not legacy.is_file():
            return None
        try:
            payload = open_signed_file(legacy, Domain.NODE_JOURNAL, 1, self._signer.address, max_bytes=MAX_ENTRY_BYTES)
            entry = TaskJournal.model_validate(payload.get("entry") if isinstance(payload, dict) else None)
        except (IntegrityError, ValidationError):
            return None
        if not isinstance(payload, dict) or payload.get("platform") != self._platform_id:
            return None
        if entry.address.lower() != address.lower() or not set(recorded) <= {r.cid for r in entry.results}:
            return None
        self.save(entry)
        return entry

    def save(self, entry: TaskJournal) -> None:
        doc = signed_document(self._signer, Domain.NODE_JOURNAL, JOURNAL_VERSION, self._payload(entry))
        write_atomic(self._path(entry.address), doc)
