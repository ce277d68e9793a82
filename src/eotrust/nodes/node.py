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
from collections.abc import Callable
from typing import Any

from eotrust.catalog.entries import Kind
from eotrust.catalog.service import Catalog
from eotrust.errors import BackendUnavailableError, EotrustError, PermissionDeniedError
from eotrust.nodes.collector import Collector
from eotrust.nodes.executor import Executor, WorkflowExecutor
from eotrust.nodes.journal import Journal
from eotrust.nodes.runner import PlatformContext, Runner, short
from eotrust.settings import Settings
from eotrust.store.base import Store

ACTIVE = ("RequestsLocked", "Running")


class PlatformNode:
    """The runner and collector of one platform, acting as its owner."""

    def __init__(
        self,
        settings: Settings,
        party: Any,
        platform: str,
        *,
        chain: Any = None,
        catalog: Catalog | None = None,
        shared: Store | None = None,
        private: Store | None = None,
        executor: Executor | None = None,
        log: Callable[[str], None] | None = None,
        moved: Callable[[str, str], None] | None = None,
    ) -> None:
        from eotrust.ledger import Chain
        from eotrust.store import LocalStore, open_store

        if settings.sandbox and executor is None:
            from eotrust.workflow.sandbox import require_bwrap

            require_bwrap()  # other parties' code never runs unsandboxed by accident
        catalog = catalog or Catalog(settings)
        record = catalog.find(platform, Kind.PLATFORM)
        if record.owner.lower() != party.account.address.lower():
            raise PermissionDeniedError(
                f"platform {platform!r} belongs to {record.owner}; party {party.name!r} is {party.account.address}",
                hint="run the node as the platform's owner (--as)",
            )
        name = record.body.name  # type: ignore[attr-defined]
        self.ctx = PlatformContext(
            settings=settings,
            party=party,
            platform=record,
            chain=chain if chain is not None else Chain.from_settings(settings),
            catalog=catalog,
            shared=shared if shared is not None else open_store(settings),
            private=private if private is not None else LocalStore(settings.path("nodes", name, "private-store")),
            executor=executor if executor is not None else WorkflowExecutor(settings),
            journal=Journal(settings, name),
            log=log or (lambda line: None),
            moved=moved,
        )
        self.runner = Runner(self.ctx)
        self.collector = Collector(self.ctx)
        if not settings.sandbox:
            self.ctx.log("WARNING: the sandbox is OFF (--no-sandbox): other parties' code runs with this node's rights")

    # -- one task ----------------------------------------------------------------
    def is_ours(self, snap: Any) -> bool:
        from eotrust.flow.ledger_view import record_id_of

        return (
            snap.platform_owner.lower() == self.ctx.address.lower()
            and record_id_of(snap.platform_id) == self.ctx.platform.id
        )

    def advance(self, address: str) -> str:
        """Do whatever is next for this task on this platform; return its state name after."""
        from eotrust.flow.ledger_view import state_name, task_client

        task = task_client(self.ctx.chain, address)
        snap = task.status()
        if not self.is_ours(snap):
            return state_name(snap)
        if state_name(snap) == "RequestsLocked" and self.runner.maybe_start(task, snap):
            snap = task.status()
        if state_name(snap) == "Running":
            entry = self.runner.execute(task, snap)
            self.collector.collect(task, snap, entry)
            snap = task.status()
        return state_name(snap)

    # -- all tasks -----------------------------------------------------------------
    def recover(self) -> dict[str, str]:
        """Advance every unfinished task of this platform; the ledger says which."""
        from eotrust.flow.ledger_view import all_task_addresses, state_name, task_client

        done: dict[str, str] = {}
        for address in all_task_addresses(self.ctx.chain):
            snap = task_client(self.ctx.chain, address).status()
            if self.is_ours(snap) and state_name(snap) in ACTIVE:
                done[address] = self._advance_logged(address)
        return done

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
        """Follow the ledger until ``stop`` is set (or forever)."""
        from eotrust.flow.ledger_view import block_number, touched_tasks

        stop = stop or threading.Event()
        backoff = poll_s
        cursor: int | None = None
        self.ctx.log(f"node for platform {self.ctx.platform.body.name} started as {self.ctx.address}")  # type: ignore[attr-defined]
        while not stop.is_set():
            try:
                if cursor is None:
                    cursor = block_number(self.ctx.chain)
                    self.recover()
                head = block_number(self.ctx.chain)
                if head > cursor:
                    for address in touched_tasks(self.ctx.chain, cursor + 1, head):
                        self._advance_logged(address)
                    cursor = head
                backoff = poll_s
                stop.wait(poll_s)
            except BackendUnavailableError as exc:
                self.ctx.log(f"chain unreachable: {exc.message} — retrying in {backoff:.0f} s")
                cursor = None  # rescan from the ledger once it is back: nothing is lost
                stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff_s)
