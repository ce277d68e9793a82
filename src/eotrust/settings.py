"""Settings: built once (defaults < ``eotrust.toml`` < ``EOTRUST_*`` variables) and passed down.

There is no global settings object: the CLI builds one in its root callback, the
server builds one at start-up, tests build their own with a temporary home.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from eotrust.errors import ConfigError, InvalidInputError
from eotrust.limits import file_problem, json_loads, read_regular_file

DEFAULT_HOME = Path("~/.eotrust")
#: The largest config file read: anyone may leave an ``eotrust.toml`` in a folder another user
#: works in, and the resident agent reads the one of each command's working folder in its only
#: loop (a real one is a few hundred bytes).
MAX_CONFIG_BYTES = 1 << 20


class _BoundedTomlSource(TomlConfigSettingsSource):
    """pydantic-settings' TOML source, read with a bound: a regular file of at most
    :data:`MAX_CONFIG_BYTES`, opened without waiting. Before (an audit), a file of any size was
    read whole (and a FIFO or device passed over without a word, or waited on if swapped in
    after the look); now each is one ConfigError naming it."""

    def _read_files(self, files: object, deep_merge: bool = False) -> dict[str, Any]:
        if not isinstance(files, (str, os.PathLike)):
            raise ConfigError(f"the config file is named by {type(files).__name__}, not a path")
        name = os.path.expanduser(os.fspath(files))
        try:
            data = read_regular_file(name, max_bytes=MAX_CONFIG_BYTES, what="config file")
        except FileNotFoundError:
            return {}  # no eotrust.toml here: the defaults and the environment
        except InvalidInputError as exc:
            raise ConfigError(exc.message, hint="an eotrust.toml is a regular file of at most 1 MiB") from None
        return tomllib.loads(data.decode("utf-8"))


class Settings(BaseSettings):
    """Everything configurable. Choosing a backend is configuration, never a code change."""

    model_config = SettingsConfigDict(
        env_prefix="EOTRUST_",
        extra="forbid",
        frozen=True,
    )

    home: Path = Field(default=DEFAULT_HOME, description="directory for embedded state")
    store: Literal["local", "ipfs"] = Field(default="local", description="content store backend")
    ipfs_api: str = Field(default="http://127.0.0.1:5001", description="kubo RPC API endpoint")
    store_root: Path | None = Field(
        default=None, description="directory of the local store; unset = <home>/store (several homes may share one)"
    )
    chain_url: str | None = Field(default=None, description="Ethereum JSON-RPC URL; unset = embedded EVM")
    factory_address: str | None = Field(
        default=None,
        description="TaskFactory address on the chain; unset = the one recorded under the home (deployed on first use)",
    )
    federated_factory_address: str | None = Field(
        default=None,
        description="FederatedTaskFactory address on the chain; unset = the one recorded under the home (deployed on first use)",
    )
    catalog_url: str | None = Field(default=None, description="SQLAlchemy URL; unset = SQLite in home")
    dask_scheduler: str | None = Field(default=None, description="Dask scheduler address; unset = local processes")
    passphrase: SecretStr | None = Field(default=None, description="keystore passphrase (else prompted)")
    party: str | None = Field(default=None, description="the party this process acts as")
    keystore_scrypt_n: int = Field(
        default=2**16, ge=2**10, le=2**20, description="scrypt cost (N) of new keystores; a power of two"
    )
    hash_workers: int = Field(default=2, ge=1, le=64, description="threads hashing CID leaves")
    step_retries: int = Field(default=2, ge=0, description="retries of a failed workflow step")
    step_timeout_s: float = Field(default=3600.0, gt=0, description="per-step timeout")
    max_upload_mb: int = Field(default=512, ge=1, description="largest accepted upload over HTTP")
    store_max_mb_per_party: int = Field(
        default=10240,
        ge=1,
        description="most bytes one party may store through a server's POST /store, in MiB (403 beyond)",
    )
    catalog_max_records_per_owner: int = Field(
        default=10_000,
        ge=1,
        description="most dataset, application and platform records one owner may hold, of each kind",
    )
    min_free_disk_mb: int = Field(
        default=1024,
        ge=0,
        description="disk kept free: a write for a party (an upload, a record, a task, a task's decrypted inputs on a platform) that would leave less is refused (507)",
    )
    sandbox: bool = Field(
        default=True,
        description="run every workflow step in a bubblewrap sandbox; off only for development (--no-sandbox)",
    )
    sandbox_network_allow: list[str] = Field(
        default_factory=list, description="services (by name) given the network when they declare `network: true`"
    )
    sandbox_max_memory_mb: int = Field(default=8192, ge=16, description="most memory (address space) a step may have")
    sandbox_max_cpu_s: int = Field(default=3600, ge=1, description="most CPU seconds a step's process may use")
    sandbox_max_procs: int = Field(
        default=64, ge=4, le=4096, description="most processes and threads in one step's sandbox"
    )
    sandbox_max_file_mb: int = Field(default=4096, ge=1, description="largest file a step may write")
    model_max_memory_mb: int = Field(
        default=4096, ge=64, description="most memory onnxruntime may allocate for models in one process"
    )
    predict_memory_mb: int = Field(
        default=4096,
        ge=16,
        description="memory the server's scoring requests may hold at once: bodies, arrays, answers "
        "(413 for one that never fits, 503 while others hold it); a quarter of it for one frame of "
        "`model stream`",
    )
    model_max_seconds: float = Field(
        default=300.0, gt=0, description="longest one model call may run before it is stopped"
    )
    http_max_connections: int = Field(
        default=1024, ge=1, le=1_000_000, description="open HTTP connections the server keeps (503 beyond)"
    )
    http_max_connections_per_client: int = Field(
        default=64, ge=1, le=1_000_000, description="open HTTP connections from one client address (503 beyond)"
    )
    http_head_timeout_s: float = Field(
        default=10.0, gt=0, le=3600, description="longest a client may take to send a request's head"
    )
    http_max_head_kb: int = Field(
        default=64, ge=1, le=1024, description="largest request head (request line and headers) the server reads, KiB"
    )
    http_send_stall_timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="longest a client may leave an answer unread (then cut off)"
    )
    http_body_idle_timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="longest a request body may pause between two pieces"
    )
    sparql_peers: list[str] = Field(
        default_factory=list, description="SPARQL endpoints a query here may reach with SERVICE (federation)"
    )
    sparql_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="longest a SPARQL query of the server may run (then 400)"
    )
    sparql_max_answer_mb: int = Field(default=32, ge=1, le=4096, description="largest SPARQL answer the server sends")
    sparql_concurrency: int = Field(
        default=2, ge=1, le=64, description="SPARQL queries the server evaluates at once (503 beyond)"
    )

    @field_validator("home", "store_root", mode="before")
    @classmethod
    def _folder_named(cls, value: object) -> object:
        """An empty folder name would mean the working folder: state scattered wherever a
        command happens to run (``EOTRUST_HOME=`` in a script). Refused."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty: name a folder, or unset it for the default")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("EOTRUST_CONFIG", "eotrust.toml")
        if not toml_file:  # EOTRUST_CONFIG set empty: no config file at all
            return (init_settings, env_settings)
        return (
            init_settings,
            env_settings,
            _BoundedTomlSource(settings_cls, toml_file=toml_file),
        )

    # -- derived locations -------------------------------------------------
    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    def path(self, *parts: str, create: bool = True) -> Path:
        """A directory under the home, created on first use. Every part must be a plain name
        (:func:`eotrust.names.check_name`): nothing is ever created outside the home."""
        from eotrust.names import check_name

        for part in parts:
            check_name(part, "name in a home path")
        p = self.home_dir.joinpath(*parts)
        if create:
            p.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def store_dir(self) -> Path:
        if self.store_root is not None:
            root = self.store_root.expanduser().resolve()
            root.mkdir(parents=True, exist_ok=True)
            return root
        return self.path("store")

    @property
    def parties_dir(self) -> Path:
        return self.path("parties")

    @property
    def chain_dir(self) -> Path:
        return self.path("chain")

    @property
    def runs_dir(self) -> Path:
        return self.path("runs")

    @property
    def catalog_database_url(self) -> str:
        if self.catalog_url:
            return self.catalog_url
        return f"sqlite:///{self.path('catalog') / 'catalog.sqlite'}"


def _unparsable_variable() -> ConfigError:
    """The error for an EOTRUST_* list variable that is not JSON (named when it can be found)."""
    lists = {
        name for name, field in Settings.model_fields.items() if getattr(field.annotation, "__origin__", None) is list
    }
    variable = "an EOTRUST_* list variable"
    for key, value in os.environ.items():
        if key.lower().removeprefix("eotrust_") in lists and key.lower().startswith("eotrust_"):
            try:
                json_loads(value)
            except ValueError:
                variable = key.upper()
                break
    return ConfigError(
        f"{variable} must be a JSON list",
        hint='write a list as \'["a", "b"]\' (or as a list in eotrust.toml)',
    )


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Build the one Settings object; a bad value becomes a clear ConfigError."""
    if config_file is not None:
        if (problem := file_problem(config_file)) is not None:
            raise ConfigError(f"config file {config_file} {problem}", hint="pass an existing eotrust.toml")
        os.environ["EOTRUST_CONFIG"] = str(config_file)
    named = os.environ.get("EOTRUST_CONFIG")
    if named and (problem := file_problem(named)) is not None:
        raise ConfigError(
            f"EOTRUST_CONFIG names {named}, which {problem}",
            hint="point EOTRUST_CONFIG at an existing eotrust.toml, or unset it",
        )
    source = named or "eotrust.toml"
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}", hint="fix the file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{source} is not UTF-8 text (byte {exc.start})", hint="TOML files are UTF-8: fix or replace the file"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror or exc}", hint="check the file's permissions") from None
    except SettingsError:  # an EOTRUST_* list that is not JSON (the environment source decodes it)
        raise _unparsable_variable() from None
    except ValidationError as exc:
        problems = []
        unknown = False
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ())) or "settings"
            if err.get("type") == "extra_forbidden":
                unknown = True
                problems.append(f"unknown setting {where!r} in {source}")
            else:
                problems.append(f"invalid setting {where}: {err.get('msg', '').removeprefix('Value error, ')}")
        known = ", ".join(Settings.model_fields)
        raise ConfigError(
            "; ".join(problems),
            hint=f"the settings are: {known} (in eotrust.toml, or as EOTRUST_* variables)"
            if unknown
            else "fix the value in eotrust.toml or its EOTRUST_* variable",
        ) from None
