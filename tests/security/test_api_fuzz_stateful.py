"""Keep attacking (issue 12): schemathesis, in stateful mode (sequences of calls linked through
the OpenAPI document), over the whole API of an in-process server, as an anonymous client and
with the keys of four parties in turn. No request may get a 5xx answer, and every answer must
be one the document declares."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from api_attack_world import build_world
from attack_counts import record

pytestmark = [pytest.mark.slow]


def test_stateful_fuzzing_with_several_parties_keys_finds_no_server_error(tmp_path: Path) -> None:
    from eotrust.api.app import create_app

    world = build_world(tmp_path / "home", submitters=("sam",))
    app = create_app(world.settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    rota = [None, *(world.keys[n] for n in ("sam", "olga", "alan", "pia"))]
    calls: list[tuple[str, str, int]] = []

    class Attack(schema.as_state_machine()):  # type: ignore[misc]  # a class schemathesis builds at run time
        def __init__(self) -> None:
            super().__init__()
            # the rota starts afresh for every example: an example replayed by hypothesis makes
            # the same calls with the same keys (a rota shared by all examples made a replay
            # differ from its original, which hypothesis reports as a flaky strategy)
            self.keys = itertools.cycle(rota)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            key = next(self.keys)
            return {"headers": {"X-API-Key": key}} if key else {}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            calls.append((case.method, case.path, response.status_code))
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:500])

    Attack.run(
        settings=hypothesis.settings(
            max_examples=15,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
    errors = [c for c in calls if c[2] >= 500]
    record("stateful HTTP requests", len(calls), len(errors))
    assert calls and not errors, errors[:5]
    assert len({(m, p) for m, p, _ in calls}) >= 5, "the state machine reached too few operations"
