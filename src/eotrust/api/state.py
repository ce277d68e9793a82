"""What one running server holds: its :class:`~eotrust.backends.Backends` (opened lazily on
first use, so the server starts even where a backend is configured but unused, and each opened
once for the server's life: one catalogue engine, however many requests) and the helpers it
runs in the background."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eotrust.backends import Backends, opened
from eotrust.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from eotrust.api.key_proof import KeyProofs
    from eotrust.api.model_service import ModelService
    from eotrust.catalog.listing import Skipped
    from eotrust.catalog.service import Catalog
    from eotrust.linked.kept import KeptGraphs
    from eotrust.ml.registry import ModelEntry
    from eotrust.store.usage import StoreUsage

log = logging.getLogger(__name__)


class ServerState(Backends):
    """The backends of one server, kept in ``app.state.eotrust``."""

    def __init__(self, settings: Settings, *, dev_autoack: bool = False, run_nodes: bool = False) -> None:
        super().__init__(settings)
        self.dev_autoack = dev_autoack
        self.run_nodes = run_nodes
        self._background: list[Any] = []

    sync_timeout_s: float = 60.0

    @opened
    def catalog(self) -> Catalog:
        """The catalogue, whose listings log each time they leave out rows that fail their
        check (one warning line on the server's log)."""
        from eotrust.catalog.service import open_catalog

        return open_catalog(self.settings, sessions=self.sessions, on_skip=_log_skipped)

    @opened
    def key_proofs(self) -> KeyProofs:
        """The book of open key-proof challenges (``POST /challenge``, ``/answer``)."""
        from eotrust.api.key_proof import KeyProofs

        return KeyProofs(self.api_keys, self.party_card)

    @opened
    def model_service(self) -> ModelService:
        """What the predict route keeps: models resolved by CID, memoised scope checks."""
        from eotrust.api.model_service import ModelService

        return ModelService(self.settings, self.registry, self.api_keys)

    @opened
    def sparql_slots(self) -> threading.BoundedSemaphore:
        """How many SPARQL queries may be evaluated at once (``sparql_concurrency``)."""
        return threading.BoundedSemaphore(self.settings.sparql_concurrency)

    @opened
    def linked_graphs(self) -> KeptGraphs:
        """The catalogue graph built for ``/linked-data`` and ``/sparql``, kept until the
        catalogue changes."""
        from eotrust.linked.kept import KeptGraphs

        return KeptGraphs()

    @opened
    def store_usage(self) -> StoreUsage:
        """What each party has stored through this server (``store_max_mb_per_party``)."""
        from eotrust.store.usage import StoreUsage

        return StoreUsage(self.settings.path("server") / "store-usage.sqlite")

    def write_disks(self) -> list[Path]:
        """Directories on the disks a party's request writes to: the server's temporary files
        (in its home, beside the chain journal and catalogue) and a local store's root."""
        from eotrust.store.local import LocalStore

        return [self.settings.path("tmp"), *([self.store.root] if isinstance(self.store, LocalStore) else [])]

    def models(self) -> list[ModelEntry]:
        """The model packages of the registry."""
        return list(self.registry.list())

    def start(self) -> None:
        """Start background helpers (runner/collector, dev auto-answer) when asked to."""
        from eotrust.api.background import AutoAnswer, NodeSupervisor

        if self.dev_autoack:
            self._background.append(AutoAnswer(self))
        if self.run_nodes:
            self._background.append(NodeSupervisor(self))
        for helper in self._background:
            helper.start()

    def stop(self) -> None:
        for helper in reversed(self._background):
            try:
                helper.stop()
            except Exception:  # pragma: no cover - best effort at shutdown
                log.exception("stopping %r", helper)
        self._background.clear()
        self.close()


def _log_skipped(skipped: Sequence[Skipped]) -> None:
    from eotrust.catalog.listing import skipped_line

    log.warning("%s", skipped_line(skipped))
