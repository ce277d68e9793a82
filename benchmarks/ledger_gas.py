"""Gas of one full task lifecycle, next to what one full contract per task would cost.

One lifecycle: create through the factory (with application and platform) with 3 resource
requests of 3 owners made at creation and the task locked in that transaction, 5
acknowledgements (application, platform, 3 datasets, each by its own owner), start, 1
result, finish. Printed per step with the total against the target (<= 500,000 gas), beside
the same lifecycle step by step (create, addRequests, lock as three transactions), and the
gas of deploying a full Task contract directly. Also the wall time of the lifecycle on the
embedded chain and on anvil (when contracts/node_modules has it), as a ratio.

    python benchmarks/ledger_gas.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pyrage
from eth_account import Account

from eotrust.ledger import Chain, TaskFactoryClient
from eotrust.ledger.abi import load_artifact
from eotrust.settings import load_settings

TARGET = 500_000
REPO = Path(__file__).resolve().parents[1]
ANVIL = REPO / "contracts" / "node_modules" / ".bin" / "anvil"
CID = "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u"

SUBMITTER, APP, PLATFORM, D0, D1, D2 = (Account.from_key(bytes([0x30 + i]) * 32) for i in range(6))
PARTIES = (SUBMITTER, APP, PLATFORM, D0, D1, D2)


def recipient() -> str:
    return str(pyrage.x25519.Identity.generate().to_public())


def lifecycle(factory: TaskFactoryClient, *, step_by_step: bool = False) -> tuple[list[tuple[str, int]], float]:
    """Run one lifecycle; return (step, gas) pairs and the wall time in seconds."""
    steps: list[tuple[str, int]] = []
    start = time.perf_counter()
    requests = [(f"dataset-{i}", d.address) for i, d in enumerate((D0, D1, D2))]
    task = factory.create_task(
        SUBMITTER,
        results_recipient=recipient(),
        application_id="application-record",
        application_owner=APP.address,
        platform_id="platform-record",
        platform_owner=PLATFORM.address,
        requests=() if step_by_step else requests,
        lock=not step_by_step,
    )

    def note(step: str) -> None:
        assert task.last_transaction is not None
        steps.append((step, task.last_transaction.gas_used))

    if step_by_step:
        note("create (factory clone, with application + platform)")
        task.add_requests(SUBMITTER, requests)
        note("3 resource requests (one transaction)")
        task.lock(SUBMITTER)
        note("lock")
    else:
        note("create + 3 requests + lock (one transaction)")
    task.ack_application(APP)
    note("ack application")
    task.ack_platform(PLATFORM, recipient())
    note("ack platform (its key)")
    for i, d in enumerate((D0, D1, D2)):
        task.ack_request(d, i, CID)
        note(f"ack dataset #{i} (input CID)")
    task.start(PLATFORM)
    note("start (execution id)")
    task.add_result(PLATFORM, CID)
    note("add result")
    task.finish(PLATFORM)
    note("finish")
    return steps, time.perf_counter() - start


def separate_requests_gas(factory: TaskFactoryClient) -> int:
    """The same 3 requests as 3 addRequest transactions (for comparison)."""
    task = factory.create_task(
        SUBMITTER,
        results_recipient=recipient(),
        application_id="a",
        application_owner=APP.address,
        platform_id="p",
        platform_owner=PLATFORM.address,
    )
    total = 0
    for i, d in enumerate((D0, D1, D2)):
        task.add_request(SUBMITTER, f"dataset-{i}", d.address)
        assert task.last_transaction is not None
        total += task.last_transaction.gas_used
    return total


def run_on(chain: Chain) -> dict[str, object]:
    for party in PARTIES:  # fund first, so funding is not timed
        if chain.balance(party.address) < 10**17:
            chain.fund(party.address, 10**18)
    factory = TaskFactoryClient(chain)
    first_steps, first_time = lifecycle(factory)  # the factory's first task (fresh storage words)
    steps, wall = lifecycle(factory)  # a later task
    step_by_step, _ = lifecycle(factory, step_by_step=True)
    deploy_task = chain.deploy(SUBMITTER, load_artifact("Task").bytecode, action="deploy a full Task contract")
    return {
        "first": first_steps,
        "steady": steps,
        "first_time": first_time,
        "wall": wall,
        "full_deploy": deploy_task.gas_used,
        "step_by_step": step_by_step,
        "separate_requests": separate_requests_gas(factory),
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        embedded = run_on(Chain.from_settings(load_settings(home=Path(tmp) / "embedded")))
        anvil: dict[str, object] | None = None
        if ANVIL.exists():
            sys.path.insert(0, str(REPO / "tests"))
            from anvil_node import anvil as start_anvil

            with start_anvil() as url:
                anvil = run_on(Chain.from_settings(load_settings(home=Path(tmp) / "anvil", chain_url=url)))

    first = embedded["first"]
    steady = embedded["steady"]
    assert isinstance(first, list) and isinstance(steady, list)
    print("Gas of one task lifecycle (embedded EVM, py-evm Prague rules)")
    print(f"  {'step':<52} {'first task':>11} {'later task':>11}" + (f" {'anvil':>11}" if anvil else ""))
    anvil_steps = anvil["first"] if anvil else None
    for i, ((name, gas_first), (_, gas_steady)) in enumerate(zip(first, steady)):
        extra = f" {anvil_steps[i][1]:>11,}" if isinstance(anvil_steps, list) else ""
        print(f"  {name:<52} {gas_first:>11,} {gas_steady:>11,}{extra}")
    total_first = sum(g for _, g in first)
    total_steady = sum(g for _, g in steady)
    total_anvil = sum(g for _, g in anvil_steps) if isinstance(anvil_steps, list) else None
    extra = f" {total_anvil:>11,}" if total_anvil is not None else ""
    print(f"  {'TOTAL':<52} {total_first:>11,} {total_steady:>11,}{extra}")
    worst = max(total_first, total_steady, total_anvil or 0)
    verdict = "holds" if worst <= TARGET else "MISSED"
    print(f"  target <= {TARGET:,} gas: {verdict} (worst {worst:,}; {worst / TARGET:.0%} of the target)")
    print()
    by_step = embedded["step_by_step"]
    assert isinstance(by_step, list)
    print("The same lifecycle step by step (reference, same run)")
    for name, gas in by_step[:3]:
        print(f"  {name:<52} {gas:>11,}")
    total_by_step = sum(g for _, g in by_step)
    print(f"  {'TOTAL step by step':<52} {total_by_step:>11,}   ({total_by_step / TARGET:.0%} of the target; "
          f"one-transaction creation saves {total_by_step - total_steady:,})")
    print()
    create_gas = by_step[0][1]
    full = int(embedded["full_deploy"])  # type: ignore[call-overload]
    print("One contract per task instead (reference, same run)")
    print(f"  deploying a full Task contract directly       {full:>11,} gas")
    print(f"  creating a task as a clone (incl. registry)   {create_gas:>11,} gas   ({full / create_gas:.1f}x cheaper)")
    sep = int(embedded["separate_requests"])  # type: ignore[call-overload]
    batched = by_step[1][1]
    print(f"  3 requests as 3 addRequest transactions       {sep:>11,} gas   (batched: {batched:,})")
    print()
    print(f"Wall time of one lifecycle ({len(steady)} transactions)")
    print(f"  embedded EVM (journaled under the home)       {embedded['wall']:>8.3f} s")
    if anvil:
        ratio = float(anvil["wall"]) / float(embedded["wall"])  # type: ignore[arg-type]
        print(f"  anvil over JSON-RPC                           {anvil['wall']:>8.3f} s   ({ratio:.2f}x the embedded time)")
    else:
        print(f"  anvil: not installed at {ANVIL} (make node)")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
