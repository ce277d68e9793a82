"""The demo is honest: it runs in EOTRUST_HOME, locks the keystores with EOTRUST_PASSPHRASE or
with a passphrase it prints, and its "serve it" commands work when pasted."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.demo import scenario
from eotrust.party import load_party
from eotrust.settings import load_settings

HERE = Path(__file__).resolve().parent


def test_demo_uses_eotrust_home_and_prints_the_passphrase_it_chose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scenario, "landcover_workflow", lambda: HERE / "roles" / "tiny.yaml")
    monkeypatch.setattr(scenario, "data_dir", lambda: HERE / "data" / "slovenia-s2-ndvi")
    monkeypatch.setattr(scenario, "DEMO_PARAMS", {})  # the tiny application has no `quick`
    home = tmp_path / "my-demo"
    monkeypatch.setenv("EOTRUST_HOME", str(home))
    monkeypatch.delenv("EOTRUST_PASSPHRASE")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo"], terminal_width=400)
    assert result.exit_code == 0, result.output[-3000:]
    text = " ".join(result.stdout.split())  # the narrator wraps long lines
    squeezed = "".join(result.stdout.split())  # a wrap may fall anywhere, even before the ';'
    assert f"home{home};" in squeezed and not (tmp_path / ".demo").exists()
    chosen = re.search(r"export EOTRUST_PASSPHRASE=(\S+)`", text)
    assert chosen, result.stdout[:3000]
    # the printed passphrase opens the demo's keystores, and only it does
    settings = load_settings(home=home)
    assert load_party(settings, "submitter", passphrase=chosen.group(1)).name == "submitter"


def test_serve_hint_runs_when_pasted(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home with space", passphrase="demo-x")
    hint = scenario.serve_hint(settings, "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "demo-x y")
    first, second = re.findall(r"`([^`]+)`", hint)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOTRUST_") or k.startswith("EOTRUST_AGENT_")} | {
        "EOTRUST_CONFIG": ""
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(["bash", "-c", first], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "home with space").is_dir()
    words = shlex.split(second)
    assert words[0] == "EOTRUST_PASSPHRASE=demo-x y" and words[1:4] == [
        "eotrust",
        "--home",
        str(tmp_path / "home with space"),
    ]
    assert words[-1] == "serve"
