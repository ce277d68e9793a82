"""Run records: what went in, what came out, which code, when and where; stored by CID.

A small index under ``<home>/workflow/runs`` lists the runs made from this home (newest
first) so ``eotrust run list`` and ``run show last`` work without a database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from eotrust.cid import canonical_json
from eotrust.errors import NotFoundError
from eotrust.limits import json_loads
from eotrust.store.atomic import write_atomic
from eotrust.store.base import Store, read_at_most

RECORD_FORMAT = "eotrust-run/1"


class StepRecord(BaseModel):
    """One step instance of a run."""

    model_config = ConfigDict(extra="forbid")

    step: str
    index: int | None = None
    service: str
    service_cid: str
    key: str
    inputs: dict[str, str | list[str]] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    started: float
    ended: float
    host: str
    exit_status: int | None = None
    cache_hit: bool = False
    attempts: int = 0
    stdout_cid: str | None = None
    stderr_cid: str | None = None
    log_cid: str | None = None
    error: str | None = None
    sandboxed: bool | None = None  # ran sealed off (bubblewrap); None in records made before the sandbox
    network: bool | None = None  # had the network (only a policy-allowed service, or unsandboxed)

    @property
    def label(self) -> str:
        return self.step if self.index is None else f"{self.step}[{self.index}]"

    @property
    def duration_s(self) -> float:
        return max(0.0, self.ended - self.started)


class RunRecord(BaseModel):
    """A whole run."""

    model_config = ConfigDict(extra="forbid")

    format: str = RECORD_FORMAT
    workflow: str
    workflow_cid: str
    status: Literal["succeeded", "failed"]
    error: str | None = None
    failed_step: str | None = None
    inputs: dict[str, str | list[str]] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, str | list[str]] = Field(default_factory=dict)
    started: float
    ended: float
    host: str
    executor: str
    steps: list[StepRecord] = Field(default_factory=list)

    def canonical(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))


#: A run record lists every step (a few hundred bytes each): a larger object is not one.
MAX_RUN_RECORD_BYTES = 64 * 2**20


def read_run_record(store: Store, cid: str) -> RunRecord:
    """The run record stored as ``cid``, read no further than :data:`MAX_RUN_RECORD_BYTES` (a
    platform writes it, and anyone may verify it); ValueError when it is not a run record."""
    return RunRecord.model_validate_json(read_at_most(store, cid, MAX_RUN_RECORD_BYTES, "run record"))


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def save_record(store: Store, index_dir: Path, record: RunRecord) -> str:
    cid = store.put_bytes(record.canonical())
    entry = {
        "run_cid": cid,
        "workflow": record.workflow,
        "workflow_cid": record.workflow_cid,
        "status": record.status,
        "started": record.started,
        "ended": record.ended,
    }
    index_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(index_dir / f"{int(record.started * 1000):015d}-{cid}.json", json.dumps(entry).encode())
    return cid


def list_runs(index_dir: Path) -> list[dict[str, Any]]:
    """Runs made from this home, newest first."""
    out = []
    for p in sorted(index_dir.glob("*.json"), reverse=True):
        try:
            out.append(json_loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return out


def load_record(store: Store, index_dir: Path, ref: str) -> tuple[str, RunRecord]:
    """A run record by CID (or ``last``, or a unique prefix of a CID in the index)."""
    cid = ref
    if ref == "last" or len(ref) < 46:
        runs = list_runs(index_dir)
        if ref == "last":
            if not runs:
                raise NotFoundError("no runs recorded in this home yet", hint="run a workflow first")
            cid = runs[0]["run_cid"]
        else:
            matches = [r["run_cid"] for r in runs if r["run_cid"].startswith(ref)]
            if len(matches) != 1:
                raise NotFoundError(
                    f"{len(matches)} runs match {ref!r}", hint="give the full run CID (see `eotrust run list`)"
                )
            cid = matches[0]
    if not store.has(cid):
        raise NotFoundError(f"run record {cid} is not in the store", hint="see `eotrust run list`")
    try:
        record = read_run_record(store, cid)
    except ValueError:
        raise NotFoundError(f"object {cid} is not a run record", hint="see `eotrust run list`") from None
    return cid, record
