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
from typing import Any

from eotrust.catalog.entries import Kind, PlatformInfo
from eotrust.catalog.service import Catalog
from eotrust.errors import IntegrityError, PermissionDeniedError, StateError
from eotrust.settings import Settings
from eotrust.store.base import Store


@dataclass(frozen=True)
class Answer:
    """One request answered."""

    kind: str  # application | platform | dataset
    index: int
    acknowledged: bool
    cid: str | None = None  # the stored ciphertext (datasets)
    detail: str = ""


def open_requests(snap: Any, address: str) -> list[tuple[str, int]]:
    """The requests of this task that ``address`` owns and has not answered yet."""
    from eotrust.flow import ledger_view as lv

    me = address.lower()
    mine: list[tuple[str, int]] = []
    if snap.application_owner.lower() == me and lv.is_requested(snap.application_status):
        mine.append(("application", 0))
    if snap.platform_owner.lower() == me and lv.is_requested(snap.platform_status):
        mine.append(("platform", 0))
    for index, request in enumerate(snap.requests):
        if request.owner.lower() == me and lv.is_requested(request.status):
            mine.append(("dataset", index))
    return mine


def answer_task(
    settings: Settings,
    party: Any,
    address: str,
    *,
    refuse: bool = False,
    catalog: Catalog | None = None,
    chain: Any = None,
    store: Store | None = None,
    accept_platform_key: str | None = None,
) -> list[Answer]:
    """Answer every open request ``party`` owns on the task at ``address``.

    ``accept_platform_key``: seal datasets for this key even though it is not the platform's
    registered one (it must be the key the platform acknowledged with)."""
    from eotrust.flow import ledger_view as lv

    catalog = catalog or Catalog(settings)
    chain = chain if chain is not None else lv.chain_of(settings)
    task = lv.task_client(chain, address)
    snap = task.status()
    state = lv.state_name(snap)
    if state != "RequestsLocked":
        raise StateError(
            f"task {address} is {state}; requests are answered only while it is RequestsLocked",
            hint="wait for the submitter to lock it" if state == "Initialized" else None,
        )
    mine = open_requests(snap, party.account.address)
    if not mine:
        raise PermissionDeniedError(
            f"party {party.name!r} ({party.account.address}) has no open request on task {address}",
            hint="only the application, platform and dataset owners named by the task answer it",
        )
    answers: list[Answer] = []
    for kind, index in mine:
        if refuse:
            lv.refuse(task, party.account, kind, index)
            answers.append(Answer(kind, index, acknowledged=False, detail="refused"))
            break  # one refusal ends the task (Nacked); nothing else can be answered
        if kind == "application":
            task.ack_application(party.account)
            answers.append(Answer(kind, index, True, detail="use of the application acknowledged"))
        elif kind == "platform":
            record = catalog.get(lv.record_id_of(snap.platform_id), Kind.PLATFORM)
            platform: PlatformInfo = record.body  # type: ignore[assignment]
            if platform.age_recipient != party.card.age_recipient:
                raise IntegrityError(
                    f"platform {platform.name} is registered with key {platform.age_recipient}, "
                    f"but party {party.name} holds {party.card.age_recipient}"
                )
            lv.ack_platform(task, party.account, party.card.age_recipient)
            answers.append(Answer(kind, index, True, detail=f"key for inputs {party.card.age_recipient}"))
        else:
            from eotrust.market.policy import policy_reason, record_refusal

            dataset_id = lv.record_id_of(snap.requests[index].id)
            reason = policy_reason(catalog, dataset_id, lv.record_id_of(snap.application_id), lv.record_id_of(snap.platform_id))
            if reason is not None:  # the owner's data-use policy refuses it, automatically (issue 15)
                from eotrust.store import open_store

                lv.refuse(task, party.account, kind, index)
                why = record_refusal(settings, store or open_store(settings), party, address, catalog.get(dataset_id), reason)
                answers.append(Answer(kind, index, acknowledged=False, detail=f"refused by its data-use policy: {reason} (signed reason {why})"))
                break
            answers.append(_answer_dataset(settings, party, task, snap, index, catalog, store, accept_platform_key))
    return answers


def _answer_dataset(
    settings: Settings, party: Any, task: Any, snap: Any, index: int, catalog: Catalog, store: Store | None,
    accept_platform_key: str | None = None,
) -> Answer:
    """Encrypt the dataset for the platform's key, store it, acknowledge with its CID."""
    from eotrust.crypto import seal_to_store
    from eotrust.flow import ledger_view as lv
    from eotrust.flow.holdings import locate
    from eotrust.store import open_store

    request = snap.requests[index]
    dataset = catalog.get(lv.record_id_of(request.id), Kind.DATASET)
    if dataset.owner.lower() != party.account.address.lower():
        raise PermissionDeniedError(f"dataset {dataset.id} belongs to {dataset.owner}, not to {party.name}")
    recipient = platform_key(snap, catalog, accept=accept_platform_key)
    file = locate(settings, party.name, dataset.body.cid)  # type: ignore[attr-defined]
    sealed = seal_to_store(store or open_store(settings), file, [recipient])
    lv.ack_request(task, party.account, index, sealed.cid)
    return Answer(
        "dataset",
        index,
        True,
        cid=sealed.cid,
        detail=f"{dataset.body.title} ({sealed.plaintext_cid}) encrypted for {recipient}",  # type: ignore[attr-defined]
    )


def platform_key(snap: Any, catalog: Catalog, *, accept: str | None = None) -> str:
    """The key inputs are encrypted for: the one in the platform owner's signed catalogue
    record. If the platform acknowledged with another key, that key is refused unless the
    caller names it in ``accept`` (an explicit, informed override)."""
    from eotrust.flow import ledger_view as lv

    record = catalog.get(lv.record_id_of(snap.platform_id), Kind.PLATFORM)
    if record.owner.lower() != snap.platform_owner.lower():
        raise IntegrityError(f"the catalogue's platform {record.id} is not owned by the task's platform owner {snap.platform_owner}")
    registered: str = record.body.age_recipient  # type: ignore[attr-defined]
    on_chain = lv.platform_recipient(snap)
    if on_chain and on_chain != registered:
        if accept is not None and accept == on_chain:
            return on_chain
        raise IntegrityError(
            f"the platform acknowledged with key {on_chain}, but its signed catalogue record names {registered}; "
            "refusing to seal data for a key the platform did not register",
            hint=f"refuse the task (--refuse), or if you trust that key pass --accept-platform-key {on_chain}",
        )
    return registered
