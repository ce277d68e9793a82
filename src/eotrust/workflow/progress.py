"""Live progress of a run: the engine calls a ``StepCallback`` with a ``StepEvent`` for each
change (a step planned with its number of instances, an instance submitted, served from the
cache, done, retried, failed). The CLI draws rich progress bars from these; the runner node
logs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from eotrust.workflow.record import StepRecord

EventKind = Literal["planned", "submitted", "cached", "done", "retry", "failed"]


@dataclass(frozen=True)
class StepEvent:
    kind: EventKind
    step: str
    index: int | None = None
    total: int = 1  # instances of this step (scatter size)
    attempt: int = 1
    message: str | None = None
    record: StepRecord | None = None


StepCallback = Callable[[StepEvent], None]
