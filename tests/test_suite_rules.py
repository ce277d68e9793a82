"""Rules that keep the suite fast and honest (issue 17): no fixed sleep used to wait for
something (wait on the condition: tests/waiting.py), and no skip that hides a missing file,
tool or module (`make test` installs them all; a missing one must fail). A sleep that is the
work itself says so with ``# workload`` on its line; a skip that depends on the environment
(a kubo daemon nobody installs) says so with ``# environment-conditional`` on its line or the
line before."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SLEEP = re.compile(r"\bsleep\(")
SKIP = re.compile(r"pytest\.skip\(|\bskipif\(|importorskip\(|mark\.skip\b")


def _lines() -> list[tuple[Path, int, str, str]]:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if path == Path(__file__).resolve():
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            found.append((path, i + 1, line, lines[i - 1] if i else ""))
    return found


def test_no_fixed_sleep_waits_for_something() -> None:
    bad = [
        f"{p.relative_to(TESTS)}:{n}: {line.strip()}"
        for p, n, line, _ in _lines()
        if SLEEP.search(line) and "# workload" not in line and p.name != "waiting.py"
    ]
    assert not bad, (
        "wait on the real condition (tests/waiting.py wait_for), or mark real work '# workload':\n" + "\n".join(bad)
    )


def test_no_skip_hides_a_missing_file() -> None:
    bad = [
        f"{p.relative_to(TESTS)}:{n}: {line.strip()}"
        for p, n, line, before in _lines()
        if SKIP.search(line) and "# environment-conditional" not in line + before
    ]
    assert not bad, (
        "a missing file, tool or module must fail (assert it exists, with the fix in the message):\n" + "\n".join(bad)
    )


def test_the_rules_see_what_they_forbid() -> None:
    assert SLEEP.search("    time.sleep(0.5)") and SLEEP.search("await asyncio.sleep(1)")
    assert SKIP.search('@pytest.mark.skipif(x, reason="y")') and SKIP.search('pytest.importorskip("psycopg")')
    assert SKIP.search("@pytest.mark.skip") and not SKIP.search("skipped = 1")
