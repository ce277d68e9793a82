"""Where the resident agent lives and how a client talks to it; standard library only (the
client imports this before anything else of eotrust).

The agent's directory is private to the user: ``EOTRUST_AGENT_DIR``, else
``$XDG_RUNTIME_DIR/eotrust``, else ``/tmp/eotrust-agent-<uid>``. It must be a real directory
(not a symbolic link), owned by this user, with no permission for group or others; anything
else is refused (:class:`AgentDirRefused`) and the command runs without the agent.

One agent serves one code base and one confinement: its files are named after a key over the
Python executable, the import path, the environment variables libraries read when they are
imported and what confines the process beyond its uid and gid (:func:`confinement`:
namespaces, root directory, supplementary groups, capabilities, no_new_privs, seccomp, cgroup,
security label) (:func:`agent_key`), so two checkouts or virtual environments never share an
agent, and a client confined otherwise (``unshare -n``, ``setpriv --clear-groups``, another
cgroup) starts an agent of its own, confined as it is; the agent refuses any other.

The wire: the client sends one request, ``length (4 bytes, big-endian) | JSON``, with its
stdin, stdout and stderr attached (SCM_RIGHTS); then one JSON line per forwarded signal. The
agent answers with JSON lines: ``{"started": pid}`` then ``{"exit": status}``, or one
``{"refused": reason}`` (nothing ran; the client runs the command itself).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eotrust.limits import json_loads

#: The largest request the agent reads (argv, environment, working directory).
MAX_REQUEST = 1 << 20
#: The largest line either side sends after the request.
MAX_LINE = 1 << 16
LENGTH = struct.Struct(">I")
#: The longest socket path Linux binds (sun_path holds 108 bytes with its terminating NUL).
MAX_SOCKET_PATH = 107
#: Environment variables read when a library is imported (rich and typer's terminal choices):
#: a request with other values is served by another agent, never by one that imported with these.
IMPORT_TIME_ENV = ("TERMINAL_WIDTH", "_TYPER_FORCE_DISABLE_TERMINAL", "GITHUB_ACTIONS", "FORCE_COLOR", "PY_COLORS")
#: The namespaces a client must share with the agent (``/proc/PID/ns/NAME``).
NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")
#: The lines of ``/proc/PID/status`` a client must share with the agent.
STATUS_FIELDS = ("Groups", "NoNewPrivs", "Seccomp", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
#: Resource limits the child takes over from the client (a client that may use more than the
#: agent may is refused: the command runs in the client).
RLIMITS = ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_STACK")


class AgentDirRefused(Exception):
    """The agent directory is not private to this user; no agent is used."""


def agent_dir(environ: os._Environ[str] | dict[str, str] = os.environ) -> Path:
    """The agent directory for this user (see the module's docstring); not created."""
    named = environ.get("EOTRUST_AGENT_DIR")
    if named:
        return Path(named)
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "eotrust"
    return Path(f"/tmp/eotrust-agent-{os.getuid()}")


def private_dir(path: Path, *, create: bool) -> Path:
    """``path``, checked to be a directory of this user's only (created mode 0700 if asked)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not create:
            raise AgentDirRefused(f"{path} does not exist") from None
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise AgentDirRefused(f"cannot create {path}: {exc.strerror}") from None
        try:
            info = os.lstat(path)
        except OSError as exc:
            raise AgentDirRefused(f"cannot look at {path}: {exc.strerror}") from None
    except OSError as exc:  # a parent this user cannot enter (an inherited XDG_RUNTIME_DIR), a loop
        raise AgentDirRefused(f"cannot look at {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise AgentDirRefused(f"{path} is not a directory")
    if info.st_uid != os.getuid():
        raise AgentDirRefused(f"{path} belongs to uid {info.st_uid}, not to this user")
    if info.st_mode & 0o077:
        raise AgentDirRefused(
            f"{path} is open to group or others (mode {stat.S_IMODE(info.st_mode):o}); it must be 0700"
        )
    return path


def confinement(pid: int) -> dict[str, str]:
    """What confines process ``pid`` beyond its uid and gid, from ``/proc``: its namespaces,
    root directory, supplementary groups, capabilities, no_new_privs, seccomp mode, cgroups
    and security label (AppArmor, SELinux). Raises OSError when ``/proc`` does not say."""
    proc = f"/proc/{pid}"
    found = {f"ns/{name}": os.readlink(f"{proc}/ns/{name}") for name in NAMESPACES}
    found["root"] = os.readlink(f"{proc}/root")
    with open(f"{proc}/status") as fh:
        for line in fh:
            name, _, value = line.partition(":")
            if name in STATUS_FIELDS:
                found[name] = " ".join(value.split())
    with open(f"{proc}/cgroup") as fh:
        found["cgroup"] = fh.read()
    with contextlib.suppress(OSError), open(f"{proc}/attr/current") as fh:
        found["label"] = fh.read().strip("\0\n")
    return found


def agent_key(environ: os._Environ[str] | dict[str, str] = os.environ) -> str:
    """Names the agent of this code base and confinement: executable, import path (less the
    script's own directory, sys.path[0]), the import-time environment and
    :func:`confinement`."""
    import eotrust

    try:
        confined: dict[str, str] | None = confinement(os.getpid())
    except OSError:
        confined = None  # no /proc: the agent refuses every client (it cannot compare them)
    identity = {
        "executable": sys.executable,
        "eotrust": os.path.dirname(os.path.abspath(eotrust.__file__)),
        "path": [os.path.abspath(p) for p in sys.path[1:]],
        "env": {name: environ.get(name) for name in IMPORT_TIME_ENV},
        "confinement": confined,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def socket_path(directory: Path, key: str) -> Path:
    return directory / f"agent-{key}.sock"


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """A name of the socket file ``path`` that ``bind`` and ``connect`` accept: the path itself,
    or, when it is longer than ``sun_path`` holds, the same file reached through a descriptor of
    its directory (``/proc/self/fd/N/NAME``, open while the context lasts)."""
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def pid_path(directory: Path, key: str) -> Path:
    return directory / f"agent-{key}.pid"


def lock_path(directory: Path, key: str) -> Path:
    return directory / f"agent-{key}.lock"


def log_path(directory: Path, key: str) -> Path:
    return directory / f"agent-{key}.log"


def peer_ids(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket (SO_PEERCRED)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", creds)
    return pid, uid, gid


def encode_request(request: dict[str, Any]) -> bytes:
    body = json.dumps(request).encode()
    return LENGTH.pack(len(body)) + body


def send_line(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


class LineReader:
    """JSON lines from a socket, at most MAX_LINE bytes each; None at the end of the stream."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def read(self) -> dict[str, Any] | None:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise ValueError("line too long")
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        message = json_loads(line)
        if not isinstance(message, dict):
            raise ValueError("not a JSON object")
        return message


def control(directory: Path, key: str, op: str, timeout: float = 5.0) -> dict[str, Any]:
    """Ask the running agent a control question (``status``, ``stop``); raises OSError when
    none answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        with socket_address(socket_path(directory, key)) as address:
            sock.connect(address)
        _, uid, _ = peer_ids(sock)
        if uid != os.getuid():
            raise PermissionError(f"the agent socket belongs to uid {uid}")
        sock.sendall(encode_request({"op": op}))
        answer = LineReader(sock).read()
        if answer is None:
            raise ConnectionError("the agent closed the connection without an answer")
        return answer
