"""The four roles a party plays on the platform."""

from __future__ import annotations

from enum import Enum

from eotrust.errors import InvalidInputError


class Role(str, Enum):
    """What a party does: see the roles table in docs/DESIGN."""

    SUBMITTER = "submitter"
    DATA_OWNER = "data-owner"
    ALGORITHM_OWNER = "algorithm-owner"
    PLATFORM_OWNER = "platform-owner"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        """A Role from its name (``data-owner``, ``data_owner`` or ``DATA_OWNER``)."""
        if isinstance(value, Role):
            return value
        text = str(value).strip().lower().replace("_", "-")
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(r.value for r in cls)
            raise InvalidInputError(f"unknown role {value!r}", hint=f"choose one of {choices}") from None
