"""Constants and helpers shared by the ledger tests (imported by name: conftest modules are
not meant to be imported)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyrage
from eth_account.signers.local import LocalAccount

from eotrust.ledger import TaskClient

CID_A = "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u"  # sha2-256 dag-pb, as eotrust names objects
CID_B = "QmY7Yh4UquoXHLPFo2XbhXkhBvFoPwmQUSa92pxnxjQuPU"


def recipient() -> str:
    return str(pyrage.x25519.Identity.generate().to_public())


@dataclass
class Parties:
    submitter: LocalAccount
    app: LocalAccount
    platform: LocalAccount
    data: list[LocalAccount]
    stranger: LocalAccount

    @property
    def all(self) -> list[LocalAccount]:
        return [self.submitter, self.app, self.platform, *self.data, self.stranger]


NewTask = Callable[..., TaskClient]
