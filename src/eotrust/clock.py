"""Time as eotrust writes it: UTC, ``YYYY-MM-DDTHH:MM:SSZ``.

One fixed form everywhere a time is stored, signed or shown, so that strings compare in time
order and re-serialise identically."""

from __future__ import annotations

from datetime import UTC, datetime

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_iso(value: datetime | float) -> str:
    """``value`` (a datetime, naive taken as UTC, or POSIX seconds) as ``YYYY-MM-DDTHH:MM:SSZ``;
    ValueError for one outside the UTC calendar."""
    try:
        if isinstance(value, datetime):
            when = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        else:
            when = datetime.fromtimestamp(value, UTC)
        return when.astimezone(UTC).strftime(ISO_FORMAT)
    except (OverflowError, OSError):  # year 1 at +01:00, year 9999 at -23:59: no such UTC time
        raise ValueError(f"{value} is outside the times that can be written in UTC") from None


def utc_now() -> str:
    """Now, as :func:`utc_iso` writes it."""
    return utc_iso(datetime.now(UTC))
