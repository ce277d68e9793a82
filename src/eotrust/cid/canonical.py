"""Canonical JSON: the one byte form of a JSON value that eotrust hashes (content addressing)
and signs.

Rules: keys sorted, no insignificant whitespace, UTF-8 text (non-ASCII characters written as
themselves, never ``\\uXXXX``), and no ``NaN`` or ``Infinity`` (they are not JSON: other
readers reject them or read them differently, so two parties could not agree on the bytes).
"""

from __future__ import annotations

import json
from typing import Any

from eotrust.errors import InvalidInputError


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of ``value`` (InvalidInputError for NaN, Infinity or a value that is
    not JSON)."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise InvalidInputError(
            f"not canonical JSON: {exc}", hint="NaN and Infinity are not JSON numbers; give a finite number or null"
        ) from None
    except TypeError as exc:
        raise InvalidInputError(f"not canonical JSON: {exc}") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"): JSON can spell it, UTF-8 cannot
        raise InvalidInputError("not canonical JSON: a string holds a lone surrogate, which is not text") from None


def canonical_text(value: Any) -> str:
    """:func:`canonical_json` as text (for messages that are signed as text)."""
    return canonical_json(value).decode("utf-8")
