"""Writing an output onto a device or a pipe writes into it and never replaces it.

Found by hand, as root: `eotrust party export NAME -o /dev/full` printed "wrote /dev/full" and
replaced the device with a regular file holding the card (the atomic write renamed its
temporary file over it); `-o /dev/null`, the usual way to discard an output, would have
replaced /dev/null for the whole machine. Now a character device or FIFO is written into, like
a shell's redirection (`/dev/full` says the disk is full), a block device or socket is refused,
and a regular file is still replaced atomically."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from eotrust.store.atomic import atomic_output, atomic_path, write_atomic


def _null_device(tmp_path: Path) -> Path:
    """A character device node like /dev/null (1, 3), made in tmp_path (needs CAP_MKNOD)."""
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs CAP_MKNOD (root)")
    return node


def _read_fifo(fifo: Path) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as f:
            got.append(f.read())

    thread = threading.Thread(target=reader)
    thread.start()
    return thread, got


def test_a_character_device_is_written_into_not_replaced(tmp_path: Path) -> None:
    node = _null_device(tmp_path)
    write_atomic(node, b"card")
    with atomic_output(node) as f:
        f.write(b"more")
    with atomic_path(node) as tmp:
        tmp.write_bytes(b"a library's file")
    assert stat.S_ISCHR(node.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]  # no temporary file beside it


def test_a_fifo_receives_the_bytes_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    thread, got = _read_fifo(fifo)
    write_atomic(fifo, b"card")
    thread.join(timeout=30)
    assert got == [b"card"] and stat.S_ISFIFO(fifo.stat().st_mode)
    thread, got = _read_fifo(fifo)
    with atomic_path(fifo) as tmp:
        tmp.write_bytes(b"x" * 300_000)  # more than a pipe buffer
    thread.join(timeout=30)
    assert got == [b"x" * 300_000] and stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_socket_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(OSError, match="never written over") as err:
            write_atomic(path, b"card")
        assert err.value.filename == str(path)
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["s.sock"]


def test_a_regular_file_is_still_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_bytes(b"old")
    inode = path.stat().st_ino
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new" and path.stat().st_ino != inode


def test_party_export_to_a_device_keeps_the_device(tmp_path: Path) -> None:
    node = _null_device(tmp_path)
    env = {**os.environ, "EOTRUST_HOME": str(tmp_path / "h"), "EOTRUST_AGENT": "0"}
    main = [sys.executable, "-m", "eotrust.cli.main"]
    made = subprocess.run([*main, "party", "create", "ann", "--role", "submitter"], env=env, capture_output=True)
    assert made.returncode == 0, made.stderr
    done = subprocess.run([*main, "party", "export", "ann", "-o", str(node)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert stat.S_ISCHR(node.stat().st_mode)


def test_a_device_that_refuses_the_bytes_is_an_error_naming_it(tmp_path: Path) -> None:
    """/dev/full (1, 7) answers every write with ENOSPC: the error names the device, and the
    temporary file is gone."""
    node = tmp_path / "full"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("making a device node needs CAP_MKNOD (root)")
    with pytest.raises(OSError, match="No space left on device") as err:
        write_atomic(node, b"card")
    assert err.value.filename == str(node) and stat.S_ISCHR(node.stat().st_mode)
    env = {**os.environ, "EOTRUST_HOME": str(tmp_path / "h"), "EOTRUST_AGENT": "0", "COLUMNS": "300"}
    main = [sys.executable, "-m", "eotrust.cli.main"]
    assert subprocess.run([*main, "party", "create", "ann", "--role", "submitter"], env=env).returncode == 0
    done = subprocess.run([*main, "party", "export", "ann", "-o", str(node)], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: cannot use {node}: no space left on device\nhint: free some space"), (
        done.stderr
    )
