"""Response headers that keep a browser from turning the server's answers against its users.

The web page keeps the user's API key in the browser (``localStorage``), and the server sends
back things other parties wrote: catalogue titles, class names and colours, result files named
by an application. Every answer therefore says ``X-Content-Type-Options: nosniff`` (a result
or stored object is never guessed into HTML or script), ``X-Frame-Options: DENY`` (no other
site frames a page of this server) and ``Referrer-Policy: no-referrer``; the page (``/web/``)
also carries a Content Security Policy that allows scripts, styles, data and connections from
this server only, no inline script or style attribute, no plugins, no ``<base>``: text that
slipped into the page as markup could neither run nor send the key anywhere. The API
documentation (``/api.html``, Swagger UI, where a key can be typed into "Authorize") has the
same policy.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
EVERY_ANSWER = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


class SecurityHeaders:
    """ASGI middleware adding :data:`EVERY_ANSWER` to every response, and :data:`WEB_CSP` to the
    web page's and ``/api.html``'s (a header a route set itself is kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        page = path.startswith("/web") or path == "/api.html"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in EVERY_ANSWER.items():
                    headers.setdefault(name, value)
                if page:
                    headers.setdefault("content-security-policy", WEB_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)
