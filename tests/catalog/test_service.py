"""The catalogue: signed records, searches by area/time/text, tampered rows named by field."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import create_engine, text

from eotrust.catalog.describe import describe_raster
from eotrust.catalog.entries import ApplicationInfo, Body, DatasetInfo, Kind, PlatformInfo, Record, TaskInfo
from eotrust.catalog.service import Catalog
from eotrust.cid import cid_of_bytes
from eotrust.errors import IntegrityError, InvalidInputError, NotFoundError
from eotrust.settings import Settings

NDVI = Path(__file__).resolve().parents[1] / "data" / "slovenia-s2-ndvi" / "ndvi.tif"


@pytest.fixture
def catalog(settings: Settings) -> Catalog:
    return Catalog(settings)


@pytest.fixture
def owner() -> LocalAccount:
    return cast(LocalAccount, Account.create())  # eth_account's @combomethod hides create()'s type


def _dataset(
    title: str, bbox: tuple[float, float, float, float] | None, start: str, end: str, **kw: Any
) -> DatasetInfo:
    return DatasetInfo(title=title, cid=cid_of_bytes(title.encode()), size=10, bbox=bbox, start=start, end=end, **kw)


def _alter(settings: Settings, sql: str) -> None:
    """Change the catalogue database behind the service's back (SQLite or PostgreSQL)."""
    engine = create_engine(settings.catalog_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def test_register_and_get_round_trip(catalog: Catalog, owner: LocalAccount) -> None:
    info = _dataset("NDVI", (14.5, 45.8, 14.6, 45.9), "2016-01-01", "2016-12-31", bands=["a", "b"])
    record = catalog.register(owner, info)
    assert record.id == cid_of_bytes(record.signed_bytes())
    assert record.owner == owner.address
    got = catalog.get(record.id)
    assert got == record
    assert got.narrow(DatasetInfo).body.start == "2016-01-01T00:00:00Z"
    # registering the same signed record again is idempotent
    assert catalog.add(record) == record
    assert len(catalog.list(Kind.DATASET)) == 1


def test_a_record_of_another_kind_is_refused_where_one_kind_is_meant(catalog: Catalog, owner: LocalAccount) -> None:
    # a dataset's id given where a platform is meant: no platform record, not a dataset read as one
    dataset = catalog.register(owner, _dataset("NDVI", (14.5, 45.8, 14.6, 45.9), "2016-01-01", "2016-12-31"))
    with pytest.raises(NotFoundError, match="no catalogue platform record"):
        catalog.get(dataset.id, Kind.PLATFORM)
    read = catalog.get(dataset.id)  # any kind: typed by what it is only once narrowed
    assert read.narrow(DatasetInfo).body.title == "NDVI"
    with pytest.raises(InvalidInputError, match="is a dataset record, not a platform record"):
        read.narrow(PlatformInfo)


def test_record_json_round_trip_and_check(owner: LocalAccount) -> None:
    record = Record.sign(Kind.PLATFORM, PlatformInfo(name="p", age_recipient="age1abc"), owner)
    again = Record.from_json(record.to_json())
    assert again == record
    again.check()
    forged = again.model_copy(update={"owner": Account.create().address})
    with pytest.raises(IntegrityError, match="no longer matches its id"):
        forged.check()


def test_search_by_bbox_time_and_text(catalog: Catalog, owner: LocalAccount) -> None:
    slovenia = catalog.register(
        owner, _dataset("Slovenia NDVI", (14.5, 45.8, 14.6, 45.9), "2015-07-11", "2017-12-22", keywords=["sentinel-2"])
    )
    france = catalog.register(owner, _dataset("Paris labels", (2.2, 48.8, 2.4, 48.9), "2020-01-01", "2020-02-01"))
    app = catalog.register(
        owner, ApplicationInfo(name="landcover", workflow_cid=cid_of_bytes(b"wf"), description="land cover mapping")
    )

    def ids(records: Iterable[Record[Body]]) -> set[str]:
        return {r.id for r in records}

    assert ids(catalog.search(bbox=(14.0, 45.0, 15.0, 46.0))) == {slovenia.id}
    assert ids(catalog.search(bbox=(0.0, 0.0, 1.0, 1.0))) == set()
    assert ids(catalog.search(start="2019-06-01")) == {france.id}
    assert ids(catalog.search(end="2016-01-01")) == {slovenia.id}
    assert ids(catalog.search(start="2016-01-01", end="2016-02-01", bbox=(14.0, 45.0, 15.0, 46.0))) == {slovenia.id}
    assert ids(catalog.search(text="SENTINEL")) == {slovenia.id}
    assert ids(catalog.search(text="land cover")) == {app.id}
    assert ids(catalog.search(text="labels", kind="dataset")) == {france.id}
    assert ids(catalog.search()) == {slovenia.id, france.id, app.id}
    with pytest.raises(InvalidInputError):
        catalog.search(bbox=(1.0, 2.0, 3.0))
    with pytest.raises(InvalidInputError):
        catalog.search(start="yesterday")


def test_find_by_name_and_missing(catalog: Catalog, owner: LocalAccount) -> None:
    rec = catalog.register(owner, PlatformInfo(name="hpc-1", age_recipient="age1xyz", cpus=8, memory_mb=32000, gpus=1))
    assert catalog.find("hpc-1", Kind.PLATFORM) == rec
    assert catalog.find(rec.id, Kind.PLATFORM) == rec
    with pytest.raises(NotFoundError):
        catalog.find("nope", Kind.PLATFORM)
    with pytest.raises(NotFoundError):
        catalog.get(cid_of_bytes(b"nothing"))


def test_tasks_and_results_are_signed_too(catalog: Catalog, owner: LocalAccount) -> None:
    task = catalog.register(
        owner,
        TaskInfo(
            address="0x" + "11" * 20, application_id="a", platform_id="p", inputs={"x": "d"}, results_recipient="age1q"
        ),
    )
    assert catalog.task("0x" + "11" * 20, submitter=owner.address) == task
    assert catalog.task("0x" + "11" * 20, submitter=None) == task
    with pytest.raises(NotFoundError):
        catalog.task("0x" + "22" * 20, submitter=owner.address)
    with pytest.raises(NotFoundError):  # only the submitter's record counts
        catalog.task("0x" + "11" * 20, submitter="0x" + "33" * 20)


@pytest.mark.parametrize(
    ("sql", "field"),
    [
        ("UPDATE catalog_datasets SET title = 'Slovenia NDVJ'", "title"),
        ("UPDATE catalog_datasets SET bbox_west = 14.4", "bbox"),
        ("UPDATE catalog_datasets SET cid = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG'", "cid"),
        ("UPDATE catalog_datasets SET body = replace(body, 'proprietary', 'CC-BY-4.0')", "licence"),
        ("UPDATE catalog_datasets SET owner = '0x0000000000000000000000000000000000000001'", "content"),
        ("UPDATE catalog_datasets SET signature = '00' || substr(signature, 3)", "signature"),
    ],
)
def test_tampered_row_is_named(catalog: Catalog, owner: LocalAccount, settings: Settings, sql: str, field: str) -> None:
    record = catalog.register(owner, _dataset("Slovenia NDVI", (14.5, 45.8, 14.6, 45.9), "2016-01-01", "2016-02-01"))
    # read first, so that the checked record is kept (eotrust.catalog.checked): an edit made
    # afterwards must still be found, not answered from what was kept
    assert catalog.get(record.id) == record and [r.id for r in catalog.search(text="Slovenia")] == [record.id]
    _alter(settings, sql)
    with pytest.raises(IntegrityError) as err:
        catalog.get(record.id)
    message = str(err.value)
    assert record.id in message
    if field == "content":
        assert "no longer matches its id" in message
    else:
        assert f"field '{field}'" in message
    # a search that meets the tampered row leaves it out and names it, never returns it quietly
    # (one row the holder of a shared database wrote must not fail every listing)
    found = catalog.search(text="Slovenia")
    assert found == [] and [s.id for s in found.skipped] == [record.id]


def test_describe_raster_reads_footprint_dates_and_cid() -> None:
    from eotrust.cid import cid_of_file

    info = describe_raster(NDVI, title="NDVI", keywords=["ndvi"])
    assert info.cid == cid_of_file(NDVI)
    assert info.crs == "EPSG:32633"
    assert info.bbox is not None
    west, south, east, north = info.bbox
    assert 14.5 < west < east < 14.6 and 45.8 < south < north < 45.9
    assert info.start == "2015-07-11T10:00:08Z" and info.end == "2017-12-22T10:04:15Z"
    assert len(info.bands) == 68


def test_describe_rejects_non_raster(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(InvalidInputError):
        describe_raster(bad)


def test_long_free_text_is_kept(catalog: Catalog, owner: LocalAccount) -> None:
    # the column lengths document typical sizes; no backend cuts or refuses a longer title
    title = "Sentinel-2 NDVI time series " * 20
    record = catalog.register(owner, _dataset(title, (14.5, 45.8, 14.6, 45.9), "2016-01-01", "2016-02-01"))
    # a platform's name names its node's directories: 64 characters at most (eotrust.names)
    platform = catalog.register(owner, PlatformInfo(name="p" * 64, age_recipient="age1" + "q" * 150))
    assert catalog.get(record.id).narrow(DatasetInfo).body.title == title
    assert catalog.find("p" * 64, Kind.PLATFORM) == platform


def test_catalog_opened_by_many_at_once(settings: Settings) -> None:
    # several processes starting on an empty database create the tables once, without errors
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        catalogs = list(pool.map(lambda _: Catalog(settings), range(6)))
    record = catalogs[0].register(Account.create(), PlatformInfo(name="hpc", age_recipient="age1abc"))
    assert all(c.get(record.id) == record for c in catalogs)


def test_same_record_added_at_once_is_stored_once(settings: Settings, owner: LocalAccount) -> None:
    from concurrent.futures import ThreadPoolExecutor

    Catalog(settings)  # tables created once
    record = Record.sign(Kind.PLATFORM, PlatformInfo(name="hpc", age_recipient="age1abc"), owner)
    catalogs = [Catalog(settings) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(lambda c: c.add(record), catalogs)) == [record] * 6
    assert catalogs[0].list(Kind.PLATFORM) == [record]


def test_text_search_joins_words_by_hyphen_space_underscore_or_nothing(catalog: Catalog, owner: LocalAccount) -> None:
    hyphen = catalog.register(
        owner, ApplicationInfo(name="a", workflow_cid=cid_of_bytes(b"1"), description="Land-cover mapping")
    )
    joined = catalog.register(owner, ApplicationInfo(name="landcover-mapping", workflow_cid=cid_of_bytes(b"2")))
    catalog.register(
        owner, ApplicationInfo(name="c", workflow_cid=cid_of_bytes(b"3"), description="land use; cover crops")
    )
    found = {r.id for r in catalog.search(text="land cover")}
    assert found == {hyphen.id, joined.id}
    assert {r.id for r in catalog.search(text="LAND_COVER")} == found
    assert {r.id for r in catalog.search(text="100%")} == set()


def test_a_record_body_is_bounded_when_written_and_when_read_back(
    catalog: Catalog, owner: LocalAccount, settings: Settings
) -> None:
    """Attack: the holder of the shared database writes a row whose body is megabytes long;
    every search parsed it. A body over MAX_BODY_CHARS is refused when signed and when read."""
    from eotrust.catalog.records import MAX_BODY_CHARS

    with pytest.raises(InvalidInputError, match="at most"):
        catalog.register(owner, _dataset("long", None, "2020-01-01", "2020-02-01", description="x" * MAX_BODY_CHARS))
    assert catalog.list(Kind.DATASET) == []
    rec = catalog.register(owner, _dataset("short", None, "2020-01-01", "2020-02-01"))
    _alter(settings, f"UPDATE catalog_datasets SET body = '{' ' * (MAX_BODY_CHARS + 1)}' WHERE id = '{rec.id}'")
    with pytest.raises(IntegrityError, match="characters, over"):
        catalog.get(rec.id, Kind.DATASET)


def test_a_row_read_again_is_not_checked_again_unless_it_changed(
    catalog: Catalog, owner: LocalAccount, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing a catalogue rechecked every row on every request (a signature recovery each,
    ~1 ms): the checked record is kept by the row's whole content."""
    from eotrust.catalog.records import RecordRow

    records = [
        catalog.register(owner, _dataset(f"d{i}", (14.5, 45.8, 14.6, 45.9), "2016-01-01", "2016-02-01"))
        for i in range(5)
    ]
    checks = []
    original = RecordRow.to_record

    def counted(row: RecordRow) -> Record[Body]:
        checks.append(row.id)
        return original(row)

    def by_id(found: Iterable[Record[Body]]) -> list[Record[Body]]:
        return sorted(found, key=lambda r: r.id)

    monkeypatch.setattr(RecordRow, "to_record", counted)
    assert by_id(catalog.list(Kind.DATASET)) == by_id(records) and len(checks) == 5
    assert by_id(catalog.list(Kind.DATASET)) == by_id(records) == by_id(catalog.search(text="d"))
    assert catalog.get(records[0].id) == records[0] and len(checks) == 5  # nothing checked again
    _alter(settings, f"UPDATE catalog_datasets SET title = 'd9' WHERE id = '{records[2].id}'")
    assert [s.id for s in catalog.list(Kind.DATASET).skipped] == [records[2].id]
    assert checks[5:] == [records[2].id]  # only the changed row was checked again (and failed)


def test_the_kept_records_are_bounded_by_their_bodies(owner: LocalAccount) -> None:
    from eotrust.catalog.checked import CheckedRecords
    from eotrust.catalog.records import ROW_TYPES

    signed = [
        Record.sign(Kind.DATASET, _dataset(f"d{i}", (14.5, 45.8, 14.6, 45.9), "2016-01-01", "2016-02-01"), owner)
        for i in range(5)
    ]
    rows = [ROW_TYPES[Kind.DATASET].from_record(r) for r in signed]
    fits = 1200 // max(len(r.body) for r in rows)
    assert 0 < fits < 5
    kept = CheckedRecords(max_chars=1200)
    assert [kept.record_of(row) for row in rows] == signed
    assert len(kept) == fits  # the least recently used went first


def test_a_name_two_owners_use_is_refused_not_given_to_the_newest(catalog: Catalog, owner: LocalAccount) -> None:
    """Attack (name squatting): a stranger registers an application, platform or dataset under
    a name another party's record has. `find` gave the newest match, so every submitter who
    named it (`flow request --application landcover-mapping`, `-i ndvi="Slovenia NDVI"`) got the
    stranger's record. Now a name held by two owners is refused, naming their record ids; one
    owner's newer record of its own name is still the one found."""
    stranger = cast(LocalAccount, Account.create())
    mine = catalog.register(owner, ApplicationInfo(name="shared", version="1", workflow_cid=cid_of_bytes(b"wf1")))
    later = datetime.now(UTC) + timedelta(seconds=5)
    again = catalog.register(
        owner, ApplicationInfo(name="shared", version="2", workflow_cid=cid_of_bytes(b"wf1")), created=later
    )
    assert catalog.find("shared", Kind.APPLICATION) == again  # an owner's newer version of its own
    squat = catalog.register(stranger, ApplicationInfo(name="shared", version="3", workflow_cid=cid_of_bytes(b"wf2")))
    with pytest.raises(InvalidInputError, match="2 owners") as caught:
        catalog.find("shared", Kind.APPLICATION)
    assert squat.id in caught.value.message and again.id in caught.value.message
    assert caught.value.hint and "record id" in caught.value.hint
    assert catalog.find(mine.id, Kind.APPLICATION) == mine  # by id: never ambiguous
    catalog.register(owner, PlatformInfo(name="p1", age_recipient="age1xyz"))
    catalog.register(stranger, PlatformInfo(name="p1", age_recipient="age1xyz"))
    with pytest.raises(InvalidInputError, match="2 owners"):
        catalog.find("p1", Kind.PLATFORM)
    with pytest.raises(InvalidInputError, match="2 owners"):
        catalog.find("p1")  # any kind
