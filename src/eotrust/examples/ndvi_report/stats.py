"""The ``stats`` service: the share of valid pixels of one NDVI tile above a threshold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def run(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    import rasterio

    threshold = float(params.get("threshold", 0.3))
    with rasterio.open(inputs["tile"]) as src:
        values = src.read(masked=True).astype("float64")
    valid = values.compressed()
    above = int((valid > threshold).sum())
    result = {
        "tile": Path(inputs["tile"]).name,
        "threshold": threshold,
        "pixels": int(valid.size),
        "above": above,
        "share_above": above / valid.size if valid.size else 0.0,
        "mean": float(valid.mean()) if valid.size else float("nan"),
    }
    Path(outputs["stats"]).write_text(json.dumps(result, indent=2) + "\n")
