"""Shared by the tests/security/test_core_* tests: run a CLI command in process and tell a
clean one-line refusal from a traceback."""

from __future__ import annotations

import atexit
import functools
import shutil
import sys
import tempfile
from pathlib import Path

from typer.testing import CliRunner, Result

from eotrust.cli.main import app
from eotrust.errors import EotrustError

runner = CliRunner()


def cli(home: Path, *args: str, input: str | None = None) -> Result:
    return runner.invoke(app, ["--home", str(home), *args], input=input, terminal_width=200)


def refused(result: Result) -> EotrustError:
    """The command failed the way `eotrust` reports a bad input: an EotrustError (printed by
    ``main`` as one line and a hint) or the command's own message and exit status, never
    another exception (a traceback)."""
    assert result.exit_code != 0, result.output
    exc = result.exception
    if isinstance(exc, SystemExit):  # the command printed its own error and exited (typer.Exit)
        assert "Traceback" not in result.output, result.output
        return EotrustError(" ".join(result.output.split()))
    assert isinstance(exc, EotrustError), f"a traceback, not one error line: {exc!r}\n{result.output}"
    assert "\n" not in exc.message, exc.message
    return exc


@functools.cache
def tiny_package() -> Path:
    """One small signed ENet model package for every security test that needs one (exported
    once per test session: the export is the slow part)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))
    from tiny_models import tiny_enet_package

    folder = Path(tempfile.mkdtemp(prefix="eotrust-sec-core-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return tiny_enet_package(folder / "tiny.zip", metrics={"miou": 0.25})


def repacked(package: Path, dest: Path, **changes: object) -> Path:
    """The same graph under a changed manifest, signed again by the package's owner."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))
    from tiny_models import OWNER

    from eotrust.ml.package import pack, read_package

    pkg = read_package(package)
    return pack(pkg.manifest.model_copy(update=changes), pkg.graph_bytes, OWNER, dest)
