"""SIGTERM (`kill`, `timeout`, a service manager stopping a job) ends a command as Ctrl-C does:
what it was writing is removed, it says so in one line, and then it dies of the signal as the
default action would have made it (143 in a shell; a service manager counts it as a stop).

Found by hand: `timeout 20 eotrust eo stack …` left its hidden temporary cube
(`.c.tif.<pid>.<hex>.tmp`, 2.6 MB and growing) in the output's folder, and `predict` its
temporary class map: the default action of SIGTERM ends a process without unwinding, so no
`with` block removed them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import rasterio
from waiting import wait_for

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "slovenia-s2-ndvi"


def _large_sparse_series(path: Path) -> Path:
    """The sample's 68 NDVI dates on an 8000 × 8000 grid, sparse: tens of KB on disk, and a
    minute or more of stacking."""
    with rasterio.open(SAMPLE / "ndvi.tif") as src:
        profile = src.profile | {"width": 8000, "height": 8000, "tiled": True, "sparse_ok": True}
        profile |= {"blockxsize": 256, "blockysize": 256, "compress": "deflate"}
        with rasterio.open(path, "w", **profile) as dst:
            dst.descriptions = src.descriptions
            dst.update_tags(**src.tags())
    return path


def test_sigterm_mid_write_leaves_nothing_and_is_still_a_sigterm_death(tmp_path: Path) -> None:
    series = _large_sparse_series(tmp_path / "series.tif")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "EOTRUST_HOME": str(tmp_path / "h"), "EOTRUST_AGENT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "eotrust.cli.main", "eo", "stack", f"ndvi={series}", "-o", str(out / "c.tif")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: any(out.iterdir()), timeout_s=120, what="the temporary cube to be written")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGTERM, (proc.returncode, err)  # its death, once cleaned up
    assert list(out.iterdir()) == [], list(out.iterdir())
    assert err.strip().splitlines()[-1] == "terminated" and "Traceback" not in err, err


def test_a_process_that_ignores_sigterm_keeps_ignoring_it() -> None:
    script = """
import signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
from eotrust.cli.app import run
sys.exit(run(lambda **kw: signal.raise_signal(signal.SIGTERM)))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr)


def test_a_forked_child_dies_of_sigterm_at_once() -> None:
    """Children forked while a command runs (DDP ranks, worker pools) keep SIGTERM's default:
    their parents stop them with it and expect them gone, even inside a C call."""
    script = """
import os, signal, sys
from eotrust.cli.app import run

def command(**kw):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, b"x")  # forked (and its fork hooks run)
        signal.pause()  # blocks until a signal; a handler would return here and run on
        os._exit(7)
    os.read(r, 1)
    os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    print(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM)

sys.exit(run(command))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "True", (done.returncode, done.stdout, done.stderr)
