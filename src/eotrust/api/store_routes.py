"""The content-addressed store over HTTP: ``POST /store`` (streamed upload → CID) and
``GET /store/{cid}`` (streamed, verified download). Both need an API key. Who may download
what is decided by :mod:`eotrust.api.authorization`: a task result only its submitter, a
dataset's plaintext only its owner, a model package only its owner (with a key scoped to it);
other objects (workflows, ciphertexts of inputs) any party."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from eotrust.api.auth import Caller, require_party
from eotrust.api.bodies import (
    BodyTooLarge,
    DiskGuard,
    check_declared_length,
    declared_length,
    stream_body,
)
from eotrust.api.ogc import ERROR_RESPONSES
from eotrust.errors import NotFoundError, QuotaExceededError

if TYPE_CHECKING:
    from eotrust.api.state import ServerState

router = APIRouter(prefix="/store", tags=["Store"])

CHUNK = 1 << 20
CidPath = Path(..., min_length=46, max_length=100, pattern=r"^[A-Za-z0-9]+$", description="a CID (Qm… or bafy…)")


class Stored(BaseModel):
    """What an upload stored."""

    cid: str
    size: int


def _validate(cid: str) -> str:
    from eotrust.cid import validate_cid

    return validate_cid(cid)


@router.post(
    "",
    response_model=Stored,
    status_code=201,
    summary="Upload bytes (the raw request body, streamed); returns their CID",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={**ERROR_RESPONSES, 413: {"description": "larger than max_upload_mb"}},
)
async def upload(request: Request, caller: Caller = Depends(require_party)) -> Any:
    state = request.app.state.eotrust
    mb = state.settings.max_upload_mb
    limit = mb * 1024 * 1024
    check_declared_length(request, limit, lambda _size: upload_too_large(mb))
    from starlette.concurrency import run_in_threadpool

    usage = state.store_usage
    quota = state.settings.store_max_mb_per_party * 1024 * 1024
    used = await run_in_threadpool(usage.used, caller.party)
    declared = declared_length(request) or 0
    if used + declared > quota:  # refused before one byte is read
        raise _over_quota(caller.party, quota, used, declared)
    tmp_dir = state.settings.path("tmp")
    disks = state.write_disks()
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=tmp_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            guarded = DiskGuard(out.write, disks, state.settings.min_free_disk_mb, copies=2, expected=declared)

            def write(chunk: bytes) -> None:
                if used + guarded.written + len(chunk) > quota:  # a chunked body: cut off as it passes
                    raise _over_quota(caller.party, quota, used, guarded.written + len(chunk))
                guarded(chunk)

            size = await stream_body(request, limit, write, lambda: upload_too_large(mb))
        from pathlib import Path as P

        stored = await run_in_threadpool(state.store.put_file, P(tmp))
        await run_in_threadpool(usage.add, caller.party, stored, size)  # once per party and object
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    return {"cid": stored, "size": size}


def _over_quota(party: str, quota: int, used: int, size: int) -> QuotaExceededError:
    return QuotaExceededError(
        f"party {party} has stored {used / 2**20:.1f} MiB through this server; {size / 2**20:.1f} MiB more would "
        f"pass its {quota >> 20} MiB (store_max_mb_per_party)",
        hint="ask the server's operator for more, or store the object on your own node",
    )


class UploadTooLarge(BodyTooLarge):
    """An upload (or a scene to render) over ``max_upload_mb``: 413."""


def upload_too_large(mb: int) -> UploadTooLarge:
    """The 413 error for a body over ``max_upload_mb`` (``POST /store``, ``POST /render/prediction``)."""
    return UploadTooLarge(f"upload larger than {mb} MiB", hint="raise max_upload_mb or use the store directly")


def check_download(state: ServerState, caller: Caller, cid: str) -> str:
    """Refuse a download the caller's party may not make (:mod:`eotrust.api.authorization`);
    the CID's normal form."""
    from eotrust.api.authorization import authorize_read

    return authorize_read(state, caller, cid)


@router.get(
    "/{cid}",
    summary="Download an object by CID (streamed, verified as it is read)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
        **ERROR_RESPONSES,
    },
)
def download(request: Request, cid: str = CidPath, caller: Caller = Depends(require_party)) -> StreamingResponse:
    state = request.app.state.eotrust
    cid = check_download(state, caller, cid)  # first: no one learns what another party may not read
    if not state.store.has(cid):
        raise NotFoundError(f"no object {cid} in this server's store")
    stream = state.store.open(cid)

    def chunks() -> Iterator[bytes]:
        try:
            while True:
                block = stream.read(CHUNK)
                if not block:
                    break
                yield block
        finally:
            stream.close()

    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"ETag": f'"{cid}"', "Cache-Control": "public, max-age=31536000, immutable"},
    )
