"""mypy in strict mode on the whole tree: ``src`` (the package), then ``tools``, ``benchmarks``
and each directory of ``tests`` as its own run (``make check``; ``python tools/typecheck.py
tests/api`` runs one group).

The suites are not packages: pytest puts each test file's directory on ``sys.path`` (so a
test imports ``api_world`` or ``waiting`` as a top-level module) and several directories hold
a ``conftest.py``. One mypy run per directory, with the same search path pytest gives it (the
directory, ``tests`` and the two directories whose helpers other suites import), sees the
modules under the names they run under. Configuration (strict, plugins, untyped libraries) is
``pyproject.toml``'s. Exit status: non-zero if any run found an error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: directories of tests/ whose helper modules other suites import (sys.path.insert in those tests)
SHARED = ("tests/ml", "tests/api")


def groups() -> list[tuple[str, list[str], list[str]]]:
    """(name, search path, files) for each run after the package's own."""
    out: list[tuple[str, list[str], list[str]]] = [
        ("tools", ["src", "tools"], ["tools"]),
        ("benchmarks", ["src", "benchmarks", "tests"], ["benchmarks"]),  # ledger_gas starts anvil as the tests do
    ]
    top = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").glob("*.py"))
    out.append(("tests", ["src", "tests", "tools", *SHARED], top))  # test_suite_time imports tools/suite_time
    for directory in sorted(p for p in (REPO / "tests").iterdir() if p.is_dir() and any(p.glob("*.py"))):
        name = str(directory.relative_to(REPO))
        path = ["src", name, "tests", *(s for s in SHARED if s != name)]
        out.append((name, path, [name]))
    return out


def main(argv: list[str]) -> int:
    failed = []
    runs: list[tuple[str, list[str] | None, list[str]]] = [("src", None, []), *groups()]
    only = set(argv)
    for name, path, files in runs:
        if only and name not in only:
            continue
        env = dict(os.environ)
        command = [sys.executable, "-m", "mypy"]
        if path is not None:
            env["MYPYPATH"] = os.pathsep.join(path)
            command += ["--explicit-package-bases", *files]
        print(f"mypy: {name}", flush=True)
        if subprocess.run(command, cwd=REPO, env=env).returncode != 0:
            failed.append(name)
    if failed:
        print(f"mypy found errors in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
