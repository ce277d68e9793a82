"""CWL documents wherever a workflow is: ``workflow run``, ``import-cwl``, ``publish`` and
applications take a CWL CommandLineTool or Workflow as they take eotrust's YAML.

A CWL document given by others is measured first (:func:`eotrust.workflow.cwl.check_cwl`:
size, depth, imports inside its folder), packed by cwltool into one JSON document and stored
by CID: that CID is what a run record, a published name or an application names. It runs
through :func:`eotrust.workflow.cwl_runner.run_cwl` (cwltool as a library, eotrust's cache,
sandbox and run record), confined to its documents and inputs (:mod:`cwl_confine`)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eotrust.errors import WorkflowError
from eotrust.limits import JSON_LIMITS, json_loads
from eotrust.settings import Settings
from eotrust.store.base import Store, read_at_most
from eotrust.workflow.cwl import import_cwl
from eotrust.workflow.cwl_package import (
    CwlInterface,
    cwl_interface,
    pack_cwl,
    run_cwl_package,
)
from eotrust.workflow.cwl_runner import CwlOptions, CwlRunResult, run_cwl
from eotrust.workflow.errors import WorkflowValidationError
from eotrust.workflow.service import ServiceSpec
from eotrust.workflow.spec import CID_LIKE


def is_cwl_path(ref: str | Path) -> bool:
    return str(ref).endswith(".cwl")


def pack_checked(path: Path) -> bytes:
    """``path`` measured (limits, imports inside its folder) and packed; one clear error else."""
    return pack_cwl(path)  # pack_cwl measures the document (check_cwl) before cwltool reads it


def package_bytes(store: Store, cid: str) -> bytes | None:
    """The packed CWL document stored as ``cid``; None when ``cid`` is something else."""
    if not CID_LIKE.match(cid) or not store.has(cid):
        return None
    data = read_at_most(store, cid, JSON_LIMITS.max_bytes, "CWL package")
    if not data.lstrip().startswith(b"{"):
        return None
    try:
        doc = json_loads(data)
    except ValueError:
        return None
    return data if isinstance(doc, dict) and "cwlVersion" in doc else None


@dataclass(frozen=True)
class ImportedCwl:
    """What ``import-cwl`` made: a native service (a CommandLineTool eotrust's engine runs by
    itself) or a stored CWL package (anything else, run through cwltool)."""

    cid: str
    service: ServiceSpec | None
    package: CwlInterface | None
    reason: str = ""  # why it is a package, not a service


def import_cwl_document(path: Path, store: Store, *, as_package: bool = False) -> ImportedCwl:
    """Import a CWL document: a CommandLineTool without expressions becomes a service; a
    Workflow, an ExpressionTool, a tool with JavaScript, secondaryFiles, InitialWorkDir ...
    (or ``as_package``) becomes a stored CWL package. Invalid CWL is refused in one line."""
    packed = pack_checked(path)  # measures, then cwltool validates the whole document
    reason = "asked for a package"
    if not as_package:
        try:
            service = import_cwl(path)
        except WorkflowValidationError as exc:
            reason = exc.problems[0].message if exc.problems else exc.message
        else:
            return ImportedCwl(cid=store.put_bytes(service.canonical()), service=service, package=None)
    iface = cwl_interface(packed, name=path.stem)
    return ImportedCwl(cid=store.put_bytes(packed), service=None, package=iface, reason=reason)


def _job(params: dict[str, Any], files: dict[str, list[Path]], lists: set[str]) -> dict[str, Any]:
    job = dict(params)
    for name, paths in files.items():
        objs = [{"class": "File", "location": p.resolve().as_uri()} for p in paths]
        job[name] = objs if name in lists or len(objs) != 1 else objs[0]
    return job


def run_cwl_file(
    settings: Settings,
    path: Path,
    files: dict[str, list[Path]],
    params: dict[str, Any],
    *,
    store: Store,
    outdir: Path,
    cache: bool = True,
    lists: set[str] | None = None,
) -> CwlRunResult:
    """Run a local CWL document on local files: it is packed and stored first (the run record
    names that CID), and reads nothing but its own folder and the files given."""
    packed = pack_checked(path)
    package_cid = store.put_bytes(packed)
    iface = cwl_interface(packed)
    known = set(iface.data_inputs) | set(iface.parameters_schema["properties"])
    for name in [*files, *params]:
        if name not in known:
            raise WorkflowError(
                f"{path.name} has no input {name!r}", hint=f"its inputs are: {', '.join(sorted(known)) or 'none'}"
            )
    for name, paths in files.items():
        for p in paths:
            if not p.is_file():
                raise WorkflowError(f"input {name!r}: {p} is not a file")
    roots = (path.resolve().parent, *(p.resolve() for ps in files.values() for p in ps))
    listed = (lists or set()) | {n for n, kind in iface.data_inputs.items() if kind == "file[]"}
    with tempfile.TemporaryDirectory(prefix="eotrust-cwl-job-") as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps(_job(params, files, listed)))
        return run_cwl(
            settings,
            path,
            job,
            CwlOptions(outdir=outdir, cache=cache, package_cid=package_cid, read_roots=(*roots, Path(tmp))),
            store=store,
        )


def run_cwl_stored(
    settings: Settings,
    package_cid: str,
    inputs: dict[str, str | list[str]],
    params: dict[str, Any],
    *,
    store: Store,
    outdir: Path,
    cache: bool = True,
) -> CwlRunResult:
    """Run a stored CWL package on stored inputs (CIDs); reads nothing but its scratch copies."""
    if package_bytes(store, package_cid) is None:
        raise WorkflowError(f"{package_cid} is not a stored CWL package")
    return run_cwl_package(settings, package_cid, inputs, params, store=store, outdir=outdir, cache=cache)
