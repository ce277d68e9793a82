"""Writing an output onto a device or a pipe writes into it and never replaces it.

Found by hand, as root: `eotrust party export NAME -o /dev/full` printed "wrote /dev/full" and
replaced the device with a regular file holding the card (the atomic write renamed its
temporary file over it); `-o /dev/null`, the usual way to discard an output, would have
replaced /dev/null for the whole machine. Now a character device or FIFO is written into, like
a shell's redirection (`/dev/full` says the disk is full), a block device or socket is refused,
and a regular file is still replaced atomically. The devices here are pseudo-terminals and
FIFOs, which any user may make (the machine's own /dev/null is never put at risk)."""

from __future__ import annotations

import errno
import os
import select
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from eotrust.store.atomic import atomic_output, atomic_path, write_atomic


def _terminal() -> tuple[int, Path]:
    """A character device anyone may make: a pseudo-terminal (its master end, its device path)."""
    master, slave = os.openpty()
    path = Path(os.ttyname(slave))
    os.close(slave)
    return master, path


def _drain(master: int) -> bytes:
    """What was written to the terminal so far."""
    got = b""
    while select.select([master], [], [], 0)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # no writer left
            break
        if not chunk:
            break
        got += chunk
    return got


def _read_fifo(fifo: Path) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as f:
            got.append(f.read())

    thread = threading.Thread(target=reader)
    thread.start()
    return thread, got


def test_a_character_device_is_written_into_not_replaced(tmp_path: Path) -> None:
    master, node = _terminal()
    try:
        write_atomic(node, b"card")
        with atomic_output(node) as f:
            f.write(b"+more")
        with atomic_path(node) as tmp:
            tmp.write_bytes(b"+a library's file")
        assert stat.S_ISCHR(node.stat().st_mode)
        assert _drain(master).replace(b"\r\n", b"\n") == b"card+more+a library's file"
    finally:
        os.close(master)
    assert not list(Path(tempfile.gettempdir()).glob(f".{node.name}.{os.getpid()}.*.tmp"))  # no temporary left


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
    master, node = _terminal()
    try:
        env = {**os.environ, "EOTRUST_HOME": str(tmp_path / "h"), "EOTRUST_AGENT": "0"}
        main = [sys.executable, "-m", "eotrust.cli.main"]
        made = subprocess.run([*main, "party", "create", "ann", "--role", "submitter"], env=env, capture_output=True)
        assert made.returncode == 0, made.stderr
        done = subprocess.run(
            [*main, "party", "export", "ann", "-o", str(node)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert stat.S_ISCHR(node.stat().st_mode) and b'"name": "ann"' in _drain(master)
    finally:
        os.close(master)


def test_a_pipe_that_refuses_the_bytes_is_an_error_naming_it(tmp_path: Path) -> None:
    """A FIFO whose reader goes away answers with EPIPE: the error names the FIFO (a write
    error names no file by itself), and no temporary file is left."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def reader() -> None:
        with open(fifo, "rb"):
            pass  # open, then close without reading

    thread = threading.Thread(target=reader)
    thread.start()
    with pytest.raises(OSError) as err:
        write_atomic(fifo, b"x" * (1 << 20))  # more than the pipe holds: the writer waits, then breaks
    thread.join(timeout=30)
    assert err.value.filename == str(fifo) and stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_full_disk_gets_its_own_hint() -> None:
    from eotrust.cli.app import path_hint

    assert path_hint(OSError(errno.ENOSPC, "No space left on device", "/x")).startswith("free some space")
    assert path_hint(OSError(errno.EACCES, "Permission denied", "/x")).startswith("write the output where")


def test_a_destination_where_no_file_can_be_made_is_named_not_its_temporary(tmp_path: Path) -> None:
    """Found by hand: `store get CID -o /proc/self/x` said "cannot use /proc/self/.x.<pid>.<hex>.tmp":
    the temporary file the user never named."""
    dest = Path("/proc/self/eotrust-out")
    with pytest.raises(OSError) as err:
        write_atomic(dest, b"card")
    assert err.value.filename == str(dest)
