"""The one class-map encoding every eotrust map is written in: ``uint8`` class *codes* (the
label codes of the training reference; a model without codes uses index + 1), nodata
:data:`NODATA` (0, as in the reference labels), the classes' colours as the band's colour
table, and a ``classes`` tag (``"0 no data,1 forest,…"``). A class map can therefore be
compared with its reference labels pixel for pixel, and any GIS shows it in its colours.
The colours come from the one class palette, :func:`colour_of`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eotrust.eo.labels import NODATA_CODE, ClassList
from eotrust.errors import InvalidInputError

NODATA = NODATA_CODE
DTYPE = "uint8"
MAX_CODE = 255

#: The one class palette. Land-cover colours by code (the LULC classes of the shared Slovenian labels) …
LULC_COLOURS = {
    1: "#e6c84f",  # cultivated land
    2: "#1b6e2e",  # forest
    3: "#9acd5a",  # grassland
    4: "#8c7d3c",  # shrubland
    5: "#2f6fd6",  # water
    6: "#3fb7b0",  # wetland
    7: "#c9c1a9",  # tundra
    8: "#d7301f",  # artificial surface
    9: "#b89a74",  # bareland
    10: "#f0f4ff",  # snow and ice
}
#: … and, for other codes, these by class index.
FALLBACK_COLOURS = [
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]


def colour_of(code: int, index: int = 0) -> str:
    """The colour of class ``code`` (the ``index``-th class of its list), as ``#rrggbb``."""
    return LULC_COLOURS.get(int(code), FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)])


def codes_for(codes: Sequence[int | None], count: int) -> list[int]:
    """The codes a map writes for ``count`` classes: the given ones, or index + 1 for a
    model whose classes carry none. Refused when a code does not fit a uint8 or is 0."""
    out = [int(c) if c is not None else i + 1 for i, c in enumerate(list(codes) + [None] * (count - len(codes)))][
        :count
    ]
    if any(c < 1 or c > MAX_CODE for c in out) or len(set(out)) != len(out):
        raise InvalidInputError(f"class codes {out} do not fit a uint8 class map (1..{MAX_CODE}, each once)")
    return out


def encode(indices: np.ndarray, codes: Sequence[int], valid: np.ndarray | None = None) -> np.ndarray:
    """Class indices (0..K-1) → uint8 codes, :data:`NODATA` where not ``valid``."""
    lut = np.asarray(codes, dtype=np.uint8)
    out: np.ndarray = lut[np.asarray(indices)]
    if valid is not None:
        out = np.where(valid, out, np.uint8(NODATA)).astype(np.uint8)
    return out


def rgba(colour: str) -> tuple[int, int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), 255


def decorate(ds: Any, codes: Sequence[int], names: Sequence[str], colours: Sequence[str]) -> None:
    """Give an open class-map dataset its colour table, band description and ``classes`` tag."""
    ds.write_colormap(1, {NODATA: (0, 0, 0, 0), **{int(c): rgba(col) for c, col in zip(codes, colours)}})
    ds.set_band_description(1, "class")
    ds.update_tags(classes=ClassList.of(zip(codes, names)).to_tag())
