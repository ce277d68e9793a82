"""`eotrust federated …`: open a federated task, see its rounds, split the sample patch among owners.

The roles themselves run as nodes: `eotrust node run --federated participant --data OWN.npz`
on each data owner's machine, `eotrust node run --federated aggregator` on the platform's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from eotrust.cli.common import AsOption, JsonOption, acting_party, backends_of, console, print_json

if TYPE_CHECKING:
    from eotrust.ledger.federated import FederatedSnapshot
    from eotrust.settings import Settings

federated_app = typer.Typer(
    help="Federated training: data stays home, every round on the ledger.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(federated_app, name="federated")


@federated_app.command("split")
def split(
    out: Path = typer.Option(..., "--out", "-o", help="directory for owner-0.npz … and heldout.npz"),
    owners: int = typer.Option(3, "--owners", min=1, max=32, help="data owners (bands of rows)"),
    as_json: bool = JsonOption,
) -> None:
    """Split the bundled Slovenian NDVI patch spatially: one band of rows per owner, the last held out."""
    from eotrust.federated.data import load_patch, regions

    patch = load_patch()
    bands, held = regions(patch.height, owners)
    written = {}
    for i, rows in enumerate(bands):
        written[f"owner-{i}"] = (patch.pixels(rows).save(out / f"owner-{i}.npz"), rows)
    written["heldout"] = (patch.pixels(held).save(out / "heldout.npz"), held)
    if as_json:
        print_json({k: {"path": str(p), "rows": list(r)} for k, (p, r) in written.items()})
        return
    for name, (path, rows) in written.items():
        console.print(f"{name}: rows {rows[0]}–{rows[1] - 1} → {path}", highlight=False)


@federated_app.command("create")
def create(
    ctx: typer.Context,
    participant: list[str] = typer.Option(..., "--participant", "-p", help="a data owner's address (repeat, in order)"),
    aggregator: str = typer.Option(..., "--aggregator", help="the aggregator's address"),
    aggregator_recipient: str = typer.Option(
        ..., "--aggregator-recipient", help="the aggregator's age1… recipient (its card)"
    ),
    rounds: int = typer.Option(3, "--rounds", min=1, max=255),
    strategy: str = typer.Option("fedavg", "--strategy", help="fedavg, fedprox, fedmedian or fedtrimmedavg"),
    mu: float = typer.Option(0.01, "--mu", min=0.0, help="FedProx proximal weight"),
    trim_beta: float = typer.Option(
        0.2, "--trim-beta", help="FedTrimmedAvg: fraction of updates cut from each end, weight by weight (0 to 0.5)"
    ),
    max_samples: int | None = typer.Option(
        None, "--max-samples", min=1, help="FedAvg, FedProx: the most samples one update weighs, whatever it declares"
    ),
    max_update_norm: float | None = typer.Option(
        None, "--max-update-norm", help="clip every update's delta to this L2 norm before aggregating"
    ),
    local_epochs: int = typer.Option(2, "--local-epochs", min=1, max=100),
    quorum: int | None = typer.Option(
        None, "--quorum", min=1, help="fewest accepted updates to close a round at its deadline (default: all)"
    ),
    round_seconds: int = typer.Option(
        600, "--round-seconds", min=1, help="deadline of each round, from its start (seconds, at most 2**32 - 1)"
    ),
    dp_clip: float | None = typer.Option(None, "--dp-clip", help="differential privacy: L2 bound of an update"),
    dp_noise: float | None = typer.Option(None, "--dp-noise", help="differential privacy: noise multiplier"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Open a federated task (as its submitter): plan and initial model are stored, the contract created."""
    from eotrust.errors import InvalidInputError
    from eotrust.federated.create import create_federated_task
    from eotrust.federated.data import CLASS_CODES, CLASS_NAMES
    from eotrust.federated.plan import STRATEGIES, plan_of
    from eotrust.federated.privacy import epsilon
    from eotrust.federated.strategy import describe_aggregation

    if strategy not in STRATEGIES:
        raise InvalidInputError(f"unknown strategy {strategy!r}", hint="use " + ", ".join(STRATEGIES))
    if (dp_clip is None) != (dp_noise is None):
        raise InvalidInputError("differential privacy needs both --dp-clip and --dp-noise")
    backends = backends_of(ctx)
    party = acting_party(ctx, as_party)
    plan = plan_of(
        classes=CLASS_NAMES,
        class_codes=CLASS_CODES,
        timesteps=68,
        strategy=strategy,
        mu=mu,
        trim_beta=trim_beta,
        max_samples=max_samples,
        max_update_norm=max_update_norm,
        local_epochs=local_epochs,
        privacy=None if dp_clip is None else {"clip": dp_clip, "noise_multiplier": dp_noise},
    )
    privacy = plan.privacy
    task = create_federated_task(
        backends.chain,
        backends.store,
        party.account,
        auditor_recipient=party.age_recipient,
        plan=plan,
        aggregator=aggregator,
        aggregator_recipient=aggregator_recipient,
        participants=participant,
        rounds=rounds,
        quorum=quorum,
        round_seconds=round_seconds,
    )
    eps = epsilon(privacy, rounds) if privacy else None
    if as_json:
        print_json({"address": task.address, "epsilon": eps, "delta": privacy.delta if privacy else None})
        return
    console.print(
        f"federated task [bold]{task.address}[/] opened: {len(participant)} participants, {rounds} rounds, {describe_aggregation(plan)}"
    )
    if plan.strategy in ("fedavg", "fedprox") and plan.max_samples is None:
        console.print(
            "note: each update weighs the samples its participant declares, and one participant can declare "
            "almost all of them: --max-samples caps that weight; --strategy fedmedian or fedtrimmedavg ignores it",
            style="yellow",
            highlight=False,
        )
    if privacy is not None and eps is not None:
        console.print(
            f"differential privacy: each participant's data is ({eps:.2f}, {privacy.delta:g})-DP over {rounds} rounds"
        )


@federated_app.command("accept")
def accept(
    ctx: typer.Context,
    address: str = typer.Argument(..., help="the federated task's address"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Take part in a federated task that names you (as a participant or its aggregator): its
    plan is shown, and your federated node works on it from now on. A node does nothing for a
    task its party has not accepted (or whose submitter it does not trust: node run --accept-from)."""
    from eotrust.errors import InvalidInputError
    from eotrust.federated.consent import Consent, consent_dir
    from eotrust.federated.plan import MAX_PARAMETERS
    from eotrust.federated.privacy import epsilon
    from eotrust.federated.roles import read_plan
    from eotrust.federated.strategy import describe_aggregation
    from eotrust.ledger.federated import FederatedFactoryClient, FederatedTaskClient

    backends = backends_of(ctx)
    party = acting_party(ctx, as_party)
    snap = FederatedTaskClient(backends.chain, address).status()
    if not FederatedFactoryClient(backends.chain).is_task(snap.address):
        raise InvalidInputError(
            f"{snap.address} is not a task of this chain's federated factory", hint="check the address"
        )
    index = snap.index_of(party.address)
    roles = snap.roles_of(party.address)
    if not roles:
        raise InvalidInputError(
            f"federated task {snap.address} names {party.name} ({party.address}) neither as a participant nor as "
            "its aggregator",
            hint="accept a task that names you",
        )
    plan = read_plan(backends.store, snap.plan_cid)
    # everything said before anything is recorded: an acceptance is never left behind a failure
    parameters = plan.parameter_count()
    privacy = (
        f"differential privacy ({epsilon(plan.privacy, snap.rounds):.2f}, {plan.privacy.delta:g}) over {snap.rounds} rounds"
        if plan.privacy
        else "no differential privacy"
    )
    params = ", ".join(f"{k} {v}" for k, v in plan.params.items())
    lines = [
        f"federated task {snap.address}: {snap.state.value}, round {snap.round}/{snap.rounds}",
        f"submitter {snap.submitter}, aggregator {snap.aggregator}; {len(snap.participants)} participant(s)"
        + (f", you are #{index}" if index is not None else ""),
        f"plan {snap.plan_cid}: {plan.architecture} ({params}; {parameters:,} parameters), "
        f"{plan.local_epochs} local epoch(s), {describe_aggregation(plan)}, {privacy}",
        f"each update is sealed for the aggregator's key {snap.aggregator_recipient} and the submitter's "
        f"(its auditor) {snap.auditor_recipient}: who holds them reads it",
    ]
    _check_recipients(backends.settings, snap)
    if parameters > MAX_PARAMETERS:
        raise InvalidInputError(
            f"the plan's model has {parameters:,} parameters; a federated plan's model may have at most "
            f"{MAX_PARAMETERS:,}",
            hint="do not take part",
        )
    path = Consent(consent_dir(backends.settings, party.name), signer=party.account, chain=backends.chain).accept(snap)
    role = " and ".join(roles)
    if as_json:
        print_json(
            {
                "address": snap.address,
                "role": role,
                "plan_cid": snap.plan_cid,
                "parameters": parameters,
                "recorded": str(path),
            }
        )
        return
    for line in lines:
        console.print(line, highlight=False, markup=False)
    console.print(f"accepted as {role}: your federated node takes part in this task", style="green", highlight=False)


def _check_recipients(settings: Settings, snap: FederatedSnapshot) -> None:
    """InvalidInputError when the task seals updates for a key that is not the one on the card
    of the party it names (aggregator, submitter), where this home holds that party's card: the
    ledger takes any key beside any name. Elsewhere the keys are shown, to be compared with the
    parties' exported cards."""
    from eotrust.errors import InvalidInputError
    from eotrust.party import list_cards

    cards = {c.address.lower(): c for c in list_cards(settings)}
    for role, address, key in (
        ("aggregator", snap.aggregator, snap.aggregator_recipient),
        ("submitter", snap.submitter, snap.auditor_recipient),
    ):
        card = cards.get(address.lower())
        if card is not None and card.age_recipient != key:
            raise InvalidInputError(
                f"federated task {snap.address} seals every update for {key} as its {role}'s, which is not the key "
                f"of {card.name} ({card.address}): {card.age_recipient}",
                hint="do not take part: someone else would read the updates",
            )


@federated_app.command("status")
def status(
    ctx: typer.Context,
    address: str = typer.Argument(..., help="the federated task's address"),
    as_json: bool = JsonOption,
) -> None:
    """The task's state and every round: updates, refused and dropped participants, aggregate."""
    from eotrust.cli.common import Table
    from eotrust.ledger.federated import FederatedTaskClient

    task = FederatedTaskClient(backends_of(ctx).chain, address)
    snap, rounds = task.status(), task.rounds()
    if as_json:
        print_json({"task": snap, "rounds": rounds})
        return
    console.print(
        f"[bold]{snap.address}[/]: {snap.state.value}, round {snap.round}/{snap.rounds}, aggregator {snap.aggregator}"
    )
    table = Table(title="rounds")
    for col in ("round", "model", "updates (#: samples)", "refused", "dropped", "aggregate"):
        table.add_column(col, overflow="fold")
    for r in rounds:
        table.add_row(
            str(r.round),
            r.model_cid,
            ", ".join(f"#{u.index}: {u.samples}" for u in r.updates),
            str(r.refused or ""),
            str(r.dropped or ""),
            r.aggregate_cid or "(open)",
        )
    console.print(table)
