"""The demo is honest: its "serve it" commands work when pasted. (That it runs in EOTRUST_HOME
and locks the keystores with a passphrase it prints, which opens them, is checked on the real
`eotrust demo` run: tests/test_demo.py::test_make_demo_command_runs_the_land_cover_application.)"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from eotrust.demo import scenario
from eotrust.settings import load_settings


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
