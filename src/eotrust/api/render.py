"""Pictures for the web page's prediction map: a scene scored by a model package and drawn
as two PNGs of the same size — the scene itself (a percentile-stretched greyscale or RGB view,
no basemap) and the class map in the package's class colours — for the page to overlay."""

from __future__ import annotations

import base64
import io
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from eotrust.api.auth import Caller, require_party
from eotrust.api.bodies import DiskGuard, declared_length, named_as_uploaded, stream_body, uploaded_geotiff
from eotrust.api.memory_budget import ScoringTooLarge, scoring_hold
from eotrust.api.ogc import ERROR_RESPONSES
from eotrust.api.store_routes import upload_too_large
from eotrust.errors import InvalidInputError

if TYPE_CHECKING:
    from eotrust.api.memory_budget import Hold
    from eotrust.api.state import ServerState

router = APIRouter(prefix="/render", tags=["Models"])

MAX_SIDE = 1024
#: The two pictures at most: MAX_SIDE² RGBA each, with their arrays and PNG encodings.
PICTURES_BYTES = 2 * 3 * MAX_SIDE * MAX_SIDE * 4


class LegendEntry(BaseModel):
    index: int
    name: str
    colour: str


class PredictionPictures(BaseModel):
    """Two PNGs (data: URLs) of the same size, and the legend of the class map."""

    model: str
    width: int
    height: int
    scene_png: str
    prediction_png: str
    legend: list[LegendEntry]


def _png(array: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _out_shape(height: int, width: int) -> tuple[int, int]:
    scale = min(1.0, MAX_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def scene_picture(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """The first three bands (or the first) stretched between their 2nd and 98th percentiles."""
    import rasterio
    from rasterio.enums import Resampling

    from eotrust.limits import check_raster_layout

    with rasterio.open(path, driver="GTiff") as src:
        check_raster_layout(src, "the uploaded GeoTIFF")  # uploaded_geotiff checked it too
        shape = _out_shape(src.height, src.width)
        bands = [1, 2, 3] if src.count >= 3 else [1]
        data = src.read(bands, out_shape=(len(bands), *shape), resampling=Resampling.average, masked=True).astype(
            "float32"
        )
    out = np.zeros((*shape, 3), np.uint8)
    for i in range(len(bands)):
        band = data[i]
        valid = band.compressed()
        lo, hi = np.percentile(valid, [2, 98]) if valid.size else (0.0, 1.0)
        scaled = np.clip((band.filled(lo) - lo) / max(hi - lo, 1e-9), 0, 1) * 255
        if len(bands) == 1:
            out[...] = scaled.astype(np.uint8)[..., None]
        else:
            out[..., i] = scaled.astype(np.uint8)
    return out, shape


def class_picture(path: Path, shape: tuple[int, int], colours: dict[int, str]) -> np.ndarray:
    """RGBA class map (nodata transparent) at ``shape``, nearest-neighbour."""
    import rasterio
    from rasterio.enums import Resampling

    with rasterio.open(path, driver="GTiff") as src:
        classes = src.read(1, out_shape=shape, resampling=Resampling.nearest)
        nodata = src.nodata
    rgba = np.zeros((*shape, 4), np.uint8)
    for index, colour in colours.items():
        hit = classes == index
        rgba[hit] = [int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), 255]
    if nodata is not None:
        rgba[classes == nodata] = 0
    return rgba


@router.post(
    "/prediction",
    response_model=PredictionPictures,
    summary="Score a GeoTIFF (the raw request body) with a model package and draw scene and class map",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the scene as a GeoTIFF (any Content-Type)",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={**ERROR_RESPONSES, 413: {"description": "larger than max_upload_mb"}},
)
async def prediction(
    request: Request,
    model: str = Query(
        ..., min_length=46, max_length=100, pattern=r"^[A-Za-z0-9]+$", description="the model package's CID"
    ),
    caller: Caller = Depends(require_party),
) -> Any:
    from starlette.concurrency import run_in_threadpool

    from eotrust.api.authorization import authorize_model_use

    state = request.app.state.eotrust
    limit = state.settings.max_upload_mb * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="render-", dir=state.settings.path("tmp")))
    scene = work / "scene.tif"
    try:
        with scene.open("wb") as out:
            guarded = DiskGuard(
                out.write, [work], state.settings.min_free_disk_mb, expected=declared_length(request) or 0
            )
            size = await stream_body(request, limit, guarded, lambda: upload_too_large(state.settings.max_upload_mb))
        if size == 0:
            raise InvalidInputError("send the scene's GeoTIFF bytes as the request body")
        # a body no larger than any party may upload to POST /store; no model is loaded before this
        entry = await run_in_threadpool(authorize_model_use, state, caller.key_id, caller.scopes, model)
        hold = scoring_hold(state.model_service.memory)
        try:
            return await run_in_threadpool(_score_and_draw, state, entry.cid, scene, work, limit, hold)
        finally:
            hold.release()
    finally:
        for p in sorted(work.glob("*"), reverse=True):
            p.unlink(missing_ok=True)
        os.rmdir(work)


def _score_and_draw(state: ServerState, model: str, scene: Path, work: Path, limit: int, hold: Hold) -> dict[str, Any]:
    """Score ``scene`` and draw both pictures, once the memory for it is taken from ``hold``
    (a scene whose pixels decode to more than four times ``limit`` is refused, as by predict)."""
    from eotrust.cid import validate_cid
    from eotrust.ml.scoring.scene import memory_needed, score_scene

    model = validate_cid(model)
    decoded = uploaded_geotiff(scene)  # a GeoTIFF, not a VRT naming this server's files or URLs
    if decoded > 4 * limit:
        raise ScoringTooLarge(f"the GeoTIFF decodes to {decoded} bytes; the limit is {4 * limit}")
    scorer = state.scorer(model)
    hold.take(memory_needed(scorer, scene) + PICTURES_BYTES)
    classes = work / "classes.tif"
    with named_as_uploaded(scene):
        score_scene(scorer, scene, classes)
        picture, shape = scene_picture(scene)
    colours = {c.index: c.colour for c in scorer.manifest.classes}
    return {
        "model": model,
        "width": shape[1],
        "height": shape[0],
        "scene_png": _png(picture),
        "prediction_png": _png(class_picture(classes, shape, colours)),
        "legend": [{"index": c.index, "name": c.name, "colour": c.colour} for c in scorer.manifest.classes],
    }
