"""Workflow documents: parsing, validation (every mistake with its line) and storage by CID.

A workflow is a YAML document::

    name: ndvi-stats
    inputs:   {scene: file, tiles: "file[]"}          # data given as CIDs when it runs
    params:   {threshold: {type: float, default: 0.3}, aoi: str}   # aoi left open
    services:
      stats: {python: "mypkg.stats:run", inputs: {tile: file}, outputs: {stats: file},
              params: {threshold: float}, resources: {cpus: 1, memory_mb: 512}}
      merge: {command: "cat {inputs.parts} > ...", ...}
      sort:  {cwl: tools/sort.cwl}                   # a CWL CommandLineTool
      other: {cid: Qm...}                            # a service stored earlier
    steps:
      stats: {service: stats, in: {tile: inputs.tiles}, scatter: tile,
              params: {threshold: "${threshold}"}}
      merge: {service: merge, in: {parts: stats.stats}}
    outputs: {report: merge.out}

``STEP.OUTPUT`` and ``inputs.NAME`` wire data; ``${name}`` takes a workflow parameter;
``scatter`` runs one instance per element of a list input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from eotrust.cid import canonical_json
from eotrust.errors import EotrustError
from eotrust.limits import YAML_LIMITS, file_problem, json_loads
from eotrust.store.base import Store, read_at_most
from eotrust.workflow.errors import Problem, WorkflowValidationError
from eotrust.workflow.params import ParamSpec, check_value, parse_param_decl
from eotrust.workflow.service import NAME, PortSpec, ServiceSpec, parse_service
from eotrust.workflow.yamldoc import YamlDoc, parse_yaml

REF = re.compile(r"^([A-Za-z_][\w-]*)\.([A-Za-z_][\w-]*)$")
PARAM_REF = re.compile(r"^\$\{([A-Za-z_][\w-]*)\}$")
CID_LIKE = re.compile(r"^(Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{50,})$")
FORMAT = "eotrust-workflow/1"


class StepSpec(BaseModel):
    """One named step: a service, where each input comes from, its parameters, scatter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    service: str
    inputs: dict[str, list[str] | str] = Field(default_factory=dict)  # port -> ref or list of refs
    params: dict[str, Any] = Field(default_factory=dict)  # literal, or "${workflow_param}"
    scatter: list[str] = Field(default_factory=list)
    timeout_s: float | None = None
    retries: int | None = None

    def upstream(self) -> set[str]:
        refs: set[str] = set()
        for src in self.inputs.values():
            for ref in [src] if isinstance(src, str) else src:
                step = ref.split(".", 1)[0]
                if step != "inputs":
                    refs.add(step)
        return refs


class WorkflowSpec(BaseModel):
    """A validated workflow: every reference resolves, types match, no cycles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str = "1"
    description: str = ""
    inputs: dict[str, PortSpec] = Field(default_factory=dict)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    services: dict[str, ServiceSpec] = Field(default_factory=dict)
    steps: dict[str, StepSpec] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    order: list[str] = Field(default_factory=list)  # a topological order of the steps

    def open_params(self) -> dict[str, ParamSpec]:
        """Parameters a user must fill in (no default)."""
        return {k: v for k, v in self.params.items() if v.required}

    def step_output_type(self, step: str, port: str) -> str:
        st = self.steps[step]
        base = self.services[st.service].outputs[port].type
        return "file[]" if st.scatter else base

    def to_document(self, service_cids: dict[str, str]) -> dict[str, Any]:
        """The stored form: services replaced by their CIDs."""
        return {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "inputs": {
                k: v.model_dump(mode="json", exclude_defaults=True) or {"type": "file"} for k, v in self.inputs.items()
            },
            "params": {k: _param_doc(v) for k, v in self.params.items()},
            "services": {k: {"cid": service_cids[k]} for k in self.services},
            "steps": {
                k: {
                    key: val
                    for key, val in (
                        ("service", s.service),
                        ("in", s.inputs),
                        ("params", s.params),
                        ("scatter", s.scatter),
                        ("timeout_s", s.timeout_s),
                        ("retries", s.retries),
                    )
                    if val not in (None, [], {})
                }
                for k, s in self.steps.items()
            },
            "outputs": dict(self.outputs),
        }


def _param_doc(spec: ParamSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": spec.type}
    if spec.has_default:
        out["default"] = spec.default
    for key in ("description", "min", "max", "choices", "pattern"):
        val = getattr(spec, key)
        if val not in (None, ""):
            out[key] = val
    return out


# -- loading ---------------------------------------------------------------------------------


def load_workflow(source: str | Path, *, store: Store | None = None) -> WorkflowSpec:
    """A validated WorkflowSpec from a file path, YAML text, or (with ``store``) a workflow CID.

    Raises WorkflowValidationError listing every problem with its line."""
    one_line = isinstance(source, str) and "\n" not in source and len(source) < 4096
    if isinstance(source, Path) or (
        one_line and (Path(source).suffix in (".yaml", ".yml", ".json") or Path(source).exists())
    ):
        path = Path(source)
        problem = file_problem(path)  # a folder, a FIFO: said as such, never read as YAML text
        if problem is not None:
            raise WorkflowValidationError(
                [Problem(f"workflow file {path} {problem}", None, str(path))],
                hint="give the path of a workflow YAML file, or a stored workflow CID",
            )
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WorkflowValidationError(
                [Problem(f"workflow file {path} is not UTF-8 text (byte {exc.start})", None, str(path))],
                hint="save the workflow as UTF-8",
            ) from None
        return parse_workflow(text, source=str(path), base_dir=path.parent, store=store)
    text = str(source)
    if CID_LIKE.match(text.strip()):
        if store is None:
            raise WorkflowValidationError([Problem(f"{text} is a CID; loading it needs a store", None, "workflow")])
        return load_workflow_cid(text.strip(), store)
    return parse_workflow(text, source="workflow", base_dir=Path.cwd(), store=store)


def load_workflow_cid(cid: str, store: Store) -> WorkflowSpec:
    try:
        raw = read_at_most(store, cid, YAML_LIMITS.max_bytes, "workflow")
    except EotrustError as exc:
        raise WorkflowValidationError([Problem(f"cannot read workflow {cid}: {exc.message}", None, cid)]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WorkflowValidationError(
            [Problem(f"object {cid} is not a workflow document (not text)", None, cid)]
        ) from None
    return parse_workflow(text, source=cid, base_dir=None, store=store)


def parse_workflow(
    text: str, *, source: str = "workflow", base_dir: Path | None = None, store: Store | None = None
) -> WorkflowSpec:
    doc = parse_yaml(text, source)
    problems: list[Problem] = []
    spec = _build(doc, base_dir, store, problems)
    if problems or spec is None:
        problems.sort(key=lambda p: p.line or 0)
        raise WorkflowValidationError(problems or [Problem("invalid workflow", None, source)])
    return spec


_TOP = {"format", "name", "version", "description", "inputs", "params", "services", "steps", "outputs"}
_STEP = {"service", "in", "params", "scatter", "timeout_s", "retries"}


def _mapping(doc: YamlDoc, key: str, problems: list[Problem]) -> dict[str, Any]:
    raw = doc.data.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(doc.problem(f"'{key}' must be a mapping", key))
        return {}
    return raw


def _load_service(
    raw: Any, name: str, doc: YamlDoc, base_dir: Path | None, store: Store | None, problems: list[Problem]
) -> ServiceSpec | None:
    path = ("services", name)
    if isinstance(raw, dict) and "cwl" in raw:
        if set(raw) - {"cwl"}:
            problems.append(doc.problem(f"service {name!r}: a CWL service takes only 'cwl: PATH'", *path))
            return None
        from eotrust.workflow.cwl import import_cwl

        if base_dir is None:
            problems.append(doc.problem(f"service {name!r}: a stored workflow cannot refer to a CWL file", *path))
            return None
        cwl_path = (base_dir / str(raw["cwl"])).resolve()
        try:
            svc = import_cwl(cwl_path)
        except WorkflowValidationError as exc:
            for p in exc.problems:
                problems.append(doc.problem(f"service {name!r}: {p}", *path, "cwl"))
            return None
        return svc.model_copy(update={"name": name})
    if isinstance(raw, dict) and "cid" in raw:
        if set(raw) - {"cid"}:
            problems.append(doc.problem(f"service {name!r}: a stored service takes only 'cid: CID'", *path))
            return None
        if store is None:
            problems.append(
                doc.problem(f"service {name!r} refers to stored service {raw['cid']}; loading it needs a store", *path)
            )
            return None
        try:
            data = json_loads(read_at_most(store, str(raw["cid"]), YAML_LIMITS.max_bytes, "service"))
            svc = ServiceSpec.model_validate(data)
        except EotrustError as exc:
            problems.append(doc.problem(f"service {name!r}: cannot read {raw['cid']}: {exc.message}", *path, "cid"))
            return None
        except ValueError:
            problems.append(
                doc.problem(f"service {name!r}: object {raw['cid']} is not a service document", *path, "cid")
            )
            return None
        return svc
    return parse_service(raw, name, doc, path, problems)


def _build(doc: YamlDoc, base_dir: Path | None, store: Store | None, problems: list[Problem]) -> WorkflowSpec | None:
    data = doc.data
    if not isinstance(data, dict):
        problems.append(doc.problem("a workflow document must be a mapping with 'name', 'services' and 'steps'"))
        return None
    for key in sorted(set(map(str, data)) - _TOP):
        problems.append(doc.problem(f"unknown top-level key {key!r} (allowed: {', '.join(sorted(_TOP))})", key))
    name = data.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        problems.append(doc.problem("the workflow needs a 'name' (letters, digits, _ and -)", "name"))
        name = "workflow"

    # workflow inputs and params
    inputs: dict[str, PortSpec] = {}
    for iname, decl in _mapping(doc, "inputs", problems).items():
        if isinstance(decl, str):
            decl = {"type": decl}
        if not isinstance(iname, str) or not NAME.match(iname):
            problems.append(doc.problem(f"bad input name {iname!r}", "inputs", iname))
        elif (
            not isinstance(decl, dict)
            or decl.get("type", "file") not in ("file", "file[]")
            or set(decl) - {"type", "description"}
        ):
            problems.append(
                doc.problem(
                    f"workflow input {iname!r} must be 'file' or 'file[]' (optionally with a description)",
                    "inputs",
                    iname,
                )
            )
        else:
            inputs[iname] = PortSpec(**decl)
    params: dict[str, ParamSpec] = {}
    for pname, decl in _mapping(doc, "params", problems).items():
        if not isinstance(pname, str) or not NAME.match(pname):
            problems.append(doc.problem(f"bad parameter name {pname!r}", "params", pname))
            continue
        try:
            params[pname] = parse_param_decl(decl)
        except ValueError as exc:
            problems.append(doc.problem(f"workflow parameter {pname!r}: {exc}", "params", pname))

    # services
    services: dict[str, ServiceSpec] = {}
    for sname, raw in _mapping(doc, "services", problems).items():
        if not isinstance(sname, str) or not NAME.match(sname):
            problems.append(doc.problem(f"bad service name {sname!r}", "services", sname))
            continue
        svc = _load_service(raw, sname, doc, base_dir, store, problems)
        if svc is not None:
            services[sname] = svc

    # steps (first pass: shape)
    steps_raw = _mapping(doc, "steps", problems)
    if not steps_raw and "steps" not in data:
        problems.append(doc.problem("the workflow has no 'steps'"))
    steps: dict[str, StepSpec] = {}
    for sname, raw in steps_raw.items():
        where = ("steps", sname)
        if not isinstance(sname, str) or not NAME.match(sname) or sname == "inputs":
            problems.append(doc.problem(f"bad step name {sname!r} (letters, digits, _ and -; not 'inputs')", *where))
            continue
        if not isinstance(raw, dict):
            problems.append(doc.problem(f"step {sname!r} must be a mapping with 'service'", *where))
            continue
        for key in sorted(set(map(str, raw)) - _STEP):
            problems.append(
                doc.problem(f"step {sname!r}: unknown key {key!r} (allowed: {', '.join(sorted(_STEP))})", *where, key)
            )
        svc_name = raw.get("service")
        if not isinstance(svc_name, str):
            problems.append(doc.problem(f"step {sname!r} needs 'service'", *where))
            continue
        wiring = raw.get("in") or {}
        if not isinstance(wiring, dict):
            problems.append(doc.problem(f"step {sname!r}: 'in' must map input names to sources", *where, "in"))
            wiring = {}
        sparams = raw.get("params") or {}
        if not isinstance(sparams, dict):
            problems.append(doc.problem(f"step {sname!r}: 'params' must be a mapping", *where, "params"))
            sparams = {}
        scatter = raw.get("scatter") or []
        if isinstance(scatter, str):
            scatter = [scatter]
        if not isinstance(scatter, list) or not all(isinstance(s, str) for s in scatter):
            problems.append(
                doc.problem(f"step {sname!r}: 'scatter' must be an input name or a list of them", *where, "scatter")
            )
            scatter = []
        clean_in: dict[str, list[str] | str] = {}
        for port, src in wiring.items():
            if isinstance(src, str) or (isinstance(src, list) and all(isinstance(x, str) for x in src)):
                clean_in[str(port)] = src
            else:
                problems.append(
                    doc.problem(
                        f"step {sname!r}, input {port!r}: a source is 'STEP.OUTPUT', 'inputs.NAME' or a list of them",
                        *where,
                        "in",
                        port,
                    )
                )
        extra: dict[str, Any] = {}
        for key in ("timeout_s", "retries"):
            v = raw.get(key)
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                    problems.append(doc.problem(f"step {sname!r}: {key} must be a non-negative number", *where, key))
                else:
                    extra[key] = v
        steps[sname] = StepSpec(
            name=sname, service=svc_name, inputs=clean_in, params=dict(sparams), scatter=scatter, **extra
        )

    # steps (second pass: references and types)
    declared_services = set(_mapping(doc, "services", []))
    for sname, st in steps.items():
        where = ("steps", sname)
        if st.service not in services:
            if st.service not in declared_services:
                problems.append(
                    doc.problem(
                        f"step {sname!r}: unknown service {st.service!r} (known: {', '.join(sorted(declared_services)) or 'none'})",
                        *where,
                        "service",
                    )
                )
            continue
        svc = services[st.service]
        for port in st.inputs:
            if port not in svc.inputs:
                problems.append(
                    doc.problem(
                        f"step {sname!r}: service {st.service!r} has no input {port!r} (inputs: {', '.join(svc.inputs) or 'none'})",
                        *where,
                        "in",
                        port,
                    )
                )
        for port, port_spec in svc.inputs.items():
            if port not in st.inputs and not port_spec.optional:
                problems.append(
                    doc.problem(f"step {sname!r}: missing input {port!r} of service {st.service!r}", *where)
                )
        for sc in st.scatter:
            if sc not in st.inputs:
                problems.append(
                    doc.problem(f"step {sname!r}: scatter names {sc!r}, which is not a wired input", *where, "scatter")
                )
        for port, src in st.inputs.items():
            if port not in svc.inputs:
                continue
            src_type = _source_type(src, sname, port, inputs, steps, services, doc, problems)
            if src_type is None:
                continue
            want = svc.inputs[port].type
            if port in st.scatter:
                if src_type != "file[]":
                    problems.append(
                        doc.problem(
                            f"step {sname!r}: cannot scatter over input {port!r}: its source is a single file, not a list",
                            *where,
                            "in",
                            port,
                        )
                    )
                elif want != "file":
                    problems.append(
                        doc.problem(
                            f"step {sname!r}: type mismatch: scattering gives input {port!r} one file, but the service wants {want}",
                            *where,
                            "in",
                            port,
                        )
                    )
            elif src_type != want:
                hint = (
                    " (add it to 'scatter' to run once per file)"
                    if src_type == "file[]"
                    else " (wrap the source in a list)"
                )
                problems.append(
                    doc.problem(
                        f"step {sname!r}: type mismatch: input {port!r} wants {want}, its source gives {src_type}{hint}",
                        *where,
                        "in",
                        port,
                    )
                )
        if st.scatter:
            for oname, ospec in svc.outputs.items():
                if ospec.type != "file":
                    problems.append(
                        doc.problem(
                            f"step {sname!r}: a scattered step's service must have single-file outputs ({oname!r} is {ospec.type})",
                            *where,
                            "scatter",
                        )
                    )
        for pname, value in st.params.items():
            if pname not in svc.params:
                problems.append(
                    doc.problem(
                        f"step {sname!r}: unknown parameter {pname!r} of service {st.service!r} (parameters: {', '.join(svc.params) or 'none'})",
                        *where,
                        "params",
                        pname,
                    )
                )
                continue
            pspec = svc.params[pname]
            m = PARAM_REF.match(value) if isinstance(value, str) else None
            if m:
                wp = m.group(1)
                if wp not in params:
                    problems.append(
                        doc.problem(
                            f"step {sname!r}: parameter {pname!r} refers to unknown workflow parameter {wp!r}",
                            *where,
                            "params",
                            pname,
                        )
                    )
                elif not _param_compatible(params[wp].type, pspec.type):
                    problems.append(
                        doc.problem(
                            f"step {sname!r}: type mismatch: parameter {pname!r} is {pspec.type}, workflow parameter {wp!r} is {params[wp].type}",
                            *where,
                            "params",
                            pname,
                        )
                    )
                continue
            try:
                check_value(pspec, value)
            except ValueError as exc:
                problems.append(doc.problem(f"step {sname!r}: parameter {pname!r}: {exc}", *where, "params", pname))
        for pname, declared in svc.params.items():
            if declared.required and pname not in st.params:
                problems.append(
                    doc.problem(
                        f"step {sname!r}: missing parameter {pname!r} ({declared.type}) of service {st.service!r}",
                        *where,
                    )
                )

    # outputs
    outputs: dict[str, str] = {}
    for oname, ref in _mapping(doc, "outputs", problems).items():
        if not isinstance(oname, str) or not NAME.fullmatch(oname):  # it names the result's file
            problems.append(
                doc.problem(
                    f"workflow output {oname!r}: a name is a letter or _, then letters, digits, _ or -", "outputs"
                )
            )
            continue
        if not isinstance(ref, str):
            problems.append(doc.problem(f"workflow output {oname!r} must be 'STEP.OUTPUT'", "outputs", oname))
            continue
        m = REF.match(ref)
        if not m or m.group(1) == "inputs":
            problems.append(doc.problem(f"workflow output {oname!r}: {ref!r} is not 'STEP.OUTPUT'", "outputs", oname))
        elif m.group(1) not in steps:
            problems.append(doc.problem(f"workflow output {oname!r}: unknown step {m.group(1)!r}", "outputs", oname))
        elif steps[m.group(1)].service in services and m.group(2) not in services[steps[m.group(1)].service].outputs:
            problems.append(
                doc.problem(
                    f"workflow output {oname!r}: step {m.group(1)!r} has no output {m.group(2)!r}", "outputs", oname
                )
            )
        else:
            outputs[str(oname)] = ref

    order = _topological(steps, doc, problems)
    if problems:
        return None
    return WorkflowSpec(
        name=name,
        version=str(data.get("version", "1")),
        description=str(data.get("description", "")),
        inputs=inputs,
        params=params,
        services=services,
        steps=steps,
        outputs=outputs,
        order=order,
    )


def _param_compatible(have: str, want: str) -> bool:
    return have == want or (have, want) in {("int", "float"), ("int[]", "float[]")} or want == "json"


def _source_type(
    src: list[str] | str,
    sname: str,
    port: str,
    inputs: dict[str, PortSpec],
    steps: dict[str, StepSpec],
    services: dict[str, ServiceSpec],
    doc: YamlDoc,
    problems: list[Problem],
) -> str | None:
    where = ("steps", sname, "in", port)
    refs = [src] if isinstance(src, str) else src
    types: list[str] = []
    for ref in refs:
        m = REF.match(ref)
        if not m:
            problems.append(
                doc.problem(f"step {sname!r}, input {port!r}: {ref!r} is not 'STEP.OUTPUT' or 'inputs.NAME'", *where)
            )
            return None
        head, tail = m.groups()
        if head == "inputs":
            if tail not in inputs:
                problems.append(
                    doc.problem(
                        f"step {sname!r}, input {port!r}: unknown workflow input {tail!r} (declared: {', '.join(inputs) or 'none'})",
                        *where,
                    )
                )
                return None
            types.append(inputs[tail].type)
            continue
        if head not in steps:
            problems.append(doc.problem(f"step {sname!r}, input {port!r}: unknown step {head!r}", *where))
            return None
        up = steps[head]
        if up.service not in services:
            return None
        outs = services[up.service].outputs
        if tail not in outs:
            problems.append(
                doc.problem(
                    f"step {sname!r}, input {port!r}: step {head!r} has no output {tail!r} (outputs: {', '.join(outs) or 'none'})",
                    *where,
                )
            )
            return None
        types.append("file[]" if up.scatter else outs[tail].type)
    if isinstance(src, list):
        if any(t != "file" for t in types):
            problems.append(
                doc.problem(
                    f"step {sname!r}, input {port!r}: type mismatch: a list of sources must name single files", *where
                )
            )
            return None
        return "file[]"
    return types[0]


def _topological(steps: dict[str, StepSpec], doc: YamlDoc, problems: list[Problem]) -> list[str]:
    """The steps, each after those it depends on (depth first, upstream in name order); every
    cycle reported once. Iterative: a chain of thousands of steps is valid, and recursing once
    per step hit Python's recursion limit (a traceback)."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    reported: set[frozenset[str]] = set()

    def upstream(node: str) -> Iterator[str]:
        return iter(sorted(steps[node].upstream()))

    for name in steps:
        if name in state:
            continue
        state[name] = 1
        trail = [name]
        stack = [(name, upstream(name))]
        while stack:
            node, ups = stack[-1]
            for up in ups:
                if up not in steps:
                    continue
                if state.get(up) == 1:
                    cycle = trail[trail.index(up) :] + [up]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        problems.append(
                            doc.problem(
                                f"cycle: {' <- '.join(cycle)} (a step cannot depend on its own output)", "steps", up
                            )
                        )
                elif up not in state:
                    state[up] = 1
                    trail.append(up)
                    stack.append((up, upstream(up)))
                    break
            else:
                stack.pop()
                trail.pop()
                state[node] = 2
                order.append(node)
    return order


# -- storing ---------------------------------------------------------------------------------


def store_workflow(store: Store, spec: WorkflowSpec) -> str:
    """Store each service and the workflow document; return the workflow's CID."""
    service_cids = {name: store.put_bytes(svc.canonical()) for name, svc in spec.services.items()}
    return store.put_bytes(canonical_json(spec.to_document(service_cids)))


def workflow_cid(spec: WorkflowSpec) -> str:
    """The CID ``store_workflow`` would give, without storing."""
    from eotrust.cid import cid_of_bytes

    service_cids = {name: svc.cid() for name, svc in spec.services.items()}
    return cid_of_bytes(canonical_json(spec.to_document(service_cids)))
