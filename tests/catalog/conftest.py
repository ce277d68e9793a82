"""A throwaway PostgreSQL server for the catalogue tests, started and stopped by the tests.

``postgres_server`` (session-scoped) runs Debian's ``initdb`` and ``postgres`` into a fresh
directory under /tmp: on a free loopback port, its unix socket in that directory, fsync off.
As root (CI) both run as the ``postgres`` system user, which owns the directory; otherwise as
the current user. It never uses a cluster the distribution may have started. The server is
stopped by its PID (SIGINT, PostgreSQL's fast shutdown, then SIGKILL) and the directory removed.
``postgres_url`` gives each test a database of its own on that server.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from waiting import wait_for

from eotrust.ports import free_port

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow


def _bindir() -> Path | None:
    """The directory of the newest installed PostgreSQL server binaries, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and (Path(initdb).parent / "postgres").exists() else None


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    """Command prefix (and uid, gid) that runs a program as the server's user."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail(
            "running as root and there is no 'postgres' system user to run the PostgreSQL server as "
            "(Debian's postgresql package creates it: run `make sysdeps`)"
        )
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root and setpriv (util-linux) is missing: cannot drop to the 'postgres' user")
    # setpriv execs (unlike runuser, which forks), so the PID we hold is the server's own.
    prefix = [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--"]
    return prefix, user.pw_uid, user.pw_gid


def _connect(port: int, dbname: str = "postgres") -> psycopg.Connection[TupleRow]:
    import psycopg

    return psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname=dbname, autocommit=True, connect_timeout=2
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A running PostgreSQL server; yields the SQLAlchemy URL of its ``postgres`` database."""
    import psycopg  # noqa: F401 - a test dependency (pyproject's test extra): missing is a failure

    bindir = _bindir()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb): run `make sysdeps`")
    prefix, uid, gid = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="eotrust-pg-"))  # /tmp, reachable by the postgres user
    proc: subprocess.Popen[bytes] | None = None
    try:
        if uid is not None:
            assert gid is not None  # _as_server_user gives both or neither
            os.chown(root, uid, gid)
        data = root / "data"
        log = root / "server.log"
        init = subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            cwd=root,
        )
        if init.returncode != 0:
            pytest.fail(f"initdb failed ({init.returncode}): {init.stderr.strip() or init.stdout.strip()}")
        port = free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [
                    *prefix,
                    str(bindir / "postgres"),
                    "-D",
                    str(data),
                    "-k",
                    str(root),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=300",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=root,
            )

        def accepting() -> bool:
            if proc is not None and proc.poll() is not None:
                pytest.fail(f"postgres exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
            try:
                _connect(port).close()
                return True
            except Exception:  # not accepting connections yet
                return False

        wait_for(
            accepting,
            timeout_s=30,
            what=lambda: f"postgres to accept connections: {log.read_text(errors='replace')[-2000:]}",
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if proc is not None and proc.poll() is None:
            # SIGINT is PostgreSQL's "fast" shutdown (SIGTERM, its "smart" one, would wait for the
            # pooled connections this process still holds); SIGKILL if it does not stop.
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the test server for one test."""
    port = int(postgres_server.rsplit(":", 1)[1].split("/")[0])
    name = f"t_{uuid.uuid4().hex[:16]}"
    with _connect(port) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.rsplit("/", 1)[0] + "/" + name
