"""The one rule for names that become file or directory names under the eotrust home.

Party names, platform names, published workflow names and every part of a home path
(:meth:`eotrust.settings.Settings.path`) pass through :func:`check_name`: 1-64 ASCII letters,
digits, ``.``, ``_`` or ``-``, starting with a letter or digit. So no name can hold a ``/``,
be ``..``, be absolute, be too long for a file system, or need an encoding — nothing named by
a user is ever created outside the home.
"""

from __future__ import annotations

import re

from eotrust.errors import EotrustError, InvalidInputError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
NAME_RE = re.compile(NAME_PATTERN)
NAME_HINT = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def is_name(value: str) -> bool:
    return bool(NAME_RE.fullmatch(value or ""))


def check_name(value: str, what: str = "name", error: type[EotrustError] = InvalidInputError) -> str:
    """``value`` if it is a safe name, else one clear error (``error``, default InvalidInputError)."""
    if not isinstance(value, str) or not is_name(value):
        shown = value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "..."
        raise error(f"invalid {what} {shown!r}", hint=NAME_HINT)
    return value
