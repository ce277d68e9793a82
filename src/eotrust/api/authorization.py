"""Who may read or use which object: decided here, once, for every route that returns or acts
on an object by CID (``GET /store/{cid}``, ``POST /models/{cid}/predict``,
``POST /render/prediction?model=``).

Every CID is compared in one normal form (:func:`eotrust.cid.normal_cid`), so a CIDv1 and the
CIDv0 of the same DAG are one object. The rules, in the order they are checked:

- a task result: only the task's submitter;
- a registered dataset: its plaintext only to its owner;
- a registered model package: its bytes only to its owner, and only with a key whose scopes
  include it (a key's scopes are honoured on every route, not only on ``/predict``);
- the workflow package of a process deployed for named parties only: its owner and those
  parties (a package another visible application record of the same owner names stays
  readable; one of another owner's does not open it);
- anything else (workflows, services, encrypted inputs): any authenticated party.

Using a model (scoring, rendering) needs a key whose scopes include it, and the model must be
registered: an arbitrary object of the store is never loaded as a model."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from eotrust.api.auth import Caller, ensure_is, same_address
from eotrust.catalog.api_keys import scopes_allow
from eotrust.cid import normal_cid
from eotrust.errors import InvalidInputError, PermissionDeniedError

if TYPE_CHECKING:
    from eotrust.api.state import ServerState
    from eotrust.catalog.entries import ApplicationInfo, Body, Record
    from eotrust.ml.registry import ModelEntry


def object_cid(cid: str) -> str:
    """The normal form of a CID from a request; 400 for anything that is not an eotrust CID."""
    normal = normal_cid(cid)
    if normal is None:
        from eotrust.cid import validate_cid

        validate_cid(cid)  # raises the precise InvalidInputError
        raise InvalidInputError(f"{cid!r} is not a CID")
    return normal


def _model_entry(state: ServerState, cid: str) -> ModelEntry | None:
    """The registered model package with this (normal) CID, if any."""
    for entry in state.models():
        if normal_cid(entry.cid) == cid:
            return entry
    return None


def authorize_read(state: ServerState, caller: Caller, cid: str) -> str:
    """Refuse (403) a download ``caller`` may not make; return the CID's normal form. Called
    before the store is asked whether it holds the object: no one learns what exists that they
    may not read."""
    from eotrust.catalog.entries import Kind

    cid = object_cid(cid)
    catalog = state.catalog
    for rec in catalog.results():
        if normal_cid(rec.body.cid) == cid:
            # the contract's submitter: anyone may sign a catalogue record naming the task
            ensure_is(caller, state.task(rec.body.task).status().submitter, f"the submitter of task {rec.body.task}")
    for dataset in catalog.list(Kind.DATASET):
        if normal_cid(dataset.body.cid) == cid:
            ensure_is(caller, dataset.owner, f"the owner of dataset {dataset.id}")
    packaged = [r for r in catalog.list(Kind.APPLICATION) if normal_cid(r.body.workflow_cid) == cid]
    # hidden from the caller by its owners' deployments; only a record of one of those owners
    # opens it again: anyone may sign a record naming any CID, and one of another owner's (no
    # deployment statement: public) gave a package deployed for named parties to every party
    hiders = {rec.owner.lower() for rec in packaged if not _sees_application(state, caller, rec)}
    if hiders and not any(rec.owner.lower() in hiders and _sees_application(state, caller, rec) for rec in packaged):
        raise PermissionDeniedError(
            f"workflow {cid} is the package of a process deployed for named parties only; "
            f"{caller.party} is not one of them"
        )
    entry = _model_entry(state, cid)
    if entry is not None:
        if not scopes_allow(caller.scopes, entry.cid, entry.name):
            raise PermissionDeniedError(f"API key {caller.key_id} is not scoped to model {entry.name} ({entry.cid})")
        if not same_address(caller.address, entry.owner):
            raise PermissionDeniedError(
                f"only the owner of model package {entry.name} ({entry.owner}) downloads it; "
                f"this API key acts as {caller.party} ({caller.address})",
                hint=f"score it with POST /models/{entry.cid}/predict instead",
            )
    return cid


def _sees_application(state: ServerState, caller: Caller, rec: Record[ApplicationInfo]) -> bool:
    """Whether ``caller`` may read the package of application ``rec``: its owner, anyone when
    it was registered from the CLI (no deployment statement) or deployed for everyone, else
    the parties its deployment names."""
    if same_address(caller.address, rec.owner):
        return True
    dep = state.deployments.current().get((rec.body.name, rec.body.version))
    return dep is None or dep.application != rec.id or dep.visible_to(caller.party)


def authorize_model_use(state: ServerState, key_id: str, scopes: Iterable[str], ref: str) -> ModelEntry:
    """The registered model package ``ref`` (404 if none), if a key with ``scopes`` may use
    it (403 otherwise)."""
    normal = normal_cid(ref)
    entry = _model_entry(state, normal) if normal else state.registry.get(ref)
    if entry is None:
        from eotrust.errors import NotFoundError

        raise NotFoundError(f"no registered model package has CID {ref}", hint="GET /stac/collections/models/items")
    if not scopes_allow(scopes, entry.cid, entry.name):
        raise PermissionDeniedError(f"API key {key_id} is not scoped to model {entry.name} ({entry.cid})")
    return entry


def authorize_registration(state: ServerState, caller: Caller, body: Body) -> None:
    """Refuse (403) a catalogue registration outside the caller's role (a dataset by a data
    owner, an application by an algorithm owner, a platform by a platform owner), and (409) a
    dataset whose CID another party registered already (which would make its owner's data
    unreadable to its owner, or claim it)."""
    from eotrust.catalog.entries import ApplicationInfo, DatasetInfo, Kind, PlatformInfo
    from eotrust.errors import StateError

    registrar = {DatasetInfo: "data-owner", ApplicationInfo: "algorithm-owner", PlatformInfo: "platform-owner"}
    kind = type(body).__name__.removesuffix("Info").lower()
    wanted = registrar.get(type(body))
    if wanted is None or caller.role != wanted:
        raise PermissionDeniedError(f"{caller.party} is a {caller.role}; only a {wanted} registers a {kind}")
    if isinstance(body, DatasetInfo):
        cid = object_cid(body.cid)
        for rec in state.catalog.list(Kind.DATASET):
            if normal_cid(rec.body.cid) == cid and not same_address(rec.owner, caller.address):
                raise StateError(f"dataset {body.cid} is registered already by another party ({rec.owner})")
