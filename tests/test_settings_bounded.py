"""The config file is read with a bound (docs/security.md): an ``eotrust.toml`` anyone left in a
working folder, or named by ``--config``/``EOTRUST_CONFIG``, is a regular file of at most 1 MiB,
else one error naming it: never read whole, never waited on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fast_keys import SCRYPT_N

import eotrust
from eotrust.errors import ConfigError
from eotrust.settings import load_settings

SRC = Path(eotrust.__file__).resolve().parents[1]  # the eotrust this suite imports


def _huge(folder: Path) -> Path:
    """10 MB of valid TOML (comments) as ``folder/eotrust.toml``."""
    cfg = folder / "eotrust.toml"
    line = b"# " + b"x" * 97 + b"\n"
    with cfg.open("wb") as f:
        for _ in range(100):
            f.write(line * 1000)
    return cfg


def _eotrust(cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOTRUST_") and k != "PYTHONPATH"}
    env.update(
        EOTRUST_HOME=str(home),
        EOTRUST_AGENT="0",
        EOTRUST_KEYSTORE_SCRYPT_N=str(SCRYPT_N),
        PYTHONPATH=str(SRC),
    )
    return subprocess.run(
        [sys.executable, "-m", "eotrust.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,  # a command waiting on the file fails here instead of hanging the suite
        check=False,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0 and result.stdout == "", result
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    error, _, hint = result.stderr.partition("\nhint: ")
    assert "error:" not in error[1:] + hint, result.stderr
    return " ".join(result.stderr.split())


def test_a_huge_config_file_is_refused_unread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Before (an audit), 10 MB of comments were read and parsed by every command (and by the
    resident agent, in its only loop, for every client working in that folder)."""
    cfg = _huge(tmp_path)
    monkeypatch.delenv("EOTRUST_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"config file eotrust.toml is larger than 1,048,576 bytes"):
        load_settings(home=tmp_path / "home")
    with pytest.raises(ConfigError, match=r"larger than 1,048,576 bytes"):
        load_settings(cfg, home=tmp_path / "home")
    cfg.write_text("step_retries = 5\n" + "# " * 100_000)  # a real file with a long comment: read
    assert load_settings(cfg, home=tmp_path / "home").step_retries == 5


def test_eotrust_in_a_folder_with_a_huge_or_endless_config_file_says_so_in_one_line(tmp_path: Path) -> None:
    """Before (an audit), the 10 MB file was read and the command ran (exit 0); a FIFO or a
    device named eotrust.toml was passed over without a word (the settings in it silently not
    applied), and one swapped in after that look was waited on for ever."""
    home = tmp_path / "home"
    huge, piped, device = (tmp_path / name for name in ("huge", "piped", "device"))
    for folder in (huge, piped, device):
        folder.mkdir()
    _huge(huge)
    os.mkfifo(piped / "eotrust.toml")
    (device / "eotrust.toml").symlink_to("/dev/zero")
    assert "config file eotrust.toml is larger than 1,048,576 bytes" in _one_line(_eotrust(huge, home, "party", "list"))
    for folder in (piped, device):
        said = _one_line(_eotrust(folder, home, "party", "list"))
        assert "config file eotrust.toml is not a regular file (a pipe, socket or device)" in said, said
    assert _eotrust(tmp_path, home, "party", "list").returncode == 0  # no eotrust.toml here: as before
