"""`eotrust cwl-runner` and run_cwl: CWL v1.2 through cwltool as a library, with eotrust's
content-addressed cache, the store, run records, and the hook a sandbox wraps commands with."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from eotrust.settings import Settings
from eotrust.store import open_store
from eotrust.workflow.cwl_runner import CwlOptions, Json, run_cwl
from eotrust.workflow.runs import load_run

CWL = Path(__file__).resolve().parents[1] / "data" / "cwl"
REPO = Path(__file__).resolve().parents[2]
# three of the CWL project's conformance tests with their files, copied from
# ../shared/conformance/cwl-v1.2 (Apache-2.0) so that the test runs from a clone anywhere
SUITE = REPO / "tests" / "data" / "cwl-conformance"

STAMP_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, 'head -c 12 /dev/urandom | od -An -tx1 | tr -d " \\n"; cat "$0"']
inputs:
  src: {type: File, inputBinding: {position: 1}}
outputs:
  stamp: {type: stdout}
stdout: stamp.txt
"""


@pytest.fixture
def work(tmp_path: Path) -> Path:
    for name in ("shout.cwl", "shout-job.yml", "scene.txt", "wf-scatter.cwl", "wf-scatter-job.yml"):
        shutil.copy(CWL / name, tmp_path / name)
    return tmp_path


def _text(output: Json | None, name: str) -> str:
    assert output is not None
    return Path(output[name]["path"]).read_text()


def test_tool_with_a_javascript_expression_runs_and_is_recorded(settings: Settings, work: Path) -> None:
    res = run_cwl(settings, work / "shout.cwl", work / "shout-job.yml", CwlOptions(outdir=work / "out"))
    assert res.exit_code == 0, res.log
    assert _text(res.output, "shouted") == "NDVI OVER THE KARST\nKARST\n"
    assert not res.cache_hit
    assert res.run_cid is not None
    run_cid, record = load_run(settings, res.run_cid)
    assert record.status == "succeeded" and record.executor.startswith("cwltool/")
    store = open_store(settings)
    shouted, scene = record.outputs["shouted"], record.inputs["scene"]
    assert isinstance(shouted, str) and isinstance(scene, str)  # one file each, not a list
    assert store.get_bytes(shouted) == b"NDVI OVER THE KARST\nKARST\n"
    assert store.get_bytes(scene) == b"ndvi over the karst\n"
    assert record.params["tag"] == "karst"


def test_same_tool_and_inputs_come_from_the_cache_without_running(settings: Settings, work: Path) -> None:
    (work / "stamp.cwl").write_text(STAMP_TOOL)
    (work / "job.yml").write_text("src: {class: File, path: scene.txt}\n")
    first = run_cwl(settings, work / "stamp.cwl", work / "job.yml", CwlOptions(outdir=work / "a"))
    second = run_cwl(settings, work / "stamp.cwl", work / "job.yml", CwlOptions(outdir=work / "b"))
    uncached = run_cwl(settings, work / "stamp.cwl", work / "job.yml", CwlOptions(outdir=work / "c", cache=False))
    assert first.exit_code == second.exit_code == uncached.exit_code == 0
    assert second.cache_hit and second.key == first.key
    # random bytes: only a reused result can be equal
    assert _text(second.output, "stamp") == _text(first.output, "stamp") != _text(uncached.output, "stamp")
    assert second.output is not None
    assert Path(second.output["stamp"]["path"]).parent == (work / "b").resolve()
    # a changed input file is another computation
    (work / "scene.txt").write_text("another scene\n")
    third = run_cwl(settings, work / "stamp.cwl", work / "job.yml", CwlOptions(outdir=work / "d"))
    assert not third.cache_hit and third.key != first.key
    assert _text(third.output, "stamp").endswith("another scene\n")


def test_a_poisoned_cache_entry_is_dropped_and_writes_nothing_outside(settings: Settings, work: Path) -> None:
    (work / "stamp.cwl").write_text(STAMP_TOOL)
    (work / "job.yml").write_text("src: {class: File, path: scene.txt}\n")
    first = run_cwl(settings, work / "stamp.cwl", work / "job.yml", CwlOptions(outdir=work / "a"))
    store = open_store(settings)
    evil = store.put_bytes(b"owned\n")
    view = {"stamp": {"class": "File", "basename": "x", "eotrust:path": "../../escaped.txt", "eotrust:cid": evil}}
    view_cid = store.put_bytes(json.dumps(view).encode())
    db = sqlite3.connect(settings.path("workflow", "cache") / "steps.sqlite")
    rows = db.execute("SELECT lookup, entry FROM steps").fetchall()
    for lookup, entry in rows:
        data = json.loads(entry)
        data["outputs"] = {"cwl.output.json": view_cid}
        db.execute("UPDATE steps SET entry = ? WHERE lookup = ?", (json.dumps(data), lookup))
    db.commit()
    db.close()
    again = run_cwl(settings, work / "stamp.cwl", work / "job.yml", CwlOptions(outdir=work / "b" / "c"))
    assert again.exit_code == 0 and not again.cache_hit
    assert "dropping damaged cache entry" in again.log
    assert not (work / "escaped.txt").exists() and not (work / "b" / "escaped.txt").exists()
    assert _text(again.output, "stamp") != _text(first.output, "stamp")


def test_workflow_with_scatter_and_a_conditional_step(settings: Settings, work: Path) -> None:
    res = run_cwl(settings, work / "wf-scatter.cwl", work / "wf-scatter-job.yml", CwlOptions(outdir=work / "out"))
    assert res.exit_code == 0, res.log
    assert res.output is not None and res.run_cid is not None
    assert [Path(f["path"]).read_text() for f in res.output["lines"]] == ["karst\n", "doline\n"]
    _, record = load_run(settings, res.run_cid)
    assert len(record.outputs["lines"]) == 2


def test_command_prefix_wraps_every_command(settings: Settings, work: Path) -> None:
    (work / "env.cwl").write_text("""\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, 'echo "wrapped=$EOTRUST_WRAPPED"']
inputs: []
outputs:
  out: {type: stdout}
""")
    wrapped = run_cwl(
        settings,
        work / "env.cwl",
        None,
        CwlOptions(outdir=work / "w", command_prefix=("env", "EOTRUST_WRAPPED=yes"), cache=False),
    )
    plain = run_cwl(settings, work / "env.cwl", None, CwlOptions(outdir=work / "p", cache=False))
    assert _text(wrapped.output, "out") == "wrapped=yes\n"
    assert _text(plain.output, "out") == "wrapped=\n"


def test_failing_tool_is_a_failed_run_record(settings: Settings, work: Path) -> None:
    (work / "fail.cwl").write_text(
        "cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: [sh, -c, 'exit 3']\ninputs: []\noutputs: []\n"
    )
    res = run_cwl(settings, work / "fail.cwl", None, CwlOptions(outdir=work / "out"))
    assert res.exit_code == 1
    assert res.run_cid is not None
    _, record = load_run(settings, res.run_cid)
    assert record.status == "failed" and record.error


def _cli(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "EOTRUST_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "eotrust.cli.main", "cwl-runner", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_prints_the_output_object_and_fails_in_one_line(tmp_path: Path, work: Path) -> None:
    ok = _cli(tmp_path / "home", "--outdir", str(work / "out"), "--quiet", "shout.cwl", "shout-job.yml", cwd=work)
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert out["shouted"]["class"] == "File" and out["shouted"]["size"] == len("NDVI OVER THE KARST\nKARST\n")
    missing = _cli(tmp_path / "home", "nope.cwl", cwd=work)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "does not exist" in missing.stderr
    (work / "bad.cwl").write_text("cwlVersion: v1.2\nclass: CommandLineTool\ninputs: {x: NoSuchType}\noutputs: []\n")
    bad = _cli(tmp_path / "home", "bad.cwl", cwd=work)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and bad.stdout == ""


@pytest.mark.slow
def test_conformance_sample_with_cwltest(tmp_path: Path) -> None:
    """Three of the CWL project's own required tests (command line generation, an ExpressionTool
    in JavaScript, a scattered workflow), driven by cwltest as it drives any runner."""
    runner = tmp_path / "eotrust-cwl-runner"
    runner.write_text(
        f"#!/bin/sh\nexport PYTHONPATH='{REPO / 'src'}' EOTRUST_HOME='{tmp_path / 'home'}'\n"
        f"exec '{sys.executable}' -m eotrust.cli.main cwl-runner \"$@\"\n"
    )
    runner.chmod(0o755)
    cwltest = Path(sys.executable).parent / "cwltest"
    done = subprocess.run(
        [str(cwltest), "--test", "conformance_tests.yaml", "--tool", str(runner), "-j", "2", "-n", "1,2,3"],
        cwd=SUITE,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # cwltest's per-test output folders, left empty
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "All tests passed" in done.stdout + done.stderr


@pytest.mark.parametrize(("job_text", "says"), [("just a line\n", "not formatted correctly"), ("", "is empty")])
def test_a_job_that_is_not_an_input_object_is_reported_not_exited(
    settings: Settings, work: Path, job_text: str, says: str
) -> None:
    """Found by hand: cwltool's main calls sys.exit(1) on a job file that is not a mapping (or
    is empty), which left `eotrust cwl-runner shout.cwl job.txt` silent with status 1 (and
    would end any process that called run_cwl). Now it is a failed run with cwltool's reason."""
    (work / "job.txt").write_text(job_text)
    res = run_cwl(settings, work / "shout.cwl", work / "job.txt", CwlOptions(outdir=work / "out"))
    assert res.exit_code == 1 and says in res.log
    done = subprocess.run(
        [sys.executable, "-m", "eotrust.cli.main", "cwl-runner", "shout.cwl", "job.txt"],
        cwd=work,
        env={**os.environ, "EOTRUST_HOME": str(settings.home)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
