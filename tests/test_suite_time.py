"""tools/suite_time.py (``make suite-time``): a test's wall time, its own CPU and its reaped
children's CPU are told apart, and the tests that mostly wait are named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import suite_time  # noqa: E402

SAMPLE = """
import subprocess, sys, time

def test_sleeps():
    time.sleep(1.2)  # workload: the test that waits

def test_burns_its_own_cpu():
    end = time.process_time() + 0.4
    while time.process_time() < end:
        pass

def test_burns_a_childs_cpu():
    subprocess.run([sys.executable, "-c",
        "import time\\nend = time.process_time() + 0.4\\nwhile time.process_time() < end: pass"], check=True)
"""


CONFTEST = """
import sys
from pathlib import Path
sys.path.insert(0, {tools!r})
import suite_time

def pytest_configure(config):
    suite_time.register(config, Path({out!r}))
"""


def test_wall_own_cpu_and_childrens_cpu_per_test(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    out = tmp_path / "times"
    # registered as tests/conftest.py does for --suite-time
    (tmp_path / "conftest.py").write_text(CONFTEST.format(tools=str(REPO / "tools"), out=str(out)))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_sample.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {r.id.split("::")[1]: r for r in suite_time.read(out)}
    assert set(rows) == {"test_sleeps", "test_burns_its_own_cpu", "test_burns_a_childs_cpu"}
    sleeps, own, child = rows["test_sleeps"], rows["test_burns_its_own_cpu"], rows["test_burns_a_childs_cpu"]
    assert sleeps.wall >= 1.2 and sleeps.cpu < 0.3
    assert own.self_cpu >= 0.35 and own.child_cpu < 0.1
    assert child.child_cpu >= 0.35
    cores = os.cpu_count() or 1
    for r in rows.values():  # core-seconds of /proc/stat, not jiffies: at most every core, all the time
        assert 0 <= r.idle <= cores * r.wall + 0.05, (r, cores)
    text = suite_time.report(rows.values(), waiting_share=0.1)  # the burners: slowed, not stopped, by a busy machine
    waiting = text.split("tests that mostly wait")[1]
    assert "test_sleeps" in waiting and "burns" not in waiting
    assert "3 tests:" in text and "test_sample.py" in text
    idle_files = text.split("stood idle most")[1].splitlines()[2:]
    assert len(idle_files) == 1 and idle_files[0].endswith("test_sample.py")
    assert float(idle_files[0].split()[0]) == round(sum(r.idle for r in rows.values()), 1)


def test_no_times_is_one_line(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "tools" / "suite_time.py"), str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and run.stderr.startswith("error: no ")
