"""Three data owners, an aggregator and a submitter as separate OS processes, each with its own
home and keys, sharing only the chain and a store directory — on anvil and on the embedded
chain. Each owner's pixels stay in its own home. Also: nodes killed with SIGKILL mid-round and
started again finish every round exactly once (a participant that drops out is tested in
process, test_rounds.py, where the deadline can be short); `verify` recomputes every aggregate as the submitter and refuses to say VERIFIED
without a key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from anvil_node import ANVIL, MISSING
from anvil_node import anvil as running_anvil
from fast_keys import SCRYPT_N
from fed_world import owner_sets
from waiting import wait_for

from eotrust.ledger import Chain
from eotrust.ledger.federated import FederatedFactoryClient, FederatedState, FederatedTaskClient
from eotrust.party import create_party
from eotrust.settings import load_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from eotrust.ledger.federated import FederatedSnapshot
    from eotrust.settings import Settings

EOTRUST = Path(sys.executable).parent / "eotrust"
OWNERS = ["owner-0", "owner-1", "owner-2"]

pytestmark = [pytest.mark.server]


class Federation:
    def __init__(self, root: Path, chain_url: str | None) -> None:
        self.root, self.chain_url = root, chain_url
        self.shared = root / "shared"
        (self.shared / "chain").mkdir(parents=True, exist_ok=True)
        self.factory: str | None = None
        self.cards: dict[str, tuple[str, str]] = {}
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def home(self, party: str) -> Path:
        home = self.root / party
        if not home.exists():
            home.mkdir(parents=True)
            if self.chain_url is None:  # the embedded chain: one journal every home opens
                (home / "chain").symlink_to(self.shared / "chain")
        return home

    def env(self, party: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EOTRUST_") or k.startswith("EOTRUST_AGENT_")}
        env.update(
            EOTRUST_HOME=str(self.home(party)),
            EOTRUST_PARTY=party,
            EOTRUST_PASSPHRASE=f"pass-{party}",
            EOTRUST_STORE_ROOT=str(self.shared / "store"),
            EOTRUST_CONFIG="",
            EOTRUST_KEYSTORE_SCRYPT_N=str(SCRYPT_N),
            COLUMNS="200",
        )
        if self.chain_url:
            env["EOTRUST_CHAIN_URL"] = self.chain_url
        if self.factory:
            env["EOTRUST_FEDERATED_FACTORY_ADDRESS"] = self.factory
        return env

    def settings(self, party: str) -> Settings:
        return load_settings(
            home=self.home(party),
            chain_url=self.chain_url,
            store_root=self.shared / "store",
            federated_factory_address=self.factory,
            keystore_scrypt_n=SCRYPT_N,
        )

    def chain(self) -> Chain:
        return Chain.from_settings(self.settings("operator"))

    def run(self, party: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(EOTRUST), *args], env=self.env(party), capture_output=True, text=True, timeout=180)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"eotrust {' '.join(args)} as {party}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def start(self, party: str, role: str) -> None:
        args = ["node", "run", "--federated", role, "--poll", "1", "--max-backoff", "2"]
        args += ["--accept-from", self.cards["submitter"][0]]  # each node trusts the one submitter's tasks
        if role == "participant":
            args += ["--data", str(self.home(party) / "own-pixels.npz")]
        log = open(self.root / f"{party}.log", "a")  # noqa: SIM115 - closed with the process
        self.procs[party] = subprocess.Popen(
            [str(EOTRUST), *args], env=self.env(party), stdout=log, stderr=subprocess.STDOUT, text=True
        )

    def kill(self, party: str) -> None:
        proc = self.procs.pop(party)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for party in list(self.procs):
            proc = self.procs.pop(party)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def wait_started(self, *parties: str, timeout: float = 120) -> None:
        """Until each party's node says it started (process start-up is slow on a busy machine)."""
        for party in parties:
            log = self.root / f"{party}.log"
            wait_for(
                lambda: "node started" in (log.read_text() if log.exists() else ""),
                timeout_s=timeout,
                what=lambda: f"{party}'s node to start\n{self.logs()}",
                interval_s=0.2,
            )

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(self.root.glob("*.log")))

    def wait(self, address: str, done: Callable[[FederatedSnapshot], bool], timeout: float = 240) -> FederatedSnapshot:
        task = FederatedTaskClient(self.chain(), address)

        def finished() -> FederatedSnapshot | None:
            snap = task.status()
            return snap if done(snap) else None

        return wait_for(
            finished,
            timeout_s=timeout,
            what=lambda: f"task {address} (stuck at {task.status()})\n{self.logs()}",
            interval_s=0.3,
        )

    def create(self, *, rounds: int, quorum: int, round_seconds: int) -> str:
        agg_address, agg_recipient = self.cards["aggregator"]
        args = [
            "federated",
            "create",
            "--aggregator",
            agg_address,
            "--aggregator-recipient",
            agg_recipient,
            "--rounds",
            str(rounds),
            "--quorum",
            str(quorum),
            "--round-seconds",
            str(round_seconds),
            "--local-epochs",
            "1",
            "--strategy",
            "fedprox",
            "--json",
        ]
        for owner in OWNERS:
            args += ["-p", self.cards[owner][0]]
        return str(json.loads(self.run("submitter", *args).stdout)["address"])


def setup(root: Path, chain_url: str | None) -> Federation:
    f = Federation(root, chain_url)
    chain = f.chain()
    f.factory = FederatedFactoryClient(chain).ensure_deployed(chain.dev_account())
    sets, _ = owner_sets()
    for name, role in [("submitter", "submitter"), ("aggregator", "platform-owner")] + [
        (o, "data-owner") for o in OWNERS
    ]:
        party = create_party(f.settings(name), name, role, f"pass-{name}")
        f.cards[name] = (party.address, party.age_recipient)
        if chain_url:
            chain.fund(party.address, 10**18)
    for owner, data in zip(OWNERS, sets):
        data.save(f.home(owner) / "own-pixels.npz")  # in the owner's home only
    return f


def check_finished_and_verified(f: Federation, address: str, rounds: int) -> None:
    task = FederatedTaskClient(f.chain(), address)
    records = task.rounds()
    assert len(records) == rounds
    for r in records:
        assert sorted(u.index for u in r.updates) == [0, 1, 2], r  # exactly one update per owner per round
        assert r.aggregate_cid and not r.refused and not r.dropped
    assert "VERIFIED" in f.run("submitter", "verify", address, "--as", "submitter").stdout
    outsider = f.run("owner-1", "verify", address, check=False)  # no key to the updates: not verified
    assert outsider.returncode == 1 and "NOT VERIFIED" in outsider.stdout


@pytest.fixture
def anvil() -> Iterator[str]:
    assert ANVIL.exists(), MISSING
    with running_anvil() as url:
        yield url


@pytest.mark.timeout(540)
def test_three_owners_on_anvil_with_nodes_killed_mid_round(anvil: str, tmp_path: Path) -> None:
    f = setup(tmp_path, anvil)
    try:
        for p in ("aggregator", "owner-0", "owner-1", "owner-2"):
            f.start(p, "aggregator" if p == "aggregator" else "participant")
        f.wait_started("aggregator", *OWNERS)
        # two rounds; the aggregator and one owner are killed in round 0, and started again
        address = f.create(rounds=2, quorum=3, round_seconds=600)
        f.wait(address, lambda s: len(s.submitted) >= 1)
        f.kill("owner-1")
        f.kill("aggregator")
        f.wait(address, lambda s: len(s.submitted) >= 2)
        f.start("owner-1", "participant")
        f.wait(address, lambda s: len(s.submitted) == 3)
        f.start("aggregator", "aggregator")
        snap = f.wait(address, lambda s: s.state != FederatedState.RUNNING)
        assert snap.state == FederatedState.FINISHED, f.logs()
    finally:
        f.stop_all()
    check_finished_and_verified(f, address, 2)


@pytest.mark.timeout(540)
def test_three_owners_on_the_embedded_chain(tmp_path: Path) -> None:
    f = setup(tmp_path, None)
    try:
        f.start("aggregator", "aggregator")
        for owner in OWNERS:
            f.start(owner, "participant")
        address = f.create(rounds=1, quorum=3, round_seconds=600)
        snap = f.wait(address, lambda s: s.state != FederatedState.RUNNING)
        assert snap.state == FederatedState.FINISHED, f.logs()
    finally:
        f.stop_all()
    check_finished_and_verified(f, address, 1)
