"""Federated training on the Slovenian patch split spatially among 3 data owners, side by side
with centralised training on all their data and with each owner alone.

Every model is evaluated on the held-out band of rows that no owner holds (pixel accuracy,
mean IoU). Federated runs go through the real thing: the embedded chain, sealed updates in a
local store, the deterministic aggregate. Baselines get the same number of epochs over their
data as each participant gets (rounds × local epochs). Also printed: rounds per minute, gas per
round (3 participants; target ≤ 150,000), and bytes moved (sealed updates up, global models
down) against the bytes of the owners' raw pixels. The last line is the federated (FedAvg) /
centralised accuracy ratio (target ≥ 0.97). Timings are noisy on a shared machine.

The robust strategies (FedMedian; FedTrimmedAvg cutting one update of three from each end)
run on the same data, honest and with owner-2 poisoning every round: it trains on its pixels
all labelled with one class, scales its delta by the number of participants and declares the
ledger's largest sample count (model replacement); and, as the floor no bound on an update's
size or weight can lift, with only its labels flipped (its delta and sample count those of an
honest owner). FedAvg runs as is, with ``max_samples`` set to the largest owner's count, and
with ``max_update_norm`` too (the median norm of the honest FedAvg run's updates).

    python benchmarks/federated.py [--rounds 4] [--local-epochs 1] [--no-attack]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from eth_account import Account

from eotrust.crypto.keys import generate_identity, recipient_of
from eotrust.federated.aggregator import aggregator_step
from eotrust.federated.create import create_federated_task
from eotrust.federated.data import CLASS_CODES, CLASS_NAMES, PixelSet, load_patch, regions
from eotrust.federated.drive import drive
from eotrust.federated.journal import RoundJournal
from eotrust.federated.local import evaluate, train_alone, train_local
from eotrust.federated.participant import participant_step
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.roles import RoleContext, read_model, read_plan
from eotrust.federated.update import Update, open_update, seal_update
from eotrust.federated.weights import Weights, l2_norm
from eotrust.ledger import Chain
from eotrust.ledger.federated import FederatedState, FederatedTaskClient
from eotrust.settings import load_settings
from eotrust.store import LocalStore

GAS_TARGET = 150_000


MOST_SAMPLES = 2**32 - 1  # the ledger's largest sample count (uint32)
POISON_CLASS = 0  # what the attacker wants every pixel called


@dataclass(frozen=True)
class Attack:
    """Participant ``index`` trains on its pixels all labelled POISON_CLASS, scales its delta by
    ``scale`` and declares ``samples`` (None: its true count)."""

    index: int
    scale: float
    samples: int | None


def poisoned_step(ctx: RoleContext, address: str, data: PixelSet, attack: Attack) -> None:
    """One round of a participant that poisons the model (see :class:`Attack`)."""
    task = FederatedTaskClient(ctx.chain, address)
    snap = task.status()
    index = snap.index_of(ctx.address)
    if snap.state != FederatedState.RUNNING or index is None or index in snap.submitted:
        return
    plan = read_plan(ctx.store, snap.plan_cid)
    g = read_model(ctx.store, snap.model_cid)
    flipped = PixelSet(data.x, np.full_like(data.y, POISON_CLASS))
    delta = train_local(plan, g, flipped, round_=snap.round, index=index)
    scaled: Weights = OrderedDict((k, v * np.float32(attack.scale)) for k, v in delta.items())
    samples = attack.samples or len(data)
    update = Update(task=address, round=snap.round, index=index, samples=samples, delta=scaled)
    cid = seal_update(ctx.store, update, [snap.aggregator_recipient, snap.auditor_recipient])
    task.submit_update(ctx.account, snap.round, cid, samples)


def federated(
    plan: FederatedPlan, data: list[PixelSet], test: PixelSet, rounds: int, *, attack: Attack | None = None
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="eotrust-fed-bench-") as tmp:
        settings = load_settings(home=Path(tmp) / "home")
        chain, store = Chain.from_settings(settings), LocalStore(settings.store_dir)

        def role(name: str, key: int) -> RoleContext:
            identity, _ = generate_identity()
            account = Account.from_key(bytes([key]) * 32)
            return RoleContext(
                name=name,
                account=account,
                identity=identity,
                chain=chain,
                store=store,
                journal=RoundJournal(Path(tmp) / name, signer=account),
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
        if attack is None:
            drive(task, aggregator, owners, data)
        else:
            while task.status().state == FederatedState.RUNNING:
                for i, (owner, pixels) in enumerate(zip(owners, data)):
                    if i == attack.index:
                        poisoned_step(owner, task.address, pixels, attack)
                    else:
                        participant_step(owner, task.address, pixels)
                aggregator_step(aggregator, task.address)
        seconds = time.perf_counter() - t0
        records = task.rounds()
        gas = [task.round_gas(r) for r in records]
        model_bytes = len(store.get_bytes(records[0].model_cid))
        up = sum(len(store.get_bytes(u.update_cid)) for r in records for u in r.updates)
        down = model_bytes * len(data) * rounds
        acc, miou = evaluate(plan, read_model(store, records[-1].aggregate_cid or ""), test)
        norms = [
            l2_norm(open_update(store, u.update_cid, aggregator.identity).delta)
            for r in records
            for u in r.updates
            if attack is None or u.index != attack.index
        ]
        return {
            "accuracy": acc,
            "miou": miou,
            "rounds_per_min": rounds / seconds * 60,
            "gas": max(gas),
            "bytes": up + down,
            "median_norm": float(np.median(norms)),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--local-epochs", type=int, default=1)
    parser.add_argument("--no-attack", action="store_true", help="leave out the robust strategies and the attack")
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
    if not args.no_attack:
        robustness(plan, data, test, args.rounds, fed["fedavg"])
    fa = fed["fedavg"]["accuracy"]
    print(f"gas per round (3 participants): {max(f['gas'] for f in fed.values()):,.0f} (target ≤ {GAS_TARGET:,})")
    print(
        f"federated beats every owner alone: {all(fa > a[0] for a in alone)} "
        f"(best owner alone {max(a[0] for a in alone):.3f})"
    )
    print(f"federated/centralised accuracy ratio {fa / central[0]:.3f}")
    return 0


def robustness(
    plan: FederatedPlan, data: list[PixelSet], test: PixelSet, rounds: int, honest: dict[str, float]
) -> None:
    """Each defence honest and with owner-2 poisoning, beside honest FedAvg."""
    largest = max(len(d) for d in data)
    bound = round(honest["median_norm"], 2)
    capped = plan.model_copy(update={"max_samples": largest})
    plans = {
        "fedavg": plan,
        f"fedavg, max_samples {largest}": capped,
        f"  and max_update_norm {bound:g}": capped.model_copy(update={"max_update_norm": bound}),
        "fedmedian": plan.model_copy(update={"strategy": "fedmedian"}),
        "fedtrimmedavg (beta 0.34)": plan.model_copy(update={"strategy": "fedtrimmedavg", "trim_beta": 0.34}),
    }
    share = float(np.mean(test.y == POISON_CLASS))
    attacks = {
        "replacement": Attack(2, float(len(data)), MOST_SAMPLES),
        "flipping": Attack(2, 1.0, None),
    }
    print(
        f"\nowner-2 poisoning every round, its pixels all labelled {CLASS_NAMES[POISON_CLASS]!r} ({share:.1%} of the "
        f"held-out pixels: always answering it scores {share:.3f}). replacement: its delta x{len(data)} and "
        f"{MOST_SAMPLES:,} samples declared; flipping: its delta and sample count as an honest owner's. "
        f"max_update_norm {bound:g}: the median L2 norm of the honest FedAvg run's updates. Cells: accuracy / mIoU"
    )
    print(f"{'aggregation':30} {'honest':>13} {'replacement':>13} {'flipping':>13}")
    for name, p in plans.items():
        h = honest if name == "fedavg" else federated(p, data, test, rounds)
        cells = [h] + [federated(p, data, test, rounds, attack=a) for a in attacks.values()]
        print(f"{name:30} " + " ".join(f"{c['accuracy']:6.3f}/{c['miou']:.3f}" for c in cells))


if __name__ == "__main__":
    sys.exit(main())
