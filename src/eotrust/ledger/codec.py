"""What the contracts hold, to and from what people type.

- CIDs: the contract keeps a CID as its 32-byte sha2-256 digest. Every object eotrust names is
  a dag-pb node hashed with sha2-256 (:mod:`eotrust.cid`), so the digest is the whole CID and
  ``Qm…`` comes back from it unchanged.
- Catalogue ids (application, platform, dataset): ``bytes32``. A catalogue record id is a CID,
  so its digest is used; ``0x`` + 64 hex digits is taken as is; any other text is hashed with
  sha2-256 (say a UUID from another system).
- Keys: an ``age1…`` X25519 recipient is bech32 of 32 key bytes; the contract keeps the bytes.
- Execution ids: a UUID, kept as ``bytes16``.
"""

from __future__ import annotations

import hashlib
import re
import uuid

from eth_utils.address import is_address, to_checksum_address

from eotrust.cid import cid_digest, cid_from_digest
from eotrust.errors import InvalidInputError

ZERO32 = bytes(32)
_HEX32 = re.compile(r"^0x[0-9a-fA-F]{64}$")

# -- bech32 (BIP 173), as age writes X25519 recipients ---------------------------------------
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
AGE_HRP = "age"


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if ((top >> i) & 1) else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _convertbits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        return None
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    five = _convertbits(data, 8, 5, True) or []
    values = _hrp_expand(hrp) + five
    polymod = _polymod(values + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in five + checksum)


def bech32_decode(text: str) -> tuple[str, bytes] | None:
    if text.lower() != text and text.upper() != text:
        return None
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        return None
    hrp, rest = text[:pos], text[pos + 1 :]
    if any(c not in _CHARSET for c in rest):
        return None
    values = [_CHARSET.find(c) for c in rest]
    if _polymod(_hrp_expand(hrp) + values) != 1:
        return None
    data = _convertbits(values[:-6], 5, 8, False)
    return (hrp, bytes(data)) if data is not None else None


def recipient_to_key(recipient: str) -> bytes:
    """The 32 X25519 key bytes inside an ``age1…`` recipient."""
    decoded = bech32_decode(recipient.strip()) if isinstance(recipient, str) else None
    if decoded is None or decoded[0] != AGE_HRP or len(decoded[1]) != 32:
        raise InvalidInputError(
            f"{recipient!r} is not an age X25519 recipient", hint="an age recipient looks like age1… (62 characters)"
        )
    return decoded[1]


def key_to_recipient(key: bytes) -> str:
    """The ``age1…`` recipient of 32 X25519 key bytes."""
    if len(key) != 32:
        raise InvalidInputError(f"an X25519 key has 32 bytes, not {len(key)}")
    return bech32_encode(AGE_HRP, bytes(key))


def key_or_none(key: bytes) -> str | None:
    return None if bytes(key) == ZERO32 else key_to_recipient(bytes(key))


# -- CIDs and ids ---------------------------------------------------------------------------------
def cid_to_bytes32(cid: str) -> bytes:
    """The digest the contract keeps for a CID (``Qm…`` or ``bafy…``)."""
    return cid_digest(cid)


def cid_or_none(digest: bytes) -> str | None:
    """The CIDv0 of a digest read from the contract, or None for an unset (zero) one."""
    return None if bytes(digest) == ZERO32 else cid_from_digest(bytes(digest))


def catalog_id(value: str | bytes) -> bytes:
    """A catalogue id as ``bytes32``: a CID's digest, ``0x``-hex as is, other text hashed."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 32:
            raise InvalidInputError(f"a catalogue id has 32 bytes, not {len(value)}")
        return bytes(value)
    text = value.strip()
    if not text:
        raise InvalidInputError("empty catalogue id")
    if _HEX32.match(text):
        return bytes.fromhex(text[2:])
    if text.startswith(("Qm", "bafy", "/ipfs/")):
        return cid_digest(text)
    return hashlib.sha256(text.encode()).digest()


def hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def execution_id_bytes(value: str | uuid.UUID | bytes | None) -> bytes:
    """An execution id as the contract's ``bytes16`` (a UUID; a new one when None)."""
    if value is None:
        return uuid.uuid4().bytes
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 16:
            raise InvalidInputError(f"an execution id has 16 bytes, not {len(value)}")
        return bytes(value)
    try:
        return uuid.UUID(value.strip()).bytes
    except ValueError:
        raise InvalidInputError(f"execution id {value!r} is not a UUID") from None


def execution_id_or_none(value: bytes) -> str | None:
    return None if bytes(value) == bytes(16) else str(uuid.UUID(bytes=bytes(value)))


def checksum_address(value: str, *, what: str = "address") -> str:
    """An Ethereum address in checksum form; InvalidInputError if it is not one."""
    if not isinstance(value, str) or not is_address(value.strip()):
        raise InvalidInputError(f"{what} {value!r} is not an Ethereum address", hint="an address is 0x + 40 hex digits")
    return to_checksum_address(value.strip())
