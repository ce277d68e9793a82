"""What an executor is: it takes step jobs and gives back futures of their outcomes."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol, runtime_checkable

from eotrust.workflow.service import Resources
from eotrust.workflow.step import StepJob, StepOutcome


@runtime_checkable
class Executor(Protocol):
    """Runs step jobs. Outputs go through the store; only CIDs come back."""

    name: str

    def check(self, step: str, resources: Resources) -> None:
        """Raise WorkflowError if a step needing ``resources`` can never run here."""
        ...

    def submit(self, job: StepJob) -> Future[StepOutcome]: ...

    def close(self) -> None: ...
