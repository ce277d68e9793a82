"""Attack: a document of nested brackets, ``[[[[…]]]]``, wherever some party's JSON is read.

``json.loads`` recurses once per level. Where Python's recursion limit stops it, it raises
``RecursionError``, which the readers (catching ``ValueError``, what malformed JSON raises)
let through as a traceback: ``eotrust label import`` of such a GeoJSON printed one. Where
eth-account has been imported (every process that signs), py_ecc has raised that limit to
100,000, past what the C stack holds, and 300,000 levels are a segmentation fault of the whole
process: a node running a service that answered for its worker with such JSON died so (see
``forge-answer`` in sandbox_hostile.py), and so would a participant given such global weights,
a server loading such a signed document from the store, or anyone checking an API-key grant or
a signed text written so into the shared catalogue. Every reader now parses with
:func:`eotrust.limits.json_loads`, which measures the depth first and refuses such a document
as malformed; the first test keeps ``json.loads`` out of the code base."""

from __future__ import annotations

import ast
import struct
import zipfile
from pathlib import Path

import pytest
from core_cli import cli, refused, tiny_package

from eotrust.errors import EotrustError, IntegrityError, NotFoundError, PermissionDeniedError
from eotrust.settings import Settings

SRC = Path(__file__).resolve().parents[2] / "src" / "eotrust"
DEEP = 300_000  # past the C stack once eth-account has raised the recursion limit (600 KB)
DEEP_ARRAY = "[" * DEEP + "]" * DEEP
DEEP_OBJECT = '{"a":' * DEEP + "1" + "}" * DEEP


def test_no_module_parses_json_with_the_bare_json_module() -> None:
    """``json.loads``/``json.load`` (or an HTTP response's ``.json()``, which calls it) only in
    ``eotrust.limits``, the one bounded parser."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "limits.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("loads", "load")
                and isinstance(node.value, ast.Name)
                and node.value.id == "json"
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "json" and "response" in ast.unparse(node.value):
                found.append(f"{path.relative_to(SRC)}:{node.lineno} (an HTTP response's .json())")
    assert not found, "parse JSON with eotrust.limits.json_loads, not json.loads: " + ", ".join(found)


def test_the_bounded_parser_refuses_deep_documents_as_malformed() -> None:
    from eotrust.limits import json_loads

    for doc in (DEEP_ARRAY, DEEP_OBJECT, DEEP_ARRAY.encode()):
        with pytest.raises(ValueError, match="nested too deep"):
            json_loads(doc)
    assert json_loads('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    assert json_loads(b"[" * 60 + b"]" * 60) is not None  # deep enough for any real document


def test_label_import_of_a_deep_geojson_is_one_line(tmp_path: Path, settings: Settings) -> None:
    import numpy as np
    import rasterio
    from affine import Affine

    like = tmp_path / "like.tif"
    with rasterio.open(
        like, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8", crs="EPSG:32633",
        transform=Affine(10, 0, 500000, 0, -10, 5000000),
    ) as ds:  # fmt: skip
        ds.write(np.zeros((1, 4, 4), np.uint8))
    geo = tmp_path / "labelled.geojson"
    geo.write_text(DEEP_ARRAY)
    out = tmp_path / "labels.tif"
    error = refused(
        cli(settings.home, "label", "import", str(geo), "--like", str(like), "--classes", "1 forest", "-o", str(out))
    )
    assert "not readable JSON" in error.message and not out.exists()


def test_a_model_package_with_a_deep_signature_is_refused(tmp_path: Path) -> None:
    from eotrust.ml.package import read_package

    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(tiny_package()) as src, zipfile.ZipFile(forged, "w") as dst:
        for name in src.namelist():
            # 30,000 deep: within the 64 KiB a signature may declare (a larger one is refused unread)
            dst.writestr(name, "[" * 30_000 + "]" * 30_000 if name == "signature.json" else src.read(name))
    with pytest.raises(IntegrityError, match="invalid manifest or signature"):
        read_package(forged)


def test_a_federated_update_with_a_deep_header_is_garbage() -> None:
    from eotrust.federated.update import UPDATE_MAGIC, GarbageUpdateError, Update

    head = b"[" * 2000 + b"]" * 2000  # a header may be 4 KB
    with pytest.raises(GarbageUpdateError, match="malformed"):
        Update.from_bytes(UPDATE_MAGIC + struct.pack("<I", len(head)) + head)


def test_the_global_weights_with_a_deep_header_are_refused() -> None:
    from eotrust.federated.weights import MAGIC, decode

    head = DEEP_ARRAY.encode()
    forged = MAGIC + struct.pack("<I", len(head)) + head
    with pytest.raises(EotrustError):
        decode(forged, what="the global model")


def test_a_deep_signed_document_in_the_store_is_not_a_document(tmp_path: Path) -> None:
    from eotrust.market.signed import load_document
    from eotrust.store.local import LocalStore

    store = LocalStore(tmp_path / "store")
    cid = store.put_bytes(DEEP_OBJECT.encode())
    with pytest.raises(NotFoundError, match="is not a quote document"):
        load_document(store, cid, "quote")


def test_a_deep_signed_text_is_not_a_signed_record() -> None:
    from eotrust.crypto.signing import Domain, parse_record_text, record_header

    header = record_header(Domain.API_KEY_GRANT, 1)
    with pytest.raises(IntegrityError, match="not one of the expected formats"):
        parse_record_text(header + DEEP_ARRAY, {Domain.API_KEY_GRANT: 1})


def test_a_key_row_whose_grant_is_deep_acts_for_nobody() -> None:
    """What a holder of the shared catalogue can write into a key row's grant."""
    from eotrust.catalog.api_keys import GRANT_PREFIX, ApiKeyInfo, check_grant

    info = ApiKeyInfo(
        "k1", "olga", ("*",), "", "2026-01-01T00:00:00Z", grant=GRANT_PREFIX + DEEP_ARRAY, signature="0x00"
    )
    with pytest.raises(PermissionDeniedError, match="no valid proof of control"):
        check_grant(info, "0x" + "11" * 20)


def test_a_deep_packed_cwl_document_is_a_workflow_error() -> None:
    from eotrust.errors import WorkflowError
    from eotrust.workflow.cwl_package import cwl_interface

    with pytest.raises(WorkflowError, match="not packed JSON"):
        cwl_interface(DEEP_ARRAY.encode())


def test_a_stored_service_that_is_deep_json_is_a_validation_problem(tmp_path: Path) -> None:
    from eotrust.store.local import LocalStore
    from eotrust.workflow.spec import load_workflow

    store = LocalStore(tmp_path / "store")
    cid = store.put_bytes(DEEP_OBJECT.encode())
    spec = tmp_path / "wf.yaml"
    spec.write_text(
        "name: deep\nservices:\n  s: {cid: " + cid + "}\nsteps:\n  a: {service: s}\n",
    )
    with pytest.raises(EotrustError) as caught:
        load_workflow(spec, store=store)
    assert "s" in str(caught.value)


def test_a_deep_yaml_parameter_of_a_cwl_run_is_one_line(settings: Settings) -> None:
    """``workflow run X.cwl -p name=VALUE`` reads VALUE as YAML: measured first, as ``flow request -p`` is."""
    shout = Path(__file__).resolve().parents[1] / "data" / "cwl" / "shout.cwl"
    error = refused(cli(settings.home, "workflow", "run", str(shout), "-p", "tag=" + "[" * 50_000 + "]" * 50_000))
    assert "nested too deep" in error.message
