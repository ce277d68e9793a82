"""The sandbox's policy and API: the network only for a service that asks and that the
platform allows (and the run record says so), binds that would show the home are refused,
symlinked inputs do not lead out, and the environment is clean."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from eotrust.errors import SandboxUnavailableError
from eotrust.settings import load_settings
from eotrust.store import open_store
from eotrust.workflow import RunFailed, run_workflow
from eotrust.workflow.sandbox import Limits, sandboxed_argv

assert __import__("shutil").which("bwrap"), "needs bubblewrap (make sysdeps installs it)"

WF = """\
name: fetch
services:
  fetch:
    command: ["python3", "-c", "import socket,sys; socket.create_connection(('127.0.0.1', {params.port}), 5).sendall(b'hi'); open(sys.argv[1], 'w').write('ok')", "{outputs.out}"]
    outputs: {out: file}
    params: {port: int}
    network: true
steps: {fetch: {service: fetch, params: {port: PORT}}}
outputs: {out: fetch.out}
"""


def test_network_only_when_asked_and_allowed(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        wf = WF.replace("PORT", str(listener.getsockname()[1]))
        denied = load_settings(home=tmp_path / "a", step_retries=0)
        with pytest.raises(RunFailed) as failed:
            run_workflow(denied, wf, {}, {})
        log = open_store(denied).get_bytes(failed.value.log_cid or "").decode()
        assert "Connection refused" in log or "Network is unreachable" in log  # its own loopback, not the host's
        allowed = load_settings(home=tmp_path / "b", step_retries=0, sandbox_network_allow=["fetch"])
        result = run_workflow(allowed, wf, {}, {})
        assert [(s.sandboxed, s.network) for s in result.steps] == [(True, True)]
        listener.settimeout(5)
        conn, _ = listener.accept()
        assert conn.recv(2) == b"hi"
        conn.close()


def test_binds_that_would_show_the_home_are_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "parties").mkdir(parents=True)
    (home / "parties" / "keystore.json").write_text("SECRET")
    work = tmp_path / "step"
    (work / "in").mkdir(parents=True)
    (work / "in" / "link").symlink_to(home / "parties" / "keystore.json")
    with pytest.raises(SandboxUnavailableError, match="refusing to show"):
        sandboxed_argv(["cat", "/step/in/link"], workdir=work, inputs_ro=[work / "in" / "link"], hidden=[home])
    with pytest.raises(SandboxUnavailableError, match="refusing to show"):
        sandboxed_argv(["true"], workdir=tmp_path, hidden=[home])
    # bound as a directory, the symlink stays a symlink to a path that does not exist inside
    argv = sandboxed_argv(
        ["sh", "-c", "cat /step/in/link; rc=$?; env; exit $rc"],
        workdir=work,
        inputs_ro=[work / "in"],
        hidden=[home],
        limits=Limits(memory_mb=512, cpu_s=5, procs=16, file_mb=1),
        env={"EOTRUST_PASSPHRASE": "x", "LD_PRELOAD": "/evil.so", "MY_VAR": "kept"},
    )
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "No such file or directory" in out.stderr and "SECRET" not in out.stdout
    assert "MY_VAR=kept" in out.stdout and "EOTRUST" not in out.stdout and "LD_PRELOAD" not in out.stdout


def test_the_disk_floor_counts_bytes_and_inodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty files cost no bytes but an inode each: a step making millions of them would leave the
    platform unable to create a file. The floor is 1 % of the inodes (at least 10,000)."""
    import os
    import threading

    from eotrust.workflow.sandbox import disk

    real = os.statvfs(tmp_path)
    floor = disk.DiskFloor(tmp_path, keep_mb=0)
    assert floor.check() is None

    class Fake:
        f_bavail, f_frsize, f_files = real.f_bavail, real.f_frsize, 1_000_000
        f_favail = 9_999  # under 1 % of a million, and under 10,000

    monkeypatch.setattr(os, "statvfs", lambda _p: Fake)
    why = floor.check()
    assert why is not None and "9999 of 1000000 inodes" in why
    killed = threading.Event()
    with floor.watch(killed.set):
        assert killed.wait(5)
    assert floor.broken == why
    Fake.f_favail = 50_000
    assert disk.DiskFloor(tmp_path, keep_mb=0).check() is None
    assert "MiB free" in (disk.DiskFloor(tmp_path, keep_mb=(Fake.f_bavail * Fake.f_frsize >> 20) + 1).check() or "")
