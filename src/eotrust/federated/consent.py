"""What a party agreed to take part in, as a participant or an aggregator of federated tasks.

Anyone may open a federated task naming any address as a participant and itself as the
aggregator and auditor: the updates are sealed for keys the task's creator chose, and an update
is derived from the participant's private pixels. So a node trains (or aggregates) only for a
task its party accepted — one by one (``eotrust federated accept ADDRESS``, after reading the
plan), or every task of a submitter it trusts (``node run --accept-from ADDRESS``). The
acceptances live in the node's own directory of the party's home, one file per task (no read,
modify, write: two commands cannot lose each other's), each signed by the party's account
(domain ``federated consent``, over the chain, the task's address and its plan's CID): a file
planted in the home by someone else — before, any file there counted — accepts nothing.

An acceptance names its chain (:attr:`eotrust.ledger.chain.Chain.key`: id and genesis
hash) and lives in that chain's directory: a dev chain started afresh gives its tasks the
previous chain's addresses, and before (version 1, the task's address alone) a node took part
in the new chain's task on the strength of an acceptance of the old one's. Version 1
acceptances are never read: such a task is accepted again."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from eth_account.signers.local import LocalAccount

from eotrust.crypto.signing import Domain, open_signed_file, signed_document
from eotrust.ledger.codec import checksum_address
from eotrust.ledger.federated import FederatedSnapshot
from eotrust.settings import Settings
from eotrust.store.atomic import write_atomic

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain

#: The version of the signed acceptance format (2: it names its chain).
CONSENT_VERSION = 2
#: Most bytes of one acceptance file (an address, a CID and a signature).
MAX_CONSENT_BYTES = 4096


class Consent:
    """The federated tasks of ``chain`` the party of ``signer`` accepted, in ``directory``, and
    the submitters whose every task it accepts (``submitters``: addresses, checked)."""

    def __init__(self, directory: Path, submitters: Iterable[str] = (), *, signer: LocalAccount, chain: Chain) -> None:
        self.directory = Path(directory)
        self.submitters = frozenset(checksum_address(a, what="submitter").lower() for a in submitters)
        self._signer = signer
        self._chain = chain

    def path(self, address: str) -> Path:
        """Where the acceptance of the task at ``address`` on this chain is kept."""
        return self.directory / self._chain.key / checksum_address(address, what="federated task").lower()

    def accept(self, snap: FederatedSnapshot) -> Path:
        """Record that this party takes part in the task ``snap`` (its plan CID kept beside)."""
        path = self.path(snap.address)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"chain": self._chain.key, "task": snap.address.lower(), "plan": snap.plan_cid}
        write_atomic(path, signed_document(self._signer, Domain.FEDERATED_CONSENT, CONSENT_VERSION, payload))
        return path

    def accepts(self, snap: FederatedSnapshot) -> bool:
        """Whether this party takes part in the task ``snap``: accepted by address, or opened by
        a trusted submitter."""
        if snap.submitter.lower() in self.submitters:
            return True
        payload = self._signed(snap.address)
        return payload is not None and payload.get("plan") == snap.plan_cid

    def accepted(self, address: str, submitter: str) -> bool:
        """:meth:`accepts` for the task at ``address`` opened by ``submitter`` (no chain read:
        the plan is not compared)."""
        return submitter.lower() in self.submitters or self._signed(address) is not None

    def _signed(self, address: str) -> dict[str, object] | None:
        """The acceptance of ``address`` the party signed, or None (none, or not the party's)."""
        payload = open_signed_file(
            self.path(address),
            Domain.FEDERATED_CONSENT,
            CONSENT_VERSION,
            self._signer.address,
            max_bytes=MAX_CONSENT_BYTES,
        )
        if not isinstance(payload, dict) or (payload.get("chain"), payload.get("task")) != (
            self._chain.key,
            address.lower(),
        ):
            return None
        return payload


def consent_dir(settings: Settings, party: str) -> Path:
    """Where ``party``'s acceptances live in its home (beside its federated nodes' journals)."""
    return settings.path("nodes", "federated", party, "accepted")
