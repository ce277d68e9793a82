"""The catalogue database: one SQLAlchemy declarative base shared by every catalogue table,
and the engine built from Settings (SQLite under the home by default, PostgreSQL at scale)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from eotrust.settings import Settings


class Base(DeclarativeBase):
    """Every catalogue table derives from this base (see ``records.py`` and friends)."""


def make_engine(settings: Settings) -> Engine:
    url = settings.catalog_database_url
    engine = create_engine(url, future=True)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


def open_session_factory(settings: Settings) -> sessionmaker[Session]:
    """Create the tables that are missing and return a session factory."""
    engine = make_engine(settings)
    Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)
