"""Steps 1–2 of the flow, the submitter's part: choose an application, input datasets and a
platform in the catalogue, open the task contract with a key for the outputs, lock it.

The contract holds only ids, owners and keys; which dataset feeds which workflow input and
the run's parameters travel in the submitter's signed catalogue record of the task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from eotrust.backends import Backends
from eotrust.catalog.entries import (
    PLAIN_NAME_PATTERN,
    ApplicationInfo,
    DatasetInfo,
    Kind,
    PlatformInfo,
    Record,
    TaskInfo,
)
from eotrust.catalog.service import Catalog
from eotrust.errors import InvalidInputError
from eotrust.party import Party


@dataclass(frozen=True)
class TaskRequest:
    """What a submitter asks for. Names or record ids both work for each reference."""

    application: str
    platform: str
    inputs: dict[str, str]  # workflow input name -> dataset record id or title
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenedTask:
    address: str
    record: Record[TaskInfo]
    application: Record[ApplicationInfo]
    platform: Record[PlatformInfo]
    datasets: dict[str, Record[DatasetInfo]]


def resolve(
    catalog: Catalog, request: TaskRequest
) -> tuple[Record[ApplicationInfo], Record[PlatformInfo], dict[str, Record[DatasetInfo]]]:
    """The checked catalogue records a request names; a clear error for anything wrong."""
    application = catalog.find(request.application, Kind.APPLICATION)
    platform = catalog.find(request.platform, Kind.PLATFORM)
    app = application.body
    if not request.inputs:
        raise InvalidInputError("a task needs at least one input dataset", hint="pass --input NAME=DATASET")
    for name in request.inputs:  # before anything is made: the platform names files after them
        if not re.fullmatch(PLAIN_NAME_PATTERN, name):
            raise InvalidInputError(
                f"input name {name[:80]!r} is not a plain name",
                hint="a letter or _, then up to 99 letters, digits, _ or - (the application's input names)",
            )
    if app.inputs and set(request.inputs) != set(app.inputs):
        raise InvalidInputError(
            f"application {app.name} takes inputs {sorted(app.inputs)}; the request gives {sorted(request.inputs)}",
            hint="give one dataset for each input of the application",
        )
    datasets = {name: catalog.find(ref, Kind.DATASET) for name, ref in request.inputs.items()}
    if app.parameters_schema:
        import jsonschema

        try:
            jsonschema.validate(request.params, app.parameters_schema)
        except jsonschema.ValidationError as exc:
            where = ".".join(str(p) for p in exc.absolute_path) or "parameters"
            raise InvalidInputError(
                f"{where}: {exc.message}", hint=f"see `eotrust catalog show {application.id}`"
            ) from None
    return application, platform, datasets


def open_task(backends: Backends, submitter: Party, request: TaskRequest, *, paid: bool = False) -> OpenedTask:
    """Create the task contract, name every request, give the results key, lock it.

    A ``paid`` task is left unlocked: the platform quotes it and the submitter's funding of the
    escrow locks it (``eotrust.market.service.fund_task``)."""
    catalog = backends.catalog
    application, platform, datasets = resolve(catalog, request)
    recipient = submitter.card.age_recipient
    task = backends.factory.create_task(
        submitter.account,
        results_recipient=recipient,
        application_id=application.id,
        application_owner=application.owner,
        platform_id=platform.id,
        platform_owner=platform.owner,
        paid=paid,
    )
    task.add_requests(submitter.account, [(datasets[name].id, datasets[name].owner) for name in sorted(datasets)])
    info = TaskInfo(
        address=task.address,
        application_id=application.id,
        platform_id=platform.id,
        inputs={name: rec.id for name, rec in datasets.items()},
        params=dict(request.params),
        results_recipient=recipient,
        chain=backends.chain.key,  # a fresh dev chain gives its tasks a previous chain's addresses
    )
    record = catalog.register(submitter, info)
    if not paid:
        task.lock(submitter.account)
    return OpenedTask(
        address=task.address, record=record, application=application, platform=platform, datasets=datasets
    )
