"""`eotrust demo`: the seven steps of the task flow between five parties, end to end, live, then
the trained model shipped as a signed package (step 8).

1. the submitter finds an application, input datasets and a platform in the catalogue;
2. opens a task contract with its key for the outputs, and locks it;
3. the algorithm owner acknowledges, the platform owner gives its key and acknowledges, and
   each data owner encrypts its dataset for the platform's key, stores it and acknowledges
   with the ciphertext's CID;
4. the platform's runner node sees the task fully acknowledged and starts it;
5. the land-cover workflow runs on the platform: inputs fetched by CID, checked, decrypted
   only there; outputs encrypted for the submitter and stored;
6. the collector records each result CID on the contract and finishes it;
7. the submitter downloads, checks and decrypts the results — and anyone can verify them;
8. the model ships as a signed package: the submitter, who owns the results, packages the
   checkpoint with its own key, registers and verifies it, and scores the whole scene with
   onnxruntime into a GeoTIFF (:mod:`eotrust.demo.ship_model`).

Everything runs on the embedded defaults (in-process EVM, local store, SQLite catalogue)
under a fresh home in ``.demo/`` — or against a JSON-RPC chain when ``EOTRUST_CHAIN_URL`` is set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from eotrust.errors import EotrustError, StateError
from eotrust.limits import json_loads
from eotrust.settings import Settings, load_settings

if TYPE_CHECKING:
    from eotrust.backends import Backends
    from eotrust.catalog.entries import ApplicationInfo, BodyT, DatasetInfo, PlatformInfo, Record
    from eotrust.catalog.service import Catalog
    from eotrust.ledger import TaskSnapshot

PASSPHRASE = "eotrust-demo"
PLATFORM = "slovenia-compute"
LICENCE = "MIT (eo-learn TestEOPatch, Sinergise)"
GWEI = 10**9
#: The demo's prices, in wei (issue 15): the platform's compute, a run, each dataset's use.
PLATFORM_PRICES = {"cpu_hour": 40 * GWEI, "memory_gb_hour": 5 * GWEI, "storage_gb": 20 * GWEI, "flat": GWEI}
RUN_PRICE = 1000 * GWEI
USE_PRICE = 200 * GWEI


@dataclass(frozen=True)
class DemoResult:
    home: Path
    task: str
    state: str
    results: list[Any]
    verified: bool
    seconds: float
    #: CID of the signed model package (step 8); None when the application made no model
    package_cid: str | None = None


def data_dir() -> Path:
    """The packaged sample: real Sentinel-2 NDVI, cloud masks and land-cover labels (Slovenia)."""
    from eotrust.ml.landcover import sample_data

    return sample_data()


def landcover_workflow() -> Path:
    """The land-cover application's workflow document (``eotrust.ml.landcover``)."""
    from eotrust.ml.landcover import workflow_path

    return workflow_path()


#: The demo trains the application's small model definition, to stay well under 3 minutes.
DEMO_PARAMS: dict[str, Any] = {"quick": True}


def demo_settings(home: Path | None, passphrase: str = PASSPHRASE) -> Settings:
    if home is None:
        home = Path.cwd() / ".demo" / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    return load_settings(home=home, passphrase=passphrase)


def choose_passphrase() -> str:
    """A fresh passphrase for a demo whose user gave none (printed, so they can use the home)."""
    import secrets

    return "demo-" + secrets.token_urlsafe(12)


#: What `eotrust task status` prints for a snapshot (its catalogue names, where the chain is),
#: as rich text: the CLI gives its own printer (``cli.task.status_text``), so the demo shows
#: exactly what the command would, without importing the shell above it.
StatusText = Callable[["TaskSnapshot", dict[str, str], str], Text]


class Narrator:
    """Readable, timed output: one rule per step, one line per event, status tables."""

    def __init__(self, console: Console, status_text: StatusText) -> None:
        self.console = console
        self.status_text = status_text
        self.t0 = time.monotonic()
        self._lock = threading.Lock()

    def step(self, number: int | str, title: str) -> None:
        with self._lock:
            self.console.rule(f"[bold cyan]{number}. {title}")

    def say(self, text: str, who: str | None = None) -> None:
        stamp = f"[dim]{time.monotonic() - self.t0:6.1f}s[/]"
        label = f"[bold magenta]{who:>16}[/] " if who else ""
        with self._lock:
            self.console.print(f"{stamp} {label}{text}", highlight=False)

    def table(self, table: Any) -> None:
        with self._lock:
            self.console.print(table)


def _print_status(narrator: Narrator, chain: Any, address: str, when: str, names: dict[str, str]) -> None:
    """What `eotrust task status ADDRESS` prints, at this moment of the flow."""
    from eotrust.ledger import TaskClient

    narrator.say(f"[bold]$ eotrust task status {address}[/]   ← {when}")
    snap = TaskClient(chain, address).status()
    narrator.table(narrator.status_text(snap, names, chain.description))


def _catalogue_names(*records: Record[ApplicationInfo | PlatformInfo | DatasetInfo]) -> dict[str, str]:
    """``task status`` names catalogue ids (the contract's bytes32) by their records' names."""
    from eotrust.catalog.entries import DatasetInfo
    from eotrust.cid import cid_digest

    return {
        "0x" + cid_digest(r.id).hex(): r.body.title if isinstance(r.body, DatasetInfo) else r.body.name for r in records
    }


def run_demo(
    *,
    console: Console,
    status_text: StatusText,
    home: Path | None = None,
    params: dict[str, Any] | None = None,
    workflow: Path | None = None,
    data: Path | None = None,
    timeout_s: float = 600.0,
    passphrase: str | None = None,
) -> DemoResult:
    """Run the whole flow; return where the results are and whether they verified. The
    parties' keystores are locked with ``passphrase``, or with one chosen here and printed."""
    from eotrust.backends import Backends
    from eotrust.catalog.db import shown_url
    from eotrust.catalog.entries import Kind
    from eotrust.ledger.funding import fund_parties
    from eotrust.nodes.node import PlatformNode
    from eotrust.party import Role, create_party, load_party
    from eotrust.roles.algorithm_owner.applications import register_workflow_application
    from eotrust.roles.data_owner.holdings import register_dataset_file
    from eotrust.roles.owners.answer import answer_task
    from eotrust.roles.submitter.collect import collect_results, failure_log
    from eotrust.roles.submitter.request import TaskRequest, open_task
    from eotrust.urls import redacted_url
    from eotrust.verify import verify

    n = Narrator(console, status_text)
    chosen = passphrase is None
    secret = choose_passphrase() if passphrase is None else passphrase
    settings = demo_settings(home, secret)
    backends = Backends(settings)
    started = time.monotonic()
    chain_label = (
        redacted_url(settings.chain_url) if settings.chain_url else "embedded EVM (py-evm, persisted under the home)"
    )
    n.say(
        f"home [bold]{settings.home_dir}[/]; chain {chain_label}; store {settings.store}; "
        f"catalogue {shown_url(settings)}"
    )
    if chosen:
        n.say(
            f"no EOTRUST_PASSPHRASE was set: the parties' keystores are locked with [bold]{secret}[/] — "
            f"`export EOTRUST_PASSPHRASE={secret}` to use this home afterwards"
        )

    # -- 0. the parties ---------------------------------------------------------------
    n.step(0, "Five parties, each an Ethereum account and an age key")
    roles = {
        "submitter": Role.SUBMITTER,
        "owner-a": Role.DATA_OWNER,
        "owner-b": Role.DATA_OWNER,
        "algorithm-owner": Role.ALGORITHM_OWNER,
        "platform-owner": Role.PLATFORM_OWNER,
    }
    parties: dict[str, Any] = {}
    for name, role in roles.items():
        try:
            parties[name] = create_party(settings, name, role, passphrase=secret)
        except EotrustError:
            parties[name] = load_party(settings, name, passphrase=secret)
    chain = backends.chain
    fund_parties(chain, [p.account.address for p in parties.values()])
    cards = Table("party", "role", "address", "age recipient (public key)")
    for name, party in parties.items():
        cards.add_row(name, str(party.card.role), party.account.address, party.card.age_recipient)
    n.table(cards)

    # -- registrations ---------------------------------------------------------------------
    n.step("0b", "The owners register their resources in the catalogue (signed records)")
    catalog = backends.catalog
    data = data or data_dir()
    ndvi = register_dataset_file(
        backends,
        parties["owner-a"],
        data / "ndvi.tif",
        title="Slovenia Sentinel-2 NDVI 2015-2017",
        licence=LICENCE,
        keywords=["sentinel-2", "ndvi", "time series"],
    )
    n.say(f"dataset {ndvi.body.title!r} → record {ndvi.id} (file CID {ndvi.body.cid}, stays with its owner)", "owner-a")
    clouds = register_dataset_file(
        backends,
        parties["owner-a"],
        data / "cloud_mask.tif",
        title="Slovenia Sentinel-2 cloud masks",
        licence=LICENCE,
        keywords=["sentinel-2", "clouds"],
    )
    n.say(f"dataset {clouds.body.title!r} → record {clouds.id}", "owner-a")
    labels = register_dataset_file(
        backends,
        parties["owner-b"],
        data / "lulc.tif",
        title="Slovenia land-cover reference labels",
        licence=LICENCE,
        keywords=["land cover", "labels", "lulc"],
    )
    n.say(f"dataset {labels.body.title!r} → record {labels.id}", "owner-b")
    app = register_workflow_application(
        backends,
        parties["algorithm-owner"],
        workflow or landcover_workflow(),
        name="landcover-mapping",
        version="1.0.0",
        keywords=["land cover", "change", "deep learning"],
    )
    n.say(
        f"application {app.body.name} v{app.body.version} → record {app.id} (workflow {app.body.workflow_cid})",
        "algorithm-owner",
    )
    from eotrust.catalog.entries import PlatformInfo

    platform = catalog.register(
        parties["platform-owner"],
        PlatformInfo(
            name=PLATFORM,
            age_recipient=parties["platform-owner"].card.age_recipient,
            cpus=2,
            memory_mb=4096,
            gpus=0,
            description="a 2-core platform for the demo",
            prices=PLATFORM_PRICES,
        ),
    )
    n.say(
        f"platform {PLATFORM} → record {platform.id} (key for inputs {platform.body.age_recipient})", "platform-owner"
    )
    ndvi, clouds, labels = (_priced(catalog, parties, d, USE_PRICE) for d in (ndvi, clouds, labels))
    app = _priced(catalog, parties, app, RUN_PRICE)
    n.say(
        f"prices signed into the records: {RUN_PRICE // GWEI} gwei per run, {USE_PRICE // GWEI} gwei per dataset use; "
        f"platform {', '.join(f'{k} {v // GWEI} gwei' for k, v in PLATFORM_PRICES.items())}",
        "owners",
    )

    # the platform's node follows the ledger from now on (its own backends, as its own process would)
    node_log = lambda line: n.say(line, "node")  # noqa: E731
    node_backends = Backends(settings)
    node_chain = node_backends.chain
    shown: dict[str, Any] = {}

    def moved(address: str, state: str) -> None:
        # the node just started the task: show the contract before the workflow runs
        if state == "Running" and "names" in shown:
            _print_status(n, node_chain, address, "Running", shown["names"])

    node = PlatformNode(node_backends, parties["platform-owner"], PLATFORM, log=node_log, moved=moved)
    stop = threading.Event()
    node_error: list[BaseException] = []

    def follow() -> None:
        try:
            node.run(stop, poll_s=0.3)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            node_error.append(exc)

    thread = threading.Thread(target=follow, name="platform-node", daemon=True)
    thread.start()
    try:
        # -- 1. find --------------------------------------------------------------------
        n.step(1, "The submitter selects an application, input datasets and a platform")
        found = catalog.search(bbox=(14.4, 45.8, 14.7, 45.95), start="2016-01-01", end="2017-12-31", kind=Kind.DATASET)
        n.say(
            f"search bbox 14.4,45.8,14.7,45.95, 2016–2017 → {len(found)} dataset(s): "
            + ", ".join(repr(r.body.title) for r in found),
            "submitter",
        )
        chosen_app = catalog.search(text="land cover", kind=Kind.APPLICATION)[0]
        chosen_platform = catalog.search(text=PLATFORM, kind=Kind.PLATFORM)[0]
        n.say(
            f"application {chosen_app.body.name} (inputs {', '.join(chosen_app.body.inputs)}); "
            f"platform {chosen_platform.body.name} ({chosen_platform.body.cpus} CPU)",
            "submitter",
        )

        # -- 2. open the task ----------------------------------------------------------------
        n.step(2, "The submitter creates the task contract with its key for the outputs")
        request = TaskRequest(
            application=chosen_app.id,
            platform=chosen_platform.id,
            inputs={
                k: v
                for k, v in {"ndvi": ndvi.id, "cloud_mask": clouds.id, "lulc": labels.id}.items()
                if k in chosen_app.body.inputs
            },
            params={**DEMO_PARAMS, **(params or {})} if workflow is None else dict(params or {}),
        )
        opened = open_task(backends, parties["submitter"], request, paid=True)
        address = opened.address
        n.say(
            f"paid task contract [bold]{address}[/] created, requests named; results key "
            f"{parties['submitter'].card.age_recipient}",
            "submitter",
        )
        names = _catalogue_names(
            chosen_app, chosen_platform, *[catalog.get(d, Kind.DATASET) for d in request.inputs.values()]
        )
        shown["names"] = names
        _quote_and_fund(n, backends, parties, address)
        _print_status(n, chain, address, "Requests Locked", names)

        # -- 3. answers --------------------------------------------------------------------
        n.step(3, "Each owner answers its own request")
        for name in ("algorithm-owner", "platform-owner", "owner-a", "owner-b"):
            for a in answer_task(backends, parties[name], address):
                extra = f" — ciphertext stored as {a.cid}" if a.cid else ""
                n.say(f"{a.kind} request {a.index} acknowledged: {a.detail}{extra}", name)

        # -- 4–6. the nodes -------------------------------------------------------------------
        n.step("4–6", "The platform's runner starts the task, runs the workflow; the collector records the results")
        state = _wait_state(backends, address, timeout_s, node_error)
        _print_status(n, chain, address, state, names)
    finally:
        stop.set()
        thread.join(timeout=30)

    if state != "Finished":
        if state == "Failed":
            log = failure_log(backends, parties["submitter"], address)
            n.say(f"[bold red]the task failed[/]; its error log, decrypted by the submitter:\n{log}", "submitter")
        else:
            n.say(f"[bold red]the task ended {state}[/]", "submitter")
        return DemoResult(settings.home_dir, address, state, [], False, time.monotonic() - started)

    # -- 7. collect and verify ---------------------------------------------------------------------
    n.step(7, "The submitter downloads, checks and decrypts the results")
    out = settings.home_dir / "results"
    results = collect_results(backends, parties["submitter"], address, out)
    table = Table("result", "how", "CID on the contract → plaintext CID", "file")
    for r in results:
        table.add_row(
            r.name, "decrypted" if r.encrypted else "public (provenance)", f"{r.cid}\n→ {r.plaintext_cid}", r.path.name
        )
    n.table(table)
    n.say(f"results are in [bold]{out}[/]")
    _print_metrics(n, results)
    verdict = verify(backends, address, identity=parties["submitter"].age_identity)
    n.say(
        f"eotrust verify {address}: {'[bold green]VERIFIED[/]' if verdict.ok else f'[bold red]{verdict.name}[/]'} "
        f"({sum(1 for c in verdict.checks if c.ok)} checks hold"
        + "".join(f"; ✗ {c.name}: {c.detail}" for c in verdict.failures)
        + ")"
    )
    _withdraw_and_bill(n, backends, parties, address)
    shipped = _ship(n, backends, parties["submitter"], results, out, passphrase=secret if chosen else None)
    seconds = time.monotonic() - started
    env = f"EOTRUST_CHAIN_URL={settings.chain_url} " if settings.chain_url else ""
    n.say(
        f"done in {seconds:.0f} s — results in [bold]{out}[/]; check them again any time with "
        f"`{env}eotrust --home {settings.home_dir} verify {address}`"
    )
    return DemoResult(
        settings.home_dir, address, state, results, verdict.ok, seconds, package_cid=shipped.cid if shipped else None
    )


def _ship(
    n: Narrator, backends: Backends, submitter: Any, results: list[Any], out: Path, *, passphrase: str | None = None
) -> Any:
    """Step 8: the submitter's model package, verified, scoring the whole scene."""
    from eotrust.demo.ship_model import MODEL, SCENE, ship_model

    n.step(8, "The model ships as a signed package")
    names = {r.name for r in results}
    if MODEL not in names or SCENE not in names:
        n.say(f"this application made no {MODEL!r} and {SCENE!r} results: nothing to package", "submitter")
        return None
    n.say(
        "packaging the decrypted checkpoint as ONNX, signed with the submitter's key (it owns the results) …",
        "submitter",
    )
    shipped = ship_model(backends, submitter, results, out)
    if shipped is None:
        return None
    n.say(f"model package [bold]{shipped.cid}[/] ({shipped.size / 1024:.0f} KiB) → {shipped.package}", "submitter")
    lineage = shipped.lineage
    n.say(
        f"lineage: training data {', '.join(lineage.get('training_data') or ['?'])}, run record "
        f"{lineage.get('run') or '?'}, checkpoint {lineage.get('checkpoint') or '?'}",
        "submitter",
    )
    n.say(f"registered and verified: [bold green]VERIFIED[/] — {'; '.join(shipped.checks)}", "submitter")
    n.say(
        f"scored the whole scene ({shipped.width}×{shipped.height} px, the task's cube) with onnxruntime: "
        f"{shipped.tiles} tile(s) in {shipped.seconds:.2f} s, {shipped.pixels_per_second:,.0f} px/s "
        f"→ class map [bold]{shipped.scene_map}[/]",
        "submitter",
    )
    n.say(
        f"serve it: {serve_hint(backends.settings, shipped.cid, passphrase)}; "
        f"POST a GeoTIFF to /models/{shipped.cid}/predict with header X-API-Key",
        "submitter",
    )
    return shipped


def serve_hint(settings: Settings, cid: str, passphrase: str | None) -> str:
    """The commands that serve the demo's model, ready to paste: the same home and chain, and
    the passphrase the server unlocks the parties with (spelled out only if the demo chose it)."""
    import shlex

    home = shlex.quote(str(settings.home_dir))
    env = f"EOTRUST_CHAIN_URL={shlex.quote(settings.chain_url)} " if settings.chain_url else ""
    secret = f"EOTRUST_PASSPHRASE={shlex.quote(passphrase)} " if passphrase else ""
    return f"`{env}eotrust --home {home} apikey create --scope {cid}` then `{env}{secret}eotrust --home {home} serve`"


def _print_metrics(n: Narrator, results: list[Any]) -> None:
    """The land-cover model's scores on held-out blocks, next to the majority-class baseline."""
    for r in results:
        if r.name != "metrics":
            continue
        try:
            m = json_loads(r.path.read_text())
            ious = ", ".join(f"{c['name']} {c['iou']:.2f}" for c in m["per_class"])
            n.say(
                f"the model on held-out blocks: pixel accuracy {m['pixel_accuracy']:.1%} (majority-class baseline "
                f"{m['majority_baseline_accuracy']:.1%}), mean IoU {m['mean_iou']:.2f} ({ious})",
                "submitter",
            )
        except (OSError, ValueError, KeyError, TypeError):
            pass


def _wait_state(backends: Backends, address: str, timeout_s: float, node_error: list[BaseException]) -> str:
    """The task's state once it is terminal (Finished, Failed, Nacked)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if node_error:
            raise node_error[0]
        state = backends.task(address).status().state
        if state.is_terminal:
            return state.value
        if time.monotonic() > deadline:
            raise StateError(
                f"task {address} is still {state.value} after {timeout_s:.0f} s", hint="see the node's log above"
            )
        time.sleep(0.3)


# -- the market (issue 15): prices, the platform's quote, usage and the bill ----------------------
def _priced(catalog: Catalog, parties: dict[str, Any], record: Record[BodyT], price: int) -> Record[BodyT]:
    """The owner prices its record (a new signed version: its current terms)."""
    owner = next(p for p in parties.values() if p.account.address == record.owner)
    body = type(record.body).model_validate({**record.body.canonical(), "price": {"per_use": price}})
    return catalog.register(owner, body)


def _quote_and_fund(n: Narrator, backends: Backends, parties: dict[str, Any], address: str) -> None:
    """The platform quotes (and signs the escrow terms); the submitter funds the quote's total,
    which locks the task."""
    from eotrust.market.prices import ether
    from eotrust.market.service import fund_task, quote_task

    settings, catalog, store, chain = backends.settings, backends.catalog, backends.store, backends.chain
    quote = quote_task(settings, catalog, store, address, parties["platform-owner"], chain=chain)
    lines = ", ".join(f"{i.item} {i.cost}" for i in quote.body.items if i.cost)
    n.say(
        f"quote {quote.cid}: {quote.body.total} wei ({ether(quote.body.total)}) at most — {lines}; "
        f"valid until {quote.body.valid_until}, signed by the platform owner (and its escrow terms, EIP-712)",
        "platform-owner",
    )
    _, tx = fund_task(settings, catalog, store, chain, address, parties["submitter"], quote_cid=quote.cid)
    n.say(f"funded the escrow with {quote.body.total} wei, which locked the task (tx {tx})", "submitter")


def _withdraw_and_bill(n: Narrator, backends: Backends, parties: dict[str, Any], address: str) -> None:
    """The node settled the task from its usage record; each party withdraws; the bill."""
    from eotrust.ledger.escrow import EscrowClient
    from eotrust.ledger.reverts import MissingEntryError
    from eotrust.market.bill import make_bill
    from eotrust.market.payments import payments_of
    from eotrust.market.usage import latest_usage

    settings, catalog, store = backends.settings, backends.catalog, backends.store
    found = latest_usage(settings, store, address, catalog, chain=backends.chain)
    if found is not None:
        usage = found[0]
        n.say(
            f"usage {usage.cid}: measured from the run record, charged {usage.body.charged} wei, "
            f"{usage.body.refund} wei back to the submitter; settled on the escrow",
            "platform-owner",
        )
    escrow = EscrowClient.for_task(backends.chain, address)  # the task is on this chain
    for name, party in parties.items():
        try:
            amount = escrow.withdraw(party.account)
        except MissingEntryError:
            continue
        tx = escrow.last_transaction
        n.say(f"withdrew {amount} wei (tx {tx.tx_hash if tx else '?'})", name)
    bill = make_bill(settings, catalog, store, address, payments_of(backends.chain), chain=backends.chain)
    table = Table(
        "to",
        "for",
        "quoted (wei)",
        "used (wei)",
        "paid (wei)",
        "withdrawn (wei)",
        "transactions",
        title=f"bill for task {address}: {bill.status}",
    )
    for line in bill.lines:
        who = next(
            (name for name, p in parties.items() if p.account.address.lower() == line.address.lower()), line.address
        )
        table.add_row(
            who,
            ", ".join(line.roles),
            str(line.quoted),
            str(line.used),
            str(line.paid),
            str(line.withdrawn),
            "\n".join(line.transactions),
        )
    n.table(table)
    n.say(f"funded {bill.funded} wei; {bill.refunded} wei back to the submitter", "submitter")
