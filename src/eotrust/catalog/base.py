"""The one SQLAlchemy declarative base of every catalogue table (``records.py``,
``model_records.py``, ``api_key_records.py``, ``deployments.py``). The database itself — the
engine from Settings and creating the tables — is :mod:`eotrust.catalog.db`, which imports
every table module, so none of them may import it."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Every catalogue table derives from this base."""
