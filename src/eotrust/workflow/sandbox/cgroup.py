"""A pids cgroup per sandbox: the number of processes and threads inside is capped, so a fork
bomb stays inside (``ulimit -u`` alone cannot do it for root, whose processes it does not
count). cgroup v1 (``/sys/fs/cgroup/pids``) and v2 (a delegated, writable subtree) both work;
where neither is writable :func:`open_pids_cgroup` returns None and the sandbox falls back to
``ulimit -u``."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))


def _own_v2_dir(root: Path) -> Path:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return root / line[3:].lstrip("/")
    except OSError:
        pass
    return root


def _parent() -> Path | None:
    for root in _ROOTS:
        if (root / "pids.max").exists() or (root / "tasks").exists() and root.name == "pids":
            base = root / "eotrust-sandbox"
        elif (root / "cgroup.controllers").exists() and "pids" in (root / "cgroup.controllers").read_text().split():
            base = _own_v2_dir(root) / "eotrust-sandbox"
        else:
            continue
        try:
            base.mkdir(exist_ok=True)
            if (base / "cgroup.subtree_control").exists():
                (base / "cgroup.subtree_control").write_text("+pids")
            return base
        except OSError:
            continue
    return None


class PidsCgroup:
    """One cgroup with ``pids.max``; the sandbox joins it through ``procs``."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def hit_limit(self) -> bool:
        """Whether a fork was refused because of the limit (``pids.events`` max > 0)."""
        try:
            for line in (self.path / "pids.events").read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == "max" and int(value) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False

    def kill_all(self) -> None:
        """SIGKILL whatever is still inside (v2: cgroup.kill; v1: each pid)."""
        kill = self.path / "cgroup.kill"
        try:
            if kill.exists():
                kill.write_text("1")
                return
            for pid in self.procs.read_text().split():
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
        except OSError:
            pass

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError:
            self.kill_all()
            try:
                self.path.rmdir()
            except OSError:
                pass  # still dying; an empty cgroup left behind costs nothing


def open_pids_cgroup(limit: int) -> PidsCgroup | None:
    """A fresh pids cgroup capped at ``limit``, or None where cgroups are not writable here."""
    parent = _parent()
    if parent is None:
        return None
    path = parent / f"s-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        path.mkdir()
        (path / "pids.max").write_text(str(limit))
    except OSError:
        try:
            path.rmdir()
        except OSError:
            pass
        return None
    return PidsCgroup(path, limit)
