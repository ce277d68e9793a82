"""eotrust objects as STAC: datasets, model packages and task results as STAC Items, in three
Collections, built with pystac and its extensions (projection, eo, file, and MLM for model
packages). Every item names its object's CID (``eotrust:cid``) and its asset ``href``s
resolve through this server's store (``/store/{cid}``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pystac
from pystac.extensions.classification import Classification
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.mlm import (
    InputStructure,
    MLMExtension,
    ModelInput,
    ModelOutput,
    ResultStructure,
    TaskType,
)
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType

from eotrust.catalog.entries import DatasetInfo, Record, ResultInfo
from eotrust.clock import utc_iso

if TYPE_CHECKING:
    from eotrust.ml.package import Manifest
    from eotrust.ml.registry import ModelEntry

STAC_VERSION = pystac.get_stac_version()
PROJ_EXT = ProjectionExtension.get_schema_uri()
EO_EXT = EOExtension.get_schema_uri()
FILE_EXT = FileExtension.get_schema_uri()
MLM_EXT = MLMExtension.get_schema_uri()
GEOJSON = "application/geo+json"
JSON = "application/json"

# Common band names of the eo extension, from the usual Sentinel-2 / Landsat band names.
COMMON_NAMES: dict[str, str] = {
    "red": "red",
    "green": "green",
    "blue": "blue",
    "nir": "nir",
    "coastal": "coastal",
    "b01": "coastal",
    "b02": "blue",
    "b03": "green",
    "b04": "red",
    "b05": "rededge",
    "b06": "rededge",
    "b07": "rededge",
    "b08": "nir",
    "b8a": "nir08",
    "b09": "nir09",
    "b10": "cirrus",
    "b11": "swir16",
    "b12": "swir22",
    "swir16": "swir16",
    "swir22": "swir22",
    "pan": "pan",
}

COLLECTIONS: dict[str, dict[str, str]] = {
    "datasets": {"title": "Datasets", "description": "Earth-observation datasets registered by data owners"},
    "models": {"title": "Model packages", "description": "Signed ONNX model packages, named by CID"},
    "results": {"title": "Task results", "description": "Encrypted results of finished tasks, named by CID"},
}

BBox = tuple[float, float, float, float]


@dataclass
class StacEntry:
    """One item, with what search filters on; its JSON is built when first asked for (a
    search filters and pages every matching record, and answers only a page of them)."""

    collection: str
    id: str
    bbox: BBox | None
    start: datetime | None
    end: datetime | None
    build: Callable[[], dict[str, Any]] = field(repr=False)

    @functools.cached_property
    def item(self) -> dict[str, Any]:
        return self.build()


def _span(
    start: datetime | None, end: datetime | None, created: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """The (start, end) an item of these times carries (see :func:`_item`): an instant when
    start == end or one is missing (the record's creation time when it names no time)."""
    if start is None or end is None or start == end:
        when = start or end or created
        return (when, when)
    return (start, end)


def parse_time(text: str | None) -> datetime | None:
    """An ISO-8601 / RFC 3339 time as an aware UTC datetime (None for empty or '..')."""
    if text is None:
        return None
    text = text.strip()
    if text in ("", ".."):
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 at +01:00, year 9999 at -23:59: no such UTC time
        raise ValueError(f"{text!r} is outside the times that can be written in UTC") from None


def rfc3339(value: datetime) -> str:
    return utc_iso(value)


def bbox_polygon(bbox: BBox) -> dict[str, Any]:
    w, s, e, n = bbox
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def union_bbox(boxes: list[BBox]) -> BBox | None:
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _item(
    collection: str,
    item_id: str,
    base: str,
    *,
    bbox: BBox | None,
    start: datetime | None,
    end: datetime | None,
    created: datetime | None,
    properties: dict[str, Any],
) -> pystac.Item:
    """A pystac Item with eotrust's links; an instant when start == end, else an interval;
    the record's creation time when it names no time (STAC requires one)."""
    if start is None or end is None or start == end:
        when = start or end or created
        item = pystac.Item(
            item_id,
            bbox_polygon(bbox) if bbox else None,
            list(bbox) if bbox else None,
            when,
            dict(properties),
            collection=collection,
        )
    else:
        item = pystac.Item(
            item_id,
            bbox_polygon(bbox) if bbox else None,
            list(bbox) if bbox else None,
            None,
            dict(properties),
            start_datetime=start,
            end_datetime=end,
            collection=collection,
        )
    stac = f"{base}/stac"
    item.links = [
        pystac.Link("self", f"{stac}/collections/{collection}/items/{item_id}", GEOJSON),
        pystac.Link("parent", f"{stac}/collections/{collection}", JSON),
        pystac.Link("collection", f"{stac}/collections/{collection}", JSON),
        pystac.Link("root", stac, JSON),
    ]
    return item


def _doc(item: pystac.Item) -> dict[str, Any]:
    doc = item.to_dict(include_self_link=False, transform_hrefs=False)
    doc["links"] = [link.to_dict() for link in item.links]  # with self, as given (pystac drops it unowned)
    doc["stac_extensions"] = sorted(set(doc.get("stac_extensions", [])))
    return doc


def _entry(item: pystac.Item) -> StacEntry:
    start = item.common_metadata.start_datetime or item.datetime
    end = item.common_metadata.end_datetime or item.datetime
    box = tuple(item.bbox) if item.bbox else None
    doc = _doc(item)
    return StacEntry(str(item.collection_id), item.id, box, start, end, lambda: doc)  # type: ignore[arg-type]


def _asset(
    item: pystac.Item, key: str, href: str, media_type: str, title: str, roles: list[str], cid: str, size: int | None
) -> pystac.Asset:
    asset = pystac.Asset(href, title=title, media_type=media_type, roles=roles, extra_fields={"eotrust:cid": cid})
    item.add_asset(key, asset)
    if size is not None:
        FileExtension.ext(asset, add_if_missing=True).size = size
    return asset


def dataset_entry(record: Record[DatasetInfo], base: str) -> StacEntry:
    """A catalogue dataset record (``eotrust.catalog`` Record of kind dataset) as a STAC Item
    (built when first asked for)."""
    body = record.body
    start, end = _span(parse_time(body.start), parse_time(body.end), parse_time(record.created))
    bbox = tuple(body.bbox) if body.bbox else None
    return StacEntry("datasets", record.id, bbox, start, end, lambda: _doc(_dataset_item(record, base)))  # type: ignore[arg-type]


def _dataset_item(record: Record[DatasetInfo], base: str) -> pystac.Item:
    body = record.body
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
    item = _item(
        "datasets",
        record.id,
        base,
        bbox=body.bbox,
        start=parse_time(body.start),
        end=parse_time(body.end),
        created=parse_time(record.created),
        properties=props,
    )
    if body.crs:
        ProjectionExtension.ext(item, add_if_missing=True).code = body.crs
    asset = _asset(item, "data", f"{base}/store/{body.cid}", body.media_type, body.title, ["data"], body.cid, body.size)
    if body.bands:
        EOExtension.ext(asset, add_if_missing=True).bands = [
            Band.create(name=b, common_name=COMMON_NAMES.get(b.lower())) for b in body.bands
        ]
    return item


def _mlm(item: pystac.Item, manifest: Manifest) -> None:
    """The MLM extension of a model item, from its manifest (input tensor, classes)."""
    spec, out = manifest.input, manifest.output
    if spec.kind == "image":
        side = spec.tile_size or -1
        shape, dims = [-1, spec.channels, side, side], ["batch", "channel", "height", "width"]
        task = TaskType.SEMANTIC_SEGMENTATION
        result = ResultStructure.create(
            shape=[-1, out.classes, side, side],
            dim_order=["batch", "channel", "height", "width"],
            data_type=DataType.FLOAT32,
        )
    else:
        steps = spec.timesteps or -1  # a pixel-series manifest always names them (InputSpec checks)
        if spec.layout == "NT":
            shape, dims = [-1, steps], ["batch", "time"]
        else:
            shape, dims = [-1, spec.channels, steps], ["batch", "channel", "time"]
        task = TaskType.CLASSIFICATION
        result = ResultStructure.create(
            shape=[-1, out.classes], dim_order=["batch", "class"], data_type=DataType.FLOAT32
        )
    classes = [
        Classification.create(value=c.index, name=c.name, color_hint=c.colour.removeprefix("#").upper())
        for c in manifest.classes
    ]
    MLMExtension.ext(item, add_if_missing=True).apply(
        name=manifest.name,
        architecture=manifest.algorithm,
        tasks=[task],
        input=[
            ModelInput.create(
                name=spec.name,
                bands=list(spec.bands),
                input=InputStructure.create(shape=shape, dim_order=dims, data_type=DataType.FLOAT32),
            )
        ],
        output=[ModelOutput.create(name=out.name, tasks=[task], result=result, classes=classes)],
        framework="ONNX",
    )


def model_entry(model: ModelEntry, base: str) -> StacEntry:
    """A registered model package as a STAC Item without a footprint; with the MLM extension
    when its manifest is known."""
    cid = model.cid
    created_dt = parse_time(model.created) if model.created else None
    props: dict[str, Any] = {
        "title": f"{model.name} {model.version}".strip(),
        "description": model.description or f"model package {model.name}",
        "created": rfc3339(created_dt) if created_dt else None,
        "eotrust:cid": cid,
        "eotrust:owner": model.owner,
        "eotrust:algorithm": model.algorithm,
        "eotrust:metrics": model.metrics or {},
    }
    props = {k: v for k, v in props.items() if v is not None}
    item = _item("models", cid, base, bbox=None, start=created_dt, end=created_dt, created=created_dt, properties=props)
    manifest = model.manifest
    roles = ["mlm:model", "model"] if manifest is not None else ["model"]
    asset = _asset(
        item,
        "package",
        f"{base}/store/{cid}",
        "application/zip",
        "model package (ONNX graph + manifest)",
        roles,
        cid,
        model.size,
    )
    if manifest is not None:
        _mlm(item, manifest)
        asset.extra_fields["mlm:artifact_type"] = "onnx"
    return _entry(item)


def result_entry(record: Record[ResultInfo], base: str, footprint: BBox | None = None) -> StacEntry:
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
    item = _item(
        "results", record.id, base, bbox=footprint, start=created, end=created, created=created, properties=props
    )
    _asset(
        item,
        "result",
        f"{base}/store/{body.cid}",
        "application/octet-stream",
        f"{body.name} (age-encrypted)",
        ["data"],
        body.cid,
        body.size,
    )
    return _entry(item)


def collection_doc(collection_id: str, entries: list[StacEntry], base: str) -> dict[str, Any]:
    """A STAC Collection with the spatial and temporal extent of its entries."""
    meta = COLLECTIONS[collection_id]
    box = union_bbox([e.bbox for e in entries if e.bbox]) or (-180.0, -90.0, 180.0, 90.0)
    starts = [e.start for e in entries if e.start]
    ends = [e.end for e in entries if e.end]
    extent = pystac.Extent(
        pystac.SpatialExtent([list(box)]),
        pystac.TemporalExtent([[min(starts) if starts else None, max(ends) if ends else None]]),
    )
    collection = pystac.Collection(collection_id, meta["description"], extent, title=meta["title"], license="other")
    stac = f"{base}/stac"
    collection.links = [
        pystac.Link("self", f"{stac}/collections/{collection_id}", JSON),
        pystac.Link("root", stac, JSON),
        pystac.Link("parent", stac, JSON),
        pystac.Link("items", f"{stac}/collections/{collection_id}/items", GEOJSON),
    ]
    doc = collection.to_dict(include_self_link=False, transform_hrefs=False)
    doc["links"] = [link.to_dict() for link in collection.links]
    return doc
