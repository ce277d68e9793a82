"""The attack report (issue 12): run the HTTP-API and parser attack suites (tests/security:
test_api_*, test_parsers_*, test_role_matrix) and print what was tried against eotrust and what
got through.

- attacks tried: every attack test case, plus every refused move of the role matrix
  (each (role, other role's move) pair counts once);
- attacks that succeeded: attack test cases that failed, plus matrix moves that were not refused;
- requests fuzzed: requests the stateful schemathesis run sent, plus documents the Hypothesis
  parsers fuzzing parsed;
- server crashes: answers of 5xx to fuzzed requests, plus a killed ``eotrust serve`` (the
  100,000-deep JSON test fails if the server dies).

The reference measured in the same run is the number of cases collected: every collected case
must have run (ratio 1.00).

    .venv/bin/python benchmarks/attacks.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUITES = ["test_api_*.py", "test_parsers_*.py", "test_role_matrix.py"]


class Tally:
    """A pytest plugin counting collected and finished test cases."""

    def __init__(self) -> None:
        self.collected = 0
        self.passed = 0
        self.failed: list[str] = []
        self.crashed_server = False

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.collected = len(items)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.passed:
            self.passed += 1
        elif report.failed:
            self.failed.append(report.nodeid)
            if "deep_json" in report.nodeid:
                self.crashed_server = True


def main() -> int:
    files = sorted(str(p) for pattern in SUITES for p in (REPO / "tests" / "security").glob(pattern))
    counts = Path(tempfile.mkstemp(prefix="attack-counts-", suffix=".jsonl")[1])
    os.environ["EOTRUST_ATTACK_COUNTS"] = str(counts)
    tally = Tally()
    os.chdir(REPO)
    start = time.perf_counter()
    code = pytest.main(["-q", "-p", "no:cacheprovider", "--no-header", "-o", "addopts=", *files], plugins=[tally])
    wall = time.perf_counter() - start
    lines = [json.loads(line) for line in counts.read_text().splitlines() if line.strip()]
    counts.unlink(missing_ok=True)
    matrix = [x for x in lines if x["kind"] == "role-matrix attacks"]
    fuzz = [x for x in lines if x["kind"] != "role-matrix attacks"]
    tried = tally.collected + sum(x["count"] for x in matrix)
    succeeded = len(tally.failed) + sum(x["server_errors"] for x in matrix)
    fuzzed = sum(x["count"] for x in fuzz)
    crashes = sum(x["server_errors"] for x in fuzz) + int(tally.crashed_server)
    ran = tally.passed + len(tally.failed)
    print()
    print(f"attacks tried:               {tried}")
    print(f"attacks that succeeded:      {succeeded}")
    parts = ", ".join(f"{x['kind']}: {x['count']}" for x in fuzz)
    print(f"requests/documents fuzzed:   {fuzzed}  ({parts})")
    print(f"server crashes:              {crashes}")
    print(f"test cases run / collected:  {ran} / {tally.collected} (ratio {ran / max(tally.collected, 1):.2f})")
    print(f"wall time:                   {wall:.1f} s")
    for nodeid in tally.failed:
        print(f"  got through: {nodeid}")
    return 0 if code == 0 and succeeded == 0 and crashes == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
