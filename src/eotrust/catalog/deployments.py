"""Deployments: which application record is deployed as which process version, who may see
it, and whether it was undeployed (OGC API - Processes - Part 2).

A deployment is a small statement signed by the application's owner, like a catalogue
record: ``{application, process, version, visibility, status, created}`` as canonical JSON,
EIP-191 signed under the domain tag "deployment" v1 (:mod:`eotrust.crypto.signing`). The newest statement for a ``(process, version)`` wins; an ``undeployed`` one
hides that version from the processes list, but its application record and its package stay
in the catalogue and the store for provenance. Its own table (``catalog_deployments``), so
the catalogue's signed application records keep their exact form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from eotrust.catalog.base import Base
from eotrust.cid import canonical_json
from eotrust.clock import utc_iso
from eotrust.crypto.signing import Domain, Owner, account_of, record_signer, sign_record
from eotrust.errors import IntegrityError
from eotrust.limits import json_loads

PUBLIC = "public"
#: The signed format of a deployment statement.
DEPLOYMENT_VERSION = 1


class Deployment(BaseModel):
    """One signed deployment statement."""

    model_config = ConfigDict(frozen=True)

    application: str = Field(description="the application record's id")
    process: str
    version: str
    visibility: list[str] = Field(default_factory=lambda: [PUBLIC], description="'public' or party names")
    status: Literal["deployed", "undeployed"] = "deployed"
    owner: str
    created: str
    signature: str = ""

    def fields(self) -> dict[str, Any]:
        return {
            "application": self.application,
            "process": self.process,
            "version": self.version,
            "visibility": list(self.visibility),
            "status": self.status,
            "owner": self.owner,
            "created": self.created,
        }

    def statement(self) -> bytes:
        return canonical_json(self.fields())

    def check(self) -> None:
        signer = record_signer(Domain.DEPLOYMENT, DEPLOYMENT_VERSION, self.fields(), self.signature)
        if signer is None or signer.lower() != self.owner.lower():
            raise IntegrityError(
                f"deployment of {self.process}:{self.version} was not signed by its owner {self.owner}",
                hint="the deployments table was altered",
            )

    def visible_to(self, party: str | None) -> bool:
        return PUBLIC in self.visibility or (party is not None and party in self.visibility)


class DeploymentRow(Base):
    __tablename__ = "catalog_deployments"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    process: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(50))
    statement: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(140))


class Deployments:
    """Signed deployment statements in the catalogue database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions  # the process's catalogue sessions (``Backends.sessions``)

    def record(
        self,
        owner: Owner,
        application: str,
        process: str,
        version: str,
        *,
        visibility: list[str] | None = None,
        status: Literal["deployed", "undeployed"] = "deployed",
    ) -> Deployment:
        account = account_of(owner, "a deployment")
        dep = Deployment(
            application=application,
            process=process,
            version=version,
            visibility=list(visibility or [PUBLIC]),
            status=status,
            owner=account.address,
            created=utc_iso(datetime.now(UTC)),
        )
        signature = sign_record(account, Domain.DEPLOYMENT, DEPLOYMENT_VERSION, dep.fields())
        dep = dep.model_copy(update={"signature": signature})
        with self._sessions.begin() as session:
            session.add(
                DeploymentRow(process=process, version=version, statement=dep.statement().decode(), signature=signature)
            )
        return dep

    def history(self, process: str | None = None) -> list[Deployment]:
        """Every statement (checked), oldest first."""
        query = select(DeploymentRow).order_by(DeploymentRow.seq)
        if process is not None:
            query = query.where(DeploymentRow.process == process)
        with self._sessions() as session:
            rows = list(session.scalars(query))
        out = []
        for row in rows:
            dep = Deployment(**json_loads(row.statement), signature=row.signature)
            dep.check()
            out.append(dep)
        return out

    def current(self) -> dict[tuple[str, str], Deployment]:
        """The newest statement of each (process, version), in the order the versions were first
        deployed (a later statement replaces the value, not the key's place)."""
        latest: dict[tuple[str, str], Deployment] = {}
        for dep in self.history():
            latest[(dep.process, dep.version)] = dep
        return latest
