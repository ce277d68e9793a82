"""CID strings: parsing, the CIDv0/CIDv1 forms and the sha2-256 digest inside them.

Every object eotrust names is a dag-pb node hashed with sha2-256, exactly as kubo's
``ipfs add`` makes it, so a CID here always carries a 32-byte sha2-256 digest. The
canonical form is CIDv0 (``Qm…``); :func:`to_v1` gives the equivalent CIDv1 (``bafy…``):
the same DAG, the same digest, written in base32.
"""

from __future__ import annotations

from functools import lru_cache

from multiformats import CID, multihash

from eotrust.errors import InvalidInputError

SHA256_LEN = 32
_SHA256 = multihash.get("sha2-256")


_SHA256_PREFIX = _SHA256.wrap(bytes(SHA256_LEN))[:-SHA256_LEN]  # code and length varints
#: The same CIDs are checked again and again (every record read, every request): multiformats
#: takes over a millisecond per parse, so results are kept, strings and bytes only (immutable).
_MEMO = 8192


def multihash_of(digest: bytes) -> bytes:
    """The sha2-256 multihash bytes (``0x12 0x20`` + digest) of a raw digest."""
    if len(digest) != SHA256_LEN:
        raise InvalidInputError(f"a sha2-256 digest has {SHA256_LEN} bytes, not {len(digest)}")
    return _SHA256_PREFIX + digest


def _string(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"a CID must be a string, not {type(text).__name__}")
    return text


def _parse(text: str) -> CID:
    stripped = _string(text).strip()
    if stripped.startswith("/ipfs/"):
        stripped = stripped[len("/ipfs/") :]
    shown = stripped if len(stripped) <= 80 else stripped[:77] + "..."
    if not stripped:
        raise InvalidInputError("empty CID", hint="a CID looks like Qm… (CIDv0) or bafy… (CIDv1)")
    try:
        cid = CID.decode(stripped)
    except Exception:  # multiformats raises several unrelated error types
        raise InvalidInputError(
            f"{shown!r} is not a CID", hint="a CID looks like Qm… (CIDv0) or bafy… (CIDv1)"
        ) from None
    if cid.codec.name != "dag-pb" or cid.hashfun.name != "sha2-256" or len(cid.raw_digest) != SHA256_LEN:
        raise InvalidInputError(
            f"CID {shown} is {cid.codec.name}/{cid.hashfun.name}; eotrust names objects by dag-pb sha2-256 CIDs",
            hint="add the object with kubo's defaults (ipfs add, without --raw-leaves or --hash)",
        )
    return cid


def validate_cid(text: str) -> str:
    """Check ``text`` is a dag-pb sha2-256 CID (v0 or v1, optionally ``/ipfs/``-prefixed)
    and return its canonical CIDv0 form; raise InvalidInputError saying what is wrong."""
    return _canonical(_string(text))  # a string first: the memo takes only hashable keys


@lru_cache(maxsize=_MEMO)
def _canonical(text: str) -> str:  # an error is raised each time, never kept
    return str(_parse(text).set(base="base58btc", version=0))


def to_v1(cid: str) -> str:
    """The CIDv1 (base32, ``bafy…``) form of a CID: same DAG, same digest."""
    return str(_parse(cid).set(base="base32", version=1))


def to_v0(cid: str) -> str:
    """The CIDv0 (``Qm…``) form of a CID."""
    return validate_cid(cid)


def normal_cid(text: str) -> str | None:
    """The one normal form in which CIDs are compared: the CIDv0 (``Qm…``) of ``text``, whatever
    form it was written in (CIDv0, CIDv1 in any base, ``/ipfs/``-prefixed); None when ``text``
    is not an eotrust CID. Two names of the same DAG have the same normal form."""
    try:
        return validate_cid(text)
    except Exception:  # not a CID: equal to nothing
        return None


def same_cid(a: str | None, b: str | None) -> bool:
    """Whether ``a`` and ``b`` name the same object (compared in :func:`normal_cid` form)."""
    na = normal_cid(a) if a else None
    return na is not None and na == (normal_cid(b) if b else None)


def cid_digest(cid: str) -> bytes:
    """The 32-byte sha2-256 digest named by a CID (what the ledger stores as ``bytes32``)."""
    return _digest(_string(cid))


@lru_cache(maxsize=_MEMO)
def _digest(cid: str) -> bytes:
    return bytes(_parse(cid).raw_digest)


def cid_multihash(cid: str) -> bytes:
    """The multihash bytes of a CID (``0x12 0x20`` + digest): how blocks are keyed."""
    return multihash_of(cid_digest(cid))


def cid_from_digest(digest: bytes) -> str:
    """The CIDv0 naming a dag-pb node whose sha2-256 digest is ``digest``."""
    if len(digest) != SHA256_LEN:
        raise InvalidInputError(f"a sha2-256 digest has {SHA256_LEN} bytes, not {len(digest)}")
    return cid_from_multihash(multihash_of(bytes(digest)))


def cid_from_multihash(mh: bytes) -> str:
    """The CIDv0 string of a sha2-256 multihash."""
    return _from_multihash(bytes(mh) if isinstance(mh, (bytearray, memoryview)) else mh)


@lru_cache(maxsize=_MEMO)
def _from_multihash(mh: bytes) -> str:
    return str(CID("base58btc", 0, "dag-pb", mh))
