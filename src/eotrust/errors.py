"""The one error hierarchy.

Every error a user can cause derives from :class:`EotrustError`. Its message is
one line saying what was wrong; ``hint`` says what to do about it. The CLI and
the API print ``message`` (and the hint) and never a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class EotrustError(Exception):
    """Root of every eotrust error."""

    exit_code: int = 1
    #: the HTTP status the API answers with; None: by its class (``eotrust.api.errors``)
    http_status: int | None = None
    #: an OGC API exception type URI the API names in its answer, where one applies
    ogc_type: str | None = None
    #: seconds the API's answer tells the client to wait before trying again (Retry-After)
    retry_after_s: int | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(EotrustError):
    """Settings, configuration files or the eotrust home are wrong."""


class NotFoundError(EotrustError):
    """A named thing (object, party, task, record, file) does not exist."""


class InvalidInputError(EotrustError):
    """The caller supplied malformed input (a file, a value, a document)."""


class IntegrityError(EotrustError):
    """Bytes do not match the name or signature they claim (tampering, corruption)."""


class StoreError(EotrustError):
    """The content-addressed store failed."""


class InsufficientStorageError(EotrustError):
    """The machine is short of disk: writing this would leave less free than it keeps (507)."""

    http_status = 507
    retry_after_s = 60


class BackendUnavailableError(EotrustError):
    """A remote backend (IPFS node, chain node, database, scheduler) cannot be reached."""


class CryptoError(EotrustError):
    """Encryption or decryption failed."""


class PartyError(EotrustError):
    """Party identities, keystores and cards."""


class PermissionDeniedError(EotrustError):
    """The caller is not the party allowed to do this."""


class QuotaExceededError(EotrustError):
    """A party already holds as much of a shared resource as one party may (403)."""

    http_status = 403


class StateError(EotrustError):
    """The operation is not allowed in the current state."""


class LedgerError(EotrustError):
    """Chain, contracts and transactions."""


class CatalogError(EotrustError):
    """Catalogue records."""


class RasterError(EotrustError):
    """Rasters, grids, tiles and labels."""


class ModelError(EotrustError):
    """Models, model packages, training and scoring."""


class WorkflowError(EotrustError):
    """Workflow specs, validation and execution."""


class AuthError(EotrustError):
    """API keys and authentication."""


class SandboxUnavailableError(EotrustError):
    """Other parties' code cannot be sealed off here (bubblewrap missing or not working)."""


def first_problem(exc: ValidationError) -> str:
    """``field WHERE: WHAT`` of a model's first validation error: one line, where pydantic's own
    text is several (its first line only counts the errors)."""
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err.get("loc", ()))
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    return f"field {where}: {msg}" if where else msg
