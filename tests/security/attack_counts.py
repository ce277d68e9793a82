"""A tally of fuzzed requests and parsed documents, for the attack report
(``benchmarks/attacks.py`` sets ``EOTRUST_ATTACK_COUNTS`` to a file; each fuzzing test adds its
counts there as one JSON line)."""

from __future__ import annotations

import json
import os


def record(kind: str, count: int, server_errors: int = 0) -> None:
    path = os.environ.get("EOTRUST_ATTACK_COUNTS")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, "count": count, "server_errors": server_errors}) + "\n")
