"""A platform node: the runner and the collector of one platform, following the ledger.

``eotrust node run --platform NAME`` runs :meth:`PlatformNode.run`: on start it scans the
factory's tasks for this platform's unfinished ones (RequestsLocked, Running) and advances each
— the ledger, not local memory, says what is left to do — then follows the chain's events and
advances every task an event touches. A chain that cannot be reached is retried with backoff
(with a clear line in the log), and every retry starts with the same scan, so no task is lost
while the node was cut off.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from eotrust.backends import Backends
from eotrust.catalog.entries import Kind
from eotrust.errors import BackendUnavailableError, EotrustError, PermissionDeniedError, StateError
from eotrust.ledger import TaskClient, TaskEvent, TaskSnapshot, TaskState
from eotrust.ledger.escrow import Quote as EscrowQuote
from eotrust.nodes.collector import Collector
from eotrust.nodes.executor import Executor, WorkflowExecutor
from eotrust.nodes.journal import Journal
from eotrust.nodes.runner import PlatformContext, Runner, short
from eotrust.party import Party
from eotrust.store.local import LocalStore
from eotrust.store.lock import file_lock, held_alone

ACTIVE = (TaskState.RequestsLocked, TaskState.Running)
ENDED = {state.value for state in TaskState if state.is_terminal}


class PlatformNode:
    """The runner and collector of one platform, acting as its owner."""

    def __init__(
        self,
        backends: Backends,
        party: Party,
        platform: str,
        *,
        private: LocalStore | None = None,
        executor: Executor | None = None,
        log: Callable[[str], None] | None = None,
        moved: Callable[[str, str], None] | None = None,
    ) -> None:
        """The node of ``platform`` (a catalogue name or id) run by its owner ``party``, over
        the shared ``backends``; ``private``: the platform's own store of decrypted inputs
        (default: one under the home), ``executor``: how applications run (default: the
        workflow engine)."""
        settings = backends.settings
        if settings.sandbox and executor is None:
            from eotrust.workflow.sandbox import require_bwrap

            require_bwrap()  # other parties' code never runs unsandboxed by accident
        catalog = backends.catalog
        record = catalog.find(platform, Kind.PLATFORM)
        if record.owner.lower() != party.account.address.lower():
            raise PermissionDeniedError(
                f"platform {platform!r} belongs to {record.owner}; party {party.name!r} is {party.account.address}",
                hint="run the node as the platform's owner (--as)",
            )
        name = record.body.name
        self.backends = backends
        self.ctx = PlatformContext(
            settings=settings,
            party=party,
            platform=record,
            chain=backends.chain,
            catalog=catalog,
            shared=backends.store,
            private=private if private is not None else LocalStore(settings.path("nodes", name, "private-store")),
            executor=executor if executor is not None else WorkflowExecutor(settings),
            journal=Journal(
                settings, name, signer=party.account, platform_id=record.id, chain=lambda: backends.chain.key
            ),
            log=log or (lambda line: None),
            moved=moved,
        )
        self.runner = Runner(self.ctx)
        self.collector = Collector(self.ctx)
        self._lock = file_lock(settings.path("nodes", name) / "node.lock")  # re-entrant for this node
        self._pid_path = settings.path("nodes", name) / "node.pid"
        self._settled: set[str] = set()  # tasks this node never needs to look at again
        # funded paid tasks of this platform not ended yet, and their quote's deadline: passing
        # it emits no event, so the node looks at them again when the chain's clock passes it
        self._deadlines: dict[str, int] = {}
        self._waiting_seen: set[str] = set()  # waiting tasks whose escrow was looked at
        self._too_late: set[str] = set()  # paid tasks left unstarted: their run would outlast the deadline
        if not settings.sandbox:
            self.ctx.log("WARNING: the sandbox is OFF (--no-sandbox): other parties' code runs with this node's rights")

    # -- one task ----------------------------------------------------------------
    def is_ours(self, snap: TaskSnapshot) -> bool:
        return snap.platform_owner.lower() == self.ctx.address.lower() and snap.platform_record == self.ctx.platform.id

    def advance(self, address: str) -> str:
        """Do whatever is next for this task on this platform; return its state name after."""
        task = self.backends.task(address)
        snap = task.status()
        if not self.is_ours(snap):
            return snap.state.value
        if snap.state in (TaskState.RequestsLocked, TaskState.Running):
            expired, funded = self.collector.expire_if_late(task)
            if expired:  # a paid task past its deadline: never started or settled now
                self._deadlines.pop(address, None)
                return task.status().state.value
            if funded is not None:
                self._deadlines[address] = funded.deadline
                if snap.state is TaskState.RequestsLocked and snap.all_acknowledged and not self._fits(task, funded):
                    return str(snap.state.value)  # it expires at the deadline (watched above)
        if snap.state is TaskState.RequestsLocked and self.runner.maybe_start(task, snap):
            snap = task.status()
        if snap.state is TaskState.Running:
            entry = self.runner.execute(task, snap)
            self.collector.collect(task, snap, entry)
            snap = task.status()
        if snap.state in (TaskState.Nacked, TaskState.Failed):
            self.collector.release(task)  # a paid task's escrow (issue 15); nothing for others
        return snap.state.value

    def _fits(self, task: TaskClient, funded: EscrowQuote) -> bool:
        """Whether a paid task's run, by its quote's estimate, ends before its deadline; logged
        once per task when it does not (it is then left to expire at the deadline)."""
        if self.collector.fits_before_deadline(funded):
            return True
        if task.address not in self._too_late:
            self._too_late.add(task.address)
            self.ctx.log(
                f"task {short(task.address)}: not started: its quote's estimated run would end after "
                "the quote's deadline, unsettled; it expires at the deadline, all refunded"
            )
        return False

    # -- one node per platform and home ------------------------------------------------
    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold this platform's node lock in this home (re-entrant for this node). Two nodes
        of one platform on one home would run the same task twice at once, and each deletes
        what its run added to the shared private store when the task ends: the other's
        in-flight inputs and step outputs included. The second one is refused instead."""

        def refused(holder: str) -> StateError:
            return StateError(
                f"a node of platform {self.ctx.platform_name!r} already runs on this home{holder}",
                hint="stop it first, or give this node another EOTRUST_HOME",
            )

        with held_alone(self._lock, self._pid_path, refused) as first:
            if first:
                self.runner.clean_after_crash()  # no other node of the platform runs: what is left is a dead one's
            yield

    # -- all tasks -----------------------------------------------------------------
    def recover(self) -> dict[str, str]:
        """Advance every task of this platform the node can move; the ledger says which.

        Anyone may open tasks naming any platform, so each task is first glanced at (one
        contract call): a task of another platform (owner or record), or an ended one, is never
        looked at again by this node (neither changes); one not yet locked, or still waiting
        for an answer, is skipped (the node moves it when its events say it was answered). Only
        the rest are read in full. Before, every task was read in full on every scan (its logs from its creation
        block to the head): 400 strangers' tasks cost 41 s, growing with the square of
        their number."""
        done: dict[str, str] = {}
        me = self.ctx.address.lower()
        with self.exclusive():
            for address in self.backends.factory.all_tasks():
                if address in self._settled:
                    continue
                glance = self.backends.task(address).glance()
                if glance.platform_owner.lower() != me or glance.state.is_terminal:
                    self._settled.add(address)
                    continue
                if glance.state is TaskState.RequestsLocked and not glance.all_acknowledged:
                    if address not in self._waiting_seen:  # a paid one may pass its deadline waiting
                        self._waiting_seen.add(address)
                        if self._watch_deadline(address):
                            done[address] = TaskState.Expired.value
                    continue
                if glance.state not in ACTIVE:
                    continue
                if not self.is_ours(self.backends.task(address).status()):
                    self._settled.add(address)  # another platform record of the same owner
                    continue
                done[address] = self._advance_logged(address)
                if done[address] in ENDED:
                    self._settled.add(address)
        return done

    def _watch_deadline(self, address: str) -> bool:
        """Note the deadline of a funded paid task still waiting for answers, or expire it if
        the deadline has passed (True then)."""
        try:
            expired, funded = self.collector.expire_if_late(self.backends.task(address))
        except BackendUnavailableError:
            raise
        except EotrustError as exc:
            self.ctx.log(f"task {short(address)}: {exc.message} — will try again")
            self._waiting_seen.discard(address)
            return False
        if expired:
            self._settled.add(address)
        elif funded is not None:
            self._deadlines[address] = funded.deadline
        return expired

    def _expire_late(self) -> None:
        """Advance the watched paid tasks whose deadline the chain's clock has passed."""
        if not self._deadlines:
            return
        now = self.ctx.chain.latest_timestamp()
        for address, deadline in list(self._deadlines.items()):
            if now > deadline:
                del self._deadlines[address]
                if self._advance_logged(address) in ENDED:
                    self._settled.add(address)

    def _advance_logged(self, address: str) -> str:
        try:
            return self.advance(address)
        except BackendUnavailableError:
            raise
        except EotrustError as exc:
            self.ctx.log(f"task {short(address)}: {exc.message} — will try again")
            return "error"
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the node's other tasks
            self.ctx.log(f"task {short(address)}: unexpected {type(exc).__name__}: {exc} — will try again")
            return "error"

    def run(self, stop: threading.Event | None = None, *, poll_s: float = 1.0, max_backoff_s: float = 30.0) -> None:
        """Follow the ledger until ``stop`` is set (or forever), holding the node lock."""
        with self.exclusive():
            self._follow(stop or threading.Event(), poll_s=poll_s, max_backoff_s=max_backoff_s)

    def _follow(self, stop: threading.Event, *, poll_s: float, max_backoff_s: float) -> None:
        chain = self.ctx.chain
        backoff = poll_s
        cursor: int | None = None
        self.ctx.log(f"node for platform {self.ctx.platform_name} started as {self.ctx.address}")
        while not stop.is_set():
            try:
                if cursor is None:
                    cursor = chain.block_number()
                    self.recover()
                head = chain.block_number()
                if head > cursor:
                    for address in touched_tasks(self.backends.factory.events_since(cursor + 1, to_block=head)):
                        self._advance_logged(address)
                    cursor = head
                self._expire_late()
                backoff = poll_s
                stop.wait(poll_s)
            except BackendUnavailableError as exc:
                self.ctx.log(f"chain unreachable: {exc.message} — retrying in {backoff:.0f} s")
                cursor = None  # rescan from the ledger once it is back: nothing is lost
                stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff_s)


def touched_tasks(events: Iterable[TaskEvent]) -> list[str]:
    """The addresses of the tasks ``events`` touch, each once, in order of first touch."""
    return list(dict.fromkeys(event.task for event in events))
