"""What a federated node remembers between restarts: per task and round, the CID it made but
the ledger may not hold yet (a sealed update, an aggregate). Written atomically *before* the
transaction that publishes it, so a node killed anywhere publishes, on restart, the same CID —
never a second update or a second aggregate (age encryption is randomised: sealing again
would give another CID).

Each entry is signed by the party's account (domain ``federated journal``; the entry names its
chain, task, round and role): the node publishes whatever its journal says, so before, whoever
could write the home planted an entry and the participant submitted the planter's update (any
declared sample count: the joint model was the planter's), or the aggregator published the
planter's global model, which every participant then trained on. An entry not signed so is
refused, naming its file.

Entries are kept per chain (:attr:`eotrust.ledger.chain.Chain.key`: its id and genesis
hash), in a directory of their own: a dev chain started afresh gives its tasks the previous
chain's addresses, and before (version 1, keyed by the task's address alone) a participant
submitted there the update it had sealed for the previous chain's task, and an aggregator
published the previous chain's aggregate. Version 1 entries (no chain) are never read."""

from __future__ import annotations

import re
from pathlib import Path

from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, Field, ValidationError

from eotrust.crypto.signing import Domain, open_signed_file, signed_document
from eotrust.errors import IntegrityError, InvalidInputError
from eotrust.store.atomic import write_atomic

#: The version of the signed round-journal format (2: the entry names its chain).
JOURNAL_VERSION = 2
#: A chain's key: its id and its genesis block's hash (a directory's name).
_CHAIN_KEY = re.compile(r"[0-9]{1,20}-0x[0-9a-f]{64}")
#: Most bytes of one entry (a CID, a count, a list of refused indexes).
MAX_ENTRY_BYTES = 1024 * 1024


class RoundEntry(BaseModel):
    chain: str = Field(description="the chain's key (chain id and genesis hash): Chain.key")
    task: str
    round: int
    role: str
    cid: str
    samples: int = 0
    refused: list[int] = Field(default_factory=list)


class RoundJournal:
    def __init__(self, directory: Path, *, signer: LocalAccount) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._signer = signer

    def path(self, chain: str, task: str, round_: int, role: str) -> Path:
        """Where the entry of this chain (its :attr:`~eotrust.ledger.chain.Chain.key`), task,
        round and role is kept."""
        if not _CHAIN_KEY.fullmatch(chain):
            raise InvalidInputError(f"{chain!r} is not a chain's key (<chain id>-<genesis hash>)")
        return self.dir / chain / f"{task.lower()}-{round_}-{role}.json"

    def load(self, chain: str, task: str, round_: int, role: str) -> RoundEntry | None:
        """The entry of this chain, task, round and role (None if none); IntegrityError for one
        the party did not sign for them."""
        path = self.path(chain, task, round_, role)
        if not path.is_file():
            return None
        payload = open_signed_file(
            path, Domain.FEDERATED_JOURNAL, JOURNAL_VERSION, self._signer.address, max_bytes=MAX_ENTRY_BYTES
        )
        try:
            entry = RoundEntry.model_validate(payload) if payload is not None else None
        except ValidationError:
            entry = None
        if entry is None or (entry.chain, entry.task.lower(), entry.round, entry.role) != (
            chain,
            task.lower(),
            round_,
            role,
        ):
            raise IntegrityError(
                f"the journal entry {path} is not one this party signed for round {round_} of task {task} "
                f"as {role} on chain {chain}: nothing is published from it",
                hint="someone else wrote into this home; move the file aside to do the round again",
            )
        return entry

    def save(self, entry: RoundEntry) -> None:
        doc = signed_document(self._signer, Domain.FEDERATED_JOURNAL, JOURNAL_VERSION, entry.model_dump(mode="json"))
        path = self.path(entry.chain, entry.task, entry.round, entry.role)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, doc, durable=True)
