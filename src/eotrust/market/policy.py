"""A dataset's data-use policy, checked before its owner lets a task use it.

A dataset record may list the applications allowed to use it (each by record id, by workflow
CID — the algorithm's checksum — or by name and owner's address) and, optionally, the
platforms (by record id, or name and owner). A record without a policy allows any application
on any platform. The owner's answer (``eotrust.roles.owners.answer``) refuses a request the policy does
not allow, and records why (:func:`record_refusal`); ``eotrust verify`` shows each check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eotrust.catalog.entries import Allowed, ApplicationInfo, DatasetInfo, Kind, PlatformInfo, Record
from eotrust.crypto.signing import Owner
from eotrust.market.signed import sign_document, store_document
from eotrust.settings import Settings
from eotrust.store.base import Store

if TYPE_CHECKING:
    from eotrust.catalog.service import Catalog
    from eotrust.ledger.chain import Chain

REFUSAL_KIND = "eotrust-refusal/1"


@dataclass(frozen=True)
class PolicyCheck:
    name: str
    ok: bool
    detail: str


def _matches(entry: Allowed, record: Record[ApplicationInfo | PlatformInfo], *cids: str) -> bool:
    if entry.cid is not None:
        return entry.cid in (record.id, *cids)
    return record.body.name == entry.name and (entry.owner or "").lower() == record.owner.lower()


def _describe(entry: Allowed) -> str:
    return entry.cid if entry.cid is not None else f"{entry.name} of {entry.owner}"


def check_use(
    dataset: Record[DatasetInfo],
    application: Record[ApplicationInfo],
    platform: Record[PlatformInfo],
    catalog: Catalog | None = None,
) -> list[PolicyCheck]:
    """Each check of ``dataset``'s policy against a task's application and platform. With a
    catalogue, the policy is its owner's current one (:func:`eotrust.market.prices.current_terms`)."""
    if catalog is not None:
        from eotrust.market.prices import current_terms

        dataset = current_terms(catalog, dataset)
    info = dataset.body
    title = info.title
    policy = info.policy
    if policy is None:
        return [PolicyCheck(f"dataset {title!r}: data-use policy", True, "none: any application on any platform")]
    app_name = application.body.name
    workflow = application.body.workflow_cid
    app_ok = any(_matches(e, application, workflow) for e in policy.applications)
    allowed_apps = ", ".join(_describe(e) for e in policy.applications) or "none"
    checks = [
        PolicyCheck(
            f"dataset {title!r}: policy allows application {app_name!r}",
            app_ok,
            f"application {application.id} (workflow {workflow}) of {application.owner}; allowed: {allowed_apps}",
        )
    ]
    plat_name = platform.body.name
    if policy.platforms is None:
        checks.append(PolicyCheck(f"dataset {title!r}: policy allows platform {plat_name!r}", True, "any platform"))
    else:
        plat_ok = any(_matches(e, platform) for e in policy.platforms)
        allowed = ", ".join(_describe(e) for e in policy.platforms) or "none"
        checks.append(
            PolicyCheck(
                f"dataset {title!r}: policy allows platform {plat_name!r}",
                plat_ok,
                f"platform {platform.id} of {platform.owner}; allowed: {allowed}",
            )
        )
    return checks


def refusal_reason(checks: list[PolicyCheck]) -> str | None:
    """Why the policy refuses (the failed checks), or None when it allows the use."""
    failed = [c for c in checks if not c.ok]
    if not failed:
        return None
    return "; ".join(
        f"{c.name.split(': ', 1)[-1].replace('policy allows', 'policy does not allow')} ({c.detail})" for c in failed
    )


def record_refusal(
    settings: Settings,
    store: Store,
    owner: Owner,
    task: str,
    dataset: Record[DatasetInfo],
    reason: str,
    *,
    chain: Chain,
) -> str:
    """Sign and store the owner's reason for refusing ``task`` the use of ``dataset``; its CID,
    also noted under ``market/<chain key>/refusals/<task>`` in the owner's home (the task on
    ``chain``: :mod:`eotrust.market.notes`)."""
    from eotrust.market.notes import task_notes

    document = sign_document(REFUSAL_KIND, {"task": task, "dataset_id": dataset.id, "reason": reason}, owner)
    cid = store_document(store, document)
    index = task_notes(settings, chain, "refusals", task)
    (index / cid).write_text(reason + "\n", encoding="utf-8")
    return cid


def policy_reason(catalog: Catalog, dataset_id: str, application_id: str, platform_id: str) -> str | None:
    """Why the dataset's policy refuses this application on this platform, or None (allowed)."""
    dataset = catalog.get(dataset_id, Kind.DATASET)
    application = catalog.get(application_id, Kind.APPLICATION)
    platform = catalog.get(platform_id, Kind.PLATFORM)
    return refusal_reason(check_use(dataset, application, platform, catalog))
