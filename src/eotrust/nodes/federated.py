"""A federated node: a data owner's participant, or a platform's aggregator, following the ledger.

``eotrust node run --federated participant --data OWN.npz`` (or ``--federated aggregator``)
runs :meth:`FederatedNode.run`: every poll it asks the federated factory for its running tasks
and takes one step on each that names its party and that the party accepted
(:mod:`eotrust.federated.consent`: ``federated accept ADDRESS``, or ``--accept-from SUBMITTER``;
:func:`eotrust.federated.participant.participant_step`,
:func:`eotrust.federated.aggregator.aggregator_step`). The ledger says what is left to do; the
round journal under the home says what was made but maybe not yet published, so a node killed
anywhere and started again finishes each round exactly once. An unreachable chain is retried
with backoff; an error on one task is logged and does not stop the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Literal

from eotrust.backends import Backends
from eotrust.errors import BackendUnavailableError, EotrustError, InvalidInputError, StateError
from eotrust.federated.aggregator import aggregator_step
from eotrust.federated.consent import Consent, consent_dir
from eotrust.federated.data import PixelSet
from eotrust.federated.journal import RoundJournal
from eotrust.federated.participant import participant_step
from eotrust.federated.roles import RoleContext, short
from eotrust.ledger.federated import FederatedFactoryClient, FederatedSnapshot, FederatedState, FederatedTaskClient
from eotrust.party.party import Party
from eotrust.store.lock import file_lock, held_alone

Role = Literal["participant", "aggregator"]


class FederatedNode:
    def __init__(
        self,
        backends: Backends,
        party: Party,
        role: Role,
        *,
        data: PixelSet | None = None,
        log: Callable[[str], None] | None = None,
        accept_from: Iterable[str] = (),
    ) -> None:
        if role == "participant" and data is None:
            raise InvalidInputError("a participant trains on its own data", hint="pass --data OWN.npz")
        self.role = role
        self.data = data
        directory = backends.settings.path("nodes", "federated", party.name)
        self.ctx = RoleContext(
            name=party.name,
            account=party.account,
            identity=party.age_identity,
            chain=backends.chain,
            store=backends.store,
            journal=RoundJournal(directory, signer=party.account),
            log=log or (lambda line: None),
        )
        self.consent = Consent(
            consent_dir(backends.settings, party.name), accept_from, signer=party.account, chain=backends.chain
        )
        self._lock = file_lock(directory / f"{role}.lock")  # one such node per party and home
        self._pid_path = directory / f"{role}.pid"
        self._done: set[str] = set()
        # who a task names and who opened it are fixed when it is created: a task that names
        # another party is never read again, and one that names this party but is not accepted
        # is read again only once it is (anyone may open tasks by the thousand; a poll reading
        # each of them would miss the rounds of the tasks this party takes part in)
        self._elsewhere: set[str] = set()
        self._unaccepted: dict[str, str] = {}  # address -> its submitter
        self._tasks: list[str] = []  # the factory's tasks seen so far (it only appends)
        self._last: dict[str, str] = {}
        self._genesis: str | None = None  # the chain's genesis hash, at the first poll

    def step(self, address: str, snap: FederatedSnapshot | None = None) -> str:
        if self.role == "participant":
            assert self.data is not None
            return participant_step(self.ctx, address, self.data, snap)
        return aggregator_step(self.ctx, address, snap)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold this party's lock for its role in this home (re-entrant for this node). Two
        participants of one party on one home would each train, seal an update and journal it
        for the same round — the later journal entry naming an update the ledger never took —
        and one of them fail; two aggregators likewise. The second one is refused instead."""

        def refused(holder: str) -> StateError:
            return StateError(
                f"a federated {self.role} of {self.ctx.name!r} already runs on this home{holder}",
                hint="stop it first, or give this node another EOTRUST_HOME",
            )

        with held_alone(self._lock, self._pid_path, refused):
            yield

    def step_all(self) -> dict[str, str]:
        """One step on every running task of the federated factory; what happened to each."""
        with self.exclusive():
            return self._step_all()

    def _same_chain(self) -> None:
        """StateError once the chain under this node is not the one it polled first: a dev
        chain started afresh (anvil restarted) gives its tasks the old one's addresses, while the
        node remembers, by address, which tasks ended or name others, and its journal and
        acceptances are read under the chain it read first (``Chain.key``). Told by the genesis
        block's hash, asked at each poll: two chains started in the same second differ in it."""
        genesis = self.ctx.chain.block_hash(0)
        if self._genesis is None:
            self._genesis = genesis
        elif genesis != self._genesis:
            raise StateError(
                f"the chain under this federated {self.role} node was started afresh (its genesis block is "
                "another): nothing more is done on it",
                hint="start the node again",
            )

    def _step_all(self) -> dict[str, str]:
        seen: dict[str, str] = {}
        self._same_chain()
        self._tasks = FederatedFactoryClient(self.ctx.chain).all_tasks(known=self._tasks)
        for address in self._tasks:
            if address in self._done or address in self._elsewhere:
                continue
            submitter = self._unaccepted.get(address)
            if submitter is not None and not self.consent.accepted(address, submitter):
                continue  # said once already
            try:
                snap = FederatedTaskClient(self.ctx.chain, address).status()
                if snap.state != FederatedState.RUNNING:
                    self._done.add(address)
                    continue
                if self.role not in snap.roles_of(self.ctx.address):
                    self._elsewhere.add(address)
                    continue
                if not self.consent.accepts(snap):
                    self._unaccepted[address] = snap.submitter
                    seen[address] = (
                        f"named as {self.role}, not accepted: nothing done (eotrust federated accept {address} "
                        f"--as {self.ctx.name}, or node run --accept-from {snap.submitter})"
                    )
                else:
                    self._unaccepted.pop(address, None)
                    seen[address] = self.step(address, snap)  # one read of the task per poll
            except BackendUnavailableError:
                raise
            except EotrustError as exc:
                seen[address] = f"error: {exc}"
            except Exception as exc:  # noqa: BLE001 - a bug or a peer's object must not stop the node's other tasks
                seen[address] = f"error: unexpected {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
            if self._last.get(address) != seen[address]:
                self.ctx.log(f"task {short(address)}: {seen[address]}")
                self._last[address] = seen[address]
        return seen

    def run(self, stop: threading.Event | None = None, *, poll_s: float = 1.0, max_backoff_s: float = 30.0) -> None:
        stop = stop or threading.Event()
        with self.exclusive():
            self.ctx.log(f"federated {self.role} node started as {self.ctx.address}")
            self._loop(stop, poll_s, max_backoff_s)

    def _loop(self, stop: threading.Event, poll_s: float, max_backoff_s: float) -> None:
        backoff = poll_s
        while not stop.is_set():
            try:
                self.step_all()
                backoff = poll_s
                stop.wait(poll_s)
            except BackendUnavailableError as exc:
                self.ctx.log(f"chain unreachable: {exc.message} — retrying in {backoff:.0f} s")
                stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff_s)
