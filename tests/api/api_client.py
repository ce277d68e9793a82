"""The eotrust app built in process and reached through FastAPI's ``TestClient`` (an httpx
client whose transport calls the ASGI app): no server process, no port, no start-up wait.

``in_process(settings, ...)`` runs the app's lifespan, so the background helpers asked for
(``dev_autoack``: parties of the home answer requests; ``run_nodes``: platform nodes run in
threads) live exactly as long as the ``with`` block, as they would in ``eotrust serve``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager

import httpx
import requests
from fastapi.testclient import TestClient
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from eotrust.api.app import create_app
from eotrust.settings import Settings


@contextmanager
def in_process(settings: Settings, *, dev_autoack: bool = False, run_nodes: bool = False) -> Iterator[TestClient]:
    """A started client of ``create_app(settings, ...)``; its helpers stop when the block ends.

    Unhandled exceptions inside the app are raised in the test (``raise_server_exceptions``),
    so a request that would have been a 500 fails the test where it happens."""
    app = create_app(settings, dev_autoack=dev_autoack, run_nodes=run_nodes)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def base_url(client: TestClient) -> str:
    """The client's base URL without the trailing slash, as links in answers start."""
    return str(client.base_url).rstrip("/")


def post_streamed(
    client: TestClient,
    path: str,
    chunks: Iterable[bytes],
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> tuple[httpx.Response, int]:
    """POST ``chunks`` as a streamed body through httpx's ``ASGITransport``, which hands the app
    one chunk each time the app asks for more (``TestClient`` reads a body whole before the app
    sees it). There is no Content-Length unless ``headers`` declares one. Returns the answer and
    how many bytes the app pulled."""
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for chunk in chunks:
            pulled += len(chunk)
            yield chunk

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url(client)) as http:
            return await http.post(path, content=body(), headers=headers, params=params)

    return asyncio.run(post()), pulled


class InProcessAdapter(requests.adapters.BaseAdapter):
    """A transport adapter for ``requests`` that hands every request to a ``TestClient``, so a
    client library built on a ``requests.Session`` (pystac-client) talks to the app in
    process: ``session.mount(base_url(client), InProcessAdapter(client))``."""

    def __init__(self, client: TestClient) -> None:
        super().__init__()
        self.client = client

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: object = None,
        verify: object = True,
        cert: object = None,
        proxies: object = None,
    ) -> requests.Response:
        answer = self.client.request(
            request.method or "GET", request.url or "", headers=dict(request.headers), content=request.body
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.reason_phrase
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.content
        response.encoding = get_encoding_from_headers(response.headers)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass
