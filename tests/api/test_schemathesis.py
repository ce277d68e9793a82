"""schemathesis generates requests from the app's own OpenAPI document and sends them to the app
in process (its ASGI transport; the real server process has its own test,
test_server_process.py). Each run has a fixed seed and a fixed number of examples per operation
(no wall-clock budget), so how much is sent does not depend on the machine's speed and no run is
cut short (the fuzzing and stateful phases still vary by a few requests from run to run). No request
may get a 5xx answer or raise in the app:

- as an anonymous client: every phase (coverage, fuzzing, stateful) on the operations that need
  no key, and fuzzing on the ones that do (answered 401 before any work);
- as an authenticated submitter: the coverage phase on the operations that need a key (the
  others had theirs as the anonymous client), fuzzing and stateful on every operation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_world import build_world
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, StopReason, events, from_schema
from schemathesis.python import asgi
from schemathesis.schemas import BaseSchema

from eotrust.api.app import create_app
from eotrust.settings import load_settings

pytestmark = pytest.mark.slow

SEED = 20261125
MAX_EXAMPLES = 5  # per operation, in the fuzzing and stateful phases (coverage: its own deterministic set)
ALL_PHASES = ["coverage", "fuzzing", "stateful"]  # "examples": the document has none

Scope = MutableMapping[str, Any]
Asgi = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


@dataclass
class Counted:
    """The app, counting the HTTP requests it is handed."""

    app: Asgi
    requests: int = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests += 1
        await self.app(scope, receive, send)


@dataclass
class Outcome:
    requests: int = 0
    cases: dict[str, int] = field(default_factory=dict)  # per phase
    problems: list[str] = field(default_factory=list)
    stop: StopReason | None = None


def _needs_key(ctx: Any) -> bool:
    return bool(ctx.operation.definition.raw.get("security"))


@dataclass(frozen=True)
class Run:
    headers: dict[str, str] | None
    phases: list[str]
    keyed: bool | None  # True/False: only the operations that need/need no key; None: all


def _run(app: Counted, run: Run) -> Outcome:
    """One schemathesis run of ``app`` as ``run`` says."""
    config = SchemathesisConfig()
    config.update(seed=SEED, max_failures=None)
    project = config.projects.override
    project.update(headers=run.headers, workers=1, request_timeout=20)
    project.checks.update(included_check_names=["not_a_server_error"])
    project.generation.update(max_examples=MAX_EXAMPLES, database="none")
    project.phases.update(phases=run.phases)
    schema: BaseSchema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    if run.keyed is True:
        schema = schema.include(func=_needs_key)
    elif run.keyed is False:
        schema = schema.exclude(func=_needs_key)

    outcome = Outcome()
    before = app.requests
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            outcome.cases[event.phase.value] = outcome.cases.get(event.phase.value, 0) + len(event.recorder.cases)
            if event.status in (Status.FAILURE, Status.ERROR):
                outcome.problems.append(f"{event.phase.value} {event.label}: {event.status.value}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            outcome.problems.append(repr(event)[:2000])
        elif isinstance(event, events.EngineFinished):
            outcome.stop = event.stop_reason
            outcome.problems += [f"{f.operation}: {f.title}\n{f.message}" for f in event.failures]
    outcome.requests = app.requests - before
    return outcome


def test_no_server_errors_on_generated_requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # hypothesis keeps its example database in .hypothesis/ of the cwd
    world = build_world(tmp_path / "home", submitters=("sam",))
    sam = {"X-API-Key": world.keys["sam"]}
    app = Counted(create_app(load_settings(home=world.home)))
    runs = {
        "anonymous, no key needed": Run(headers=None, phases=ALL_PHASES, keyed=False),
        "anonymous, key needed": Run(headers=None, phases=["fuzzing"], keyed=True),
        "submitter, key needed": Run(headers=sam, phases=["coverage"], keyed=True),
        "submitter": Run(headers=sam, phases=["fuzzing", "stateful"], keyed=None),
    }
    try:
        outcomes = {name: _run(app, run) for name, run in runs.items()}
    finally:
        asgi.shutdown_lifespans()  # the app's lifespan, started by schemathesis's transport
    for name, outcome in outcomes.items():
        print(f"{name}: {outcome.requests} requests, cases per phase {outcome.cases}")
        assert outcome.stop == StopReason.COMPLETED, (name, outcome.stop)
        assert not outcome.problems, f"{name}:\n" + "\n".join(outcome.problems[:20])
        assert all(outcome.cases.get(phase) for phase in runs[name].phases), (name, outcome.cases)
        assert outcome.requests >= sum(outcome.cases.values()), name
