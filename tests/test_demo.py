"""`eotrust demo`: the seven steps end to end, with live output, on the embedded backends and
on a JSON-RPC chain (anvil)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flow_world import ANVIL, NO_ANVIL, running_anvil
from rich.console import Console

from eotrust.demo.scenario import data_dir, landcover_workflow, run_demo

HERE = Path(__file__).resolve().parent
TINY = HERE / "flow" / "tiny.yaml"
SAMPLE = HERE / "data" / "slovenia-s2-ndvi"


def _run(tmp_path: Path) -> tuple[object, str]:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    result = run_demo(home=tmp_path / "demo", console=console, workflow=TINY, data=SAMPLE)
    return result, out.getvalue()


def _check(result, text: str) -> None:  # type: ignore[no-untyped-def]
    assert result.state == "Finished" and result.verified
    for step in ("1. The submitter selects", "2. The submitter creates", "3. Each owner answers", "7. The submitter downloads"):
        assert step in text
    # the task status printout at Requests Locked, Running and Finished
    for state in ("RequestsLocked", "Running", "Finished"):
        assert f"task state                 {state}" in text, state
    assert "VERIFIED" in text
    names = {r.name for r in result.results}
    assert {"digest", "stacked", "run-record"} <= names
    for r in result.results:
        assert r.path.is_file() and r.path.is_relative_to(result.home)


def test_demo_seven_steps_with_a_fast_application(tmp_path: Path) -> None:
    result, text = _run(tmp_path)
    _check(result, text)


@pytest.mark.server
@pytest.mark.skipif(not ANVIL.exists(), reason=NO_ANVIL)
def test_demo_on_a_json_rpc_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_anvil() as url:
        monkeypatch.setenv("EOTRUST_CHAIN_URL", url)
        result, text = _run(tmp_path)
    assert f"chain {url}" in text
    _check(result, text)


@pytest.mark.slow
@pytest.mark.skipif(not landcover_workflow().is_file() or not data_dir().is_dir(), reason="the land-cover application is not packaged yet")
def test_make_demo_command_runs_the_land_cover_application(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOTRUST_")}
    env["EOTRUST_CONFIG"] = str(tmp_path / "none.toml")
    exe = Path(sys.executable).parent / "eotrust"
    proc = subprocess.run([str(exe), "demo", "--demo-home", str(tmp_path / "demo")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "VERIFIED" in proc.stdout
    assert list((tmp_path / "demo" / "results").iterdir())
