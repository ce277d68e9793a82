"""Attack: names used as paths (anyone who registers a catalogue record or runs a command).
Before the fix `catalog register-platform --name ../../x` was accepted and `node run
--platform ../../x` created directories outside the home; `workflow publish --name <400
chars>` ended in a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from core_cli import cli, refused

from eotrust.errors import EotrustError
from eotrust.party import Role, create_party
from eotrust.settings import Settings, load_settings

TINY = Path(__file__).resolve().parents[1] / "roles" / "tiny.yaml"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A home four levels below this test's own directory, so that whatever a `../../x`
    makes lands inside tmp_path, never beside other tests' directories (which other
    processes of the suite may be writing while this test runs)."""
    return load_settings(home=tmp_path / "a" / "b" / "c" / "home")


def _outside(settings: Settings) -> list[Path]:
    """Everything in this test's directory that is not the home (what a ../../x makes)."""
    root = settings.home_dir.parents[3]
    return sorted(p for p in root.rglob("*") if settings.home_dir not in (p, *p.parents))


def test_platform_name_with_dots_and_slashes_is_refused(settings: Settings) -> None:
    create_party(settings, "plat", Role.PLATFORM_OWNER)
    before = _outside(settings)
    for name in ("../../x", "a/b", "..", "/etc", "x" * 65, "név"):
        exc = refused(cli(settings.home, "catalog", "register-platform", "--name", name, "--as", "plat"))
        assert "name" in exc.message
    run = cli(settings.home, "node", "run", "--platform", "../../x", "--once", "--as", "plat")
    refused(run)
    assert _outside(settings) == before


@pytest.mark.parametrize("parts", [("nodes", "../../x", "tasks"), ("holdings", "../y"), ("/abs",), ("a/b",)])
def test_home_paths_never_leave_the_home(settings: Settings, parts: tuple[str, ...]) -> None:
    before = _outside(settings)
    with pytest.raises(EotrustError, match="name"):
        settings.path(*parts)
    assert _outside(settings) == before


def test_long_published_workflow_name_is_one_line(settings: Settings) -> None:
    exc = refused(cli(settings.home, "workflow", "publish", str(TINY), "--name", "w" * 400))
    assert "name" in exc.message
