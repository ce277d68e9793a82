"""eotrust.store: content-addressed storage named by kubo-compatible CIDs.

``open_store(settings)`` gives the backend the settings choose: :class:`LocalStore` (the
embedded default, blocks under the eotrust home) or :class:`IpfsStore` (a kubo node's RPC
API). Both implement :class:`Store`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eotrust.store.base import Store, StoredObject
from eotrust.store.local import LocalStore

if TYPE_CHECKING:
    from eotrust.settings import Settings

__all__ = ["IpfsStore", "LocalStore", "Store", "StoredObject", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store the settings name (``store = "local" | "ipfs"``)."""
    if settings.store == "ipfs":
        from eotrust.store.ipfs import IpfsStore

        return IpfsStore(settings.ipfs_api, hash_workers=settings.hash_workers)
    return LocalStore(settings.store_dir, hash_workers=settings.hash_workers)


def __getattr__(name: str) -> object:
    if name == "IpfsStore":  # httpx is imported only by those who use IPFS
        from eotrust.store.ipfs import IpfsStore

        return IpfsStore
    raise AttributeError(name)
