"""The whole flow between parties that are separate OS processes: each party is `eotrust` CLI
calls with its own home and keystore; they share only an anvil node, a store directory and the
catalogue database. Also: a node killed with SIGKILL mid-task finishes it exactly once when
started again, and a node cut off from the chain retries and loses nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from anvil_node import anvil as running_anvil
from fast_keys import SCRYPT_N
from flow_world import SAMPLE, TINY
from waiting import wait_for

from eotrust.ports import free_port

if TYPE_CHECKING:
    from eotrust.ledger import Chain, TaskSnapshot

EOTRUST = Path(sys.executable).parent / "eotrust"
PARTIES = {
    "submitter": "submitter",
    "owner-a": "data-owner",
    "owner-b": "data-owner",
    "algorithm-owner": "algorithm-owner",
    "platform-owner": "platform-owner",
}

pytestmark = [pytest.mark.server]


@pytest.fixture(scope="module")
def anvil() -> Iterator[str]:
    with running_anvil() as url:
        yield url


class Proxy:
    """A TCP relay in front of the chain that the test can cut and restore (a real network fault)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.up = threading.Event()
        self.up.set()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        self.up.clear()
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns.clear()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.sock.close()


class Parties:
    """Runs `eotrust` as each party, in its own home, sharing the chain, store and catalogue."""

    def __init__(self, root: Path, chain_url: str) -> None:
        self.root = root
        self.chain_url = chain_url
        self.shared = root / "shared"
        self.shared.mkdir(parents=True, exist_ok=True)
        self.factory: str | None = None
        self.log_name = "node.log"

    def env(self, party: str, chain_url: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EOTRUST_") or k.startswith("EOTRUST_AGENT_")}
        env.update(
            EOTRUST_HOME=str(self.root / party),
            EOTRUST_PARTY=party,
            EOTRUST_PASSPHRASE=f"pass-{party}",
            EOTRUST_CHAIN_URL=chain_url or self.chain_url,
            EOTRUST_STORE_ROOT=str(self.shared / "store"),
            EOTRUST_CATALOG_URL=f"sqlite:///{self.shared / 'catalog.sqlite'}",
            EOTRUST_CONFIG="",  # no config file
            EOTRUST_STEP_RETRIES="0",
            EOTRUST_KEYSTORE_SCRYPT_N=str(SCRYPT_N),  # fast keystores in tests; production default 2**16
            COLUMNS="200",
        )
        if self.factory:
            env["EOTRUST_FACTORY_ADDRESS"] = self.factory
        return env

    def run(self, party: str, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(EOTRUST), *args], env=self.env(party), capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"eotrust {' '.join(args)} as {party} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def json(self, party: str, *args: str) -> Any:  # the CLI's --json output
        return json.loads(self.run(party, *args, "--json").stdout)

    def node(self, chain_url: str | None = None, *, log_name: str = "node.log") -> subprocess.Popen[str]:
        self.log_name = log_name
        log = open(self.root / log_name, "a")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            [str(EOTRUST), "node", "run", "--platform", "mp-platform", "--poll", "0.3", "--max-backoff", "2"],
            env=self.env("platform-owner", chain_url),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def node_log(self) -> str:
        path = self.root / self.log_name
        return path.read_text() if path.exists() else ""

    def chain(self) -> Chain:
        """The test harness's own view of the chain (the chain operator's, not a party's)."""
        from eotrust.ledger import Chain
        from eotrust.settings import load_settings

        return Chain.rpc(load_settings(home=self.root / "operator", factory_address=self.factory), self.chain_url)

    def snapshot(self, address: str) -> TaskSnapshot:
        from eotrust.ledger import TaskClient

        return TaskClient(self.chain(), address).status()

    def state(self, address: str) -> str:
        return self.snapshot(address).state.value

    def wait_state(self, address: str, wanted: set[str], timeout: float = 120) -> str:
        def reached() -> str | None:
            state = self.state(address)
            return state if state in wanted else None

        return wait_for(
            reached,
            timeout_s=timeout,
            interval_s=0.5,
            what=lambda: f"task {address} (still {self.state(address)}); node log:\n{self.node_log()}",
        )


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def setup_world(tmp_path: Path, chain_url: str) -> Parties:
    from eotrust.ledger import TaskFactoryClient

    p = Parties(tmp_path, chain_url)
    chain = p.chain()
    # the operator deploys one factory that every party's home is configured with
    p.factory = TaskFactoryClient(chain).ensure_deployed(chain.dev_account())
    for name, role in PARTIES.items():
        card = p.json(name, "party", "create", name, "--role", role)
        chain.fund(card["address"], 10**18)
    data = tmp_path / "data"
    data.mkdir()
    for f in ("lulc.tif", "cloud_mask.tif"):
        shutil.copy(SAMPLE / f, data / f)
    p.run("owner-a", "catalog", "register-dataset", str(data / "cloud_mask.tif"), "--title", "clouds")
    p.run("owner-b", "catalog", "register-dataset", str(data / "lulc.tif"), "--title", "labels")
    p.run("algorithm-owner", "catalog", "register-application", str(TINY))
    p.run("platform-owner", "catalog", "register-platform", "--name", "mp-platform")
    return p


def request_and_answer(p: Parties, *params: str) -> str:
    found = p.json("submitter", "catalog", "search", "--text", "labels")
    assert [r["body"]["title"] for r in found] == ["labels"]
    opened = p.json(
        "submitter",
        "flow",
        "request",
        "--application",
        "tiny-stack",
        "--platform",
        "mp-platform",
        "-i",
        "lulc=labels",
        "-i",
        "cloud_mask=clouds",
        *params,
    )
    address = str(opened["address"])
    assert p.state(address) == "RequestsLocked"
    for name in ("algorithm-owner", "platform-owner", "owner-a", "owner-b"):
        p.run(name, "flow", "answer", address)
    return address


def collect_and_verify(p: Parties, address: str) -> None:
    out = p.root / f"results-{address}"
    p.run("submitter", "flow", "collect", address, "-o", str(out))
    joined = (SAMPLE / "lulc.tif").read_bytes() + (SAMPLE / "cloud_mask.tif").read_bytes()
    stacked = out / "stacked.tif"  # the collector names results by their content (a TIFF here)
    assert stacked.read_bytes() == joined
    assert len(p.snapshot(address).results) == 3
    verdict = p.run("owner-a", "verify", address)  # anyone can verify, from any home
    assert "VERIFIED" in verdict.stdout


@pytest.fixture(scope="module")
def world(anvil: str, tmp_path_factory: pytest.TempPathFactory) -> Parties:
    return setup_world(tmp_path_factory.mktemp("parties"), anvil)


def test_parties_as_separate_processes_on_anvil(world: Parties) -> None:
    p = world
    node = p.node(log_name="node-plain.log")
    try:
        address = request_and_answer(p)
        assert p.wait_state(address, {"Finished", "Failed"}) == "Finished", p.node_log()
    finally:
        stop(node)
    collect_and_verify(p, address)


def test_node_cut_off_then_killed_mid_task_finishes_exactly_once(world: Parties, anvil: str) -> None:
    """One task through two faults: the node's link to the chain goes down while the parties
    answer (it retries, says so, loses nothing), then the node is SIGKILLed in the middle of
    the run; a new node process finishes the task exactly once, and deletes what the killed
    one left on the platform: its work directory and every object its run had added to the
    private store (the decrypted inputs, and step outputs made from them)."""
    from eotrust.store import LocalStore

    p = world
    platform_dir = p.root / "platform-owner" / "nodes" / "mp-platform"
    private = LocalStore(platform_dir / "private-store")
    objects_before = {o.cid for o in private.list()}
    work_before = set((platform_dir / "work").glob("task-*"))
    # a command against a chain that is not there: one clear line, non-zero exit
    dead = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [str(EOTRUST), "flow", "answer", "0x" + "12" * 20],
        env=p.env("owner-a", dead),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and dead.split("//")[1] in proc.stderr

    proxy = Proxy(int(anvil.rsplit(":", 1)[1]))
    node = p.node(f"http://127.0.0.1:{proxy.port}", log_name="node-faults.log")
    try:
        wait_for(lambda: "started as" in p.node_log(), timeout_s=60, what="the node to start")
        proxy.cut()
        address = request_and_answer(p, "--param", "pause=5")
        wait_for(lambda: "unreachable" in p.node_log(), timeout_s=60, what=lambda: f"'unreachable' in\n{p.node_log()}")
        assert p.state(address) == "RequestsLocked"  # nobody could start it meanwhile
        proxy.restore()
        wait_for(
            lambda: "step join: done" in p.node_log(),
            timeout_s=120,
            what=lambda: f"'step join: done' in\n{p.node_log()}",
        )
        assert p.state(address) == "Running"
        node.send_signal(signal.SIGKILL)  # mid-run: the join of both inputs made, the last step sleeping
        node.wait()
    finally:
        stop(node)
        proxy.close()
    assert {o.cid for o in private.list()} > objects_before  # what the killed run had decrypted and made
    assert p.state(address) == "Running"
    assert p.snapshot(address).results == []
    node = p.node(log_name="node-restarted.log")
    try:
        assert p.wait_state(address, {"Finished", "Failed"}) == "Finished", p.node_log()
    finally:
        stop(node)
    from eotrust.nodes.runner import short

    assert f"task {short(address)}" in p.node_log()  # the restarted node found it on the ledger
    assert {o.cid for o in private.list()} == objects_before, p.node_log()
    assert set((platform_dir / "work").glob("task-*")) <= work_before, p.node_log()
    collect_and_verify(p, address)


def test_a_second_node_is_refused_and_sigterm_mid_task_leaves_no_plaintext_and_resumes(world: Parties) -> None:
    """A second node of the platform on the same home is refused while one runs. SIGTERM is how a service manager stops a daemon. It used to kill the node outright in
    the middle of a task, before the cleanup that deletes the data owners' decrypted inputs:
    their plaintext stayed in the platform's private store, and the task's work directory on its
    disk, after the node had gone. Now the node stops as on Ctrl-C, cleaning up, and a node
    started again runs the task to the end."""
    from eotrust.cid import cid_of_file
    from eotrust.store import LocalStore

    p = world
    platform_dir = p.root / "platform-owner" / "nodes" / "mp-platform"
    plaintexts = [cid_of_file(SAMPLE / name) for name in ("lulc.tif", "cloud_mask.tif")]
    work = platform_dir / "work"
    before = set(work.glob("task-*"))  # a node SIGKILLed by another test of this module leaves its own
    node = p.node(log_name="node-sigterm.log")
    try:
        wait_for(lambda: "started as" in p.node_log(), timeout_s=60, what="the node to start")
        # a second node of the platform on the same home would run the task again beside this
        # one and, when done, delete this run's inputs and step outputs from the private store:
        # it is refused for as long as the first one runs (the node holds its lock from start to
        # stop, so this is asked before the task, and the task's pause need not cover a cold start)
        second = p.run("platform-owner", "node", "run", "--platform", "mp-platform", "--once", check=False)
        assert second.returncode != 0, second.stdout
        assert f"already runs on this home (pid {node.pid})" in second.stderr, second.stderr
        assert [line.split(":")[0] for line in second.stderr.strip().splitlines()] == ["error", "hint"], second.stderr
        address = request_and_answer(p, "--param", "pause=5")  # SIGTERM comes while the last step sleeps
        wait_for(
            lambda: "running application" in p.node_log(),
            timeout_s=120,
            what=lambda: f"'running application' in\n{p.node_log()}",
        )
        private = LocalStore(platform_dir / "private-store")
        assert all(private.has(cid) for cid in plaintexts) and node.poll() is None  # decrypted for the run
        node.send_signal(signal.SIGTERM)  # mid-run: the workflow's last step is sleeping
        assert node.wait(timeout=60) == 0, p.node_log()
    finally:
        stop(node)
    assert "node stopped" in p.node_log()
    assert not any(private.has(cid) for cid in plaintexts), p.node_log()
    assert set(work.glob("task-*")) == before
    assert p.state(address) == "Running"
    node = p.node(log_name="node-after-sigterm.log")
    try:
        assert p.wait_state(address, {"Finished", "Failed"}) == "Finished", p.node_log()
    finally:
        stop(node)
    collect_and_verify(p, address)
