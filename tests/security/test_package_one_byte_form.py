"""Attack: anyone holding a signed model package changes bytes the signature does not cover.

A package's CID names its bytes; its signature covers the manifest and the graph. Before, a
package with a ZIP comment appended, data put before the archive, a ``signature.json`` written
with spaces or an extra field, its signature spelt in upper case or with v = 0/1, or its entries
compressed, still verified — each under a new CID. Whoever held version 1 could register it
again under a new CID, and it became the name's latest version: ``NAME`` (a command's, a route's,
an API key's scope) reached the old, buggy model again. A compressed entry also made memory of a
small file (a 512 MiB graph in a 500 KB package).

Now a package has one byte form: its three entries stored as ``pack`` writes them, nothing else,
``signature.json`` in canonical JSON with its four fields, the signature and the signer spelt as
eth-account writes them. Anything else is refused in one line, before it is stored."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from core_cli import cli, refused, repacked, tiny_package

from eotrust.errors import IntegrityError
from eotrust.settings import Settings


def _raw(package: Path) -> tuple[bytes, bytes, bytes]:
    with zipfile.ZipFile(package) as zf:
        manifest, graph, signature = (zf.read(n) for n in ("manifest.json", "model.onnx", "signature.json"))
    return manifest, graph, signature


def _zip(manifest: bytes, graph: bytes, signature: bytes, compress: int = zipfile.ZIP_STORED) -> bytes:
    from eotrust.ml.package import ENTRIES, _zip_entry

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in zip(ENTRIES, (manifest, graph, signature)):
            info = _zip_entry(name)
            info.compress_type = compress
            zf.writestr(info, data)
    return buf.getvalue()


def _with_signature(package: Path, change: Callable[[dict[str, str]], None], *, indent: int | None = None) -> bytes:
    from eotrust.cid import canonical_json

    manifest, graph, signature_bytes = _raw(package)
    signature = json.loads(signature_bytes)
    change(signature)
    written = json.dumps(signature, indent=indent).encode() if indent else canonical_json(signature)
    return _zip(manifest, graph, written)


def _flip_v(signature: dict[str, str]) -> None:
    raw = bytes.fromhex(signature["signature"][2:])
    signature["signature"] = "0x" + (raw[:64] + bytes([raw[64] - 27])).hex()


VARIANTS: dict[str, Callable[[Path], bytes]] = {
    "a ZIP comment": lambda p: p.read_bytes()[:-2] + (5).to_bytes(2, "little") + b"hello",
    "bytes before the archive": lambda p: b"#!/bin/sh\n" + p.read_bytes(),
    "signature.json with spaces": lambda p: _with_signature(p, lambda s: None, indent=2),
    "signature.json with a note": lambda p: _with_signature(p, lambda s: s.update(note="hi")),
    "the signature in upper case": lambda p: _with_signature(
        p, lambda s: s.update(signature="0x" + s["signature"][2:].upper())
    ),
    "the signature with v = 0/1": lambda p: _with_signature(p, _flip_v),
    "the signer in lower case": lambda p: _with_signature(p, lambda s: s.update(signer=s["signer"].lower())),
    "deflated entries": lambda p: _zip(*_raw(p), zipfile.ZIP_DEFLATED),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_package_rewritten_outside_its_signature_is_refused(settings: Settings, tmp_path: Path, variant: str) -> None:
    from eotrust.cid import cid_of_file
    from eotrust.ml.package import verify_package
    from eotrust.ml.registry import Registry

    original = tiny_package()
    altered = tmp_path / "altered.zip"
    altered.write_bytes(VARIANTS[variant](original))
    assert cid_of_file(altered) != cid_of_file(original)  # another CID for the same signed package
    with pytest.raises(IntegrityError) as caught:
        verify_package(altered)
    assert "\n" not in caught.value.message
    with pytest.raises(IntegrityError):
        Registry(settings).register(altered)
    refused(cli(settings.home, "model", "import", str(altered)))
    assert Registry(settings).list() == [] and not Registry(settings).store.has(cid_of_file(altered))


def test_an_old_version_cannot_come_back_as_the_latest(settings: Settings, tmp_path: Path) -> None:
    from eotrust.ml.registry import Registry

    registry = Registry(settings)
    v1 = tiny_package()
    v2 = repacked(v1, tmp_path / "v2.zip", description="v2: the bug fixed")
    first, second = registry.register(v1), registry.register(v2)
    assert (first.version, second.version) == (1, 2)
    again = tmp_path / "v1-again.zip"
    again.write_bytes(VARIANTS["a ZIP comment"](v1))
    with pytest.raises(IntegrityError):
        registry.register(again)
    assert registry.register(v1) == first  # the same bytes: the same entry, not a new version
    assert registry.get("tiny").cid == second.cid and registry.get("tiny").description == "v2: the bug fixed"


def test_packages_as_pack_writes_them_verify(tmp_path: Path) -> None:
    from eotrust.ml.package import archive, read_package, verify_package

    package = tiny_package()
    pkg = read_package(package)
    assert archive(*_raw(package)) == package.read_bytes()
    assert verify_package(package).name == pkg.manifest.name
    assert read_package(package.read_bytes()).signature == pkg.signature
