"""`eotrust demo --federated`: three data owners train one land-cover model without moving
their data; every round is on the ledger, and the submitter verifies every aggregate.

1. five parties: a submitter, an aggregator (a platform) and three data owners;
2. the Slovenian NDVI patch is split spatially: each owner holds one band of rows, the last
   band is held out for evaluation (no owner holds it);
3. the submitter opens a federated task (plan and initial model by CID on the ledger);
4. each round every owner trains at home on its own pixels and submits an update sealed for
   the aggregator (and the auditing submitter); the aggregator refuses garbage, aggregates
   deterministically and publishes the new global model;
5. the submitter verifies: every update and aggregate recomputed bit for bit.

All roles run in this one process on the embedded chain (or ``EOTRUST_CHAIN_URL``); the README
shows the same with each organisation on its own machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from eotrust.demo.scenario import demo_settings


@dataclass(frozen=True)
class FederatedDemoResult:
    home: Path
    task: str
    state: str
    verified: bool
    accuracy: float
    miou: float
    seconds: float


def run_federated_demo(
    *, home: Path | None = None, console: Console | None = None, rounds: int = 3, strategy: str = "fedavg"
) -> FederatedDemoResult:
    from eotrust.backends import Backends
    from eotrust.crypto.envelope import open_from_store  # noqa: F401 - the demo's sealing is age's
    from eotrust.federated.create import create_federated_task
    from eotrust.federated.data import CLASS_CODES, CLASS_NAMES, load_patch, regions
    from eotrust.federated.drive import drive
    from eotrust.federated.journal import RoundJournal
    from eotrust.federated.local import evaluate
    from eotrust.federated.plan import FederatedPlan
    from eotrust.federated.roles import RoleContext, read_model
    from eotrust.party import create_party
    from eotrust.verify import verify

    out = console or Console()
    t0 = time.monotonic()
    settings = demo_settings(home)
    backends = Backends(settings)
    chain, store = backends.chain, backends.store
    out.rule("1. parties")
    parties = {
        name: create_party(settings, name, role)
        for name, role in [
            ("submitter", "submitter"),
            ("aggregator", "platform-owner"),
            ("owner-north", "data-owner"),
            ("owner-middle", "data-owner"),
            ("owner-south", "data-owner"),
        ]
    }
    for p in parties.values():
        out.print(f"  {p.name:13} {p.address}  {p.role.value}")

    def ctx(name: str) -> RoleContext:
        p = parties[name]
        return RoleContext(
            name=name,
            account=p.account,
            identity=p.age_identity,
            chain=chain,
            store=store,
            journal=RoundJournal(settings.path("nodes", "federated", name), signer=p.account),
        )

    out.rule("2. the patch split among three owners")
    patch = load_patch()
    bands, held = regions(patch.height, 3)
    owners = ["owner-north", "owner-middle", "owner-south"]
    data = [patch.pixels(b) for b in bands]
    test = patch.pixels(held)
    for name, rows, d in zip(owners, bands, data):
        out.print(f"  {name:13} rows {rows[0]:3}–{rows[1] - 1:3}: {len(d):5} labelled pixels, stays at home")
    out.print(f"  held out      rows {held[0]:3}–{held[1] - 1:3}: {len(test):5} pixels, for evaluation only")

    out.rule("3. the submitter opens a federated task")
    plan = FederatedPlan(
        classes=CLASS_NAMES, class_codes=CLASS_CODES, timesteps=len(patch.dates), local_epochs=1, strategy=strategy
    )
    task = create_federated_task(
        chain,
        store,
        parties["submitter"].account,
        auditor_recipient=parties["submitter"].age_recipient,
        plan=plan,
        aggregator=parties["aggregator"].address,
        aggregator_recipient=parties["aggregator"].age_recipient,
        participants=[parties[o].address for o in owners],
        rounds=rounds,
        round_seconds=3600,
    )
    out.print(f"  task {task.address}: {rounds} rounds, {strategy}, plan {task.status().plan_cid}")

    out.rule("4. rounds: owners train at home, the aggregator aggregates")
    table = Table("round", "updates", "gas", "held-out accuracy", "mIoU", "global model")
    scores: list[tuple[float, float]] = []

    def on_round(r: int) -> None:
        rec = task.rounds()[r]
        acc, miou = evaluate(plan, read_model(store, rec.aggregate_cid or ""), test)
        scores.append((acc, miou))
        table.add_row(
            str(r),
            str(len(rec.updates)),
            f"{task.round_gas(rec):,}",
            f"{acc:.3f}",
            f"{miou:.3f}",
            rec.aggregate_cid or "",
        )
        out.print(f"  round {r}: {len(rec.updates)} sealed updates, aggregate {rec.aggregate_cid}, accuracy {acc:.3f}")

    drive(task, ctx("aggregator"), [ctx(o) for o in owners], data, on_round=on_round)
    out.print(table)

    out.rule("5. the submitter verifies every round")
    verdict = verify(backends, task.address, identity=parties["submitter"].age_identity)
    for check in verdict.checks:
        mark = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[yellow]–[/]"}[check.ok]
        out.print(f"  {mark} {check.name}: {check.detail}", highlight=False)
    out.print("[bold green]VERIFIED[/]" if verdict.ok else "[bold red]NOT VERIFIED[/]")
    state = task.status().state.value
    acc, miou = scores[-1] if scores else (0.0, 0.0)
    return FederatedDemoResult(
        home=settings.home_dir,
        task=task.address,
        state=state,
        verified=verdict.ok,
        accuracy=acc,
        miou=miou,
        seconds=time.monotonic() - t0,
    )
