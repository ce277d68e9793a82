"""Model packages: an ONNX graph plus its manifest, packed deterministically and signed.

A package is a ZIP archive of exactly three entries, in this order:

- ``manifest.json``: the :class:`Manifest` as canonical JSON (sorted keys, no spaces);
- ``model.onnx``: the graph;
- ``signature.json``: the owner's EIP-191 signature over :func:`signing_message`, a short
  text naming the SHA-256 of the two entries above.

Entries are stored (not compressed) with fixed times, modes and attributes, so the same
manifest and graph signed by the same key (ECDSA signatures here are deterministic,
RFC 6979) always give the same bytes and so the same CID; any changed bit changes the CID.
A package has no other byte form: :func:`read_package` refuses a file that is not exactly
:func:`archive` of its entries (a ZIP comment, bytes before the archive, compressed entries,
``signature.json`` or the signature spelt another way), so one signed package has one CID.
The CID names the signed package; :func:`verify_package` checks the CID, the archive's
layout, the digests, the signature (and that the signer is the manifest's owner), and that
onnxruntime loads the graph with the inputs and outputs the manifest declares.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from eotrust.cid import canonical_json
from eotrust.crypto.signing import Domain, record_text, sign_text, text_signer
from eotrust.errors import IntegrityError, InvalidInputError, ModelError
from eotrust.limits import json_loads
from eotrust.store.atomic import write_atomic

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

FORMAT: Final = "eotrust-model-package/1"
#: The version of the package signature's signed format (domain "model package").
SIGNATURE_VERSION = 2
MANIFEST = "manifest.json"
GRAPH: Final = "model.onnx"
SIGNATURE = "signature.json"
ENTRIES = (MANIFEST, GRAPH, SIGNATURE)
#: The fields of ``signature.json``, exactly.
SIGNATURE_KEYS: Final = frozenset({"scheme", "signer", "message", "signature"})
#: The most each entry may declare, checked before anything is inflated: a single-file ONNX
#: graph cannot pass protobuf's 2 GiB; a manifest and a signature are small documents.
ENTRY_LIMITS: Final = {MANIFEST: 4 * 2**20, GRAPH: 2**31 - 1, SIGNATURE: 64 * 2**10}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_SIGNATURE_HEX = re.compile(r"0x[0-9a-f]{128}1[bc]")
_ZIP_MODE = 0o100644 << 16

#: Default colours for classes that do not name one (tab20, then grey).
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#c7c7c7",
    "#dbdb8d",
    "#9edae5",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassInfo(_Strict):
    """One output class: its index in the model's output, a name, a display colour and the
    label code it stands for in the training labels (when known)."""

    index: int = Field(ge=0)
    name: str
    colour: str = Field(pattern=r"^#[0-9a-f]{6}$")
    code: int | None = None

    @field_validator("colour", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v


class Normalisation(_Strict):
    """``(x - mean) / std`` per input channel (one value applies to every channel)."""

    mean: list[float]
    std: list[float]

    @model_validator(mode="after")
    def _check(self) -> Normalisation:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError("normalisation needs as many means as standard deviations, at least one")
        if any(s <= 0 for s in self.std):
            raise ValueError("normalisation standard deviations must be positive")
        return self


class InputSpec(_Strict):
    """What the graph takes, and how raster bands map onto it.

    - ``kind="image"``: a ``(N, C, H, W)`` float32 tensor; raster band ``c`` is channel ``c``.
      H and W must be multiples of ``spatial_multiple``; ``tile_size`` is the size the model
      was trained at (scene scoring uses it).
    - ``kind="pixel-series"``: one pixel's time series per row, ``(N, T)`` (``layout="NT"``)
      or ``(N, C, T)`` (``layout="NCT"``); raster band ``t * C + c`` is channel ``c`` at
      time ``t`` (date-major, as cubes are written: ``BAND@DATE``), so a raster has ``C * T``
      bands.
    """

    kind: Literal["image", "pixel-series"]
    name: str = "input"
    layout: Literal["NCHW", "NT", "NCT"]
    bands: list[str] = Field(description="raster band names, in the order the model reads them")
    channels: int = Field(ge=1)
    timesteps: int | None = Field(default=None, ge=1)
    dtype: Literal["float32"] = "float32"
    tile_size: int | None = Field(default=None, ge=1)
    spatial_multiple: int = Field(default=1, ge=1)
    normalisation: Normalisation | None = None

    @model_validator(mode="after")
    def _check(self) -> InputSpec:
        if self.kind == "image":
            if self.layout != "NCHW":
                raise ValueError("an image input has layout NCHW")
            expected = self.channels
        else:
            if self.layout == "NCHW" or self.timesteps is None:
                raise ValueError("a pixel-series input has layout NT or NCT and a number of timesteps")
            if self.layout == "NT" and self.channels != 1:
                raise ValueError("layout NT has one channel")
            expected = self.channels * self.timesteps
        if len(self.bands) != expected:
            raise ValueError(f"{len(self.bands)} band names for {expected} raster bands")
        if self.normalisation and len(self.normalisation.mean) not in (1, self.channels):
            raise ValueError(f"normalisation has {len(self.normalisation.mean)} values for {self.channels} channels")
        return self

    @property
    def raster_bands(self) -> int:
        return self.channels * (self.timesteps or 1) if self.kind == "pixel-series" else self.channels


class OutputSpec(_Strict):
    """What the graph returns: per-class scores, ``(N, K, H, W)`` for images, ``(N, K)`` per pixel."""

    name: str = "logits"
    layout: Literal["NKHW", "NK"]
    kind: Literal["logits", "probabilities"] = "logits"
    classes: int = Field(ge=1)


class Lineage(_Strict):
    """Where the model came from: the data it learnt from and the run that trained it."""

    training_data: list[str] = Field(default_factory=list, description="CIDs of the training data")
    validation_data: list[str] = Field(default_factory=list, description="CIDs of the validation data")
    run: str | None = Field(default=None, description="CID of the workflow run record")
    checkpoint: str | None = Field(default=None, description="CID of the PyTorch checkpoint exported")
    derived_from: str | None = Field(
        default=None,
        description="CID of the package whose graph this one was "
        "derived from (an INT8 package names its float package)",
    )


#: Operators that mark a graph as quantised (QDQ pairs, or quantised operators).
QUANTISED_OPS = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "ConvInteger",
        "MatMulInteger",
        "QLinearAdd",
        "QLinearMul",
    }
)


class Accuracy(_Strict):
    """Pixel accuracy of the float graph and of the quantised graph on the same evaluation
    tiles (as fractions), measured when the quantised graph was made."""

    float32: float = Field(ge=0, le=1)
    int8: float = Field(ge=0, le=1)
    pixels: int = Field(ge=1)
    data: list[str] = Field(default_factory=list, description="CIDs of the evaluation data, when known")

    @property
    def drop_points(self) -> float:
        """How many percentage points the quantised graph loses (negative: it gains)."""
        return (self.float32 - self.int8) * 100


class Quantisation(_Strict):
    """How an INT8 graph was made from its float graph: onnxruntime's static quantisation
    (activation ranges calibrated on ``calibration_tiles`` training tiles) in QDQ format
    (Quantize/DequantizeLinear pairs around float operators, fused by onnxruntime) or QOperator
    format (QLinearConv and friends written into the graph)."""

    method: Literal["static"] = "static"
    format: Literal["QDQ", "QOperator"] = "QDQ"
    activations: Literal["uint8", "int8"] = "uint8"
    weights: Literal["int8", "uint8"] = "int8"
    per_channel: bool = True
    reduce_range: bool = False
    calibration: Literal["minmax", "entropy", "percentile"] = "minmax"
    calibration_tiles: int = Field(ge=1)
    calibration_data: list[str] = Field(default_factory=list, description="CIDs of the calibration data, when known")
    excluded_ops: list[str] = Field(default_factory=list, description="operator types left in float")
    float_graph_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    accuracy: Accuracy | None = None


class GraphInfo(_Strict):
    """The graph entry. ``precision`` absent means a float32 graph (as in every package made
    before INT8 graphs existed, whose bytes and CIDs therefore stay the same); ``"int8"``
    means a quantised graph, described by ``quantisation``. The graph's own operators must
    agree (checked when packing and verifying)."""

    file: Literal["model.onnx"] = GRAPH
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    opset: int | None = None
    producer: str = ""
    precision: Literal["int8"] | None = None
    quantisation: Quantisation | None = None

    @model_validator(mode="after")
    def _check(self) -> GraphInfo:
        if (self.precision == "int8") != (self.quantisation is not None):
            raise ValueError("an int8 graph is described by its quantisation, and only an int8 graph")
        return self

    @property
    def precision_name(self) -> str:
        """``float32`` or ``int8``: which graph this package carries."""
        return self.precision or "float32"


class Preprocessing(_Strict):
    """What was done to the rasters before the model saw them in training, so that a scorer
    can do the same to a raw raster — or refuse one it cannot prepare.

    - ``cloud_mask``: training series were cloud-masked (``cloud_values`` of a per-date mask
      band) and the gaps filled (``gap_fill``) over ``dates``: a raw series must come with its
      cloud mask, or as a cube cleaned by eotrust (tag ``cleaning``).
    - ``mean``/``std``: per input channel, of the prepared training pixels; a scene whose mean
      lies more than ``max_shift`` training standard deviations away is flagged as unlike what
      the model saw.
    """

    cloud_mask: bool = False
    cloud_values: list[float] = Field(default_factory=lambda: [1.0])
    gap_fill: Literal["none", "interpolate", "composite"] = "none"
    dates: list[str] = Field(default_factory=list)
    mean: list[float] = Field(default_factory=list)
    std: list[float] = Field(default_factory=list)
    max_shift: float = Field(default=3.0, gt=0)


class Manifest(_Strict):
    """Everything a scorer, a registry and an auditor need to know about a model package."""

    format: Literal["eotrust-model-package/1"] = FORMAT
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    algorithm: str
    created: str = Field(description="UTC time, RFC 3339 (YYYY-MM-DDTHH:MM:SSZ)")
    owner: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    training_params: dict[str, Any] = Field(default_factory=dict)
    lineage: Lineage = Field(default_factory=Lineage)
    input: InputSpec
    output: OutputSpec
    classes: list[ClassInfo]
    metrics: dict[str, Any] = Field(default_factory=dict)
    graph: GraphInfo
    preprocessing: Preprocessing | None = None

    @field_validator("created")
    @classmethod
    def _rfc3339(cls, v: str) -> str:
        try:
            datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise ValueError("created must be UTC time as YYYY-MM-DDTHH:MM:SSZ") from None
        return v

    @model_validator(mode="after")
    def _check(self) -> Manifest:
        if len(self.classes) != self.output.classes:
            raise ValueError(f"{len(self.classes)} classes listed for an output of {self.output.classes}")
        if sorted(c.index for c in self.classes) != list(range(self.output.classes)):
            raise ValueError("class indices must be 0 .. K-1, each once")
        expected = "NKHW" if self.input.kind == "image" else "NK"
        if self.output.layout != expected:
            raise ValueError(f"a {self.input.kind} model's output layout is {expected}")
        return self

    def canonical(self) -> bytes:
        """The manifest's one byte form. Unset optional fields are left out, so adding an
        optional field later does not change the bytes (or the CID) of existing packages."""
        return canonical_json(self.model_dump(mode="json", exclude_none=True))

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in sorted(self.classes, key=lambda c: c.index)]


def short_list(names: list[str], most: int = 8) -> str:
    """Names for a message: all of them when few, else the first three … the last."""
    return ", ".join(names) if len(names) <= most else f"{', '.join(names[:3])} … {names[-1]} ({len(names)})"


def make_classes(names: list[str], colours: list[str] | None = None, codes: list[int] | None = None) -> list[ClassInfo]:
    """Class entries for ``names``; colours default to :data:`PALETTE`."""
    colours = list(colours or [])
    return [
        ClassInfo(
            index=i,
            name=n,
            colour=colours[i] if i < len(colours) else PALETTE[i % len(PALETTE)],
            code=codes[i] if codes and i < len(codes) else None,
        )
        for i, n in enumerate(names)
    ]


def signing_message(manifest_bytes: bytes, graph_bytes: bytes) -> str:
    """The text the owner signs (EIP-191 ``personal_sign``, domain "model package" v2 of
    :mod:`eotrust.crypto.signing`; v1 was bare lines): the digests of both entries."""
    return signing_message_of_digests(
        hashlib.sha256(manifest_bytes).hexdigest(), hashlib.sha256(graph_bytes).hexdigest()
    )


def signing_message_of_digests(manifest_sha256: str, graph_sha256: str) -> str:
    return record_text(
        Domain.MODEL_PACKAGE,
        SIGNATURE_VERSION,
        {MANIFEST: f"sha256:{manifest_sha256}", GRAPH: f"sha256:{graph_sha256}"},
    )


def manifest_signer(manifest_bytes: bytes, signature: str) -> str:
    """Who signed a package, from its manifest alone (the manifest holds the graph's digest, so
    the signed message can be rebuilt without the graph); IntegrityError if it cannot be read."""
    try:
        manifest = Manifest.model_validate_json(manifest_bytes)
    except ValidationError:
        raise IntegrityError("the manifest or its signature is malformed") from None
    signer = text_signer(
        signing_message_of_digests(hashlib.sha256(manifest_bytes).hexdigest(), manifest.graph.sha256), signature
    )
    if signer is None:
        raise IntegrityError("the manifest or its signature is malformed")
    return signer


def _parse_graph(graph_bytes: bytes) -> Any:
    import onnx

    try:
        proto = onnx.load_from_string(graph_bytes)  # never loads external data itself
    except Exception as exc:
        raise ModelError(f"the ONNX graph does not parse: {first_line(exc)}", hint="export the model again") from None
    check_self_contained(proto)
    return proto


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor a graph holds: initializers (dense and sparse) and its nodes' attributes,
    in subgraphs too (a Loop's or an If's body)."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _node_tensors(graph.node)


def _node_tensors(nodes: Any) -> Iterator[Any]:
    """The tensors in nodes' attributes (a ``Constant``'s value), and in their subgraphs."""
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield attr.sparse_tensor.values
                yield attr.sparse_tensor.indices
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def check_self_contained(proto: Any) -> None:
    """Refuse a graph with a tensor stored outside it. onnxruntime reads such "external data"
    from a path the graph names, resolved against the scoring process's working directory —
    ``../`` included — so a signed package could read any file of the host that scores it
    into a tensor and carry it out in its predictions. eotrust packages hold one self-contained
    graph."""
    import onnx

    functions = (t for f in proto.functions for t in _node_tensors(f.node))  # model-local functions
    for tensor in itertools.chain(_tensors(proto.graph), functions):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            where = next((e.value for e in tensor.external_data if e.key == "location"), "?")
            raise ModelError(
                f"the ONNX graph keeps tensor {tensor.name or '(unnamed)'!r} outside itself ({where!r}); "
                "a package's graph must hold all its data",
                hint="export without external data (models under 2 GiB fit in one file)",
            )


def graph_precision(graph_bytes: bytes) -> Literal["int8"] | None:
    """``"int8"`` when the graph holds quantised operators, else None (float32)."""
    proto = _parse_graph(graph_bytes)
    return "int8" if any(n.op_type in QUANTISED_OPS for n in proto.graph.node) else None


def graph_info(graph_bytes: bytes, quantisation: Quantisation | None = None) -> GraphInfo:
    """Digest, size, opset, producer and precision of an ONNX graph (checks that it parses,
    and that a quantised graph comes with its ``quantisation`` and a float one without)."""
    proto = _parse_graph(graph_bytes)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    producer = f"{proto.producer_name} {proto.producer_version}".strip()
    precision = "int8" if any(n.op_type in QUANTISED_OPS for n in proto.graph.node) else None
    if (precision is None) != (quantisation is None):
        raise ModelError(
            "an INT8 graph needs its quantisation described, and a float graph has none"
            if precision
            else "this graph is not quantised; it cannot be described as INT8"
        )
    return GraphInfo(
        sha256=hashlib.sha256(graph_bytes).hexdigest(),
        size=len(graph_bytes),
        opset=opset,
        producer=producer,
        precision=precision,
        quantisation=quantisation,
    )


def _zip_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3
    info.external_attr = _ZIP_MODE
    return info


def pack(manifest: Manifest, graph_bytes: bytes, account: LocalAccount, dest: Path) -> Path:
    """Sign and write a package to ``dest`` (atomically); return ``dest``.

    The manifest's ``owner`` must be the signing account and its ``graph`` entry must describe
    ``graph_bytes``."""
    if manifest.owner.lower() != account.address.lower():
        raise ModelError(
            f"the manifest's owner is {manifest.owner}, but {account.address} signs",
            hint="build the manifest with owner=account.address",
        )
    if manifest.graph.sha256 != hashlib.sha256(graph_bytes).hexdigest() or manifest.graph.size != len(graph_bytes):
        raise ModelError("the manifest's graph digest does not describe this ONNX graph")
    if manifest.graph.precision != graph_precision(graph_bytes):
        raise ModelError(
            f"the manifest says the graph is {manifest.graph.precision_name}, but it is not",
            hint="describe the graph with graph_info()",
        )
    manifest_bytes = manifest.canonical()
    message = signing_message(manifest_bytes, graph_bytes)
    signature = {
        "scheme": "eip191",
        "signer": account.address,
        "message": message,
        "signature": sign_text(account, message),
    }
    dest = Path(dest)
    write_atomic(dest, archive(manifest_bytes, graph_bytes, canonical_json(signature)))
    return dest


def archive(manifest_bytes: bytes, graph_bytes: bytes, signature_bytes: bytes) -> bytes:
    """The package's one byte form for these three entries (see the module's docstring)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in zip(ENTRIES, (manifest_bytes, graph_bytes, signature_bytes)):
            zf.writestr(_zip_entry(name), data)
    return buf.getvalue()


@dataclass(frozen=True)
class ModelPackage:
    """A package's entries as read (not yet verified: see :func:`verify_package`)."""

    manifest: Manifest
    manifest_bytes: bytes
    graph_bytes: bytes
    signature: dict[str, Any]

    @property
    def signer(self) -> str:
        return str(self.signature.get("signer", ""))


def read_package(source: Path | bytes) -> ModelPackage:
    """Read a package's three entries; IntegrityError when it is not a well-formed package."""
    what = f"model package {source}" if isinstance(source, Path) else "model package"
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as zf:
            names = tuple(zf.namelist())
            if names != ENTRIES:
                raise IntegrityError(
                    f"{what} holds {list(names)}, not {list(ENTRIES)}", hint="it was not made by eotrust or was altered"
                )
            for info in zf.infolist():  # before testzip, which inflates every entry
                if info.file_size > ENTRY_LIMITS[info.filename]:
                    raise IntegrityError(
                        f"{what}: {info.filename} declares {info.file_size} bytes; at most "
                        f"{ENTRY_LIMITS[info.filename]} are read",
                        hint="it was not made by eotrust (a ZIP bomb?)",
                    )
                if info.compress_type != zipfile.ZIP_STORED:
                    # eotrust stores entries as they are: a compressed one is not a package's
                    # byte form, and would make memory of a small file (1 GB from 1 MB)
                    raise IntegrityError(
                        f"{what}: {info.filename} is compressed; a package's entries are stored as they are",
                        hint="it was not made by eotrust or was repacked",
                    )
                if info.compress_size != info.file_size:
                    raise IntegrityError(
                        f"{what}: {info.filename} declares {info.file_size} bytes but holds {info.compress_size}",
                        hint="the file was altered",
                    )
            bad = zf.testzip()
            if bad is not None:
                raise IntegrityError(f"{what}: entry {bad} fails its CRC check", hint="the file was altered")
            manifest_bytes, graph_bytes, signature_bytes = (zf.read(n) for n in ENTRIES)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise InvalidInputError(f"{what} does not exist") from None
        raise IntegrityError(
            f"{what} is not a readable ZIP archive: {exc}", hint="the file was altered or truncated"
        ) from None
    try:
        manifest = Manifest.model_validate_json(manifest_bytes)
        signature = json_loads(signature_bytes)
    except (ValidationError, ValueError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = ".".join(str(x) for x in first["loc"]) + ": " + first["msg"] if first else str(exc)
        raise IntegrityError(f"{what}: invalid manifest or signature ({where})", hint="the file was altered") from None
    if manifest.canonical() != manifest_bytes:
        raise IntegrityError(f"{what}: manifest.json is not in canonical form", hint="the file was altered")
    if not isinstance(signature, dict) or set(signature) != SIGNATURE_KEYS:
        raise IntegrityError(
            f"{what}: signature.json holds other fields than {', '.join(sorted(SIGNATURE_KEYS))}",
            hint="the file was altered",
        )
    if canonical_json(signature) != signature_bytes:
        raise IntegrityError(f"{what}: signature.json is not in canonical form", hint="the file was altered")
    if not _same_bytes(source, archive(manifest_bytes, graph_bytes, signature_bytes)):
        # bytes outside the entries (a ZIP comment, data before the archive, other header
        # fields) change the CID without touching anything signed: one signed package would
        # have many CIDs, and an old version could come back as a "new" one
        raise IntegrityError(
            f"{what} is not in the package's one byte form (bytes outside its signed entries differ)",
            hint="it was altered after packing; use the file as its owner published it",
        )
    return ModelPackage(manifest, manifest_bytes, graph_bytes, signature)


def _same_bytes(source: Path | bytes, expected: bytes) -> bool:
    """Whether ``source`` (a file or bytes) holds exactly ``expected``."""
    if isinstance(source, bytes):
        return source == expected
    view = memoryview(expected)
    with open(source, "rb") as f:
        at = 0
        while chunk := f.read(1 << 20):
            if view[at : at + len(chunk)] != chunk:
                return False
            at += len(chunk)
    return at == len(expected)


@dataclass
class Verification:
    """What :func:`verify_package` checked, in order."""

    cid: str
    name: str
    owner: str
    checks: list[str] = field(default_factory=list)


def verify_package(
    path: Path,
    *,
    cid: str | None = None,
    owner: str | None = None,
    check_graph: bool = True,
) -> Verification:
    """Check a package file completely; raise IntegrityError (or ModelError for a graph that
    will not load) naming the first thing that fails.

    ``cid``: the CID the package is supposed to have. ``owner``: the address that must have
    signed it (default: whoever the manifest names)."""
    from eotrust.cid import cid_of_file, to_v1

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"model package {path} does not exist")
    actual = cid_of_file(path)
    checks: list[str] = []
    if cid is not None:
        try:
            same = to_v1(actual) == to_v1(cid)
        except Exception:
            raise InvalidInputError(f"{cid!r} is not a CID") from None
        if not same:
            raise IntegrityError(
                f"model package {path} has CID {actual}, not the expected {cid}",
                hint="the file was altered or is another package",
            )
        checks.append(f"CID {actual} matches")
    else:
        checks.append(f"CID {actual} computed")
    pkg = read_package(path)
    checks.append("archive layout and CRCs")
    m = pkg.manifest
    if hashlib.sha256(pkg.graph_bytes).hexdigest() != m.graph.sha256 or len(pkg.graph_bytes) != m.graph.size:
        raise IntegrityError(
            f"model package {path}: model.onnx does not match the manifest's digest", hint="the graph was altered"
        )
    checks.append("graph digest matches the manifest")
    try:
        actual_precision = graph_precision(pkg.graph_bytes)
    except ModelError:
        raise IntegrityError(f"model package {path}: model.onnx does not parse") from None
    if actual_precision != m.graph.precision:
        raise IntegrityError(
            f"model package {path}: the manifest says the graph is {m.graph.precision_name}, but "
            f"model.onnx is {'int8' if actual_precision else 'float32'}",
            hint="the package is mislabelled",
        )
    checks.append(f"graph precision {m.graph.precision_name} matches the manifest")
    signer = verify_signature(pkg, what=f"model package {path}")
    if signer.lower() != m.owner.lower():
        raise IntegrityError(f"model package {path} is signed by {signer}, but its manifest names owner {m.owner}")
    if owner is not None and signer.lower() != owner.lower():
        raise IntegrityError(f"model package {path} is signed by {signer}, not by {owner}")
    checks.append(f"signature by owner {m.owner}")
    if check_graph:
        load_session(pkg)
        checks.append("ONNX graph loads in onnxruntime with the declared input and output")
    return Verification(cid=actual, name=m.name, owner=m.owner, checks=checks)


def verify_signature(pkg: ModelPackage, *, what: str = "model package") -> str:
    """The address that signed ``pkg`` (IntegrityError if the signature does not hold)."""
    sig = pkg.signature
    message = signing_message(pkg.manifest_bytes, pkg.graph_bytes)
    if sig.get("scheme") != "eip191" or sig.get("message") != message:
        raise IntegrityError(
            f"{what}: the signature is not over this manifest and graph", hint="the package was altered after signing"
        )
    signature = str(sig.get("signature"))
    if not _SIGNATURE_HEX.fullmatch(signature):
        # one spelling of a signature (lower-case hex, v of 27 or 28, as eth-account writes
        # it): another that recovers the same signer would be another CID for the same package
        raise IntegrityError(
            f"{what}: the signature is not written as 0x and 130 lower-case hex digits ending 1b or 1c"
        )
    recovered = text_signer(message, signature)
    if recovered is None:
        raise IntegrityError(f"{what}: the signature is malformed")
    if recovered != sig.get("signer"):
        raise IntegrityError(
            f"{what}: the signature was not made by {sig.get('signer')} (forged or altered)"
            if recovered.lower() != str(sig.get("signer", "")).lower()
            else f"{what}: the signer is not written as its checksummed address {recovered}"
        )
    return recovered


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (onnxruntime and torch write pages)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def load_session(pkg: ModelPackage, options: Any = None) -> Any:
    """An onnxruntime session of the package's graph, checked against the manifest's input and
    output; ModelError when onnxruntime refuses the graph."""
    import onnxruntime as ort

    from eotrust.ml.ort_memory import cap_model_memory

    _parse_graph(pkg.graph_bytes)  # self-contained: no tensor read from a path the graph names
    if options is None:
        options = ort.SessionOptions()
        options.log_severity_level = 4  # a failure is raised, and said in one line, not logged too
        cap_model_memory(options)
    try:
        # no constant folding: it computes the graph's constant subgraphs while the session is
        # made, outside the capped arena and any time limit (a ConstantOfShape of 16384 x 16384
        # floats took 2 GiB and 30 s before the first tile); unfolded, they run under the cap
        session = ort.InferenceSession(
            pkg.graph_bytes, options, providers=["CPUExecutionProvider"], disabled_optimizers=["ConstantFolding"]
        )
    except Exception as exc:
        raise ModelError(
            f"the ONNX graph of model {pkg.manifest.name} does not load: {first_line(exc)}",
            hint="export the model again",
        ) from None
    check_session(session, pkg.manifest)
    return session


def check_session(session: Any, manifest: Manifest) -> None:
    """The session's input and output match what the manifest declares: the input's rank and
    fixed sizes; a float32 output of the layout's rank with the manifest's number of classes
    (where the graph fixes it; :meth:`Scorer.run` holds every call to the same shape)."""
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    spec = manifest.input
    if spec.name not in inputs:
        raise ModelError(f"the graph has no input {spec.name!r} (it has {sorted(inputs)})")
    if manifest.output.name not in outputs:
        raise ModelError(f"the graph has no output {manifest.output.name!r} (it has {sorted(outputs)})")
    output = outputs[manifest.output.name]
    if output.type != "tensor(float)":
        raise ModelError(f"the graph's output {output.name!r} is {output.type}; a model gives float32 class scores")
    out_rank = {"NKHW": 4, "NK": 2}[manifest.output.layout]
    out_shape = output.shape
    if out_shape is not None and len(out_shape) != out_rank:  # no shape at all: known only when it runs
        raise ModelError(
            f"the graph's output has rank {len(out_shape)}, the manifest's layout {manifest.output.layout} "
            f"needs {out_rank}"
        )
    if out_shape is not None and isinstance(out_shape[1], int) and out_shape[1] != manifest.output.classes:
        raise ModelError(f"the graph's output has {out_shape[1]} classes, the manifest lists {manifest.output.classes}")
    shape = inputs[spec.name].shape
    rank = {"NCHW": 4, "NT": 2, "NCT": 3}[spec.layout]
    if len(shape) != rank:
        raise ModelError(f"the graph's input has rank {len(shape)}, the manifest's layout {spec.layout} needs {rank}")
    fixed: dict[str, dict[int, int | None]] = {
        "NCHW": {1: spec.channels},
        "NT": {1: spec.timesteps},
        "NCT": {1: spec.channels, 2: spec.timesteps},
    }
    for axis, size in fixed[spec.layout].items():
        if isinstance(shape[axis], int) and shape[axis] != size:
            raise ModelError(f"the graph's input axis {axis} is {shape[axis]}, the manifest says {size}")
