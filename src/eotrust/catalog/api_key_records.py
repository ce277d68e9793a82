"""The catalogue's table of API keys. Only a key's SHA-256 is kept, never the secret."""

from __future__ import annotations

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from eotrust.catalog.base import Base


class ApiKeyRow(Base):
    """One API key: who it acts as, which models it may score, whether it was revoked."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True, doc="sha256 hex of the secret")
    party: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list, doc='model CIDs or names, or "*"')
    label: Mapped[str] = mapped_column(String(200), default="")
    created: Mapped[str] = mapped_column(String(20))
    revoked: Mapped[str | None] = mapped_column(String(20), nullable=True)
    grant: Mapped[str | None] = mapped_column(
        Text, nullable=True, doc="for a party's key: the EIP-191 text the party signed"
    )
    signature: Mapped[str | None] = mapped_column(String(140), nullable=True, doc="the party's signature of grant")
