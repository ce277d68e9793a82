"""The catalogue's tables for datasets, applications, platforms, tasks and results.

Each row keeps the signed record twice: its body as canonical JSON (``body``), and every body
field in a column of its own, which is what searches use (except the few fields added after the
tables were first made, which only the signed body holds: ``BODY_ONLY``, so an existing database
opens unchanged). Reading a row checks that the two agree field by field (so a changed column or a changed body names the field that moved), that
the record re-hashes to its id, and that its owner signed it (see ``entries.Record.check``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy import JSON, BigInteger, Float, Integer, String, Text
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column

from eotrust.catalog.base import Base
from eotrust.catalog.entries import BODY_TYPES, Body, Kind, Record
from eotrust.cid import canonical_text
from eotrust.errors import IntegrityError, InvalidInputError, first_problem
from eotrust.limits import json_loads

_BBOX = ("bbox_west", "bbox_south", "bbox_east", "bbox_north")
#: Body fields with no column of their own (read from the signed body only): the chain a task's
#: contract lives on, which the catalogue filters by in Python over the records of one address.
BODY_ONLY = frozenset({"chain"})
#: A signed record's body (canonical JSON) is at most this long, when written and when read back.
MAX_BODY_CHARS = 1 << 20


class RecordRow(Base):
    """Columns every signed record has."""

    __abstract__ = True

    KIND: Kind

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(42), index=True)
    created: Mapped[str] = mapped_column(String(20), index=True)
    signature: Mapped[str] = mapped_column(String(140))
    body: Mapped[str] = mapped_column(Text)

    @classmethod
    def reference_columns(cls) -> tuple[InstrumentedAttribute[str], ...]:
        """The columns besides ``id`` a catalogue reference may name (``Catalog.find``):
        none for tasks and results."""
        return ()

    # -- mapping between a Record and a row ---------------------------------
    @classmethod
    def from_record(cls, record: Record[Body]) -> RecordRow:
        if record.kind is not cls.KIND:
            raise TypeError(f"{cls.__name__} stores {cls.KIND.value} records, not {record.kind.value}")
        fields = record.body.canonical()
        body = canonical_text(fields)
        if len(body) > MAX_BODY_CHARS:
            raise InvalidInputError(
                f"the {record.kind.value} record's body is {len(body)} characters; a record holds at most {MAX_BODY_CHARS}",
                hint="shorten its description, keywords or lists",
            )
        columns: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "bbox":
                columns.update(zip(_BBOX, value if value is not None else (None,) * 4))
            elif name in BODY_ONLY:
                continue
            else:
                columns[name] = value
        return cls(
            id=record.id,
            owner=record.owner,
            created=record.created,
            signature=record.signature,
            body=body,
            **columns,
        )

    def column_fields(self) -> dict[str, Any]:
        """The body's fields as the columns hold them."""
        out: dict[str, Any] = {}
        for name in BODY_TYPES[self.KIND].model_fields:
            if name in BODY_ONLY:
                continue
            if name == "bbox":
                box = tuple(getattr(self, c) for c in _BBOX)
                out[name] = None if all(v is None for v in box) else list(box)
            else:
                out[name] = getattr(self, name)
        return out

    def to_record(self) -> Record[Body]:
        """The checked record; IntegrityError names the record and the field that does not match."""
        what = f"catalogue {self.KIND.value} record {self.id}"
        if len(self.body) > MAX_BODY_CHARS:  # a row of the shared database no owner could have written
            raise IntegrityError(
                f"{what}: its body is {len(self.body)} characters, over {MAX_BODY_CHARS}", hint="the row was altered"
            )
        try:
            body_fields = json_loads(self.body)
        except (TypeError, ValueError):
            raise IntegrityError(f"{what}: field 'body' is not valid JSON", hint="the row was altered") from None
        if not isinstance(body_fields, dict):
            raise IntegrityError(f"{what}: field 'body' is not a JSON object", hint="the row was altered")
        columns = self.column_fields()
        for name in sorted(set(columns) | (set(body_fields) - BODY_ONLY)):
            if _jsonish(columns.get(name)) != _jsonish(body_fields.get(name)):
                raise IntegrityError(
                    f"{what}: field '{name}' does not match the signed record "
                    f"(column {columns.get(name)!r}, signed body {body_fields.get(name)!r})",
                    hint="the row was altered after its owner signed it",
                )
        try:
            body = BODY_TYPES[self.KIND].model_validate(body_fields)
        except ValidationError as exc:
            raise IntegrityError(
                f"{what}: its body is no longer a valid {self.KIND.value}: {first_problem(exc)}"
            ) from None
        except ValueError as exc:
            raise IntegrityError(f"{what}: its body is no longer a valid {self.KIND.value}: {exc}") from None
        record: Record[Body] = Record(
            id=self.id, kind=self.KIND, owner=self.owner, created=self.created, body=body, signature=self.signature
        )
        record.check()
        return record


def _jsonish(value: Any) -> Any:
    """Compare JSON values as JSON (tuples and lists alike, ints and equal floats alike)."""
    return json_loads(json.dumps(value, sort_keys=True)) if value is not None else None


class DatasetRow(RecordRow):
    __tablename__ = "catalog_datasets"
    KIND = Kind.DATASET

    title: Mapped[str] = mapped_column(String(300), index=True)
    cid: Mapped[str] = mapped_column(String(100), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(Text)
    bbox_west: Mapped[float | None] = mapped_column(Float, nullable=True)
    bbox_south: Mapped[float | None] = mapped_column(Float, nullable=True)
    bbox_east: Mapped[float | None] = mapped_column(Float, nullable=True)
    bbox_north: Mapped[float | None] = mapped_column(Float, nullable=True)
    start: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    end: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    crs: Mapped[str | None] = mapped_column(String(100), nullable=True)
    bands: Mapped[list[str]] = mapped_column(JSON)
    licence: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(200))
    keywords: Mapped[list[str]] = mapped_column(JSON)
    price: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    @classmethod
    def reference_columns(cls) -> tuple[InstrumentedAttribute[str], ...]:
        return (cls.title, cls.cid)


class ApplicationRow(RecordRow):
    __tablename__ = "catalog_applications"
    KIND = Kind.APPLICATION

    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(50))
    workflow_cid: Mapped[str] = mapped_column(String(100), index=True)
    description: Mapped[str] = mapped_column(Text)
    inputs: Mapped[list[str]] = mapped_column(JSON)
    outputs: Mapped[list[str]] = mapped_column(JSON)
    parameters_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    price: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    @classmethod
    def reference_columns(cls) -> tuple[InstrumentedAttribute[str], ...]:
        return (cls.name,)


class PlatformRow(RecordRow):
    __tablename__ = "catalog_platforms"
    KIND = Kind.PLATFORM

    name: Mapped[str] = mapped_column(String(200), index=True)
    age_recipient: Mapped[str] = mapped_column(String(100))
    cpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    gpus: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    prices: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    @classmethod
    def reference_columns(cls) -> tuple[InstrumentedAttribute[str], ...]:
        return (cls.name,)


class TaskRow(RecordRow):
    __tablename__ = "catalog_tasks"
    KIND = Kind.TASK

    address: Mapped[str] = mapped_column(String(42), index=True)
    application_id: Mapped[str] = mapped_column(String(100), index=True)
    platform_id: Mapped[str] = mapped_column(String(100), index=True)
    inputs: Mapped[dict[str, str]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    results_recipient: Mapped[str] = mapped_column(String(100))


class ResultRow(RecordRow):
    __tablename__ = "catalog_results"
    KIND = Kind.RESULT

    task: Mapped[str] = mapped_column(String(42), index=True)
    name: Mapped[str] = mapped_column(String(200))
    cid: Mapped[str] = mapped_column(String(100), index=True)
    plaintext_cid: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    run_cid: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(100))


ROW_TYPES: dict[Kind, type[RecordRow]] = {
    row.KIND: row for row in (DatasetRow, ApplicationRow, PlatformRow, TaskRow, ResultRow)
}
