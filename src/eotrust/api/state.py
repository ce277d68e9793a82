"""What one running server holds: the settings and the backends built from them, opened
lazily on first use (so the server starts even where a backend is configured but unused)."""

from __future__ import annotations

import logging
import threading
from functools import cached_property
from typing import Any

from eotrust.errors import EotrustError
from eotrust.settings import Settings

log = logging.getLogger(__name__)


class ServerState:
    """The backends of one server, kept in ``app.state.eotrust``."""

    def __init__(self, settings: Settings, *, dev_autoack: bool = False, run_nodes: bool = False) -> None:
        self.settings = settings
        self.dev_autoack = dev_autoack
        self.run_nodes = run_nodes
        self.lock = threading.RLock()
        self._background: list[Any] = []
        self._parties: dict[str, Any] = {}
        self._scorers: dict[str, Any] = {}

    @cached_property
    def store(self) -> Any:
        from eotrust.store import open_store

        return open_store(self.settings)

    @cached_property
    def catalog(self) -> Any:
        from eotrust.catalog.service import Catalog

        return Catalog(self.settings)

    @cached_property
    def chain(self) -> Any:
        from eotrust.flow.ledger_view import chain_of

        return chain_of(self.settings)

    @cached_property
    def deployments(self) -> Any:
        from eotrust.catalog.deployments import Deployments

        return Deployments(self.settings)

    sync_timeout_s: float = 60.0

    def party_card(self, name: str) -> tuple[str | None, str | None]:
        """(address, role) from the public card of a party whose files are under this home."""
        from eotrust.party import export_card

        try:
            card = export_card(self.settings, name)
        except EotrustError:
            return None, None
        role = getattr(card.role, "value", card.role)
        return card.address, str(role)

    def load_party(self, name: str) -> Any:
        """A party whose keystore is under this home, unlocked with the server's passphrase
        (``EOTRUST_PASSPHRASE``): the server acts for the parties it holds keys of."""
        from eotrust.party import load_party

        with self.lock:
            cached = self._parties.get(name)
            if cached is None:
                cached = self._parties[name] = load_party(self.settings, name)
            return cached

    def scorer(self, cid: str) -> Any:
        """An onnxruntime scorer of the model package ``cid`` from the store (verified once,
        then kept for the server's life)."""
        from eotrust.ml.scoring.batch import Scorer

        with self.lock:
            cached = self._scorers.get(cid)
            if cached is None:
                path = self.settings.path("tmp") / f"model-{cid}.zip"
                self.store.get_file(cid, path)
                try:
                    cached = self._scorers[cid] = Scorer.from_file(path, cid=cid)
                finally:
                    path.unlink(missing_ok=True)
            return cached

    def models(self) -> list[Any]:
        """The model packages of the registry."""
        from eotrust.ml.registry import list_models

        return list(list_models(self.settings))

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
