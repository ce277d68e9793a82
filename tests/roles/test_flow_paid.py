"""A paid task through the platform node, funded with escrow terms that name no quote the
platform can read: the collector records the results but never settles (no usage record can be
measured against an unknown quote, and settling for the quoted maxima would charge for use
nobody measured); it says why on each pass, and the platform's own settlement finishes it.
The settle path with a real, stored quote: tests/market/test_paid_task.py."""

from __future__ import annotations

from flow_world import World

from eotrust.catalog.entries import TaskInfo
from eotrust.ledger import TaskFactoryClient
from eotrust.ledger.escrow import EscrowClient

QUOTE_CID = "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u"


def test_the_collector_never_settles_a_paid_task_against_a_quote_it_cannot_read(world: World) -> None:
    sub, plat = world.parties["submitter"], world.parties["platform-owner"]
    inputs = {"lulc": world.datasets["labels"], "cloud_mask": world.datasets["clouds"]}
    task = TaskFactoryClient(world.chain).create_task(
        sub.account,
        results_recipient=sub.card.age_recipient,
        application_id=world.application.id,
        application_owner=world.application.owner,
        platform_id=world.platform.id,
        platform_owner=world.platform.owner,
        requests=[(inputs[name].id, inputs[name].owner) for name in sorted(inputs)],
        paid=True,
    )
    world.catalog.register(
        sub,
        TaskInfo(
            address=task.address,
            application_id=world.application.id,
            platform_id=world.platform.id,
            inputs={name: rec.id for name, rec in inputs.items()},
            params={},
            results_recipient=sub.card.age_recipient,
        ),
    )
    escrow = EscrowClient(world.chain)
    quote = escrow.quote(
        task=task,
        submitter=sub.account.address,
        platform=plat.account.address,
        payees=[plat.account.address, world.application.owner],
        maxima=[4000, 1000],
        fail_fee=500,
        valid_until=world.chain.latest_timestamp() + 3600,
        deadline=world.chain.latest_timestamp() + 7200,
        quote_cid=QUOTE_CID,
    )
    escrow.fund(task, quote.sign(plat.account), sender=sub.account)
    world.answer_all(task.address)

    assert world.node().recover() == {task.address: "error"}  # logged; tried again on the next pass
    snap = task.status()
    assert snap.state.value == "Running" and len(snap.results) == 3  # digest, stacked, run record
    assert escrow.funded(task) and escrow.owed(plat.account.address) == 0  # nothing settled, nothing paid
    assert sum(QUOTE_CID in line for line in world.logs) == 1

    assert world.node().recover() == {task.address: "error"}
    assert len(task.status().results) == 3  # a second pass records nothing twice

    escrow.settle(task, QUOTE_CID, [2500, 1000], sender=plat.account)  # the platform's own settlement
    assert world.state(task.address) == "Finished"
    assert escrow.owed(plat.account.address) == 2500 and escrow.owed(sub.account.address) == 1500
    assert world.node().recover() == {}
