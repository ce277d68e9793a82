"""Attacks (issue 12, item 11): `{"accept": "yes"}` was coerced to true for an irreversible
answer; an all-NaN array to /predict got 200 with one class everywhere. Irreversible actions
take strict booleans (and no default), and an array with no finite value is a 400."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_attack_world import World, build_world, client, party_key
from fast_keys import SCRYPT_N

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))
from tiny_models import tiny_enet_package  # noqa: E402

ADDRESS = "0x" + "ab" * 20


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("strict")
    with pytest.MonkeyPatch.context() as env:
        for var in ("EOTRUST_HOME", "EOTRUST_CHAIN_URL", "EOTRUST_STORE", "EOTRUST_CATALOG_URL"):
            env.delenv(var, raising=False)
        env.setenv("EOTRUST_CONFIG", "")  # no config file
        env.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
        env.setenv("EOTRUST_KEYSTORE_SCRYPT_N", str(SCRYPT_N))
        yield build_world(base / "home", dataset=False)


@pytest.mark.parametrize(
    "body",
    [
        {"accept": "yes"},
        {"accept": "true"},
        {"accept": 1},
        {"accept": 0},
        {"accept": "no"},
        {"accept": None},
        {},
        {"accept": [True]},
    ],
)
def test_an_irreversible_answer_takes_only_a_json_boolean(world: World, body: dict[str, Any]) -> None:
    r = client(world.settings).post(f"/tasks/{ADDRESS}/answer", headers=world.headers("olga"), json=body)
    assert r.status_code == 400, (body, r.status_code, r.text)
    assert "accept" in r.json()["detail"], r.text


def test_an_array_without_a_finite_value_is_refused(world: World, tmp_path: Path) -> None:
    from eotrust.ml.registry import Registry

    entry = Registry(world.settings).register(tiny_enet_package(tmp_path / "tiny.zip"))
    key = {"X-API-Key": party_key(world.settings, world.parties["sam"], [entry.cid])}
    http = client(world.settings)
    nan = np.full((3, 16, 16), np.nan, dtype=np.float32)
    buf = io.BytesIO()
    np.save(buf, nan, allow_pickle=False)
    r = http.post(
        f"/models/{entry.cid}/predict", headers={**key, "Content-Type": "application/x-npy"}, content=buf.getvalue()
    )
    assert r.status_code == 400 and "finite" in r.text, (r.status_code, r.text[:300])
    r = http.post(
        f"/models/{entry.cid}/predict",
        headers={**key, "Content-Type": "application/json"},
        content=b'{"data": ' + b"[" * 3 + b",".join([b"NaN"] * 16) + b"]" * 3 + b"}",
        params={"format": "json"},
    )
    assert r.status_code == 400, (r.status_code, r.text[:300])
    inf = np.full((3, 16, 16), np.inf, dtype=np.float32)
    buf = io.BytesIO()
    np.save(buf, inf, allow_pickle=False)
    r = http.post(
        f"/models/{entry.cid}/predict", headers={**key, "Content-Type": "application/x-npy"}, content=buf.getvalue()
    )
    assert r.status_code == 400, (r.status_code, r.text[:300])
    # a real image still scores
    ok = io.BytesIO()
    np.save(ok, np.full((3, 16, 16), 100, dtype=np.uint16), allow_pickle=False)
    r = http.post(
        f"/models/{entry.cid}/predict", headers={**key, "Content-Type": "application/x-npy"}, content=ok.getvalue()
    )
    assert r.status_code == 200, r.text[:300]
