"""W3C PROV export of a run record, built with the ``prov`` package.

Mapping: the run and each executed step instance are ``prov:Activity``; every CID (workflow
inputs, step inputs and outputs, logs) is a ``prov:Entity`` named ``ipfs:CID``; each service is
an entity used as the ``prov:Plan`` of its step's association with the ``eotrust`` software
agent (on the host that ran it); outputs ``wasGeneratedBy`` the step and ``wasDerivedFrom``
its inputs; cached steps are marked ``eotrust:cacheHit``.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

from eotrust.limits import json_loads
from eotrust.workflow.record import RunRecord

IPFS_NS = "https://ipfs.io/ipfs/"
EOTRUST_NS = "https://eotrust.example/ns#"


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _cids(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if value else []


def run_to_prov(record: RunRecord, run_cid: str) -> Any:
    """A prov.model.ProvDocument describing the run."""
    from prov.model import PROV_LABEL, PROV_TYPE, ProvDocument

    doc = ProvDocument()
    doc.add_namespace("ipfs", IPFS_NS)
    doc.add_namespace("eotrust", EOTRUST_NS)
    entities: set[str] = set()

    def entity(cid: str, label: str, **attrs: Any) -> str:
        ident = f"ipfs:{cid}"
        if ident not in entities:
            entities.add(ident)
            doc.entity(ident, {PROV_LABEL: label, **{f"eotrust:{k}": v for k, v in attrs.items()}})
        return ident

    run_id = f"eotrust:run-{run_cid}"
    wf = entity(record.workflow_cid, f"workflow {record.workflow}", kind="workflow")
    entity(run_cid, "run record", kind="run-record")
    run = doc.activity(
        run_id,
        _dt(record.started),
        _dt(record.ended),
        {
            PROV_LABEL: f"run of {record.workflow}",
            "eotrust:status": record.status,
            "eotrust:executor": record.executor,
            "eotrust:host": record.host,
            "eotrust:params": json.dumps(record.params, sort_keys=True),
        },
    )
    engine = doc.agent("eotrust:engine", {PROV_TYPE: "prov:SoftwareAgent", PROV_LABEL: "eotrust workflow engine"})
    doc.wasAssociatedWith(run, engine, wf)
    for name, value in record.inputs.items():
        for cid in _cids(value):
            doc.used(run, entity(cid, f"input {name}", kind="input"))
    for name, value in record.outputs.items():
        for cid in _cids(value):
            doc.wasGeneratedBy(entity(cid, f"output {name}", kind="output"), run)
    hosts: dict[str, Any] = {}
    for i, st in enumerate(record.steps):
        act = doc.activity(
            f"eotrust:run-{run_cid}-step-{i}",
            _dt(st.started),
            _dt(st.ended),
            {
                PROV_LABEL: f"step {st.label}",
                "eotrust:step": st.step,
                "eotrust:service": st.service,
                "eotrust:cacheHit": st.cache_hit,
                "eotrust:attempts": st.attempts,
                "eotrust:exitStatus": -1 if st.exit_status is None else st.exit_status,
                "eotrust:key": st.key,
                "eotrust:params": json.dumps(st.params, sort_keys=True),
            },
        )
        doc.wasInformedBy(act, run)
        if st.host not in hosts:
            hosts[st.host] = doc.agent(
                f"eotrust:host-{st.host}", {PROV_TYPE: "prov:SoftwareAgent", PROV_LABEL: f"eotrust on {st.host}"}
            )
            doc.actedOnBehalfOf(hosts[st.host], engine)
        plan = entity(st.service_cid, f"service {st.service}", kind="service")
        doc.wasAssociatedWith(act, hosts[st.host], plan)
        used = []
        for port, value in st.inputs.items():
            for cid in _cids(value):
                used.append(entity(cid, f"{st.label} input {port}", kind="data"))
                doc.used(act, used[-1])
        for port, cid in st.outputs.items():
            out = entity(cid, f"{st.label} output {port}", kind="data")
            doc.wasGeneratedBy(out, act)
            for u in used:
                doc.wasDerivedFrom(out, u)
        for what, log_cid in (("stdout", st.stdout_cid), ("stderr", st.stderr_cid), ("log", st.log_cid)):
            if log_cid:
                doc.wasGeneratedBy(entity(log_cid, f"{st.label} {what}", kind=what), act)
    return doc


def prov_json(record: RunRecord, run_cid: str) -> str:
    """PROV-JSON text of the run (prov's own serializer)."""
    return str(run_to_prov(record, run_cid).serialize(indent=2))


def validate_prov_json(text: str) -> None:
    """Check PROV-JSON text: it must parse with prov's PROV-JSON deserializer into a document
    equal to what it says (a lossless round trip), be serialisable as PROV-N, and every relation
    must name declared elements. Raises ValueError naming the first problem."""
    from prov.model import ProvDocument

    try:
        data = json_loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or "prefix" not in data:
        raise ValueError("a PROV-JSON document is an object with a 'prefix' map")
    allowed = {
        "prefix",
        "entity",
        "activity",
        "agent",
        "wasGeneratedBy",
        "used",
        "wasInformedBy",
        "wasStartedBy",
        "wasEndedBy",
        "wasInvalidatedBy",
        "wasDerivedFrom",
        "wasAttributedTo",
        "wasAssociatedWith",
        "actedOnBehalfOf",
        "wasInfluencedBy",
        "specializationOf",
        "alternateOf",
        "hadMember",
        "bundle",
    }
    extra = set(data) - allowed
    if extra:
        raise ValueError(f"unknown PROV-JSON section(s): {', '.join(sorted(extra))}")
    doc = ProvDocument.deserialize(io.StringIO(text), format="json")
    again = ProvDocument.deserialize(io.StringIO(doc.serialize(format="json")), format="json")
    if doc != again:
        raise ValueError("the document does not survive a PROV-JSON round trip")
    doc.serialize(format="provn")
    declared = {k for sec in ("entity", "activity", "agent") for k in data.get(sec, {})}
    refs = {
        "prov:entity",
        "prov:activity",
        "prov:agent",
        "prov:generatedEntity",
        "prov:usedEntity",
        "prov:informed",
        "prov:informant",
        "prov:delegate",
        "prov:responsible",
        "prov:plan",
    }
    for sec in allowed - {"prefix", "entity", "activity", "agent", "bundle"}:
        for rid, rels in (data.get(sec) or {}).items():
            for rel in rels if isinstance(rels, list) else [rels]:
                for key in refs & set(rel):
                    if rel[key] not in declared:
                        raise ValueError(f"{sec} {rid} refers to undeclared {rel[key]}")
