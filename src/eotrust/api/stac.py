"""STAC API (core, collections, ogcapi-features and item search) at ``/stac``.

Datasets, model packages and task results are served as STAC Items in three Collections
(see ``stac_items``). ``GET``/``POST /stac/search`` filters by bbox, intersects, datetime,
collections and ids, paged with a ``next`` link (``token``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from eotrust.api.catalog_routes import note_skipped
from eotrust.api.errors import problem
from eotrust.api.links import base_url
from eotrust.api.sources import dataset_page, stac_entries
from eotrust.api.stac_items import COLLECTIONS, STAC_VERSION, StacEntry, collection_doc, parse_time
from eotrust.catalog.listing import Listing
from eotrust.catalog.query import Filter
from eotrust.errors import InvalidInputError

router = APIRouter(prefix="/stac", tags=["STAC"])

GEOJSON = "application/geo+json"
STAC_CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
MAX_LIMIT = 10000
#: The largest offset a paging token may carry (as ``offset`` of ``GET /catalog/…``).
MAX_OFFSET = 10**9
CollectionId = Literal["datasets", "models", "results"]


class SearchBody(BaseModel):
    """The body of ``POST /stac/search`` (STAC API item search)."""

    model_config = ConfigDict(extra="ignore")
    bbox: list[float] | None = Field(default=None, description="west,south,east,north (or 6 numbers with heights)")
    intersects: dict[str, Any] | None = Field(default=None, description="a GeoJSON geometry")
    datetime: str | None = Field(default=None, description="RFC 3339 instant or interval a/b, open ends as ..")
    collections: list[str] | None = None
    ids: list[str] | None = None
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT)
    token: str | None = Field(default=None, description="paging token from a next link")

    @field_validator("bbox")
    @classmethod
    def _bbox_len(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and len(v) not in (4, 6):
            raise ValueError("bbox needs 4 or 6 numbers")
        return v


# -- filters -------------------------------------------------------------------


def _parse_bbox(values: list[float] | None) -> tuple[float, float, float, float] | None:
    if values is None:
        return None
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4:
        raise InvalidInputError("bbox needs 4 or 6 numbers: west,south,east,north")
    w, s, e, n = (float(v) for v in values)
    if any(v != v or v in (float("inf"), float("-inf")) for v in (w, s, e, n)):
        raise InvalidInputError("bbox values must be finite numbers")
    if s > n:
        raise InvalidInputError("bbox south is above north")
    return (w, s, e, n)


def _parse_interval(text: str | None) -> tuple[datetime | None, datetime | None] | None:
    if text is None or text.strip() == "":
        return None
    try:
        if "/" in text:
            a, b = text.split("/", 1)
            start, end = parse_time(a), parse_time(b)
            if a.strip() in ("", "..") and b.strip() in ("", ".."):
                raise InvalidInputError("datetime interval open at both ends")
            if start and end and start > end:
                raise InvalidInputError("datetime interval ends before it starts")
            return (start, end)
        at = parse_time(text)
        if at is None:
            raise InvalidInputError(f"datetime {text!r} is not an RFC 3339 time")
        return (at, at)
    except ValueError:
        raise InvalidInputError(f"datetime {text!r} is not an RFC 3339 time or interval") from None


def _geometry_hit(entry: StacEntry, geometry: Any) -> bool:
    if entry.bbox is None:
        return False
    from shapely.geometry import box

    return bool(geometry.intersects(box(*entry.bbox)))


def _search(request: Request, q: SearchBody) -> Listing[StacEntry]:
    """The matching entries: ids, footprint and time go to the catalogue's query; an
    ``intersects`` geometry is searched by its bounds there, then tested exactly here."""
    geometry, where = _where(q)
    entries = stac_entries(request.app.state.eotrust, base_url(request), collections=q.collections, where=where)
    if geometry is not None:
        entries = Listing([e for e in entries if _geometry_hit(e, geometry)], entries.skipped)
    return entries


def _where(q: SearchBody) -> tuple[Any, Filter]:
    """The search's exact geometry (``intersects``; None without) and its catalogue filter."""
    box = _parse_bbox(q.bbox)
    if box is not None and q.intersects is not None:
        raise InvalidInputError("give bbox or intersects, not both")
    interval = _parse_interval(q.datetime)
    geometry = None
    if q.intersects is not None:
        try:
            from shapely.geometry import shape

            geometry = shape(q.intersects)
            box = tuple(float(v) for v in geometry.bounds)  # type: ignore[assignment]
        except Exception:
            raise InvalidInputError("intersects is not a valid GeoJSON geometry") from None
        if geometry.is_empty:
            raise InvalidInputError("intersects is an empty geometry")
    start, end = interval if interval is not None else (None, None)
    return geometry, Filter(ids=q.ids or None, bbox=box, start=start, end=end)


def _searched(request: Request, q: SearchBody) -> tuple[Listing[dict[str, Any]], int, int | None]:
    """One page of the search: its items (and the rows left out, ``skipped``), how many match
    in all, the next page's offset.

    A search of the datasets collection alone (no ``intersects``, which is tested here after
    the database) is paged by the database: a page reads and checks its own rows only. Any
    other search gathers its entries (models and results are filtered here: a result counts
    only if its task's platform signed it, with its inputs' footprint) and pages them."""
    if q.collections and set(q.collections) == {"datasets"} and q.intersects is None:
        _, where = _where(q)
        start = _offset(q.token)
        entries, matched = dataset_page(
            request.app.state.eotrust, base_url(request), where, offset=start, limit=q.limit
        )
        items = Listing([e.item for e in entries], entries.skipped)
        return items, matched, (start + q.limit if start + q.limit < matched else None)
    found = _search(request, q)
    page, nxt = _page(found, q.limit, q.token)
    return Listing(page, found.skipped), len(found), nxt


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        value = int(token.removeprefix("offset:"))
    except ValueError:
        raise InvalidInputError(f"paging token {token!r} is not one this server gave") from None
    if not 0 <= value <= MAX_OFFSET:  # a larger offset overflowed the database's integers: a 500
        raise InvalidInputError("paging token out of range")
    return value


def _page(entries: list[StacEntry], limit: int, token: str | None) -> tuple[list[dict[str, Any]], int | None]:
    start = _offset(token)
    page = entries[start : start + limit]
    nxt = start + limit if start + limit < len(entries) else None
    return [e.item for e in page], nxt


def _feature_collection(items: Listing[dict[str, Any]], matched: int, links: list[dict[str, Any]]) -> JSONResponse:
    """The page as a FeatureCollection. ``skipped`` names the catalogue rows the page (or, for
    a search gathered whole, the search) left out because they failed their check, with why.
    ``numberMatched``: for a search of the datasets collection alone (paged by the database),
    the rows the filters match before that check, so the pages may return fewer features; for
    any other search, the features that passed it."""
    body = {
        "type": "FeatureCollection",
        "features": list(items),
        "links": links,
        "numberMatched": matched,
        "numberReturned": len(items),
        "skipped": [s.as_json() for s in items.skipped],
    }
    response = JSONResponse(body, media_type=GEOJSON)
    note_skipped(response, items.skipped)
    return response


# -- routes --------------------------------------------------------------------


@router.get("", summary="STAC API landing page")
def stac_landing(request: Request) -> dict[str, Any]:
    stac = f"{base_url(request)}/stac"
    links: list[dict[str, Any]] = [
        {"rel": "self", "href": stac, "type": "application/json"},
        {"rel": "root", "href": stac, "type": "application/json"},
        {"rel": "conformance", "href": f"{stac}/conformance", "type": "application/json"},
        {"rel": "data", "href": f"{stac}/collections", "type": "application/json"},
        {"rel": "search", "href": f"{stac}/search", "type": GEOJSON, "method": "GET"},
        {"rel": "search", "href": f"{stac}/search", "type": GEOJSON, "method": "POST"},
        {
            "rel": "service-desc",
            "href": f"{base_url(request)}/openapi.json",
            "type": "application/vnd.oai.openapi+json;version=3.0",
        },
    ]
    links += [
        {"rel": "child", "href": f"{stac}/collections/{cid}", "type": "application/json", "title": meta["title"]}
        for cid, meta in COLLECTIONS.items()
    ]
    return {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "id": "eotrust",
        "title": "eotrust STAC API",
        "description": "Datasets, model packages and task results of this eotrust server",
        "conformsTo": STAC_CONFORMANCE,
        "links": links,
    }


@router.get("/conformance", summary="STAC API conformance classes")
def stac_conformance() -> dict[str, Any]:
    return {"conformsTo": STAC_CONFORMANCE}


@router.get("/collections", summary="STAC collections")
def collections(request: Request, response: Response) -> dict[str, Any]:
    base = base_url(request)
    entries = stac_entries(request.app.state.eotrust, base)
    note_skipped(response, entries.skipped)
    docs = [collection_doc(cid, [e for e in entries if e.collection == cid], base) for cid in COLLECTIONS]
    return {
        "collections": docs,
        "links": [
            {"rel": "self", "href": f"{base}/stac/collections", "type": "application/json"},
            {"rel": "root", "href": f"{base}/stac", "type": "application/json"},
        ],
    }


@router.get("/collections/{collection_id}", summary="One STAC collection")
def collection(request: Request, response: Response, collection_id: CollectionId) -> dict[str, Any]:
    base = base_url(request)
    entries = stac_entries(request.app.state.eotrust, base, collections=[collection_id])
    note_skipped(response, entries.skipped)
    return collection_doc(collection_id, entries, base)


@router.get(
    "/collections/{collection_id}/items",
    summary="Items of a collection (GeoJSON FeatureCollection)",
    response_class=JSONResponse,
)
def collection_items(
    request: Request,
    collection_id: CollectionId,
    bbox: str | None = Query(None, description="west,south,east,north"),
    datetime: str | None = Query(None, description="RFC 3339 instant or interval"),
    limit: int = Query(10, ge=1, le=MAX_LIMIT),
    token: str | None = Query(None),
) -> JSONResponse:
    q = SearchBody(bbox=_split_floats(bbox), datetime=datetime, collections=[collection_id], limit=limit, token=token)
    items, matched, nxt = _searched(request, q)
    url = f"{base_url(request)}/stac/collections/{collection_id}/items"
    links = [
        {"rel": "self", "href": str(request.url), "type": GEOJSON},
        {"rel": "root", "href": f"{base_url(request)}/stac", "type": "application/json"},
    ]
    if nxt is not None:
        params = {
            k: v
            for k, v in {"bbox": bbox, "datetime": datetime, "limit": limit, "token": f"offset:{nxt}"}.items()
            if v is not None
        }
        links.append({"rel": "next", "href": f"{url}?{urlencode(params)}", "type": GEOJSON})
    return _feature_collection(items, matched, links)


@router.get("/collections/{collection_id}/items/{item_id}", summary="One STAC item", response_class=JSONResponse)
def item(request: Request, collection_id: CollectionId, item_id: str = Path(..., max_length=200)) -> JSONResponse:
    found = stac_entries(
        request.app.state.eotrust, base_url(request), collections=[collection_id], where=Filter(ids=[item_id])
    )
    for entry in found:
        if entry.id == item_id:
            return JSONResponse(entry.item, media_type=GEOJSON)
    for skipped in found.skipped:  # the one item asked for fails its check: its error, as the catalogue gives it
        if skipped.id == item_id:
            request.app.state.eotrust.catalog.get(item_id, skipped.kind)
    return problem(404, "NotFound", f"no item {item_id!r} in collection {collection_id!r}")


def _split_floats(text: str | None) -> list[float] | None:
    if text is None or text == "":
        return None
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise InvalidInputError(f"bbox {text!r} is not comma-separated numbers") from None
    if len(values) not in (4, 6):
        raise InvalidInputError("bbox needs 4 or 6 numbers: west,south,east,north")
    return values


def _split_list(text: str | None) -> list[str] | None:
    if text is None or text == "":
        return None
    return [x for x in text.split(",") if x]


@router.get("/search", summary="Item search (GET)", response_class=JSONResponse)
def search_get(
    request: Request,
    bbox: str | None = Query(None, description="west,south,east,north"),
    intersects: str | None = Query(None, description="a GeoJSON geometry (JSON text)"),
    datetime: str | None = Query(None, description="RFC 3339 instant or interval a/b (open end ..)"),
    collections: str | None = Query(None, description="comma-separated collection ids"),
    ids: str | None = Query(None, description="comma-separated item ids"),
    limit: int = Query(10, ge=1, le=MAX_LIMIT),
    token: str | None = Query(None, description="paging token from a next link"),
) -> JSONResponse:
    geometry = None
    if intersects:
        from eotrust.limits import JsonLimits, load_json

        geometry = load_json(intersects, JsonLimits(max_bytes=256 * 1024, max_depth=8), "intersects")
        if not isinstance(geometry, dict):
            raise InvalidInputError("intersects is not a GeoJSON geometry object")
    q = SearchBody(
        bbox=_split_floats(bbox),
        intersects=geometry,
        datetime=datetime,
        collections=_split_list(collections),
        ids=_split_list(ids),
        limit=limit,
        token=token,
    )
    items, matched, nxt = _searched(request, q)
    links: list[dict[str, Any]] = [{"rel": "root", "href": f"{base_url(request)}/stac", "type": "application/json"}]
    if nxt is not None:
        params = {
            k: v
            for k, v in {
                "bbox": bbox,
                "intersects": intersects,
                "datetime": datetime,
                "collections": collections,
                "ids": ids,
                "limit": limit,
                "token": f"offset:{nxt}",
            }.items()
            if v is not None
        }
        links.append(
            {
                "rel": "next",
                "href": f"{base_url(request)}/stac/search?{urlencode(params)}",
                "type": GEOJSON,
                "method": "GET",
            }
        )
    return _feature_collection(items, matched, links)


@router.post("/search", summary="Item search (POST)", response_class=JSONResponse)
def search_post(request: Request, body: SearchBody) -> JSONResponse:
    items, matched, nxt = _searched(request, body)
    links: list[dict[str, Any]] = [{"rel": "root", "href": f"{base_url(request)}/stac", "type": "application/json"}]
    if nxt is not None:
        next_body = body.model_dump(exclude_none=True)
        next_body["token"] = f"offset:{nxt}"
        links.append(
            {
                "rel": "next",
                "href": f"{base_url(request)}/stac/search",
                "type": GEOJSON,
                "method": "POST",
                "body": next_body,
                "merge": False,
            }
        )
    return _feature_collection(items, matched, links)
