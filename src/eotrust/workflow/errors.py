"""Errors of the workflow layer, all under :class:`eotrust.errors.WorkflowError`."""

from __future__ import annotations

from dataclasses import dataclass

from eotrust.errors import WorkflowError


@dataclass(frozen=True)
class Problem:
    """One mistake found in a workflow or service document, with where it is."""

    message: str
    line: int | None = None
    source: str = "workflow"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


class WorkflowValidationError(WorkflowError):
    """A workflow or service document is wrong; ``problems`` lists every mistake with its line."""

    def __init__(self, problems: list[Problem], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        first = str(self.problems[0]) if self.problems else "invalid workflow"
        more = len(self.problems) - 1
        message = first if more == 0 else f"{first} (and {more} more problem{'s' if more > 1 else ''})"
        super().__init__(message, hint=hint or "fix the document; `eotrust workflow validate FILE` lists every problem")


class RunFailed(WorkflowError):
    """A workflow run failed: ``step`` failed after its retries with ``exit_status``; its log is ``log_cid``."""

    def __init__(
        self,
        step: str,
        exit_status: int | None,
        log_cid: str | None,
        reason: str,
        *,
        run_cid: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.step = step
        self.exit_status = exit_status
        self.log_cid = log_cid
        self.reason = reason
        self.run_cid = run_cid
        self.attempts = attempts
        status = "no exit status" if exit_status is None else f"exit status {exit_status}"
        super().__init__(
            f"step {step!r} failed after {attempts} attempt{'s' if attempts != 1 else ''} ({status}): {reason}",
            hint=f"read its log with `eotrust store get {log_cid}`" if log_cid else "see the run record",
        )
