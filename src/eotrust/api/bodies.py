"""Request bodies with a size limit: a declared ``Content-Length`` over the limit is refused
before anything is read, and a streamed (chunked) body as soon as it passes the limit — the
server never buffers or writes more than ``limit`` bytes plus one chunk.

Each route keeps its own 413 error (class and message) by passing a factory for it; the error
should derive from :class:`BodyTooLarge` so that it is answered with 413.

JSON bodies are bounded for every route at once: the :class:`JsonBodyGuard` middleware checks
the size and nesting depth of every JSON body (by :mod:`eotrust.limits`) before any parser sees
it."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eotrust.disk import check_free_disk
from eotrust.errors import EotrustError, InvalidInputError
from eotrust.limits import DocumentTooLarge, JsonLimits, check_json

log = logging.getLogger("eotrust.api")


class BodyTooLarge(InvalidInputError):
    """A request body over the route's limit: answered with 413."""

    http_status = 413


def declared_length(request: Request) -> int | None:
    """The request's ``Content-Length`` as a number, or None when it declares none."""
    length = request.headers.get("content-length")
    if length is None:
        return None
    try:
        return int(length)
    except ValueError:
        raise InvalidInputError(f"Content-Length {length!r} is not a number") from None


def check_declared_length(request: Request, limit: int, too_large: Callable[[int], EotrustError]) -> None:
    """Raise ``too_large(declared size)`` when the declared ``Content-Length`` is over ``limit``
    bytes (nothing is read); a body that declares no length is checked while it streams."""
    size = declared_length(request)
    if size is not None and size > limit:
        raise too_large(size)


async def stream_body(
    request: Request, limit: int, write: Callable[[bytes], object], too_large: Callable[[], EotrustError]
) -> int:
    """Hand the body to ``write`` chunk by chunk and return its size; raise ``too_large()`` as
    soon as it passes ``limit`` bytes (the chunk that passes it is not written)."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large()
        write(chunk)
    return size


#: An upload's disk check runs again after every this many bytes written.
DISK_CHECK_BYTES = 8 * 1024 * 1024


class DiskGuard:
    """A ``write`` for :func:`stream_body` that checks the free disk when made (for the
    ``expected`` bytes, a declared Content-Length), before the first byte and after every
    :data:`DISK_CHECK_BYTES`, counting ``copies`` times what is written (an upload written to a
    temporary file, then copied into the store, needs it twice)."""

    def __init__(
        self,
        write: Callable[[bytes], object],
        directories: list[Path],
        keep_mb: int,
        *,
        copies: int = 1,
        expected: int = 0,
    ) -> None:
        self._write, self.directories, self.keep_mb, self.copies = write, directories, keep_mb, copies
        check_free_disk(directories, keep_mb, more=copies * expected)
        self.written = 0
        self._next_check = 0

    def __call__(self, chunk: bytes) -> None:
        if self.written + len(chunk) >= self._next_check:
            check_free_disk(self.directories, self.keep_mb, more=self.copies * (self.written + len(chunk)))
            self._next_check = self.written + len(chunk) + DISK_CHECK_BYTES
        self._write(chunk)
        self.written += len(chunk)


def uploaded_geotiff(path: Path) -> int:
    """The decoded size in bytes of an uploaded raster, opened as a GeoTIFF only: GDAL would
    otherwise pick a driver by content, and a VRT body names other files of this server, or
    URLs it would fetch (tests/api/test_upload_formats.py). InvalidInputError for anything else,
    and for a header that declares more bands or a larger block than a read may decode
    (:func:`~eotrust.limits.check_raster_layout`: a 396-byte body can declare a 2 GB block)."""
    import numpy as np
    import rasterio
    from rasterio.errors import RasterioError

    from eotrust.errors import RasterError
    from eotrust.limits import check_raster_layout

    try:
        with rasterio.open(path, driver="GTiff") as ds:
            check_raster_layout(ds, "the uploaded GeoTIFF")
            return int(ds.width * ds.height * ds.count * np.dtype(ds.dtypes[0]).itemsize)
    except RasterError as exc:
        raise InvalidInputError(exc.message, hint=exc.hint) from None
    except (RasterioError, TypeError, ValueError):
        raise InvalidInputError("the body is not a readable GeoTIFF") from None


@contextmanager
def named_as_uploaded(upload: Path) -> Iterator[None]:
    """Errors raised within name ``upload`` (the server's temporary copy of a request's body)
    as "the uploaded GeoTIFF", and its folder not at all: a refusal such as "raster
    /tmp/…/eotrust-predict-…/input.tif has 1 bands" told any client where the server keeps its
    work."""
    try:
        yield
    except EotrustError as exc:

        def scrub(text: str) -> str:
            return text.replace(str(upload), "the uploaded GeoTIFF").replace(
                str(upload.parent), "the server's work folder"
            )

        exc.message = scrub(exc.message)
        exc.hint = scrub(exc.hint) if exc.hint else exc.hint
        exc.args = (exc.message,)
        raise


async def read_body(
    request: Request,
    limit: int,
    too_large: Callable[[], EotrustError],
    each: Callable[[bytes], None] | None = None,
) -> bytes:
    """The whole body in memory, refused by ``too_large()`` as soon as it passes ``limit``;
    ``each(chunk)``, when given, sees every chunk before it is kept (and may refuse it)."""
    buf = io.BytesIO()

    def keep(chunk: bytes) -> None:
        if each is not None:
            each(chunk)
        buf.write(chunk)

    await stream_body(request, limit, keep, too_large)
    return buf.getvalue()


# -- JSON bodies: bounded before anything parses them -----------------------------------------

JSON_BODY_LIMITS = JsonLimits(max_bytes=1024 * 1024, max_depth=32)
#: Routes that take large JSON bodies (an array to score, up to ``max_upload_mb``) and bound them
#: themselves: they check the caller's key first, then the declared length, then read and parse
#: the body with their own limits (``api/predict.py``). Their bodies pass this guard untouched:
#: reading them here, before anyone is authenticated, let a client without a key make the
#: server read and hold ``max_upload_mb`` per connection.
SELF_BOUNDED_PATHS = (re.compile(r"^/models/[^/]+/predict$"),)


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this content type as JSON (``application/json`` or
    ``application/*+json``; with strict content types, never a body without one)."""
    media = (content_type or "").split(";")[0].strip().lower()
    return media.startswith("application/") and (media == "application/json" or media.endswith("+json"))


class JsonBodyGuard:
    """ASGI middleware: a JSON request body is read up to its limit (413 beyond, by
    Content-Length before anything is read), its nesting depth is measured (400 beyond), and
    only then is it handed on — so no parser, FastAPI's or a route's own, ever sees a body over
    the limits. Other bodies (uploads, arrays, GeoTIFFs), and those of
    :data:`SELF_BOUNDED_PATHS`, pass untouched and are bounded by their routes."""

    def __init__(self, app: ASGIApp, limits: JsonLimits = JSON_BODY_LIMITS) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE")
            or any(p.match(scope.get("path", "")) for p in SELF_BOUNDED_PATHS)
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if not is_json(request.headers.get("content-type")):
            await self.app(scope, receive, send)
            return
        limits = self.limits
        try:
            check_declared_length(
                request,
                limits.max_bytes,
                lambda size: DocumentTooLarge(f"the JSON body is {size} bytes; the limit is {limits.max_bytes}"),
            )
            body = await read_body(
                request,
                limits.max_bytes,
                lambda: DocumentTooLarge(f"the JSON body passed the limit of {limits.max_bytes} bytes"),
            )
            check_json(body, limits, "the JSON body")
        except ClientDisconnect:  # gone (or cut off by the connection limits) before the body ended
            log.info("client went away before its request was complete: %s %s", scope.get("method"), scope.get("path"))
            return
        except EotrustError as exc:
            from eotrust.api.errors import problem, status_of

            response = problem(status_of(exc), type(exc).__name__, exc.message + (f" ({exc.hint})" if exc.hint else ""))
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # a disconnect, if the client goes away

        await self.app(scope, replay, send)
