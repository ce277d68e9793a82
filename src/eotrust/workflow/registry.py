"""Published workflows: a workflow stored by CID under a name, with some parameters left open
(area of interest, dates, model CID) for a customer to fill in.

The registry is the store plus a small index under ``<home>/workflow/published`` (one JSON
file per name, written atomically). Applications in the catalogue point to the CID."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel

from eotrust.errors import NotFoundError, WorkflowError
from eotrust.limits import JSON_LIMITS, json_loads
from eotrust.names import check_name, is_name
from eotrust.settings import Settings
from eotrust.store.atomic import write_atomic
from eotrust.store.base import Store, read_at_most
from eotrust.workflow.engine import RunResult, run_workflow
from eotrust.workflow.spec import WorkflowSpec, load_workflow_cid, store_workflow


class ParamInfo(BaseModel):
    name: str
    type: str
    required: bool
    default: Any = None
    description: str = ""
    choices: list[Any] | None = None
    min: float | None = None
    max: float | None = None


class InputInfo(BaseModel):
    name: str
    type: str
    description: str = ""


class PublishedWorkflow(BaseModel):
    """What ``workflow describe`` shows: the name, CID, open and fixed parameters, inputs, outputs, steps."""

    name: str
    cid: str
    workflow: str
    description: str = ""
    published: float
    params: list[ParamInfo]
    inputs: list[InputInfo]
    outputs: list[str]
    steps: list[str]

    @property
    def open_params(self) -> list[ParamInfo]:
        return [p for p in self.params if p.required]


def _index(settings: Settings) -> Path:
    return settings.path("workflow", "published")


def _store(settings: Settings, store: Store | None) -> Store:
    if store is not None:
        return store
    from eotrust.store import open_store

    return open_store(settings)


def publish_workflow(
    settings: Settings, spec: WorkflowSpec, *, name: str | None = None, store: Store | None = None
) -> str:
    """Store the workflow and its services and list it under ``name`` (default: its own name); return its CID."""
    name = name or spec.name
    check_name(name, "published workflow name", WorkflowError)
    st = _store(settings, store)
    cid = store_workflow(st, spec)
    entry = {"name": name, "cid": cid, "workflow": spec.name, "description": spec.description, "published": time.time()}
    d = _index(settings)
    write_atomic(d / f"{name}.json", json.dumps(entry).encode())
    return cid


def _entry(settings: Settings, name: str) -> dict[str, Any]:
    if not is_name(name) or not (path := _index(settings) / f"{name}.json").is_file():
        known = ", ".join(e["name"] for e in _entries(settings)) or "none"
        raise NotFoundError(f"no published workflow named {name!r}", hint=f"published: {known}")
    return cast("dict[str, Any]", json_loads(path.read_text()))


def _entries(settings: Settings) -> list[dict[str, Any]]:
    out = []
    for p in sorted(_index(settings).glob("*.json")):
        try:
            out.append(json_loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return out


def _describe(entry: dict[str, Any], spec: WorkflowSpec) -> PublishedWorkflow:
    return PublishedWorkflow(
        name=entry["name"],
        cid=entry["cid"],
        workflow=spec.name,
        description=spec.description,
        published=entry["published"],
        params=[
            ParamInfo(
                name=k,
                type=v.type,
                required=v.required,
                default=v.default if v.has_default else None,
                description=v.description,
                choices=v.choices,
                min=v.min,
                max=v.max,
            )
            for k, v in spec.params.items()
        ],
        inputs=[InputInfo(name=k, type=v.type, description=v.description) for k, v in spec.inputs.items()],
        outputs=list(spec.outputs),
        steps=list(spec.order),
    )


def _describe_cwl(entry: dict[str, Any], st: Store) -> PublishedWorkflow:
    from eotrust.workflow.cwl_package import cwl_interface, main_process

    packed = read_at_most(st, entry["cid"], JSON_LIMITS.max_bytes, "CWL package")
    iface = cwl_interface(packed, name=entry["workflow"])
    schema = iface.parameters_schema
    main = main_process(json_loads(packed))
    steps = main.get("steps") or []
    names = (
        list(steps)
        if isinstance(steps, dict)
        else [str(s.get("id", "")).rsplit("/", 1)[-1].rsplit("#", 1)[-1] for s in steps]
    )
    return PublishedWorkflow(
        name=entry["name"],
        cid=entry["cid"],
        workflow=f"{iface.name} (CWL {iface.klass})",
        description=iface.description,
        published=entry["published"],
        params=[
            ParamInfo(
                name=k,
                type=str(v.get("type", "json")),
                required=k in schema["required"],
                default=v.get("default"),
                description=str(v.get("description", "")),
                choices=v.get("enum"),
            )
            for k, v in schema["properties"].items()
        ],
        inputs=[InputInfo(name=k, type=v) for k, v in iface.data_inputs.items()],
        outputs=list(iface.outputs),
        steps=names or [iface.name],
    )


def _describe_any(entry: dict[str, Any], st: Store) -> PublishedWorkflow:
    if entry.get("kind") == "cwl":
        return _describe_cwl(entry, st)
    return _describe(entry, load_workflow_cid(entry["cid"], st))


def list_published(settings: Settings, *, store: Store | None = None) -> list[PublishedWorkflow]:
    st = _store(settings, store)
    return [_describe_any(e, st) for e in _entries(settings)]


def describe_published(settings: Settings, name: str, *, store: Store | None = None) -> PublishedWorkflow:
    return _describe_any(_entry(settings, name), _store(settings, store))


def published_cwl(settings: Settings, name: str) -> str | None:
    """The package CID when ``name`` is a published CWL document; None for any other name."""
    if not is_name(name) or not (_index(settings) / f"{name}.json").is_file():
        return None
    entry = _entry(settings, name)
    return str(entry["cid"]) if entry.get("kind") == "cwl" else None


def published_spec(settings: Settings, name: str, *, store: Store | None = None) -> tuple[str, WorkflowSpec]:
    entry = _entry(settings, name)
    if entry.get("kind") == "cwl":
        raise WorkflowError(
            f"{name!r} is a published CWL document, not an eotrust workflow",
            hint=f"run it with `eotrust workflow run {name}`",
        )
    return entry["cid"], load_workflow_cid(entry["cid"], _store(settings, store))


def resolve_workflow(settings: Settings, ref: str | Path, *, store: Store) -> WorkflowSpec:
    """The one resolver of workflow references: a workflow file, YAML text, a stored workflow
    CID, or the name of a workflow published here."""
    from eotrust.workflow.spec import CID_LIKE, load_workflow

    text = str(ref)
    is_text = "\n" in text or len(text) >= 4096  # YAML text, never a path or a name
    if (
        isinstance(ref, Path)
        or is_text
        or CID_LIKE.match(text.strip())
        or text.endswith((".yaml", ".yml", ".json"))
        or Path(text).exists()
    ):
        return load_workflow(ref, store=store)
    return published_spec(settings, text, store=store)[1]


def run_published(
    settings: Settings,
    name: str,
    inputs: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> RunResult:
    """Run a published workflow with its open parameters filled in (see run_workflow for kwargs)."""
    store = _store(settings, kwargs.pop("store", None))
    _, spec = published_spec(settings, name, store=store)
    return run_workflow(settings, spec, inputs, params, store=store, **kwargs)


def publish_cwl(settings: Settings, path: Path, *, name: str | None = None, store: Store | None = None) -> str:
    """Measure, pack and store a CWL document (CommandLineTool or Workflow) and list it under
    ``name`` (default: the file's stem); return the package's CID. It runs through cwltool."""
    from eotrust.store.atomic import write_atomic
    from eotrust.workflow.cwl_documents import pack_checked
    from eotrust.workflow.cwl_package import cwl_interface

    packed = pack_checked(path)
    iface = cwl_interface(packed, name=path.stem)
    name = name or iface.name
    check_name(name, "published workflow name", WorkflowError)
    cid = _store(settings, store).put_bytes(packed)
    entry = {
        "name": name,
        "cid": cid,
        "workflow": iface.name,
        "description": iface.description,
        "published": time.time(),
        "kind": "cwl",
    }
    write_atomic(_index(settings) / f"{name}.json", json.dumps(entry).encode())
    return cid
