"""What a task snapshot says about its parties, read from the snapshot itself: who the task
names, what each party still owes, the catalogue record ids behind the contract's bytes32."""

from __future__ import annotations

from eotrust.cid import cid_digest, cid_of_bytes
from eotrust.ledger import RequestKind, RequestStatus, ResourceRequest, TaskSnapshot, TaskState
from eotrust.ledger.models import record_id

SUB, APP, PLAT, OWNER_A, OWNER_B, STRANGER = (f"0x{i:040x}" for i in range(1, 7))


def _hex(cid: str) -> str:
    return "0x" + cid_digest(cid).hex()


def _snapshot(app: RequestStatus, plat: RequestStatus, *requests: tuple[str, RequestStatus]) -> TaskSnapshot:
    return TaskSnapshot(
        address=f"0x{99:040x}",
        submitter=SUB,
        state=TaskState.RequestsLocked,
        results_recipient="age1x",
        application_id=_hex(cid_of_bytes(b"app")),
        application_owner=APP,
        application_status=app,
        platform_id=_hex(cid_of_bytes(b"plat")),
        platform_owner=PLAT,
        platform_status=plat,
        requests=[
            ResourceRequest(index=i, id=_hex(cid_of_bytes(owner.encode())), owner=owner, status=status)
            for i, (owner, status) in enumerate(requests)
        ],
    )


def test_owed_by_lists_only_the_open_requests_of_that_party() -> None:
    R, A = RequestStatus.Requested, RequestStatus.Acknowledged
    snap = _snapshot(
        R, A, (OWNER_A, R), (OWNER_B, A), (OWNER_A, RequestStatus.Refused), (OWNER_A.upper().replace("0X", "0x"), R)
    )
    assert snap.owed_by(APP) == [(RequestKind.application, 0)]
    assert snap.owed_by(PLAT) == []  # acknowledged already
    assert snap.owed_by(OWNER_A) == [(RequestKind.resource, 0), (RequestKind.resource, 3)]  # not the refused #2
    assert snap.owed_by(OWNER_B) == []
    assert snap.owed_by(STRANGER) == []
    assert snap.owed_by(SUB) == []


def test_names_every_party_and_no_one_else() -> None:
    snap = _snapshot(RequestStatus.Requested, RequestStatus.Requested, (OWNER_A, RequestStatus.Requested))
    for party in (SUB, APP, PLAT, OWNER_A, OWNER_A.upper().replace("0X", "0x")):
        assert snap.names(party)
    assert not snap.names(STRANGER)
    assert not snap.names(None) and not snap.names("")


def test_record_ids_are_the_cids_the_contract_holds_as_digests() -> None:
    snap = _snapshot(RequestStatus.Requested, RequestStatus.Requested, (OWNER_A, RequestStatus.Requested))
    assert snap.application_record == cid_of_bytes(b"app")
    assert snap.platform_record == cid_of_bytes(b"plat")
    assert snap.requests[0].dataset_record == cid_of_bytes(OWNER_A.encode())
    assert record_id(cid_of_bytes(b"x")) == cid_of_bytes(b"x")  # a CID is kept as it is
