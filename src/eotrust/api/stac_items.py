"""eotrust objects as STAC: datasets, model packages and task results as STAC Items, in three
Collections. Every item names its object's CID (``eotrust:cid``) and its asset ``href``s
resolve through this server's store (``/store/{cid}``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from eotrust.clock import utc_iso

STAC_VERSION = "1.1.0"
PROJ_EXT = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
EO_EXT = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
FILE_EXT = "https://stac-extensions.github.io/file/v2.1.0/schema.json"

# Common band names of the eo extension, from the usual Sentinel-2 / Landsat band names.
COMMON_NAMES: dict[str, str] = {
    "red": "red", "green": "green", "blue": "blue", "nir": "nir", "coastal": "coastal",
    "b01": "coastal", "b02": "blue", "b03": "green", "b04": "red", "b05": "rededge", "b06": "rededge",
    "b07": "rededge", "b08": "nir", "b8a": "nir08", "b09": "nir09", "b10": "cirrus", "b11": "swir16",
    "b12": "swir22", "swir16": "swir16", "swir22": "swir22", "pan": "pan",
}

COLLECTIONS: dict[str, dict[str, str]] = {
    "datasets": {"title": "Datasets", "description": "Earth-observation datasets registered by data owners"},
    "models": {"title": "Model packages", "description": "Signed ONNX model packages, named by CID"},
    "results": {"title": "Task results", "description": "Encrypted results of finished tasks, named by CID"},
}


@dataclass
class StacEntry:
    """One item before it is written as JSON, with what search filters on."""

    collection: str
    id: str
    bbox: tuple[float, float, float, float] | None
    start: datetime | None
    end: datetime | None
    item: dict[str, Any] = field(repr=False)


def parse_time(text: str | None) -> datetime | None:
    """An ISO-8601 / RFC 3339 time as an aware UTC datetime (None for empty or '..')."""
    if text is None:
        return None
    text = text.strip()
    if text in ("", ".."):
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def rfc3339(value: datetime) -> str:
    return utc_iso(value)


def bbox_polygon(bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    w, s, e, n = bbox
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def union_bbox(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float] | None:
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _item(
    collection: str,
    item_id: str,
    base: str,
    *,
    bbox: tuple[float, float, float, float] | None,
    start: datetime | None,
    end: datetime | None,
    properties: dict[str, Any],
    assets: dict[str, dict[str, Any]],
    extensions: list[str],
    links: list[dict[str, Any]] | None = None,
) -> StacEntry:
    props = dict(properties)
    if start is not None and end is not None and start != end:
        props["datetime"] = None
        props["start_datetime"] = rfc3339(start)
        props["end_datetime"] = rfc3339(end)
    else:
        when = start or end
        if when is None and props.get("created"):  # STAC requires a time: use the record's creation
            when = parse_time(props["created"])
        start = end = when
        props["datetime"] = rfc3339(when) if when else None
    stac_base = f"{base}/stac"
    item: dict[str, Any] = {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": sorted(set(extensions)),
        "id": item_id,
        "geometry": bbox_polygon(bbox) if bbox else None,
        "properties": props,
        "links": [
            {"rel": "self", "href": f"{stac_base}/collections/{collection}/items/{item_id}", "type": "application/geo+json"},
            {"rel": "parent", "href": f"{stac_base}/collections/{collection}", "type": "application/json"},
            {"rel": "collection", "href": f"{stac_base}/collections/{collection}", "type": "application/json"},
            {"rel": "root", "href": f"{stac_base}", "type": "application/json"},
            *(links or []),
        ],
        "assets": assets,
        "collection": collection,
    }
    if bbox:
        item["bbox"] = list(bbox)
    return StacEntry(collection, item_id, bbox, start or end, end or start, item)


def dataset_entry(record: Any, base: str) -> StacEntry:
    """A catalogue dataset record (``eotrust.catalog`` Record of kind dataset) as a STAC Item."""
    body = record.body
    start, end = parse_time(body.start), parse_time(body.end)
    props: dict[str, Any] = {
        "title": body.title,
        "description": body.description or body.title,
        "created": record.created,
        "license": body.licence or "proprietary",
        "keywords": list(body.keywords),
        "eotrust:cid": body.cid,
        "eotrust:owner": record.owner,
        "eotrust:record": record.id,
    }
    extensions = [FILE_EXT]
    if body.crs:
        props["proj:code"] = body.crs
        extensions.append(PROJ_EXT)
    asset: dict[str, Any] = {
        "href": f"{base}/store/{body.cid}",
        "type": body.media_type,
        "title": body.title,
        "roles": ["data"],
        "file:size": body.size,
        "eotrust:cid": body.cid,
    }
    if body.bands:
        asset["eo:bands"] = [
            {"name": b, **({"common_name": COMMON_NAMES[b.lower()]} if b.lower() in COMMON_NAMES else {})}
            for b in body.bands
        ]
        extensions.append(EO_EXT)
    return _item(
        "datasets", record.id, base, bbox=tuple(body.bbox) if body.bbox else None, start=start, end=end,
        properties=props, assets={"data": asset}, extensions=extensions,
    )


def model_entry(model: Any, base: str) -> StacEntry:
    """A model package (``eotrust.ml.registry`` entry) as a STAC Item without a footprint."""
    def get(name: str, default: Any = None) -> Any:
        if isinstance(model, dict):
            return model.get(name, default)
        return getattr(model, name, default)

    cid = get("cid")
    created = get("created")
    created_dt = created if isinstance(created, datetime) else parse_time(str(created)) if created else None
    props: dict[str, Any] = {
        "title": f"{get('name')} {get('version', '')}".strip(),
        "description": get("description") or f"model package {get('name')}",
        "created": rfc3339(created_dt) if created_dt else None,
        "eotrust:cid": cid,
        "eotrust:owner": get("owner"),
        "eotrust:algorithm": get("algorithm"),
        "eotrust:metrics": get("metrics") or {},
    }
    props = {k: v for k, v in props.items() if v is not None}
    size = get("size")
    asset: dict[str, Any] = {
        "href": f"{base}/store/{cid}",
        "type": "application/zip",
        "title": "model package (ONNX graph + manifest)",
        "roles": ["model"],
        "eotrust:cid": cid,
    }
    extensions: list[str] = []
    if isinstance(size, int):
        asset["file:size"] = size
        extensions.append(FILE_EXT)
    return _item("models", cid, base, bbox=None, start=created_dt, end=created_dt, properties=props,
                 assets={"package": asset}, extensions=extensions)


def result_entry(record: Any, base: str, footprint: tuple[float, float, float, float] | None = None) -> StacEntry:
    """A result record (the ciphertext of one task output) as a STAC Item; its footprint is the
    union of the task's input datasets' footprints when known."""
    body = record.body
    created = parse_time(record.created)
    props: dict[str, Any] = {
        "title": f"{body.name} of task {body.task}",
        "description": f"result '{body.name}' of task {body.task}, encrypted for the submitter",
        "created": record.created,
        "eotrust:cid": body.cid,
        "eotrust:plaintext_cid": body.plaintext_cid,
        "eotrust:run": body.run_cid,
        "eotrust:task": body.task,
        "eotrust:owner": record.owner,
        "eotrust:record": record.id,
    }
    asset = {
        "href": f"{base}/store/{body.cid}",
        "type": "application/octet-stream",
        "title": f"{body.name} (age-encrypted)",
        "roles": ["data"],
        "file:size": body.size,
        "eotrust:cid": body.cid,
    }
    return _item("results", record.id, base, bbox=footprint, start=created, end=created, properties=props,
                 assets={"result": asset}, extensions=[FILE_EXT])


def collection_doc(collection_id: str, entries: list[StacEntry], base: str) -> dict[str, Any]:
    """A STAC Collection with the spatial and temporal extent of its entries."""
    meta = COLLECTIONS[collection_id]
    boxes = [e.bbox for e in entries if e.bbox]
    box = union_bbox(boxes) or (-180.0, -90.0, 180.0, 90.0)
    starts = [e.start for e in entries if e.start]
    ends = [e.end for e in entries if e.end]
    interval = [rfc3339(min(starts)) if starts else None, rfc3339(max(ends)) if ends else None]
    stac_base = f"{base}/stac"
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": collection_id,
        "title": meta["title"],
        "description": meta["description"],
        "license": "other",
        "extent": {"spatial": {"bbox": [list(box)]}, "temporal": {"interval": [interval]}},
        "links": [
            {"rel": "self", "href": f"{stac_base}/collections/{collection_id}", "type": "application/json"},
            {"rel": "root", "href": stac_base, "type": "application/json"},
            {"rel": "parent", "href": stac_base, "type": "application/json"},
            {"rel": "items", "href": f"{stac_base}/collections/{collection_id}/items", "type": "application/geo+json"},
        ],
    }
