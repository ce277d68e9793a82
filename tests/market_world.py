"""Shared by the market tests — the market world: the flow world's parties, rasters and fast
application, with prices in every signed record (platform per CPU-hour, GB-hour, GB stored and a flat fee; the
algorithm owner per run; each data owner per use), on the embedded chain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flow_world import PLATFORM, SAMPLE, TINY, World, make_parties
from typer.testing import CliRunner, Result

from eotrust.catalog.entries import ApplicationInfo, BodyT, DatasetInfo, PlatformInfo, Record
from eotrust.settings import Settings

GWEI = 10**9
RATES = {
    "cpu_hour": 36 * GWEI,
    "gpu_hour": 900 * GWEI,
    "memory_gb_hour": 4 * GWEI,
    "storage_gb": 20 * GWEI,
    "flat": 3 * GWEI,
}
APP_PRICE = 50 * GWEI
DATA_PRICE = {"clouds": 7 * GWEI, "labels": 11 * GWEI}


def priced(record: Record[BodyT], **fields: Any) -> BodyT:
    """The record's body with these fields set (validated again)."""
    return type(record.body).model_validate({**record.body.canonical(), **fields})


Policies = Callable[[dict[str, Any], Record[ApplicationInfo]], dict[str, Any]]


def make_market_world(settings: Settings, *, policies: Policies | None = None) -> World:
    """Like flow_world.make_world, every record priced; ``policies(parties, application)``: dataset
    title -> its data-use policy."""
    from eotrust.roles.algorithm_owner.applications import register_workflow_application
    from eotrust.roles.data_owner.holdings import register_dataset_file

    backends, parties = make_parties(settings)
    catalog, chain = backends.catalog, backends.chain
    plain_app = register_workflow_application(backends, parties["algorithm-owner"], TINY)
    app_body: ApplicationInfo = priced(plain_app, price={"per_use": APP_PRICE})
    application = catalog.register(parties["algorithm-owner"], app_body)
    chosen = policies(parties, application) if policies else {}
    datasets = {}
    for title, owner, file in (("clouds", "owner-a", "cloud_mask.tif"), ("labels", "owner-b", "lulc.tif")):
        plain = register_dataset_file(backends, parties[owner], SAMPLE / file, title=title)
        body: DatasetInfo = priced(plain, price={"per_use": DATA_PRICE[title]}, policy=chosen.get(title))
        datasets[title] = catalog.register(parties[owner], body)
    platform = catalog.register(
        parties["platform-owner"],
        PlatformInfo(name=PLATFORM, age_recipient=parties["platform-owner"].card.age_recipient, prices=RATES),
    )
    return World(backends, settings, catalog, chain, backends.store, parties, datasets, application, platform)


def open_paid(world: World, **params: object) -> str:
    """The submitter opens a paid task of the world's application (:meth:`World.request`); its
    address."""
    return world.request(paid=True, **params).address


def cli(world: World, *args: str) -> Result:
    """``eotrust --home <the world's home> ARGS`` in process."""
    from eotrust.cli.main import app

    return CliRunner().invoke(app, ["--home", str(world.settings.home), *args])
