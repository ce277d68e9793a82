"""What one running server holds: the settings and the backends built from them, opened
lazily on first use (so the server starts even where a backend is configured but unused)."""

from __future__ import annotations

import importlib
import logging
import threading
from functools import cached_property
from typing import Any

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

    @cached_property
    def store(self) -> Any:
        from eotrust.store import open_store

        return open_store(self.settings)

    @cached_property
    def catalog(self) -> Any:
        from eotrust.catalog.service import Catalog

        return Catalog(self.settings)

    def models(self) -> list[Any]:
        """The model packages of the registry."""
        try:
            registry = importlib.import_module("eotrust.ml.registry")
        except ModuleNotFoundError as exc:  # the model registry lands in parallel
            if exc.name == "eotrust.ml.registry":
                return []
            raise
        return list(registry.list_models(self.settings))

    def start(self) -> None:
        """Start background helpers (runner/collector, dev auto-ack) when asked to."""

    def stop(self) -> None:
        for helper in reversed(self._background):
            try:
                helper.stop()
            except Exception:  # pragma: no cover - best effort at shutdown
                log.exception("stopping %r", helper)
        self._background.clear()
