"""The model registry: verified packages in the store, indexed in the catalogue.

Registering a package verifies it completely (CID, archive, digests, owner's signature, graph),
puts its bytes in the store (so the CID names them anywhere, IPFS included) and adds a row to
the catalogue with the next version number for its name. A model is referred to by CID
(``Qm…``/``bafy…``), by name (its latest version) or by ``name:version``.
"""

from __future__ import annotations

import builtins
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.exc import OperationalError

from eotrust.catalog.db import open_session_factory
from eotrust.catalog.model_records import ModelRow
from eotrust.clock import utc_now
from eotrust.errors import CatalogError, IntegrityError, InvalidInputError, NotFoundError
from eotrust.ml.package import Manifest, first_line, read_package, verify_package
from eotrust.store.atomic import atomic_path

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from eotrust.ml.scoring.batch import Scorer
    from eotrust.settings import Settings
    from eotrust.store.base import Store

#: The largest version a model may have: the catalogue keeps it as a signed 64-bit integer.
MAX_VERSION = 2**63 - 1
_REF = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:[:@]v?(?P<version>\d+))?$")


@dataclass(frozen=True)
class ModelEntry:
    """One registered model package, as the catalogue indexes it."""

    cid: str
    name: str
    version: int
    description: str
    owner: str
    algorithm: str
    created: str
    registered: str
    size: int
    signature: str
    metrics: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    manifest: Manifest | None = field(default=None, repr=False, compare=False)
    manifest_json: str = field(default="", repr=False, compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @classmethod
    def from_row(cls, row: ModelRow) -> ModelEntry:
        """The entry as its signed manifest says: every shown column is re-derived from the
        manifest, the manifest must be signed by its owner, and a column that differs from it
        (an edited catalogue row) is refused, naming the row."""
        from eotrust.ml.package import manifest_signer

        what = f"model registry row {row.cid}"
        hint = "the catalogue was edited; re-register the package (`eotrust model register FILE`)"
        try:
            manifest = Manifest.model_validate_json(row.manifest)
            signer = manifest_signer(row.manifest.encode(), row.signature)
        except (ValueError, IntegrityError):
            raise IntegrityError(f"{what}: its manifest column is not a valid manifest", hint=hint) from None
        if signer.lower() != manifest.owner.lower():
            raise IntegrityError(f"{what}: its manifest is not signed by its owner {manifest.owner}", hint=hint)
        derived: dict[str, Any] = {
            "name": manifest.name,
            "description": manifest.description,
            "owner": manifest.owner,
            "algorithm": manifest.algorithm,
            "created": manifest.created,
            "metrics": manifest.metrics,
            "lineage": manifest.lineage.model_dump(mode="json"),
        }
        for column, value in derived.items():
            if getattr(row, column) != value:
                raise IntegrityError(f"{what}: column {column!r} differs from the package's signed manifest", hint=hint)
        return cls(
            cid=row.cid,
            name=manifest.name,
            version=row.version,
            description=manifest.description,
            owner=manifest.owner,
            algorithm=manifest.algorithm,
            created=manifest.created,
            registered=row.registered,
            size=row.size,
            signature=row.signature,
            metrics=dict(manifest.metrics),
            lineage=dict(derived["lineage"]),
            manifest=manifest,
            manifest_json=row.manifest,
        )


class Registry:
    """Model packages of one eotrust home (its store and catalogue)."""

    def __init__(
        self, settings: Settings, *, store: Store | None = None, sessions: sessionmaker[Session] | None = None
    ) -> None:
        from eotrust.store import open_store

        self.settings = settings
        self.store = store if store is not None else open_store(settings)
        self._sessions = sessions if sessions is not None else open_session_factory(settings)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # -- writing ----------------------------------------------------------------
    def register(self, path: Path, *, cid: str | None = None) -> ModelEntry:
        """Verify the package at ``path`` and register it (again: the existing entry)."""
        report = verify_package(Path(path), cid=cid)
        existing = self._row(report.cid)
        if existing is not None:
            return existing
        self._check_name_owner(report.cid, report.name, report.owner)  # before anything is stored
        stored = self.store.put_file(Path(path), pin=True)
        if stored != report.cid:  # the store names bytes exactly as cid_of_file does
            raise IntegrityError(f"the store named the package {stored}, not {report.cid}")
        pkg = read_package(Path(path))
        m = pkg.manifest
        for attempt in range(5):  # two registrations of one name at once: the loser takes the next version
            try:
                with self._session() as session:
                    latest = session.scalar(select(func.max(ModelRow.version)).where(ModelRow.name == m.name))
                    self._check_name_owner(report.cid, m.name, m.owner, session)  # again: a race
                    row = ModelRow(
                        cid=report.cid,
                        name=m.name,
                        version=(latest or 0) + 1,
                        description=m.description,
                        owner=m.owner,
                        algorithm=m.algorithm,
                        created=m.created,
                        registered=utc_now(),
                        size=Path(path).stat().st_size,
                        metrics=m.metrics,
                        lineage=m.lineage.model_dump(mode="json"),
                        signature=str(pkg.signature.get("signature", "")),
                        manifest=pkg.manifest_bytes.decode(),
                    )
                    session.add(row)
                return ModelEntry.from_row(row)
            except (DBIntegrityError, OperationalError) as exc:  # a version taken, or SQLite's snapshot moved on
                existing = self._row(report.cid)
                if existing is not None:
                    return existing
                if attempt == 4:
                    raise CatalogError(
                        f"could not register model {m.name} in the catalogue: {first_line(exc)}", hint="try again"
                    ) from None
        raise AssertionError("unreachable")

    def _check_name_owner(self, cid: str, name: str, owner: str, session: Session | None = None) -> None:
        """InvalidInputError if ``name`` has versions signed by another owner than ``owner``: a
        name's versions share the owner of its first, so no one else's package becomes what
        ``NAME`` (a command's, a route's or an API key's scope) reaches."""
        with nullcontext(session) if session is not None else self._session() as s:
            first = s.scalar(select(ModelRow.owner).where(ModelRow.name == name).order_by(ModelRow.version).limit(1))
        if first is not None and first.lower() != owner.lower():
            raise InvalidInputError(
                f"model name {name} belongs to {first}; package {cid} is signed by {owner}",
                hint="package it under a name of your own",
            )

    # -- reading ----------------------------------------------------------------
    def _row(self, cid: str) -> ModelEntry | None:
        from eotrust.cid import to_v0

        with self._session() as session:
            row = session.get(ModelRow, to_v0(cid))
            return ModelEntry.from_row(row) if row is not None else None

    def list(self, name: str | None = None) -> list[ModelEntry]:
        """Every registered package (of ``name``), by name then version."""
        with self._session() as session:
            query = select(ModelRow).order_by(ModelRow.name, ModelRow.version)
            if name:
                query = query.where(ModelRow.name == name)
            return [ModelEntry.from_row(r) for r in session.scalars(query)]

    def get(self, ref: str) -> ModelEntry:
        """The entry for a CID, a name (latest version) or ``name:version``."""
        from eotrust.cid import validate_cid

        ref = ref.strip()
        try:
            validate_cid(ref)
        except Exception:
            pass
        else:
            entry = self._row(ref)
            if entry is None:
                raise NotFoundError(
                    f"no registered model package has CID {ref}",
                    hint="`eotrust model list` shows them; `eotrust model import` adds one",
                )
            return entry
        match = _REF.match(ref)
        if match is None:
            raise InvalidInputError(f"{ref!r} is neither a CID nor NAME[:VERSION]")
        name, version = match["name"], match["version"]
        if version and int(version) > MAX_VERSION:  # past the database's integers: no model has it
            raise NotFoundError(f"no registered model {ref}", hint="`eotrust model list` shows them")
        with self._session() as session:
            query = select(ModelRow).where(ModelRow.name == name)
            query = (
                query.where(ModelRow.version == int(version)) if version else query.order_by(ModelRow.version.desc())
            )
            row = session.scalars(query.limit(1)).first()
            if row is None:
                raise NotFoundError(f"no registered model {ref}", hint="`eotrust model list` shows them")
            return ModelEntry.from_row(row)

    def versions(self, name: str) -> builtins.list[ModelEntry]:
        entries = self.list(name)
        if not entries:
            raise NotFoundError(f"no registered model named {name}")
        return entries

    def lineage(self, ref: str) -> dict[str, Any]:
        """Where a model came from: its data and run CIDs, each marked present in the store or not."""
        entry = self.get(ref)
        out: dict[str, Any] = {"model": entry.cid}
        for key, value in entry.lineage.items():
            cids = value if isinstance(value, list) else [value] if value else []
            out[key] = [{"cid": c, "in_store": self.store.has(c)} for c in cids]
        return out

    # -- bytes ------------------------------------------------------------------
    def export(self, ref: str, dest: Path) -> Path:
        """Write the package to ``dest`` (verified on the way out)."""
        entry = self.get(ref)
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / f"{entry.name}-{entry.version}.eotrust-model.zip"
        # checked beside the destination, then put in place: a package that fails leaves what
        # was at ``dest`` as it was (a file of the user's, /dev/null) instead of removing it
        with atomic_path(dest) as part:
            self.store.get_file(entry.cid, part)
            verify_package(part, cid=entry.cid)
            _same_manifest(entry, part)  # the package of the row asked for, not another the row names
        return dest

    def local_path(self, ref: str) -> tuple[ModelEntry, Path]:
        """A verified copy of the package on local disk (cached under the home by CID; a cached
        copy that no longer matches its CID is fetched again from the store)."""
        entry = self.get(ref)
        cache = self.settings.path("models") / f"{entry.cid}.zip"
        for attempt in (1, 2):
            if not cache.is_file():
                with tempfile.TemporaryDirectory(dir=cache.parent) as tmp:
                    part = Path(tmp) / cache.name
                    self.store.get_file(entry.cid, part)
                    part.replace(cache)
            try:
                verify_package(cache, cid=entry.cid, check_graph=False)
                _same_manifest(entry, cache)
                return entry, cache
            except IntegrityError:
                cache.unlink(missing_ok=True)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def scorer(self, ref: str, *, threads: int | None = None) -> Scorer:
        """A scorer for a registered model (its package checked against its CID first)."""
        from eotrust.ml.scoring.batch import Scorer

        entry, path = self.local_path(ref)
        return Scorer(
            read_package(path),
            threads=threads,
            cid=entry.cid,
            max_memory_mb=self.settings.model_max_memory_mb,
            max_seconds=self.settings.model_max_seconds,
        )


def _same_manifest(entry: ModelEntry, package: Path) -> None:
    """The registry row's manifest is the one inside the package its CID names."""
    if read_package(package).manifest_bytes.decode() != entry.manifest_json:
        raise IntegrityError(
            f"model registry row {entry.cid}: its manifest is not the one inside the package with that CID",
            hint="the catalogue was edited; re-register the package (`eotrust model register FILE`)",
        )


# -- functions over Settings (what the CLI and the server call) -------------------------------
def register_package(settings: Settings, path: Path, *, cid: str | None = None) -> ModelEntry:
    return Registry(settings).register(path, cid=cid)


def list_models(settings: Settings, name: str | None = None) -> list[ModelEntry]:
    return Registry(settings).list(name)


def get_model(settings: Settings, ref: str) -> ModelEntry:
    return Registry(settings).get(ref)


def export_model(settings: Settings, ref: str, dest: Path) -> Path:
    return Registry(settings).export(ref, dest)


def load_scorer(settings: Settings, ref: str, *, threads: int | None = None) -> Scorer:
    return Registry(settings).scorer(ref, threads=threads)


def scalar_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers among (nested) metrics, by dotted name: ``validation.miou``."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out.update(scalar_metrics(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = v
    return out


def metrics_table(entries: list[ModelEntry]) -> tuple[list[str], list[list[Any]]]:
    """Scalar metrics side by side: (metric names, one row per entry)."""
    flat = [scalar_metrics(e.metrics) for e in entries]
    names = list(dict.fromkeys(k for f in flat for k in f))
    return names, [[f.get(k) for k in names] for f in flat]
