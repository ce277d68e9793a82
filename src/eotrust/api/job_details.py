"""Job management in Weaver's shape, over ledger tasks: a filtered, sorted, paged job list,
and a job's inputs, logs, PROV document and statistics (from the task record, the ledger
history and the run record the platform stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eotrust.api import flowops
from eotrust.api.auth import Caller
from eotrust.api.state import ServerState
from eotrust.clock import utc_iso
from eotrust.errors import EotrustError, InvalidInputError, NotFoundError
from eotrust.limits import json_loads
from eotrust.store.base import read_head
from eotrust.workflow.record import RunRecord, read_run_record

#: How much of each step's log a job's log view reads (its last 200 lines are shown).
LOG_SHOWN_BYTES = 1 << 20

SORT_KEYS = ("created", "-created", "status", "process")


@dataclass(frozen=True)
class JobQuery:
    """Weaver's ``GET /jobs`` filters: process, status (comma list), datetime (an instant or an
    interval ``a/b`` with ``..`` open ends), page (from 0), limit, sort."""

    process: str | None = None
    status: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    page: int = 0
    limit: int = 10
    sort: str = "-created"


def _instant(text: str) -> datetime | None:
    if text in ("", ".."):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"datetime {text!r} is not ISO-8601", hint="e.g. 2026-01-01T00:00:00Z/..") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_query(
    process: str | None, status: str | None, datetime_: str | None, page: int, limit: int, sort: str
) -> JobQuery:
    statuses = tuple(s.strip() for s in (status or "").split(",") if s.strip())
    known = set(flowops.STATUS_OF_STATE.values())
    for s in statuses:
        if s not in known:
            raise InvalidInputError(f"status {s!r} is not one of {', '.join(sorted(known))}")
    if sort not in SORT_KEYS:
        raise InvalidInputError(f"sort {sort!r} is not one of {', '.join(SORT_KEYS)}")
    start = end = None
    if datetime_:
        if "/" in datetime_:
            a, _, b = datetime_.partition("/")
            start, end = _instant(a), _instant(b)
        else:
            start = end = _instant(datetime_)
    return JobQuery(process=process, status=statuses, start=start, end=end, page=page, limit=limit, sort=sort)


def list_jobs(state: ServerState, caller: Caller, query: JobQuery, base: str) -> dict[str, Any]:
    """The page of the caller's jobs that match, with the total before paging."""
    jobs = [flowops.job_status(state, address, base) for address in flowops.jobs_of(state, caller)]

    def keep(job: dict[str, Any]) -> bool:
        if query.process and job.get("processID") != query.process:
            return False
        if query.status and job["status"] not in query.status:
            return False
        created = _instant(str(job.get("created", "")))
        if query.start and (created is None or created < query.start):
            return False
        if query.end and (created is None or created > query.end):
            return False
        return True

    matched = [j for j in jobs if keep(j)]
    key = query.sort.lstrip("-")
    field = {"created": "created", "status": "status", "process": "processID"}[key]
    matched.sort(key=lambda j: (str(j.get(field) or ""), j["jobID"]), reverse=query.sort.startswith("-"))
    first = query.page * query.limit
    page = matched[first : first + query.limit]
    links = [{"href": f"{base}/jobs?page={query.page}&limit={query.limit}", "rel": "self", "type": "application/json"}]
    if first + query.limit < len(matched):
        links.append(
            {
                "href": f"{base}/jobs?page={query.page + 1}&limit={query.limit}",
                "rel": "next",
                "type": "application/json",
            }
        )
    if query.page > 0:
        links.append(
            {
                "href": f"{base}/jobs?page={query.page - 1}&limit={query.limit}",
                "rel": "prev",
                "type": "application/json",
            }
        )
    return {"jobs": page, "total": len(matched), "page": query.page, "limit": query.limit, "links": links}


def job_inputs(state: ServerState, address: str, base: str) -> dict[str, Any]:
    """The inputs a job was opened with: datasets (by catalogue record), parameters, platform."""
    record, _ = flowops.snapshot(state, address)
    body = flowops.task_info(record)
    inputs: dict[str, Any] = {
        name: {"href": f"{base}/catalog/records/{rid}", "value": rid} for name, rid in sorted(body.inputs.items())
    }
    inputs.update(dict(sorted((body.params or {}).items())))
    if body.platform_id:
        inputs[flowops.PLATFORM_INPUT] = body.platform_id
    return {
        "inputs": inputs,
        "application": body.application_id,
        "links": [
            {"href": f"{base}/jobs/{address}/inputs", "rel": "self", "type": "application/json"},
            {"href": f"{base}/jobs/{address}", "rel": "up", "type": "application/json"},
        ],
    }


def run_record(state: ServerState, address: str) -> tuple[str, RunRecord]:
    """(run CID, RunRecord) the platform recorded for the task; NotFoundError before it ran or
    when the record is not in this server's store."""
    flowops.snapshot(state, address)
    results = [r.body for r in state.catalog.results(task=address, chain=state.chain.key)]
    run_cid = results[0].run_cid if results else None
    if not run_cid:
        raise NotFoundError(f"job {address} has no run record yet", hint="wait until the job is successful or failed")
    try:
        return run_cid, read_run_record(state.store, run_cid)
    except InvalidInputError:
        raise  # one that is over its size: said as such
    except EotrustError:
        raise NotFoundError(
            f"the run record {run_cid} of job {address} is not in this server's store",
            hint="the platform keeps it; ask its owner",
        ) from None
    except ValueError:
        raise NotFoundError(f"object {run_cid} is not a run record") from None


def job_prov(state: ServerState, address: str) -> dict[str, Any]:
    """The run's W3C PROV document as PROV-JSON."""
    from eotrust.workflow.prov import run_to_prov

    run_cid, record = run_record(state, address)
    document: dict[str, Any] = json_loads(run_to_prov(record, run_cid).serialize(format="json"))
    return document


def job_logs(state: ServerState, address: str) -> list[str]:
    """Log lines: the ledger events of the task, then each step's log from the run record."""
    lines = [
        f"[{ev.get('time') or '-'}] ledger {ev['event']}" + (f": {ev['details']}" if ev.get("details") else "")
        for ev in flowops.history(state, address)
    ]
    try:
        _, record = run_record(state, address)
    except NotFoundError:
        return lines
    for step in record.steps:
        stamp = utc_iso(step.started)
        how = "cache hit" if step.cache_hit else f"exit {step.exit_status}"
        lines.append(f"[{stamp}] step {step.label}: {how} in {step.duration_s:.2f} s")
        for cid in (step.log_cid, step.stdout_cid, step.stderr_cid):
            if cid:
                try:
                    head = read_head(state.store, cid, LOG_SHOWN_BYTES)
                except EotrustError:
                    continue
                text = head.decode("utf-8", "replace")
                lines += [f"[{stamp}] {step.label}| {ln}" for ln in text.splitlines()[-200:]]
                if len(head) == LOG_SHOWN_BYTES:
                    lines.append(
                        f"[{stamp}] {step.label}| … (only the first {LOG_SHOWN_BYTES} bytes of {cid} are read)"
                    )
    return lines


def job_statistics(state: ServerState, address: str) -> dict[str, Any]:
    """Weaver's statistics shape: the run as a whole, its steps, and each recorded output's size."""
    run_cid, record = run_record(state, address)
    # sizes as the platform recorded them (the plaintext stays in the platform's private store)
    results = [r.body for r in state.catalog.results(task=address, chain=state.chain.key)]
    sizes = {
        r.name: {"cid": r.cid, "plaintextCid": r.plaintext_cid, "size": r.size}
        for r in results
        if r.name in record.outputs
    }
    return {
        "application": {
            "run": run_cid,
            "status": record.status,
            "executor": record.executor,
            "host": record.host,
            "duration": round(record.ended - record.started, 3),
        },
        "process": {
            "steps": len(record.steps),
            "cacheHits": sum(1 for s in record.steps if s.cache_hit),
            "attempts": sum(s.attempts for s in record.steps),
            "stepDurations": {s.label: round(s.duration_s, 3) for s in record.steps},
        },
        "outputs": sizes,
    }
