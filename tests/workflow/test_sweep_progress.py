"""A sweep's progress bars count every run's instances of a step: 6/6, never "6/2 done"."""

from __future__ import annotations

from eotrust.cli.workflow import _Progress
from eotrust.workflow.progress import StepEvent


def _feed(runs: int, per_run: int) -> tuple[float | None, float]:
    with _Progress(runs=runs) as prog:
        for _ in range(runs):
            prog(StepEvent("planned", "stats", total=per_run))
        for _ in range(runs * per_run):
            prog(StepEvent("done", "stats"))
        task = prog.progress.tasks[0]
        return task.total, task.completed


def test_sweep_bar_totals_all_runs() -> None:
    assert _feed(3, 2) == (6, 6)


def test_single_run_bar() -> None:
    assert _feed(1, 2) == (2, 2)
