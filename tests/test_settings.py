"""Settings precedence: field defaults < eotrust.toml < EOTRUST_* variables < values passed in
(the CLI's --home, a test's overrides); bad values anywhere are one clear ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from eotrust.errors import ConfigError
from eotrust.settings import Settings, load_settings


def _default(field: str) -> object:
    return Settings.model_fields[field].default


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "eotrust.toml"
    path.write_text(f'home = "{tmp_path / "toml-home"}"\nmax_upload_mb = 7\nstep_retries = 5\nhash_workers = 3\n')
    return path


def test_each_layer_overrides_the_one_below(toml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EOTRUST_CONFIG", str(toml))
    monkeypatch.setenv("EOTRUST_STEP_RETRIES", "9")
    monkeypatch.setenv("EOTRUST_HASH_WORKERS", "4")
    s = load_settings(hash_workers=5)
    assert s.step_timeout_s == _default("step_timeout_s")  # set nowhere: the default
    assert s.max_upload_mb == 7  # the file over the default
    assert s.home == tmp_path / "toml-home"
    assert s.step_retries == 9  # the variable over the file
    assert s.hash_workers == 5  # a value passed in over the variable


def test_without_file_or_variables_the_defaults_hold() -> None:
    s = load_settings()  # tests/conftest.py points EOTRUST_CONFIG at a file that does not exist
    for field in ("max_upload_mb", "step_retries", "hash_workers", "store", "chain_url", "catalog_url"):
        assert getattr(s, field) == _default(field), field


def test_config_file_argument_is_the_toml_layer(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_settings(path)`` (the CLI's --config) reads that file, still below the variables."""
    monkeypatch.setenv("EOTRUST_MAX_UPLOAD_MB", "11")
    s = load_settings(toml)
    assert (s.step_retries, s.max_upload_mb) == (5, 11)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(toml.parent / "missing.toml")


def test_the_cli_builds_settings_with_the_same_precedence(
    toml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`eotrust --home` beats EOTRUST_HOME, which beats the file's home."""
    from typer.testing import CliRunner

    from eotrust.cli.main import app

    monkeypatch.setenv("EOTRUST_CONFIG", str(toml))
    monkeypatch.setenv("EOTRUST_HOME", str(tmp_path / "env-home"))
    runner = CliRunner()
    assert runner.invoke(app, ["party", "list"]).exit_code == 0
    assert (tmp_path / "env-home").is_dir() and not (tmp_path / "toml-home").exists()
    assert runner.invoke(app, ["--home", str(tmp_path / "flag-home"), "party", "list"]).exit_code == 0
    assert (tmp_path / "flag-home").is_dir()


@pytest.mark.parametrize(
    ("where", "text"),
    [("file", "max_upload_mb = 0\n"), ("file", "no_such_setting = 1\n"), ("variable", "not-a-number")],
)
def test_a_bad_value_in_any_layer_is_one_config_error(
    where: str, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if where == "file":
        path = tmp_path / "bad.toml"
        path.write_text(text)
        monkeypatch.setenv("EOTRUST_CONFIG", str(path))
    else:
        monkeypatch.setenv("EOTRUST_STEP_RETRIES", text)
    with pytest.raises(ConfigError, match="invalid setting|unknown setting"):
        load_settings()
