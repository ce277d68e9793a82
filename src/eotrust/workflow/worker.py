"""A warm Python worker process: ``python -m eotrust.workflow.worker [MODULE ...]``.

It imports the named modules once (e.g. ``torch``), then serves requests from its parent
(:mod:`eotrust.workflow.pool`), one at a time: each request names a ``module:function`` entry
point, a working directory, input/output paths, parameters and two log files. The call's
standard output and error (file descriptors 1 and 2, so child processes and C libraries are
captured too) go to the log files. Imported modules stay cached for the next request.

Frames on the pipes are a 4-byte big-endian length and UTF-8 JSON. This module must stay
light: it imports nothing from eotrust.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import struct
import sys
import traceback
from pathlib import Path
from typing import Any, BinaryIO, cast

from eotrust.limits import json_loads


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    head = stream.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack(">I", head)
    body = b""
    while len(body) < n:
        chunk = stream.read(n - len(body))
        if not chunk:
            return None
        body += chunk
    return cast("dict[str, Any] | None", json_loads(body))


def frame(obj: dict[str, Any]) -> bytes:
    body = json.dumps(obj).encode("utf-8")
    return struct.pack(">I", len(body)) + body


def _paths(value: Any) -> Any:
    if isinstance(value, list):
        return [Path(v) for v in value]
    return Path(value)


def _resolve(entry: str) -> Any:
    module_name, _, func_name = entry.partition(":")
    module = importlib.import_module(module_name)
    fn = getattr(module, func_name, None)
    if fn is None or not callable(fn):
        raise AttributeError(f"module {module_name!r} has no function {func_name!r}")
    return fn


def run_command(req: dict[str, Any]) -> dict[str, Any]:
    """Run a command line (a sandboxed command step: the sandbox is this worker's)."""
    import signal
    import subprocess

    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG")}
    env.update(req.get("env") or {})
    with open(req["stdout"], "wb") as out_f, open(req["stderr"], "wb") as err_f:
        try:
            proc = subprocess.Popen(
                req["argv"],
                cwd=req["cwd"],
                stdin=subprocess.DEVNULL,
                stdout=out_f,
                stderr=err_f,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            return {"exit_status": 127, "error": f"cannot start {req['argv'][0]!r}: {exc.strerror or exc}"}
        code = proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # what it left running in its session goes with it
        except (ProcessLookupError, PermissionError):
            pass
    if code == 0:
        return {"exit_status": 0, "error": None}
    if code < 0:
        try:
            how = f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exit status {code}"
    return {"exit_status": code, "error": f"the command {how}"}


def serve_one(req: dict[str, Any]) -> dict[str, Any]:
    if "argv" in req:
        return run_command(req)
    home = os.getcwd()
    out_fd = os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err_fd = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.close(out_fd)
    os.close(err_fd)
    saved_env = dict(os.environ)
    status, error = 0, None
    try:
        os.environ.update(req.get("env") or {})
        os.chdir(req["cwd"])
        try:
            fn = _resolve(req["entry"])
        except Exception as exc:  # an import error is a failure of the step, not of the worker
            traceback.print_exc()
            return {"exit_status": 1, "error": f"cannot load entry point {req['entry']!r}: {type(exc).__name__}: {exc}"}
        inputs = {k: _paths(v) for k, v in req["inputs"].items()}
        outputs = {k: Path(v) for k, v in req["outputs"].items()}
        try:
            fn(inputs, outputs, dict(req["params"]))
        except SystemExit as exc:
            code = exc.code
            status = code if isinstance(code, int) else (0 if code is None else 1)
            if status:
                error = f"the service exited with status {status}"
        except BaseException as exc:  # noqa: BLE001 - any failure of user code is reported
            traceback.print_exc()
            status, error = 1, f"{type(exc).__name__}: {exc}"
        return {"exit_status": status, "error": error}
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(home)


def main(argv: list[str]) -> int:
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    sys.stdin = open(os.devnull)  # noqa: SIM115
    for name in argv:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a failed preload only costs the first step its import
            pass
    proto_out.write(frame({"ready": True, "pid": os.getpid()}))
    while True:
        req = read_frame(proto_in)
        if req is None:
            return 0
        resp = serve_one(req)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        resp["cpu_s"] = usage.ru_utime + usage.ru_stime  # the pool retires a worker near its CPU limit
        proto_out.write(frame(resp))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
