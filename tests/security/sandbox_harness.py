"""Running the hostile services of :mod:`sandbox_hostile` on an executor and checking that
each is contained: the run fails, its log names what stopped it, no secret is in the log or
the outputs, and the keys and the canary are untouched."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox_hostile import Attack, Targets, workflow_yaml

from eotrust.settings import Settings
from eotrust.store.base import Store
from eotrust.workflow import RunFailed, run_workflow
from eotrust.workflow.engine import Value

SECRETS = ("test-passphrase", "SECRET-KEYSTORE", "OTHER-TASK-PLAINTEXT", "AGE-SECRET-KEY")


@dataclass
class Scene:
    """A home with a fake platform keystore, another task's decrypted input, a canary and a
    TCP listener, all outside any sandbox."""

    settings: Settings
    targets: Targets
    listener: socket.socket
    keystore_bytes: bytes
    secrets: tuple[str, ...] = ()

    def close(self) -> None:
        self.listener.close()

    def untouched(self) -> None:
        assert Path(self.targets.keystore).read_bytes() == self.keystore_bytes
        assert Path(self.targets.canary).read_text() == "canary\n"
        assert not Path("/usr/pwned").exists()
        self.listener.settimeout(0)
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, TimeoutError, OSError):
            return
        conn.close()
        raise AssertionError("a sandboxed step reached a TCP listener on 127.0.0.1")


def make_scene(
    settings: Settings, tmp: Path, keystore: Path | None = None, party: str = "platform", other: Path | None = None
) -> Scene:
    secrets: tuple[str, ...] = ()
    if keystore is None:
        keystore = settings.path("parties", party) / "keystore.json"
        keystore.write_text('{"crypto": "SECRET-KEYSTORE"}\n')
    else:
        import json

        secrets = (json.loads(keystore.read_text())["crypto"]["ciphertext"],)
    if other is None:
        other = settings.path("nodes", "p", "work", "task-other", "inputs") / "lulc"
        other.write_text("OTHER-TASK-PLAINTEXT\n")
    canary = tmp / "canary"
    canary.write_text("canary\n")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    targets = Targets(
        keystore=str(keystore),
        other_input=str(other),
        canary=str(canary),
        home=str(settings.home_dir),
        party=party,
        port=str(listener.getsockname()[1]),
    )
    return Scene(settings, targets, listener, keystore.read_bytes(), secrets)


def log_text(store: Store, failure: RunFailed) -> str:
    assert failure.log_cid, failure.message
    return store.get_bytes(failure.log_cid).decode("utf-8", "replace")


def check_contained(attack: Attack, log: str, scene: Scene) -> None:
    assert any(e in log for e in attack.expect), f"{attack.name}: expected one of {attack.expect} in:\n{log[-3000:]}"
    for secret in SECRETS + scene.secrets:
        assert secret not in log, f"{attack.name}: {secret!r} leaked into the log"
    scene.untouched()


def run_attack(attack: Attack, scene: Scene, store: Store, tmp: Path, **kwargs: Any) -> str:
    """Run one attack; return its failure log (the test fails if the run succeeds)."""
    wf = tmp / f"{attack.name}.yaml"
    wf.write_text(workflow_yaml(attack, scene.targets))
    inputs: dict[str, Value] = {"src": store.put_bytes(b"an input\n")} if attack.input else {}
    try:
        result = run_workflow(scene.settings, wf, inputs, {}, store=store, retries=0, **kwargs)
    except RunFailed as failure:
        log = log_text(store, failure)
        check_contained(attack, log, scene)
        return log
    loot = {k: store.get_bytes(v)[:200] for k, v in result.outputs.items() if isinstance(v, str)}
    raise AssertionError(f"{attack.name}: the attack succeeded: {loot}")
