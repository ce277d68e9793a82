"""eotrust.ledger: the task contracts on a chain.

- :func:`open_chain` — the :class:`Chain` the settings name: one connection, embedded EVM or
  JSON-RPC.
- :class:`TaskFactoryClient` — creates tasks (``create_task``) and lists them
  (``all_tasks``, ``tasks_of``, ``task_count``).
- :class:`TaskClient` — every move of one task, ``status()`` (a :class:`TaskSnapshot`) and
  ``history()`` (a list of :data:`TaskEvent`: one of :class:`TaskCreated`,
  :class:`StateChanged`, :class:`RequestChanged`, :class:`Started`, :class:`ResultAdded`).
- ``Chain.block_number()`` and ``TaskFactoryClient.events_since(block)`` let a node follow the chain and
  resume after a restart with the ledger as the source of truth.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain, TxResult
    from eotrust.ledger.factory import TaskFactoryClient
    from eotrust.ledger.models import (
        RequestChanged,
        RequestKind,
        RequestStatus,
        ResourceRequest,
        ResultAdded,
        Started,
        StateChanged,
        TaskCreated,
        TaskEvent,
        TaskResult,
        TaskSnapshot,
        TaskState,
    )
    from eotrust.ledger.reverts import ContractRevertError
    from eotrust.ledger.task import TaskClient
    from eotrust.settings import Settings

# Exported names and their modules, imported on first use: reading a model or a codec does
# not import web3 and py-evm (what a chain connection needs).
_EXPORTS = {
    "Chain": "chain",
    "TxResult": "chain",
    "TaskFactoryClient": "factory",
    "RequestKind": "models",
    "RequestStatus": "models",
    "ResourceRequest": "models",
    "TaskEvent": "models",
    "TaskCreated": "models",
    "StateChanged": "models",
    "RequestChanged": "models",
    "Started": "models",
    "ResultAdded": "models",
    "TaskResult": "models",
    "TaskSnapshot": "models",
    "TaskState": "models",
    "ContractRevertError": "reverts",
    "TaskClient": "task",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"eotrust.ledger.{module}"), name)
    globals()[name] = value
    return value


def open_chain(settings: Settings) -> Chain:
    """The chain the settings name: the embedded one under the home, or the JSON-RPC node at
    ``chain_url``."""
    from eotrust.ledger.chain import Chain

    return Chain.from_settings(settings)


__all__ = [
    "Chain",
    "ContractRevertError",
    "RequestChanged",
    "RequestKind",
    "RequestStatus",
    "ResourceRequest",
    "ResultAdded",
    "Started",
    "StateChanged",
    "TaskClient",
    "TaskCreated",
    "TaskEvent",
    "TaskFactoryClient",
    "TaskResult",
    "TaskSnapshot",
    "TaskState",
    "TxResult",
    "open_chain",
]
