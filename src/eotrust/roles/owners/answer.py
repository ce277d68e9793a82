"""Step 3 of the flow: each owner answers its own request on a locked task.

- the algorithm owner acknowledges (or refuses) the use of its application;
- the platform owner gives its age key for inputs and acknowledges;
- each data owner finds the file behind its dataset, checks it still has the registered CID,
  encrypts it for the platform's key, stores the ciphertext and acknowledges with its CID —
  or refuses, and the task is Nacked. The key is the one the platform registered and signed
  in its catalogue record; a platform that acknowledged with any other key gets nothing
  sealed for it unless the data owner names that key explicitly (``accept_platform_key``).

:func:`answer_task` answers every open request the party owns on the task, so one call per
party is enough; a party with nothing to answer gets a clear PermissionDeniedError.
"""

from __future__ import annotations

from dataclasses import dataclass

from eotrust.backends import Backends
from eotrust.catalog.entries import Kind
from eotrust.catalog.service import Catalog
from eotrust.cid import same_cid
from eotrust.errors import IntegrityError, PermissionDeniedError, StateError
from eotrust.ledger import RequestKind, TaskClient, TaskSnapshot, TaskState
from eotrust.party import Party

# how an answer names the kind of request it answers
_ANSWER_KIND = {
    RequestKind.application: "application",
    RequestKind.platform: "platform",
    RequestKind.resource: "dataset",
}


@dataclass(frozen=True)
class Answer:
    """One request answered."""

    kind: str  # application | platform | dataset
    index: int
    acknowledged: bool
    cid: str | None = None  # the stored ciphertext (datasets)
    detail: str = ""


def open_requests(snap: TaskSnapshot, address: str) -> list[tuple[str, int]]:
    """The requests of this task that ``address`` owns and has not answered yet."""
    return [(_ANSWER_KIND[kind], index) for kind, index in snap.owed_by(address)]


def answer_task(
    backends: Backends,
    party: Party,
    address: str,
    *,
    refuse: bool = False,
    accept_platform_key: str | None = None,
) -> list[Answer]:
    """Answer every open request ``party`` owns on the task at ``address``.

    ``accept_platform_key``: seal datasets for this key even though it is not the platform's
    registered one (it must be the key the platform acknowledged with)."""
    catalog = backends.catalog
    task = backends.task(address)
    snap = task.status()
    if snap.state is not TaskState.RequestsLocked:
        raise StateError(
            f"task {address} is {snap.state.value}; requests are answered only while it is RequestsLocked",
            hint="wait for the submitter to lock it" if snap.state is TaskState.Initialized else None,
        )
    mine = snap.owed_by(party.account.address)
    if not mine:
        raise PermissionDeniedError(
            f"party {party.name!r} ({party.account.address}) has no open request on task {address}",
            hint="only the application, platform and dataset owners named by the task answer it",
        )
    answers: list[Answer] = []
    for kind, index in mine:
        if refuse:
            _refuse(task, party, kind, index)
            answers.append(Answer(_ANSWER_KIND[kind], index, acknowledged=False, detail="refused"))
            break  # one refusal ends the task (Nacked); nothing else can be answered
        if kind is RequestKind.application:
            task.ack_application(party.account)
            answers.append(Answer("application", index, True, detail="use of the application acknowledged"))
        elif kind is RequestKind.platform:
            platform = catalog.get(snap.platform_record, Kind.PLATFORM).body
            if platform.age_recipient != party.card.age_recipient:
                raise IntegrityError(
                    f"platform {platform.name} is registered with key {platform.age_recipient}, "
                    f"but party {party.name} holds {party.card.age_recipient}"
                )
            task.ack_platform(party.account, party.card.age_recipient)
            answers.append(Answer("platform", index, True, detail=f"key for inputs {party.card.age_recipient}"))
        else:
            from eotrust.market.policy import policy_reason, record_refusal

            dataset_id = snap.requests[index].dataset_record
            reason = policy_reason(catalog, dataset_id, snap.application_record, snap.platform_record)
            if reason is not None:  # the owner's data-use policy refuses it, automatically (issue 15)
                _refuse(task, party, kind, index)
                why = record_refusal(
                    backends.settings,
                    backends.store,
                    party,
                    address,
                    catalog.get(dataset_id, Kind.DATASET),
                    reason,
                    chain=backends.chain,
                )
                answers.append(
                    Answer(
                        _ANSWER_KIND[kind],
                        index,
                        acknowledged=False,
                        detail=f"refused by its data-use policy: {reason} (signed reason {why})",
                    )
                )
                break
            answers.append(_answer_dataset(backends, party, task, snap, index, accept_platform_key))
    return answers


def _refuse(task: TaskClient, party: Party, kind: RequestKind, index: int) -> None:
    if kind is RequestKind.application:
        task.nack_application(party.account)
    elif kind is RequestKind.platform:
        task.nack_platform(party.account)
    else:
        task.nack_request(party.account, index)


def _answer_dataset(
    backends: Backends,
    party: Party,
    task: TaskClient,
    snap: TaskSnapshot,
    index: int,
    accept_platform_key: str | None = None,
) -> Answer:
    """Encrypt the dataset for the platform's key, store it, acknowledge with its CID."""
    from eotrust.crypto import seal_to_store
    from eotrust.roles.data_owner.holdings import locate

    request = snap.requests[index]
    dataset = backends.catalog.get(request.dataset_record, Kind.DATASET)
    body = dataset.body
    if dataset.owner.lower() != party.account.address.lower():
        raise PermissionDeniedError(f"dataset {dataset.id} belongs to {dataset.owner}, not to {party.name}")
    recipient = platform_key(snap, backends.catalog, accept=accept_platform_key)
    file = locate(backends.settings, party.name, body.cid)
    sealed = seal_to_store(backends.store, file, [recipient])
    if not same_cid(sealed.plaintext_cid, body.cid):  # the file changed after locate() hashed it
        raise IntegrityError(
            f"{file} changed while it was sealed ({sealed.plaintext_cid}, not dataset {body.cid}): nothing sent",
            hint="answer again once the file is back as registered",
        )
    task.ack_request(party.account, index, sealed.cid)
    return Answer(
        "dataset",
        index,
        True,
        cid=sealed.cid,
        detail=f"{body.title} ({sealed.plaintext_cid}) encrypted for {recipient}",
    )


def platform_key(snap: TaskSnapshot, catalog: Catalog, *, accept: str | None = None) -> str:
    """The key inputs are encrypted for: the one in the platform owner's signed catalogue
    record. If the platform acknowledged with another key, that key is refused unless the
    caller names it in ``accept`` (an explicit, informed override)."""
    record = catalog.get(snap.platform_record, Kind.PLATFORM)
    if record.owner.lower() != snap.platform_owner.lower():
        raise IntegrityError(
            f"the catalogue's platform {record.id} is not owned by the task's platform owner {snap.platform_owner}"
        )
    body = record.body
    registered = body.age_recipient
    on_chain = snap.platform_key
    if on_chain and on_chain != registered:
        if accept is not None and accept == on_chain:
            return on_chain
        raise IntegrityError(
            f"the platform acknowledged with key {on_chain}, but its signed catalogue record names {registered}; "
            "refusing to seal data for a key the platform did not register",
            hint=f"refuse the task (--refuse), or if you trust that key pass --accept-platform-key {on_chain}",
        )
    return registered
