"""eotrust.crypto: age encryption (X25519, streaming, through pyrage) and the sealed envelope.

- keys: :func:`generate_identity`, recipients and identities as age writes them;
- age: :func:`encrypt_stream`/:func:`decrypt_stream` and the file versions, interoperable
  with the ``age`` command-line tool;
- envelope: :func:`seal_to_store`/:func:`open_from_store`, a plain age file in a store, opened
  against the plaintext CID that a signed record names (:func:`check_sealed` checks it and keeps
  nothing of the plaintext);
- signing: :func:`sign_record`/:func:`verify_record`, EIP-191 signatures of canonical JSON
  under a domain tag and version per signed format (:class:`Domain`).
"""

from eotrust.crypto.age import decrypt_file, decrypt_stream, encrypt_file, encrypt_stream
from eotrust.crypto.envelope import Sealed, check_sealed, open_from_store, open_stream, seal_to_store
from eotrust.crypto.keys import generate_identity, parse_identity, parse_recipient, recipient_of
from eotrust.crypto.signing import Domain, record_signer, sign_record, verify_record

__all__ = [
    "Domain",
    "Sealed",
    "check_sealed",
    "decrypt_file",
    "decrypt_stream",
    "encrypt_file",
    "encrypt_stream",
    "generate_identity",
    "open_from_store",
    "open_stream",
    "parse_identity",
    "parse_recipient",
    "recipient_of",
    "record_signer",
    "seal_to_store",
    "sign_record",
    "verify_record",
]
