"""Shared by the flow, nodes and verify tests — a small world: five parties, three real (small) rasters from two data owners,
a fast two-step application, a platform — all on the embedded chain, store and catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eotrust.backends import Backends
from eotrust.catalog.entries import ApplicationInfo, DatasetInfo, PlatformInfo, Record
from eotrust.catalog.service import Catalog
from eotrust.ledger import TaskClient
from eotrust.settings import Settings

if TYPE_CHECKING:
    from eotrust.nodes.node import PlatformNode
    from eotrust.roles.submitter.request import OpenedTask

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "data" / "slovenia-s2-ndvi"
TINY = HERE / "roles" / "tiny.yaml"
PLATFORM = "test-platform"


@dataclass
class World:
    backends: Backends
    settings: Settings
    catalog: Catalog
    chain: Any
    store: Any
    parties: dict[str, Any]
    datasets: dict[str, Record[DatasetInfo]]
    application: Record[ApplicationInfo]
    platform: Record[PlatformInfo]
    logs: list[str] = field(default_factory=list)

    def request(self, *, paid: bool = False, **params: Any) -> OpenedTask:
        """The submitter opens a task of the world's application on its platform (labels and
        clouds as inputs, ``params`` as the workflow's parameters); ``paid``: unlocked until funded."""
        from eotrust.roles.submitter.request import TaskRequest, open_task

        req = TaskRequest(
            application=self.application.id,
            platform=self.platform.id,
            inputs={"lulc": self.datasets["labels"].id, "cloud_mask": self.datasets["clouds"].id},
            params=params,
        )
        return open_task(self.backends, self.parties["submitter"], req, paid=paid)

    def answer_all(self, address: str) -> None:
        from eotrust.roles.owners.answer import answer_task

        for name in ("algorithm-owner", "platform-owner", "owner-a", "owner-b"):
            answer_task(self.backends, self.parties[name], address)

    def node(self, **kwargs: Any) -> PlatformNode:
        from eotrust.nodes.node import PlatformNode

        return PlatformNode(self.backends, self.parties["platform-owner"], PLATFORM, log=self.logs.append, **kwargs)

    def task(self, address: str) -> TaskClient:
        return self.backends.task(address)

    def state(self, address: str) -> str:
        return self.task(address).status().state.value


def make_parties(settings: Settings) -> tuple[Backends, dict[str, Any]]:
    """The five parties of the world (submitter, two data owners, the algorithm and the
    platform owner), each funded on the chain, and the backends built from ``settings``."""
    from eotrust.ledger.funding import fund_parties
    from eotrust.party import Role, create_party

    roles = {
        "submitter": Role.SUBMITTER,
        "owner-a": Role.DATA_OWNER,
        "owner-b": Role.DATA_OWNER,
        "algorithm-owner": Role.ALGORITHM_OWNER,
        "platform-owner": Role.PLATFORM_OWNER,
    }
    parties = {name: create_party(settings, name, role) for name, role in roles.items()}
    backends = Backends(settings)
    fund_parties(backends.chain, [p.account.address for p in parties.values()])
    return backends, parties


def make_world(settings: Settings) -> World:
    from eotrust.roles.algorithm_owner.applications import register_workflow_application
    from eotrust.roles.data_owner.holdings import register_dataset_file

    backends, parties = make_parties(settings)
    catalog, chain = backends.catalog, backends.chain
    datasets = {
        "clouds": register_dataset_file(backends, parties["owner-a"], SAMPLE / "cloud_mask.tif", title="clouds"),
        "labels": register_dataset_file(backends, parties["owner-b"], SAMPLE / "lulc.tif", title="labels"),
    }
    application = register_workflow_application(backends, parties["algorithm-owner"], TINY)
    platform = catalog.register(
        parties["platform-owner"],
        PlatformInfo(name=PLATFORM, age_recipient=parties["platform-owner"].card.age_recipient),
    )
    return World(backends, settings, catalog, chain, backends.store, parties, datasets, application, platform)


def flip_byte(store: Any, cid: str) -> tuple[Path, bytes]:
    """Flip one bit inside a stored object's bytes on disk (a LocalStore pack); return the
    file and its original bytes so a test can put it back."""
    path = store.object_path(cid)
    original = path.read_bytes()
    data = bytearray(original)
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    return path, original
