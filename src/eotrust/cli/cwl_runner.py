"""`eotrust cwl-runner [--outdir DIR] [--quiet] [--no-cache] [--no-sandbox] PROCESS [JOB]`: a cwl-runner.

Prints the CWL output object on stdout (as every cwl-runner does, so cwltest can drive it)
and exits 0 on success, 33 when the document needs an unsupported feature, 1 otherwise."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from eotrust.cli.common import NoSandboxOption, err_console, maybe_unsandboxed, settings_of


def register(app: typer.Typer) -> None:
    app.command("cwl-runner", help="Run a CWL v1.2 tool or workflow on a job file (cwl-runner interface).")(
        cwl_runner_cmd
    )


def cwl_runner_cmd(
    ctx: typer.Context,
    process: str = typer.Argument(..., help="a CWL document (CommandLineTool, ExpressionTool or Workflow)"),
    job: Path | None = typer.Argument(None, help="the input object (YAML or JSON)"),
    outdir: Path = typer.Option(Path("."), "--outdir", help="where the output files go"),
    quiet: bool = typer.Option(False, "--quiet", help="print only the output object"),
    no_cache: bool = typer.Option(False, "--no-cache", help="run even if this exact computation is cached"),
    no_sandbox: bool = NoSandboxOption,
) -> None:
    from eotrust.workflow.cwl_runner import CwlOptions, run_cwl

    settings = maybe_unsandboxed(settings_of(ctx), no_sandbox)
    result = run_cwl(settings, process, job, CwlOptions(outdir=outdir.resolve(), cache=not no_cache))
    if result.output is not None:
        typer.echo(json.dumps(result.output, indent=2, sort_keys=True))
    if not quiet or result.exit_code != 0:
        lines = [ln for ln in result.log.splitlines() if ln.strip()]
        if result.exit_code != 0:
            for ln in lines[-15:]:
                err_console.print(ln, highlight=False, markup=False)
        else:
            what = "cache hit" if result.cache_hit else "ran"
            err_console.print(f"{what}; run record {result.run_cid}", highlight=False, markup=False)
    sys.exit(result.exit_code)
