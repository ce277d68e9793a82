"""``POST /models/{cid}/predict``: score an array or a GeoTIFF with a registered model package.

Authentication is an API key (``X-API-Key: SECRET`` or ``Authorization: Bearer SECRET``)
whose scopes include the model (its CID, its name, or ``*``): no key, an unknown or revoked
key is 401, a key for other models is 403.

The body is one of:

- ``application/x-npy``: a NumPy ``.npy`` array (no pickles) — an image model takes
  ``(C, H, W)`` or ``(N, C, H, W)``, a per-pixel model its graph's ``(N, T)``/``(N, C, T)``;
- ``image/tiff``: a GeoTIFF of any size (scored tile by tile; needs a CRS);
- ``application/json``: ``{"data": [[...]]}`` with an array as above.

The answer is the class map in the same form (``?format=npy|tiff|json`` overrides): a
GeoTIFF with the input's CRS and transform, a uint8 ``.npy`` array, or JSON. With
``?probabilities=true``, ``.npy`` and JSON answers carry class probabilities instead of / as
well as classes.

Limits: a body over ``max_upload_mb`` is refused with 413 before it is read (by its
Content-Length) or as soon as it passes the limit (chunked uploads); a TIFF whose pixels would
decode to more than four times that is refused too. The memory a request needs while it is
scored (its body, arrays and answer) comes out of the server's ``predict_memory_mb``
(:mod:`eotrust.api.memory_budget`): a request that could never fit is 413, one that does not
fit while others are being scored 503 with ``Retry-After``. Everything else malformed is a 4xx
with a message, and the server keeps serving.
"""

from __future__ import annotations

import io
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from eotrust.api.auth import api_key_header, bearer, presented_secret
from eotrust.api.bodies import (
    BodyTooLarge,
    check_declared_length,
    declared_length,
    named_as_uploaded,
    read_body,
    uploaded_geotiff,
)
from eotrust.api.errors import problem, status_of
from eotrust.api.memory_budget import scoring_hold
from eotrust.disk import check_free_disk
from eotrust.errors import AuthError, EotrustError, InvalidInputError

if TYPE_CHECKING:
    from eotrust.api.memory_budget import Hold
    from eotrust.api.model_service import ModelService
    from eotrust.api.state import ServerState
    from eotrust.catalog.api_keys import ApiKeyInfo
    from eotrust.ml.registry import ModelEntry
    from eotrust.ml.scoring.batch import Scorer

router = APIRouter(tags=["Models"])

NPY = "application/x-npy"
TIFF = "image/tiff"
JSON = "application/json"
_MEDIA = {"npy": NPY, "tiff": TIFF, "json": JSON}
_TIFF_TYPES = {"image/tiff", "image/geotiff", "image/tiff; application=geotiff", "application/geotiff"}


class PayloadTooLarge(BodyTooLarge):
    """A body (or its decoded pixels) over ``max_upload_mb``: 413."""


class UnsupportedMediaType(InvalidInputError):
    http_status = 415


#: Bytes of memory per byte of a JSON body while it is parsed into Python numbers and lists and
#: then into an array: ``[0],`` (4 bytes) becomes a list holding an int, 72 bytes, and more.
JSON_GROWTH = 20


def working_bytes(scorer: Scorer, shape: tuple[int, ...], answer: str, probabilities: bool) -> int:
    """Memory scoring an array of ``shape`` takes besides the body: the normalised input and its
    padded copy (float32), the model's output and its softmax (K float32 per pixel or row), the
    class codes, and the answer (JSON numbers as Python objects and text)."""
    size = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if scorer.is_image:
        items = size // max(int(shape[-3]) if len(shape) >= 3 else 1, 1)  # pixels: N x H x W
    else:
        items = int(shape[0]) if shape else 1  # rows
    k = scorer.num_classes
    need = size * 4 * 2 + items * k * 4 * 2 + items
    if answer == "json":
        need += items * 16 + (items * k * 48 if probabilities else 0)
    elif probabilities:
        need += items * k * 4
    return need


def _authorized_entry(service: ModelService, state: ServerState, info: ApiKeyInfo, ref: str) -> ModelEntry:
    """The registered model ``ref`` if key ``info`` may use it (404/403 otherwise). A model
    named by CID is looked up once (a registered package never changes: its CID names its
    bytes; listing the registry per request cost more CPU than scoring a tile); the key's
    scopes are checked on every request. Names (``name``, ``name:version``) are looked up
    every time, since a new version may be registered."""
    from eotrust.api.authorization import authorize_model_use

    key = service.normal_cid(ref)
    with service.lock:
        entry = service.entries.get(key) if key else None
    if entry is not None and service.scopes_allow(tuple(info.scopes), entry.cid, entry.name):
        return entry
    entry = authorize_model_use(state, info.id, info.scopes, ref)  # raises 404 or 403 with their messages
    if key:
        with service.lock:
            service.entries[key] = entry
    return entry


def authenticate(service: ModelService, secret: str | None) -> ApiKeyInfo:
    if not secret:
        raise AuthError("this request needs an API key", hint="send it as X-API-Key or Authorization: Bearer")
    return service.keys.verify(secret)


def _limit_bytes(service: ModelService) -> int:
    return int(service.settings.max_upload_mb) * 1024 * 1024


def _check_length(request: Request, limit: int) -> None:
    check_declared_length(
        request,
        limit,
        lambda size: PayloadTooLarge(
            f"the body is {size} bytes; the limit is {limit} bytes",
            hint="score a large scene with `eotrust model score`, or raise max_upload_mb",
        ),
    )


async def _read_body(request: Request, limit: int, hold: Hold) -> bytes:
    """The body, read chunk by chunk; refused (413) as soon as it passes ``limit`` bytes (a
    declared Content-Length is checked before, by :func:`_check_length`). Its memory is taken
    from ``hold``: all of a declared length before the first byte is read, else chunk by chunk."""
    declared = declared_length(request)
    hold.take(declared or 0)
    seen = 0

    def count(chunk: bytes) -> None:
        nonlocal seen
        seen += len(chunk)
        if declared is None or seen > declared:
            hold.take(len(chunk))

    body = await read_body(
        request, limit, lambda: PayloadTooLarge(f"the body passed the limit of {limit} bytes"), each=count
    )
    if not body:
        raise InvalidInputError("the request has no body", hint="send a .npy array, a GeoTIFF or JSON")
    return body


def _media(request: Request) -> str:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in (NPY, "application/octet-stream", "application/npy"):
        return "npy"
    if ctype in _TIFF_TYPES:
        return "tiff"
    if ctype == JSON:
        return "json"
    raise UnsupportedMediaType(
        f"content type {ctype or '(none)'!r} is not accepted", hint=f"send {NPY}, {TIFF} or {JSON}"
    )


def _parse_npy(body: bytes) -> np.ndarray:
    """The body's array, read in place (a read-only view of the body's bytes, no copy: the
    scorer makes the one copy it needs when it normalises)."""
    from eotrust.ml.scoring.npy_header import NpyVersionError, read_npy_header

    try:
        stream = io.BytesIO(body)
        try:
            header = read_npy_header(stream)
        except NpyVersionError:  # a rarer version: numpy's own reader (one copy)
            array: np.ndarray = np.load(io.BytesIO(body), allow_pickle=False)
            return array
        if len(body) - stream.tell() != header.nbytes:
            raise ValueError(f"the data holds {len(body) - stream.tell()} bytes, the header declares {header.nbytes}")
        flat = np.frombuffer(
            body, dtype=header.dtype, count=header.nbytes // header.dtype.itemsize, offset=stream.tell()
        )
        shape = header.shape
        return flat.reshape(shape[::-1]).transpose() if header.fortran else flat.reshape(shape)
    except Exception as exc:
        raise InvalidInputError(
            f"the body is not a valid .npy array ({type(exc).__name__}: {str(exc)[:200]})",
            hint="write it with numpy.save(..., allow_pickle=False)",
        ) from None


def _parse_json(body: bytes) -> np.ndarray:
    from eotrust.limits import JsonLimits, load_json

    # an array of at most 4 dimensions sits at most 2 levels below {"data": ...}
    doc = load_json(body, JsonLimits(max_bytes=len(body), max_depth=6), "the JSON body")
    data = doc.get("data") if isinstance(doc, dict) else None
    if data is None:
        raise InvalidInputError("the JSON body is not {'data': array}: no 'data' member")
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"the JSON body is not {{'data': array}}: {str(exc)[:200]}") from None
    return arr


def _score_array(scorer: Scorer, arr: np.ndarray, with_probs: bool) -> tuple[np.ndarray, np.ndarray | None]:
    from eotrust.ml.scoring.batch import check_real, class_map

    check_real(arr)
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).any():
        raise InvalidInputError(
            "the array has no finite value (all NaN or infinite): there is nothing to score",
            hint="send pixel values; mark nodata in a GeoTIFF instead",
        )
    if scorer.is_image and arr.ndim not in (3, 4):
        raise InvalidInputError(f"an image model takes (C, H, W) or (N, C, H, W), not shape {arr.shape}")
    # concurrent requests for this model run together, one onnxruntime call at a time
    probs = scorer.probabilities(arr, shared=True)
    classes = class_map(probs, axis=-3 if scorer.is_image else -1)
    return classes, probs if with_probs else None


def _score_tiff(
    scorer: Scorer, body: bytes, limit: int, tmp_root: Path, keep_mb: int, hold: Hold
) -> tuple[bytes, tuple[str, ...]]:
    """Score a GeoTIFF body through a temporary directory under ``tmp_root``: written only if
    the body and a class map as large would leave ``keep_mb`` MiB free (507 otherwise). The
    scene's strip buffers and the class map's bytes are taken from ``hold`` first."""
    from rasterio.errors import RasterioError

    from eotrust.ml.scoring.scene import memory_needed, score_scene

    check_free_disk([tmp_root], keep_mb, more=2 * len(body))
    with tempfile.TemporaryDirectory(prefix="eotrust-predict-", dir=tmp_root) as tmp:
        src = Path(tmp) / "input.tif"
        src.write_bytes(body)
        decoded = uploaded_geotiff(src)
        if decoded > 4 * limit:
            raise PayloadTooLarge(f"the GeoTIFF decodes to {decoded} bytes; the limit is {4 * limit}")
        hold.take(memory_needed(scorer, src))
        out = Path(tmp) / "classes.tif"
        try:
            with named_as_uploaded(src):
                result = score_scene(scorer, src, out)
        except RasterioError as exc:  # a file that opens but whose pixels cannot be read
            reason = str(exc)[:200].replace(str(src), "the uploaded GeoTIFF").replace(tmp, "the server's work folder")
            raise InvalidInputError(f"the GeoTIFF cannot be read: {reason}") from None
        hold.take(out.stat().st_size)  # the class map's bytes, read back for the answer
        return out.read_bytes(), result.warnings


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _array_tiff(classes: np.ndarray) -> bytes:
    from rasterio.io import MemoryFile

    if classes.ndim != 2:
        raise InvalidInputError("a TIFF answer needs one image (H, W); ask for format=npy for a batch")
    h, w = classes.shape
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=w, height=h, count=1, dtype=classes.dtype.name) as dst:
            dst.write(classes, 1)
        tiff: bytes = mem.read()
        return tiff


@router.post(
    "/models/{cid}/predict",
    summary="Score an array or a GeoTIFF with a model package",
    responses={
        200: {"content": {TIFF: {}, NPY: {}, JSON: {}}, "description": "the class map"},
        400: {"description": "malformed input (bands, dtype, shape, no CRS)"},
        401: {"description": "no API key, or an unknown or revoked one"},
        403: {"description": "the API key is not scoped to this model"},
        404: {"description": "no such model"},
        413: {"description": "the body or its decoded pixels are too large"},
        415: {"description": "unsupported content type"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                NPY: {"schema": {"type": "string", "format": "binary"}},
                TIFF: {"schema": {"type": "string", "format": "binary"}},
                JSON: {
                    "schema": {
                        "type": "object",
                        "required": ["data"],
                        "properties": {"data": {"type": "array", "items": {}}},
                    }
                },
            },
        }
    },
)
async def predict(
    cid: str,
    request: Request,
    format: str | None = Query(None, pattern="^(npy|tiff|json)$", description="answer format"),
    probabilities: bool = Query(False, description="return class probabilities (npy, json)"),
    key: str | None = Depends(api_key_header),
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Response:
    request.state.body_read = False
    try:
        return await _predict(cid, request, format, probabilities, presented_secret(key, credentials))
    except EotrustError as exc:
        if request.state.body_read:
            raise  # the usual error answer
        # Refused before the body was read: answer, and close the connection, so that a client
        # still sending (a 2 GB upload) is stopped instead of the server draining its body.
        response = problem(status_of(exc), type(exc).__name__, exc.message + (f" ({exc.hint})" if exc.hint else ""))
        response.headers["Connection"] = "close"
        if exc.retry_after_s is not None:
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response


async def _predict(cid: str, request: Request, format: str | None, probabilities: bool, secret: str | None) -> Response:
    service = request.app.state.eotrust.model_service
    info = await run_in_threadpool(authenticate, service, secret)
    limit = _limit_bytes(service)
    _check_length(request, limit)
    entry = await run_in_threadpool(_authorized_entry, service, request.app.state.eotrust, info, cid)
    media = _media(request)
    hold = scoring_hold(service.memory)
    try:
        response = await _answer(request, entry, media, format, probabilities, limit, hold)
    except BaseException:
        hold.release()
        raise
    # the share goes back once the answer's bytes are gone: sent, or dropped with a client that left
    weakref.finalize(response, hold.release)
    return response


async def _answer(
    request: Request,
    entry: ModelEntry,
    media: str,
    format: str | None,
    probabilities: bool,
    limit: int,
    hold: Hold,
) -> Response:
    body = await _read_body(request, limit, hold)
    request.state.body_read = True
    scorer = await run_in_threadpool(request.app.state.eotrust.scorer, entry.cid)
    answer = format or media
    headers = {"X-Model-CID": entry.cid}
    if media == "tiff":
        if answer != "tiff":
            raise InvalidInputError("a GeoTIFF is answered with a GeoTIFF; leave out format or use format=tiff")
        state = request.app.state.eotrust
        data, warnings = await run_in_threadpool(
            _score_tiff, scorer, body, limit, state.settings.path("tmp"), state.settings.min_free_disk_mb, hold
        )
        if warnings:  # an input unlike the training data: said loudly, in a header and the map's tags
            headers["X-Eotrust-Warning"] = " | ".join(warnings)[:1000]
        return Response(data, media_type=TIFF, headers=headers)
    if media == "json":
        hold.take(JSON_GROWTH * len(body))
    # parsing a body and rendering an answer take seconds for large arrays: off the event loop,
    # which serves everyone (a 42 MB JSON body held every other request for 5.4 s)
    arr = await run_in_threadpool(_parse_npy if media == "npy" else _parse_json, body)
    hold.take(working_bytes(scorer, arr.shape, answer, probabilities))
    classes, probs = await run_in_threadpool(_score_array, scorer, arr, probabilities or answer == "json")
    if answer == "json":

        def rendered() -> bytes:
            doc: dict[str, Any] = {
                "model": entry.cid,
                "classes": classes.tolist(),
                "shape": list(classes.shape),
                "class_names": entry.manifest.class_names if entry.manifest else [],
            }
            if probabilities and probs is not None:
                doc["probabilities"] = np.round(probs, 6).tolist()
            return bytes(JSONResponse(doc).body)

        return Response(await run_in_threadpool(rendered), media_type="application/json", headers=headers)
    if answer == "npy":
        chosen = probs if probabilities and probs is not None else classes
        return Response(await run_in_threadpool(_npy_bytes, chosen), media_type=NPY, headers=headers)
    return Response(await run_in_threadpool(_array_tiff, classes), media_type=TIFF, headers=headers)
