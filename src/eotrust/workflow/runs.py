"""Reading run records back: by CID, by prefix, or ``last``."""

from __future__ import annotations

from typing import Any

from eotrust.settings import Settings
from eotrust.store.base import Store
from eotrust.workflow import record as _record
from eotrust.workflow.record import RunRecord


def load_run(settings: Settings, ref: str, *, store: Store | None = None) -> tuple[str, RunRecord]:
    """(run CID, RunRecord) for a run CID, a unique prefix of one, or ``last``."""
    if store is None:
        from eotrust.store import open_store

        store = open_store(settings)
    return _record.load_record(store, settings.path("workflow", "runs"), ref)


def list_runs(settings: Settings) -> list[dict[str, Any]]:
    """Runs made from this home, newest first: run_cid, workflow, workflow_cid, status, started, ended."""
    return _record.list_runs(settings.path("workflow", "runs"))
