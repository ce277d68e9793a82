"""Stopping the resident agents a test (or the whole suite) started, by PID."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from waiting import wait_for


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: it has exited, its parent has not reaped it)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def agent_pids(directory: Path) -> list[int]:
    """PIDs in the agents' pidfiles under ``directory``."""
    pids = []
    for pid_file in directory.glob("agent-*.pid"):
        try:
            pids.append(int(pid_file.read_text().strip()))
        except (OSError, ValueError):
            continue
    return pids


def stop_agents(directory: Path, *, timeout_s: float = 30.0) -> None:
    """SIGTERM every agent with a pidfile in ``directory`` and wait until each is gone."""
    pids = [pid for pid in agent_pids(directory) if alive(pid)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    for pid in pids:
        wait_for(lambda: not alive(pid), timeout_s=timeout_s, what=f"agent {pid} to exit")


def flip_in_place(path: Path, offset: int) -> None:
    """One byte flipped where it lies: same inode, same size, the end of the file untouched."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))
