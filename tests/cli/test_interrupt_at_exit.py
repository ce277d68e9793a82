"""Ctrl-C after a command has finished (while the interpreter runs its exit handlers) ends the
process as the signal's death, status 130 in a shell, never a KeyboardInterrupt traceback.

Found in a loaded suite run: the resident-agent SIGINT test's child had already taken EOF at
its passphrase prompt and was exiting when the relayed SIGINT arrived; it printed a traceback
from `weakref`'s exit handler."""

from __future__ import annotations

import signal
import subprocess
import sys

# Python's own SIGINT handler first: a process started in the background by a shell inherits
# SIGINT ignored, and Python then leaves it ignored
SCRIPT = """
import atexit, os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from eotrust.cli.app import run
atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))  # Ctrl-C while exiting
sys.exit(run(lambda **kw: None))
"""


def test_sigint_while_exiting_is_a_signal_death_not_a_traceback() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGINT, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr


def test_sigint_during_a_command_is_still_interrupted() -> None:
    script = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from eotrust.cli.app import run
sys.exit(run(lambda **kw: signal.raise_signal(signal.SIGINT)))  # delivered to this thread, now
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and "interrupted" in done.stderr, done.stderr


def test_a_process_that_ignores_sigint_keeps_ignoring_it() -> None:
    """A background job (SIGINT ignored from its start) is not made killable by Ctrl-C."""
    script = """
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
from eotrust.cli.app import run
status = run(lambda **kw: None)
signal.raise_signal(signal.SIGINT)
print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
sys.exit(status)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "True", (done.returncode, done.stderr)
