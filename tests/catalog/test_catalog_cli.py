"""`eotrust catalog`: register (signed by the acting party), search, show — through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from eotrust.cli.main import app
from eotrust.party import Role, create_party
from eotrust.settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "slovenia-s2-ndvi"


def _run(home: Path, *args: str) -> Result:
    result = CliRunner().invoke(app, ["--home", str(home), *args], catch_exceptions=False)
    return result


def test_register_search_show(settings: Settings, tmp_path: Path) -> None:
    owner = create_party(settings, "owner-b", Role.DATA_OWNER)
    create_party(settings, "plat-owner", Role.PLATFORM_OWNER)
    labels = tmp_path / "lulc.tif"
    labels.write_bytes((SAMPLE / "lulc.tif").read_bytes())
    home = settings.home_dir

    out = _run(
        home,
        "catalog",
        "register-dataset",
        str(labels),
        "--title",
        "Slovenia labels",
        "-k",
        "lulc",
        "--as",
        "owner-b",
        "--json",
    )
    assert out.exit_code == 0, out.output
    record = json.loads(out.output)
    assert record["owner"] == owner.account.address and record["body"]["crs"] == "EPSG:32633"

    out = _run(home, "catalog", "register-platform", "--name", "hpc", "--cpus", "8", "--as", "plat-owner", "--json")
    assert json.loads(out.output)["body"]["age_recipient"].startswith("age1")

    found = json.loads(_run(home, "catalog", "search", "--bbox", "14.5,45.8,14.6,45.9", "--json").output)
    assert [r["id"] for r in found] == [record["id"]]
    assert json.loads(_run(home, "catalog", "search", "--bbox", "0,0,1,1", "--json").output) == []
    assert [
        r["body"]["name"] for r in json.loads(_run(home, "catalog", "search", "--text", "hpc", "--json").output)
    ] == ["hpc"]

    shown = _run(home, "catalog", "show", record["id"])
    assert "signature checked" in shown.output and "Slovenia labels" in shown.output
    assert "hpc" in _run(home, "catalog", "show", "hpc").output


def test_bad_bbox_and_unknown_record_are_clear_errors(settings: Settings) -> None:
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "eotrust"
    proc = subprocess.run(
        [str(exe), "--home", str(settings.home_dir), "catalog", "search", "--bbox", "1,2"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "bbox" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [str(exe), "--home", str(settings.home_dir), "catalog", "show", "nothing-here"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "nothing-here" in proc.stderr
