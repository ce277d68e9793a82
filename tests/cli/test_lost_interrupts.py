"""A signal that stops a command is never lost because it landed in a finaliser.

Python runs a signal's handler between two bytecodes of the main thread, wherever they are: in a
``__del__`` or a weakref callback too. The KeyboardInterrupt (or ``Terminated``) the handler
raises there cannot propagate: Python prints "Exception ignored in …" and goes on. Seen in a
full run of the suite: a platform node got SIGTERM while a WeakValueDictionary's callback ran,
printed the ignored KeyboardInterrupt, and ran its task to the end; it stopped only at the next
SIGTERM (a service manager would have SIGKILLed it, skipping the cleanup SIGTERM exists for).
Now the lost interrupt is delivered again, in the code that was running.

Each case runs a real command through ``eotrust.cli.app.run`` (as ``eotrust`` and the agent's
children run them) in its own process; the command drops an object whose finaliser sends the
signal to its own process, then works on for 3 s and says "finished"; the same command with the
signal sent outside a finaliser is the reference. A second way of going on: the command then
waits for a line on its stdin (a pipe kept open, as a passphrase prompt waits); the lost stop
must also end that wait (seen in CI: an agent's child stayed 60 s in a pipe read after SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    import typer
    from eotrust.cli.app import run
    from eotrust.cli.node import _sigterm_interrupts

    SIGNUM = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "node-sigterm": signal.SIGTERM}[sys.argv[1]]
    IN_FINALISER = sys.argv[2] == "in-a-finaliser"
    WAITS_FOR_INPUT = sys.argv[3] == "waits-for-input"
    # Ctrl-C's handler, as in a foreground job: the suite itself may run as a shell's background
    # job, whose processes start with SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)

    class SignalsInItsFinaliser:
        def __del__(self):
            os.kill(os.getpid(), SIGNUM)
            time.sleep(0)  # workload: a call, where the handler runs (inside the finaliser)

    def work():
        if IN_FINALISER:
            obj = SignalsInItsFinaliser()
            del obj
        else:
            os.kill(os.getpid(), SIGNUM)
        if WAITS_FOR_INPUT:
            sys.stdin.readline()  # blocks in read(2): only a real signal ends the wait
        end = time.monotonic() + 3
        while time.monotonic() < end:
            time.sleep(0.01)  # workload: the command works on
        print("finished", flush=True)

    app = typer.Typer()

    @app.command()
    def go(kind: str) -> None:
        if kind == "node-sigterm":  # as `eotrust node run` does: SIGTERM stops it as Ctrl-C
            with _sigterm_interrupts():
                work()
        else:
            work()

    sys.exit(run(app, [sys.argv[1]], prog_name="eotrust"))
    """
)


@pytest.mark.parametrize("then", ["works-on", "waits-for-input"])
@pytest.mark.parametrize("kind", ["sigint", "sigterm", "node-sigterm"])
def test_a_stopping_signal_that_lands_in_a_finaliser_still_stops_the_command(
    tmp_path: Path, kind: str, then: str
) -> None:
    """``sigint``: Ctrl-C (KeyboardInterrupt from Python's own handler); ``sigterm``: any
    command (unwound, then it dies of the signal); ``node-sigterm``: a node, whose SIGTERM
    raises KeyboardInterrupt. Each ends as the same signal ends it outside a finaliser."""
    script = tmp_path / "command.py"
    script.write_text(SCRIPT)

    def command(where: str) -> subprocess.CompletedProcess[str]:
        read, write = os.pipe()  # stdin: never written nor closed while the command runs
        try:
            return subprocess.run(
                [sys.executable, str(script), kind, where, then],
                stdin=read, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{where}: still running 30 s after the signal:\n{exc.stderr!r}")
        finally:
            os.close(read)
            os.close(write)

    direct, lost = command("directly"), command("in-a-finaliser")
    assert "finished" not in direct.stdout and direct.returncode in (130, -signal.SIGTERM), direct
    assert "finished" not in lost.stdout, f"the command ran on after the signal:\n{lost.stderr}"
    assert (lost.returncode, lost.stderr) == (direct.returncode, direct.stderr)
    assert "Traceback" not in lost.stderr
