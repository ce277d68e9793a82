"""Change maps between two epochs: from two class maps (and their probabilities, when
known) or from one model applied to two time windows of a cube.

The change GeoTIFF keeps the inputs' CRS and transform and has five ``float32`` bands
(NaN = no data): ``changed`` (1/0), ``from`` and ``to`` (class codes), ``intensity``
(0..1: half the L1 distance between the two epochs' class probabilities, or the 0/1 change
when only class maps are given) and ``uncertain`` (1/0). With probabilities a pixel is
*uncertain* — neither changed nor stable — when either epoch's top-class probability is under
``min_confidence`` or its class flips with a probability shift under ``min_intensity``; only
confident flips are *changed*. A PNG shows both maps and the intensity as a heatmap.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio

from eotrust.eo.labels import NODATA_CODE, check_grid, classes_of
from eotrust.eo.raster import (
    Grid,
    add_pair_counts,
    atomic_path,
    block_size_for,
    geotiff_profile,
    open_raster,
    read,
    windows,
)
from eotrust.errors import RasterError

BANDS = ("changed", "from", "to", "intensity", "uncertain")


@dataclass
class ChangeResult:
    path: Path
    figure: Path | None
    changed_pixels: int
    valid_pixels: int
    transitions: dict[str, int] = field(default_factory=dict)
    uncertain_pixels: int = 0

    @property
    def fraction(self) -> float:
        return self.changed_pixels / self.valid_pixels if self.valid_pixels else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "figure": str(self.figure) if self.figure else None,
            "changed_pixels": self.changed_pixels,
            "valid_pixels": self.valid_pixels,
            "changed_fraction": round(self.fraction, 6),
            "uncertain_pixels": self.uncertain_pixels,
            "uncertain_fraction": round(self.uncertain_pixels / self.valid_pixels, 6) if self.valid_pixels else 0.0,
            "transitions": self.transitions,
        }


def change_map(
    before: Path,
    after: Path,
    dest: Path,
    *,
    figure: Path | None = None,
    before_probabilities: Path | None = None,
    after_probabilities: Path | None = None,
    labels: tuple[str, str] = ("before", "after"),
    min_intensity: float = 0.0,
    min_confidence: float = 0.0,
    block: int | None = None,
) -> ChangeResult:
    """Compare two class maps on the same grid, window by window. With probabilities, a
    pixel counts as changed only when its class differs *and* the probability shift reaches
    ``min_intensity`` (confident change, not a coin flip between two close classes) and both
    epochs' top-class probability reaches ``min_confidence``; other flips, and any pixel under
    ``min_confidence`` in either epoch, are counted as uncertain."""
    with open_raster(before) as ds:
        grid = Grid.from_dataset(ds)
    check_grid(after, grid, what="second class map")
    use_probs = before_probabilities is not None and after_probabilities is not None
    if use_probs:
        check_grid(before_probabilities, grid, what="first probability raster")  # type: ignore[arg-type]
        check_grid(after_probabilities, grid, what="second probability raster")  # type: ignore[arg-type]
    names = classes_of(before) or classes_of(after)
    dest = Path(dest)
    counts: dict[tuple[int, int], int] = {}
    changed = valid_n = uncertain_n = 0
    block = block or block_size_for(grid, 64)
    with ExitStack() as stack:  # closed in reverse: the change file is complete before it is renamed into place
        tmp = stack.enter_context(atomic_path(dest))
        a_ds = stack.enter_context(open_raster(before))
        b_ds = stack.enter_context(open_raster(after))
        pa = stack.enter_context(open_raster(before_probabilities)) if use_probs else None  # type: ignore[arg-type]
        pb = stack.enter_context(open_raster(after_probabilities)) if use_probs else None  # type: ignore[arg-type]
        if pa is not None and pb is not None and pa.count != pb.count:
            raise RasterError(f"the probability rasters have {pa.count} and {pb.count} classes")
        out = stack.enter_context(
            rasterio.open(tmp, "w", **geotiff_profile(grid, count=len(BANDS), dtype="float32", nodata=float("nan")))
        )
        for i, name in enumerate(BANDS):
            out.set_band_description(i + 1, name)
        for win in windows(grid, block):
            a = read(a_ds, 1, window=win).astype(np.int64)
            b = read(b_ds, 1, window=win).astype(np.int64)
            ok = (a != NODATA_CODE) & (b != NODATA_CODE)
            diff = ok & (a != b)
            if pa is not None and pb is not None:
                qa, qb = np.nan_to_num(read(pa, window=win)), np.nan_to_num(read(pb, window=win))
                intensity = np.clip(0.5 * np.abs(qa - qb).sum(axis=0), 0, 1)
                unsure = ok & (
                    (qa.max(axis=0) < min_confidence)
                    | (qb.max(axis=0) < min_confidence)
                    | (diff & (intensity < min_intensity))
                )
                diff &= ~unsure
            else:
                intensity = diff.astype(np.float32)
                unsure = np.zeros_like(diff)
            bands = np.stack([diff, a, b, intensity, unsure]).astype(np.float32)
            bands[:, ~ok] = np.nan
            out.write(bands, window=win)
            changed += int(diff.sum())
            valid_n += int(ok.sum())
            uncertain_n += int(unsure.sum())
            add_pair_counts(counts, a[diff], b[diff])
        transitions = {
            f"{names.name_of(f) if names else f} -> {names.name_of(t) if names else t}": n
            for (f, t), n in sorted(counts.items(), key=lambda kv: -kv[1])
        }
        out.update_tags(
            before=str(Path(before).name),
            after=str(Path(after).name),
            transitions=json.dumps(transitions),
            classes=names.to_tag() if names else "",
        )
    result = ChangeResult(dest, figure, changed, valid_n, transitions, uncertain_n)
    if figure is not None:
        from eotrust.ml.figures import change_figure, read_preview

        title = f"{changed} of {valid_n} pixels changed ({100 * result.fraction:.1f} %)"
        if use_probs:
            title += f", {uncertain_n} uncertain ({100 * uncertain_n / max(valid_n, 1):.1f} %)"
        change_figure(
            before,
            after,
            read_preview(dest, band=4),
            figure,
            title=title,
            labels=labels,
            intensity_label="change intensity (probability shift)" if use_probs else "changed pixels",
        )
    return result


def change_between_epochs(
    checkpoint: Path,
    raster: Path,
    dest: Path,
    *,
    epoch_a: tuple[str | None, str | None],
    epoch_b: tuple[str | None, str | None],
    work_dir: Path,
    figure: Path | None = None,
    cloud_mask: Path | None = None,
    band: str | None = None,
    device: str | None = None,
    min_intensity: float = 0.5,
    min_confidence: float = 0.6,
) -> ChangeResult:
    """Classify the dates of ``epoch_a`` and of ``epoch_b`` (``[start, end)`` each) with one
    model and map what changed between them (confidently: see ``min_intensity``)."""
    from eotrust.ml.predict import Predictor, predict_raster

    pred = Predictor.load(checkpoint, device=device)
    maps = []
    for tag, (start, end) in (("a", epoch_a), ("b", epoch_b)):
        cls_path, prob_path = work_dir / f"epoch_{tag}_classes.tif", work_dir / f"epoch_{tag}_probabilities.tif"
        predict_raster(
            checkpoint,
            raster,
            cls_path,
            probabilities=prob_path,
            cloud_mask=cloud_mask,
            band=band,
            start=start,
            end=end,
            predictor=pred,
        )
        maps.append((cls_path, prob_path))
    label = [f"{s or 'start'} … {e or 'end'}" for s, e in (epoch_a, epoch_b)]
    return change_map(
        maps[0][0],
        maps[1][0],
        dest,
        figure=figure,
        before_probabilities=maps[0][1],
        after_probabilities=maps[1][1],
        labels=(label[0], label[1]),
        min_intensity=min_intensity,
        min_confidence=min_confidence,
    )
