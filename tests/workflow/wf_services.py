"""Python services used by the workflow tests (run in the engine's worker processes)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def noop(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    for path in outputs.values():
        path.write_bytes(b"")


def make(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    outputs["out"].write_text(str(params["text"]))


def upper(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    text = inputs["src"].read_text()
    print(f"upper: {len(text)} chars")
    outputs["out"].write_text(text.upper() + str(params.get("suffix", "")))


def concat(inputs: dict[str, list[Path]], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    parts = [p.read_text() for p in inputs["parts"]]
    outputs["out"].write_text(str(params.get("sep", "|")).join(parts))


def split(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    outputs["out"].write_text(inputs["src"].read_text())


def crash(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    print("about to fail", file=sys.stderr)
    raise RuntimeError("boom")


def hang(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    time.sleep(600)  # workload: a step that hangs


def no_output(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    print("forgot to write")


def suicide(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def flaky(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    """Fails until a marker file (outside the working dir, named by a parameter) has been
    touched ``params['fail_times']`` times."""
    counter = Path(params["counter"])
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    if n < int(params["fail_times"]):
        raise RuntimeError(f"flaky failure {n + 1}")
    outputs["out"].write_text("ok")


def sleepy(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    time.sleep(float(params["seconds"]))  # workload: a step that takes time
    outputs["out"].write_text(f"{inputs['src'].read_text()}+{os.getpid()}" if "src" in inputs else str(os.getpid()))


def where(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    """Writes what it sees of its working directory (to check isolation)."""
    seen = sorted(str(p.relative_to(Path.cwd())) for p in Path.cwd().rglob("*") if p.is_file())
    outputs["out"].write_text("\n".join(seen))
