"""Helpers a server can run beside its routes, for a single-host deployment or a demo:

- :class:`NodeSupervisor` (``eotrust serve --run-nodes``): the runner/collector node
  (``eotrust.nodes.PlatformNode``) of every catalogue platform whose owner's keystore is in this
  server's home, each in a thread, started as platforms appear.
- :class:`AutoAnswer` (``eotrust serve --dev-autoack``, development only): every open request
  of a locked task that is addressed to a party whose keystore is in this home is acknowledged
  at once, as that party (the algorithm owner, the platform owner, each data owner: the data
  owner's file is encrypted for the platform and stored as in ``eotrust.roles.owners.answer``). It
  stands in for people answering from their own machines; a production server leaves it off.

Both act only as parties whose keys the server holds, through the same library calls the CLI
makes, and both stop when the server stops. They need only the server's backends (the
``Backends`` container a ``ServerState`` is), not the server state itself."""

from __future__ import annotations

import functools
import logging
import threading
from typing import TYPE_CHECKING

from eotrust.errors import EotrustError
from eotrust.ledger import TaskState

if TYPE_CHECKING:
    from eotrust.backends import Backends
    from eotrust.nodes.node import PlatformNode
    from eotrust.party import PartyCard

log = logging.getLogger("eotrust.api.background")


def _node_log(name: str, line: str) -> None:
    log.info("node %s: %s", name, line)


def local_parties(state: Backends) -> dict[str, PartyCard]:
    """address (lower case) -> party card, for every party whose files are in this home."""
    from eotrust.party import list_cards

    try:
        return {c.address.lower(): c for c in list_cards(state.settings)}
    except EotrustError:
        return {}


class _Loop:
    interval_s = 0.5

    def __init__(self, state: Backends) -> None:
        self.state = state
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a helper must not die; log and try again
                log.exception("%s tick failed", type(self).__name__)
            self.stop_event.wait(self.interval_s)

    def tick(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class AutoAnswer(_Loop):
    """Acknowledge requests addressed to parties whose keystores this server holds."""

    def __init__(self, state: Backends) -> None:
        super().__init__(state)
        self.done: set[str] = set()
        self.seen: tuple[int, tuple[str, ...], tuple[str, ...]] | None = None

    def tick(self) -> None:
        from eotrust.roles.owners.answer import answer_task

        state = self.state
        parties = local_parties(state)
        tasks = [rec.body.address for rec in state.catalog.tasks()]
        # a task's state moves only with a new block: with no new block, task or local party
        # since the last whole look, there is nothing to answer (and no chain to read twice a second)
        seen = (state.chain.block_number(), tuple(tasks), tuple(sorted(parties)))
        if seen == self.seen:
            return
        retry = False
        for address in tasks:
            if address in self.done:
                continue
            snap = state.task(address).status()
            if snap.is_terminal or snap.state is TaskState.Running:
                self.done.add(address)
                continue
            if snap.state is not TaskState.RequestsLocked:
                continue
            for addr, card in parties.items():
                if not snap.owed_by(addr):
                    continue
                party = state.load_party(card.name)
                try:
                    with state.lock:
                        answer_task(state, party, address)
                    log.info("dev auto-answer: %s acknowledged its requests on task %s", card.name, address)
                except EotrustError as exc:
                    log.warning("dev auto-answer: %s could not answer task %s: %s", card.name, address, exc)
                    retry = True  # what it lacked may come without a block (a file in the store)
                snap = state.task(address).status()
        if not retry:
            self.seen = seen  # only after a whole look without a failure (an exception looks again)


class NodeSupervisor(_Loop):
    """Run the platform node of each local platform owner in a thread of its own."""

    interval_s = 1.0

    def __init__(self, state: Backends) -> None:
        super().__init__(state)
        self.nodes: dict[str, tuple[PlatformNode, threading.Thread, threading.Event]] = {}

    def tick(self) -> None:
        from eotrust.catalog.entries import Kind
        from eotrust.nodes.node import PlatformNode

        state = self.state
        parties = local_parties(state)
        for platform in state.catalog.list(Kind.PLATFORM):
            card = parties.get(platform.owner.lower())
            if card is None or platform.id in self.nodes:
                continue
            name = platform.body.name
            party = state.load_party(card.name)
            node = PlatformNode(state, party, platform.id, log=functools.partial(_node_log, name))
            stop = threading.Event()
            thread = threading.Thread(target=_run_node, args=(node, stop, name), name=f"node-{name}", daemon=True)
            thread.start()
            self.nodes[platform.id] = (node, thread, stop)
            log.info("started the node of platform %s as %s", name, card.name)

    def stop(self) -> None:
        super().stop()
        for _, _thread, stop in self.nodes.values():
            stop.set()
        for _, thread, _ in self.nodes.values():
            thread.join(timeout=30)


def _run_node(node: PlatformNode, stop: threading.Event, name: str) -> None:
    """One platform's node, until the server stops; refused (one line in the log, the server
    serving on) when another node of that platform already runs on this home."""
    try:
        node.run(stop, poll_s=0.5)
    except EotrustError as exc:
        log.warning("the node of platform %s does not run in this server: %s", name, exc)
