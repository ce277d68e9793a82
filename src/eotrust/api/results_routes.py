"""A Finished task's results for the party allowed to read them (its submitter): the list,
each decrypted file for download, and PNG results inline as previews.

The server is the gateway of the parties whose keystores it holds: it decrypts with the
submitter's age identity exactly as `eotrust flow collect` does (each result checked against
the platform's signed record), into a private cache under the home, once per task."""

from __future__ import annotations

import mimetypes
import shutil
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel

from eotrust.api import flowops
from eotrust.api.auth import Caller, require_party
from eotrust.api.ogc import ERROR_RESPONSES
from eotrust.catalog.entries import ResultInfo
from eotrust.errors import NotFoundError, StateError

if TYPE_CHECKING:
    from eotrust.api.state import ServerState
    from eotrust.ledger import TaskSnapshot

router = APIRouter(tags=["Tasks"])
_ERR: dict[int | str, dict[str, Any]] = {k: ERROR_RESPONSES[k] for k in (400, 401, 403, 404)}
Address = Path(..., min_length=1, max_length=100, description="the task's contract address")


class ResultFile(BaseModel):
    name: str
    file: str
    cid: str
    plaintext_cid: str
    size: int
    media_type: str
    encrypted: bool
    href: str


def _recorded(state: ServerState, address: str, snap: TaskSnapshot) -> dict[str, ResultInfo]:
    """The task's results by plaintext CID: the platform's signed records of results the
    contract holds."""
    on_chain = set(snap.result_cids)
    records = state.catalog.results_of(address, platform_owner=snap.platform_owner, chain=state.chain.key).values()
    return {r.plaintext_cid: r for r in records if r.cid in on_chain}


def _collected(request: Request, caller: Caller, address: str) -> list[tuple[FsPath, ResultInfo]]:
    """The task's decrypted results in the page's cache, each with its record. The cache lies
    in the server's home, so each file is hashed and kept only if it is one of the task's
    results: whoever could write the home planted files there, and they were served as the
    task's results. A cache holding anything else is dropped and decrypted again. Requests run
    at once: a cache another request drops while this one checks it is checked again, or
    rebuilt, a few times before the request gives up (409, try again)."""
    from eotrust.cid import cid_of_file
    from eotrust.disk import check_free_disk, room_to_decrypt
    from eotrust.roles.submitter.collect import collect_results
    from eotrust.store.atomic import temp_name

    state = request.app.state.eotrust
    flowops.ensure_job_submitter(state, caller, address)
    snap = flowops.snapshot(state, address)[1]
    recorded = _recorded(state, address, snap)
    cache = state.settings.path("web-results") / address.lower()

    def checked() -> list[tuple[FsPath, ResultInfo]] | None:
        """The cache's files with their records; None if one is not the task's. Raises
        FileNotFoundError if the cache is dropped meanwhile (by another request)."""
        out = []
        for path in sorted(p for p in cache.iterdir() if not p.is_dir() or p.is_symlink()):
            rec = recorded.get(cid_of_file(path)) if path.is_file() and not path.is_symlink() else None
            if rec is None:
                return None
            out.append((path, rec))
        return out

    for _ in range(3):
        try:
            if cache.is_dir() and (found := checked()) is not None:
                return found
            shutil.rmtree(cache, ignore_errors=True)
            # decrypted here once and kept: not if that would leave the disk short
            sizes = [state.store.size(cid) for cid in snap.result_cids if state.store.has(cid)]
            check_free_disk([cache.parent], state.settings.min_free_disk_mb, more=room_to_decrypt(sizes))
            building = temp_name(cache)
            try:
                collect_results(state, state.load_party(caller.party), address, building)
                building.rename(cache)
            except OSError:  # another request finished first: use its copy
                pass
            finally:
                shutil.rmtree(building, ignore_errors=True)  # nothing half-written stays
            return checked() or []
        except (FileNotFoundError, NotADirectoryError):  # dropped by another request meanwhile
            continue
    raise StateError(
        f"the results of task {address} vanished three times while they were read (other requests at once, "
        "or files missing from the store)",
        hint="try again; if it persists, the store lacks one of the task's results",
    )


@router.get(
    "/tasks/{address}/results",
    response_model=list[ResultFile],
    summary="The task's results, decrypted for its submitter",
    responses=_ERR,
)
def task_results(
    request: Request, address: str = Address, caller: Caller = Depends(require_party)
) -> list[dict[str, Any]]:
    return [
        {
            "name": rec.name,
            "file": path.name,
            "cid": rec.cid,
            "plaintext_cid": rec.plaintext_cid,
            "size": path.stat().st_size,
            "media_type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            "encrypted": bool(rec.recipient),
            "href": f"/tasks/{address}/results/{path.name}",
        }
        for path, rec in _collected(request, caller, address)
    ]


@router.get(
    "/tasks/{address}/results/{file}",
    summary="One decrypted result (PNG results preview inline)",
    responses={**_ERR, 200: {"content": {"application/octet-stream": {}}}},
    response_class=FileResponse,
)
def task_result_file(
    request: Request,
    address: str = Address,
    file: str = Path(..., min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    caller: Caller = Depends(require_party),
) -> FileResponse:
    files = {p.name: p for p, _ in _collected(request, caller, address)}
    path: FsPath | None = files.get(file)
    if path is None:
        raise NotFoundError(
            f"task {address} has no result file {file!r}", hint=f"GET /tasks/{address}/results lists them"
        )
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    inline = media.startswith("image/png")
    return FileResponse(
        path,
        media_type=media,
        filename=None if inline else path.name,
        content_disposition_type="inline" if inline else "attachment",
    )
