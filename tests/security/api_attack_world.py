"""Helpers of the HTTP-API attack tests: a small world of parties in one eotrust home, the
in-process server over it (FastAPI ``TestClient``), and — for the one test about the server
process itself — a real ``eotrust serve`` started and stopped by PID."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eotrust.party import Party
    from eotrust.settings import Settings

PASSPHRASE = "test-passphrase"
BBOX = (14.3, 45.9, 14.6, 46.1)
WORKFLOW = """\
name: shout
description: Upper-cases a text dataset
inputs: {scene: file}
params:
  tag: {type: str, description: "a word"}
services:
  shout:
    command: ["sh", "-c", "tr a-z A-Z < {inputs.src} > {outputs.out}"]
    inputs: {src: file}
    outputs: {out: file}
steps:
  s: {service: shout, in: {src: inputs.scene}}
outputs:
  shouted: s.out
"""


@dataclass
class World:
    """Parties (name -> unlocked Party), their API keys, a dataset held by olga."""

    home: Path
    settings: Settings
    parties: dict[str, Party] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    dataset_id: str = ""
    dataset_cid: str = ""
    scene: Path | None = None

    def headers(self, name: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[name]}


def party_key(settings: Any, party: Any, scopes: list[str] | None = None) -> str:
    """An API key for ``party`` (unlocked: the proof that it is ours)."""
    from eotrust.catalog import api_keys as K

    try:
        secret, _ = K.create_api_key(settings, party=party, scopes=scopes or ["*"])
    except Exception:  # the code before the fix took a bare name
        secret, _ = K.create_api_key(settings, party=party.name, scopes=scopes or ["*"])
    return secret


def build_world(home: Path, *, submitters: tuple[str, ...] = ("sam",), dataset: bool = True) -> World:
    from eotrust.catalog.entries import DatasetInfo
    from eotrust.catalog.service import Catalog
    from eotrust.party import Role, create_party
    from eotrust.roles.data_owner.holdings import remember
    from eotrust.settings import load_settings
    from eotrust.store import open_store

    settings = load_settings(home=home)
    world = World(home=home, settings=settings)
    for name in submitters:
        world.parties[name] = create_party(settings, name, Role.SUBMITTER)
    world.parties["olga"] = create_party(settings, "olga", Role.DATA_OWNER)
    world.parties["alan"] = create_party(settings, "alan", Role.ALGORITHM_OWNER)
    world.parties["pia"] = create_party(settings, "pia", Role.PLATFORM_OWNER)
    for name, party in world.parties.items():
        world.keys[name] = party_key(settings, party)
    if dataset:
        scene = home.parent / "scene.txt"
        scene.write_text("ndvi over the karst\n")
        world.scene = scene
        world.dataset_cid = open_store(settings).put_file(scene)
        remember(settings, "olga", world.dataset_cid, scene)
        world.dataset_id = (
            Catalog(settings)
            .register_dataset(
                world.parties["olga"],
                DatasetInfo(
                    title="Karst NDVI",
                    cid=world.dataset_cid,
                    size=scene.stat().st_size,
                    bbox=BBOX,
                    start="2017-01-01T00:00:00Z",
                    end="2017-12-31T00:00:00Z",
                    crs="EPSG:32633",
                    bands=["NDVI"],
                    media_type="text/plain",
                ),
            )
            .id
        )
    return world


def client(settings: Any) -> Any:
    """The server over ``settings``, in process."""
    from fastapi.testclient import TestClient

    from eotrust.api.app import create_app

    return TestClient(create_app(settings), raise_server_exceptions=False)
