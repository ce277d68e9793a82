"""The catalogue's index of model packages: one row per registered package (the bytes are in
the store, named by ``cid``). Versions count up per model name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from eotrust.catalog.base import Base


class ModelRow(Base):
    """A registered model package."""

    __tablename__ = "model_packages"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_model_name_version"),)

    cid: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(42), index=True)
    algorithm: Mapped[str] = mapped_column(String(200))
    created: Mapped[str] = mapped_column(String(20), index=True)
    registered: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    signature: Mapped[str] = mapped_column(String(140))
    manifest: Mapped[str] = mapped_column(Text, doc="the package's manifest.json, canonical")
