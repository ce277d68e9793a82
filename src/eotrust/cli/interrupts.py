"""A signal that stops a command is never lost because it landed in a finaliser.

Python runs a signal's handler between two bytecodes of the main thread, wherever they are: in a
``__del__`` method or a weakref callback as well. The KeyboardInterrupt (Ctrl-C; SIGTERM for a
node) or :class:`Terminated` (SIGTERM for any other command) that the handler raises there
cannot propagate: Python hands it to :data:`sys.unraisablehook`, which prints "Exception ignored
in …", and the command runs on. A platform node that got SIGTERM so went on to finish its task,
and stopped only at the next SIGTERM (a service manager would have sent SIGKILL instead, and
the decrypted inputs SIGTERM's cleanup deletes would have stayed).

While a command runs (:func:`eotrust.cli.app.run`), :func:`stops_never_lost` replaces the hook:
such an exception is not printed but the signal is sent again to the main thread a moment later
(:func:`signal.pthread_kill` from a timer thread: the signal's own handler raises it anew, in the
code the finaliser had interrupted). A real signal, not :func:`_thread.interrupt_main`: that only
marks the signal as pending for the next bytecode, and a main thread already waiting in a system
call (a passphrase prompt reading its pipe) would wait on for ever; a real one interrupts the
call. Anything else reaches the previous hook unchanged.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

#: How long after a lost stop it is delivered again: the finaliser it landed in has returned.
REDELIVER_AFTER_S = 0.01


class Terminated(BaseException):
    """SIGTERM arrived while a command ran (a BaseException, as KeyboardInterrupt is: no
    ``except Exception`` swallows it)."""


def _handled_in_python(signum: int) -> bool:
    """Whether ``signum`` has a Python handler (not SIG_DFL, SIG_IGN or one set outside Python):
    only then does sending it again raise anything (rather than end or leave the process)."""
    return callable(signal.getsignal(signum))


class _RedeliverStops:
    """The :data:`sys.unraisablehook` of a running command."""

    def __init__(self, previous: Callable[[Any], object]) -> None:
        self.previous = previous

    def __call__(self, unraisable: Any) -> None:  # sys.UnraisableHookArgs (no public type)
        exc = unraisable.exc_value
        signum: int | None = None
        if isinstance(exc, Terminated):
            signum = signal.SIGTERM
        elif isinstance(exc, KeyboardInterrupt):  # Ctrl-C, or a node's SIGTERM: either stops it so
            signum = signal.SIGINT if _handled_in_python(signal.SIGINT) else signal.SIGTERM
        if signum is None or not _handled_in_python(signum):
            self.previous(unraisable)
            return
        _redeliver(signum)


def _redeliver(signum: int) -> None:
    """``signum`` to the main thread again, from a short-lived thread a moment later: raised at
    once, it would land in this hook, still inside the finaliser. Should it land in another
    finaliser, the hook is called again and it is sent again."""
    main = threading.main_thread().ident
    assert main is not None  # the main thread has started: it is running this command
    later = threading.Timer(REDELIVER_AFTER_S, _signal_thread, args=(main, signum))
    later.daemon = True
    later.start()


def _signal_thread(thread: int, signum: int) -> None:
    with suppress(OSError):  # the command has ended meanwhile (ESRCH): nothing to stop
        signal.pthread_kill(thread, signum)


@contextmanager
def stops_never_lost() -> Iterator[None]:
    """For the time of a command: a stopping exception raised in a finaliser is raised again in
    the code the finaliser interrupted."""
    previous = sys.unraisablehook
    sys.unraisablehook = _RedeliverStops(previous)
    try:
        yield
    finally:
        sys.unraisablehook = previous
