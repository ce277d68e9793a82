"""The backends of one process, built once from Settings and passed to every use-case.

>>> backends = Backends(settings)           # cheap: nothing is opened yet
>>> backends.catalog.search(text="ndvi")    # the catalogue's engine is made (and create_all run) now
>>> backends.task(address).status()         # the chain is opened on first use, then kept

The CLI root callback builds one for the command (``eotrust.cli.common.backends_of``) and the
server one for its life (``eotrust.api.state.ServerState`` is a ``Backends``). Every backend is
opened the one way its package offers (``open_store``, ``open_catalog``, ``open_chain``,
``open_executor``), lazily and at most once per container, under a lock (a server's routes run
on a thread pool). The catalogue, the deployments, the model registry and the API keys share
ONE SQLAlchemy engine, whose tables are created once, when it is first needed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar, overload

from eotrust.errors import EotrustError
from eotrust.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from eotrust.catalog.api_keys import ApiKeys
    from eotrust.catalog.deployments import Deployments
    from eotrust.catalog.service import Catalog
    from eotrust.ledger import Chain, TaskClient, TaskFactoryClient
    from eotrust.ledger.backend import ChainBackend
    from eotrust.ml.registry import Registry
    from eotrust.ml.scoring.batch import Scorer
    from eotrust.party import Party
    from eotrust.store.base import Store
    from eotrust.workflow.executors.base import Executor

T = TypeVar("T")
B = TypeVar("B", bound="Backends")


class opened(Generic[B, T]):
    """A backend opened on first use and kept: ``functools.cached_property`` under the
    container's lock, so two threads never open the same backend twice. (Subclasses of
    :class:`Backends` use it for what they add: the server's helpers.)"""

    def __init__(self, open_: Callable[[B], T]) -> None:
        self._open = open_
        self.__doc__ = open_.__doc__
        self._name = open_.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> opened[B, T]: ...
    @overload
    def __get__(self, obj: B, objtype: type | None = None) -> T: ...

    def __get__(self, obj: B | None, objtype: type | None = None) -> T | opened[B, T]:
        if obj is None:
            return self
        cache = obj.__dict__
        if self._name in cache:
            return cache[self._name]  # type: ignore[no-any-return]
        with obj.lock:
            if self._name not in cache:
                cache[self._name] = self._open(obj)
            return cache[self._name]  # type: ignore[no-any-return]


class Backends:
    """Store, catalogue (one engine), chain and factory, model registry, API keys, and the
    parties and scorers a long-running process keeps unlocked/loaded."""

    def __init__(self, settings: Settings, *, chain_backend: ChainBackend | None = None) -> None:
        """``chain_backend``: a chain backend already open for these settings, used instead of
        opening one (the resident agent's warm embedded chain, eotrust.cli.resident)."""
        self.settings = settings
        self._chain_backend = chain_backend
        self.lock = threading.RLock()
        self._parties: dict[str, Party] = {}
        self._scorers: dict[str, Scorer] = {}

    # -- the backends ---------------------------------------------------------------------
    @opened
    def store(self) -> Store:
        """The content-addressed store the settings name (local or IPFS)."""
        from eotrust.store import open_store

        return open_store(self.settings)

    @opened
    def sessions(self) -> sessionmaker[Session]:
        """The catalogue database's session factory: one engine, tables created once."""
        from eotrust.catalog.service import open_sessions

        return open_sessions(self.settings)

    @opened
    def catalog(self) -> Catalog:
        from eotrust.catalog.service import open_catalog

        return open_catalog(self.settings, sessions=self.sessions)

    @opened
    def deployments(self) -> Deployments:
        """Which applications are deployed as OGC processes, and to whom they are visible."""
        from eotrust.catalog.deployments import Deployments

        return Deployments(self.sessions)

    @opened
    def api_keys(self) -> ApiKeys:
        from eotrust.catalog.api_keys import ApiKeys

        return ApiKeys(self.settings, sessions=self.sessions)

    @opened
    def registry(self) -> Registry:
        """The model-package registry (over the same store and engine)."""
        from eotrust.ml.registry import Registry

        return Registry(self.settings, store=self.store, sessions=self.sessions)

    @opened
    def chain(self) -> Chain:
        """The chain the settings name (embedded or JSON-RPC), or over the backend given."""
        from eotrust.ledger import Chain, open_chain

        if self._chain_backend is not None:
            return Chain(self._chain_backend, settings=self.settings)
        return open_chain(self.settings)

    @opened
    def factory(self) -> TaskFactoryClient:
        from eotrust.ledger import TaskFactoryClient

        return TaskFactoryClient(self.chain)

    def task(self, address: str) -> TaskClient:
        """The client of the task contract at ``address`` on this chain (sharing the factory,
        which remembers the tasks it has checked)."""
        from eotrust.ledger import TaskClient

        return TaskClient(self.chain, address, factory=self.factory)

    def executor(self) -> Executor:
        """A new step executor over this store (local processes, or the Dask cluster the
        settings name); the caller closes it."""
        from eotrust.workflow.executors import open_executor

        return open_executor(self.settings, self.store)

    # -- parties and models a process keeps --------------------------------------------------
    def party_card(self, name: str) -> tuple[str | None, str | None]:
        """(address, role) from the public card of a party whose files are under this home;
        (None, None) for a party this home does not hold."""
        from eotrust.party import export_card

        try:
            card = export_card(self.settings, name)
        except EotrustError:
            return None, None
        return card.address, card.role.value

    def load_party(self, name: str) -> Party:
        """A party whose keystore is under this home, unlocked with the settings' passphrase
        (``EOTRUST_PASSPHRASE``) once, then kept."""
        from eotrust.party import load_party

        with self.lock:
            cached = self._parties.get(name)
            if cached is None:
                cached = self._parties[name] = load_party(self.settings, name)
            return cached

    def keep_party(self, party: Party) -> None:
        """Keep ``party``, unlocked by the caller, as :meth:`load_party` would keep it."""
        with self.lock:
            self._parties[party.name] = party

    def scorer(self, cid: str) -> Scorer:
        """An onnxruntime scorer of the model package ``cid`` from the store (verified once,
        then kept)."""
        from eotrust.ml.scoring.batch import Scorer

        with self.lock:
            cached = self._scorers.get(cid)
            if cached is None:
                path = self.settings.path("tmp") / f"model-{cid}.zip"
                self.store.get_file(cid, path)
                try:
                    cached = self._scorers[cid] = Scorer.from_file(
                        path,
                        cid=cid,
                        max_memory_mb=self.settings.model_max_memory_mb,
                        max_seconds=self.settings.model_max_seconds,
                    )
                finally:
                    path.unlink(missing_ok=True)
            return cached

    def close(self) -> None:
        """Release the catalogue's engine (its connections); other backends hold no pool."""
        sessions = self.__dict__.pop("sessions", None)
        for name in ("catalog", "deployments", "api_keys", "registry"):
            self.__dict__.pop(name, None)
        if sessions is not None:
            sessions.kw["bind"].dispose()


__all__ = ["Backends"]
