"""Run any CWL v1.2 document (CommandLineTool, ExpressionTool, Workflow) with cwltool as a
library, and keep eotrust's own value around it.

CWL semantics (expressions in node, secondaryFiles, scatter, conditionals, loadContents,
InitialWorkDir ...) are cwltool's: we call ``cwltool.main.main`` with our own executor and our
own tool factory, the two extension points cwltool offers its embedders (Weaver does the same).
Around it eotrust adds:

* a content-addressed cache: the key is the CID of (cwltool version, every process document of
  the run with its file references replaced by content CIDs, the job object with every File and
  Directory replaced by content CIDs). A hit restores the outputs from the store into the
  output directory without running anything; ``WorkReuse: {enableReuse: false}`` turns it off.
* the store: every output file is put in the store; the output object with CIDs is stored too.
* a run record (``eotrust-run/1``) with the log, so ``eotrust run show/prov`` and the API's
  ``/jobs/{id}/prov`` see CWL runs like any other.
* the sandbox: with ``settings.sandbox`` on (the default) every command line cwltool runs goes
  through bubblewrap (:mod:`eotrust.workflow.cwl_sandbox`); ``command_prefix`` is put before
  each command, inside the sandbox. The run record says whether the job ran sandboxed.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, MutableMapping, MutableSequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

from eotrust.errors import WorkflowError
from eotrust.limits import file_problem, json_loads
from eotrust.settings import Settings
from eotrust.store.base import Store
from eotrust.workflow.cwl_confine import confined_fetcher, confined_fs_access, real_roots
from eotrust.workflow.cwl_sandbox import CwlSandbox, sandboxed_job_class, tool_names

if TYPE_CHECKING:
    from cwltool.context import LoadingContext
    from cwltool.process import Process
    from ruamel.yaml.comments import CommentedMap

CACHE_FORMAT = "eotrust-cwl-cache/1"
OUTPUT_KEY = "cwl.output.json"

Json = dict[str, Any]


class CwlUnsupported(WorkflowError):
    """The document needs a CWL feature this runner does not offer (cwl-runner exit code 33)."""

    exit_code = 33


@dataclass(frozen=True)
class CwlOptions:
    """How to run: where outputs go, whether to use the cache, what wraps each command."""

    outdir: Path
    cache: bool = True
    command_prefix: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()
    package_cid: str | None = None  # a stored CWL package being run: the run record names it as its workflow
    # None: read anything (the cwl-runner interface, the user's own files); else the run reads
    # only under these (its documents, its inputs) and its own scratch space (cwl_confine)
    read_roots: tuple[Path, ...] | None = None


@dataclass
class CwlRunResult:
    """One run: the CWL output object, cwltool's exit code (0 ok, 1 failed, 33 unsupported),
    the run record's CID, whether it came from the cache, and the captured log."""

    output: Json | None
    exit_code: int
    run_cid: str | None
    cache_hit: bool
    key: str | None
    log: str
    started: float = 0.0
    ended: float = 0.0
    tool_cid: str | None = None
    name: str = ""
    inputs: Json = field(default_factory=dict)


def _file_uri_path(location: str) -> Path | None:
    if not location.startswith("file://"):
        return None
    return Path(unquote(urlparse(location).path))


def _walk_files(obj: Any, fn: Callable[[MutableMapping[str, Any]], None]) -> None:
    if isinstance(obj, MutableMapping):
        if obj.get("class") in ("File", "Directory"):
            fn(obj)
        for value in list(obj.values()):
            _walk_files(value, fn)
    elif isinstance(obj, MutableSequence):
        for value in obj:
            _walk_files(value, fn)


class _NotCacheable(Exception):
    pass


def _tree(path: Path) -> Iterator[tuple[str, Path]]:
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = Path(root) / name
            yield full.relative_to(path).as_posix(), full


def _content_view(obj: Any, cid_of: Callable[[Path], str]) -> Any:
    """A JSON copy of ``obj`` in which every local File/Directory is named by content."""
    if isinstance(obj, MutableMapping):
        out = {
            str(k): _content_view(v, cid_of)
            for k, v in obj.items()
            if k not in ("location", "path", "dirname", "nameroot", "nameext", "listing")
        }
        kind = obj.get("class")
        if kind in ("File", "Directory") and ("location" in obj or "path" in obj):
            location = str(obj.get("location") or obj.get("path"))
            path = _file_uri_path(location) if "://" in location else Path(location)
            if path is None or not path.exists():
                if "contents" in obj or "listing" in obj or location.startswith("_:"):
                    return out | ({"listing": _content_view(obj["listing"], cid_of)} if "listing" in obj else {})
                raise _NotCacheable(location)
            if path.is_file():
                out["eotrust:cid"] = cid_of(path)
            else:
                out["eotrust:tree"] = [[rel, cid_of(p)] for rel, p in _tree(path)]
        elif kind == "Directory" and "listing" in obj:
            out["listing"] = _content_view(obj["listing"], cid_of)
        return out
    if isinstance(obj, MutableSequence):
        return [_content_view(v, cid_of) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def _relative_uris(text: str, base: str) -> str:
    return text.replace(base, "") if base else text


_BLANK = re.compile(r"_:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _blank_ids(text: str) -> str:
    """cwltool names an inline process (``run:`` written in place) ``_:<random uuid>``: number
    them in order of appearance, so the same document always has the same CID."""
    seen: dict[str, str] = {}
    return _BLANK.sub(lambda m: seen.setdefault(m.group(0), f"_:{len(seen)}"), text)


def _with_secondary_files(process: Any, job: Any, runtime_context: Any) -> Json:
    """The job object as the run will see it: with the ``secondaryFiles`` cwltool finds beside
    each input File (they are inputs too, so they are part of the cache key). _NotCacheable when
    cwltool cannot bind the job (cwltool then reports why, when it runs)."""
    import copy

    scratch = tempfile.mkdtemp(prefix="eotrust-cwl-key-")
    try:
        rc = runtime_context.copy()
        rc.toplevel = True
        rc.outdir = rc.tmpdir = rc.stagedir = scratch
        builder = process._init_job(copy.deepcopy(dict(job)), rc)
        builder.loadListing = "no_listing"
        builder.bind_input(process.inputs_record_schema, builder.job, discover_secondaryFiles=True)
        return dict(builder.job)
    except Exception as exc:  # noqa: BLE001 - any failure to bind means: do not cache, let cwltool say why
        raise _NotCacheable(str(exc)) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _MakeTool(Protocol):
    """cwltool's ``LoadingContext.construct_tool_object`` (as ``default_make_tool``)."""

    def __call__(self, toolpath_object: CommentedMap, loadingContext: LoadingContext) -> Process: ...


def _make_tool_factory(
    prefix: tuple[str, ...], sandbox: CwlSandbox | None = None, networked: list[str] | None = None
) -> _MakeTool:
    """cwltool's tool factory: every CommandLineTool's commands run in ``sandbox`` (when given),
    each prefixed by ``prefix`` (:func:`~eotrust.workflow.cwl_sandbox.sandboxed_job_class`)."""
    from cwltool.command_line_tool import CommandLineTool
    from cwltool.job import CommandLineJob
    from cwltool.workflow import default_make_tool

    job_class = sandboxed_job_class(sandbox, prefix, networked)

    class _PrefixedTool(CommandLineTool):
        def make_job_runner(self, runtimeContext: Any) -> Any:
            runner = super().make_job_runner(runtimeContext)
            if runner is not CommandLineJob:
                return runner
            return type("ToolJob", (job_class,), {"tool_names": tool_names(self.tool)})  # the policy names tools

    def make_tool(toolpath_object: CommentedMap, loadingContext: LoadingContext) -> Process:
        if (
            (prefix or sandbox is not None)
            and isinstance(toolpath_object, MutableMapping)
            and toolpath_object.get("class") == "CommandLineTool"
        ):
            return _PrefixedTool(toolpath_object, loadingContext)
        return default_make_tool(toolpath_object, loadingContext)

    return make_tool


def _cwltool_version() -> str:
    from importlib.metadata import version

    return f"cwltool/{version('cwltool')}"


def _reuse_disabled(process: Any) -> bool:
    flags: list[bool] = []

    def visit(tool: MutableMapping[str, Any]) -> None:
        for req in list(tool.get("requirements") or []) + list(tool.get("hints") or []):
            if isinstance(req, MutableMapping) and str(req.get("class", "")).endswith("WorkReuse"):
                if req.get("enableReuse") is False:
                    flags.append(True)

    process.visit(visit)
    return bool(flags)


@dataclass
class _RunState:
    """What the executor learnt, for the run record."""

    key: str | None = None
    tool_cid: str | None = None
    cache_hit: bool = False
    inputs_view: Json = field(default_factory=dict)
    output_view: Json | None = None
    output_cid: str | None = None
    name: str = ""
    sandboxed: bool | None = None  # how the outputs were made (from the cache entry on a hit)
    network: bool | None = None
    networked: list[str] = field(default_factory=list)  # jobs the sandbox gave the network


def _executor(
    store: Store, settings: Settings, options: CwlOptions, state: _RunState, base_uri: str, floor_mb: int | None
) -> Any:
    """cwltool's executor with eotrust's step cache, content-addressed outputs and, when the
    tools run sandboxed (``floor_mb`` given), the disk floor kept while outputs are stored."""
    from cwltool.executors import SingleJobExecutor

    from eotrust.cid import canonical_json, cid_of_bytes
    from eotrust.workflow.cache import CacheEntry, StepCache

    cids: dict[Path, str] = {}

    def cid_of(path: Path) -> str:
        path = path.resolve()
        if path not in cids:
            cids[path] = store.put_file(path)
        return cids[path]

    class CachingExecutor(SingleJobExecutor):
        def execute(
            self,
            process: Any,
            job_order_object: Any,
            runtime_context: Any,
            logger: logging.Logger = logging.getLogger("cwltool"),
        ) -> tuple[Any, str]:
            if runtime_context.validate_only:
                return super().execute(process, job_order_object, runtime_context, logger)
            ident = str(process.tool.get("id", "")).rsplit("/", 1)[-1].replace(".cwl#main", "").replace("#", ":")
            state.name = str(process.tool.get("label") or ident)
            tools: list[Any] = []
            process.visit(lambda t: tools.append(t))
            material: bytes | None = None
            try:
                views = sorted(
                    json.dumps(_content_view(t, cid_of), sort_keys=True) for t in tools
                )  # visit order varies
                tool_view = json_loads(_blank_ids(_relative_uris("[" + ",".join(views) + "]", base_uri)))
                state.tool_cid = cid_of_bytes(canonical_json({"cwl": tool_view}))
                keyed_job = _with_secondary_files(process, job_order_object, runtime_context)
                job_view = json_loads(
                    _relative_uris(json.dumps(_content_view(keyed_job, cid_of), sort_keys=True), base_uri)
                )
                state.inputs_view = job_view
                material = canonical_json(
                    {"format": CACHE_FORMAT, "runner": _cwltool_version(), "tool": state.tool_cid, "inputs": job_view}
                )
                state.key = cid_of_bytes(material)
            except _NotCacheable:
                material = None
            use_cache = options.cache and material is not None and not _reuse_disabled(process)
            cache = StepCache(settings.path("workflow", "cache")) if use_cache else None
            try:
                outdir = Path(runtime_context.outdir or options.outdir).resolve()
                if cache is not None and material is not None:
                    entry = cache.get(material)
                    if entry is not None and OUTPUT_KEY in entry.outputs:
                        try:
                            view = json_loads(store.get_bytes(entry.outputs[OUTPUT_KEY]))
                            out = _materialise(view, outdir, store)
                            state.cache_hit, state.output_view = True, view
                            state.sandboxed, state.network = entry.sandboxed, entry.network
                            state.output_cid = entry.outputs[OUTPUT_KEY]
                            logger.info("eotrust: cache hit %s", state.key)
                            return out, "success"
                        except Exception as exc:  # a damaged entry is dropped, then the tool runs
                            logger.warning("eotrust: dropping damaged cache entry %s: %s", state.key, exc)
                            cache.drop(material)
                started = time.time()
                out, status = super().execute(process, job_order_object, runtime_context, logger)
                if status == "success" and out is not None and floor_mb is not None:
                    short = _storing_breaks_floor(out, outdir, floor_mb)
                    if short is not None:
                        logger.error("eotrust: %s", short)
                        return None, "permanentFail"
                if status == "success" and out is not None:
                    try:
                        view = _output_view(out, outdir, cid_of)
                    except _NotCacheable:
                        view = None
                    if view is not None:
                        state.output_view = view
                        state.output_cid = store.put_bytes(canonical_json(view))
                        if cache is not None and material is not None and state.key is not None:
                            cache.put(
                                material,
                                CacheEntry(
                                    key=state.key,
                                    service_cid=state.tool_cid or "",
                                    outputs={OUTPUT_KEY: state.output_cid},
                                    stdout_cid=None,
                                    stderr_cid=None,
                                    exit_status=0,
                                    started=started,
                                    ended=time.time(),
                                    host=socket.gethostname(),
                                    sandboxed=state.sandboxed,
                                    network=state.network or bool(state.networked),
                                ),
                            )
                return out, status
            finally:
                if cache is not None:
                    cache.close()

    return CachingExecutor()


def _output_files(out: Any) -> Iterator[tuple[str, Path]]:
    """(output name, path) of every local file of a CWL output object (inside Directories too)."""
    if isinstance(out, MutableMapping):
        for name, value in out.items():
            for path in _files_of(value):
                yield str(name), path


def _files_of(value: Any) -> Iterator[Path]:
    if isinstance(value, MutableMapping):
        kind = value.get("class")
        path = _file_uri_path(str(value.get("location", ""))) if kind in ("File", "Directory") else None
        if kind == "File" and path is not None and path.is_file() and not path.is_symlink():
            yield path
        elif kind == "Directory" and path is not None and path.is_dir():
            for _, p in _tree(path):
                if p.is_file() and not p.is_symlink():
                    yield p
        for key in ("secondaryFiles", "listing"):
            for item in value.get(key) or ():
                yield from _files_of(item)
    elif isinstance(value, MutableSequence):
        for item in value:
            yield from _files_of(item)


def _storing_breaks_floor(out: Any, outdir: Path, floor_mb: int) -> str | None:
    """Why the outputs of a sandboxed tool cannot be copied into the store without taking the
    platform's disk below its floor (the outputs are then deleted); None when they fit."""
    from eotrust.workflow.sandbox.disk import DiskFloor

    files: dict[Path, str] = {}  # a file two outputs name is stored once
    for name, path in _output_files(out):
        files.setdefault(path.resolve(), name)
    why = DiskFloor(outdir, floor_mb).room_for(sum(path.stat().st_size for path in files))
    if why is None:
        return None
    for path in files:
        path.unlink(missing_ok=True)
    names = sorted(set(files.values()))
    return f"output{'s' if len(names) > 1 else ''} {', '.join(repr(n) for n in names)}: {why}"


def _output_view(out: Any, outdir: Path, cid_of: Callable[[Path], str]) -> Any:
    """The output object with each file named by its path under ``outdir`` and its CID."""
    if isinstance(out, MutableMapping):
        kind = out.get("class")
        view = {
            str(k): _output_view(v, outdir, cid_of)
            for k, v in out.items()
            if k not in ("location", "path", "dirname", "nameroot", "nameext", "listing")
        }
        if kind in ("File", "Directory") and "location" in out:
            path = _file_uri_path(str(out["location"]))
            if path is None or not path.resolve().is_relative_to(outdir):
                raise _NotCacheable(str(out["location"]))
            view["eotrust:path"] = path.resolve().relative_to(outdir).as_posix()
            if kind == "File":
                view["eotrust:cid"] = cid_of(path)
            else:
                view["eotrust:tree"] = [[rel, cid_of(p)] for rel, p in _tree(path)]
                if "listing" in out:
                    view["listing"] = _output_view(out["listing"], outdir, cid_of)
        return view
    if isinstance(out, MutableSequence):
        return [_output_view(v, outdir, cid_of) for v in out]
    return out


def _materialise(view: Any, outdir: Path, store: Store) -> Any:
    """Write the files a cached output view names into ``outdir``; the CWL output object."""
    if isinstance(view, dict):
        out = {k: _materialise(v, outdir, store) for k, v in view.items() if not k.startswith("eotrust:")}
        rel = view.get("eotrust:path")
        if isinstance(rel, str):
            target = (outdir / rel).resolve()
            if not target.is_relative_to(outdir):
                raise WorkflowError(f"cached output path {rel!r} leaves the output directory")
            if view.get("class") == "File":
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    store.get_file(str(view["eotrust:cid"]), target)
            else:
                target.mkdir(parents=True, exist_ok=True)
                for sub, cid in view.get("eotrust:tree", []):
                    dest = (target / sub).resolve()
                    if not dest.is_relative_to(target):
                        raise WorkflowError(f"cached output path {sub!r} leaves its directory")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    if not dest.exists():
                        store.get_file(str(cid), dest)
            out["location"] = target.as_uri()
        return out
    if isinstance(view, list):
        return [_materialise(v, outdir, store) for v in view]
    return view


def _flatten_cids(view: Any, prefix: str, files: dict[str, str | list[str]], scalars: Json) -> None:
    if isinstance(view, dict) and view.get("class") in ("File", "Directory"):
        cid = view.get("eotrust:cid")
        if cid:
            files[prefix] = str(cid)
        return
    if isinstance(view, list) and view and all(isinstance(v, dict) and v.get("eotrust:cid") for v in view):
        files[prefix] = [str(v["eotrust:cid"]) for v in view]
        return
    scalars[prefix] = view


def _keep_standard_schemas() -> None:
    """Drop any custom (extension) CWL schema; keep cwltool's cached standard ones."""
    from cwltool.process import custom_schemas, use_standard_schema

    for version in list(custom_schemas):
        use_standard_schema(version)  # drops the custom schema and what was parsed of it


def standard_schemas_kept(*, enable_ext: bool = False) -> Callable[[], None] | None:
    """What to pass as ``cwltool.main.main``'s ``custom_schema_callback``.

    Without one, cwltool empties its schema cache on every call (``use_standard_schema``)
    and loads the CWL schema again (half a second of YAML each time, in a server or an agent
    that validates many documents); with this one the standard schemas stay cached. With
    ``--enable-ext`` cwltool installs its extension schemas itself (None)."""
    return None if enable_ext else _keep_standard_schemas


def _cwltool_status(main: Callable[..., int], **kwargs: Any) -> int:
    """cwltool's ``main``, whose status it returns, or the status it gave ``sys.exit`` (it exits
    on a job file that is empty or not a mapping; its reason is in the log by then)."""
    try:
        return main(**kwargs)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def run_cwl(
    settings: Settings,
    process: Path | str,
    job: Path | None,
    options: CwlOptions,
    *,
    store: Store | None = None,
    job_object: Json | None = None,
) -> CwlRunResult:
    """Run a CWL document (path or URL) on a job file (or ``job_object``); never raises for a
    failing tool: the result's ``exit_code`` says how it went, as cwl-runner's would."""
    from cwltool.argparser import arg_parser
    from cwltool.context import LoadingContext, RuntimeContext
    from cwltool.main import main as cwltool_main

    from eotrust.workflow.cwl_js import install_js_engine, loose_js
    from eotrust.workflow.record import RunRecord, StepRecord, save_record

    if store is None:
        from eotrust.store import open_store

        store = open_store(settings)
    process_ref = str(process)
    process_file = process_ref.split("#", 1)[0]  # a document may name one process in it: tool.cwl#main
    if "://" not in process_ref and (problem := file_problem(process_file)):  # a pipe: cwltool would wait on it
        raise WorkflowError(f"CWL document {process_ref} {problem}", hint="give the path of a .cwl file")
    if job is not None and (problem := file_problem(job)):
        raise WorkflowError(f"CWL job file {job} {problem}", hint="give a .yml or .json input object")
    options.outdir.mkdir(parents=True, exist_ok=True)
    scratch: Path | None = None
    confine: list[str] = []
    if options.read_roots is not None:  # cwltool's tmp, staging and step output dirs in a scratch dir of this run
        scratch = Path(tempfile.mkdtemp(prefix="eotrust-cwl-run-"))
        confine = ["--tmpdir-prefix", f"{scratch}/tmp", "--tmp-outdir-prefix", f"{scratch}/out"]
    argsl = [
        "--outdir",
        str(options.outdir),
        "--no-container",
        "--disable-color",
        *confine,
        *options.extra_args,
        process_ref,
    ]
    if job is not None:
        argsl.append(str(job))
    args = arg_parser().parse_args(argsl)
    loading = LoadingContext(vars(args))
    sandbox = CwlSandbox.from_settings(settings)
    install_js_engine(sandbox.hidden if sandbox is not None else ())
    roots: tuple[Path, ...] = ()
    if options.read_roots is not None and scratch is not None:
        roots = real_roots([*options.read_roots, scratch, options.outdir])
        if sandbox is not None:
            sandbox = replace(sandbox, read_roots=roots)
    state = _RunState(sandboxed=sandbox is not None, network=sandbox is None)
    loading.construct_tool_object = _make_tool_factory(options.command_prefix, sandbox, state.networked)
    runtime = RuntimeContext(vars(args))
    if roots:
        runtime.make_fs_access = confined_fs_access(roots)
        loading.fetcher_constructor = confined_fetcher(roots)  # documents and job order: no URL, nothing outside
    base = Path(process_file).resolve().parent.as_uri() + "/" if "://" not in process_ref else ""
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    stdout = io.StringIO()
    started = time.time()
    loose = loose_js.set(sandbox is None)  # expressions jailed like commands, unless the sandbox is off
    try:
        code = _cwltool_status(
            cwltool_main,
            args=args,
            stdout=stdout,
            stderr=log,
            logger_handler=handler,
            executor=_executor(
                store, settings, options, state, base, sandbox.policy.min_free_disk_mb if sandbox else None
            ),
            loadingContext=loading,
            runtimeContext=runtime,
            job_order_object=job_object,
            custom_schema_callback=standard_schemas_kept(enable_ext=bool(args.enable_ext)),
        )
    finally:
        loose_js.reset(loose)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    ended = time.time()
    if not state.cache_hit and state.networked:
        state.network = True
    text = stdout.getvalue().strip()
    output: Json | None = None
    if text:
        try:
            output = json_loads(text)
        except ValueError:
            output = None
    log_text = log.getvalue()
    run_cid: str | None = None
    if state.tool_cid is not None:
        in_files: dict[str, str | list[str]] = {}
        params: Json = {}
        for name, value in state.inputs_view.items():
            _flatten_cids(value, name, in_files, params)
        out_files: dict[str, str | list[str]] = {}
        out_scalars: Json = {}
        for name, value in (state.output_view or {}).items():
            _flatten_cids(value, name, out_files, out_scalars)
        if state.output_cid:
            out_files[OUTPUT_KEY] = state.output_cid
        ok = code == 0
        log_cid = store.put_bytes(log_text.encode())
        name = state.name or Path(process_file).stem
        step = StepRecord(
            step=name,
            service=f"cwl:{name}",
            service_cid=state.tool_cid,
            key=state.key or "",
            inputs=in_files,
            outputs={k: v for k, v in out_files.items() if isinstance(v, str)},
            params=params,
            started=started,
            ended=ended,
            host=socket.gethostname(),
            exit_status=code,
            cache_hit=state.cache_hit,
            attempts=0 if state.cache_hit else 1,
            log_cid=log_cid,
            error=None if ok else last_error(log_text),
            sandboxed=state.sandboxed,
            network=state.network,
        )
        record = RunRecord(
            workflow=name,
            workflow_cid=options.package_cid or state.tool_cid,
            status="succeeded" if ok else "failed",
            error=step.error,
            failed_step=None if ok else name,
            inputs=in_files,
            params=params,
            outputs=out_files,
            started=started,
            ended=ended,
            host=socket.gethostname(),
            executor=_cwltool_version(),
            steps=[step],
        )
        run_cid = save_record(store, settings.path("workflow", "runs"), record)
    return CwlRunResult(
        output=output,
        exit_code=code,
        run_cid=run_cid,
        cache_hit=state.cache_hit,
        key=state.key,
        log=log_text,
        started=started,
        ended=ended,
        tool_cid=state.tool_cid,
        name=state.name or Path(process_file).stem,
        inputs=state.inputs_view,
    )


_LEVELS = ("DEBUG ", "INFO ", "WARNING ", "ERROR ", "CRITICAL ")
_NOISE = ("Unhandled error, try again with --debug for more information:",)


def last_error(log_text: str) -> str:
    """The run's last error as one line: the last ERROR record of the log (with its indented
    continuation lines, without cwltool's "try again with --debug" preamble), else its last line."""
    records: list[str] = []
    for line in log_text.splitlines():
        if not line.strip():
            continue
        if line.startswith(_LEVELS) or not records:
            records.append(line.strip())
        else:
            records[-1] += " " + line.strip()
    errors = [r for r in records if r.startswith(("ERROR ", "CRITICAL "))]
    text = errors[-1] if errors else (records[-1] if records else "the CWL run failed")
    for noise in _NOISE:
        text = text.replace(noise, "").replace("  ", " ")
    return " ".join(text.split())[:500]
