"""A process id is one path segment as its client encoded it: ``/processes/team%2Fshout`` names
the process ``team/shout``.

A process is an application, and an application's name is whatever its signer chose: a ``/``
among others. The ASGI server decodes the whole path before routing, so ``%2F`` became a
``/`` and no route matched (before, the page listed such an application and opening it was a
404). :class:`RawProcessIds` reads the id segment from the request's ``raw_path``: when it
holds an encoded ``/``, the router sees a marker in its place (random per application, so no
name can be it) and the exact id waits in the scope for :func:`exact_process_id`. So
``/processes/a%2Fb/execution`` is the execution of ``a/b``, never the process ``a`` with a
path after it; a route that does not ask for the exact id finds no process by the marker (a
404), never another process.
"""

from __future__ import annotations

import secrets
from urllib.parse import unquote

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/processes/"
#: Where the middleware leaves the exact process id of a request.
SCOPE_KEY = "eotrust.process_id"


def exact_process_id(request: Request, routed: str) -> str:
    """The process id the client sent: ``routed`` (the path parameter), or the id whose
    encoded ``/`` the middleware kept out of the route."""
    exact = request.scope.get(SCOPE_KEY)
    return exact if isinstance(exact, str) else routed


class RawProcessIds:
    """ASGI middleware: a ``/processes/{id}…`` request whose id segment holds ``%2F`` is routed
    with a marker for the id, the exact id in the scope (:data:`SCOPE_KEY`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.marker = f"~{secrets.token_hex(16)}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = self.rewrite(scope)
        await self.app(scope, receive, send)

    def rewrite(self, scope: Scope) -> Scope:
        raw, root = scope.get("raw_path"), scope.get("root_path", "")
        if not isinstance(raw, bytes) or not isinstance(root, str):
            return scope
        try:
            raw_path = raw.split(b"?", 1)[0].decode("ascii")
        except UnicodeDecodeError:
            return scope  # not a path a client encoded: the server's own decoding stands
        if not raw_path.startswith(root + PREFIX):
            return scope
        segment, slash, rest = raw_path[len(root + PREFIX) :].partition("/")
        if "%2f" not in segment.lower():
            return scope  # the decoded path routes as it always did
        return {**scope, "path": f"{root}{PREFIX}{self.marker}{slash}{unquote(rest)}", SCOPE_KEY: unquote(segment)}
