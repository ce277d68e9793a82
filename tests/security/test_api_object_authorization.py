"""Attacks (issue 12, items 4 and 5): a key scoped to model A got 403 on /models/B/predict but
200 on GET /store/B (the whole signed package) and on POST /render/prediction?model=B; any
party's key downloaded another party's model package; a dataset registered by its CIDv1 was
served in plaintext to another party by GET /store/<its CIDv0>. Authorisation is decided in one
place (eotrust.api.authorization) for every route that returns or acts on an object, on CIDs in
one normal form."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from api_attack_world import World, build_world, client, party_key
from fast_keys import SCRYPT_N

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))
from tiny_models import tiny_enet_package  # noqa: E402

from eotrust.cid import to_v0, to_v1  # noqa: E402
from eotrust.ml.registry import ModelEntry  # noqa: E402


@pytest.fixture(scope="module")
def model_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, ModelEntry]]:
    """alan owns model 'tiny' (B); sam holds a key scoped to another model (A) and one for '*'."""
    base = tmp_path_factory.mktemp("authz")
    with pytest.MonkeyPatch.context() as env:
        for var in ("EOTRUST_HOME", "EOTRUST_CHAIN_URL", "EOTRUST_STORE", "EOTRUST_CATALOG_URL"):
            env.delenv(var, raising=False)
        env.setenv("EOTRUST_CONFIG", "")  # no config file
        env.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
        env.setenv("EOTRUST_KEYSTORE_SCRYPT_N", str(SCRYPT_N))
        from eotrust.ml.registry import Registry

        world = build_world(base / "home")
        entry = Registry(world.settings).register(
            tiny_enet_package(base / "tiny.zip", account=world.parties["alan"].account)
        )
        world.keys["sam-a"] = party_key(world.settings, world.parties["sam"], ["some-other-model"])
        yield world, entry


def _scene(path: Path) -> bytes:
    import rasterio
    from rasterio.transform import from_origin

    data = np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16) % 200
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=16,
        height=16,
        count=3,
        dtype="uint16",
        crs="EPSG:32633",
        transform=from_origin(500000, 5100000, 10, 10),
    ) as dst:
        dst.write(data)
    return path.read_bytes()


def test_a_key_scoped_to_model_a_reaches_nothing_of_model_b(
    model_world: tuple[World, ModelEntry], tmp_path: Path
) -> None:
    world, entry = model_world
    http = client(world.settings)
    h = world.headers("sam-a")
    assert (
        http.post(f"/models/{entry.cid}/predict", headers=h, content=b"x", params={"format": "json"}).status_code == 403
    )
    for form in (entry.cid, to_v1(entry.cid)):
        r = http.get(f"/store/{form}", headers=h)
        assert r.status_code == 403, (form, r.status_code)
        r = http.post("/render/prediction", params={"model": form}, headers=h, content=_scene(tmp_path / "s.tif"))
        assert r.status_code == 403, (form, r.status_code, r.text[:200])


def test_only_the_owner_downloads_a_model_package(model_world: tuple[World, ModelEntry]) -> None:
    world, entry = model_world
    http = client(world.settings)
    for other in ("sam", "olga", "pia"):  # keys for every model, but not its owner
        for form in (entry.cid, to_v1(entry.cid)):
            assert http.get(f"/store/{form}", headers=world.headers(other)).status_code == 403, (other, form)
    r = http.get(f"/store/{entry.cid}", headers=world.headers("alan"))
    assert r.status_code == 200 and len(r.content) == entry.size


def test_a_dataset_is_plaintext_to_its_owner_only_in_every_cid_form(tmp_path: Path) -> None:
    from eotrust.catalog.entries import DatasetInfo
    from eotrust.catalog.service import Catalog

    world = build_world(tmp_path / "home", dataset=False)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"the data owner's private scene\n")
    from eotrust.store import open_store

    cid = open_store(world.settings).put_file(secret)
    Catalog(world.settings).register_dataset(
        world.parties["olga"],
        DatasetInfo(
            title="private",
            cid=to_v1(cid),
            size=secret.stat().st_size,
            bbox=(0, 0, 1, 1),
            start="2017-01-01T00:00:00Z",
            end="2017-12-31T00:00:00Z",
            crs="EPSG:4326",
            bands=["x"],
            media_type="text/plain",
        ),
    )
    http = client(world.settings)
    for form in (to_v0(cid), to_v1(cid)):
        for other in ("sam", "alan", "pia"):
            r = http.get(f"/store/{form}", headers=world.headers(other))
            assert r.status_code == 403 and b"private scene" not in r.content, (form, other, r.status_code)
        assert http.get(f"/store/{form}", headers=world.headers("olga")).content == secret.read_bytes()


def test_the_normal_form_helper() -> None:
    from eotrust.cid import normal_cid, same_cid

    v0 = "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX"
    assert normal_cid(to_v1(v0)) == normal_cid(v0) == normal_cid(f"/ipfs/{v0}") == v0
    assert same_cid(v0, to_v1(v0)) and not same_cid(v0, "QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB")
    assert not same_cid(v0, "not-a-cid") and not same_cid("x", "x")
