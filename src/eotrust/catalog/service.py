"""The catalogue as a library: register signed records, search them, read them back checked.

>>> catalog = open_catalog(settings)     # or Backends(settings).catalog, sharing one engine
>>> record = catalog.register(party.account, DatasetInfo(title="NDVI", cid=..., size=...))
>>> catalog.search(bbox=(14.0, 45.0, 15.0, 47.0), start="2016-01-01", text="ndvi")

Every record read from the database is checked (fields, id, signature) before it is returned;
a tampered row read by its id raises IntegrityError naming the record and the field, and a
listing (``list``, ``select``, ``search``) leaves it out and names it in its ``skipped``
(:mod:`eotrust.catalog.listing`), so that one row nobody signed cannot fail every listing.
"""

from __future__ import annotations

import builtins
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar, overload

from pydantic import ValidationError
from sqlalchemy import Select, Table, func, or_, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from eotrust.catalog.checked import CheckedRecords
from eotrust.catalog.db import open_session_factory, shown_url
from eotrust.catalog.entries import (
    BODY_TYPES,
    ApplicationInfo,
    Body,
    BodyT,
    DatasetInfo,
    Kind,
    PlatformInfo,
    Record,
    ResultInfo,
    TaskInfo,
    _normalise_time,
)
from eotrust.catalog.listing import Listing, Skipped
from eotrust.catalog.query import Filter, conditions
from eotrust.catalog.records import (
    ROW_TYPES,
    ApplicationRow,
    DatasetRow,
    PlatformRow,
    RecordRow,
    ResultRow,
    TaskRow,
)
from eotrust.crypto.signing import Owner, account_of
from eotrust.errors import (
    BackendUnavailableError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    QuotaExceededError,
    first_problem,
)
from eotrust.settings import Settings

#: A task's or a result's record body (both name their chain).
TaskOrResult = TypeVar("TaskOrResult", TaskInfo, ResultInfo)

_KIND_OF: dict[type[Body], Kind] = {
    DatasetInfo: Kind.DATASET,
    ApplicationInfo: Kind.APPLICATION,
    PlatformInfo: Kind.PLATFORM,
    TaskInfo: Kind.TASK,
    ResultInfo: Kind.RESULT,
}

SEARCHABLE = (Kind.DATASET, Kind.APPLICATION, Kind.PLATFORM)
#: Kinds an owner registers at will, so each owner's count is bounded
#: (``catalog_max_records_per_owner``); a task or result record belongs to a task on the chain.
QUOTA_KINDS = SEARCHABLE


def open_sessions(settings: Settings) -> sessionmaker[Session]:
    """The catalogue database's session factory (its engine made and its tables created now);
    an unreachable database is one BackendUnavailableError."""
    try:
        return open_session_factory(settings)
    except OperationalError as exc:
        raise BackendUnavailableError(
            f"cannot open the catalogue database {shown_url(settings)}: {exc.orig}",
            hint="check EOTRUST_CATALOG_URL",
        ) from None


def open_catalog(
    settings: Settings,
    *,
    sessions: sessionmaker[Session] | None = None,
    on_skip: Callable[[Sequence[Skipped]], None] | None = None,
) -> Catalog:
    """The catalogue the settings name, over ``sessions`` when given (one engine shared with
    the registry, the deployments and the API keys: see ``eotrust.backends.Backends``);
    ``on_skip`` is told of the rows each listing leaves out (the server logs them)."""
    return Catalog(settings, sessions=sessions if sessions is not None else open_sessions(settings), on_skip=on_skip)


#: Owners a refused ambiguous reference names at most (their newest records' ids).
MAX_NAMED_OWNERS = 5


class Catalog:
    """Signed records of datasets, applications, platforms, tasks and results."""

    def __init__(
        self,
        settings: Settings,
        *,
        sessions: sessionmaker[Session] | None = None,
        on_skip: Callable[[Sequence[Skipped]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_skip = on_skip
        self._sessions = sessions if sessions is not None else open_sessions(settings)
        self._checked = CheckedRecords()  # a row read again is not checked again (unless it changed)

    # -- writing -------------------------------------------------------------
    def register(self, owner: Owner, body: BodyT, *, created: datetime | None = None) -> Record[BodyT]:
        """Sign ``body`` with the owner's key and store it; registering the same record twice
        returns the stored one (records are content-addressed)."""
        kind = _KIND_OF.get(type(body))
        if kind is None:
            raise InvalidInputError(f"cannot catalogue a {type(body).__name__}")
        record = Record.sign(kind, body, account_of(owner, "a catalogue record"), created=created)
        return self.add(record)

    def add(self, record: Record[BodyT]) -> Record[BodyT]:
        """Store an already signed record (checked first); idempotent. A new record of a
        :data:`QUOTA_KINDS` kind is refused once its owner holds ``catalog_max_records_per_owner``
        of that kind (each registration signs a new record, so re-posting one would otherwise
        add rows without end)."""
        record.check()
        _check_body(record)
        row_type = ROW_TYPES[record.kind]
        try:
            with self._sessions.begin() as session:
                if session.get(row_type, record.id) is None:
                    if record.kind in QUOTA_KINDS:
                        self._check_quota(session, record)
                    session.add(row_type.from_record(record))
        except DBIntegrityError:  # the same record added by someone else at the same moment
            with self._sessions() as session:
                if session.get(row_type, record.id) is None:
                    raise
        return record

    def _check_quota(self, session: Session, record: Record[Any]) -> None:
        row_type = ROW_TYPES[record.kind]
        most = self.settings.catalog_max_records_per_owner
        held = session.scalar(select(func.count()).select_from(row_type).where(row_type.owner == record.owner)) or 0
        if held >= most:
            raise QuotaExceededError(
                f"owner {record.owner} already holds {held} {record.kind.value} records; one owner may hold at most {most}",
                hint="ask the catalogue's operator to raise catalog_max_records_per_owner",
            )

    def register_dataset(self, owner: Owner, info: DatasetInfo) -> Record[DatasetInfo]:
        return self.register(owner, info)

    def register_application(self, owner: Owner, info: ApplicationInfo) -> Record[ApplicationInfo]:
        return self.register(owner, info)

    def register_platform(self, owner: Owner, info: PlatformInfo) -> Record[PlatformInfo]:
        return self.register(owner, info)

    # -- reading -------------------------------------------------------------
    @overload
    def get(self, record_id: str, kind: Literal[Kind.DATASET]) -> Record[DatasetInfo]: ...
    @overload
    def get(self, record_id: str, kind: Literal[Kind.APPLICATION]) -> Record[ApplicationInfo]: ...
    @overload
    def get(self, record_id: str, kind: Literal[Kind.PLATFORM]) -> Record[PlatformInfo]: ...
    @overload
    def get(self, record_id: str, kind: Literal[Kind.TASK]) -> Record[TaskInfo]: ...
    @overload
    def get(self, record_id: str, kind: Literal[Kind.RESULT]) -> Record[ResultInfo]: ...
    @overload
    def get(self, record_id: str, kind: Kind | None = None) -> Record[Body]: ...
    def get(self, record_id: str, kind: Kind | None = None) -> Record[Body]:
        """The checked record with this id (any kind unless ``kind`` is given)."""
        kinds = [kind] if kind else list(ROW_TYPES)
        with self._sessions() as session:
            for k in kinds:
                try:
                    row = session.get(ROW_TYPES[k], record_id)
                except ValueError as exc:  # a column that does not load (not JSON in a JSON column)
                    raise _unreadable(k, record_id, exc) from None
                if row is not None:
                    return self._checked.record_of(row)
        what = f"{kind.value} record" if kind else "record"
        raise NotFoundError(f"no catalogue {what} {record_id}", hint="run `eotrust catalog search` to list records")

    @overload
    def find(self, ref: str, kind: Literal[Kind.DATASET]) -> Record[DatasetInfo]: ...
    @overload
    def find(self, ref: str, kind: Literal[Kind.APPLICATION]) -> Record[ApplicationInfo]: ...
    @overload
    def find(self, ref: str, kind: Literal[Kind.PLATFORM]) -> Record[PlatformInfo]: ...
    @overload
    def find(self, ref: str, kind: Literal[Kind.TASK]) -> Record[TaskInfo]: ...
    @overload
    def find(self, ref: str, kind: Literal[Kind.RESULT]) -> Record[ResultInfo]: ...
    @overload
    def find(self, ref: str, kind: Kind | None = None) -> Record[Body]: ...
    def find(self, ref: str, kind: Kind | None = None) -> Record[Body]:
        """The one resolver of catalogue references (CLI, API and library alike): a record by
        id; else an application or platform by name, a dataset by title or by the CID of its
        bytes — the newest match. Without ``kind``: a record of any kind by id, else the
        applications, platforms and datasets, in that order."""
        try:
            return self.get(ref, kind)
        except NotFoundError:
            pass
        for k in [kind] if kind else list(SEARCHABLE[1:] + SEARCHABLE[:1]):
            row_type = ROW_TYPES[k]
            columns = row_type.reference_columns()
            if not columns:
                continue
            with self._sessions() as session:
                matches = or_(*(c == ref for c in columns))
                first = select(row_type).where(matches).order_by(row_type.created.desc(), row_type.id)
                try:
                    row = session.scalars(first).first()
                except ValueError as exc:  # a column that does not load (not JSON in a JSON column)
                    raise _unreadable(k, session.scalars(first.with_only_columns(row_type.id)).first(), exc) from None
                if row is None:
                    continue
                owners = session.scalars(
                    select(func.lower(row_type.owner)).where(matches).distinct().limit(MAX_NAMED_OWNERS + 1)
                ).all()
                if len(owners) > 1:  # anyone may register any name: the newest is not the one meant
                    newest: dict[str, str] = {}  # owner -> the id of its newest record of the name
                    for record_id, who in session.execute(
                        select(row_type.id, func.lower(row_type.owner))
                        .where(matches, func.lower(row_type.owner).in_(owners))
                        .order_by(row_type.created.desc(), row_type.id)
                    ):
                        newest.setdefault(who, record_id)
                    ids = builtins.list(newest.values())[:MAX_NAMED_OWNERS]
                    many = f"{len(owners)}" if len(owners) <= MAX_NAMED_OWNERS else f"more than {MAX_NAMED_OWNERS}"
                    raise InvalidInputError(
                        f"{k.value} {ref!r} names records of {many} owners ({', '.join(ids)}): which one is meant "
                        "is not for the newest to decide",
                        hint="give the record id (`eotrust catalog search` lists them with their owners)",
                    )
                return self._checked.record_of(row)
        what = kind.value if kind else "record"
        how = "id, title or CID" if kind is Kind.DATASET else "id or name"
        raise NotFoundError(f"no catalogue {what} with {how} {ref!r}", hint="run `eotrust catalog search`")

    @overload
    def list(
        self, kind: Literal[Kind.DATASET], *, owner: str | None = None, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[DatasetInfo]]: ...
    @overload
    def list(
        self, kind: Literal[Kind.APPLICATION], *, owner: str | None = None, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[ApplicationInfo]]: ...
    @overload
    def list(
        self, kind: Literal[Kind.PLATFORM], *, owner: str | None = None, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[PlatformInfo]]: ...
    @overload
    def list(
        self, kind: Literal[Kind.TASK], *, owner: str | None = None, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[TaskInfo]]: ...
    @overload
    def list(
        self, kind: Literal[Kind.RESULT], *, owner: str | None = None, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[ResultInfo]]: ...
    @overload
    def list(
        self, kind: Kind, *, owner: str | None = None, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[Any]]: ...
    def list(
        self, kind: Kind, *, owner: str | None = None, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[Any]]:
        """Records of ``kind``, oldest first; ``limit``/``offset`` page them in the database
        (only the rows of the page are read and checked). A row that fails its check is left
        out and named in the listing's ``skipped``: a page holds at most ``limit`` records."""
        row_type = ROW_TYPES[kind]
        query = select(row_type).order_by(row_type.created, row_type.id)
        if owner:
            query = query.where(row_type.owner == owner)
        if offset:
            query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return self._listed(row_type, query)

    @overload
    def search(
        self,
        *,
        bbox: Sequence[float] | None = None,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        text: str | None = None,
        kind: Literal[Kind.DATASET],
        owner: str | None = None,
    ) -> Listing[Record[DatasetInfo]]: ...
    @overload
    def search(
        self,
        *,
        bbox: Sequence[float] | None = None,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        text: str | None = None,
        kind: Literal[Kind.APPLICATION],
        owner: str | None = None,
    ) -> Listing[Record[ApplicationInfo]]: ...
    @overload
    def search(
        self,
        *,
        bbox: Sequence[float] | None = None,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        text: str | None = None,
        kind: Literal[Kind.PLATFORM],
        owner: str | None = None,
    ) -> Listing[Record[PlatformInfo]]: ...
    @overload
    def search(
        self,
        *,
        bbox: Sequence[float] | None = None,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        text: str | None = None,
        kind: Kind | str | None = None,
        owner: str | None = None,
    ) -> Listing[Record[Body]]: ...
    def search(
        self,
        *,
        bbox: Sequence[float] | None = None,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        text: str | None = None,
        kind: Kind | str | None = None,
        owner: str | None = None,
    ) -> Listing[Record[Any]]:
        """Datasets, applications and platforms matching every criterion given.

        ``bbox`` (west, south, east, north; WGS84) and ``start``/``end`` select datasets whose
        footprint and time range overlap; ``text`` matches names, titles, descriptions, CIDs and
        keywords, case-insensitively, as a plain substring.

        The criteria are applied to the signed records, never to the editable columns: every
        row of the kinds searched is read and checked first, so a row edited to fall out of
        (or into) the results is reported — named in the listing's ``skipped``, as is every row
        that fails its check — not silently hidden."""
        kinds: Iterable[Kind]
        if kind is None:
            kinds = SEARCHABLE if bbox is None and start is None and end is None else (Kind.DATASET,)
        else:
            kinds = (_kind(kind),)
        box: tuple[float, float, float, float] | None = None
        if bbox is not None:
            if len(bbox) != 4:
                raise InvalidInputError("a bbox is four numbers: west,south,east,north")
            west, south, east, north = (float(v) for v in bbox)
            if not all(math.isfinite(v) for v in (west, south, east, north)):  # NaN passes every order check
                raise InvalidInputError(f"bbox {list(bbox)}: every value must be a finite number (WGS84 degrees)")
            if west > east or south > north:
                raise InvalidInputError(f"bbox {list(bbox)} is not west,south,east,north")
            box = (west, south, east, north)
        try:
            q_start = _normalise_time(start)
            q_end = _normalise_time(end)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
        needle = text.lower() if text else None
        found: Listing[Record[Body]] = Listing()
        for k in kinds:
            row_type = ROW_TYPES[k]
            query: Select[Any] = select(row_type).order_by(row_type.created, row_type.id)
            listed = self._listed(row_type, query, report=False)
            found.skipped += listed.skipped
            for record in listed:
                if owner and record.owner.lower() != owner.lower():
                    continue
                if needle is not None and not _has_text(record, needle):
                    continue
                if k is Kind.DATASET and not _in_area_and_time(record, box, q_start, q_end):
                    continue
                found.append(record)
        self._report(found.skipped)
        return found

    @overload
    def select(
        self, kind: Literal[Kind.DATASET], where: Filter, *, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[DatasetInfo]]: ...
    @overload
    def select(
        self, kind: Literal[Kind.APPLICATION], where: Filter, *, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[ApplicationInfo]]: ...
    @overload
    def select(
        self, kind: Literal[Kind.PLATFORM], where: Filter, *, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[PlatformInfo]]: ...
    @overload
    def select(
        self, kind: Literal[Kind.TASK], where: Filter, *, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[TaskInfo]]: ...
    @overload
    def select(
        self, kind: Literal[Kind.RESULT], where: Filter, *, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[ResultInfo]]: ...
    @overload
    def select(
        self, kind: Kind, where: Filter, *, limit: int | None = None, offset: int = 0
    ) -> Listing[Record[Any]]: ...
    def select(self, kind: Kind, where: Filter, *, limit: int | None = None, offset: int = 0) -> Listing[Record[Any]]:
        """Records of ``kind`` matching ``where``, oldest first, filtered and paged (``limit``,
        ``offset``) by the database (see :mod:`eotrust.catalog.query`); each one returned is
        checked as it is read, and only those are read; one that fails its check is left out and
        named in the listing's ``skipped``."""
        row_type = ROW_TYPES[kind]
        query = select(row_type).where(*conditions(row_type, where)).order_by(row_type.created, row_type.id)
        if offset:
            query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return self._listed(row_type, query)

    def count(self, kind: Kind, where: Filter) -> int:
        """How many rows of ``kind`` match ``where`` (counted by the database, none read)."""
        row_type = ROW_TYPES[kind]
        with self._sessions() as session:
            return int(
                session.scalar(select(func.count()).select_from(row_type).where(*conditions(row_type, where))) or 0
            )

    def tasks(
        self, *, address: str | None = None, owner: str | None = None, chain: str | None = None
    ) -> builtins.list[Record[TaskInfo]]:
        """Task records, oldest first; with ``chain`` (a ``Chain.key``) only those of that chain,
        or, for an address with none of that chain, those that name no chain (made before records
        named their chain). ``chain`` None: every record, of whichever chain."""
        query = select(TaskRow).order_by(TaskRow.created, TaskRow.id)
        if address:
            query = query.where(TaskRow.address == address)
        if owner:
            query = query.where(func.lower(TaskRow.owner) == owner.lower())
        found = [r.narrow(TaskInfo) for r in self._run(query)]
        return found if chain is None else _of_chain(found, chain, lambda body: body.address)

    def task(self, address: str, *, submitter: str | None, chain: str | None = None) -> Record[TaskInfo]:
        """The record of the task at this contract address signed by its ``submitter`` (the
        contract's). Anyone may sign a record naming any address, so only the submitter's count
        (a stranger's are not even read), and two of the submitter's that differ are refused:
        which one counted would be the submitter's to arrange. ``chain``: the ``Chain.key`` of
        the contract's chain, whose records alone count (a dev chain started afresh gives its
        tasks the previous chain's addresses; see ``tasks``). ``None`` for ``submitter``, for
        displays only: the newest record of the address, whoever signed it."""
        found = self.tasks(address=address, owner=submitter, chain=chain)
        if not found:
            by = f" signed by its submitter {submitter}" if submitter else ""
            raise NotFoundError(f"no catalogue task record{by} for contract {address}")
        if submitter and any(r.body != found[0].body for r in found[1:]):
            raise IntegrityError(
                f"the submitter {submitter} signed two different records of task {address}",
                hint="neither counts: the task cannot run or be checked against its record",
            )
        return found[-1]

    def results(
        self, *, task: str | None = None, cid: str | None = None, chain: str | None = None
    ) -> builtins.list[Record[ResultInfo]]:
        """Result records, oldest first; ``chain`` as for ``tasks`` (by the task's address)."""
        query = select(ResultRow).order_by(ResultRow.created, ResultRow.id)
        if task:
            query = query.where(ResultRow.task == task)
        if cid:
            query = query.where(ResultRow.cid == cid)
        found = [r.narrow(ResultInfo) for r in self._run(query)]
        return found if chain is None else _of_chain(found, chain, lambda body: body.task)

    def results_of(self, task: str, *, platform_owner: str, chain: str | None = None) -> dict[str, ResultInfo]:
        """The platform owner's records of ``task``'s results (of ``chain``, as for ``results``),
        by ciphertext CID (another party's are not results of the task). A result it recorded
        twice differently is refused (IntegrityError): which record counted would be the
        platform's to arrange."""
        out: dict[str, ResultInfo] = {}
        mine = [r for r in self.results(task=task) if r.owner.lower() == platform_owner.lower()]
        for record in mine if chain is None else _of_chain(mine, chain, lambda body: body.task):
            known = out.setdefault(record.body.cid, record.body)
            if known != record.body:
                raise IntegrityError(
                    f"the platform owner recorded result {record.body.cid} of task {task} twice, differently "
                    f"(named {known.name[:80]!r} and {record.body.name[:80]!r})"
                )
        return out

    def fingerprint(self, *tables: Table) -> bytes:
        """A SHA-256 of every column of every row of the record tables and of ``tables`` (of the
        same database), read without checking a row: any change to the catalogue — a row added,
        removed or altered in any column, by whichever process — changes it. For keeping what is
        built from the whole catalogue until it changes (``eotrust.api.linked_data``)."""
        digest = hashlib.sha256()
        with self._sessions() as session:
            for table in (*(row.__table__ for row in ROW_TYPES.values()), *tables):
                assert isinstance(table, Table)
                digest.update(b"\x00table " + table.name.encode())
                for row in session.execute(select(*table.columns).order_by(*table.primary_key.columns)):
                    digest.update(b"\x01" + repr(tuple(row)).encode())
        return digest.digest()

    def _run(self, query: Select[Any]) -> builtins.list[Record[Body]]:
        """Every row of ``query``, checked: one that fails is an IntegrityError (the task and
        result records a check of a task is made of, which must not be quietly partial)."""
        with self._sessions() as session:
            return [self._checked.record_of(row) for row in session.scalars(query)]

    def _listed(self, row_type: type[RecordRow], query: Select[Any], *, report: bool = True) -> Listing[Record[Body]]:
        """The rows of ``query`` that pass their check, and those that do not as ``skipped``
        (told to ``on_skip`` when ``report``): one row nobody signed must not fail the listing."""
        try:
            with self._sessions() as session:
                rows = builtins.list(session.scalars(query))
        except ValueError:  # a row whose columns do not load: read the rows one at a time
            rows = None
        found: Listing[Record[Body]] = Listing()
        if rows is None:
            with self._sessions() as session:
                ids = builtins.list(session.scalars(query.with_only_columns(row_type.id)))
            rows = []
            for row_id in ids:
                try:
                    with self._sessions() as session:
                        row = session.get(row_type, row_id)
                except ValueError as exc:
                    found.skipped.append(
                        Skipped.of(row_id, row_type.KIND, _unreadable(row_type.KIND, row_id, exc).message)
                    )
                    continue
                if row is not None:
                    rows.append(row)
        for row in rows:
            try:
                found.append(self._checked.record_of(row))
            except IntegrityError as exc:
                found.skipped.append(Skipped.of(row.id, row_type.KIND, exc.message))
        if report:
            self._report(found.skipped)
        return found

    def _report(self, skipped: Sequence[Skipped]) -> None:
        if skipped and self.on_skip is not None:
            self.on_skip(skipped)


def _of_chain(
    records: builtins.list[Record[TaskOrResult]], chain: str, address_of: Callable[[TaskOrResult], str]
) -> builtins.list[Record[TaskOrResult]]:
    """``records`` of ``chain``; for an address with none of that chain, those that name no
    chain (made before records named their chain: they may be of any chain). The chain key is
    inside the signed body, so no one can move a record to another chain."""
    ours = {address_of(r.body).lower() for r in records if r.body.chain == chain}
    return [
        r for r in records if r.body.chain == chain or (r.body.chain is None and address_of(r.body).lower() not in ours)
    ]


def _unreadable(kind: Kind, record_id: object, exc: Exception) -> IntegrityError:
    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
    return IntegrityError(
        f"catalogue {kind.value} record {record_id}: a column of its row does not load ({reason})",
        hint="the row was altered",
    )


def _kind(value: Kind | str) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise InvalidInputError(
            f"unknown kind {value!r}", hint="use " + ", ".join(k.value for k in SEARCHABLE)
        ) from None


def _has_text(record: Record[Body], needle: str) -> bool:
    """Case-insensitive substring over the signed body's names, titles, descriptions, CIDs and
    keywords; words of a several-word text may be joined by a space, a hyphen, an underscore or
    nothing ("land cover" finds "Land-cover", "land_cover" and "landcover")."""
    body = record.body.canonical()
    values = [str(body.get(key) or "") for key in ("title", "name", "description", "cid", "workflow_cid")]
    values += [str(k) for k in body.get("keywords") or []]
    words = [w for w in re.split(r"[\s\-_]+", needle.strip().lower()) if w]
    if len(words) > 1:
        joined = "".join(words)
        return any(joined in re.sub(r"[\s\-_]+", "", v.lower()) for v in values)
    return any(needle.strip().lower() in v.lower() for v in values)


def _in_area_and_time(
    record: Record[Body], box: tuple[float, float, float, float] | None, q_start: Any, q_end: Any
) -> bool:
    body = record.body.canonical()
    if box is not None:
        bb = body.get("bbox")
        if not bb:
            return False
        west, south, east, north = box
        if not (bb[0] <= east and bb[2] >= west and bb[1] <= north and bb[3] >= south):
            return False
    if q_start is not None and body.get("end") is not None and body["end"] < q_start:
        return False
    if q_end is not None and body.get("start") is not None and body["start"] > q_end:
        return False
    return True


def _check_body(record: Record[Any]) -> None:
    """InvalidInputError unless the record's body is one its kind's model accepts (a body built
    without validation, signed all the same, would be refused by every later read)."""
    try:
        BODY_TYPES[record.kind].model_validate(record.body.model_dump(mode="json"))
    except ValidationError as exc:
        raise InvalidInputError(f"invalid {record.kind.value} record: {first_problem(exc)}") from None


__all__ = [
    "ApplicationInfo",
    "ApplicationRow",
    "Catalog",
    "DatasetInfo",
    "DatasetRow",
    "Kind",
    "Listing",
    "PlatformInfo",
    "PlatformRow",
    "Record",
    "ResultInfo",
    "Skipped",
    "TaskInfo",
]
