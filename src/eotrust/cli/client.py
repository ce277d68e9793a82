"""The thin client in front of the resident agent; standard library only.

:func:`forward` hands a short command (:data:`AGENT_COMMANDS`) to the agent of this code base
with this process's argv, environment, working directory, umask, resource limits, niceness
and its stdin, stdout and stderr themselves, forwards SIGINT, SIGTERM and SIGHUP to the
child that runs it, and returns its exit status. It returns None, having run nothing, when
the command is not one of them, ``EOTRUST_AGENT=0``, the agent directory is not private, no
agent runs (it starts one, detached, for the next command) or the agent refuses; the caller
then runs the command itself.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from eotrust.cli import agent_wire as wire

#: Commands the agent runs: short, ending by themselves, not followed by PID by anyone.
#: A group maps to the subcommands that go (None: all of them; an empty set: a command without
#: subcommands). Servers (serve, chain serve, node run, model stream), training and inference
#: (train, evaluate, predict, change, label, model package and score), raster processing
#: (eo stack, tile, labels, dataset), workflow runs (workflow run, cwl-runner), the demo and
#: `agent` itself run in the client's own process.
AGENT_COMMANDS: dict[str, frozenset[str] | None] = {
    "party": None,
    "task": None,
    "store": None,
    "catalog": None,
    "apikey": None,
    "price": None,
    "flow": None,
    "chain": frozenset({"check"}),
    "workflow": frozenset({"validate", "import-cwl", "publish", "list", "describe"}),  # not run: steps, workers, Ctrl-C
    "run": frozenset({"list", "show", "logs", "prov"}),
    "model": frozenset({"list", "show", "verify", "export", "register", "import"}),
    "federated": frozenset(
        {"status", "create", "accept", "split"}
    ),  # create imports torch in the child, never the agent
    "eo": frozenset({"info"}),
    "verify": frozenset(),
    # the market: reads and transactions on the chain, signed documents in the store
    "quote": frozenset(),
    "usage": frozenset(),
    "bill": frozenset(),
    "fund": frozenset(),
    "expire": frozenset(),
    "withdraw": frozenset(),
    # the catalogue as RDF and SPARQL over it
    "sparql": frozenset(),
    "linked-data": frozenset(),
}
ROOT_VALUE_OPTIONS = ("--home", "--config")
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: How long the client waits for the agent to take the command. The agent says so before it
#: forks, and forks only if that word reached the client's socket: until then nothing ran,
#: and the client may run the command itself.
ANSWER_TIMEOUT_S = 60.0
#: How long the client waits to be connected: an agent whose queue of connections is full (it
#: is busy, or held) leaves the command to the client.
CONNECT_TIMEOUT_S = 5.0


def goes_to_agent(args: list[str]) -> bool:
    """Whether ``eotrust ARGS`` is a command the agent runs (root options, then an allowed
    group and subcommand; the bare root and ``--help`` too)."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        option = args[i]
        if option in ROOT_VALUE_OPTIONS:
            i += 2
        elif option.split("=", 1)[0] in ROOT_VALUE_OPTIONS or option == "--help":
            i += 1
        else:
            return False
    if i >= len(args):
        return True
    group = args[i]
    if group not in AGENT_COMMANDS:
        return False
    allowed = AGENT_COMMANDS[group]
    rest = args[i + 1 :]
    if allowed is None or not allowed:  # every subcommand, or a command without any
        return True
    if not rest or rest[0].startswith("-"):
        return True  # the group's own help
    return rest[0] in allowed


def program_name(argv0: str) -> str:
    """The name click shows in usage lines for this process (its ``_detect_program_name``)."""
    main = sys.modules.get("__main__")
    package = getattr(main, "__package__", None)
    if package in (None, ""):
        return os.path.basename(argv0)
    name = os.path.splitext(os.path.basename(argv0))[0]
    module = str(package) if name == "__main__" else f"{package}.{name}"
    return f"python -m {module.lstrip('.')}"


def _limits() -> dict[str, list[int]]:
    return {name: list(resource.getrlimit(getattr(resource, name))) for name in wire.RLIMITS}


def _memory_limited() -> bool:
    """A memory limit on this process: the agent's child, which starts with the CLI and its
    libraries loaded, would meet it sooner than this process; the command runs here."""
    return any(
        resource.getrlimit(limit)[0] != resource.RLIM_INFINITY for limit in (resource.RLIMIT_AS, resource.RLIMIT_DATA)
    )


def _may_prompt_on_terminal() -> bool:
    """No passphrase in the environment and a controlling terminal: a passphrase prompt goes to
    the terminal (``/dev/tty``), which the agent's child cannot open (it is in another
    session); the command runs here."""
    if os.environ.get("EOTRUST_PASSPHRASE"):
        return False
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


def request_of(argv: list[str]) -> dict[str, Any]:
    umask = os.umask(0)
    os.umask(umask)
    return {
        "argv": argv,
        "prog_name": program_name(argv[0] if argv else "eotrust"),
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "umask": umask,
        "limits": _limits(),
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
    }


def start_agent(directory: Path, key: str) -> None:
    """Start the agent of this code base, detached (its own session, stdio on its log), unless
    one holds the agent lock already. Never waits for it."""
    import fcntl
    import subprocess

    try:
        fd = os.open(wire.lock_path(directory, key), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return  # an agent holds it: starting, serving or finishing
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    env = dict(os.environ)
    env["EOTRUST_AGENT_DIR"] = str(directory)
    try:
        with open(wire.log_path(directory, key), "ab") as log:
            subprocess.Popen(
                [sys.executable, "-m", "eotrust.cli.resident", key],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=directory,
                env=_agent_environment(env),
                start_new_session=True,
                close_fds=True,
            )
    except OSError:
        return


def _agent_environment(env: dict[str, str]) -> dict[str, str]:
    """What the agent process starts with: this environment less every secret and eotrust
    setting (each request brings its own)."""
    return {
        k: v
        for k, v in env.items()
        if not k.startswith("EOTRUST_") or k in ("EOTRUST_AGENT_DIR", "EOTRUST_AGENT_IDLE_S")
    }


def forward(argv: list[str]) -> int | None:
    """Run ``argv`` in the agent and return its exit status; None when it did not run there."""
    if os.environ.get("EOTRUST_AGENT", "1") == "0" or not goes_to_agent(argv[1:]):
        return None
    if _memory_limited() or _may_prompt_on_terminal():
        return None
    try:
        directory = wire.private_dir(wire.agent_dir(), create=True)
        key = wire.agent_key()
    except wire.AgentDirRefused:
        return None
    if len(os.fsencode(wire.socket_path(directory, key))) > wire.MAX_SOCKET_PATH and not os.path.isdir("/proc/self/fd"):
        return None  # too long to name, and no /proc to reach it through its directory
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.settimeout(CONNECT_TIMEOUT_S)  # before connect: a full listen queue blocks it
            with wire.socket_address(wire.socket_path(directory, key)) as address:
                sock.connect(address)
            _, uid, _ = wire.peer_ids(sock)
            if uid != os.getuid():
                return None
            for fd in (0, 1, 2):
                os.fstat(fd)
            sock.settimeout(ANSWER_TIMEOUT_S)
            socket.send_fds(sock, [wire.encode_request(request_of(argv))], [0, 1, 2])
            lines = wire.LineReader(sock)
            answer = lines.read()
        except (FileNotFoundError, ConnectionRefusedError):
            start_agent(directory, key)
            return None
        except (OSError, ValueError):
            return None
        if answer is None or "started" not in answer:
            return None
        return _follow(sock, lines)
    finally:
        sock.close()


def _follow(sock: socket.socket, lines: wire.LineReader) -> int:
    """Forward signals to the running child until the agent reports its exit status."""

    def relay(signum: int, frame: FrameType | None) -> None:
        try:
            wire.send_line(sock, {"signal": signum})
        except OSError:
            pass

    previous = {signum: signal.signal(signum, relay) for signum in FORWARDED_SIGNALS}
    sock.settimeout(None)
    try:
        while True:
            try:
                message = lines.read()
            except InterruptedError:
                continue
            except (OSError, ValueError):
                message = None
            if message is None:
                print("eotrust: lost the agent before the command ended; its outcome is unknown", file=sys.stderr)
                return 1
            if "signal" in message:  # the child was killed by a signal: so is this process
                signal.signal(int(message["signal"]), signal.SIG_DFL)
                os.kill(os.getpid(), int(message["signal"]))
            if "exit" in message:
                return int(message["exit"])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
