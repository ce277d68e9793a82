"""Federated training on the Slovenian patch split spatially among 3 data owners, side by side
with centralised training on all their data and with each owner alone.

Every model is evaluated on the held-out band of rows that no owner holds (pixel accuracy,
mean IoU). Federated runs go through the real thing: the embedded chain, sealed updates in a
local store, the deterministic aggregate. Baselines get the same number of epochs over their
data as each participant gets (rounds × local epochs). Also printed: rounds per minute, gas per
round (3 participants; target ≤ 150,000), and bytes moved (sealed updates up, global models
down) against the bytes of the owners' raw pixels. The last line is the federated (FedAvg) /
centralised accuracy ratio (target ≥ 0.97). Timings are noisy on a shared machine.

    python benchmarks/federated.py [--rounds 4] [--local-epochs 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from eth_account import Account

from eotrust.crypto.keys import generate_identity, recipient_of
from eotrust.federated.create import create_federated_task
from eotrust.federated.data import CLASS_CODES, CLASS_NAMES, PixelSet, load_patch, regions
from eotrust.federated.drive import drive
from eotrust.federated.journal import RoundJournal
from eotrust.federated.local import evaluate, train_alone
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.roles import RoleContext, read_model
from eotrust.ledger import Chain
from eotrust.settings import load_settings
from eotrust.store import LocalStore

GAS_TARGET = 150_000


def federated(plan: FederatedPlan, data: list[PixelSet], test: PixelSet, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="eotrust-fed-bench-") as tmp:
        settings = load_settings(home=Path(tmp) / "home")
        chain, store = Chain.from_settings(settings), LocalStore(settings.store_dir)

        def role(name: str, key: int) -> RoleContext:
            identity, _ = generate_identity()
            return RoleContext(
                name=name,
                account=Account.from_key(bytes([key]) * 32),
                identity=identity,
                chain=chain,
                store=store,
                journal=RoundJournal(Path(tmp) / name),
            )

        submitter, aggregator = role("submitter", 0x31), role("aggregator", 0x32)
        owners = [role(f"owner-{i}", 0x33 + i) for i in range(len(data))]
        task = create_federated_task(
            chain,
            store,
            submitter.account,
            auditor_recipient=recipient_of(submitter.identity),
            plan=plan,
            aggregator=aggregator.address,
            aggregator_recipient=recipient_of(aggregator.identity),
            participants=[o.address for o in owners],
            rounds=rounds,
            round_seconds=3600,
        )
        t0 = time.perf_counter()
        drive(task, aggregator, owners, data)
        seconds = time.perf_counter() - t0
        records = task.rounds()
        gas = [task.round_gas(r) for r in records]
        model_bytes = len(store.get_bytes(records[0].model_cid))
        up = sum(len(store.get_bytes(u.update_cid)) for r in records for u in r.updates)
        down = model_bytes * len(data) * rounds
        acc, miou = evaluate(plan, read_model(store, records[-1].aggregate_cid or ""), test)
        return {
            "accuracy": acc,
            "miou": miou,
            "rounds_per_min": rounds / seconds * 60,
            "gas": max(gas),
            "bytes": up + down,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--local-epochs", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    patch = load_patch()
    bands, held = regions(patch.height, 3)
    data = [patch.pixels(b) for b in bands]
    test = patch.pixels(held)
    raw = sum(d.nbytes for d in data)
    plan = FederatedPlan(
        classes=CLASS_NAMES, class_codes=CLASS_CODES, timesteps=len(patch.dates), local_epochs=args.local_epochs
    )
    print(
        f"owners' pixels: {[len(d) for d in data]}, held-out: {len(test)}; {args.rounds} rounds × {args.local_epochs} local epoch(s)"
    )

    rows: list[tuple[str, float, float, str, str, str]] = []
    fed = {}
    for strategy in ("fedavg", "fedprox"):
        f = federated(plan.model_copy(update={"strategy": strategy}), data, test, args.rounds)
        fed[strategy] = f
        rows.append(
            (
                f"federated {strategy}",
                f["accuracy"],
                f["miou"],
                f"{f['rounds_per_min']:.1f}",
                f"{f['gas']:,.0f}",
                f"{f['bytes'] / 1e6:.2f} MB ({f['bytes'] / raw:.2f}× raw)",
            )
        )
    epochs = args.rounds * args.local_epochs
    everyone = PixelSet(np.concatenate([d.x for d in data]), np.concatenate([d.y for d in data]))
    central = evaluate(plan, train_alone(plan.model_copy(update={"local_epochs": epochs}), everyone, rounds=1), test)
    rows.append(("centralised (all data)", *central, "", "", f"{raw / 1e6:.2f} MB (all raw pixels)"))
    alone = []
    for i, d in enumerate(data):
        a = evaluate(plan, train_alone(plan.model_copy(update={"local_epochs": epochs}), d, rounds=1), test)
        alone.append(a)
        rows.append((f"owner-{i} alone", *a, "", "", "0"))

    print(f"{'model':24} {'accuracy':>9} {'mIoU':>7} {'rounds/min':>11} {'gas/round':>10}  bytes moved")
    for name, acc, miou, rpm, gas, moved in rows:
        print(f"{name:24} {acc:9.3f} {miou:7.3f} {rpm:>11} {gas:>10}  {moved}")
    fa = fed["fedavg"]["accuracy"]
    print(f"gas per round (3 participants): {max(f['gas'] for f in fed.values()):,.0f} (target ≤ {GAS_TARGET:,})")
    print(
        f"federated beats every owner alone: {all(fa > a[0] for a in alone)} "
        f"(best owner alone {max(a[0] for a in alone):.3f})"
    )
    print(f"federated/centralised accuracy ratio {fa / central[0]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
