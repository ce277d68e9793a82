"""Steps that crash, hang, write nothing, die by a signal or fail a few times; a crashed run
that is started again resumes from the cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from one_cid import one_cid
from waiting import wait_for

from eotrust.workflow import RunFailed, run_workflow
from eotrust.workflow.progress import StepEvent
from eotrust.workflow.record import RunRecord
from eotrust.workflow.spec import load_workflow

if TYPE_CHECKING:
    from eotrust.settings import Settings
    from eotrust.store.base import Store

HERE = Path(__file__).resolve().parent


def one_step(entry: str, extra: str = "") -> str:
    return f"""\
name: fault
services:
  s: {{python: "wf_services:{entry}", outputs: {{out: file}}{extra}}}
steps:
  s: {{service: s}}
outputs: {{out: s.out}}
"""


def fail(settings: Settings, text: str, **kw: Any) -> RunFailed:
    with pytest.raises(RunFailed) as info:
        run_workflow(settings, load_workflow(text), {}, {}, retries=kw.pop("retries", 0), backoff_s=0.01, **kw)
    return info.value


def test_crashing_service_fails_the_run_with_its_log(settings: Settings, store: Store) -> None:
    exc = fail(settings, one_step("crash"))
    assert exc.step == "s" and exc.exit_status == 1 and "RuntimeError: boom" in exc.reason
    log = store.get_bytes(one_cid(exc.log_cid)).decode()
    assert "about to fail" in log and "Traceback" in log and "RuntimeError: boom" in log
    rec = RunRecord.model_validate_json(store.get_bytes(one_cid(exc.run_cid)))
    assert rec.status == "failed" and rec.failed_step == "s" and rec.steps[0].log_cid == exc.log_cid
    assert list(settings.path("workflow", "tmp").iterdir()) == []


def test_hanging_service_is_killed_after_its_timeout(settings: Settings) -> None:
    t = time.monotonic()
    exc = fail(settings, one_step("hang", ", timeout_s: 1"))
    assert time.monotonic() - t < 10
    assert "timed out after 1 s" in exc.reason and exc.exit_status is None


def test_service_writing_no_declared_output(settings: Settings, store: Store) -> None:
    exc = fail(settings, one_step("no_output"))
    assert "wrote no declared output 'out'" in exc.reason and exc.exit_status == 0
    assert "forgot to write" in store.get_bytes(one_cid(exc.log_cid)).decode()


def test_service_killed_by_a_signal(settings: Settings) -> None:
    exc = fail(settings, one_step("suicide"))
    assert exc.exit_status == -signal.SIGKILL and "killed by signal SIGKILL" in exc.reason


def test_failing_command_and_missing_program(settings: Settings) -> None:
    wf = """\
name: cmd
services:
  s: {command: ["sh", "-c", "echo oops >&2; exit 3"], outputs: {out: file}}
steps: {s: {service: s}}
"""
    exc = fail(settings, wf)
    assert exc.exit_status == 3 and "exit status 3" in exc.reason
    exc = fail(settings, wf.replace('["sh", "-c", "echo oops >&2; exit 3"]', '["no-such-program-xyz"]'))
    assert exc.exit_status == 127 and "cannot start 'no-such-program-xyz'" in exc.reason


def test_retries_with_exponential_backoff(settings: Settings, store: Store, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    wf = f"""\
name: flaky
services:
  f: {{python: wf_services:flaky, outputs: {{out: file}}, params: {{counter: str, fail_times: int}}}}
steps:
  f: {{service: f, params: {{counter: "{counter}", fail_times: 2}}}}
outputs: {{out: f.out}}
"""
    events: list[StepEvent] = []
    settings = settings.model_copy(update={"sandbox": False})  # the service counts its attempts in a file of the test
    t = time.monotonic()
    res = run_workflow(settings, load_workflow(wf), {}, {}, retries=2, backoff_s=0.2, progress=events.append)
    took = time.monotonic() - t
    assert store.get_bytes(one_cid(res.outputs["out"])) == b"ok" and res.steps[0].attempts == 3
    assert [e.kind for e in events if e.kind == "retry"] == ["retry", "retry"]
    assert took >= 0.2 + 0.4  # waited 0.2 s, then 0.4 s
    counter.unlink()
    exc = fail(settings, wf, retries=1, force={"f"})  # cached otherwise
    assert exc.attempts == 2 and "flaky failure 2" in exc.reason


def test_rerun_after_engine_crash_resumes_from_cache(settings: Settings, store: Store, tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text("""\
name: resume
services:
  sleepy: {python: wf_services:sleepy, inputs: {src: {type: file, optional: true}}, outputs: {out: file}, params: {seconds: float}}
steps:
  a: {service: sleepy, params: {seconds: 0.0}}
  b: {service: sleepy, in: {src: a.out}, params: {seconds: 2.0}}
outputs: {out: b.out}
""")
    script = (
        f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
        "from eotrust.settings import load_settings\n"
        "from eotrust.workflow import run_workflow\n"
        f"run_workflow(load_settings(home={str(settings.home)!r}), {str(wf)!r}, {{}}, {{}})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=HERE)
    from eotrust.workflow.cache import StepCache

    cache = StepCache(settings.path("workflow", "cache"))
    wait_for(lambda: len(cache) > 0, timeout_s=60, what="step a to be cached")
    os.kill(proc.pid, signal.SIGKILL)  # the engine dies while step b runs
    proc.wait()
    assert len(cache) == 1
    cache.close()
    res = run_workflow(settings, wf, {}, {})
    assert {s.step: s.cache_hit for s in res.steps} == {"a": True, "b": False}


def test_entry_point_that_cannot_be_imported(settings: Settings, store: Store) -> None:
    exc = fail(settings, one_step("crash").replace("wf_services:crash", "no_such_module_xyz:run"))
    assert "cannot load entry point 'no_such_module_xyz:run'" in exc.reason and exc.exit_status == 1
    assert "ModuleNotFoundError" in store.get_bytes(one_cid(exc.log_cid)).decode()
    exc = fail(settings, one_step("nope"))
    assert "has no function 'nope'" in exc.reason


def test_hanging_command_is_killed_after_its_timeout(settings: Settings) -> None:
    wf = "name: h\nservices:\n  s: {command: [sleep, '600'], outputs: {out: file}, timeout_s: 0.5}\nsteps: {s: {service: s}}\n"
    t = time.monotonic()
    exc = fail(settings, wf)
    assert time.monotonic() - t < 10 and "timed out after 0.5 s" in exc.reason


def test_many_runs_open_a_new_cache_together(tmp_path: Path) -> None:
    """A sweep's parallel runs open the step cache at once. On a new cache file SQLite refused a
    connection asking for WAL while another switched the file to it ("database is locked", at
    once, whatever the timeout): a sweep's test failed so in one full run of the suite, and 11
    of 200 rounds of 8 threads opening a new cache failed. Openers now take turns."""
    import threading

    from eotrust.workflow.cache import StepCache

    for round_ in range(60):
        root = tmp_path / f"cache-{round_}"
        start = threading.Barrier(8)
        errors: list[BaseException] = []

        def open_it(root: Path = root, start: threading.Barrier = start, errors: list[BaseException] = errors) -> None:
            start.wait()
            try:
                StepCache(root)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, f"round {round_}: {errors[0]!r}"
