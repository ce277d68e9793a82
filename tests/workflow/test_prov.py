"""Run records exported as W3C PROV-JSON with the prov package."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import pytest
from prov.model import ProvDocument

from eotrust.workflow import run_workflow
from eotrust.workflow.prov import prov_json, validate_prov_json
from eotrust.workflow.runs import load_run
from eotrust.workflow.spec import load_workflow

if TYPE_CHECKING:
    from eotrust.settings import Settings
    from eotrust.store.base import Store

WF = """\
name: p
inputs: {text: file}
services:
  upper: {python: wf_services:upper, inputs: {src: file}, outputs: {out: file}, params: {suffix: str}}
steps:
  a: {service: upper, in: {src: inputs.text}, params: {suffix: ""}}
  b: {service: upper, in: {src: a.out}, params: {suffix: "!"}}
outputs: {result: b.out}
"""


def test_prov_json_of_a_run_validates_and_links_cids(settings: Settings, store: Store) -> None:
    text = store.put_bytes(b"abc")
    res = run_workflow(settings, load_workflow(WF), {"text": text}, {})
    run_cid, record = load_run(settings, "last")
    assert run_cid == res.run_cid
    out = prov_json(record, run_cid)
    validate_prov_json(out)
    data = json.loads(out)
    a, b = record.steps
    # b used a's output, which a generated; b's output derives from it
    gen = [r for r in data["wasGeneratedBy"].values() if r["prov:entity"] == f"ipfs:{a.outputs['out']}"]
    assert [r["prov:activity"][-6:] for r in gen] == ["step-0"]
    used = [r for r in data["used"].values() if r["prov:entity"] == f"ipfs:{a.outputs['out']}"]
    assert [r["prov:activity"][-6:] for r in used] == ["step-1"]
    assert f"ipfs:{text}" in data["entity"] and f"ipfs:{b.service_cid}" in data["entity"]
    doc = ProvDocument.deserialize(io.StringIO(out), format="json")
    assert len(doc.get_records()) > 10


def test_validation_rejects_broken_documents() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        validate_prov_json("{")
    with pytest.raises(ValueError, match="unknown PROV-JSON section"):
        validate_prov_json(json.dumps({"prefix": {}, "entities": {}}))
    bad = {
        "prefix": {"ex": "http://example.org/"},
        "entity": {"ex:e": {}},
        "wasGeneratedBy": {"_:g": {"prov:entity": "ex:e", "prov:activity": "ex:missing"}},
    }
    with pytest.raises(ValueError, match="undeclared ex:missing"):
        validate_prov_json(json.dumps(bad))


def test_prov_of_a_failed_run_names_the_log(settings: Settings, store: Store) -> None:
    from eotrust.workflow import RunFailed

    wf = "name: c\nservices:\n  s: {python: wf_services:crash, outputs: {out: file}}\nsteps: {s: {service: s}}\n"
    with pytest.raises(RunFailed) as info:
        run_workflow(settings, load_workflow(wf), {}, {}, retries=0)
    assert info.value.run_cid is not None
    run_cid, record = load_run(settings, info.value.run_cid[:10])
    out = prov_json(record, run_cid)
    validate_prov_json(out)
    data = json.loads(out)
    assert data["activity"][f"eotrust:run-{run_cid}"]["eotrust:status"] == "failed"
    assert f"ipfs:{info.value.log_cid}" in data["entity"]
