"""The catalogue over HTTP: read and search signed records (public), and register datasets,
applications and platforms as the calling party (signed with that party's key)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from eotrust.api.auth import Caller, require_party
from eotrust.api.ogc import ERROR_RESPONSES
from eotrust.catalog.entries import ApplicationInfo, Body, DatasetInfo, Kind, PlatformInfo, Record
from eotrust.catalog.listing import Skipped
from eotrust.catalog.query import Filter
from eotrust.errors import InvalidInputError

if TYPE_CHECKING:
    from eotrust.api.state import ServerState

router = APIRouter(prefix="/catalog", tags=["Catalogue"])

KindName = Literal["dataset", "application", "platform", "task", "result"]


class RecordOut(BaseModel):
    """A signed catalogue record: ``id`` is the CID of its canonical bytes, ``signature`` its
    owner's EIP-191 signature over them."""

    model_config = ConfigDict(extra="allow")
    id: str
    kind: KindName
    owner: str
    created: str
    body: dict[str, Any]
    signature: str


def record_json(record: Record[Body]) -> dict[str, Any]:
    return record.model_dump(mode="json")


#: The most records one answer holds; a ``Link: <…>; rel="next"`` header names the next page.
MAX_PAGE = 1000
#: The header that counts the rows a listing left out because they failed their check (each is
#: named, with why, in the server's log); absent when none was.
SKIPPED_HEADER = "Eotrust-Skipped"


def note_skipped(response: Response, skipped: Sequence[Skipped]) -> None:
    """Count the rows left out of this answer in :data:`SKIPPED_HEADER` (a count only: a row's
    id is its holder's text, never written into a header)."""
    if skipped:
        response.headers[SKIPPED_HEADER] = str(len(skipped))


@dataclass(frozen=True)
class Page:
    """``limit`` and ``offset`` of a listing (query parameters)."""

    limit: int
    offset: int


def page_of(
    limit: int = Query(MAX_PAGE, ge=1, le=MAX_PAGE, description="records in this answer"),
    offset: int = Query(0, ge=0, le=10**9, description="records to skip (from a next link)"),
) -> Page:
    return Page(limit, offset)


def _paged(
    request: Request, response: Response, page: Page, found: list[Record[Body]], *, more: bool | None = None
) -> list[dict[str, Any]]:
    """The page's records as JSON; ``found`` holds at most one record past the page, which
    means there is a next page (named in a ``Link`` header), unless ``more`` says whether there is."""
    if (len(found) > page.limit) if more is None else more:
        nxt = request.url.include_query_params(limit=page.limit, offset=page.offset + page.limit)
        response.headers["Link"] = f'<{nxt.path}?{nxt.query}>; rel="next"'
    return [record_json(r) for r in found[: page.limit]]


def _listing(request: Request, response: Response, page: Page, kind: Kind) -> list[dict[str, Any]]:
    """One page of the rows of ``kind``: at most ``limit`` records, fewer where a row of the
    page failed its check (left out, counted in :data:`SKIPPED_HEADER`); the next page starts
    after the page's rows, so none is listed twice or passed over."""
    catalog = request.app.state.eotrust.catalog
    found = catalog.list(kind, limit=page.limit, offset=page.offset)
    note_skipped(response, found.skipped)
    more = catalog.count(kind, Filter()) > page.offset + page.limit
    return _paged(request, response, page, found, more=more)


def _parse_bbox(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidInputError(f"bbox {text!r} is not four comma-separated numbers") from None
    if len(values) != 4 or any(v != v or abs(v) == float("inf") for v in values):
        raise InvalidInputError("bbox needs four finite numbers: west,south,east,north")
    return values


@router.get(
    "/search",
    response_model=list[RecordOut],
    summary="Search datasets, applications and platforms",
    responses={400: ERROR_RESPONSES[400]},
)
def search(
    request: Request,
    response: Response,
    bbox: str | None = Query(None, description="west,south,east,north in WGS84 degrees"),
    start: str | None = Query(None, description="ISO-8601 time; datasets ending before are left out"),
    end: str | None = Query(None, description="ISO-8601 time; datasets starting after are left out"),
    text: str | None = Query(None, max_length=200, description="case-insensitive text in names, titles, keywords"),
    kind: Literal["dataset", "application", "platform"] | None = Query(None),
    page: Page = Depends(page_of),
) -> list[dict[str, Any]]:
    found = request.app.state.eotrust.catalog.search(bbox=_parse_bbox(bbox), start=start, end=end, text=text, kind=kind)
    note_skipped(response, found.skipped)
    return _paged(request, response, page, found[page.offset : page.offset + page.limit + 1])


@router.get("/datasets", response_model=list[RecordOut], summary="All datasets, a page at a time")
def list_datasets(request: Request, response: Response, page: Page = Depends(page_of)) -> list[dict[str, Any]]:
    return _listing(request, response, page, Kind.DATASET)


@router.get("/applications", response_model=list[RecordOut], summary="All applications, a page at a time")
def list_applications(request: Request, response: Response, page: Page = Depends(page_of)) -> list[dict[str, Any]]:
    return _listing(request, response, page, Kind.APPLICATION)


@router.get("/platforms", response_model=list[RecordOut], summary="All platforms, a page at a time")
def list_platforms(request: Request, response: Response, page: Page = Depends(page_of)) -> list[dict[str, Any]]:
    return _listing(request, response, page, Kind.PLATFORM)


@router.get(
    "/records/{record_id}",
    response_model=RecordOut,
    summary="One record, checked",
    responses={404: ERROR_RESPONSES[404]},
)
def get_record(request: Request, record_id: str = Path(..., min_length=1, max_length=100)) -> dict[str, Any]:
    return record_json(request.app.state.eotrust.catalog.get(record_id))


def _register(request: Request, caller: Caller, body: Any) -> dict[str, Any]:
    from eotrust.api.authorization import authorize_registration

    state = request.app.state.eotrust
    authorize_registration(state, caller, body)  # the caller's role, decided in one place
    party = state.load_party(caller.party)
    # the body's numbers were bounded when it was validated (eotrust.catalog.entries): an
    # oversized one is already a 400 naming the field, never a database overflow
    return record_json(state.catalog.register(party, body))


_REG = {**ERROR_RESPONSES}


@router.post(
    "/datasets",
    response_model=RecordOut,
    status_code=201,
    responses=_REG,
    summary="Register a dataset as the calling data owner (its bytes must already be in the store)",
)
def register_dataset(request: Request, info: DatasetInfo, caller: Caller = Depends(require_party)) -> dict[str, Any]:
    return _register(request, caller, info)


@router.post(
    "/applications",
    response_model=RecordOut,
    status_code=201,
    responses=_REG,
    summary="Register an application (a workflow CID) as the calling algorithm owner",
)
def register_application(
    request: Request, info: ApplicationInfo, caller: Caller = Depends(require_party)
) -> dict[str, Any]:
    check_application(request.app.state.eotrust, info, caller)
    return _register(request, caller, info)


def check_application(state: ServerState, info: ApplicationInfo, caller: Caller) -> None:
    """An application is registered only under a name no other owner holds (its record would be
    served as that process, or make the name nobody's), only naming a workflow its owner may
    read (``authorize_read``: a record naming another owner's package deployed for named
    parties only, or another party's dataset, is refused before the object is read — it is not
    parsed, so no refusal tells anything of it), and only if
    its workflow is in this server's store and parses within the limits (an alias bomb is
    refused here, not parsed by every later GET /processes)."""
    from eotrust.api.authorization import authorize_read
    from eotrust.api.flowops import owners_by_name
    from eotrust.cid import validate_cid
    from eotrust.errors import PermissionDeniedError
    from eotrust.workflow.errors import WorkflowValidationError
    from eotrust.workflow.spec import load_workflow_cid

    owner = caller.address or ""
    others = owners_by_name(state.catalog.list(Kind.APPLICATION)).get(info.name, set()) - {owner.lower()}
    if others:
        raise PermissionDeniedError(
            f"application name {info.name!r} belongs to another owner ({min(others)})", hint="choose another name"
        )
    cid = validate_cid(info.workflow_cid)
    authorize_read(state, caller, cid)
    if not state.store.has(cid):
        raise InvalidInputError(
            f"workflow {info.workflow_cid} is not in this server's store",
            hint="publish it first (POST /store or `eotrust workflow publish`)",
        )
    try:
        load_workflow_cid(cid, state.store)
    except WorkflowValidationError as exc:
        raise InvalidInputError(f"workflow {info.workflow_cid} is not a valid workflow: {exc.message}") from None


@router.post(
    "/platforms",
    response_model=RecordOut,
    status_code=201,
    responses=_REG,
    summary="Register a platform as the calling platform owner",
)
def register_platform(request: Request, info: PlatformInfo, caller: Caller = Depends(require_party)) -> dict[str, Any]:
    return _register(request, caller, info)
