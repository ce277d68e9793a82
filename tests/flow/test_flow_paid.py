"""A paid task through the platform node: the collector records the results but never finishes
the task and never settles it (there is no usage record to settle with, and settling for the
quoted maxima would charge for use nobody measured); the platform's settlement finishes it."""

from __future__ import annotations

from flow_world import World

from eotrust.catalog.entries import TaskInfo
from eotrust.ledger import TaskFactoryClient
from eotrust.ledger.escrow import EscrowClient

QUOTE_CID = "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u"
WAITS = "waits for the platform's settlement"


def test_the_collector_leaves_a_paid_task_to_the_platforms_settlement(world: World) -> None:
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
        valid_until=world.chain.block_timestamp(world.chain.block_number()) + 3600,
        quote_cid=QUOTE_CID,
    )
    escrow.fund(task, quote.sign(plat.account), sender=sub.account)
    world.answer_all(task.address)

    assert world.node().recover() == {task.address: "Running"}
    snap = task.status()
    assert len(snap.results) == 3  # digest, stacked, run record: recorded on the contract
    assert escrow.funded(task) and escrow.owed(plat.account.address) == 0  # nothing settled, nothing paid
    assert sum(WAITS in line for line in world.logs) == 1

    node = world.node()
    assert node.recover() == {task.address: "Running"}
    assert node.recover() == {task.address: "Running"}
    assert len(task.status().results) == 3  # a second pass records nothing twice
    assert sum(WAITS in line for line in world.logs) == 2  # once per node process, not per pass

    escrow.settle(task, QUOTE_CID, [2500, 1000], sender=plat.account)  # the platform's own settlement
    assert world.state(task.address) == "Finished"
    assert escrow.owed(plat.account.address) == 2500 and escrow.owed(sub.account.address) == 1500
    assert world.node().recover() == {}
