"""What the predict route keeps for a server's life (``ServerState.model_service``): the
registry and the API keys it checks against (over the catalogue's one engine), the models
already resolved by CID, and memoised scope checks. Loaded scorers are cached per CID by the
server state (``Backends.scorer``)."""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING

from eotrust.cid import normal_cid

if TYPE_CHECKING:
    from eotrust.catalog.api_keys import ApiKeys
    from eotrust.ml.registry import ModelEntry, Registry
    from eotrust.settings import Settings


def _scopes_allow(scopes: tuple[str, ...], cid: str, name: str | None) -> bool:
    from eotrust.catalog.api_keys import scopes_allow

    return scopes_allow(scopes, cid, name)


class ModelService:
    def __init__(self, settings: Settings, registry: Registry, keys: ApiKeys) -> None:
        from eotrust.api.memory_budget import MemoryBudget

        self.settings = settings
        #: the memory scoring requests may hold at once (``predict_memory_mb``)
        self.memory = MemoryBudget(settings.predict_memory_mb * 1024 * 1024)
        self.registry = registry
        self.keys = keys
        self.entries: dict[str, ModelEntry] = {}  # normal CID -> registered model, resolved once
        self.lock = threading.Lock()
        # pure functions of strings, memoised: decoding a CID (to its normal form, once for the
        # path and once per key scope) cost more CPU per request than the rest of the route
        self.normal_cid = functools.lru_cache(maxsize=1024)(normal_cid)
        self.scopes_allow = functools.lru_cache(maxsize=1024)(_scopes_allow)
