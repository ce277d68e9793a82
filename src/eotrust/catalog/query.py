"""Space, time and id filters of catalogue records as SQL conditions, so that a search reads
only the rows it returns (STAC item search, :meth:`eotrust.catalog.service.Catalog.select`).

Every row a query returns is still checked against its signed record when it is read (its
columns must match the signed body, the body must re-hash to the id and carry its owner's
signature), so a row edited *into* the results is reported, never returned. A row edited *out*
of them is not seen, exactly as a deleted one is not: the holder of the database can always
withhold a record, and no signature can prove that one is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, true

from eotrust.catalog.records import DatasetRow, RecordRow
from eotrust.clock import utc_iso

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Filter:
    """What a search asks for. ``bbox`` is west, south, east, north (west > east crosses the
    antimeridian); ``start``/``end`` bound an interval (None: open)."""

    ids: Sequence[str] | None = None
    bbox: BBox | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def timed(self) -> bool:
        return self.start is not None or self.end is not None


def _bbox_condition(bbox: BBox) -> ColumnElement[bool]:
    west, south, east, north = bbox
    if west > east:  # crosses the antimeridian
        lon = or_(DatasetRow.bbox_east >= west, DatasetRow.bbox_west <= east)
    else:
        lon = and_(DatasetRow.bbox_east >= west, DatasetRow.bbox_west <= east)
    return and_(lon, DatasetRow.bbox_north >= south, DatasetRow.bbox_south <= north)


def _time_condition(first: Any, last: Any, q: Filter) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if q.end is not None:
        parts.append(first <= utc_iso(q.end))
    if q.start is not None:
        parts.append(last >= utc_iso(q.start))
    return and_(true(), *parts)


def conditions(row_type: type[RecordRow], q: Filter) -> list[ColumnElement[bool]]:
    """The WHERE conditions of ``q`` for rows of ``row_type``. Times of a record: a dataset's
    ``start``..``end`` (its creation time where it names none), any other record's creation."""
    out: list[ColumnElement[bool]] = []
    if q.ids is not None:
        out.append(row_type.id.in_(list(q.ids)))
    if row_type is DatasetRow:
        if q.bbox is not None:
            out.append(_bbox_condition(q.bbox))
        if q.timed:
            first = func.coalesce(DatasetRow.start, DatasetRow.end, DatasetRow.created)
            last = func.coalesce(DatasetRow.end, DatasetRow.start, DatasetRow.created)
            out.append(_time_condition(first, last, q))
    elif q.timed:
        out.append(_time_condition(row_type.created, row_type.created, q))
    return out
