"""Step 7 of the flow: the submitter downloads, checks and decrypts the results.

Every result CID recorded on the contract is fetched from the store (re-hashed on the way),
matched with the platform's signed catalogue record of it, decrypted with the submitter's age
identity, and the plaintext's CID is checked against the record (the ciphertext is a plain
age file: the plaintext CID travels only in the platform's signed record). The run
record (published in clear, for anyone to verify) is copied out as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eotrust.backends import Backends
from eotrust.errors import IntegrityError, StateError
from eotrust.ledger import TaskState
from eotrust.party import Party

_MAGIC = ((b"II*\x00", ".tif"), (b"MM\x00*", ".tif"), (b"\x89PNG", ".png"), (b"{", ".json"), (b"PK\x03\x04", ".zip"))


@dataclass(frozen=True)
class CollectedResult:
    name: str
    cid: str  # as recorded on the contract
    plaintext_cid: str
    path: Path
    encrypted: bool


def _suffix(path: Path) -> str:
    head = path.read_bytes()[:4]
    for magic, suffix in _MAGIC:
        if head.startswith(magic):
            return suffix
    return ""


def _named_for_its_kind(target: Path) -> Path:
    """Give a decrypted result the extension its bytes call for: ``classmap`` (a GeoTIFF)
    becomes ``classmap.tif``, ``classmap_png`` becomes ``classmap.png`` (not
    ``classmap_png.png``)."""
    suffix = _suffix(target)
    if not suffix or target.suffix == suffix:
        return target
    stem = target.name.removesuffix("_" + suffix[1:])
    if stem != target.name and target.with_name(stem + suffix).exists():
        stem = target.name  # another result already has that name: keep ours whole
    return target.rename(target.with_name(stem + suffix))


def collect_results(backends: Backends, submitter: Party, address: str, dest: Path) -> list[CollectedResult]:
    """Decrypt every result of a Finished task into ``dest``; return where each one is."""
    from eotrust.crypto import open_from_store

    catalog, store = backends.catalog, backends.store
    snap = backends.task(address).status()
    if snap.state is not TaskState.Finished:
        hint = (
            "read why with `eotrust flow failure-log`"
            if snap.state is TaskState.Failed
            else "wait until it is Finished"
        )
        raise StateError(f"task {address} is {snap.state.value}, not Finished", hint=hint)
    if snap.submitter.lower() != submitter.account.address.lower():
        raise StateError(f"task {address} was submitted by {snap.submitter}, not by {submitter.name}")
    records = catalog.results_of(address, platform_owner=snap.platform_owner, chain=backends.chain.key)
    named: dict[str, str] = {}
    for cid in snap.result_cids:  # every name checked before anything is written
        info = records.get(cid)
        if info is None:
            raise IntegrityError(f"result {cid} of task {address} has no record signed by the platform owner")
        if info.name in named:
            raise IntegrityError(
                f"the platform owner recorded two results named {info.name!r} for task {address} ({named[info.name]} "
                f"and {cid}): nothing is written"
            )
        named[info.name] = cid
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    collected: list[CollectedResult] = []
    for cid in snap.result_cids:
        info = records[cid]
        target = dest / info.name
        if not info.recipient:
            store.get_file(cid, target)
            encrypted = False
            plaintext = cid
        else:
            plaintext = open_from_store(store, cid, submitter.age_identity, target, expected_cid=info.plaintext_cid)
            encrypted = True
        if plaintext != info.plaintext_cid:
            target.unlink(missing_ok=True)
            raise IntegrityError(
                f"result {info.name!r} decrypted to {plaintext}; the platform recorded {info.plaintext_cid}"
            )
        target = _named_for_its_kind(target)
        collected.append(CollectedResult(info.name, cid, plaintext, target, encrypted))
    return collected


def failure_log(backends: Backends, submitter: Party, address: str) -> str:
    """The decrypted error log of a Failed task."""
    import tempfile

    from eotrust.crypto import open_from_store

    snap = backends.task(address).status()
    if snap.state is not TaskState.Failed or not snap.failure:
        raise StateError(f"task {address} is {snap.state.value}, not Failed")
    cid = snap.failure
    records = backends.catalog.results_of(address, platform_owner=snap.platform_owner, chain=backends.chain.key)
    info = records.get(cid)
    if info is None:
        raise IntegrityError(f"the failure log {cid} of task {address} has no record signed by the platform owner")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "failure.log"
        open_from_store(backends.store, cid, submitter.age_identity, out, expected_cid=info.plaintext_cid)
        return out.read_text()
