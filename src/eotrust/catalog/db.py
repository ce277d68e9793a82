"""The catalogue database: one SQLAlchemy declarative base shared by every catalogue table,
and the engine built from Settings (SQLite under the home by default, PostgreSQL at scale).

The tables behave alike on both: string lengths in the models document the expected sizes but
bind neither (SQLite ignores them; on PostgreSQL they compile to unbounded VARCHAR), and a
value the server cannot store (PostgreSQL refuses NUL characters, over-long index keys) is an
InvalidInputError, not a driver traceback.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, String, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker

from eotrust.catalog.base import Base
from eotrust.errors import ConfigError, InvalidInputError
from eotrust.settings import Settings


@compiles(String, "postgresql")
def _unbounded_varchar(type_: String, compiler: Any, **kw: Any) -> str:
    """VARCHAR without a length on PostgreSQL, so it stores what SQLite stores."""
    return "VARCHAR"


def _refused_value(context: Any) -> None:
    """Turn 'the server cannot store this value' into a one-line InvalidInputError."""
    exc = context.sqlalchemy_exception
    sqlstate = getattr(context.original_exception, "sqlstate", None) or ""
    if isinstance(exc, DataError) or (isinstance(exc, OperationalError) and sqlstate.startswith("54")):
        reason = str(context.original_exception).strip().splitlines()[0]
        raise InvalidInputError(
            f"the catalogue database refused a value: {reason}",
            hint="remove NUL characters and shorten very long names or titles",
        ) from None


_URL_HINT = "set catalog_url (EOTRUST_CATALOG_URL) to sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB"


def database_url(settings: Settings) -> URL:
    """The catalogue database's URL, parsed; one that is not a URL is a ConfigError (which
    never repeats it: it may hold a password)."""
    try:
        return make_url(settings.catalog_database_url)
    except ArgumentError:
        raise ConfigError("catalog_url (EOTRUST_CATALOG_URL) is not a database URL", hint=_URL_HINT) from None


def shown_url(settings: Settings) -> str:
    """The catalogue database's URL as it may be printed: the password as ``***``."""
    return database_url(settings).render_as_string(hide_password=True)


def make_engine(settings: Settings) -> Engine:
    url = database_url(settings)
    try:
        engine = create_engine(url, future=True)
    except (NoSuchModuleError, ImportError):
        raise ConfigError(
            f"catalog_url (EOTRUST_CATALOG_URL) names {url.drivername}: no driver for {url.drivername} here",
            hint=_URL_HINT,
        ) from None
    if url.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    else:
        event.listen(engine, "handle_error", _refused_value)
    return engine


def open_session_factory(settings: Settings) -> sessionmaker[Session]:
    """Create the tables that are missing (every catalogue table: records, model packages, API
    keys, deployments) and return a session factory."""
    from eotrust.catalog import api_key_records, deployments, model_records, records  # noqa: F401 - their tables

    engine = make_engine(settings)
    # each collision means one more table or index exists, so this many attempts always suffice
    attempts = sum(1 + len(table.indexes) for table in Base.metadata.tables.values()) + 1
    for attempt in range(attempts):
        try:
            Base.metadata.create_all(engine)
            break
        except (IntegrityError, OperationalError, ProgrammingError):
            # another process created the same table between create_all's check and its CREATE
            # ("table … already exists" on SQLite, a duplicate pg_type key on PostgreSQL): the
            # table exists now, so check again (SQLite commits each CREATE on its own)
            if attempt == attempts - 1:
                raise
    return sessionmaker(engine, expire_on_commit=False)
