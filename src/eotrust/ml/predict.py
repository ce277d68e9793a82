"""Prediction over a whole raster, window by window, written as GeoTIFFs with the input's CRS
and transform: a class map (the one class-map encoding of :mod:`eotrust.eo.classmap`: uint8
class codes, 0 = no data, the classes' colour table and a ``classes`` tag like the reference
labels) and, if asked, class probabilities (``float32``, one band per class) and per-pixel
confidence (``float32`` bands confidence, margin, entropy: :mod:`eotrust.ml.uncertainty`) —
plus a PNG a person can look at. ``mc_samples`` > 1 averages that many MC-dropout passes.

The input may be a cleaned cube GeoTIFF or raw rasters laid out like the shared data (a time
series of one band per date and, optionally, its cloud mask): clouds are then masked and
filled by temporal interpolation per window, as the land-cover application's prepare step does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
from rasterio.windows import Window

from eotrust.eo import classmap
from eotrust.eo.clouds import apply_mask, interpolate_time, mask_from
from eotrust.eo.cube import Cube, Source, stack
from eotrust.eo.labels import ClassList
from eotrust.eo.raster import atomic_path, block_size_for, days_of, geotiff_profile, raster_info, windows
from eotrust.eo.tiles import dates_between
from eotrust.errors import RasterError
from eotrust.ml.checkpoint import load_checkpoint
from eotrust.ml.data import normalise_series, normalise_tiles
from eotrust.ml.inference import pick_device
from eotrust.ml.models.base import Network

MASK_BAND = "cloud_mask"


@dataclass
class PredictionResult:
    classes: Path
    probabilities: Path | None
    figure: Path | None
    counts: dict[str, int] = field(default_factory=dict)
    nodata_pixels: int = 0
    confidence: Path | None = None
    mean_confidence: float | None = None


class Predictor:
    """A loaded checkpoint that turns cube windows into class probabilities."""

    def __init__(self, model: Network, meta: dict[str, Any], device: torch.device, *, mc_samples: int = 1) -> None:
        self.model, self.meta, self.device = model, meta, device
        self.mc_samples = max(1, int(mc_samples))
        self.kind = meta["input_kind"]
        self.mean = np.asarray(meta["normalisation"]["mean"])
        self.std = np.asarray(meta["normalisation"]["std"])
        self.bands = list(meta.get("cube_bands") or meta["bands"])

    @classmethod
    def load(cls, checkpoint: Path, *, device: str | None = None, mc_samples: int = 1) -> Predictor:
        dev = pick_device(device)
        model, meta = load_checkpoint(checkpoint, device=str(dev))
        return cls(model, meta, dev, mc_samples=mc_samples)

    @property
    def class_list(self) -> ClassList:
        return ClassList.of(zip(self.meta["class_codes"], self.meta["classes"]))

    def input_cube(self, raster: Path, *, cloud_mask: Path | None = None, band: str | None = None) -> Cube:
        """The cube the model reads from ``raster`` (and its cloud mask): the model's bands, and
        the mask as band ``cloud_mask`` when given."""
        info = raster_info(raster)
        cube_file = bool(info.descriptions) and all(d and "@" in d for d in info.descriptions)
        if cube_file:
            sources: list[Source] = [Source(Path(raster))]
        else:
            # a time series of one variable takes the model's band name unless told otherwise
            name = band or (self.bands[0] if len(self.bands) == 1 and info.dates else None)
            sources = [Source(Path(raster), band=name)]
        if cloud_mask is not None:
            sources.append(Source(Path(cloud_mask), band=MASK_BAND, resampling="nearest"))
        cube = stack(sources)
        missing = [b for b in self.bands if b not in cube.bands]
        if missing:
            raise RasterError(
                f"{raster} lacks the band(s) {missing} the model was trained on (it has {list(cube.bands)})",
                hint="give a raster of those bands, or name its band with --band",
            )
        keep = self.bands + ([MASK_BAND] if MASK_BAND in cube.bands else [])
        cube = cube.select(bands=keep)
        if self.kind == "tile" and len(cube.dates) != int(self.meta["timesteps"]):
            raise RasterError(f"the tile model takes {self.meta['timesteps']} dates; {raster} has {len(cube.dates)}")
        return cube

    def _prepare(self, x: np.ndarray, cube: Cube) -> tuple[np.ndarray, np.ndarray]:
        """Mask clouds and fill gaps in time: ``(T, B, h, w)`` of the model's bands, and the
        pixels with at least one clear observation."""
        if MASK_BAND in cube.bands:
            m = cube.bands.index(MASK_BAND)
            data = x[:, [i for i in range(len(cube.bands)) if i != m]]
            data = apply_mask(data, mask_from(x[:, m]))
        else:
            data = x
        valid = (~np.isnan(data)).any(axis=0).all(axis=0)
        if len(cube.dates) > 1 and np.isnan(data).any():
            data = interpolate_time(data, days_of(cube.dates))
        return data, valid

    def probabilities(self, data: np.ndarray, *, dates: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities ``(K, h, w)`` of prepared data ``(T, B, h, w)`` observed on
        ``dates`` (default: the training dates) — the mean of ``mc_samples`` MC-dropout passes
        when more than one."""
        days = None
        if dates is not None and self.model.time_encoded:
            from eotrust.eo.features import day_of_year

            days = torch.tensor(day_of_year(dates))
        if self.mc_samples > 1:
            from eotrust.ml.uncertainty import mc_dropout

            return mc_dropout(lambda: self._probabilities(data, days), self.model, self.mc_samples)
        return self._probabilities(data, days)

    def _probabilities(self, data: np.ndarray, days: torch.Tensor | None = None) -> np.ndarray:
        t, b, h, w = data.shape
        with torch.no_grad():
            if self.kind == "pixel":
                series = normalise_series(np.transpose(data.reshape(t, b, h * w), (2, 1, 0)), self.mean, self.std)
                out = []
                for i in range(0, len(series), 8192):
                    chunk = torch.from_numpy(series[i : i + 8192]).to(self.device)
                    logits = self.model(chunk, days) if days is not None else self.model(chunk)
                    out.append(torch.softmax(logits.float(), 1).cpu().numpy())
                probs = np.concatenate(out) if out else np.zeros((0, len(self.meta["classes"])), np.float32)
                return probs.T.reshape(-1, h, w)
            from eotrust.ml.models.enet import SPATIAL_MULTIPLE

            img = normalise_tiles(data.reshape(1, t * b, h, w), self.mean, self.std)
            ph, pw = (-h) % SPATIAL_MULTIPLE, (-w) % SPATIAL_MULTIPLE
            img = np.pad(img, ((0, 0), (0, 0), (0, ph), (0, pw)))
            logits = self.model(torch.from_numpy(img).to(self.device))
            return torch.softmax(logits.float(), 1).cpu().numpy()[0, :, :h, :w]

    def iter_predictions(
        self, cube: Cube, *, block: int | None = None, halo: int = 16
    ) -> Iterator[tuple[Window, np.ndarray, np.ndarray]]:
        """``(window, probabilities (K, h, w), valid (h, w))`` for every window of the cube.
        Tile models see ``halo`` extra pixels of context around each window."""
        t, b = len(cube.dates), len(cube.bands)
        if block is None:
            block = block_size_for(cube.grid, t * b * 4 * 6, budget_bytes=192 * 2**20)
        margin = halo if self.kind == "tile" else 0
        with cube.reader() as reader:
            for win in windows(cube.grid, block):
                big = Window(
                    win.col_off - margin, win.row_off - margin, win.width + 2 * margin, win.height + 2 * margin
                )
                data, valid = self._prepare(reader.read(big), cube)
                probs = self.probabilities(data, dates=cube.dates)
                h, w = int(win.height), int(win.width)
                yield (
                    win,
                    probs[:, margin : margin + h, margin : margin + w],
                    valid[margin : margin + h, margin : margin + w],
                )


def predict_raster(
    checkpoint: Path,
    raster: Path,
    dest: Path,
    *,
    probabilities: Path | None = None,
    figure: Path | None = None,
    cloud_mask: Path | None = None,
    band: str | None = None,
    start: str | None = None,
    end: str | None = None,
    device: str | None = None,
    block: int | None = None,
    predictor: Predictor | None = None,
    confidence: Path | None = None,
    mc_samples: int = 1,
) -> PredictionResult:
    """Classify every pixel of ``raster`` (optionally only its dates in ``[start, end)``) and
    write the class map at ``dest`` (and probabilities, and a PNG)."""
    pred = predictor or Predictor.load(checkpoint, device=device, mc_samples=mc_samples)
    cube = pred.input_cube(raster, cloud_mask=cloud_mask, band=band)
    if start or end:
        cube = cube.select(dates=dates_between(cube.dates, start, end))
    title = f"{pred.meta.get('name') or 'classes'}: {Path(raster).name}, {cube.dates[0][:10]} … {cube.dates[-1][:10]}"
    return predict_cube(
        pred, cube, dest, probabilities=probabilities, figure=figure, block=block, title=title, confidence=confidence
    )


def predict_cube(
    pred: Predictor,
    cube: Cube,
    dest: Path,
    *,
    probabilities: Path | None = None,
    figure: Path | None = None,
    block: int | None = None,
    title: str = "",
    confidence: Path | None = None,
) -> PredictionResult:
    from eotrust.ml.uncertainty import BANDS, confidence_bands

    classes = pred.class_list
    codes = classmap.codes_for(list(pred.meta["class_codes"]), len(pred.meta["class_codes"]))
    k = len(codes)
    conf_sum = 0.0
    counts = np.zeros(k, dtype=np.int64)
    nodata = 0
    tags = {
        "classes": classes.to_tag(),
        "model": str(pred.meta.get("name", "")),
        "dates": f"{cube.dates[0]}/{cube.dates[-1]}",
    }
    with ExitStack() as stack:  # closed in reverse: each file complete before it is renamed into place
        tmp_c = stack.enter_context(atomic_path(dest))
        out_c = stack.enter_context(
            rasterio.open(
                tmp_c, "w", **geotiff_profile(cube.grid, count=1, dtype=classmap.DTYPE, nodata=classmap.NODATA)
            )
        )
        out_c.update_tags(**tags)
        classmap.decorate(
            out_c,
            codes,
            list(pred.meta["classes"]),
            list(pred.meta.get("colours") or [classmap.colour_of(c, i) for i, c in enumerate(codes)]),
        )
        out_u = None
        if confidence is not None:
            tmp_u = stack.enter_context(atomic_path(confidence))
            out_u = stack.enter_context(
                rasterio.open(
                    tmp_u, "w", **geotiff_profile(cube.grid, count=len(BANDS), dtype="float32", nodata=float("nan"))
                )
            )
            for i, name in enumerate(BANDS):
                out_u.set_band_description(i + 1, name)
            out_u.update_tags(**tags, mc_samples=str(pred.mc_samples))
        out_p = None
        if probabilities is not None:
            tmp_p = stack.enter_context(atomic_path(probabilities))
            out_p = stack.enter_context(
                rasterio.open(tmp_p, "w", **geotiff_profile(cube.grid, count=k, dtype="float32", nodata=float("nan")))
            )
            for i, name in enumerate(pred.meta["classes"]):
                out_p.set_band_description(i + 1, name)
            out_p.update_tags(**tags)
        for win, proba, valid in pred.iter_predictions(cube, block=block):
            idx = proba.argmax(0)
            cls = classmap.encode(idx, codes, valid)
            counts += np.bincount(idx[valid], minlength=k)
            if out_u is not None:
                bands = confidence_bands(proba)
                conf_sum += float(bands[0][valid].sum())
                out_u.write(np.where(valid[None], bands, np.nan).astype(np.float32), window=win)
            nodata += int((~valid).sum())
            out_c.write(cls, 1, window=win)
            if out_p is not None:
                out_p.write(np.where(valid[None], proba, np.nan).astype(np.float32), window=win)
    if figure is not None:
        from eotrust.ml.figures import class_map_figure

        class_map_figure(dest, figure, title=title or "prediction")
    n_valid = int(counts.sum())
    return PredictionResult(
        dest,
        probabilities,
        figure,
        {name: int(n) for name, n in zip(pred.meta["classes"], counts)},
        nodata,
        confidence,
        conf_sum / n_valid if confidence is not None and n_valid else None,
    )
