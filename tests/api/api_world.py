"""A complete little world in one eotrust home for the server tests: four parties (their
keystores in the home, so a server started with --dev-autoack --run-nodes answers and runs for
them), a dataset held by its data owner, a platform, a published workflow registered as an
application, and an API key for each party."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

WORKFLOW = """\
name: shout
description: Upper-cases a text dataset and appends a tag
inputs: {scene: file}
params:
  tag: {type: str, description: "a word appended to the result"}
  times: {type: int, default: 1, min: 1, max: 5}
services:
  shout:
    command: ["sh", "-c", "tr a-z A-Z < {inputs.src} > {outputs.out} && echo {params.tag} >> {outputs.out}"]
    inputs: {src: file}
    outputs: {out: file}
    params: {tag: str}
steps:
  s: {service: shout, in: {src: inputs.scene}, params: {tag: "${tag}"}}
outputs:
  shouted: s.out
"""

BBOX = (14.3, 45.9, 14.6, 46.1)


@dataclass
class FlowWorld:
    home: Path
    keys: dict[str, str] = field(default_factory=dict)  # party name -> API key secret
    addresses: dict[str, str] = field(default_factory=dict)
    dataset_id: str = ""
    dataset_cid: str = ""
    platform_id: str = ""
    process: str = "shout"


def build_world(home: Path, *, submitters: tuple[str, ...] = ("sam",)) -> FlowWorld:
    from eotrust.backends import Backends
    from eotrust.catalog.api_keys import create_api_key
    from eotrust.catalog.entries import DatasetInfo, PlatformInfo
    from eotrust.catalog.service import Catalog
    from eotrust.cid import cid_of_file
    from eotrust.party import Role, create_party
    from eotrust.roles.algorithm_owner.applications import register_workflow_application
    from eotrust.roles.data_owner.holdings import remember
    from eotrust.settings import load_settings

    settings = load_settings(home=home)
    catalog = Catalog(settings)
    world = FlowWorld(home=home)
    parties = {name: create_party(settings, name, Role.SUBMITTER) for name in submitters}
    parties["olga"] = create_party(settings, "olga", Role.DATA_OWNER)
    parties["alan"] = create_party(settings, "alan", Role.ALGORITHM_OWNER)
    parties["pia"] = create_party(settings, "pia", Role.PLATFORM_OWNER)
    for name, party in parties.items():
        world.keys[name], _ = create_api_key(settings, party=party, scopes=["*"])
        world.addresses[name] = party.account.address

    scene = home.parent / "scene.txt"
    scene.write_text("ndvi over the karst\n")
    world.dataset_cid = cid_of_file(scene)
    remember(settings, "olga", world.dataset_cid, scene)
    world.dataset_id = catalog.register_dataset(
        parties["olga"],
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
    ).id
    world.platform_id = catalog.register_platform(
        parties["pia"],
        PlatformInfo(name="karst-cloud", age_recipient=parties["pia"].card.age_recipient, cpus=2, memory_mb=2048),
    ).id
    register_workflow_application(Backends(settings), parties["alan"], WORKFLOW, name="shout")
    return world


def look_alike_platform(world: FlowWorld) -> str:
    """Mallory, another platform owner (her keystore in the home), signs a platform record with
    the honest platform's name, dated long before it: the id of her record."""
    from datetime import UTC, datetime

    from eotrust.catalog.entries import PlatformInfo
    from eotrust.catalog.service import Catalog
    from eotrust.party import Role, create_party
    from eotrust.settings import load_settings

    settings = load_settings(home=world.home)
    mallory = create_party(settings, "mallory", Role.PLATFORM_OWNER)
    world.addresses["mallory"] = mallory.account.address
    spoof = PlatformInfo(name="karst-cloud", age_recipient=mallory.card.age_recipient, cpus=2, memory_mb=2048)
    return Catalog(settings).register(mallory, spoof, created=datetime(2001, 1, 1, tzinfo=UTC)).id


def priced_task(world: FlowWorld, application_id: str, prices: dict[str, int]) -> str:
    """The address of a task of sam's catalogued with application ``application_id`` on the
    world's dataset and on a platform of pia's priced at ``prices`` ("karst-priced"). The market
    is off-chain: a quote is made from the submitter's signed task record (the contract it names
    is not consulted), so no contract is opened."""
    from eth_account import Account

    from eotrust.catalog.entries import PlatformInfo, TaskInfo
    from eotrust.catalog.service import Catalog
    from eotrust.party import load_party
    from eotrust.settings import load_settings

    settings = load_settings(home=world.home)
    catalog = Catalog(settings)
    pia, sam = load_party(settings, "pia"), load_party(settings, "sam")
    priced = catalog.register(
        pia, PlatformInfo(name="karst-priced", age_recipient=pia.card.age_recipient, prices=prices)
    )
    task: str = Account.create().address
    catalog.register(
        sam,
        TaskInfo(
            address=task,
            application_id=application_id,
            platform_id=priced.id,
            inputs={"scene": world.dataset_id},
            results_recipient=sam.card.age_recipient,
        ),
    )
    return task
