"""CIDs exactly as IPFS makes them.

``cid_of_*`` give the CID kubo's ``ipfs add`` prints with its defaults (UnixFS file, 256 KiB
chunks, balanced DAG of at most 174 links per node, dag-pb, sha2-256, CIDv0 ``Qm…``);
:func:`to_v1` gives the same name as CIDv1 (``bafy…``). Encoding of CIDs, multihashes and
multibases is the ``multiformats`` library's, of nodes protobuf's; this package writes only
the DAG layout (:mod:`eotrust.cid.importer`). :func:`canonical_json` is the one byte form of
the JSON documents that eotrust content-addresses and signs.
"""

from eotrust.cid.canonical import canonical_json, canonical_text
from eotrust.cid.codec import (
    cid_digest,
    cid_from_digest,
    cid_from_multihash,
    cid_multihash,
    normal_cid,
    same_cid,
    to_v0,
    to_v1,
    validate_cid,
)
from eotrust.cid.importer import (
    CHUNK_SIZE,
    MAX_LINKS,
    BlockSink,
    DagImporter,
    ImportResult,
    cid_of_bytes,
    cid_of_file,
    cid_of_stream,
    import_stream,
)

__all__ = [
    "canonical_json",
    "canonical_text",
    "CHUNK_SIZE",
    "MAX_LINKS",
    "normal_cid",
    "same_cid",
    "BlockSink",
    "DagImporter",
    "ImportResult",
    "cid_digest",
    "cid_from_digest",
    "cid_from_multihash",
    "cid_multihash",
    "cid_of_bytes",
    "cid_of_file",
    "cid_of_stream",
    "import_stream",
    "to_v0",
    "to_v1",
    "validate_cid",
]
