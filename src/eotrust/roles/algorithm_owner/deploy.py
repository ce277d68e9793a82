"""Deploying application packages (OGC API - Processes - Part 2): an algorithm owner hands
over a CWL document or an eotrust workflow; it is stored by CID, registered as an application
record signed by the owner, and deployed as ``process:version`` with a visibility. Replacing
deploys a new record under the same id; undeploying leaves the record and the package in the
catalogue and the store (a run made with them stays verifiable)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

import yaml

from eotrust.catalog.deployments import PUBLIC, Deployment, Deployments
from eotrust.catalog.entries import ApplicationInfo, Kind, Record
from eotrust.catalog.service import Catalog
from eotrust.errors import InvalidInputError, NotFoundError, PermissionDeniedError, StateError
from eotrust.limits import json_loads
from eotrust.party import Party, Role
from eotrust.store.base import Store

PROCESS_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
VERSION = re.compile(r"^[A-Za-z0-9_.+-]{1,50}$")


class DuplicateProcess(StateError):
    """A process with this id and version is already deployed (OGC API - Processes Part 2's
    exception type)."""

    ogc_type = "http://www.opengis.net/def/exceptions/ogcapi-processes-2/1.0/duplicated-process"


@dataclass(frozen=True)
class PackageRequest:
    """What an owner deploys: the package bytes and its form, the id, version and visibility."""

    package: bytes
    format: str  # "cwl" | "eotrust"
    process: str | None = None
    version: str | None = None
    visibility: tuple[str, ...] = (PUBLIC,)
    title: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()


def parse_package_request(
    body: bytes,
    content_type: str,
    *,
    process: str | None = None,
    version: str | None = None,
    visibility: list[str] | None = None,
) -> PackageRequest:
    """A PackageRequest from an HTTP body: raw CWL (YAML or JSON), raw eotrust workflow YAML,
    or an OGC application package ``{processDescription, executionUnit: [{unit: CWL}]}``."""
    from eotrust.workflow.cwl_package import looks_like_cwl

    ctype = content_type.split(";")[0].strip().lower()
    if not body.strip():
        raise InvalidInputError(
            "the deploy request has no body", hint="send a CWL document or an OGC application package"
        )
    doc: Any = None
    if ctype == "application/json":
        try:
            doc = json_loads(body)
        except ValueError as exc:
            raise InvalidInputError(f"the deploy request is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or ("executionUnit" not in doc and "cwlVersion" not in doc):
            raise InvalidInputError(
                "an application package needs 'processDescription' and 'executionUnit'",
                hint="or send the CWL document itself as application/cwl+yaml",
            )
    if isinstance(doc, dict) and "executionUnit" in doc:
        desc = doc.get("processDescription") or {}
        if isinstance(desc, dict) and isinstance(desc.get("process"), dict):  # the OGC 1.0 draft nests it once more
            desc = desc["process"]
        units = doc["executionUnit"]
        unit = units[0] if isinstance(units, list) and units else units
        cwl = unit.get("unit") if isinstance(unit, dict) else None
        if not isinstance(cwl, dict):
            raise InvalidInputError(
                "executionUnit must hold the CWL document inline as {'unit': {...}}",
                hint="this server fetches no package by href",
            )
        if not isinstance(desc, dict):
            desc = {}
        vis = doc.get("visibility", desc.get("visibility"))
        keywords = desc.get("keywords", [])
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            raise InvalidInputError("processDescription.keywords must be a list of strings")
        return _checked(
            PackageRequest(
                package=json.dumps(cwl).encode(),
                format="cwl",
                process=process or _text(desc, "id"),
                version=version or _text(desc, "version"),
                visibility=tuple(_visibility(vis if visibility is None else visibility)),
                title=_text(desc, "title") or "",
                description=_text(desc, "description") or "",
                keywords=tuple(keywords),
            )
        )
    fmt = "cwl" if looks_like_cwl(body) else "eotrust"
    return _checked(
        PackageRequest(
            package=body, format=fmt, process=process, version=version, visibility=tuple(_visibility(visibility))
        )
    )


def _text(desc: dict[str, Any], key: str) -> str | None:
    """A text field of a process description (a version may be a number); None when absent."""
    value = desc.get(key)
    if value is None or value == "":
        return None
    if key == "version" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InvalidInputError(f"processDescription.{key} must be a string, not {type(value).__name__}")
    return value


def _visibility(value: Any) -> list[str]:
    if value is None:
        return [PUBLIC]
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidInputError("visibility is 'public' or a list of party names")
    return sorted(set(value))


def _checked(req: PackageRequest) -> PackageRequest:
    if req.process is not None and not PROCESS_ID.match(req.process):
        raise InvalidInputError(f"process id {req.process!r} is not 1-100 letters, digits, '_', '.', '-'")
    if req.version is not None and not VERSION.match(req.version):
        raise InvalidInputError(f"version {req.version!r} is not 1-50 letters, digits, '_', '.', '+', '-'")
    for name in req.visibility:
        if name != PUBLIC and not PROCESS_ID.match(name):
            raise InvalidInputError(f"visibility entry {name!r} is not a party name")
    return req


def _application_info(req: PackageRequest, store: Store) -> ApplicationInfo:
    if req.format == "cwl":
        from eotrust.workflow.cwl_package import cwl_interface, pack_cwl_text

        packed = pack_cwl_text(req.package)
        cid = store.put_bytes(packed)
        iface = cwl_interface(packed)
        name = req.process or iface.name
        return ApplicationInfo(
            name=name,
            version=req.version or "1.0.0",
            workflow_cid=cid,
            description=req.description or iface.description or req.title,
            inputs=sorted(iface.data_inputs),
            outputs=sorted(iface.outputs),
            parameters_schema=iface.parameters_schema,
            keywords=sorted(set(req.keywords) | {"cwl"}),
        )
    from eotrust.limits import YAML_LIMITS, check_yaml
    from eotrust.roles.algorithm_owner.applications import parameters_schema
    from eotrust.workflow import load_workflow
    from eotrust.workflow.spec import store_workflow

    try:
        text = req.package.decode("utf-8")
        # depth, aliases and expanded size measured before it is parsed (its size is the body's limit)
        check_yaml(text, replace(YAML_LIMITS, max_bytes=len(req.package)), what="the package")
        yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInputError(
            f"the package is neither CWL nor an eotrust workflow: {str(exc).splitlines()[0]}"
        ) from None
    spec = load_workflow(text, store=store)
    # stored by CID only: a deployment names no entry of the server home's published workflows
    # (an unsigned index that anyone's deploy, refused or not, would otherwise repoint)
    cid = store_workflow(store, spec)
    return ApplicationInfo(
        name=req.process or spec.name,
        version=req.version or spec.version or "1.0.0",
        workflow_cid=cid,
        description=req.description or spec.description,
        inputs=sorted(spec.inputs),
        outputs=sorted(spec.outputs),
        parameters_schema=parameters_schema(spec),
        keywords=sorted(set(req.keywords)),
    )


def _check_owner_role(party: Party) -> None:
    if party.role is not Role.ALGORITHM_OWNER:
        raise PermissionDeniedError(
            f"only an algorithm owner may deploy processes; {party.name} is a {party.role.value}",
            hint="use the API key of an algorithm-owner party",
        )


def deploy(
    party: Party,
    req: PackageRequest,
    *,
    catalog: Catalog,
    deployments: Deployments,
    store: Store,
    replace: str | None = None,
) -> tuple[Record[ApplicationInfo], Deployment]:
    """Store, register (signed by ``party``) and deploy a package. ``replace``: the process id
    a PUT names; then the party must own it, and the same version is replaced."""
    _check_owner_role(party)
    info = _application_info(req, store)
    if replace is not None:
        if info.name != replace:
            info = info.model_copy(update={"name": replace})
        mine = list(deployments.history(replace))
        if not mine:
            raise NotFoundError(f"no deployed process {replace!r} to replace", hint="POST /processes deploys a new one")
        if any(d.owner.lower() != party.address.lower() for d in mine):
            raise PermissionDeniedError(
                f"process {replace!r} belongs to {mine[0].owner}; only its owner may replace it"
            )
    else:
        current = deployments.current().get((info.name, info.version))
        if current is not None and current.status == "deployed":
            raise DuplicateProcess(
                f"process {info.name}:{info.version} is already deployed",
                hint=f"PUT /processes/{info.name} replaces it, or deploy another version",
            )
        taken = [d for d in deployments.history(info.name) if d.owner.lower() != party.address.lower()]
        legacy = [
            r
            for r in catalog.list(Kind.APPLICATION)
            if r.body.name == info.name and r.owner.lower() != party.address.lower()
        ]
        if taken or legacy:
            raise PermissionDeniedError(f"process id {info.name!r} belongs to another owner", hint="choose another id")
    record = catalog.register(party, info)
    dep = deployments.record(party, record.id, info.name, info.version, visibility=list(req.visibility))
    return record, dep


def undeploy(party: Party, process: str, *, deployments: Deployments) -> list[Deployment]:
    """Undeploy ``process`` (every version) or ``process:version``; only its owner may."""
    name, _, version = process.partition(":")
    current = [
        d
        for (p, v), d in deployments.current().items()
        if p == name
        and (not version or v == version)
        and d.status == "deployed"
        # a version hidden from the caller does not exist for it: a 403 naming its owner said it did
        and (d.owner.lower() == party.address.lower() or d.visible_to(party.name))
    ]
    if not current:
        raise NotFoundError(f"no deployed process {process!r}", hint="GET /processes lists them")
    for dep in current:
        if dep.owner.lower() != party.address.lower():
            raise PermissionDeniedError(f"process {process!r} belongs to {dep.owner}; only its owner may undeploy it")
    return [
        deployments.record(
            party, d.application, d.process, d.version, visibility=list(d.visibility), status="undeployed"
        )
        for d in current
    ]
