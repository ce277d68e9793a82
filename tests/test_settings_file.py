"""The config file: a named file must exist, unknown keys and bad TOML are errors naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.errors import ConfigError
from eotrust.settings import load_settings


def test_eotrust_config_naming_a_missing_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EOTRUST_CONFIG", str(tmp_path / "typo.toml"))
    with pytest.raises(ConfigError, match="EOTRUST_CONFIG names .*typo.toml, which does not exist"):
        load_settings()
    result = CliRunner().invoke(app, ["party", "list"])
    assert result.exit_code != 0 and isinstance(result.exception, (ConfigError, SystemExit))


def test_unknown_keys_are_all_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "eotrust.toml"
    cfg.write_text('stor = "ipfs"\nchain_ulr = "http://x"\nhome = "/tmp/h"\n')
    monkeypatch.setenv("EOTRUST_CONFIG", str(cfg))
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "unknown setting 'stor'" in err.value.message and "unknown setting 'chain_ulr'" in err.value.message
    assert str(cfg) in err.value.message and "chain_url" in (err.value.hint or "")


def test_bad_toml_is_one_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "eotrust.toml"
    cfg.write_text("home = \n")
    monkeypatch.setenv("EOTRUST_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_a_good_file_is_read_and_empty_means_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "eotrust.toml"
    cfg.write_text(f'home = "{tmp_path / "h"}"\nstep_retries = 5\n')
    monkeypatch.setenv("EOTRUST_CONFIG", str(cfg))
    assert load_settings().step_retries == 5
    monkeypatch.setenv("EOTRUST_CONFIG", "")
    monkeypatch.chdir(tmp_path)  # an eotrust.toml here is not read either
    assert load_settings().step_retries == 2
