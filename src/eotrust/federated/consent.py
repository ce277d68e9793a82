"""What a party agreed to take part in, as a participant or an aggregator of federated tasks.

Anyone may open a federated task naming any address as a participant and itself as the
aggregator and auditor: the updates are sealed for keys the task's creator chose, and an update
is derived from the participant's private pixels. So a node trains (or aggregates) only for a
task its party accepted — one by one (``eotrust federated accept ADDRESS``, after reading the
plan), or every task of a submitter it trusts (``node run --accept-from ADDRESS``). The
acceptances live in the node's own directory of the party's home, one file per task (no read,
modify, write: two commands cannot lose each other's)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from eotrust.ledger.codec import checksum_address
from eotrust.ledger.federated import FederatedSnapshot
from eotrust.settings import Settings
from eotrust.store.atomic import write_atomic


class Consent:
    """The federated tasks one party accepted, in ``directory``, and the submitters whose every
    task it accepts (``submitters``: addresses, checked)."""

    def __init__(self, directory: Path, submitters: Iterable[str] = ()) -> None:
        self.directory = Path(directory)
        self.submitters = frozenset(checksum_address(a, what="submitter").lower() for a in submitters)

    def _path(self, address: str) -> Path:
        return self.directory / checksum_address(address, what="federated task").lower()

    def accept(self, snap: FederatedSnapshot) -> Path:
        """Record that this party takes part in the task ``snap`` (its plan CID kept beside)."""
        path = self._path(snap.address)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, (snap.plan_cid + "\n").encode())
        return path

    def accepts(self, snap: FederatedSnapshot) -> bool:
        """Whether this party takes part in the task ``snap``: accepted by address, or opened by
        a trusted submitter."""
        return self.accepted(snap.address, snap.submitter)

    def accepted(self, address: str, submitter: str) -> bool:
        """:meth:`accepts` for the task at ``address`` opened by ``submitter`` (no chain read)."""
        return submitter.lower() in self.submitters or self._path(address).is_file()


def consent_dir(settings: Settings, party: str) -> Path:
    """Where ``party``'s acceptances live in its home (beside its federated nodes' journals)."""
    return settings.path("nodes", "federated", party, "accepted")
