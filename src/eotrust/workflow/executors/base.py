"""What an executor is: it takes step jobs and gives back futures of their outcomes.

:class:`ExecutorBase` is the one base every executor derives from; the engine calls each of
its methods directly (``check`` before a run, ``submit`` per step, ``abort`` when the run is
interrupted, ``drain`` after a run on a shared executor, ``close`` after a run on its own)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future

from eotrust.workflow.service import Resources
from eotrust.workflow.step import StepJob, StepOutcome


class ExecutorBase(ABC):
    """Runs step jobs. Outputs go through the store; only CIDs come back."""

    name: str

    @abstractmethod
    def check(self, step: str, resources: Resources) -> None:
        """Raise WorkflowError if a step needing ``resources`` can never run here."""

    @abstractmethod
    def submit(self, job: StepJob) -> Future[StepOutcome]:
        """Start (or queue) one step; its future gives the outcome."""

    @abstractmethod
    def abort(self) -> None:
        """Stop now: drop queued steps and stop running ones (the run was interrupted)."""

    def drain(self) -> None:
        """Wait until what finished steps left behind here (working directories) is gone.
        Executors that leave nothing behind on this machine have nothing to wait for."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Release what the executor holds; no step is submitted after."""


Executor = ExecutorBase
