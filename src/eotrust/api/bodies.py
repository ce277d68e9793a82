"""Request bodies with a size limit: a declared ``Content-Length`` over the limit is refused
before anything is read, and a streamed (chunked) body as soon as it passes the limit — the
server never buffers or writes more than ``limit`` bytes plus one chunk.

Each route keeps its own 413 error (class and message) by passing a factory for it; the error
should derive from :class:`BodyTooLarge` so that it is answered with 413."""

from __future__ import annotations

import io
from collections.abc import Callable

from starlette.requests import Request

from eotrust.errors import EotrustError, InvalidInputError


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


async def stream_body(request: Request, limit: int, write: Callable[[bytes], object],
                      too_large: Callable[[], EotrustError]) -> int:
    """Hand the body to ``write`` chunk by chunk and return its size; raise ``too_large()`` as
    soon as it passes ``limit`` bytes (the chunk that passes it is not written)."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large()
        write(chunk)
    return size


async def read_body(request: Request, limit: int, too_large: Callable[[], EotrustError]) -> bytes:
    """The whole body in memory, refused by ``too_large()`` as soon as it passes ``limit``."""
    buf = io.BytesIO()
    await stream_body(request, limit, buf.write, too_large)
    return buf.getvalue()
