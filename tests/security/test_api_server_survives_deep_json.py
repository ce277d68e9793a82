"""Attack (issue 12, item 1): one unauthenticated ~200 KB JSON body nested 100,000 levels deep
killed `eotrust serve` (segmentation fault). The server must bound a JSON body's size and depth
before parsing it, answer 400/413, and keep serving. This is about the server process itself,
so it runs a real `eotrust serve`."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_server import start_server  # noqa: E402

pytestmark = [pytest.mark.server]

DEEP = 100_000


def test_a_100000_deep_json_body_is_refused_and_the_server_lives(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    server = start_server(home)
    try:
        attacks = [
            ("/stac/search", b"[" * DEEP + b"]" * DEEP),
            ("/stac/search", b'{"bbox":' + b"[" * DEEP + b"]" * DEEP + b"}"),
            (
                "/models/QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX/predict",
                b'{"data":' + b"[" * DEEP + b"]" * DEEP + b"}",
            ),
            ("/catalog/datasets", b"{" + b'"a":{' * DEEP + b"}" * DEEP + b"}"),
        ]
        for path, body in attacks:
            try:
                r = httpx.post(
                    server.url + path, content=body, timeout=60, headers={"Content-Type": "application/json"}
                )
            except httpx.HTTPError as exc:
                pytest.fail(f"POST {path}: no answer ({exc!r}); alive={server.alive()}\n{server.log_text()[-2000:]}")
            assert server.alive(), f"POST {path} killed the server:\n{server.log_text()[-2000:]}"
            # predict checks the key first (401); the others refuse the body itself
            assert r.status_code in (400, 401, 413), (path, r.status_code, r.text[:300])
            if path == "/stac/search":
                assert "deep" in r.json()["detail"], r.text[:300]
        # and it still serves
        assert httpx.get(f"{server.url}/conformance", timeout=10).status_code == 200
    finally:
        server.stop()
