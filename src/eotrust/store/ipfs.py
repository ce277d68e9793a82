"""The store over a kubo node's RPC HTTP API (``/api/v0/…``).

Objects are added with kubo's defaults spelled out (CIDv0, 256 KiB chunks, no raw leaves,
sha2-256), and the CID kubo answers is checked against the one eotrust computes from the
same bytes while they are uploaded: a node configured otherwise is reported, not trusted.
Reads (``cat``) are re-hashed as they stream and compared with the CID at the end; the
kubo node itself verifies every block it fetches from the network.

The HTTP transport is the one swappable layer (``transport=``): tests hand it an
``httpx.MockTransport`` to exercise every request and answer without a daemon.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, BinaryIO

import httpx

from eotrust.cid import CHUNK_SIZE, DagImporter, validate_cid
from eotrust.errors import BackendUnavailableError, IntegrityError, NotFoundError, StoreError
from eotrust.limits import json_loads
from eotrust.store.base import StoreBase, StoredObject
from eotrust.urls import redacted_url

# kubo's `ipfs add` defaults, spelled out so a node's Import.* configuration cannot change them
ADD_PARAMS = {
    "cid-version": "0",
    "raw-leaves": "false",
    "chunker": f"size-{CHUNK_SIZE}",
    "hash": "sha2-256",
    "trickle": "false",
    "quieter": "true",
    "progress": "false",
}


class IpfsStore(StoreBase):
    """A :class:`~eotrust.store.base.Store` backed by a kubo daemon at ``api_url``."""

    def __init__(
        self,
        api_url: str = "http://127.0.0.1:5001",
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 120.0,
        fetch_timeout: float = 60.0,
        hash_workers: int = 2,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.hash_workers = hash_workers
        self.fetch_timeout = fetch_timeout
        self._client = httpx.Client(
            base_url=f"{self.api_url}/api/v0",
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    def __repr__(self) -> str:
        return f"IpfsStore({self.shown_url!r})"

    @property
    def shown_url(self) -> str:
        """The API's URL as it may be shown (it may carry credentials: see :mod:`eotrust.urls`)."""
        return redacted_url(self.api_url)

    def close(self) -> None:
        self._client.close()

    # -- HTTP ----------------------------------------------------------------
    def _unreachable(self, exc: Exception) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"cannot reach the IPFS API at {self.shown_url}: {str(exc).replace(self.api_url, self.shown_url)}",
            hint="start kubo (`ipfs daemon`) or set EOTRUST_IPFS_API to its RPC address",
        )

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            return str(json_loads(response.read()).get("Message", "")).strip() or response.reason_phrase
        except (ValueError, AttributeError):
            return response.text.strip()[:200] or response.reason_phrase

    def _send(self, command: str, params: dict[str, str], *, stream: bool = False, **kw: Any) -> httpx.Response:
        request = self._client.build_request("POST", f"/{command}", params=params, **kw)
        try:
            response = self._client.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if response.status_code != 200:
            message = self._message(response)
            response.close()
            if response.status_code in (404, 405) and not message:
                raise StoreError(f"{self.shown_url} does not serve the kubo RPC API ({command})")
            raise StoreError(f"IPFS {command} failed: {message}")
        return response

    def _json(self, command: str, params: dict[str, str]) -> Any:
        response = self._send(command, params)
        try:
            return json_loads(response.content)  # bounded, as every JSON eotrust reads
        except ValueError:
            raise StoreError(f"IPFS {command} answered something that is not JSON") from None

    # -- putting -------------------------------------------------------------
    def put_stream(self, stream: BinaryIO, *, pin: bool = True) -> str:
        """Upload ``stream`` with ``/add``; return the CID, checked against our own."""
        with DagImporter(workers=self.hash_workers) as importer:
            tee = _TeeReader(stream, importer)
            params = {**ADD_PARAMS, "pin": "true" if pin else "false"}
            response = self._send("add", params, files={"file": ("blob", tee, "application/octet-stream")})
            ours = importer.finish().cid
        lines = [line for line in response.text.splitlines() if line.strip()]
        try:
            theirs = json_loads(lines[-1])["Hash"]
        except (IndexError, ValueError, KeyError, TypeError):
            raise StoreError("IPFS add answered without a Hash") from None
        if validate_cid(theirs) != ours:
            raise IntegrityError(
                f"the IPFS node named the object {theirs} but its bytes are {ours} with kubo's defaults",
                hint="check the node's Import.* settings (raw leaves, chunker, CID version)",
            )
        return ours

    # -- reading ---------------------------------------------------------------
    def open(self, cid: str) -> BinaryIO:
        """Stream the object with ``/cat``; the CID is recomputed as it streams and an
        IntegrityError is raised at the end if it does not match."""
        cid = validate_cid(cid)
        # kubo looks for blocks it lacks on the network; its own timeout bounds the search
        params = {"arg": cid, "timeout": f"{self.fetch_timeout:g}s"}
        try:
            response = self._send("cat", params, stream=True)
        except StoreError as exc:
            if any(s in exc.message for s in ("not found", "could not find", "deadline exceeded")):
                raise NotFoundError(
                    f"object {cid} is not on the IPFS node at {self.shown_url}, nor found on its network "
                    f"within {self.fetch_timeout:g} s"
                ) from None
            raise
        return io.BufferedReader(_CatReader(response, cid, self), buffer_size=CHUNK_SIZE)

    def has(self, cid: str) -> bool:
        """Whether the node holds the root block locally (``block/stat``, offline)."""
        cid = validate_cid(cid)
        try:
            self._json("block/stat", {"arg": cid, "offline": "true"})
        except StoreError as exc:
            if "not found" in exc.message or "could not find" in exc.message:
                return False
            raise
        return True

    def pin(self, cid: str) -> None:
        self._json("pin/add", {"arg": validate_cid(cid)})

    def unpin(self, cid: str) -> None:
        try:
            self._json("pin/rm", {"arg": validate_cid(cid)})
        except StoreError as exc:
            if "not pinned" not in exc.message:
                raise

    def size(self, cid: str) -> int:
        """The object's size in bytes (``files/stat``)."""
        return int(self._json("files/stat", {"arg": f"/ipfs/{validate_cid(cid)}"}).get("Size", -1))

    def list(self) -> Iterator[StoredObject]:
        """The objects pinned (recursively) on the node."""
        keys = self._json("pin/ls", {"type": "recursive"}).get("Keys") or {}
        for key in sorted(keys):
            try:
                cid = validate_cid(key)
            except Exception:
                continue  # not a dag-pb sha2-256 object: not one of ours
            yield StoredObject(cid=cid, size=self.size(cid), pinned=True)


class _TeeReader:
    """Hands an upload's bytes to the DAG importer as httpx reads them."""

    def __init__(self, stream: BinaryIO, importer: DagImporter) -> None:
        self._stream = stream
        self._importer = importer

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if data:
            self._importer.write(data)
        return data


class _CatReader(io.RawIOBase):
    """The body of a ``/cat`` response, re-hashed as it is read."""

    def __init__(self, response: httpx.Response, cid: str, store: IpfsStore) -> None:
        super().__init__()
        self._response = response
        self._cid = cid
        self._store = store
        self._pieces = response.iter_bytes(CHUNK_SIZE)
        self._importer = DagImporter()
        self._left = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._left:
            if self._done:
                return 0
            try:
                piece = next(self._pieces, None)
            except httpx.TransportError as exc:
                raise self._store._unreachable(exc) from None
            if piece is None:
                self._done = True
                got = self._importer.finish().cid
                if got != self._cid:
                    raise IntegrityError(f"IPFS returned bytes whose CID is {got}, not {self._cid}")
                return 0
            self._importer.write(piece)
            self._left = memoryview(piece)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._importer.close()
        super().close()
