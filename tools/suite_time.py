"""Where the suite's time goes: wall, CPU and the CPU of reaped child processes, per test.

``make suite-time`` runs the whole suite with ``--suite-time .suite-time`` (an option of
``tests/conftest.py``, which registers this module's recorder in each pytest process, and only
there: a ``PYTHONPATH`` naming ``tools`` would reach every ``eotrust`` child and be part of
its resident agent's key, and a relative one names another agent for each working directory,
each started cold: the node tests took twice as long so). Each worker appends one JSON line per
test to ``DIR/<pid>.jsonl``. Then::

    python tools/suite_time.py [DIR]

prints each worker's busy time, the files by CPU, the tests that mostly wait (wall well
above CPU: fixed sleeps, timeouts, polling), the ones a faster machine would not speed up, and
the tests during which the machine's cores stood idle most (``/proc/stat``: the whole machine's
idle core-seconds while the test ran, whoever left them idle — with two workers, a test that
waits shows up there unless the other worker's test used both cores meanwhile).

CPU is ``getrusage`` of the worker (``self``) and of the children it has reaped (``child``): a
process the test leaves to another parent (a detached agent, a daemon, a grandchild whose
parent was killed) is not counted, so a test that drives one shows as waiting.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pytest

DEFAULT_DIR = Path(".suite-time")


@dataclass(frozen=True)
class Timing:
    id: str
    worker: str
    wall: float
    self_cpu: float
    child_cpu: float
    idle: float = 0.0  # the machine's idle core-seconds while the test ran (0 without /proc/stat)

    @property
    def cpu(self) -> float:
        return self.self_cpu + self.child_cpu

    @property
    def file(self) -> str:
        return self.id.split("::", 1)[0]


def _cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _idle() -> float:
    """The machine's idle core-seconds since boot (idle + iowait of ``/proc/stat``; 0 elsewhere)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return 0.0
    return (int(fields[4]) + int(fields[5])) / _TICKS


class _Recorder:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.out: TextIO | None = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
        if self.out is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.out = open(self.directory / f"{os.getpid()}.jsonl", "a")  # noqa: SIM115 - one per worker
        start, (own, children), idle = time.monotonic(), _cpu(), _idle()
        yield
        own_after, children_after = _cpu()
        row = {
            "id": item.nodeid,
            "wall": time.monotonic() - start,
            "self": own_after - own,
            "child": children_after - children,
            "idle": _idle() - idle,
        }
        self.out.write(json.dumps(row) + "\n")
        self.out.flush()


def register(config: pytest.Config, directory: Path) -> None:
    """Record this pytest process's tests in ``directory`` (``tests/conftest.py`` calls it for
    ``--suite-time DIR``)."""
    config.pluginmanager.register(_Recorder(directory), "suite_time_recorder")


def read(directory: Path) -> list[Timing]:
    rows: list[Timing] = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            rows.append(
                Timing(
                    r["id"], path.stem, float(r["wall"]), float(r["self"]), float(r["child"]), float(r.get("idle", 0))
                )
            )
    return rows


def report(rows: Iterable[Timing], *, most: int = 25, waiting_share: float = 0.5) -> str:
    """The text ``python tools/suite_time.py`` prints."""
    rows = list(rows)
    if not rows:
        return "no test times recorded"
    lines = []
    wall, cpu = sum(r.wall for r in rows), sum(r.cpu for r in rows)
    lines.append(f"{len(rows)} tests: {wall:.0f} s of test wall time, {cpu:.0f} s CPU (own + reaped children)")
    busy: dict[str, float] = {}
    for r in rows:
        busy[r.worker] = busy.get(r.worker, 0.0) + r.wall
    lines.append("busy per worker: " + ", ".join(f"{w} {s:.0f} s" for w, s in sorted(busy.items())))
    files: dict[str, list[float]] = {}  # per file: wall, cpu, tests, idle
    for r in rows:
        f = files.setdefault(r.file, [0.0, 0.0, 0.0, 0.0])
        f[0] += r.wall
        f[1] += r.cpu
        f[2] += 1
        f[3] += r.idle
    lines.append(f"\nfiles by CPU (top {most}):   cpu    wall  tests")
    for name, (w, c, n, _) in sorted(files.items(), key=lambda kv: -kv[1][1])[:most]:
        lines.append(f"  {c:7.1f} {w:7.1f} {n:6.0f}  {name}")
    waiting = [r for r in rows if r.wall >= 0.9 and r.cpu < waiting_share * r.wall]
    waiting.sort(key=lambda r: r.cpu - r.wall)
    lines.append(
        f"\ntests that mostly wait (CPU under {waiting_share:.0%} of wall, wall >= 0.9 s): "
        f"{len(waiting)}, {sum(r.wall - r.cpu for r in waiting):.0f} s waiting"
    )
    for r in waiting[:most]:
        lines.append(f"  {r.wall:6.1f} s wall {r.cpu:5.1f} s cpu  {r.id}")
    lines.append(
        f"\nfiles during which the machine stood idle most (top {most}; idle core-seconds, "
        "summed over each file's tests):\n     idle    wall     cpu"
    )
    for name, (w, c, _, i) in sorted(files.items(), key=lambda kv: -kv[1][3])[:most]:
        lines.append(f"  {i:7.1f} {w:7.1f} {c:7.1f}  {name}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    directory = Path(argv[1]) if len(argv) > 1 else DEFAULT_DIR
    if not directory.is_dir():
        print(f"error: no {directory}: run the suite with --suite-time DIR first (make suite-time)", file=sys.stderr)
        return 1
    print(report(read(directory)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
