"""Test helper: a scored class map (the package's class indices) in the application's label codes."""

from __future__ import annotations

from typing import Any

import numpy as np


def codes_of(classes: np.ndarray, entry: Any) -> np.ndarray:
    """Our class indices (255 = no data) as the application's label codes (0 = no data);
    ``entry`` is a registry entry (anything with the package's ``manifest``)."""
    lut = np.zeros(256, np.uint16)
    for c in entry.manifest.classes:
        lut[c.index] = c.code
    return lut[classes]
