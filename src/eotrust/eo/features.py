"""Inputs derived from a series' dates: the day of year of every date, which a temporal
model encodes (sine and cosine) so that it knows *when* in the season each value was seen,
not only in which order — a position-free pooling loses that."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eotrust.eo.raster import parse_date


def day_of_year(dates: Sequence[str]) -> list[float]:
    """Day of year (1 … 366, with the time of day as a fraction) of every date."""
    out = []
    for d in dates:
        t = parse_date(d)
        out.append(float(t.timetuple().tm_yday) + (t.hour * 3600 + t.minute * 60 + t.second) / 86400.0)
    return out


def doy_channels(days: Sequence[float] | np.ndarray) -> np.ndarray:
    """``(2, T)`` float32: sine and cosine of the day of year (a year = 365.25 days)."""
    a = 2 * np.pi * np.asarray(days, dtype=np.float64) / 365.25
    return np.stack([np.sin(a), np.cos(a)]).astype(np.float32)
