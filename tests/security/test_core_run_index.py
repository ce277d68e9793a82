"""Attack: anyone who can write a home edits the run index (``<home>/workflow/runs/*.json``):
turns a failed run into a succeeded one, renames its workflow, or adds a run that never
happened. Before the fix `run list` printed whatever the index said."""

from __future__ import annotations

import json
from typing import Any

from core_cli import cli

from eotrust.settings import Settings
from eotrust.store import open_store
from eotrust.workflow.record import RunRecord, save_record

FAKE = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"


def _failed_run(settings: Settings) -> str:
    record = RunRecord(
        workflow="ndvi",
        workflow_cid=FAKE,
        status="failed",
        error="step b exited 1",
        started=1_700_000_000.0,
        ended=1_700_000_002.0,
        host="h",
        executor="local",
    )
    return save_record(open_store(settings), settings.path("workflow", "runs"), record)


def _runs(settings: Settings) -> list[dict[str, Any]]:
    result = cli(settings.home, "run", "list", "--json")
    assert result.exit_code == 0, result.output
    runs: list[dict[str, Any]] = json.loads(result.stdout)
    return runs


def test_edited_index_entry_shows_the_stored_record(settings: Settings) -> None:
    cid = _failed_run(settings)
    (entry,) = settings.path("workflow", "runs").glob("*.json")
    entry.write_text(json.dumps({**json.loads(entry.read_text()), "status": "succeeded", "workflow": "other"}))
    (run,) = _runs(settings)
    assert (run["run_cid"], run["status"], run["workflow"]) == (cid, "failed", "ndvi")
    assert run["problem"] and "index" in run["problem"]


def test_index_entry_without_a_stored_record_is_flagged(settings: Settings) -> None:
    _failed_run(settings)
    index = settings.path("workflow", "runs")
    (index / f"{1_800_000_000_000:015d}-{FAKE}.json").write_text(
        json.dumps(
            {
                "run_cid": FAKE,
                "workflow": "never-ran",
                "workflow_cid": FAKE,
                "status": "succeeded",
                "started": 1_800_000_000.0,
                "ended": 1_800_000_001.0,
            }
        )
    )
    runs = _runs(settings)
    forged = next(r for r in runs if r["run_cid"] == FAKE)
    assert forged["status"] != "succeeded" and "not in the store" in forged["problem"]
    table = cli(settings.home, "run", "list")
    assert table.exit_code == 0 and "not in the store" in table.stdout
