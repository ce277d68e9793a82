"""The algorithm owner's part of the catalogue: a workflow published to the store and
registered as an application (its CID, its inputs and outputs, a JSON Schema of its parameters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eotrust.backends import Backends
from eotrust.catalog.entries import ApplicationInfo, Record
from eotrust.party import Party
from eotrust.workflow.spec import WorkflowSpec

_JSON_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "json": {},
    "str[]": {"type": "array", "items": {"type": "string"}},
    "int[]": {"type": "array", "items": {"type": "integer"}},
    "float[]": {"type": "array", "items": {"type": "number"}},
}


def parameters_schema(spec: WorkflowSpec) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of a workflow's parameters."""
    properties: dict[str, Any] = {}
    for name, p in spec.params.items():
        prop = dict(_JSON_TYPES.get(p.type, {}))
        if p.description:
            prop["description"] = p.description
        if p.has_default:
            prop["default"] = p.default
        if p.min is not None:
            prop["minimum"] = p.min
        if p.max is not None:
            prop["maximum"] = p.max
        if p.choices:
            prop["enum"] = list(p.choices)
        if p.pattern:
            prop["pattern"] = p.pattern
        properties[name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": sorted(spec.open_params()),
        "additionalProperties": False,
    }


def register_workflow_application(
    backends: Backends,
    party: Party,
    workflow: str | Path,
    *,
    name: str | None = None,
    version: str = "0.1.0",
    description: str = "",
    keywords: list[str] | None = None,
) -> Record[ApplicationInfo]:
    """Publish ``workflow`` (a YAML file, YAML text, a stored CID or a published name — see
    ``resolve_workflow`` — or a CWL document: a ``.cwl`` file, packed and stored, or a stored
    CWL package's CID, which platforms run with cwltool) and register it, signed."""
    from eotrust.workflow import publish_workflow
    from eotrust.workflow.registry import resolve_workflow

    store = backends.store
    packed: bytes | None = None
    if isinstance(workflow, (str, Path)) and str(workflow).endswith(".cwl") and Path(workflow).is_file():
        from eotrust.workflow.cwl_documents import pack_checked

        packed = pack_checked(Path(workflow))  # measured (size, depth, imports inside its folder), then packed
    elif isinstance(workflow, str):
        from eotrust.workflow.cwl_documents import package_bytes

        packed = package_bytes(store, workflow)  # the CID of a stored CWL package
    if packed is not None:
        from eotrust.workflow.cwl_package import cwl_interface

        iface = cwl_interface(packed, name=Path(workflow).stem if str(workflow).endswith(".cwl") else None)
        cwl_info = ApplicationInfo(
            name=name or iface.name,
            version=version,
            workflow_cid=store.put_bytes(packed),
            description=description or iface.description,
            inputs=sorted(iface.data_inputs),
            outputs=sorted(iface.outputs),
            parameters_schema=iface.parameters_schema,
            keywords=sorted(set(keywords or []) | {"cwl"}),
        )
        return backends.catalog.register(party, cwl_info)
    spec = resolve_workflow(backends.settings, workflow, store=store)
    cid = publish_workflow(backends.settings, spec, store=store)
    info = ApplicationInfo(
        name=name or spec.name,
        version=version,
        workflow_cid=cid,
        description=description or spec.description,
        inputs=sorted(spec.inputs),
        outputs=sorted(spec.outputs),
        parameters_schema=parameters_schema(spec),
        keywords=keywords or [],
    )
    return backends.catalog.register(party, info)
