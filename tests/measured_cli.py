"""The `eotrust` command in a child process that reports its own peak memory, and the check
that a refusal is one line: for attack tests whose point is that a hostile input neither
exhausts the machine nor ends in a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The child runs the command in this process image (the resident agent off), then prints its
# own peak: VmHWM (ru_maxrss keeps the forking parent's, a big pytest worker).
_CLI_CHILD = """\
import sys
from eotrust.cli import main as cli
sys.argv = ["eotrust", *sys.argv[1:]]
code = 0
try:
    cli.main()
except SystemExit as exit:
    code = exit.code
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print("peak_kib", peak)
sys.exit(code)
"""


def measured_cli(home: Path, *args: str, timeout: float = 60, **env: str) -> tuple[int, str, str, int]:
    """``(exit status, stdout, stderr, peak KiB)`` of ``eotrust --home HOME ARGS`` in a child,
    with ``env`` added to this process's environment."""
    environ = {**os.environ, "EOTRUST_AGENT": "0", "COLUMNS": "400", **env}  # the line stays a line
    proc = subprocess.run(
        [sys.executable, "-c", _CLI_CHILD, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
    )
    peak = next(int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("peak_kib"))
    return proc.returncode, proc.stdout, proc.stderr, peak


def one_line_refusal(code: int, stderr: str) -> str:
    """The refusal, checked: exit status 1, one line on stderr (and its hint), no traceback."""
    assert code == 1, stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:") and [line[:5] for line in lines[1:]] in ([], ["hint:"]), stderr
    return lines[0]
