"""Model packages: deterministic bytes and CID, and every way a package can be bad."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from eth_account import Account
from tiny_models import OWNER, tiny_enet_package

from eotrust.cid import canonical_json, cid_of_file
from eotrust.errors import IntegrityError, ModelError
from eotrust.ml.package import (
    ENTRIES,
    Manifest,
    graph_info,
    pack,
    read_package,
    signing_message,
    verify_package,
)

MALLORY = Account.from_key("0x" + "b2" * 32)


@pytest.fixture(scope="module")
def package(tiny_enet_zip: Path) -> Path:
    return tiny_enet_zip


def rewrite(src: Path, dest: Path, **replace: bytes) -> Path:
    """Copy a package, replacing entries' bytes (same deterministic layout)."""
    with zipfile.ZipFile(src) as zf:
        infos = zf.infolist()
        data = {i.filename: zf.read(i) for i in infos}
    data.update(replace)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info in infos:
            zf.writestr(info, data[info.filename])
    dest.write_bytes(buf.getvalue())
    return dest


def test_layout_and_verification(package: Path) -> None:
    with zipfile.ZipFile(package) as zf:
        assert tuple(zf.namelist()) == ENTRIES
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.compress_type == zipfile.ZIP_STORED
    report = verify_package(package, cid=cid_of_file(package), owner=OWNER.address)
    assert report.owner == OWNER.address and report.name == "tiny"
    assert any("signature" in c for c in report.checks) and any("onnxruntime" in c for c in report.checks)
    m = read_package(package).manifest
    assert m.input.bands == ["red", "green", "blue"] and m.input.layout == "NCHW"
    assert m.class_names == ["water", "forest", "field", "town"]
    assert all(c.colour.startswith("#") for c in m.classes)
    assert m.lineage.training_data == ["QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB"]


def test_same_model_same_cid(package: Path, tmp_path: Path) -> None:
    again = tiny_enet_package(tmp_path / "again.zip")
    assert again.read_bytes() == package.read_bytes()
    assert cid_of_file(again) == cid_of_file(package)
    other = tiny_enet_package(tmp_path / "other.zip", description="a different description")
    assert cid_of_file(other) != cid_of_file(package)


def test_changed_byte_is_a_cid_mismatch(package: Path, tmp_path: Path) -> None:
    cid = cid_of_file(package)
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / "flipped.zip"
    bad.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="CID"):
        verify_package(bad, cid=cid)
    with pytest.raises(IntegrityError):  # even without the expected CID: CRC / digest / signature
        verify_package(bad)


def test_altered_manifest_breaks_the_signature(package: Path, tmp_path: Path) -> None:
    pkg = read_package(package)
    doc = json.loads(pkg.manifest_bytes)
    doc["metrics"]["pixel_accuracy"] = 0.99
    bad = rewrite(package, tmp_path / "boasting.zip", **{"manifest.json": canonical_json(doc)})
    with pytest.raises(IntegrityError, match="signature"):
        verify_package(bad)


def test_forged_signature(package: Path, tmp_path: Path) -> None:
    from eth_account.messages import encode_defunct

    pkg = read_package(package)
    message = signing_message(pkg.manifest_bytes, pkg.graph_bytes)
    forged = MALLORY.sign_message(encode_defunct(text=message)).signature.hex()
    sig = dict(pkg.signature, signature="0x" + forged.removeprefix("0x"))  # claims OWNER signed
    bad = rewrite(package, tmp_path / "forged.zip", **{"signature.json": canonical_json(sig)})
    with pytest.raises(IntegrityError, match="not made by"):
        verify_package(bad)
    # Mallory re-signs as herself: valid signature, but not by the manifest's owner
    sig = dict(pkg.signature, signer=MALLORY.address, signature="0x" + forged.removeprefix("0x"))
    bad = rewrite(package, tmp_path / "resigned.zip", **{"signature.json": canonical_json(sig)})
    with pytest.raises(IntegrityError, match="owner"):
        verify_package(bad)
    with pytest.raises(IntegrityError, match="not by"):
        verify_package(package, owner=MALLORY.address)


def test_graph_that_does_not_load(package: Path, tmp_path: Path) -> None:
    """A correctly signed package whose ONNX graph onnxruntime refuses."""
    import onnx

    pkg = read_package(package)
    proto = onnx.load_from_string(pkg.graph_bytes)
    proto.graph.node[0].op_type = "NoSuchOperator"
    graph = proto.SerializeToString()
    manifest = Manifest.model_validate({**pkg.manifest.model_dump(), "graph": graph_info(graph).model_dump()})
    bad = pack(manifest, graph, OWNER, tmp_path / "broken.zip")
    with pytest.raises(ModelError, match="does not load"):
        verify_package(bad)
    not_onnx = b"this is not an onnx graph"
    with pytest.raises(ModelError, match="does not parse"):
        graph_info(not_onnx)


def test_not_a_package(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(IntegrityError, match="ZIP"):
        verify_package(junk)
    extra = tmp_path / "extra.zip"
    with zipfile.ZipFile(extra, "w") as zf:
        zf.writestr("manifest.json", "{}")
    with pytest.raises(IntegrityError, match="holds"):
        verify_package(extra)


def test_signer_must_be_owner(package: Path, tmp_path: Path) -> None:
    pkg = read_package(package)
    with pytest.raises(ModelError, match="owner"):
        pack(pkg.manifest, pkg.graph_bytes, MALLORY, tmp_path / "x.zip")
