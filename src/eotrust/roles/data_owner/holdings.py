"""A data owner's private index of the files behind its catalogue datasets.

Registering a dataset publishes its description and the CID of its bytes, never the bytes.
The owner keeps the file; this index (under the owner's own home, never shared) says where,
so that when a task asks for the dataset the owner can find it, check it still has the CID
it registered, and encrypt it for the platform named by the task.
"""

from __future__ import annotations

import json
from pathlib import Path

from eotrust.backends import Backends
from eotrust.catalog.describe import describe_raster
from eotrust.catalog.entries import DatasetInfo, Record
from eotrust.errors import IntegrityError, NotFoundError
from eotrust.limits import json_loads
from eotrust.party import Party
from eotrust.settings import Settings
from eotrust.store.atomic import write_atomic


def _index_path(settings: Settings, party_name: str) -> Path:
    return settings.path("holdings", party_name) / "index.json"


def _read(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return dict(json_loads(path.read_text()))


def remember(settings: Settings, party_name: str, cid: str, file: Path) -> None:
    """Record (atomically, one writer at a time) that ``file`` holds the bytes named ``cid``."""
    from eotrust.store.lock import file_lock

    path = _index_path(settings, party_name)
    with file_lock(path.with_suffix(".lock")):
        index = _read(path)
        index[cid] = str(Path(file).resolve())
        write_atomic(path, json.dumps(index, indent=2, sort_keys=True).encode())


def locate(settings: Settings, party_name: str, cid: str) -> Path:
    """The local file holding ``cid``, re-hashed to make sure it still does."""
    from eotrust.cid import cid_of_file

    where = _read(_index_path(settings, party_name)).get(cid)
    if where is None:
        raise NotFoundError(
            f"party {party_name!r} holds no file for {cid}",
            hint="register the dataset from this home with `eotrust catalog register-dataset`",
        )
    file = Path(where)
    if not file.is_file():
        raise NotFoundError(f"the file {file} behind {cid} is gone", hint="put it back or register it again")
    actual = cid_of_file(file)
    if actual != cid:
        raise IntegrityError(
            f"the file {file} changed since it was registered as {cid} (it is now {actual})",
            hint="register the new version as a new dataset",
        )
    return file


def register_dataset_file(
    backends: Backends,
    party: Party,
    file: Path,
    *,
    title: str | None = None,
    description: str = "",
    licence: str = "proprietary",
    keywords: list[str] | None = None,
) -> Record[DatasetInfo]:
    """Describe ``file``, register it in the catalogue signed by ``party``, remember where it is."""
    info = describe_raster(file, title=title, description=description, licence=licence, keywords=keywords)
    record = backends.catalog.register(party, info)
    remember(backends.settings, party.name, info.cid, file)
    return record
