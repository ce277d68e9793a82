"""The one resolver of catalogue references (``Catalog.find``), used by the CLI, the API and
``roles.submitter.request``: a record id first, then a name (applications, platforms), a title or the CID
of the bytes (datasets). Attack: a record named after another record's id never shadows it."""

from __future__ import annotations

import pytest
from eth_account import Account

from eotrust.catalog.entries import ApplicationInfo, DatasetInfo, Kind, PlatformInfo
from eotrust.catalog.service import open_catalog
from eotrust.cid import cid_of_bytes
from eotrust.errors import NotFoundError
from eotrust.settings import Settings


def _dataset(title: str, content: bytes) -> DatasetInfo:
    return DatasetInfo(title=title, cid=cid_of_bytes(content), size=len(content))


def test_a_dataset_is_found_by_id_title_and_the_cid_of_its_bytes(settings: Settings) -> None:
    catalog, owner = open_catalog(settings), Account.create()
    record = catalog.register(owner, _dataset("Karst NDVI", b"ndvi bytes"))
    assert catalog.find(record.id, Kind.DATASET).id == record.id
    assert catalog.find("Karst NDVI", Kind.DATASET).id == record.id
    assert catalog.find(cid_of_bytes(b"ndvi bytes"), Kind.DATASET).id == record.id
    assert catalog.find("Karst NDVI").id == record.id  # any kind
    with pytest.raises(NotFoundError, match="no catalogue dataset with id, title or CID 'nothing'"):
        catalog.find("nothing", Kind.DATASET)
    with pytest.raises(NotFoundError, match="no catalogue application with id or name"):
        catalog.find(cid_of_bytes(b"ndvi bytes"), Kind.APPLICATION)  # a dataset's CID names no application


def test_a_name_never_shadows_an_id(settings: Settings) -> None:
    catalog = open_catalog(settings)
    victim, mallory = Account.create(), Account.create()
    genuine = catalog.register(victim, _dataset("labels", b"the victim's labels"))
    # mallory registers records whose name and title are the victim's record id
    catalog.register(mallory, _dataset(genuine.id, b"mallory's bytes"))
    catalog.register(mallory, PlatformInfo(name=genuine.id, age_recipient="age1" + "q" * 58))
    assert catalog.find(genuine.id, Kind.DATASET).owner == genuine.owner
    assert catalog.find(genuine.id).owner == genuine.owner


def test_without_a_kind_applications_then_platforms_then_datasets(settings: Settings) -> None:
    catalog, owner = open_catalog(settings), Account.create()
    catalog.register(owner, _dataset("shared", b"a dataset called shared"))
    app = catalog.register(owner, ApplicationInfo(name="shared", version="1", workflow_cid=cid_of_bytes(b"wf")))
    assert catalog.find("shared").id == app.id
    assert catalog.find("shared", Kind.DATASET).kind is Kind.DATASET
