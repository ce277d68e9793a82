"""The committed contract artifacts and the ABI encoding of calls, outputs, errors and events.

Running eotrust needs only ``artifacts/<Contract>.json`` (written by
:mod:`eotrust.ledger.build`); no Node, no compiler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from eotrust.errors import LedgerError
from eotrust.ledger.models import STATE_NAMES
from eotrust.limits import json_loads


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes
    compiler: dict[str, Any] = field(default_factory=dict)


@cache
def load_artifact(name: str) -> Artifact:
    path = resources.files("eotrust.ledger") / "artifacts" / f"{name}.json"
    try:
        data = json_loads(path.read_text())
    except FileNotFoundError:
        raise LedgerError(f"contract artifact {name}.json is missing", hint="run `make contracts`") from None
    return Artifact(
        name=name,
        abi=data["abi"],
        bytecode=bytes.fromhex(data["bytecode"][2:]),
        deployed_bytecode=bytes.fromhex(data["deployedBytecode"][2:]),
        compiler=data.get("compiler", {}),
    )


def abi_type(param: dict[str, Any]) -> str:
    """The canonical type string of an ABI parameter (tuples spelled out)."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner})" + kind[len("tuple") :]
    return kind


def _signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(abi_type(p) for p in entry.get('inputs', []))})"


def _named(params: list[dict[str, Any]], values: tuple[Any, ...]) -> dict[str, Any]:
    return {p.get("name") or f"arg{i}": v for i, (p, v) in enumerate(zip(params, values))}


@dataclass(frozen=True)
class DecodedError:
    name: str
    args: dict[str, Any]

    def __str__(self) -> str:
        enums = {**_ENUMS, **_ERROR_ENUMS.get(self.name, {})}
        shown = ", ".join(f"{k}={_show(enums.get(k), v)}" for k, v in self.args.items())
        return f"{self.name}({shown})"


#: Enum arguments named alike in every error, and those of one error only (a federated task's
#: ``WrongRound(current, given)`` holds round numbers, not Task states).
_ENUMS: dict[str, tuple[str, ...]] = {"kind": ("Application", "Platform", "Resource")}
_ERROR_ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "WrongState": {"current": STATE_NAMES, "required": STATE_NAMES},
    "NotReleasable": {"state": STATE_NAMES},
    "NotExpirable": {"state": STATE_NAMES},
}


def _show(names: tuple[str, ...] | None, value: Any) -> str:
    if names is not None and isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


@dataclass(frozen=True)
class DecodedLog:
    name: str
    args: dict[str, Any]


class ContractAbi:
    """Functions, errors and events of one or more contracts, by name, selector and topic. A
    function name two of them share is the first one's (Escrow's ``expire(quote)``, not the
    Task's ``expire()`` it calls)."""

    def __init__(self, *artifacts: Artifact) -> None:
        self.functions: dict[str, dict[str, Any]] = {}
        self.errors: dict[bytes, dict[str, Any]] = {}
        self.events: dict[bytes, dict[str, Any]] = {}
        self.event_topics: dict[str, bytes] = {}
        for artifact in artifacts:
            for entry in artifact.abi:
                if entry["type"] == "function":
                    self.functions.setdefault(entry["name"], entry)
                elif entry["type"] == "error":
                    self.errors[keccak(text=_signature(entry))[:4]] = entry
                elif entry["type"] == "event":
                    topic = keccak(text=_signature(entry))
                    self.events[topic] = entry
                    self.event_topics[entry["name"]] = topic

    def _function(self, name: str) -> dict[str, Any]:
        try:
            return self.functions[name]
        except KeyError:
            raise LedgerError(f"the contract has no function {name}") from None

    def encode_call(self, name: str, *args: Any) -> bytes:
        entry = self._function(name)
        types = [abi_type(p) for p in entry["inputs"]]
        return keccak(text=_signature(entry))[:4] + abi_encode(types, list(args))

    def decode_output(self, name: str, data: bytes) -> tuple[Any, ...]:
        entry = self._function(name)
        return tuple(abi_decode([abi_type(p) for p in entry["outputs"]], data))

    def decode_error(self, data: bytes) -> DecodedError | None:
        entry = self.errors.get(bytes(data[:4]))
        if entry is None:
            return None
        values = abi_decode([abi_type(p) for p in entry["inputs"]], bytes(data[4:]))
        return DecodedError(entry["name"], _named(entry["inputs"], tuple(values)))

    def decode_log(self, topics: list[bytes], data: bytes) -> DecodedLog | None:
        if not topics:
            return None
        entry = self.events.get(bytes(topics[0]))
        if entry is None:
            return None
        indexed = [p for p in entry["inputs"] if p.get("indexed")]
        plain = [p for p in entry["inputs"] if not p.get("indexed")]
        if len(topics) - 1 != len(indexed):
            return None
        args: dict[str, Any] = {}
        for param, topic in zip(indexed, topics[1:]):
            args[param["name"]] = abi_decode([abi_type(param)], bytes(topic))[0]
        values = abi_decode([abi_type(p) for p in plain], bytes(data))
        args.update(_named(plain, tuple(values)))
        return DecodedLog(entry["name"], {p["name"]: args[p["name"]] for p in entry["inputs"]})


@cache
def task_abi() -> ContractAbi:
    """Task and TaskFactory together: errors of either can surface from a factory call."""
    return ContractAbi(load_artifact("Task"), load_artifact("TaskFactory"))


@cache
def federated_abi() -> ContractAbi:
    """FederatedTask and FederatedTaskFactory together."""
    return ContractAbi(load_artifact("FederatedTask"), load_artifact("FederatedTaskFactory"))


@cache
def escrow_abi() -> ContractAbi:
    """Escrow and Task together: a task's errors surface through the escrow's calls into it."""
    return ContractAbi(load_artifact("Escrow"), load_artifact("Task"))


@cache
def contracts_abi() -> ContractAbi:
    """Every eotrust contract: what a revert from any of them is decoded with."""
    return ContractAbi(
        load_artifact("Task"),
        load_artifact("TaskFactory"),
        load_artifact("Escrow"),
        load_artifact("FederatedTask"),
        load_artifact("FederatedTaskFactory"),
    )
