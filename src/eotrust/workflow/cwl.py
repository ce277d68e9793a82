"""Import a CWL v1.2 ``CommandLineTool`` as a service.

The document is parsed with cwl-utils (the CWL project's own parser); its command line
(``baseCommand``, ``arguments``, input bindings, ``stdout``) becomes a service that our engine
runs. File inputs become input ports, scalar inputs become typed parameters, File outputs
(``glob`` or ``stdout``) become output ports, ``ResourceRequirement`` becomes resources.
Expressions (``$(...)``/``${...}``), secondary files and containers are not supported: an
import that needs them fails with a clear error instead of running something different."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from eotrust.limits import file_problem
from eotrust.workflow.errors import Problem, WorkflowValidationError
from eotrust.workflow.params import ParamSpec
from eotrust.workflow.service import Binding, PortSpec, Resources, ServiceSpec

_SCALARS = {"string": "str", "int": "int", "long": "int", "float": "float", "double": "float", "boolean": "bool"}


def _short(ident: str) -> str:
    return ident.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _unwrap(type_: Any) -> tuple[Any, bool]:
    """(type without 'null', optional?)."""
    if isinstance(type_, list):
        rest = [t for t in type_ if t != "null"]
        if len(rest) == 1:
            return rest[0], len(rest) != len(type_)
        return type_, len(rest) != len(type_)
    return type_, False


def _array_items(type_: Any) -> Any | None:
    items = getattr(type_, "items", None)
    if items is not None and getattr(type_, "type_", None) == "array":
        return items
    return None


def _is_expr(value: Any) -> bool:
    return isinstance(value, str) and ("$(" in value or "${" in value)


MAX_CWL_IMPORTS = 16
MAX_CWL_IMPORT_DEPTH = 4
_REFERENCES = ("$import", "$include", "$mixin", "run")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def check_cwl(path: Path, *, _depth: int = 0, _seen: list[Path] | None = None) -> None:
    """Measure a CWL document before cwl-utils reads it: the YAML limits of
    :mod:`eotrust.limits` for it and every document it imports; at most ``MAX_CWL_IMPORTS``
    ``$import``/``$include``/``$mixin``/``run`` references in all, ``MAX_CWL_IMPORT_DEPTH``
    deep, each a relative path inside the CWL file's directory (no URL: nothing is fetched,
    nothing outside is read); no ``$schemas`` (cwltool would fetch or read each one)."""
    from eotrust.errors import InvalidInputError
    from eotrust.limits import YAML_LIMITS, load_yaml

    seen = _seen if _seen is not None else []
    source = str(path)
    if _seen is None and (problem := file_problem(path)) is not None:  # a folder, a FIFO: said as such
        raise WorkflowValidationError([Problem(f"CWL file {path} {problem}", None, source)])
    root = (seen[0] if seen else path).resolve().parent
    try:
        if path.stat().st_size > YAML_LIMITS.max_bytes:
            raise WorkflowValidationError(
                [Problem(f"the CWL document is larger than {YAML_LIMITS.max_bytes} bytes", None, source)]
            )
        data = load_yaml(path.read_text(encoding="utf-8"), what="the CWL document")
    except InvalidInputError as exc:
        raise WorkflowValidationError([Problem(exc.message, None, source)], hint=exc.hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowValidationError([Problem(f"cannot read the CWL document: {exc}", None, source)]) from None
    if _seen is None and not isinstance(data, dict | list):  # cwltool's own word for an empty one is empty
        what = "empty" if data is None else f"a {type(data).__name__}, not a CWL process (a mapping, or a list of them)"
        raise WorkflowValidationError([Problem(f"the CWL document is {what}", None, source)])
    seen.append(path)
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$schemas":
                    raise WorkflowValidationError(
                        [
                            Problem(
                                "CWL $schemas are not loaded (eotrust fetches nothing and reads nothing outside the "
                                "document's folder): remove them",
                                None,
                                source,
                            )
                        ]
                    )
                if key in _REFERENCES and isinstance(value, str):
                    refs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    for ref in refs:
        if len(seen) > MAX_CWL_IMPORTS or _depth >= MAX_CWL_IMPORT_DEPTH:
            raise WorkflowValidationError(
                [
                    Problem(
                        f"the CWL document imports more than {MAX_CWL_IMPORTS} documents or nests imports more than "
                        f"{MAX_CWL_IMPORT_DEPTH} deep",
                        None,
                        source,
                    )
                ]
            )
        target = (path.parent / ref.split("#", 1)[0]).resolve()
        if _SCHEME.match(ref) or ref.startswith("/") or not target.is_relative_to(root):
            raise WorkflowValidationError(
                [
                    Problem(
                        f"CWL import {ref!r} is not a relative path inside {root} (eotrust fetches nothing, reads nothing outside)",
                        None,
                        source,
                    )
                ]
            )
        if target.is_file():
            check_cwl(target, _depth=_depth + 1, _seen=seen)


def import_cwl(path: Path) -> ServiceSpec:
    """A ServiceSpec from a CWL CommandLineTool file; WorkflowValidationError if it cannot be run."""
    from cwl_utils.parser import load_document_by_uri

    from eotrust.cid import cid_of_bytes

    source = str(path)
    check_cwl(path)  # the file itself, its size, depth, aliases and imports, before cwl-utils reads it (issue 12)
    try:
        tool = load_document_by_uri(path.resolve().as_uri())
    except Exception as exc:  # cwl-utils raises ValidationException and friends
        first = str(exc).strip().splitlines()
        raise WorkflowValidationError([Problem(f"invalid CWL: {first[-1] if first else exc}", None, source)]) from None
    problems: list[Problem] = []

    def bad(msg: str) -> None:
        problems.append(Problem(msg, None, source))

    if type(tool).__name__ != "CommandLineTool":
        raise WorkflowValidationError(
            [Problem(f"expected a CWL CommandLineTool, got {type(tool).__name__}", None, source)]
        )
    for req in list(tool.requirements or []) + list(tool.hints or []):
        kind = type(req).__name__
        if kind in (
            "DockerRequirement",
            "InitialWorkDirRequirement",
            "ShellCommandRequirement",
            "SchemaDefRequirement",
        ):
            if req in (tool.requirements or []):
                bad(f"unsupported CWL requirement {kind} (eotrust runs the command line without a container)")
    resources = Resources()
    for req in list(tool.requirements or []):
        if type(req).__name__ == "ResourceRequirement":
            cores = req.coresMin or req.coresMax or 1
            ram = req.ramMin or req.ramMax or 0
            if _is_expr(cores) or _is_expr(ram):
                bad("ResourceRequirement with expressions is not supported")
            else:
                resources = Resources(cpus=float(cores), memory_mb=int(ram))
    base = tool.baseCommand or []
    command = [base] if isinstance(base, str) else list(base)
    bindings: list[Binding] = []
    order = 0
    for arg in tool.arguments or []:
        order += 1
        if isinstance(arg, str):
            if _is_expr(arg):
                bad(f"argument {arg!r} uses a CWL expression, which eotrust does not evaluate")
            bindings.append(Binding(position=0, order=order, value=arg))
        else:
            if _is_expr(arg.valueFrom):
                bad(f"argument {arg.valueFrom!r} uses a CWL expression, which eotrust does not evaluate")
            bindings.append(
                Binding(
                    position=float(arg.position or 0),
                    order=order,
                    value=str(arg.valueFrom),
                    prefix=arg.prefix,
                    separate=arg.separate is not False,
                )
            )
    inputs: dict[str, PortSpec] = {}
    params: dict[str, ParamSpec] = {}
    for inp in tool.inputs:
        name = _short(inp.id)
        type_, optional = _unwrap(inp.type_)
        items = _array_items(type_)
        scalar = _SCALARS.get(type_) if isinstance(type_, str) else None
        item_scalar = _SCALARS.get(items) if isinstance(items, str) else None
        if type_ == "File" or items == "File":
            inputs[name] = PortSpec(
                type="file" if type_ == "File" else "file[]", optional=optional, description=str(inp.doc or "")
            )
            source = f"inputs.{name}"
        elif scalar is not None or item_scalar is not None:
            kind = scalar if scalar is not None else f"{item_scalar}[]"
            if kind == "bool[]":
                bad(f"input {name!r}: arrays of booleans are not supported")
                continue
            spec = ParamSpec(type=kind, description=str(inp.doc or ""))
            if inp.default is not None:
                spec = spec.model_copy(update={"default": inp.default, "has_default": True})
            elif optional:
                spec = spec.model_copy(update={"default": None, "has_default": True})
            params[name] = spec
            source = f"params.{name}"
        else:
            bad(
                f"input {name!r} has type {type_!r}, which eotrust cannot map (File, File[], string, int, float, boolean)"
            )
            continue
        ib = inp.inputBinding
        if ib is not None:
            if _is_expr(getattr(ib, "valueFrom", None)):
                bad(f"input {name!r} uses a CWL expression in valueFrom")
            order += 1
            bindings.append(
                Binding(
                    position=float(ib.position or 0),
                    order=order,
                    source=source,
                    prefix=ib.prefix,
                    separate=ib.separate is not False,
                    item_separator=ib.itemSeparator,
                )
            )
    outputs: dict[str, PortSpec] = {}
    stdout_name: str | None = None
    for out in tool.outputs:
        name = _short(out.id)
        type_, _ = _unwrap(out.type_)
        if type_ == "stdout":
            if stdout_name is not None:
                bad("more than one stdout output")
            stdout_name = name
            target = tool.stdout or f"{name}.stdout"
            if _is_expr(target):
                bad("stdout file name uses a CWL expression")
            outputs[name] = PortSpec(type="file", filename=str(target))
        elif type_ == "File":
            glob = out.outputBinding.glob if out.outputBinding is not None else None
            if not isinstance(glob, str) or _is_expr(glob):
                bad(f"output {name!r} needs a literal outputBinding.glob")
                continue
            outputs[name] = PortSpec(type="file", glob=glob, description=str(out.doc or ""))
        else:
            bad(f"output {name!r} has type {type_!r}; only File and stdout outputs are supported")
    if problems:
        raise WorkflowValidationError(problems)
    text = path.read_bytes()
    return ServiceSpec(
        name=_short(str(tool.id)) if tool.id and "#" in str(tool.id) else path.stem,
        description=str(tool.doc or tool.label or ""),
        command=command,
        bindings=sorted(bindings, key=lambda b: (b.position, b.order)),
        stdout=stdout_name,
        inputs=inputs,
        outputs=outputs,
        params=params,
        resources=resources,
        origin=f"cwl:{cid_of_bytes(text)}",
    )
