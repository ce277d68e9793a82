"""Attack: a client without a key POSTs a large JSON body to ``/models/{cid}/predict``. The
JSON body guard (``api/bodies.py``) used to read such a body, up to ``max_upload_mb`` (512 MiB
by default), *before* the route checked the key: every anonymous connection could make the
server read and hold that much (on a real `eotrust serve`, 300 MiB of spaces raised its peak
resident memory by 320 MB before the 401). The predict route checks the key, then the
declared length, then reads and parses the body with its own limits; the guard leaves its
bodies alone."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_client import in_process, post_streamed  # noqa: E402

from eotrust.catalog.api_keys import create_api_key  # noqa: E402
from eotrust.ml.registry import Registry  # noqa: E402
from eotrust.settings import load_settings  # noqa: E402

MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}


def _spaces(mib: int) -> Iterator[bytes]:
    return (b" " * MIB for _ in range(mib))


def test_predict_reads_no_body_before_the_key_and_bounds_its_own(tmp_path: Path, tiny_enet_zip: Path) -> None:
    settings = load_settings(home=tmp_path / "home", max_upload_mb=64)
    entry = Registry(settings).register(tiny_enet_zip)
    key, _ = create_api_key(settings, party=None, scopes=[entry.cid])
    url = f"/models/{entry.cid}/predict"
    with in_process(settings) as client:
        # no key: refused before one byte of the body is read (chunked: no length to judge by)
        r, pulled = post_streamed(client, url, _spaces(32), headers=JSON)
        assert r.status_code == 401, r.text
        assert pulled == 0, f"the server read {pulled} bytes of an anonymous body"
        r, pulled = post_streamed(client, url, _spaces(32), headers={**JSON, "X-API-Key": "eot_" + "0" * 40})
        assert r.status_code == 401 and pulled == 0
        # with the key, the route bounds the body itself: its size (413 once past the limit) …
        r, pulled = post_streamed(client, url, _spaces(100), headers={**JSON, "X-API-Key": key})
        assert r.status_code == 413 and pulled <= 66 * MIB, (r.status_code, pulled)
        # … and its depth: an array to score is at most a few levels deep
        deep = b'{"data": ' + b"[" * 1000 + b"0" + b"]" * 1000 + b"}"
        r = client.post(url, content=deep, headers={**JSON, "X-API-Key": key})
        assert r.status_code == 400 and "deep" in r.json()["detail"], r.text
        # a real request is answered
        tile = [[[0.5] * 16 for _ in range(16)] for _ in range(3)]
        r = client.post(url, json={"data": tile}, headers={"X-API-Key": key})
        assert r.status_code == 200, r.text
        assert len(r.json()["classes"]) == 16
