"""Test helper: a scored class map (the package's class indices) in the application's label codes."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from eotrust.ml.registry import ModelEntry


def codes_of(classes: npt.NDArray[np.integer], entry: ModelEntry) -> npt.NDArray[np.uint16]:
    """Our class indices (255 = no data) as the application's label codes (0 = no data);
    ``entry`` is the package's registry entry (its ``manifest`` gives the codes)."""
    assert entry.manifest is not None  # a registered entry holds its manifest
    lut = np.zeros(256, np.uint16)
    for c in entry.manifest.classes:
        assert c.code is not None  # the application's classes carry their label codes
        lut[c.index] = c.code
    return cast(npt.NDArray[np.uint16], lut[classes])  # numpy types fancy indexing as Any
