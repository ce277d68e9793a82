"""The secrets of a party at rest, each in a Web3 Secret Storage (keystore v3) file encrypted
with the party's passphrase (scrypt, AES-128-CTR, keccak MAC; eth-keyfile's code):

- ``keystore.json``: the Ethereum account key, the standard file geth and MetaMask import;
- ``age-identity.json``: the age X25519 secret (the 32 bytes inside ``AGE-SECRET-KEY-1…``)
  in the same format, so one passphrase and one KDF cost unlock both and no secret is ever
  on disk in clear.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import bech32
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keyfile.keyfile import create_keyfile_json, decode_keyfile_json

from eotrust.crypto import parse_identity
from eotrust.errors import ConfigError, PartyError
from eotrust.limits import json_loads

AGE_HRP = "age-secret-key-"


def _check_n(scrypt_n: int) -> None:
    if scrypt_n < 2 or scrypt_n & (scrypt_n - 1):
        raise ConfigError(f"keystore scrypt N must be a power of two, not {scrypt_n}")


def encrypt_account(account: LocalAccount, passphrase: str, scrypt_n: int) -> dict[str, Any]:
    _check_n(scrypt_n)
    return dict(Account.encrypt(account.key, passphrase, kdf="scrypt", iterations=scrypt_n))


def decrypt_account(keystore: dict[str, Any], passphrase: str, what: str) -> LocalAccount:
    try:
        account: LocalAccount = Account.from_key(Account.decrypt(keystore, passphrase))
        return account
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise PartyError(
                f"wrong passphrase for {what}", hint="set EOTRUST_PASSPHRASE to the passphrase it was created with"
            ) from None
        raise PartyError(f"the keystore of {what} is damaged: {exc}") from None


def _age_secret(identity: str) -> bytes:
    hrp, data = bech32.bech32_decode(str(parse_identity(identity)).lower())
    raw = bech32.convertbits(data, 5, 8, False) if data else None
    if hrp != AGE_HRP or raw is None or len(raw) != 32:
        raise PartyError("not an age X25519 identity")
    return bytes(raw)


def encrypt_age_identity(identity: str, passphrase: str, scrypt_n: int) -> dict[str, Any]:
    _check_n(scrypt_n)
    secret = _age_secret(identity)
    keyfile = create_keyfile_json(secret, passphrase.encode(), kdf="scrypt", iterations=scrypt_n)
    keyfile.pop("address", None)  # an Ethereum address of these bytes would mean nothing
    keyfile["kind"] = "age-x25519-identity"
    return keyfile


def decrypt_age_identity(keyfile: dict[str, Any], passphrase: str, what: str) -> str:
    try:
        secret = decode_keyfile_json(keyfile, passphrase.encode())
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise PartyError(
                f"wrong passphrase for {what}", hint="set EOTRUST_PASSPHRASE to the passphrase it was created with"
            ) from None
        raise PartyError(f"the age identity of {what} is damaged: {exc}") from None
    words = bech32.convertbits(secret, 8, 5)
    if words is None:
        raise PartyError(f"the age identity of {what} is damaged")
    identity = bech32.bech32_encode(AGE_HRP, words).upper()
    parse_identity(identity)
    return identity


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json_loads(path.read_text())
    except FileNotFoundError:
        raise PartyError(
            f"{what} has no {path.name}", hint=f"the party directory {path.parent} is incomplete"
        ) from None
    except ValueError:
        raise PartyError(f"{path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise PartyError(f"{path} is not a keystore")
    return data


def write_secret_json(path: Path, data: dict[str, Any]) -> None:
    """Write a keystore readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
