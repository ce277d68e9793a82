"""`eotrust demo`: the seven steps end to end, with live output, on the embedded backends and
on a JSON-RPC chain (anvil); with the land-cover application, step 8 ships its model as a
signed package that verifies and scores the scene to the workflow's own class map."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio
from anvil_node import anvil as running_anvil
from rich.console import Console

from eotrust.cid import cid_of_file
from eotrust.cli.task import status_text
from eotrust.demo.scenario import PASSPHRASE, DemoResult, data_dir, demo_settings, landcover_workflow, run_demo
from eotrust.demo.ship_model import PACKAGE_FILE, SCENE_MAP
from eotrust.ml.package import verify_package
from eotrust.ml.registry import Registry
from eotrust.party import load_party

HERE = Path(__file__).resolve().parent
TINY = HERE / "roles" / "tiny.yaml"
SAMPLE = HERE / "data" / "slovenia-s2-ndvi"


def _run(tmp_path: Path) -> tuple[DemoResult, str]:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    result = run_demo(
        console=console,
        status_text=status_text,
        home=tmp_path / "demo",
        workflow=TINY,
        data=SAMPLE,
        passphrase=PASSPHRASE,
    )
    return result, out.getvalue()


def _check(result: DemoResult, text: str) -> None:
    assert result.state == "Finished" and result.verified
    for step in (
        "1. The submitter selects",
        "2. The submitter creates",
        "3. Each owner answers",
        "7. The submitter downloads",
    ):
        assert step in text
    # the task status printout at Requests Locked, Running and Finished
    for state in ("RequestsLocked", "Running", "Finished"):
        assert f"task state                 {state}" in text, state
    assert "VERIFIED" in text
    # the market: quoted, funded (which locked it), settled by the node, every party withdrew, billed
    assert "funded the escrow with" in text and re.search(r"bill for task 0x[0-9a-fA-F]{40}: settled", text)
    assert len(re.findall(r"withdrew \d+ wei \(tx 0x[0-9a-f]{64}\)", text)) == 5
    names = {r.name for r in result.results}
    assert {"digest", "stacked", "run-record"} <= names
    for r in result.results:
        assert r.path.is_file() and r.path.is_relative_to(result.home)


def test_demo_seven_steps_with_a_fast_application(tmp_path: Path) -> None:
    result, text = _run(tmp_path)
    _check(result, text)
    # the fast application trains no model: step 8 says so and ships nothing
    assert "8. The model ships as a signed package" in text and "nothing to package" in text
    assert result.package_cid is None and not (result.home / "results" / PACKAGE_FILE).exists()


@pytest.mark.server
def test_demo_on_a_json_rpc_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_anvil() as url:
        monkeypatch.setenv("EOTRUST_CHAIN_URL", url)
        result, text = _run(tmp_path)
    assert f"chain {url}" in text
    _check(result, text)


@pytest.mark.slow
def test_make_demo_command_runs_the_land_cover_application(tmp_path: Path) -> None:
    assert landcover_workflow().is_file() and data_dir().is_dir(), "the land-cover application is not packaged"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOTRUST_") or k.startswith("EOTRUST_AGENT_")}
    env["EOTRUST_CONFIG"] = ""  # no config file
    env["EOTRUST_HOME"] = str(tmp_path / "demo")  # honoured; no EOTRUST_PASSPHRASE: the demo chooses one
    env["COLUMNS"] = "400"  # the printed commands stay on one line
    exe = Path(sys.executable).parent / "eotrust"
    proc = subprocess.run([str(exe), "demo"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "VERIFIED" in proc.stdout
    home, results = tmp_path / "demo", tmp_path / "demo" / "results"
    # it runs in EOTRUST_HOME (says so), not in a directory of the working directory
    assert f"home{home};" in "".join(proc.stdout.split()) and not (tmp_path / ".demo").exists()
    assert list(results.iterdir())

    # 8. the model ships: one package in the home's registry, the one the demo printed, signed
    # by the submitter (who owns the results), verifying completely
    settings = demo_settings(home)
    [entry] = Registry(settings).list()
    assert "8. The model ships as a signed package" in proc.stdout and entry.cid in proc.stdout
    chosen = re.search(r"export EOTRUST_PASSPHRASE=(\S+)`", proc.stdout)
    assert chosen, proc.stdout[:2000]
    assert f"EOTRUST_PASSPHRASE={chosen.group(1)} eotrust --home {home} serve" in proc.stdout
    submitter = load_party(settings, "submitter", passphrase=chosen.group(1))
    report = verify_package(results / PACKAGE_FILE, cid=entry.cid, owner=submitter.address)
    assert report.owner == submitter.address and any("onnxruntime" in c for c in report.checks)
    # its lineage is the task's: the run record on the contract, and the dataset and checkpoint that run made
    run_record = results / "run-record.json"
    assert entry.lineage["run"] == cid_of_file(run_record)
    assert entry.lineage["checkpoint"] == cid_of_file(results / "model.zip")
    [dataset] = entry.lineage["training_data"]
    assert dataset in run_record.read_text() and entry.lineage["checkpoint"] in run_record.read_text()

    # the scene scored by onnxruntime: the cube's grid, and the workflow's own (PyTorch) class map
    with (
        rasterio.open(results / SCENE_MAP) as ours,
        rasterio.open(results / "cube.tif") as cube,
        rasterio.open(results / "classmap.tif") as workflow_map,
    ):
        assert ours.crs == cube.crs and ours.transform == cube.transform
        assert (ours.width, ours.height) == (cube.width, cube.height)
        agree = ours.read(1) == workflow_map.read(1)  # one class-map encoding: both hold label codes
    assert agree.mean() >= 0.99, agree.mean()
