"""CWL application packages in the store: one packed (self-contained) CWL document by CID.

An algorithm owner's CWL file and every file it refers to (``run:`` steps, ``$import``) are
packed by cwltool into one JSON document, stored by CID; that CID is what an application
record names. :func:`cwl_interface` reads the package's inputs (File → data input, the rest
→ parameters with a JSON Schema) and outputs, and :func:`run_cwl_package` runs it on input CIDs
and parameters with :func:`eotrust.workflow.cwl_runner.run_cwl`."""

from __future__ import annotations

import io
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eotrust.cid import canonical_json
from eotrust.errors import WorkflowError
from eotrust.limits import JSON_LIMITS, json_loads
from eotrust.settings import Settings
from eotrust.store.base import Store, read_at_most
from eotrust.workflow.cwl_runner import CwlOptions, CwlRunResult, run_cwl, standard_schemas_kept
from eotrust.workflow.errors import Problem, WorkflowValidationError

CWL_SUFFIXES = (".cwl",)
_JSON_OF = {
    "string": "string",
    "int": "integer",
    "long": "integer",
    "float": "number",
    "double": "number",
    "boolean": "boolean",
}


def looks_like_cwl(data: bytes | str) -> bool:
    """Whether a document (YAML or JSON text) is CWL: it declares ``cwlVersion``."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    head = text[:20000]
    return "cwlVersion" in head


def pack_cwl(path: Path) -> bytes:
    """The CWL document at ``path`` and everything it refers to, packed into one JSON document
    (cwltool --pack), measured first (:func:`~eotrust.workflow.cwl.check_cwl`);
    WorkflowValidationError if it is too big or deep, imports from outside its folder, or
    cwltool cannot load it."""
    from cwltool.argparser import arg_parser
    from cwltool.context import LoadingContext
    from cwltool.main import main as cwltool_main

    from eotrust.workflow.cwl import check_cwl
    from eotrust.workflow.cwl_confine import confined_fetcher

    check_cwl(path)  # the file itself, size, depth, aliases, imports inside its folder: before cwltool reads it
    out, log = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(log)
    args = arg_parser().parse_args(["--pack", str(path)])
    loading = LoadingContext(vars(args))
    loading.fetcher_constructor = confined_fetcher([path.resolve().parent])  # its folder; no URL
    code = cwltool_main(
        args=args,
        stdout=out,
        stderr=log,
        logger_handler=handler,
        loadingContext=loading,
        custom_schema_callback=standard_schemas_kept(),
    )
    if code != 0 or not out.getvalue().strip():
        lines = [ln for ln in log.getvalue().splitlines() if ln.strip()]
        raise WorkflowValidationError(
            [Problem(f"invalid CWL: {lines[-1].strip() if lines else 'cwltool cannot pack it'}", None, str(path))]
        )
    doc = json_loads(out.getvalue())
    return canonical_json(doc)


def pack_cwl_text(text: bytes, name: str = "package.cwl") -> bytes:
    """Pack CWL given as text (an HTTP body): written to a scratch file first."""
    with tempfile.TemporaryDirectory(prefix="eotrust-cwl-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(text)
        return pack_cwl(path)


@dataclass
class CwlInterface:
    """What a package takes and gives: data inputs (File), parameters (JSON Schema), outputs."""

    name: str
    description: str
    klass: str
    data_inputs: dict[str, str] = field(default_factory=dict)  # name -> file | file[]
    parameters_schema: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)


def _main(doc: dict[str, Any]) -> dict[str, Any]:
    if "$graph" in doc:
        graph: list[dict[str, Any]] = doc["$graph"]
        for proc in graph:
            if str(proc.get("id", "")).lstrip("#") == "main":
                return proc
        return graph[0]
    return doc


def main_process(doc: dict[str, Any]) -> dict[str, Any]:
    """The process a packed document runs: ``#main`` of its ``$graph``, or the document."""
    return _main(doc)


def _short(ident: str) -> str:
    return ident.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _items(decl: Any) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(decl, dict):
        return [(k, v if isinstance(v, dict) else {"type": v}) for k, v in decl.items()]
    return [(_short(str(d.get("id", ""))), d) for d in decl or []]


def _schema(type_: Any) -> tuple[dict[str, Any], bool]:
    """(JSON schema, optional?) of a CWL type."""
    if isinstance(type_, list):
        rest = [t for t in type_ if t != "null"]
        schema, _ = _schema(rest[0]) if len(rest) == 1 else ({}, False)
        return schema, len(rest) != len(type_)
    if isinstance(type_, str):
        optional = type_.endswith("?")
        base = type_.rstrip("?")
        if base.endswith("[]"):
            inner, _ = _schema(base[:-2])
            return {"type": "array", "items": inner}, optional
        return ({"type": _JSON_OF[base]} if base in _JSON_OF else {}), optional
    if isinstance(type_, dict) and type_.get("type") == "array":
        inner, _ = _schema(type_.get("items"))
        return {"type": "array", "items": inner}, False
    if isinstance(type_, dict) and type_.get("type") == "enum":
        return {"enum": [_short(str(s)) for s in type_.get("symbols", [])]}, False
    return {}, False


def _is_file(type_: Any) -> str | None:
    if isinstance(type_, list):
        rest = [t for t in type_ if t != "null"]
        return _is_file(rest[0]) if len(rest) == 1 else None
    if isinstance(type_, str):
        base = type_.rstrip("?")
        return {"File": "file", "File[]": "file[]"}.get(base)
    if isinstance(type_, dict) and type_.get("type") == "array" and type_.get("items") == "File":
        return "file[]"
    return None


def cwl_interface(packed: bytes, *, name: str | None = None) -> CwlInterface:
    """The interface of a packed CWL document."""
    try:
        doc = json_loads(packed)
    except ValueError:
        raise WorkflowError("the CWL package is not packed JSON", hint="store it with pack_cwl") from None
    main = _main(doc)
    data: dict[str, str] = {}
    props: dict[str, Any] = {}
    required: list[str] = []
    for key, decl in _items(main.get("inputs")):
        kind = _is_file(decl.get("type"))
        if kind is not None:
            data[key] = kind
            continue
        schema, optional = _schema(decl.get("type"))
        if decl.get("doc"):
            schema["description"] = str(decl["doc"])
        if "default" in decl:
            schema["default"] = decl["default"]
        elif not optional:
            required.append(key)
        props[key] = schema
    outputs = [key for key, _ in _items(main.get("outputs"))]
    label = name or _short(str(main.get("id", ""))) or "cwl"
    if label == "main":
        label = str(main.get("label") or "cwl")
    return CwlInterface(
        name=label,
        description=str(main.get("doc") or main.get("label") or ""),
        klass=str(main.get("class", "")),
        data_inputs=data,
        parameters_schema={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": props,
            "required": sorted(required),
            "additionalProperties": False,
        },
        outputs=outputs,
    )


def store_cwl(path: Path, store: Store) -> str:
    """Pack and store a CWL document; its CID."""
    return store.put_bytes(pack_cwl(path))


def run_cwl_package(
    settings: Settings,
    package_cid: str,
    inputs: dict[str, str | list[str]],
    params: dict[str, Any],
    *,
    store: Store,
    outdir: Path,
    cache: bool = True,
) -> CwlRunResult:
    """Run a stored CWL package: each data input (a CID, or a list) is fetched from the store
    (verified) into a scratch directory, the job object is built from them and ``params``."""
    packed = read_at_most(store, package_cid, JSON_LIMITS.max_bytes, "CWL package")
    iface = cwl_interface(packed)
    unknown = sorted(set(inputs) - set(iface.data_inputs)) + sorted(
        set(params) - set(iface.parameters_schema["properties"])
    )
    if unknown:
        raise WorkflowError(
            f"the CWL package has no input {unknown[0]!r}",
            hint=f"its inputs are: {', '.join(list(iface.data_inputs) + list(iface.parameters_schema['properties']))}",
        )
    with tempfile.TemporaryDirectory(prefix="eotrust-cwl-job-") as tmp:
        work = Path(tmp)
        (work / "package.cwl").write_bytes(packed)
        job: dict[str, Any] = dict(params)
        for name, value in inputs.items():
            cids = value if isinstance(value, list) else [value]
            files = []
            for i, cid in enumerate(cids):
                dest = work / "inputs" / name / str(i) / cid
                dest.parent.mkdir(parents=True, exist_ok=True)
                store.get_file(cid, dest)
                files.append({"class": "File", "location": dest.as_uri()})
            job[name] = files if isinstance(value, list) else files[0]
        (work / "job.json").write_text(json.dumps(job))
        return run_cwl(
            settings,
            work / "package.cwl",
            work / "job.json",
            CwlOptions(outdir=outdir, cache=cache, package_cid=package_cid, read_roots=(work,)),
            store=store,
        )


def output_cids(result: CwlRunResult, store: Store) -> dict[str, str]:
    """Output name -> CID for the File outputs of a run (a list of Files is stored as a JSON list)."""
    out: dict[str, str] = {}
    from eotrust.workflow.cwl_runner import _file_uri_path

    for name, value in (result.output or {}).items():
        if isinstance(value, dict) and value.get("class") == "File":
            path = _file_uri_path(str(value.get("location", ""))) or Path(str(value.get("path", "")))
            out[name] = store.put_file(path)
        elif value is not None and not (isinstance(value, dict) and value.get("class") == "Directory"):
            out[name] = store.put_bytes(canonical_json(value))
    return out
