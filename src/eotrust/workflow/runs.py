"""Reading run records back: by CID, by prefix, or ``last``."""

from __future__ import annotations

from typing import Any

from eotrust.settings import Settings
from eotrust.store.base import Store
from eotrust.workflow import record as _record
from eotrust.workflow.record import RunRecord, read_run_record


def load_run(settings: Settings, ref: str, *, store: Store | None = None) -> tuple[str, RunRecord]:
    """(run CID, RunRecord) for a run CID, a unique prefix of one, or ``last``."""
    if store is None:
        from eotrust.store import open_store

        store = open_store(settings)
    return _record.load_record(store, settings.path("workflow", "runs"), ref)


def list_runs(settings: Settings, *, store: Store | None = None) -> list[dict[str, Any]]:
    """Runs made from this home, newest first: run_cid, workflow, workflow_cid, status, started,
    ended — each re-derived from the stored run record its CID names (the store re-hashes it),
    never taken from the editable index. ``problem`` says what is wrong with an index entry
    (its record is not in the store, is not a run record, or the index disagrees with it);
    None when it is sound."""
    from eotrust.cid import to_v0
    from eotrust.errors import EotrustError

    if store is None:
        from eotrust.store import open_store

        store = open_store(settings)
    index_dir = settings.path("workflow", "runs")
    out: list[dict[str, Any]] = []
    for entry in _record.list_runs(index_dir):
        cid = str(entry.get("run_cid", ""))
        shown: dict[str, Any] = {
            "run_cid": cid,
            "workflow": None,
            "workflow_cid": None,
            "status": "unknown",
            "started": None,
            "ended": None,
            "problem": None,
        }
        try:
            record = read_run_record(store, to_v0(cid))
        except EotrustError as exc:
            missing = not _has(store, cid)
            shown["problem"] = (
                f"index entry names run {cid!r}, which is not in the store"
                if missing
                else f"index entry names run {cid!r}: {exc.message}"
            )
            out.append(shown)
            continue
        except ValueError:
            shown["problem"] = f"index entry names {cid}, which is not a run record"
            out.append(shown)
            continue
        derived = {
            "workflow": record.workflow,
            "workflow_cid": record.workflow_cid,
            "status": record.status,
            "started": record.started,
            "ended": record.ended,
        }
        shown.update(derived)
        edited = sorted(k for k, v in derived.items() if entry.get(k) != v)
        if edited:
            shown["problem"] = f"the index was edited ({', '.join(edited)} differ from the stored run record)"
        out.append(shown)
    return out


def _has(store: Store, cid: str) -> bool:
    from eotrust.errors import EotrustError

    try:
        return store.has(cid)
    except EotrustError:
        return False
