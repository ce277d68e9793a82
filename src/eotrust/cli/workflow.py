"""`eotrust workflow ...` (validate, run, publish, list, describe, import-cwl) and
`eotrust run ...` (list, show, logs, prov): thin shells over :mod:`eotrust.workflow`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from eotrust.cli.common import (
    JsonOption,
    NoSandboxOption,
    backends_of,
    console,
    err_console,
    maybe_unsandboxed,
    print_json,
    settings_of,
)
from eotrust.errors import InvalidInputError, WorkflowError

if TYPE_CHECKING:
    from eotrust.settings import Settings
    from eotrust.store.base import Store

workflow_app = typer.Typer(
    help="Workflows: validate, run (cached, parallel, on Dask), publish, sweep.", no_args_is_help=True
)
run_app = typer.Typer(help="Run records: list, show, step logs, W3C PROV export.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(workflow_app, name="workflow")
    app.add_typer(run_app, name="run")


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"bad {what} {item!r}", hint=f"write {what}s as NAME=VALUE")
        out[key.strip()] = value
    return out


def _inputs(raw: dict[str, str], store: Store) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in raw.items():
        items = [v for v in value.split(",") if v]
        cids = [store.put_file(Path(v)) if Path(v).is_file() else v for v in items]
        out[name] = cids[0] if len(cids) == 1 and "," not in value else cids
    return out


class _Progress:
    """Rich progress bars, one per step, fed by the engine's StepEvents."""

    def __init__(self, runs: int = 1) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        # a sweep runs every step once per combination: a step's bar counts the instances
        # planned by all of its runs (not "6/2 done")
        self.runs = runs
        self.planned: dict[str, int] = {}

    def __enter__(self) -> _Progress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def __call__(self, ev: Any) -> None:
        if ev.step not in self.tasks:
            self.tasks[ev.step] = self.progress.add_task(ev.step, total=ev.total, note="")
        tid = self.tasks[ev.step]
        if ev.kind == "planned":
            if self.runs > 1:
                self.planned[ev.step] = self.planned.get(ev.step, 0) + (ev.total or 0)
                self.progress.update(tid, total=self.planned[ev.step], note="")
            else:
                self.progress.update(tid, total=ev.total, note="")
        elif ev.kind == "submitted":
            self.progress.update(tid, note="running" if ev.attempt == 1 else f"attempt {ev.attempt}")
        elif ev.kind in ("done", "cached"):
            self.progress.update(tid, advance=1, note="cached" if ev.kind == "cached" else "done")
        elif ev.kind == "retry":
            self.progress.update(tid, note=f"[yellow]retry: {escape(ev.message)}[/]")
        elif ev.kind == "failed":
            self.progress.update(tid, note=f"[red]failed: {escape(ev.message)}[/]")


def _steps_table(steps: list[Any]) -> Any:
    from rich.text import Text

    from eotrust.cli.common import Table

    table = Table(title="steps")
    for col in ("step", "service", "status", "duration", "attempts", "host", "sandbox", "outputs"):
        table.add_column(col)
    for s in steps:
        status = (
            Text("cached", style="cyan")
            if s.cache_hit
            else (Text("ok", style="green") if s.error is None else Text(s.error, style="red"))
        )
        boxed: str | Text = "?" if s.sandboxed is None else "yes" + (" +net" if s.network else "")
        if s.sandboxed is False:
            boxed = Text("NO", style="bold red")
        table.add_row(
            s.label,
            s.service,
            status,
            f"{s.duration_s:.3f} s",
            str(s.attempts),
            s.host,
            boxed,
            "\n".join(f"{k}={v}" for k, v in s.outputs.items()),
        )
    return table


@workflow_app.command("validate")
def validate_cmd(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="workflow YAML file, or a CWL document"),
    json_: bool = JsonOption,
) -> None:
    """Check a workflow (or a CWL document, with cwltool); list every problem with its line."""
    from eotrust.workflow.errors import WorkflowValidationError
    from eotrust.workflow.spec import load_workflow

    settings_of(ctx)
    if file.suffix == ".cwl":
        _validate_cwl(file, json_)
        return
    try:
        spec = load_workflow(file)
    except WorkflowValidationError as exc:
        if json_:
            print_json(
                {
                    "valid": False,
                    "problems": [{"line": p.line, "message": p.message, "source": p.source} for p in exc.problems],
                }
            )
        else:
            for p in exc.problems:
                err_console.print(f"[red]{escape(str(p))}[/]", highlight=False)
        raise typer.Exit(1) from None
    if json_:
        print_json({"valid": True, "name": spec.name, "steps": spec.order, "open_params": list(spec.open_params())})
        return
    console.print(
        f"[green]valid[/]: {spec.name}: {len(spec.steps)} steps ({' -> '.join(spec.order)}), "
        f"{len(spec.services)} services; open parameters: {', '.join(spec.open_params()) or 'none'}"
    )


def _validate_cwl(file: Path, json_: bool) -> None:
    """`workflow validate x.cwl`: measured, then validated by cwltool (packing it); its interface."""
    from eotrust.workflow.cwl_documents import pack_checked
    from eotrust.workflow.cwl_package import cwl_interface

    iface = cwl_interface(pack_checked(file), name=file.stem)
    params = list(iface.parameters_schema["properties"])
    if json_:
        print_json(
            {
                "valid": True,
                "name": iface.name,
                "class": iface.klass,
                "inputs": iface.data_inputs,
                "params": params,
                "open_params": iface.parameters_schema["required"],
                "outputs": iface.outputs,
            }
        )
        return
    console.print(
        f"[green]valid[/]: CWL {iface.klass} {iface.name}: inputs {', '.join(iface.data_inputs) or 'none'}; "
        f"parameters {', '.join(params) or 'none'}; outputs {', '.join(iface.outputs) or 'none'}"
    )


@workflow_app.command("import-cwl")
def import_cwl_cmd(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="a CWL v1.2 CommandLineTool or Workflow"),
    package: bool = typer.Option(False, "--package", help="store it as a CWL package even if it maps to a service"),
    json_: bool = JsonOption,
) -> None:
    """Import a CWL document: a plain CommandLineTool becomes a service; a Workflow, or a tool with
    JavaScript, secondaryFiles, scatter ... a stored CWL package run through cwltool. Prints its CID."""
    from eotrust.workflow.cwl_documents import import_cwl_document

    done = import_cwl_document(file, backends_of(ctx).store, as_package=package)
    svc, pkg, cid = done.service, done.package, done.cid
    if json_:
        print_json(
            {
                "cid": cid,
                "kind": "service" if svc else "cwl-package",
                "service": svc,
                "package": None
                if pkg is None
                else {
                    "name": pkg.name,
                    "class": pkg.klass,
                    "inputs": pkg.data_inputs,
                    "parameters": pkg.parameters_schema,
                    "outputs": pkg.outputs,
                },
                "reason": done.reason or None,
            }
        )
        return
    if pkg is not None:
        console.print(f"CWL {pkg.klass} [bold]{pkg.name}[/] stored as package {cid}")
        console.print(f"  runs through cwltool (not a native eotrust service: {done.reason})")
        console.print(
            f"  inputs: {', '.join(pkg.data_inputs) or 'none'}; params: "
            f"{', '.join(pkg.parameters_schema['properties']) or 'none'}; outputs: {', '.join(pkg.outputs)}"
        )
        console.print(f"  run it:  eotrust workflow run {cid} -i NAME=FILE -p NAME=VALUE")
        return
    assert svc is not None
    console.print(f"service [bold]{svc.name}[/] stored as {cid}")
    console.print(f"  command: {' '.join(svc.command or [])} + {len(svc.bindings)} bindings")
    console.print(
        f"  inputs: {', '.join(svc.inputs) or 'none'}; params: {', '.join(svc.params) or 'none'}; outputs: {', '.join(svc.outputs)}"
    )
    console.print(f"  use it in a workflow as:  services: {{ {svc.name}: {{cid: {cid}}} }}")


def _run_cwl(
    settings: Settings,
    ref: str,
    package_cid: str | None,
    inputs: dict[str, str],
    params: dict[str, str],
    store: Store,
    json_: bool,
) -> None:
    """`workflow run X -i name=FILE -p name=VALUE` where X is a .cwl file, a stored CWL package or a
    published CWL name: run by cwltool (see `eotrust cwl-runner` for a job file); VALUEs are read as
    YAML (numbers, lists, true/false); a FILE may be a CID for a stored package."""
    import yaml

    from eotrust.limits import check_yaml
    from eotrust.workflow.cwl_documents import run_cwl_file, run_cwl_stored
    from eotrust.workflow.cwl_runner import last_error

    for k, v in params.items():  # measured before it is parsed (issue 12), as `flow request -p` is
        check_yaml(v, what=f"the value of {k}")
    values: dict[str, Any] = {k: yaml.safe_load(v) for k, v in params.items()}
    if package_cid is None:
        files = {k: [Path(v) for v in value.split(",") if v] for k, value in inputs.items()}
        result = run_cwl_file(
            settings,
            Path(ref),
            files,
            values,
            store=store,
            outdir=Path.cwd(),
            lists={k for k, v in inputs.items() if "," in v},
        )
    else:
        result = run_cwl_stored(settings, package_cid, _inputs(inputs, store), values, store=store, outdir=Path.cwd())
    if json_:
        print_json({"run_cid": result.run_cid, "cache_hit": result.cache_hit, "output": result.output})
    elif result.exit_code == 0:
        console.print(f"run {result.run_cid}: [green]succeeded[/]" + (" (from the cache)" if result.cache_hit else ""))
        for name, value in (result.output or {}).items():
            console.print(f"  {name}: {_shown(value)}")
    if result.exit_code != 0:
        raise WorkflowError(
            f"CWL run of {Path(ref).name} failed: {last_error(result.log)}",
            hint=f"run record {result.run_cid}; `eotrust run logs {result.run_cid} {result.name}`",
        )


def _shown(value: Any) -> str:
    """A CWL output value for people: files (and lists of them) by path."""
    if isinstance(value, dict) and value.get("class") in ("File", "Directory"):
        return str(value.get("path") or value.get("location"))
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


def _cwl_package_of(settings: Settings, ref: str, store: Store) -> str | None:
    """The CID of the CWL package ``ref`` names (a stored package's CID, a published CWL name)."""
    from eotrust.workflow.cwl_documents import package_bytes
    from eotrust.workflow.registry import published_cwl

    if Path(ref).exists():
        return None
    if package_bytes(store, ref) is not None:
        return ref
    return published_cwl(settings, ref)


@workflow_app.command("run")
def run_cmd(
    ctx: typer.Context,
    workflow: str = typer.Argument(..., help="workflow file, stored workflow CID, or published name"),
    input_: list[str] | None = typer.Option(
        None, "--input", "-i", help="NAME=CID (or a file to store; comma-separate a list)"
    ),
    param: list[str] | None = typer.Option(None, "--param", "-p", help="NAME=VALUE; comma-separated values sweep"),
    force: list[str] | None = typer.Option(None, "--force", help="re-run STEP even if cached (repeatable)"),
    dask: str | None = typer.Option(None, "--dask", help="Dask scheduler address (default: settings.dask_scheduler)"),
    local_dask: int = typer.Option(0, "--local-dask", help="start a local Dask cluster with N workers and run on it"),
    retries: int | None = typer.Option(None, "--retries", help="retries of a failed step (default: settings)"),
    json_: bool = JsonOption,
    no_sandbox: bool = NoSandboxOption,
) -> None:
    """Run a workflow with live progress; print the steps (duration, cache) and outputs."""
    from eotrust.workflow.engine import run_workflow
    from eotrust.workflow.executors import open_executor
    from eotrust.workflow.sweep import expand_sweep, run_sweep

    settings = maybe_unsandboxed(settings_of(ctx), no_sandbox)
    store = backends_of(ctx).store
    package_cid = None if workflow.endswith(".cwl") else _cwl_package_of(settings, workflow, store)
    if workflow.endswith(".cwl") or package_cid is not None:
        _run_cwl(settings, workflow, package_cid, _pairs(input_, "input"), _pairs(param, "parameter"), store, json_)
        return
    from eotrust.workflow.registry import resolve_workflow

    spec = resolve_workflow(settings, workflow, store=store)
    inputs = _inputs(_pairs(input_, "input"), store)
    params: dict[str, Any] = _pairs(param, "parameter")
    cluster = None
    executor = None
    try:
        if local_dask:
            from distributed import LocalCluster

            # distributed's LocalCluster.__init__ is unannotated
            cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=local_dask,
                threads_per_worker=1,
                processes=True,
                resources={"CPU": 1},
                dashboard_address=None,
                local_directory=str(settings.path("tmp")),  # not the machine's shared /tmp
            )
            err_console.print(f"local Dask cluster at {cluster.scheduler_address} ({local_dask} workers)")
            dask = cluster.scheduler_address
        executor = open_executor(settings.model_copy(update={"dask_scheduler": dask}) if dask else settings, store)
        swept, combos = expand_sweep(spec, params)
        t0 = time.perf_counter()
        if len(combos) > 1:
            with _Progress(runs=len(combos)) if not json_ else _nullcontext() as prog:
                result = run_sweep(
                    settings,
                    spec,
                    inputs,
                    params,
                    store=store,
                    executor=executor,
                    force=set(force or []),
                    retries=retries,
                    progress=None if json_ else _sweep_progress(prog),
                )
            _print_sweep(result, json_)
            if not result.ok:
                raise typer.Exit(1)
            return
        with _Progress() if not json_ else _nullcontext() as prog:
            res = run_workflow(
                settings,
                spec,
                inputs,
                combos[0],
                store=store,
                executor=executor,
                force=set(force or []),
                progress=prog,
                retries=retries,
            )
        took = time.perf_counter() - t0
    finally:
        if executor is not None:
            executor.close()
        if cluster is not None:
            cluster.close()
    if json_:
        print_json(
            {
                "run_cid": res.run_cid,
                "status": res.status,
                "outputs": res.outputs,
                "workflow_cid": res.workflow_cid,
                "steps": res.steps,
            }
        )
        return
    console.print(_steps_table(res.steps))
    hits = sum(1 for s in res.steps if s.cache_hit)
    console.print(f"[green]succeeded[/] in {took:.2f} s ({hits}/{len(res.steps)} steps from cache); run {res.run_cid}")
    for name, value in res.outputs.items():
        console.print(f"  output {name}: {value}")


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _sweep_progress(prog: Any) -> Any:
    if prog is None:
        return None
    import threading

    lock = threading.Lock()

    def cb(ev: Any) -> None:
        with lock:
            prog(ev)

    return cb


def _print_sweep(result: Any, json_: bool) -> None:
    if json_:
        print_json({"swept": result.swept, "runs": result.rows})
        return
    from rich.text import Text

    from eotrust.cli.common import Table

    metric_cols = sorted({k for r in result.rows for k in r.metrics})
    table = Table(title=f"sweep over {', '.join(result.swept)}")
    for col in [*result.swept, "status", *metric_cols, "run"]:
        table.add_column(col)
    for r in result.rows:
        status = Text("ok", style="green") if r.status == "succeeded" else Text(str(r.error), style="red")
        table.add_row(
            *[str(r.params[k]) for k in result.swept],
            status,
            *[_cell(r.metrics.get(k, "")) for k in metric_cols],
            r.run_cid or "",
        )
    console.print(table)


def _cell(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


@workflow_app.command("publish")
def publish_cmd(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="workflow YAML file"),
    name: str | None = typer.Option(None, "--name", help="published name (default: the workflow's)"),
    json_: bool = JsonOption,
) -> None:
    """Store a workflow and its services (or a packed CWL document) by CID and list it under a name."""
    from eotrust.workflow.registry import publish_cwl, publish_workflow
    from eotrust.workflow.spec import load_workflow

    settings = settings_of(ctx)
    if file.suffix == ".cwl":
        cid = publish_cwl(settings, file, name=name)
        shown = name or file.stem
        if json_:
            print_json({"name": shown, "cid": cid, "kind": "cwl"})
        else:
            console.print(f"published CWL [bold]{shown}[/] as {cid}; run it with `eotrust workflow run {shown}`")
        return
    spec = load_workflow(file)
    cid = publish_workflow(settings, spec, name=name)
    if json_:
        print_json({"name": name or spec.name, "cid": cid})
        return
    console.print(
        f"published [bold]{name or spec.name}[/] as {cid}; open parameters: {', '.join(spec.open_params()) or 'none'}"
    )


@workflow_app.command("list")
def list_cmd(ctx: typer.Context, json_: bool = JsonOption) -> None:
    """Published workflows."""
    from eotrust.cli.common import Table
    from eotrust.workflow.registry import list_published

    items = list_published(settings_of(ctx))
    if json_:
        print_json(items)
        return
    table = Table(title="published workflows")
    for col in ("name", "cid", "steps", "open parameters", "inputs", "description"):
        table.add_column(col)
    for w in items:
        table.add_row(
            w.name,
            w.cid,
            str(len(w.steps)),
            ", ".join(p.name for p in w.open_params) or "-",
            ", ".join(i.name for i in w.inputs) or "-",
            w.description,
        )
    console.print(table)


@workflow_app.command("describe")
def describe_cmd(
    ctx: typer.Context, name: str = typer.Argument(..., help="published name"), json_: bool = JsonOption
) -> None:
    """A published workflow: its parameters (open ones first) with types and defaults, inputs, outputs."""
    from rich.text import Text

    from eotrust.cli.common import Table
    from eotrust.workflow.registry import describe_published

    w = describe_published(settings_of(ctx), name)
    if json_:
        print_json(w.model_dump(mode="json") | {"open_params": [p.name for p in w.open_params]})
        return
    console.print(f"[bold]{escape(w.name)}[/] ({w.cid}) {escape(w.description)}")
    table = Table(title="parameters")
    for col in ("name", "type", "open", "default", "constraints", "description"):
        table.add_column(col)
    for p in sorted(w.params, key=lambda p: not p.required):
        cons = ", ".join(
            x
            for x in (
                f"min {p.min:g}" if p.min is not None else "",
                f"max {p.max:g}" if p.max is not None else "",
                f"one of {p.choices}" if p.choices else "",
            )
            if x
        )
        table.add_row(
            p.name,
            p.type,
            Text("open", style="yellow") if p.required else "",
            "" if p.required else repr(p.default),
            cons,
            p.description,
        )
    console.print(table)
    console.print(f"inputs: {', '.join(f'{i.name} ({i.type})' for i in w.inputs) or 'none'}")
    console.print(f"outputs: {', '.join(w.outputs) or 'none'}; steps: {' -> '.join(w.steps)}")


@run_app.command("list")
def run_list_cmd(ctx: typer.Context, json_: bool = JsonOption) -> None:
    """Runs made from this home, newest first."""
    from rich.text import Text

    from eotrust.cli.common import Table
    from eotrust.workflow.record import iso
    from eotrust.workflow.runs import list_runs

    runs = list_runs(settings_of(ctx))
    if json_:
        print_json(runs)
        return
    table = Table(title="runs (each re-read from its stored record)")
    for col in ("run", "workflow", "status", "started", "duration"):
        table.add_column(col, overflow="fold")
    for r in runs:
        if r["started"] is None:
            table.add_row(r["run_cid"], Text("?", style="red"), Text("unknown", style="red"), "", "")
        else:
            table.add_row(
                r["run_cid"], r["workflow"], r["status"], iso(r["started"]), f"{r['ended'] - r['started']:.2f} s"
            )
    console.print(table)
    for r in runs:
        if r["problem"]:
            console.print(f"[bold red]![/] {escape(r['problem'])}", highlight=False, soft_wrap=True)


@run_app.command("show")
def run_show_cmd(
    ctx: typer.Context,
    run: str = typer.Argument("last", help="run CID, unique prefix, or 'last'"),
    json_: bool = JsonOption,
) -> None:
    """A run record: workflow, parameters, inputs, outputs, and every step."""
    from eotrust.workflow.record import iso
    from eotrust.workflow.runs import load_run

    cid, rec = load_run(settings_of(ctx), run)
    if json_:
        print_json({"run_cid": cid, **rec.model_dump(mode="json")})
        return
    colour = "green" if rec.status == "succeeded" else "red"
    console.print(f"run {cid}: [{colour}]{rec.status}[/] workflow [bold]{escape(rec.workflow)}[/] ({rec.workflow_cid})")
    console.print(f"  {iso(rec.started)} -> {iso(rec.ended)} on {rec.host} ({rec.executor} executor)")
    if rec.error:
        console.print(f"  [red]{escape(rec.error)}[/]")
    console.print(f"  params: {rec.params}", markup=False)
    for k, v in rec.inputs.items():
        console.print(f"  input {k}: {v}", markup=False)
    for k, v in rec.outputs.items():
        console.print(f"  output {k}: {v}", markup=False)
    console.print(_steps_table(rec.steps))


@run_app.command("logs")
def run_logs_cmd(
    ctx: typer.Context,
    run: str = typer.Argument(..., help="run CID, prefix or 'last'"),
    step: str = typer.Argument(..., help="step name, or name[i] for a scattered instance"),
) -> None:
    """Print a step's standard output and error (or, for a failed step, its log)."""
    from eotrust.errors import NotFoundError
    from eotrust.workflow.runs import load_run

    backends = backends_of(ctx)
    store = backends.store
    _, rec = load_run(backends.settings, run, store=store)
    found = [s for s in rec.steps if s.label == step]
    if not found:
        raise NotFoundError(f"run has no step {step!r}", hint=f"steps: {', '.join(s.label for s in rec.steps)}")
    s = found[0]
    if s.log_cid:
        _echo_object(store, s.log_cid)
        return
    for what, cid in (("stdout", s.stdout_cid), ("stderr", s.stderr_cid)):
        typer.echo(f"== {what} ==")
        if cid:
            _echo_object(store, cid)


def _echo_object(store: Store, cid: str) -> None:
    """Print a stored text as it is read, a MiB at a time (a platform's log may be huge)."""
    import codecs

    from eotrust.cli.common import echo_text

    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    with store.open(cid) as f:
        while chunk := f.read(1 << 20):
            echo_text(decoder.decode(chunk), nl=False)
    echo_text(decoder.decode(b"", final=True))


@run_app.command("prov")
def run_prov_cmd(
    ctx: typer.Context,
    run: str = typer.Argument("last", help="run CID, prefix or 'last'"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write PROV-JSON here"),
) -> None:
    """Export a run as W3C PROV-JSON (checked before it is written)."""
    from eotrust.workflow.prov import prov_json, validate_prov_json
    from eotrust.workflow.runs import load_run

    cid, rec = load_run(settings_of(ctx), run)
    text = prov_json(rec, cid)
    validate_prov_json(text)
    if output is None:
        typer.echo(text)
        return
    from eotrust.store.atomic import write_atomic

    write_atomic(output, text.encode())
    err_console.print(f"PROV-JSON of run {cid} written to {output}")
