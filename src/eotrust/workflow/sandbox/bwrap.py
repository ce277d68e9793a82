"""Building the bubblewrap (``bwrap``) command line that seals one command off.

Inside the sandbox a step sees: the system's programs and libraries read-only (``/usr``, a few
harmless files of ``/etc``), the Python it runs with and the code paths it was given
read-only, its inputs read-only, its working (output) directory read-write at the same path
as outside, a private ``/tmp``, its own ``/proc`` and a minimal ``/dev``. Nothing else exists
there: not the eotrust home, not the keystores, not the store, not other steps' or tasks'
directories, not the user's home. It runs as ``nobody`` in its own user, mount, PID, IPC, UTS
and (unless allowed) network namespaces, with ``no_new_privs``, no capabilities, a clean
environment, and dies with its parent. Limits are applied around ``bwrap`` by ``/bin/sh``
(``ulimit``) and a pids cgroup (:mod:`eotrust.workflow.sandbox.cgroup`), so they hold for
every process inside.

The working directory appears inside as ``/step`` (:func:`inside`), so not even the name of
the eotrust home shows; other bound paths keep their host path."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eotrust.errors import SandboxUnavailableError
from eotrust.workflow.sandbox.policy import Limits, clean_env

INSTALL_HINT = (
    "install bubblewrap (`apt-get install bubblewrap`, or `make sysdeps`); --no-sandbox is for development only"
)

#: read-only system directories (bound when they exist; top-level symlinks are recreated)
SYSTEM_RO = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: files of /etc that programs need and that hold no secret
ETC_RO = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/mime.types",
    "/etc/hosts",
    "/etc/protocols",
    "/etc/services",
)
SANDBOX_UID = 65534  # nobody
SANDBOX_WORKDIR = "/step"  # where the working directory appears inside (its host path, under the home, stays hidden)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def bwrap_path() -> str | None:
    """The bwrap executable, or None when it is not installed."""
    return shutil.which("bwrap")


def require_bwrap() -> str:
    """The bwrap executable; SandboxUnavailableError (one line and the install hint) if missing."""
    path = bwrap_path()
    if path is None:
        raise SandboxUnavailableError(
            "bubblewrap (bwrap) is not installed: eotrust will not run other parties' code unsandboxed",
            hint=INSTALL_HINT,
        )
    return path


def inside(workdir: Path, path: str | Path) -> str:
    """Where the host ``path`` appears inside a sandbox whose working directory is ``workdir``."""
    p, w = os.path.abspath(path), os.path.abspath(workdir)
    if p == w:
        return SANDBOX_WORKDIR
    if p.startswith(w + os.sep):
        return SANDBOX_WORKDIR + p[len(w) :]
    return p


def _overlaps(path: Path, hidden: Sequence[Path]) -> bool:
    """True if binding ``path`` would show any hidden path (it is one, or lies above one)."""
    for h in hidden:
        if path == h or path in h.parents:
            return True
    return False


def python_paths() -> list[Path]:
    """What the running Python needs to start: its installation and virtual environment."""
    out = []
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    for p in {
        sys.base_prefix,
        sys.prefix,
        sys.exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        package_root,
    }:
        out.append(Path(p))
    return out


@dataclass(frozen=True)
class Sandbox:
    """Everything that decides how one sandbox is built; ``argv(command)`` gives the command line.

    ``workdir``: bound read-write and made the current directory. ``inputs_ro``: files or
    directories bound read-only (also inside ``workdir``: they are bound after it).
    ``outputs_rw``: more read-write places. ``code_ro``: code to run (Python packages, the
    interpreter). ``hidden``: paths that must never become visible (the eotrust home, the
    store); a bind that would show one is refused with SandboxUnavailableError, and a code
    path that would show one is skipped."""

    workdir: Path
    inputs_ro: tuple[Path, ...] = ()
    outputs_rw: tuple[Path, ...] = ()
    code_ro: tuple[Path, ...] = ()
    hidden: tuple[Path, ...] = ()
    limits: Limits = field(default_factory=Limits)
    network: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    cgroup_procs: Path | None = None  # a cgroup.procs file the sandbox joins before it starts
    tmp_mb: int = 256  # size of the private /tmp (memory-backed)
    workdir_at: str = SANDBOX_WORKDIR  # where workdir appears inside; a CWL job keeps its host path (cwltool names it)

    def _at(self, work: Path, real: Path, given: Path) -> str:
        """Where a bound host path appears inside: under /step, or (workdir_at set) where it was named."""
        return inside(work, real) if self.workdir_at == SANDBOX_WORKDIR else os.path.abspath(given)

    def _check(self, path: Path, what: str) -> Path:
        """The real path of a bind. Symlinks are resolved first; anything but the working
        directory's own contents must lie neither above nor inside a hidden path."""
        real = Path(os.path.realpath(path))
        hidden = [Path(os.path.realpath(h)) for h in self.hidden]
        work = Path(os.path.realpath(self.workdir))
        shown = _overlaps(real, hidden)
        if not shown and real != work and work not in real.parents:
            shown = any(h in real.parents for h in hidden)
        if shown:
            raise SandboxUnavailableError(
                f"refusing to show {what} {path} to a sandboxed step: it would expose {', '.join(map(str, hidden))}",
                hint="keep step files outside the eotrust home",
            )
        return real

    def bwrap_args(self, bwrap: str) -> list[str]:
        args = [
            bwrap,
            "--unshare-user",
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--uid",
            str(SANDBOX_UID),
            "--gid",
            str(SANDBOX_UID),
            "--hostname",
            "sandbox",
            "--die-with-parent",
            "--new-session",
            "--disable-userns",
            "--cap-drop",
            "ALL",
            "--clearenv",
        ]
        if not self.network:
            args.append("--unshare-net")
        for p in SYSTEM_RO:
            if os.path.islink(p):
                args += ["--symlink", os.readlink(p), p]
            elif os.path.isdir(p):
                args += ["--ro-bind", p, p]
        for p in ETC_RO:
            if os.path.exists(p):
                args += ["--ro-bind", p, p]
        args += [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(self.tmp_mb * 1024 * 1024),
            "--tmpfs",
            "/tmp",
            "--size",
            str(64 * 1024 * 1024),
            "--tmpfs",
            "/dev/shm",
            "--remount-ro",
            "/dev",
        ]
        hidden = [Path(os.path.realpath(h)) for h in self.hidden]
        pairs: dict[Path, Path] = {}  # where inside -> what
        for code in self.code_ro:
            real = Path(os.path.realpath(code))
            given = Path(os.path.abspath(code))  # a venv is found through the unresolved path: show both
            for where in (real, given):
                if (
                    real.exists()
                    and not _overlaps(where, hidden)
                    and not _overlaps(real, hidden)
                    and str(where) not in ("/", "/usr")
                    and not str(where).startswith("/usr/")
                ):
                    pairs.setdefault(where, real)
        bound: list[Path] = []
        for where in sorted(pairs, key=lambda w: len(w.parts)):
            if any(b == where or b in where.parents for b in bound):
                continue  # already visible through a bind above it (a symlink there leads to its own bind)
            bound.append(where)
            args += ["--ro-bind", str(pairs[where]), str(where)]
        work = self._check(self.workdir, "the working directory")
        args += ["--bind", str(work), self.workdir_at]
        for out in self.outputs_rw:
            real = self._check(out, "output")
            args += ["--bind", str(real), self._at(work, real, out)]
        for inp in self.inputs_ro:
            real = self._check(inp, "input")
            args += ["--ro-bind", str(real), self._at(work, real, inp)]
        # a command's bare `python3` is the Python eotrust runs with (bound read-only as code, with
        # eotrust's own package), so a command service can run `python3 -m eotrust.…` inside
        env = {
            "PATH": f"{os.path.dirname(sys.executable)}:{DEFAULT_PATH}",
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
        }
        env.update(clean_env(dict(self.env)))
        for k, v in sorted(env.items()):
            args += ["--setenv", k, v]
        args += ["--remount-ro", "/", "--chdir", self.workdir_at]  # the sandbox's own root holds nothing writable
        return args

    def argv(self, command: Sequence[str], bwrap: str | None = None) -> list[str]:
        """The whole command line: limits, then bwrap, then ``command``."""
        inner = [*self.bwrap_args(bwrap or require_bwrap()), "--", *command]
        lim = self.limits
        script = []
        if self.cgroup_procs is not None:
            script.append('echo $$ > "$1" || exit 125')
        if lim.memory_mb:
            script.append(f"ulimit -v {lim.memory_mb * 1024}")
        if lim.cpu_s:
            script.append(f"ulimit -t {lim.cpu_s}")
        if lim.file_mb:
            script.append(f"ulimit -f {lim.file_mb * 2048}")  # dash counts 512-byte blocks
        if self.cgroup_procs is None and lim.procs:
            script.append(f"ulimit -p {lim.procs}")  # RLIMIT_NPROC, per user: weaker than the cgroup, see README
        script.append('shift; exec "$@"')
        return ["/bin/sh", "-c", " && ".join(script), "sh", str(self.cgroup_procs or ""), *inner]


def sandboxed_argv(
    argv: Sequence[str],
    *,
    workdir: Path,
    inputs_ro: Sequence[Path] = (),
    outputs_rw: Sequence[Path] = (),
    limits: Limits | None = None,
    network: bool = False,
    env: Mapping[str, str] | None = None,
    code_ro: Sequence[Path] = (),
    hidden: Sequence[Path] = (),
    cgroup_procs: Path | None = None,
) -> list[str]:
    """``argv`` wrapped so that it runs sealed off (see :class:`Sandbox`). Needs bwrap. Paths in
    ``argv`` under ``workdir`` must be given as they appear inside (:func:`inside`)."""
    return Sandbox(
        workdir=workdir,
        inputs_ro=tuple(inputs_ro),
        outputs_rw=tuple(outputs_rw),
        code_ro=tuple(code_ro),
        hidden=tuple(hidden),
        limits=limits or Limits(),
        network=network,
        env=dict(env or {}),
        cgroup_procs=cgroup_procs,
    ).argv(argv)
