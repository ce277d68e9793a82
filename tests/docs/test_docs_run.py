"""Executable documentation: every ```bash block of README.md and docs/*.md runs, in order,
as written, in one fresh home — and none exits non-zero or prints a traceback.

The convention, for everyone who writes docs:

- a command block is fenced ```bash; the blocks of README.md run first, then those of
  docs/*.md by file name, each file's blocks top to bottom, all in ONE bash session
  (``set -eo pipefail``), so a later block sees the shell variables an earlier one set;
- a value printed by an earlier step is carried in a shell variable set from that step's
  output, visibly, in the block itself: ``CID=$(eotrust store put scene.tif)``,
  ``TASK=$(eotrust flow request … --json | jq -r .address)``; later blocks write ``$CID``;
- a block that cannot run here (a server of its own, kubo, a GPU, a command that never
  exits) starts with the line ``# illustration only: <why>`` and is skipped; the reason
  must be given.

The blocks run in a scratch directory (commands are written as from the repository root:
its ``src/`` is linked there), with a fresh ``EOTRUST_HOME``, the repository's ``eotrust``
first on PATH and no ``EOTRUST_PASSPHRASE`` (the README exports one). Keystores use a small
scrypt cost (``EOTRUST_KEYSTORE_SCRYPT_N``, as in every test) so the run stays short.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from fast_keys import SCRYPT_N

REPO = Path(__file__).resolve().parents[2]
ILLUSTRATION = "# illustration only:"
FENCE = re.compile(r"^```(\S*)\s*$")
MARK = "@@eotrust-doc-block@@"
LIMIT_S = 540  # about 90 s on two quiet cores; much more while other work shares them


@dataclass(frozen=True)
class Block:
    path: str  # relative to the repository
    line: int  # of the opening fence
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def illustration(self) -> str | None:
        first = self.text.lstrip("\n").splitlines()[0] if self.text.strip() else ""
        if first.startswith(ILLUSTRATION):
            return first[len(ILLUSTRATION) :].strip()
        return None


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def blocks_of(path: Path) -> list[Block]:
    out: list[Block] = []
    lang: str | None = None
    body: list[str]
    start, body = 0, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        m = FENCE.match(line)
        if lang is None and m:
            lang, start, body = m.group(1), number, []
        elif lang is not None and line.strip() == "```":
            name = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
            out.append(Block(name, start, lang, "\n".join(body) + "\n"))
            lang = None
        elif lang is not None:
            body.append(line)
    assert lang is None, f"{path}: a code fence opened at line {start} is never closed"
    return out


def all_blocks() -> list[Block]:
    return [b for path in doc_files() for b in blocks_of(path)]


def test_the_readme_workflow_is_the_shipped_one() -> None:
    """The ndvi-report YAML the README shows is the file it runs."""
    shipped = (REPO / "src/eotrust/examples/ndvi_report/ndvi-report.yaml").read_text()
    assert any(b.lang == "yaml" and b.text == shipped for b in blocks_of(REPO / "README.md"))


def test_every_command_block_is_bash_and_marked() -> None:
    """No plain ``` fence holding commands: each block says its language, and every
    illustration says why it cannot run."""
    for block in all_blocks():
        assert block.lang, f"{block.where}: fence the block with its language (```bash for commands)"
        if block.lang == "bash" and block.illustration is not None:
            assert block.illustration, f"{block.where}: say why the block is illustration only"


def test_block_extraction_and_the_illustration_marker(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(
        "text\n```bash\necho one\n```\n```bash\n# illustration only: needs kubo\nipfs id\n```\n```yaml\na: 1\n```\n"
    )
    got = blocks_of(doc)
    assert [(b.lang, b.line) for b in got] == [("bash", 2), ("bash", 5), ("yaml", 9)]
    assert got[0].illustration is None and got[1].illustration == "needs kubo"


def _driver(blocks: list[Block], scripts: Path) -> str:
    lines = ["set -eo pipefail"]
    for i, block in enumerate(blocks):
        script = scripts / f"{i:03d}.sh"
        script.write_text(block.text)
        lines.append(f"printf '\\n{MARK} %s\\n' '{block.where}'")
        lines.append(f"source {script}")
    lines.append(f"printf '\\n{MARK} end\\n'")
    return "\n".join(lines) + "\n"


def _failing_block(output: str) -> str:
    marks = re.findall(rf"^{MARK} (\S+)$", output, flags=re.M)
    return marks[-1] if marks else "?"


@pytest.mark.slow
@pytest.mark.timeout(LIMIT_S + 60)
def test_docs_run_as_written(tmp_path: Path) -> None:
    runnable = [b for b in all_blocks() if b.lang == "bash" and b.illustration is None]
    assert runnable, "no ```bash block found"
    work = tmp_path / "work"
    work.mkdir()
    (work / "src").symlink_to(REPO / "src")
    scripts = tmp_path / "blocks"
    scripts.mkdir()
    driver = tmp_path / "driver.sh"
    driver.write_text(_driver(runnable, scripts))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOTRUST_") or k.startswith("EOTRUST_AGENT_")}
    env |= {
        "HOME": str(tmp_path / "user"),
        "EOTRUST_HOME": str(tmp_path / "home"),
        "EOTRUST_KEYSTORE_SCRYPT_N": str(SCRYPT_N),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": str(REPO / "src"),
        "COLUMNS": "120",
    }
    started = time.monotonic()
    log = tmp_path / "output.txt"  # written as it runs: on a timeout it says where it was
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["bash", str(driver)], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
        try:
            proc.wait(timeout=LIMIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            text = log.read_text()
            pytest.fail(f"the blocks ran past {LIMIT_S} s, in the block at {_failing_block(text)}:\n{text[-3000:]}")
    output = log.read_text()
    took = time.monotonic() - started
    tail = output[-4000:]
    assert proc.returncode == 0, (
        f"the block at {_failing_block(output)} failed (exit {proc.returncode}) after {took:.0f} s:\n{tail}"
    )
    trace = output.find("Traceback (most recent call last)")
    assert trace < 0, (
        f"a traceback in the block at {_failing_block(output[:trace])}:\n{output[trace - 2000 : trace + 2000]}"
    )
    assert output.rstrip().endswith(f"{MARK} end"), f"the blocks stopped early, at {_failing_block(output)}:\n{tail}"
