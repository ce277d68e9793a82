"""The catalogue on a real PostgreSQL server: the SQLite tests of the catalogue service, the model
registry and the API keys, run again with ``EOTRUST_CATALOG_URL=postgresql+psycopg://…``.

The tests are the same functions (imported, not copied); only the ``settings`` fixture differs:
here it points the catalogue at a fresh database on the throwaway server of ``conftest.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import create_engine, inspect

from eotrust.settings import Settings, load_settings

TESTS = Path(__file__).resolve().parents[1]
for _layer in ("ml", "api"):  # the modules below import their neighbours (tiny_models …) by bare name
    if str(TESTS / _layer) not in sys.path:
        sys.path.insert(0, str(TESTS / _layer))

from test_keys import (  # noqa: E402
    test_bad_keys_and_scopes,
    test_cli,
    test_create_verify_revoke,
    test_only_the_hash_is_stored,
)
from test_registry import (  # noqa: E402
    packages,
    test_cached_copy_is_refetched_when_altered,
    test_concurrent_registrations_get_distinct_versions,
    test_tampered_package_is_not_registered,
    test_versions_lineage_and_lookup,
)
from test_service import (  # noqa: E402
    _alter,
    _dataset,
    catalog,
    owner,
    test_catalog_opened_by_many_at_once,
    test_find_by_name_and_missing,
    test_long_free_text_is_kept,
    test_register_and_get_round_trip,
    test_same_record_added_at_once_is_stored_once,
    test_search_by_bbox_time_and_text,
    test_tampered_row_is_named,
    test_tasks_and_results_are_signed_too,
)

from eotrust.catalog.entries import Kind  # noqa: E402
from eotrust.catalog.service import Catalog  # noqa: E402
from eotrust.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.server

__all__ = [  # the imported tests and fixtures, collected here a second time against PostgreSQL
    "catalog",
    "owner",
    "packages",
    "test_catalog_opened_by_many_at_once",
    "test_long_free_text_is_kept",
    "test_same_record_added_at_once_is_stored_once",
    "test_bad_keys_and_scopes",
    "test_cached_copy_is_refetched_when_altered",
    "test_cli",
    "test_concurrent_registrations_get_distinct_versions",
    "test_create_verify_revoke",
    "test_find_by_name_and_missing",
    "test_only_the_hash_is_stored",
    "test_register_and_get_round_trip",
    "test_search_by_bbox_time_and_text",
    "test_tampered_package_is_not_registered",
    "test_tampered_row_is_named",
    "test_tasks_and_results_are_signed_too",
    "test_versions_lineage_and_lookup",
]


@pytest.fixture
def settings(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose catalogue is a fresh PostgreSQL database (the CLI in a test sees it too)."""
    monkeypatch.setenv("EOTRUST_CATALOG_URL", postgres_url)
    return load_settings(home=tmp_path / "home")


def test_the_catalogue_really_is_on_postgresql(settings: Settings, catalog: Catalog) -> None:
    assert settings.catalog_database_url.startswith("postgresql+psycopg://")
    assert catalog._sessions.kw["bind"].dialect.name == "postgresql"  # the imported tests' fixture too
    engine = create_engine(settings.catalog_database_url)
    try:
        assert engine.dialect.name == "postgresql"
        assert {"catalog_datasets", "model_packages", "api_keys"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert not (settings.home_dir / "catalog" / "catalog.sqlite").exists()


@pytest.mark.parametrize(
    "title",
    ["NDVI\x00 2016", "".join(f"{i:x}" for i in range(2000))],  # a NUL; an index key over btree's 2.7 kB
    ids=["nul", "huge-index-key"],
)
def test_values_postgresql_cannot_store_are_clear_errors(catalog: Catalog, owner: LocalAccount, title: str) -> None:
    with pytest.raises(InvalidInputError, match="the catalogue database refused a value"):
        catalog.register(owner, _dataset(title, None, "2016-01-01", "2016-02-01"))
    assert catalog.list(Kind.DATASET) == []  # nothing half-written


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE catalog_datasets SET body = 'garbage {' WHERE title = 'b'",
        "UPDATE catalog_datasets SET signature = '0x' || repeat('11', 65) WHERE title = 'b'",
        "UPDATE catalog_datasets SET id = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG' WHERE title = 'b'",
    ],
    ids=["garbage-body", "bad-signature", "wrong-cid"],
)
def test_one_bad_row_leaves_the_listings_whole(
    catalog: Catalog, owner: LocalAccount, settings: Settings, sql: str
) -> None:
    """A row of the shared database that fails its check is left out of every listing and
    named there; the others are listed (before, every listing that met it failed)."""
    from datetime import UTC, datetime

    from eotrust.catalog.query import Filter

    a, b, c = (
        catalog.register(owner, _dataset(t, None, "2016-01-01", "2016-02-01"), created=datetime(2020, 1, i, tzinfo=UTC))
        for i, t in ((1, "a"), (2, "b"), (3, "c"))
    )
    _alter(settings, sql)
    for found in (
        catalog.list(Kind.DATASET),
        catalog.search(kind=Kind.DATASET),
        catalog.select(Kind.DATASET, Filter()),
    ):
        assert [r.id for r in found] == [a.id, c.id] and len(found.skipped) == 1
    assert [r.id for r in catalog.list(Kind.DATASET, limit=2)] == [a.id]  # a page of two: a, and b left out
    assert b.id not in [r.id for r in catalog.list(Kind.DATASET)]
