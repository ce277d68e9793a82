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


def test_a_config_file_that_is_not_utf8_is_one_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Found by hand: a config file of stray bytes crashed every command with tomllib's
    UnicodeDecodeError (a 45-line traceback)."""
    cfg = tmp_path / "eotrust.toml"
    cfg.write_bytes(b'\xff\xfehome = "/tmp/h"\n')
    monkeypatch.setenv("EOTRUST_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match=r"eotrust.toml is not UTF-8 text"):
        load_settings()
    # the implicit eotrust.toml of the working folder too
    monkeypatch.delenv("EOTRUST_CONFIG")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"eotrust.toml is not UTF-8 text"):
        load_settings()


def test_eotrust_config_naming_a_folder_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EOTRUST_CONFIG", str(tmp_path))
    with pytest.raises(ConfigError, match=r"EOTRUST_CONFIG names .*, which is a folder: give a file") as err:
        load_settings()
    assert "does not exist" not in err.value.message
    with pytest.raises(ConfigError, match=r"config file .* is a folder: give a file"):
        load_settings(tmp_path)


def test_eotrust_config_naming_a_fifo_is_refused_without_reading_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Reading a FIFO would wait for a writer forever; it is named as what it is."""
    import os

    fifo = tmp_path / "eotrust.toml"
    os.mkfifo(fifo)
    monkeypatch.setenv("EOTRUST_CONFIG", str(fifo))
    with pytest.raises(ConfigError, match=r"which is not a regular file"):
        load_settings()


@pytest.mark.parametrize("name", ["EOTRUST_SPARQL_PEERS", "EOTRUST_SANDBOX_NETWORK_ALLOW"])
def test_a_list_setting_that_is_not_json_is_one_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    """Found by hand: EOTRUST_SPARQL_PEERS=notjson crashed every command with
    pydantic-settings' SettingsError (a traceback)."""
    monkeypatch.setenv(name, "http://peer.example/sparql")
    with pytest.raises(ConfigError, match=rf"{name} must be a JSON list") as err:
        load_settings(home=tmp_path / "h")
    assert '["' in (err.value.hint or "")


@pytest.mark.parametrize("name", ["EOTRUST_HOME", "EOTRUST_STORE_ROOT"])
def test_an_empty_folder_setting_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    """Found by hand: `EOTRUST_HOME=` (set but empty) made the working folder the home, so a
    command run there created its catalogue, parties and chain beside the user's files."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, "")
    with pytest.raises(ConfigError, match=rf"invalid setting {name.removeprefix('EOTRUST_').lower()}: .*is empty"):
        load_settings()
    assert list(tmp_path.iterdir()) == []


def test_an_empty_home_option_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["--home", "", "catalog", "search"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError) and "is empty" in result.exception.message
    assert list(tmp_path.iterdir()) == []
