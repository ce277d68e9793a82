"""Services: what a workflow step runs.

A service declares its inputs and outputs (files, or lists of files), typed parameters,
resource needs, and how it runs: a Python entry point ``module:function`` called as
``fn(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None``,
or any command line with ``{inputs.x}``, ``{outputs.y}`` and ``{params.z}`` placeholders.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from eotrust.cid import canonical_json
from eotrust.workflow.errors import Problem
from eotrust.workflow.params import ParamSpec, parse_param_decl
from eotrust.workflow.yamldoc import YamlDoc

PortType = Literal["file", "file[]"]
PLACEHOLDER = re.compile(r"\{(inputs|outputs|params)\.([A-Za-z_][\w-]*)\}")
NAME = re.compile(r"^[A-Za-z_][\w-]*$")
ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class PortSpec(BaseModel):
    """An input or output of a service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: PortType = "file"
    description: str = ""
    filename: str | None = None  # inputs: name in the working dir; outputs: path the service writes
    glob: str | None = None  # outputs only: found by this pattern after the run (CWL style)
    optional: bool = False  # inputs only


class Resources(BaseModel):
    """What a step needs to run. ``memory_mb``/``disk_mb`` 0 means not declared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpus: float = Field(default=1.0, ge=0)
    memory_mb: int = Field(default=0, ge=0)
    gpus: int = Field(default=0, ge=0)
    disk_mb: int = Field(default=0, ge=0)


class Binding(BaseModel):
    """A CWL-style command-line binding: where and how an input or parameter is put on the line.

    Used for services imported from CWL, whose argument lists depend on values (a boolean
    adds its prefix only when true; an absent optional value adds nothing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    position: float = 0
    order: int = 0
    value: str | None = None  # a literal argument (CWL ``arguments``)
    source: str | None = None  # "inputs.NAME" or "params.NAME"
    prefix: str | None = None
    separate: bool = True
    item_separator: str | None = None


class ServiceSpec(BaseModel):
    """A runnable service. Exactly one of ``python`` or ``command`` is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    python: str | None = None
    command: list[str] | None = None
    bindings: list[Binding] = Field(default_factory=list)  # appended to ``command`` (CWL)
    stdout: str | None = None  # name of an output captured from standard output
    inputs: dict[str, PortSpec] = Field(default_factory=dict)
    outputs: dict[str, PortSpec] = Field(default_factory=dict)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    env: dict[str, str] = Field(default_factory=dict)
    network: bool = False  # asks for the network; given only where the platform's policy allows it
    timeout_s: float | None = None
    retries: int | None = None
    origin: str | None = None  # e.g. "cwl:<CID of the CWL document>"

    @property
    def kind(self) -> str:
        return "python" if self.python else "command"

    def canonical(self) -> bytes:
        """Deterministic bytes of this service (its CID is the CID of these bytes)."""
        data = self.model_dump(mode="json")
        if not data.get("network"):
            data.pop("network", None)  # services that never asked keep the CIDs they always had
        return canonical_json(data)

    def cid(self) -> str:
        from eotrust.cid import cid_of_bytes

        return cid_of_bytes(self.canonical())


_SERVICE_KEYS = {
    "name",
    "description",
    "python",
    "command",
    "stdout",
    "inputs",
    "outputs",
    "params",
    "resources",
    "env",
    "timeout_s",
    "retries",
    "origin",
    "network",
}


def _ports(
    raw: Any, doc: YamlDoc, path: tuple[Any, ...], problems: list[Problem], outputs: bool
) -> dict[str, PortSpec]:
    ports: dict[str, PortSpec] = {}
    if raw is None:
        return ports
    if not isinstance(raw, dict):
        problems.append(doc.problem(f"'{path[-1]}' must be a mapping of names to port declarations", *path))
        return ports
    for name, decl in raw.items():
        where = path + (name,)
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(doc.problem(f"bad port name {name!r} (letters, digits, _ and -)", *where))
            continue
        if isinstance(decl, str):
            decl = {"type": decl}
        if not isinstance(decl, dict):
            problems.append(doc.problem(f"port {name!r} must be a type ('file', 'file[]') or a mapping", *where))
            continue
        allowed = {"type", "description", "filename"} | ({"glob"} if outputs else {"optional"})
        extra = set(decl) - allowed
        if extra:
            problems.append(
                doc.problem(f"unknown key(s) {', '.join(sorted(map(str, extra)))} in port {name!r}", *where)
            )
            continue
        if decl.get("type", "file") not in ("file", "file[]"):
            problems.append(
                doc.problem(f"port {name!r} has unknown type {decl.get('type')!r} (use 'file' or 'file[]')", *where)
            )
            continue
        fn = decl.get("filename")
        if fn is not None and (not isinstance(fn, str) or fn.startswith("/") or ".." in fn.split("/")):
            problems.append(
                doc.problem(f"port {name!r}: filename must be a relative path inside the working directory", *where)
            )
            continue
        ports[name] = PortSpec(**decl)
    return ports


def parse_service(
    raw: Any, name: str, doc: YamlDoc, path: tuple[Any, ...], problems: list[Problem]
) -> ServiceSpec | None:
    """A ServiceSpec from a document mapping; every mistake is appended to ``problems``."""
    start = len(problems)
    if not isinstance(raw, dict):
        problems.append(doc.problem(f"service {name!r} must be a mapping", *path))
        return None
    extra = set(raw) - _SERVICE_KEYS
    for key in sorted(map(str, extra)):
        problems.append(doc.problem(f"service {name!r}: unknown key {key!r}", *path, key))
    py, cmd = raw.get("python"), raw.get("command")
    if (py is None) == (cmd is None):
        problems.append(
            doc.problem(f"service {name!r} needs exactly one of 'python' (module:function) or 'command'", *path)
        )
    if py is not None and (not isinstance(py, str) or not ENTRY.match(py)):
        problems.append(
            doc.problem(
                f"service {name!r}: python entry point {py!r} must look like 'package.module:function'", *path, "python"
            )
        )
    argv: list[str] | None = None
    if cmd is not None:
        if isinstance(cmd, str):
            try:
                argv = shlex.split(cmd)
            except ValueError as exc:
                problems.append(doc.problem(f"service {name!r}: cannot split command: {exc}", *path, "command"))
        elif isinstance(cmd, list) and all(isinstance(a, (str, int, float)) for a in cmd):
            argv = [str(a) for a in cmd]
        else:
            problems.append(
                doc.problem(f"service {name!r}: 'command' must be a string or a list of strings", *path, "command")
            )
        if argv is not None and not argv:
            problems.append(doc.problem(f"service {name!r}: empty command", *path, "command"))
    inputs = _ports(raw.get("inputs"), doc, path + ("inputs",), problems, outputs=False)
    outputs = _ports(raw.get("outputs"), doc, path + ("outputs",), problems, outputs=True)
    params: dict[str, ParamSpec] = {}
    praw = raw.get("params") or {}
    if not isinstance(praw, dict):
        problems.append(doc.problem(f"service {name!r}: 'params' must be a mapping", *path, "params"))
        praw = {}
    for pname, decl in praw.items():
        if not isinstance(pname, str) or not NAME.match(pname):
            problems.append(doc.problem(f"service {name!r}: bad parameter name {pname!r}", *path, "params", pname))
            continue
        try:
            params[pname] = parse_param_decl(decl)
        except ValueError as exc:
            problems.append(doc.problem(f"service {name!r}, parameter {pname!r}: {exc}", *path, "params", pname))
    resources = Resources()
    rraw = raw.get("resources")
    if rraw is not None:
        try:
            if not isinstance(rraw, dict):
                raise ValueError("must be a mapping of cpus, memory_mb, gpus, disk_mb")
            resources = Resources(**rraw)
        except (ValueError, TypeError) as exc:
            msg = str(exc).splitlines()
            detail = "; ".join(line.strip() for line in msg[1:3]) if len(msg) > 1 else str(exc)
            problems.append(doc.problem(f"service {name!r}: bad resources ({detail})", *path, "resources"))
    stdout = raw.get("stdout")
    if stdout is not None and stdout not in outputs:
        problems.append(
            doc.problem(f"service {name!r}: stdout names {stdout!r}, which is not a declared output", *path, "stdout")
        )
    if argv is not None:
        declared: dict[str, Any] = {"inputs": inputs, "outputs": outputs, "params": params}
        for arg in argv:
            for group, ref in PLACEHOLDER.findall(arg):
                if ref not in declared[group]:
                    problems.append(
                        doc.problem(
                            f"service {name!r}: command refers to {{{group}.{ref}}}, but {group} has no {ref!r}"
                            f" (declared: {', '.join(declared[group]) or 'none'})",
                            *path,
                            "command",
                        )
                    )
    for key in ("timeout_s", "retries"):
        v = raw.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
            problems.append(doc.problem(f"service {name!r}: {key} must be a non-negative number", *path, key))
    env = raw.get("env") or {}
    if not isinstance(env, dict):
        problems.append(doc.problem(f"service {name!r}: env must be a mapping", *path, "env"))
        env = {}
    network = raw.get("network", False)
    if not isinstance(network, bool):
        problems.append(doc.problem(f"service {name!r}: network must be true or false", *path, "network"))
    if len(problems) > start:
        return None
    return ServiceSpec(
        name=str(raw.get("name", name)),
        description=str(raw.get("description", "")),
        python=py,
        command=argv,
        stdout=stdout,
        inputs=inputs,
        outputs=outputs,
        params=params,
        resources=resources,
        env={str(k): str(v) for k, v in env.items()},
        network=bool(network),
        timeout_s=raw.get("timeout_s"),
        retries=raw.get("retries"),
        origin=raw.get("origin"),
    )
