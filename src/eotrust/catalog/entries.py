"""What the catalogue holds: typed descriptions of datasets, applications, platforms, tasks and
results, and the signed envelope every one of them travels in.

A catalogue record is ``{kind, owner, created, body}`` written as canonical JSON (sorted keys,
no spaces, UTF-8). Its id is the CID of those bytes (so a record is content-addressed like any
other object) and its signature is the owner's EIP-191 signature of the same JSON under the
domain tag "catalog record" v2 (:mod:`eotrust.crypto.signing`; v1 signed the bare bytes). Anyone
can check a record with nothing but the record: the id must re-hash and the signature must
recover the owner's address.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from eth_account.signers.local import LocalAccount
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializeAsAny,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from eotrust.cid import canonical_json
from eotrust.clock import utc_iso
from eotrust.crypto.signing import Domain, record_signer, sign_record
from eotrust.errors import IntegrityError, InvalidInputError, first_problem
from eotrust.limits import json_loads
from eotrust.names import NAME_PATTERN


def _normalise_time(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO-8601 date or time: {value!r}") from None
        return utc_iso(parsed)
    raise ValueError(f"not a date or time: {value!r}")


#: Bounds of the catalogue's numbers. Every integer a record carries must survive JSON readers
#: that use doubles (exact up to 2**53) and the database columns it is indexed in (SQLite and
#: PostgreSQL BIGINT: 64-bit; INTEGER: 32-bit on PostgreSQL), so a huge number is a clear
#: validation error naming the field rather than an overflow deep in the database driver.
MAX_BYTES = 2**53 - 1  # a file size: 8 PiB
#: A task's input names (the workflow's, in the submitter's record) and result names (a
#: workflow output's, ``NAME-0`` for a list's items, ``run-record``): the platform's node and
#: the submitter's `flow collect` name files after them, so never a path.
PLAIN_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,99}$"
PlainName = Annotated[str, StringConstraints(pattern=PLAIN_NAME_PATTERN)]
MAX_CPUS = 2**20  # cores a platform offers (the largest machines have ~10**7; one platform record, ~10**6)
MAX_GPUS = 2**20
MAX_MEMORY_MB = 2**31 - 1  # 2 PiB of memory in MiB; fits a 32-bit INTEGER column
#: A price in wei (the chain's native ether): at most 10**27 wei (a thousand million ether), so
#: that any sum of a quote's items stays far inside a uint256. Written in JSON as a decimal
#: string, since wei amounts pass 2**53 (one ether is 10**18 wei).
MAX_WEI = 10**27
#: Which chain a task's contract lives on: ``Chain.key``, ``<chain id>-<genesis hash>``.
CHAIN_KEY_PATTERN = r"^[0-9]{1,20}-0x[0-9a-f]{64}$"


def _wei(value: Any) -> Any:
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("a price in wei is a whole number (an integer or a decimal string)")
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit() or len(text) > 40:
            raise ValueError(f"a price in wei is a non-negative whole number, not {value[:50]!r}")
        return int(text)
    return value


Wei = Annotated[int, Field(ge=0, le=MAX_WEI), PlainSerializer(lambda v: str(v), return_type=str, when_used="json")]


class Kind(str, Enum):
    """The kinds of catalogue records."""

    DATASET = "dataset"
    APPLICATION = "application"
    PLATFORM = "platform"
    TASK = "task"
    RESULT = "result"


#: The signed format of a record (v1 signed the envelope's bytes with no domain tag).
RECORD_VERSION = 2


class Body(BaseModel):
    """What a catalogue record describes: the base of every record body (``DatasetInfo`` ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Fields left out of the signed form while they are None (fields added after records were
    #: first signed: a record without them keeps the id it always had).
    _OPTIONAL: ClassVar[tuple[str, ...]] = ()

    def canonical(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for name in self._OPTIONAL:
            if data.get(name) is None:
                data.pop(name, None)
        return data


class _Terms(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlatformPrices(_Terms):
    """What a platform charges, in wei: per CPU-hour (core reserved for an hour), per GPU-hour,
    per GB-hour of memory reserved, per GB of results stored, and a flat fee per task."""

    cpu_hour: Wei = 0
    gpu_hour: Wei = 0
    memory_gb_hour: Wei = 0
    storage_gb: Wei = 0
    flat: Wei = 0

    _whole = field_validator("cpu_hour", "gpu_hour", "memory_gb_hour", "storage_gb", "flat", mode="before")(_wei)


class UsePrice(_Terms):
    """An owner's price in wei: per run of an application, or per use of a dataset."""

    per_use: Wei = 0

    _whole = field_validator("per_use", mode="before")(_wei)


class Allowed(_Terms):
    """One entry of a data-use policy: a record id or content CID (``cid``: an application's
    record id or its workflow CID; a platform's record id), or a name and its owner's address."""

    cid: str | None = Field(default=None, min_length=1, max_length=100)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    owner: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")

    @model_validator(mode="after")
    def _one_way(self) -> Allowed:
        if (self.cid is None) == (self.name is None or self.owner is None) or (
            self.cid is not None and (self.name is not None or self.owner is not None)
        ):
            raise ValueError("an allowed entry is a cid, or a name with its owner's address")
        return self


class UsePolicy(_Terms):
    """A dataset's data-use policy: the applications (and, optionally, the platforms) its
    owner allows to use it. ``platforms`` None: any platform."""

    applications: list[Allowed] = Field(max_length=1000)
    platforms: list[Allowed] | None = Field(default=None, max_length=1000)


BodyT = TypeVar("BodyT", bound=Body)
#: A record's body type: covariant, since a record is immutable (a ``Record[DatasetInfo]`` is a
#: ``Record[Body]``).
Body_co = TypeVar("Body_co", bound=Body, covariant=True)


class DatasetInfo(Body):
    """An EO dataset as its owner describes it. ``cid`` names the plaintext file; the bytes
    themselves stay with the owner until a task asks for them (then encrypted for one platform)."""

    title: str = Field(min_length=1)
    cid: str
    size: int = Field(ge=0, le=MAX_BYTES, description="bytes of the plaintext file")
    description: str = ""
    bbox: tuple[float, float, float, float] | None = Field(
        default=None, description="west, south, east, north in WGS84 degrees"
    )
    start: str | None = Field(default=None, description="first acquisition, UTC ISO-8601")
    end: str | None = Field(default=None, description="last acquisition, UTC ISO-8601")
    crs: str | None = None
    bands: list[str] = Field(default_factory=list)
    licence: str = "proprietary"
    media_type: str = "image/tiff; application=geotiff"
    keywords: list[str] = Field(default_factory=list)
    price: UsePrice | None = Field(default=None, description="the owner's price per use, in wei")
    policy: UsePolicy | None = Field(default=None, description="who may use it; None: any application")

    _OPTIONAL = ("price", "policy")

    _times = field_validator("start", "end", mode="before")(_normalise_time)

    @field_validator("bbox")
    @classmethod
    def _bbox_ordered(cls, v: tuple[float, float, float, float] | None) -> tuple[float, float, float, float] | None:
        if v is None:
            return None
        west, south, east, north = v
        if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
            raise ValueError(f"bbox {v} is not west,south,east,north in WGS84 degrees")
        return v


class ApplicationInfo(Body):
    """An application: a workflow (by CID) with the schema of its parameters."""

    name: str = Field(min_length=1)
    version: str = "0.1.0"
    workflow_cid: str
    description: str = ""
    inputs: list[str] = Field(default_factory=list, description="the workflow's input names")
    outputs: list[str] = Field(default_factory=list, description="the workflow's result names")
    parameters_schema: dict[str, Any] = Field(default_factory=dict)
    keywords: list[str] = Field(default_factory=list)
    price: UsePrice | None = Field(default=None, description="the owner's price per run, in wei")

    _OPTIONAL = ("price",)


class PlatformInfo(Body):
    """A compute platform: its key for inputs and what it can run. Its name names the node's
    directories under the home, so it is a plain name (:mod:`eotrust.names`)."""

    name: str = Field(pattern=NAME_PATTERN, description="1-64 letters, digits, '.', '_' or '-'")
    age_recipient: str = Field(pattern=r"^age1[0-9a-z]+$")
    cpus: int = Field(default=1, ge=1, le=MAX_CPUS)
    memory_mb: int = Field(default=1024, ge=1, le=MAX_MEMORY_MB)
    gpus: int = Field(default=0, ge=0, le=MAX_GPUS)
    description: str = ""
    keywords: list[str] = Field(default_factory=list)
    prices: PlatformPrices | None = Field(default=None, description="what the platform charges, in wei")

    _OPTIONAL = ("prices",)


class TaskInfo(Body):
    """What a submitter asked for: which application, which dataset feeds which workflow input,
    which platform, with which parameters, and the key the results are encrypted for. ``chain``
    names the chain of the contract at ``address``: a dev chain started afresh gives its tasks
    the previous chain's addresses, so the address alone does not name one task."""

    address: str
    application_id: str
    platform_id: str
    inputs: dict[PlainName, str] = Field(description="workflow input name -> dataset record id")
    params: dict[str, Any] = Field(default_factory=dict)
    results_recipient: str
    chain: str | None = Field(
        default=None,
        pattern=CHAIN_KEY_PATTERN,
        description="the chain the contract lives on (Chain.key); None in records made before records named it",
    )

    _OPTIONAL = ("chain",)


class ResultInfo(Body):
    """One result of a task as the platform recorded it: the stored ciphertext and what it holds."""

    task: str
    name: str = Field(pattern=PLAIN_NAME_PATTERN, description="a plain name, never a path: the collected file's")
    cid: str = Field(description="the stored ciphertext, as recorded on the contract")
    plaintext_cid: str
    size: int = Field(ge=0, le=MAX_BYTES)
    run_cid: str
    recipient: str
    chain: str | None = Field(
        default=None,
        pattern=CHAIN_KEY_PATTERN,
        description="the chain the task's contract lives on (Chain.key); None in records made before records named it",
    )

    _OPTIONAL = ("chain",)


def make_body(body_type: type[BodyT], **fields: Any) -> BodyT:
    """A record body from keyword fields; InvalidInputError naming the first bad field (for
    callers outside the API, where pydantic's own error would be a traceback)."""
    try:
        return body_type(**fields)
    except ValidationError as exc:
        what = body_type.__name__.removesuffix("Info").lower()
        raise InvalidInputError(
            f"invalid {what} {first_problem(exc)}", hint="give a value within the stated bounds"
        ) from None


BODY_TYPES: dict[Kind, type[Body]] = {
    Kind.DATASET: DatasetInfo,
    Kind.APPLICATION: ApplicationInfo,
    Kind.PLATFORM: PlatformInfo,
    Kind.TASK: TaskInfo,
    Kind.RESULT: ResultInfo,
}


class Record(BaseModel, Generic[Body_co]):
    """A signed catalogue record; ``Record[DatasetInfo]`` is a dataset's (its ``body`` typed).
    The type parameter is for readers and type checkers only: the signed bytes are the same."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: Kind
    owner: str
    created: str
    body: SerializeAsAny[Body_co]
    signature: str

    @staticmethod
    def envelope(kind: Kind, owner: str, created: str, body: Body) -> dict[str, Any]:
        return {"kind": kind.value, "owner": owner, "created": created, "body": body.canonical()}

    def signed_bytes(self) -> bytes:
        return canonical_json(self.envelope(self.kind, self.owner, self.created, self.body))

    @classmethod
    def sign(cls, kind: Kind, body: BodyT, account: LocalAccount, *, created: datetime | None = None) -> Record[BodyT]:
        from eotrust.cid import cid_of_bytes

        if not isinstance(body, BODY_TYPES[kind]):
            raise InvalidInputError(f"a {kind.value} record needs a {BODY_TYPES[kind].__name__}")
        stamp = utc_iso(created or datetime.now(UTC))
        envelope = cls.envelope(kind, account.address, stamp, body)
        data = canonical_json(envelope)
        signature = sign_record(account, Domain.CATALOG_RECORD, RECORD_VERSION, envelope)
        return Record(
            id=cid_of_bytes(data), kind=kind, owner=account.address, created=stamp, body=body, signature=signature
        )

    def narrow(self, body_type: type[BodyT]) -> Record[BodyT]:
        """This record typed as one of ``body_type`` (a record read by id may be of any kind);
        InvalidInputError if its body is another."""
        if not isinstance(self.body, body_type):
            what = body_type.__name__.removesuffix("Info").lower()
            raise InvalidInputError(f"catalogue record {self.id} is a {self.kind.value} record, not a {what} record")
        body: BodyT = self.body
        return Record(
            id=self.id, kind=self.kind, owner=self.owner, created=self.created, body=body, signature=self.signature
        )

    def check(self) -> None:
        """Raise IntegrityError unless the id re-hashes and the owner signed these bytes."""
        from eotrust.cid import cid_of_bytes

        data = self.signed_bytes()
        actual = cid_of_bytes(data)
        if actual != self.id:
            raise IntegrityError(
                f"catalogue {self.kind.value} record {self.id}: its content no longer matches its id "
                f"(it hashes to {actual})",
                hint="the record was altered after it was signed; ask its owner to register it again",
            )
        signer = record_signer(
            Domain.CATALOG_RECORD,
            RECORD_VERSION,
            self.envelope(self.kind, self.owner, self.created, self.body),
            self.signature,
        )
        if signer is None or signer.lower() != self.owner.lower():
            raise IntegrityError(
                f"catalogue {self.kind.value} record {self.id}: field 'signature' was not made by its owner {self.owner}",
                hint="the record or its signature was altered",
            )

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Record[Body]:
        raw = json_loads(text)
        kind = Kind(raw["kind"])
        raw["body"] = BODY_TYPES[kind].model_validate(raw["body"])
        return cls.model_validate(raw)
