"""Hostile services, one per attack of issue 11, and what containing each looks like.

Each attack is a one-step workflow: the step tries the attack and only succeeds if the attack
does. ``expect`` lists phrases of which one must appear in the failure log (the sandbox names
the limit broken, or the system says the thing is not there); ``secrets`` must appear nowhere.
Python entry points live in this module (imported by warm workers inside the sandbox)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Attack:
    name: str
    service: dict[str, Any]
    expect: tuple[str, ...]
    params: tuple[str, ...] = ()  # names of the Targets fields passed as string parameters
    input: bool = False  # the step gets one input file
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Targets:
    """Host things the attacks go after."""

    keystore: str  # a platform keystore file
    other_input: str  # another task's decrypted input
    canary: str  # a file outside every sandbox that must not change
    home: str  # the eotrust home
    party: str  # the platform party's name
    port: str  # a TCP listener on 127.0.0.1


SH = "sh -c"
ATTACKS: list[Attack] = [
    Attack(
        "env-secrets",
        {"command": 'sh -c \'env >&2; env | grep -E "EOTRUST_|passphrase" > "$1"\' sh {outputs.out}'},
        ("the command exit status 1",),
    ),
    Attack(
        "keystore-by-path",
        {"command": 'sh -c \'cat "$2" > "$1"\' sh {outputs.out} {params.keystore}'},
        ("No such file or directory",),
        params=("keystore",),
    ),
    Attack(
        "list-root",
        {
            "command": 'sh -c \'ls -A / >&2; for d in /home /var /srv /mnt /opt /etc/shadow /etc/passwd "$2"; do '
            '[ -e "$d" ] && { echo "$d" > "$1"; exit 0; }; done; echo nothing to see >&2; exit 1\' '
            "sh {outputs.out} {params.home}"
        },
        ("nothing to see",),
        params=("home",),
    ),
    Attack(
        "other-task-input",
        {"command": 'sh -c \'cat "$2" > "$1"\' sh {outputs.out} {params.other_input}'},
        ("No such file or directory",),
        params=("other_input",),
    ),
    Attack(
        "write-outside",
        {
            "command": 'sh -c \'echo pwned > "$3" || echo pwned >> "$2" || echo pwned > /usr/pwned; '
            'touch "$1"; exit 1\' sh {outputs.out} {inputs.src} {params.canary}'
        },
        ("Read-only file system",),
        params=("canary",),
        input=True,
    ),
    Attack("symlink-out", {"command": "ln -s {params.keystore} {outputs.out}"}, ("refused",), params=("keystore",)),
    Attack(
        "tcp-connect",
        {
            "command": 'python3 -c \'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2); '
            'open(sys.argv[2], "w").write("connected")\' {params.port} {outputs.out}'
        },
        ("Network is unreachable", "Connection refused"),
        params=("port",),
    ),
    Attack(
        "fork-bomb",
        {"command": "python3 -c 'import os\nwhile True:\n    os.fork()'", "timeout_s": 20},
        ("sandbox limit broken: processes",),
    ),
    Attack(
        "allocate-10GiB",
        {"python": "sandbox_hostile:allocate", "resources": {"memory_mb": 256}},
        ("sandbox limit broken: memory (2304 MiB of address space)",),
    ),
    Attack(
        "sleep-forever",
        {"command": "sleep 100000", "timeout_s": 1.5},
        ("timed out after 1.5 s (sandbox limit broken: wall time",),
    ),
    Attack(
        "write-10GiB",
        {"command": "sh -c 'head -c 10G /dev/zero > \"$1\"' sh {outputs.out}", "resources": {"disk_mb": 32}},
        ("sandbox limit broken: bytes written (32 MiB per file)",),
    ),
    Attack(
        "unlock-party", {"python": "sandbox_hostile:unlock"}, ("no EOTRUST_PASSPHRASE here",), params=("home", "party")
    ),
    # the service shares its warm worker's process: it answers for the worker, with JSON nested
    # 300,000 deep (a segmentation fault of json.loads once eth-account has raised the recursion
    # limit) — the engine must stop that worker and fail the step, never parse the answer
    Attack(
        "forge-answer",
        {"python": "sandbox_hostile:forge_answer", "timeout_s": 60},  # a write that blocks fails, not hangs
        ("the service's worker sent an answer",),
    ),
]


def workflow_yaml(attack: Attack, targets: Targets, task_inputs: tuple[str, ...] = ()) -> str:
    """A one-step workflow of ``attack``; ``task_inputs`` are declared as the workflow's inputs
    (a node passes a task's inputs), the first one wired to the step's input if it has one."""
    svc = dict(attack.service)
    svc["outputs"] = {"out": "file"}
    if attack.input:
        svc["inputs"] = {"src": "file"}
    if attack.params:
        svc["params"] = dict.fromkeys(attack.params, "str")
    wf_inputs = list(task_inputs) or (["src"] if attack.input else [])
    doc: dict[str, Any] = {
        "name": f"hostile-{attack.name}",
        "inputs": dict.fromkeys(wf_inputs, "file"),
        "services": {"attack": svc},
        "steps": {
            "attack": {
                "service": "attack",
                **({"in": {"src": f"inputs.{wf_inputs[0]}"}} if attack.input else {}),
                **({"params": {p: getattr(targets, p) for p in attack.params}} if attack.params else {}),
            }
        },
        "outputs": {"loot": "attack.out"},
    }
    return cast(str, yaml.safe_dump(doc, sort_keys=False))  # PyYAML has no types


# -- Python entry points (run inside the sandbox by warm workers) --------------------------------
def allocate(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    hog = bytearray(10 * 2**30)  # 10 GiB, asked at once
    outputs["out"].write_bytes(bytes(hog[:1]))


def unlock(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    from eotrust.party import load_party
    from eotrust.settings import load_settings

    passphrase = os.environ.get("EOTRUST_PASSPHRASE")
    if not passphrase:
        print("no EOTRUST_PASSPHRASE here", file=sys.stderr)
    party = load_party(load_settings(home=params["home"]), params["party"], passphrase=passphrase or "a-guess")
    outputs["out"].write_text(str(party.age_identity))


def forge_answer(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    import stat
    import struct

    deep = b"[" * 300_000 + b"]" * 300_000
    for fd in range(3, 64):  # the worker's copy of its answer pipe
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, struct.pack(">I", len(deep)) + deep)
        except OSError:
            continue
    outputs["out"].write_text("answered for the worker")
