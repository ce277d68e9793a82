"""The agent: one process per user and code base that has the CLI imported, keeps embedded
chains open (:mod:`eotrust.cli.resident.warm`) and forks a child per command.

Its loop (single-threaded, ``selectors``) accepts a connection, checks the peer's uid and gid
(SO_PEERCRED), reads one request with three descriptors within one deadline
(:mod:`eotrust.cli.agent_wire`), checks that the peer is confined as the agent is (its
namespaces, root, supplementary groups, capabilities, no_new_privs, seccomp, cgroups and label:
:func:`~eotrust.cli.agent_wire.confinement`; the child would have the agent's, not the
client's), refuses with one line anything malformed, oversized, confined otherwise or from an
agent whose code changed, says ``started`` and forks. What one client does (a bad line, an
error) never stops the loop serving the others. The child takes the descriptors as its stdin, stdout and stderr,
the request's environment, working directory, umask, resource limits and niceness, and runs
the typer app. The parent keeps the connection only to relay the client's signals to the
child, to kill the child when the client goes away (end of stream), and to send the child's
exit status. It drops the request (and so the environment, with any passphrase) after the
fork; what it keeps is the code and the open chains, never a party's key.

It stops after ``EOTRUST_AGENT_IDLE_S`` (default 600) seconds without a command, on SIGTERM
or ``eotrust agent stop``, and when a source file of eotrust it imported, a directory of the
eotrust package or a site-packages directory changed since it started (it refuses that
request and every later one, so stale code never runs; the next command starts a new agent).
Before it exits it lets running children finish and reports their exit statuses.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import gc
import os
import re
import resource
import selectors
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eotrust.cli import agent_wire as wire
from eotrust.cli.interrupts import stops_never_lost
from eotrust.cli.resident.warm import NotWarm, WarmChains
from eotrust.errors import EotrustError
from eotrust.limits import json_loads

if TYPE_CHECKING:
    from eotrust.ledger.backend import ChainBackend, EmbeddedBackend
    from eotrust.settings import Settings

DEFAULT_IDLE_S = 600.0
#: How long the agent waits for a whole request once connected.
REQUEST_TIMEOUT_S = 5.0
#: The signals relayed from a client to its command's process group.
_RELAYED = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
#: Imported before the first fork, so that a child finds them loaded (never torch,
#: onnxruntime or rasterio: too big, or unsafe to fork; a command that needs them imports them).
PRELOAD = (
    "eotrust.backends",
    "eotrust.ledger",
    "eotrust.ledger.chain",
    "eotrust.ledger.embedded",
    "eotrust.ledger.factory",
    "eotrust.ledger.task",
    "eotrust.ledger.events",
    "eotrust.ledger.models",
    "eotrust.party",
    "eotrust.catalog.service",
    "eotrust.catalog.db",
    "eotrust.catalog.entries",
    "eotrust.catalog.records",
    "eotrust.catalog.model_records",
    "eotrust.catalog.api_key_records",
    "eotrust.catalog.deployments",
    "eotrust.store",
    "eotrust.market.service",
    "eotrust.market.bill",
    "eotrust.market.payments",
    "eotrust.ledger.escrow",
    "eotrust.linked.sparql",
    "eotrust.linked.graph",
    "eotrust.workflow.spec",
    "eotrust.workflow.runs",
    "coincurve",
    "eth_account",
    "web3",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlite3",
    "typer.rich_utils",
    "typer._adapters",
    "typer._click.decorators",
    "typer._click._textwrap",
    "rich._emoji_codes",
    "Crypto.Cipher.AES",
    "Crypto.Cipher._mode_ctr",
    "encodings.ascii",
)
#: Never loaded in the agent (a child that needs them imports them).
NOT_PRELOADED = ("torch", "onnxruntime", "rasterio")


class Refused(Exception):
    """A request the agent does not run; the client is told in one line."""


class BadRequest(EotrustError):
    """A request the child cannot take (one line on the client's stderr, status 2)."""


#: The one secret a request carries (docs/architecture.md, "The resident agent").
PASSPHRASE = "EOTRUST_PASSPHRASE"
#: The request's JSON as tokens, without copying any: a string (its escapes skipped), a
#: bracket or a colon (whitespace, numbers and literals lie between them).
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[][{}:]', re.DOTALL)
#: What a JSON string's content may hold: no control character, only JSON's escapes.
_JSON_STRING = re.compile(rb'(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*')


def wipe(buffer: bytearray | None) -> None:
    """Overwrite ``buffer`` with zeros, in place."""
    if buffer is not None:
        buffer[:] = bytes(len(buffer))


def take_passphrase(body: bytearray) -> bytearray | None:
    """The passphrase of a request's JSON ``body`` (the value of ``env.EOTRUST_PASSPHRASE``),
    moved out of it: its bytes as JSON escapes them, in a buffer of their own, and spaces in
    their place in ``body``. No Python string or bytes object ever holds it, so the agent can
    zero both buffers once the command's child has its copy (the child decodes it)."""
    if body.find(b'"' + PASSPHRASE.encode() + b'"') < 0:
        return None
    secret: bytearray | None = None
    opened: list[tuple[int, bytes | None]] = []  # each open bracket, and the key it is the value of
    key: bytes | None = None  # the key before the last colon
    last: tuple[int, int] = (0, 0)  # the last string's content
    after_colon = False
    for token in _TOKEN.finditer(body):
        first = body[token.start()]
        if first == 0x22:  # a string
            start, end = token.start() + 1, token.end() - 1
            last = (start, end)
            where = [k for _, k in opened]
            if after_colon and key == PASSPHRASE.encode() and where == [None, b"env"] and opened[1][0] == 0x7B:
                if not _JSON_STRING.fullmatch(body, start, end):
                    wipe(secret)
                    raise Refused("the request is not JSON")
                wipe(secret)  # a key given twice: JSON keeps the last
                secret = body[start:end]
                body[start:end] = b" " * (end - start)
        elif first == 0x3A:  # a colon: the last string was a key (a short one, if it matters)
            key = bytes(body[last[0] : last[1]]) if last[1] - last[0] <= len(PASSPHRASE) else None
            after_colon = True
            continue
        elif first in b"[{":
            opened.append((first, key if after_colon else None))
        elif opened:
            opened.pop()
        after_colon = False
    return secret


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} agent {os.getpid()}: {message}", flush=True)


@dataclass
class CodeFingerprint:
    """Modification times and sizes of every file of the eotrust package (sources, contract
    artifacts), the entries of its directories (a module added or removed; bytecode caches
    aside) and the modification times of the site-packages directories (a package installed,
    upgraded or removed changes them)."""

    stamps: dict[str, tuple[int, int]] = field(default_factory=dict)
    package_dirs: set[str] = field(default_factory=set)

    @classmethod
    def take(cls) -> CodeFingerprint:
        import eotrust

        fingerprint = cls()
        paths: set[str] = set()
        for root, dirs, files in os.walk(os.path.dirname(os.path.abspath(eotrust.__file__))):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            fingerprint.package_dirs.add(root)
            paths.update(os.path.join(root, f) for f in files)
        paths |= fingerprint.package_dirs
        for entry in sys.path:
            if entry.endswith(("site-packages", "dist-packages")):
                paths.add(entry)
        for path in paths:
            with contextlib.suppress(OSError):
                fingerprint.stamps[path] = fingerprint._stamp(path)
        return fingerprint

    def _stamp(self, path: str) -> tuple[int, int]:
        """A file's modification time and size; a package directory's entries (so that Python
        writing its ``__pycache__`` there is no change of code); a site-packages directory's
        modification time."""
        if path in self.package_dirs:
            names = sorted(n for n in os.listdir(path) if n != "__pycache__")
            return (0, hash(tuple(names)))
        info = os.stat(path)
        return (info.st_mtime_ns, info.st_size)

    def changed(self) -> str | None:
        """The first path that changed (or went) since, or None."""
        for path, stamp in self.stamps.items():
            try:
                now = self._stamp(path)
            except OSError:
                return path
            if now != stamp:
                return path
        return None


def _root_options(args: list[str]) -> tuple[str | None, str | None]:
    """(--home, --config) given before the command, as the root callback would read them."""
    home = config = None
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name, _, value = args[i].partition("=")
        if name in ("--home", "--config") and not value and i + 1 < len(args):
            value = args[i + 1]
            i += 1
        if name == "--home":
            home = value
        elif name == "--config":
            config = value
        i += 1
    return home, config


def _check_request(request: Any, fds: list[int]) -> dict[str, Any]:
    if not isinstance(request, dict):
        raise Refused("a request is a JSON object")
    argv, env = request.get("argv"), request.get("env")
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        raise Refused("argv must be a non-empty list of strings")
    if not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
        raise Refused("env must map strings to strings")
    if not isinstance(request.get("cwd"), str) or not os.path.isabs(request["cwd"]):
        raise Refused("cwd must be an absolute path")
    if not isinstance(request.get("prog_name"), str):
        raise Refused("prog_name must be a string")
    umask, nice, limits = request.get("umask"), request.get("nice"), request.get("limits")
    if not (isinstance(umask, int) and 0 <= umask <= 0o777 and isinstance(nice, int)):
        raise Refused("umask and nice must be numbers")
    if not (
        isinstance(limits, dict)
        and set(limits) == set(wire.RLIMITS)
        and all(isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v) for v in limits.values())
    ):
        raise Refused("limits must give every resource limit")
    if len(fds) != 3:
        raise Refused(f"a command needs its stdin, stdout and stderr; {len(fds)} descriptors came")
    return request


def _recv_with_fds(conn: socket.socket, buffer: bytearray, most: int) -> tuple[int, list[int], int]:
    """``socket.recv_fds`` into ``buffer``: (bytes read, descriptors, flags)."""
    fds = array.array("i")
    got, ancillary, flags, _ = conn.recvmsg_into([buffer], socket.CMSG_LEN(most * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return got, list(fds), flags


def _within(wanted: int, allowed: int) -> bool:
    if allowed == resource.RLIM_INFINITY:
        return True
    return wanted != resource.RLIM_INFINITY and wanted <= allowed


class Agent:
    """The agent of one code base (``key``) in ``directory``."""

    def __init__(self, directory: Path, key: str, *, idle_s: float = DEFAULT_IDLE_S, warm_size: int = 4) -> None:
        self.directory = directory
        self.key = key
        self.idle_s = idle_s
        self.warm = WarmChains(warm_size)
        self.selector = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.children: dict[int, socket.socket] = {}
        self.stopping = False
        self.served = 0
        self.children_cpu_s = 0.0  # CPU seconds of every child that has ended
        self.started_at = time.time()
        self.last_request = time.monotonic()
        self.fingerprint = CodeFingerprint()
        self._lock_fd = -1
        self._wakeup: tuple[int, int] = (-1, -1)
        self._socket_inode: tuple[int, int] | None = None
        self.command: Callable[..., Any] | None = None
        self.confinement: dict[str, str] | None = None

    # -- life ---------------------------------------------------------------------------------
    def serve(self) -> int:
        self._lock_fd = os.open(wire.lock_path(self.directory, self.key), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log("another agent holds the lock; exiting")
            return 0
        wire.pid_path(self.directory, self.key).write_text(f"{os.getpid()}\n")
        try:
            self._load()
            self._listen()
            log(f"serving {wire.socket_path(self.directory, self.key)} (idle exit after {self.idle_s:.0f} s)")
            self._loop()
        finally:
            self._close_listener()
            with contextlib.suppress(OSError):
                if wire.pid_path(self.directory, self.key).read_text().strip() == str(os.getpid()):
                    wire.pid_path(self.directory, self.key).unlink()
            log("exited")
        return 0

    def _load(self) -> None:
        import importlib

        from eotrust.cli import main

        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except ImportError as exc:  # a library version without it: the child imports what it needs
                log(f"not preloaded: {name} ({exc})")
        from rich.cells import cell_len

        cell_len("─│é")  # rich loads its table of character widths on first use
        from typer.main import get_command

        from eotrust.ledger import abi

        # the whole CLI (every command module), turned into its click command once
        self.command = get_command(main.app)
        from sqlalchemy.orm import configure_mappers

        configure_mappers()  # the catalogue's ORM mappings, once
        for table in (abi.contracts_abi, abi.task_abi, abi.federated_abi, abi.escrow_abi):
            with contextlib.suppress(Exception):  # a missing artifact: the command says so
                table()
        loaded = [name for name in NOT_PRELOADED if name in sys.modules]
        if loaded:
            log(f"warning: {', '.join(loaded)} got imported by the CLI's modules; children inherit them")
        self.fingerprint = CodeFingerprint.take()
        try:
            self.confinement = wire.confinement(os.getpid())
        except OSError as exc:
            log(f"cannot read this process's confinement ({exc.strerror}); every client will be refused")

    def _listen(self) -> None:
        path = wire.socket_path(self.directory, self.key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # we hold the lock: a socket left there is a dead agent's
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            with wire.socket_address(path) as address:
                listener.bind(address)
        finally:
            os.umask(old_umask)
        listener.listen(64)
        listener.setblocking(False)
        info = os.stat(path)
        self._socket_inode = (info.st_dev, info.st_ino)
        self.listener = listener
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        self._wakeup = (read, write)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self.selector.register(listener, selectors.EVENT_READ, "accept")
        self.selector.register(read, selectors.EVENT_READ, "signal")
        gc.collect()
        gc.freeze()  # children share these pages instead of copying them when gc walks them

    def _on_signal(self, signum: int, frame: object) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self._begin_stop(f"signal {signum}")

    def _begin_stop(self, why: str) -> None:
        """Take no more commands (the next one starts a new agent); finish the running ones."""
        if not self.stopping:
            log(f"stopping: {why}")
        self.stopping = True
        self._close_listener()

    def _close_listener(self) -> None:
        if self.listener is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.listener)
        self.listener.close()
        self.listener = None
        path = wire.socket_path(self.directory, self.key)
        with contextlib.suppress(OSError):
            info = os.stat(path)
            if (info.st_dev, info.st_ino) == self._socket_inode:
                path.unlink()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # a new agent may start now
            self._lock_fd = -1

    def _loop(self) -> None:
        while True:
            self._reap()
            if self.stopping and not self.children:
                return
            if not self.children and not self.stopping and time.monotonic() - self.last_request > self.idle_s:
                self._begin_stop(f"idle for {self.idle_s:.0f} s")
                continue
            for key, _ in self.selector.select(timeout=1.0):
                try:
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "signal":
                        with contextlib.suppress(OSError):
                            while os.read(self._wakeup[0], 512):
                                pass
                    else:
                        self._from_client(key.data, key.fileobj)  # type: ignore[arg-type]
                except Exception as exc:  # one client never stops the agent serving the others
                    log(f"error serving {key.data!r}: {exc!r}")
                    if key.data == "accept":  # accept() itself fails (out of descriptors): it would spin
                        self._begin_stop(f"cannot accept: {exc!r}")

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children_cpu_s += usage.ru_utime + usage.ru_stime
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            if os.WIFSIGNALED(status):
                message = {"exit": 128 + os.WTERMSIG(status), "signal": os.WTERMSIG(status)}
            else:
                message = {"exit": os.waitstatus_to_exitcode(status)}
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn)
            with contextlib.suppress(OSError):
                wire.send_line(conn, message)
            conn.close()

    def _from_client(self, pid: int, conn: socket.socket) -> None:
        """A line from a client whose command runs (a signal to relay), or its end."""
        try:
            chunk = conn.recv(wire.MAX_LINE)
        except OSError:
            chunk = b""
        if not chunk:  # the client is gone: so goes its command
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
            return
        for line in chunk.splitlines():
            try:
                signum = json_loads(line)["signal"]
            except (ValueError, KeyError, TypeError):
                continue
            if type(signum) is int and signum in _RELAYED:  # not 2.0 (== SIGINT), nor True
                try:
                    os.killpg(pid, signum)  # the child leads its own group, with the processes it started
                except (ProcessLookupError, PermissionError) as exc:
                    log(f"signal {signum} for command {pid} not relayed: {type(exc).__name__}")
                else:
                    log(f"signal {signum} relayed to command {pid}")

    # -- one connection -------------------------------------------------------------------------
    def _accept(self) -> None:
        if self.listener is None:
            return
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        fds: list[int] = []
        secret: bytearray | None = None
        try:
            conn.settimeout(REQUEST_TIMEOUT_S)
            pid, uid, gid = wire.peer_ids(conn)
            if uid != os.getuid() or gid != os.getgid():
                raise Refused(f"uid {uid}, gid {gid} may not use this agent")
            request, fds, secret = self._read_request(conn)
            conn.settimeout(REQUEST_TIMEOUT_S)  # for the answer
            self._check_confinement(pid)  # after the request: the client waits for the answer
            if "op" in request:
                self._control(conn, request)
                conn.close()
                return
            self._run(conn, _check_request(request, fds), fds, secret)
        except Refused as exc:
            log(f"refused: {exc}")
            with contextlib.suppress(OSError):
                wire.send_line(conn, {"refused": str(exc)})
            conn.close()
        except Exception as exc:  # the agent survives anything one request does
            log(f"request failed: {exc!r}\n{traceback.format_exc()}")
            with contextlib.suppress(OSError):
                wire.send_line(conn, {"refused": f"agent error: {type(exc).__name__}"})
            conn.close()
        finally:
            wipe(secret)  # the child has its copy; nothing of it stays here
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _check_confinement(self, pid: int) -> None:
        """Refuse a peer confined otherwise than the agent: the child runs with the agent's
        namespaces, groups and privileges, so it would escape the client's confinement."""
        if self.confinement is None:
            raise Refused("the agent cannot read its own confinement")
        if pid <= 0:
            raise Refused("the client's pid is not visible here")
        try:
            theirs = wire.confinement(pid)
        except OSError as exc:
            raise Refused(f"cannot read the client's confinement: {exc.strerror}") from None
        differ = sorted(
            name for name in self.confinement.keys() | theirs.keys() if self.confinement.get(name) != theirs.get(name)
        )
        if differ:
            raise Refused(f"the client is confined otherwise than the agent ({', '.join(differ)})")

    def _read_request(self, conn: socket.socket) -> tuple[dict[str, Any], list[int], bytearray | None]:
        """The request, its descriptors and its passphrase (:func:`take_passphrase`), read into
        buffers that are zeroed before this returns: no bytes object ever holds the request as
        it came."""
        deadline = time.monotonic() + REQUEST_TIMEOUT_S

        def left() -> float:
            """Each receive waits only for what is left of the request's deadline."""
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Refused(f"the request took more than {REQUEST_TIMEOUT_S:.0f} s")
            conn.settimeout(remaining)
            return remaining

        first, body = bytearray(65536), bytearray()
        fds: list[int] = []
        secret: bytearray | None = None
        try:
            try:
                left()
                got, fds, flags = _recv_with_fds(conn, first, 3)
            except (OSError, ValueError) as exc:
                raise Refused(f"could not read the request: {exc}") from None
            if flags & socket.MSG_CTRUNC:
                raise Refused("too many descriptors")
            with memoryview(first) as view:
                while got < wire.LENGTH.size:
                    left()
                    chunk = conn.recv_into(view[got : wire.LENGTH.size])
                    if not chunk:
                        raise Refused("the request ended before its length")
                    got += chunk
                (length,) = wire.LENGTH.unpack_from(first)
                if length > wire.MAX_REQUEST:
                    raise Refused(f"request of {length} bytes; at most {wire.MAX_REQUEST}")
                have = got - wire.LENGTH.size
                if have > length:
                    raise Refused("bytes after the request")
                body = bytearray(length)
                body[:have] = view[wire.LENGTH.size : got]
            with memoryview(body) as rest:
                while have < length:
                    left()
                    chunk = conn.recv_into(rest[have:], min(65536, length - have))
                    if not chunk:
                        raise Refused("the request ended early")
                    have += chunk
            secret = take_passphrase(body)
            try:
                request = json_loads(bytes(body))  # the passphrase is out of it
            except ValueError:
                raise Refused("the request is not JSON") from None
            if not isinstance(request, dict):
                raise Refused("a request is a JSON object")
        except (Refused, OSError, struct.error) as exc:
            wipe(secret)
            for fd in fds:
                os.close(fd)
            if isinstance(exc, Refused):
                raise
            raise Refused(f"could not read the request: {exc}") from None
        finally:
            wipe(first)
            wipe(body)
        return request, fds, secret

    def _control(self, conn: socket.socket, request: dict[str, Any]) -> None:
        op = request.get("op")
        if op == "status":
            wire.send_line(conn, self.status())
        elif op == "stop":
            wire.send_line(conn, {"stopping": os.getpid()})
            self._begin_stop("asked to stop")
        else:
            raise Refused(f"unknown operation {op!r}")

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "key": self.key,
            "directory": str(self.directory),
            "python": sys.executable,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "commands": self.served,
            "commands_running": len(self.children),
            "children_cpu_s": self.children_cpu_s,
            "warm_chains": self.warm.directories(),
            "idle_exit_s": self.idle_s,
        }

    def _run(self, conn: socket.socket, request: dict[str, Any], fds: list[int], secret: bytearray | None) -> None:
        changed = self.fingerprint.changed()
        if changed is not None:
            self._begin_stop(f"{changed} changed since the agent started")
            raise Refused(f"stale: {changed} changed since the agent started")
        for name, (_, hard) in request["limits"].items():
            if not _within(hard, resource.getrlimit(getattr(resource, name))[1]):
                raise Refused(f"the client may use more {name} than the agent")
        warm = self._warm_chain(request)
        self.last_request = time.monotonic()
        sys.stdout.flush()
        sys.stderr.flush()
        wire.send_line(conn, {"started": True})  # before the fork: if this fails, nothing runs
        # The child must be killable by its group from the moment the parent knows its pid (a
        # client may go away at once), and a signal meant for it must not run the agent's
        # handlers, which it inherits until it resets them: so the parent sets the group too,
        # and the relayed signals stay blocked across the fork until the child has its own
        # handlers (a signal sent meanwhile waits, then acts).
        saved_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _RELAYED)
        try:
            pid = os.fork()
            if pid == 0:
                self._child(conn, request, fds, warm, saved_mask, secret)  # never returns
            with contextlib.suppress(OSError):  # the child may have set it, or already ended
                os.setpgid(pid, pid)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, saved_mask)
        self.served += 1
        self.children[pid] = conn
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, pid)

    def _warm_chain(self, request: dict[str, Any]) -> tuple[Path, EmbeddedBackend] | None:
        """The open chain for the request's settings (read here from its environment and
        working directory, without the passphrase) and its directory."""
        from eotrust.settings import load_settings

        home, config = _root_options(request["argv"][1:])
        env = {k: v for k, v in request["env"].items() if k != "EOTRUST_PASSPHRASE"}
        saved_env, saved_cwd = dict(os.environ), os.getcwd()
        try:
            os.environ.clear()
            os.environ.update(env)
            os.chdir(request["cwd"])
            settings = load_settings(Path(config) if config else None, home=Path(home) if home else None)
            if settings.chain_url:
                return None
            directory = settings.home_dir / "chain"
            backend = self.warm.get(directory)
        except NotWarm as exc:  # the command's child opens it (its time and memory are its own)
            log(f"not kept warm: {exc}")
            return None
        except Exception as exc:  # the command meets the same trouble and reports it itself
            log(f"no warm chain for this request: {type(exc).__name__}")
            return None
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            os.chdir(saved_cwd)
        return None if backend is None else (directory, backend)

    # -- the child --------------------------------------------------------------------------
    def _child(
        self,
        conn: socket.socket,
        request: dict[str, Any],
        fds: list[int],
        warm: tuple[Path, EmbeddedBackend] | None,
        signal_mask: set[int | signal.Signals],
        secret: bytearray | None,
    ) -> None:
        status = 70
        try:
            # from the moment the relayed signals are unblocked (the end of _become_client), not
            # only once run() begins: a client's Ctrl-C that lands in a finaliser (a weakref
            # callback of a collection) before it would be printed as "Exception ignored" and
            # lost, and the command would go on to wait at its prompt (seen in full runs)
            with stops_never_lost():
                self._become_client(conn, request, fds, signal_mask, secret)
                from eotrust.cli.app import run

                assert self.command is not None
                status = 1  # an exception no command handles: a traceback and 1, as in the client
                status = run(self.command, request["argv"][1:], prog_name=request["prog_name"], warm=_offer(warm))
        except KeyboardInterrupt:  # interrupted before its command began: as a shell reports it
            status = 130
        except BadRequest as exc:
            with contextlib.suppress(BaseException):
                print(f"error: {exc}", file=sys.stderr)
            status = 2
        except BaseException:
            with contextlib.suppress(BaseException):
                traceback.print_exc()
        finally:
            _finish(status)

    def _become_client(
        self,
        conn: socket.socket,
        request: dict[str, Any],
        fds: list[int],
        signal_mask: set[int | signal.Signals],
        secret: bytearray | None,
    ) -> None:
        """Take the client's descriptors, environment, directory, umask, limits and niceness."""
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setpgid(0, 0)  # as the parent does: whichever runs first
        self.selector.close()
        for fd in self._wakeup:
            os.close(fd)
        if self.listener is not None:
            self.listener.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
        for other in self.children.values():
            other.close()
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        if secret is not None and PASSPHRASE in request["env"]:  # spaces there: the agent kept it apart
            try:
                os.environ[PASSPHRASE] = json_loads(bytes(b'"' + secret + b'"'))
            except (ValueError, UnicodeError):  # not UTF-8, or a lone surrogate
                raise BadRequest(f"{PASSPHRASE} is not text") from None
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        for name, (soft, hard) in request["limits"].items():
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(getattr(resource, name), (soft, hard))
        if request["nice"] > os.getpriority(os.PRIO_PROCESS, 0):
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, request["nice"])
        sys.argv = list(request["argv"])
        _fresh_stdio(unbuffered=bool(request["env"].get("PYTHONUNBUFFERED")))
        import tempfile

        tempfile.tempdir = None  # found again from this environment's TMPDIR
        from eotrust.cli.common import console, err_console

        console.__init__()  # type: ignore[misc]  # colour, width and terminal: this client's
        err_console.__init__(stderr=True)  # type: ignore[misc]
        signal.pthread_sigmask(signal.SIG_SETMASK, signal_mask)  # a signal sent since the fork acts now


def _offer(warm: tuple[Path, EmbeddedBackend] | None) -> Callable[[Settings], ChainBackend | None] | None:
    """What the root callback asks for the chain: the warm one, if the command's settings name
    the same directory on the embedded chain."""
    if warm is None:
        return None
    directory, backend = warm
    backend.provider.after_fork()

    def offer(settings: Settings) -> ChainBackend | None:
        if settings.chain_url or settings.home_dir / "chain" != directory:
            return None
        return backend

    return offer


def _fresh_stdio(*, unbuffered: bool) -> None:
    """sys.stdin/stdout/stderr over descriptors 0, 1 and 2, as Python makes them at start-up
    (line-buffered on a terminal; stderr always line-buffered)."""
    import io

    encoding, errors = sys.stdout.encoding, sys.stdout.errors
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False), encoding=sys.stdin.encoding, errors=sys.stdin.errors)
    sys.stdout = io.TextIOWrapper(
        open(1, "wb", closefd=False, buffering=0 if unbuffered else -1),  # noqa: SIM115
        encoding=encoding,
        errors=errors,
        line_buffering=os.isatty(1),
        write_through=unbuffered,
    )
    sys.stderr = io.TextIOWrapper(
        open(2, "wb", closefd=False, buffering=0 if unbuffered else -1),  # noqa: SIM115
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=True,
        write_through=unbuffered,
    )
    for name in ("stdin", "stdout", "stderr"):
        setattr(sys, f"__{name}__", getattr(sys, name))


def _finish(status: int) -> None:
    """End the child as the interpreter ends a process: exit handlers, then flushed streams;
    never returning into the agent's loop."""
    import atexit
    import threading

    with contextlib.suppress(BaseException):
        shutdown = getattr(threading, "_shutdown", None)
        if shutdown is not None:
            shutdown()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(status)


def main(argv: list[str]) -> int:
    """``python -m eotrust.cli.resident KEY``: serve as the agent of code base KEY."""
    if len(argv) != 2:
        print("usage: python -m eotrust.cli.resident KEY", file=sys.stderr)
        return 2
    try:
        directory = wire.private_dir(wire.agent_dir(), create=False)
    except wire.AgentDirRefused as exc:
        log(f"refusing to serve: {exc}")
        return 1
    key = wire.agent_key()
    if key != argv[1]:
        log(f"this interpreter's code base is {key}, not {argv[1]}; not serving")
        return 1
    idle_s = float(os.environ.get("EOTRUST_AGENT_IDLE_S", DEFAULT_IDLE_S))
    return Agent(directory, key, idle_s=idle_s).serve()
