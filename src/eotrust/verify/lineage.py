"""The lineage of a task: what the contract, the signed catalogue records and the store say
made its results — read once, here, for everyone who shows or checks it.

``eotrust verify`` turns a :class:`Lineage` into checks (``verifier.py``); the server's
``/tasks/{address}/provenance`` and the web page draw it as a graph (:meth:`Lineage.graph`).
Every catalogue record is read checked (fields, id, signature); one that cannot be read is kept
as the one-line reason (``Read.error``), never as a half-believed record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from eotrust.backends import Backends
from eotrust.catalog.entries import ApplicationInfo, Body, DatasetInfo, Kind, PlatformInfo, Record, ResultInfo, TaskInfo
from eotrust.errors import EotrustError
from eotrust.ledger import RequestStatus, TaskSnapshot
from eotrust.nodes.runner import RUN_RECORD  # the result name under which a platform records its run record

B = TypeVar("B", bound=Body)


@dataclass(frozen=True)
class Read(Generic[B]):
    """A catalogue record read checked (its body typed); or why it could not be."""

    record: Record[B] | None = None
    error: str | None = None

    @property
    def body(self) -> B | None:
        return self.record.body if self.record is not None else None


def _read(fetch: Callable[[], Record[B]]) -> Read[B]:
    """The record ``fetch`` reads (a getter of one kind: the body type is the kind's)."""
    try:
        return Read(fetch())
    except EotrustError as exc:
        return Read(error=exc.message)


@dataclass(frozen=True)
class InputLineage:
    """One resource request of the task: the dataset it names and what its owner stored."""

    index: int
    name: str  # the workflow input (``#index`` when the task record does not name it)
    dataset_id: str  # the catalogue record id the contract names
    owner: str  # the request's owner on the contract
    status: RequestStatus
    stored_cid: str | None  # the encrypted input the owner acknowledged with
    named_by_task: bool  # whether the submitter's task record names this dataset
    dataset: Read[DatasetInfo]


@dataclass
class Lineage:
    """Everything that made the results of the task at ``address``."""

    address: str
    snapshot: TaskSnapshot
    task: Read[TaskInfo]
    application: Read[ApplicationInfo] = field(default_factory=Read)
    platform: Read[PlatformInfo] = field(default_factory=Read)
    inputs: list[InputLineage] = field(default_factory=list)
    results: dict[str, ResultInfo] = field(default_factory=dict)  # ciphertext CID -> the platform's signed record
    results_error: str | None = None

    @property
    def run_cid(self) -> str | None:
        """The run record the platform recorded as a result (its CID on the contract)."""
        for cid in self.snapshot.result_cids:
            result = self.results.get(cid)
            if result is not None and result.name == RUN_RECORD:
                return cid
        return None

    def graph(self) -> dict[str, Any]:
        """Inputs → run → results as ``{"nodes": [...], "edges": [(from, to), ...]}``: each
        dataset (its plaintext CID) and the ciphertext its owner stored for the platform, the
        run (its run record's CID), each result but the run record."""
        snap = self.snapshot
        app = self.application.body
        nodes: list[dict[str, Any]] = [
            {
                "id": "run",
                "kind": "run",
                "cid": self.run_cid,
                "label": f"run of {app.name if app else 'application'} ({snap.state.value})",
            }
        ]
        edges: list[tuple[str, str]] = []
        for item in self.inputs:
            ds = item.dataset.body
            nid = f"in:{item.name}"
            nodes.append(
                {
                    "id": nid,
                    "kind": "input",
                    "label": f"{item.name}: {ds.title if ds else item.dataset_id}",
                    "cid": ds.cid if ds else None,
                }
            )
            if item.stored_cid:
                eid = f"enc:{item.name}"
                nodes.append(
                    {
                        "id": eid,
                        "kind": "stored",
                        "label": f"{item.name} encrypted for the platform",
                        "cid": item.stored_cid,
                    }
                )
                edges += [(nid, eid), (eid, "run")]
            else:
                edges.append((nid, "run"))
        for i, cid in enumerate(snap.result_cids):
            result = self.results.get(cid)
            if result is not None and result.name == RUN_RECORD:
                continue  # the run record describes the run node itself (its CID is on that node)
            nodes.append(
                {"id": f"out:{i}", "kind": "result", "label": result.name if result else f"result {i}", "cid": cid}
            )
            edges.append(("run", f"out:{i}"))
        return {"nodes": nodes, "edges": edges}


def lineage(backends: Backends, address: str, snapshot: TaskSnapshot | None = None) -> Lineage:
    """Read the lineage of the task at ``address`` (its ``snapshot`` when the caller has it)."""
    catalog = backends.catalog
    snap = snapshot if snapshot is not None else backends.task(address).status()
    chain = backends.chain.key  # a fresh dev chain gives its tasks a previous chain's addresses
    task = _read(lambda: catalog.task(address, submitter=snap.submitter, chain=chain))
    found = Lineage(address=address, snapshot=snap, task=task)
    info = task.body
    if info is not None:
        application_id, platform_id = info.application_id, info.platform_id
        found.application = _read(lambda: catalog.get(application_id, Kind.APPLICATION))
        found.platform = _read(lambda: catalog.get(platform_id, Kind.PLATFORM))
    by_id = {dataset_id: name for name, dataset_id in (info.inputs.items() if info else ())}
    for request in snap.requests:
        dataset_id = request.dataset_record

        def fetch(record_id: str = dataset_id) -> Record[DatasetInfo]:
            return catalog.get(record_id, Kind.DATASET)

        found.inputs.append(
            InputLineage(
                index=request.index,
                name=by_id.get(dataset_id, f"#{request.index}"),
                dataset_id=dataset_id,
                owner=request.owner,
                status=request.status,
                stored_cid=request.input_cid,
                named_by_task=dataset_id in by_id,
                dataset=_read(fetch),
            )
        )
    try:
        found.results.update(catalog.results_of(address, platform_owner=snap.platform_owner, chain=chain))
    except EotrustError as exc:
        found.results_error = exc.message
    return found
