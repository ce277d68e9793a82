"""Clouds and nodata: masking, temporal interpolation over masked dates, and compositing.

Every function works on ``(T, B, h, w)`` windows (NaN = no observation), so a whole scene is
cleaned window by window (:func:`clean_cube`) in bounded memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eotrust.eo.cube import Cube, iter_windows, write_cube
from eotrust.eo.raster import days_of
from eotrust.eo.tiles import TemporalWindow
from eotrust.errors import RasterError


def apply_mask(x: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    """``x`` (T, B, h, w) with every band set to NaN where ``invalid`` (T, h, w) is true."""
    if invalid.shape != (x.shape[0], *x.shape[2:]):
        raise RasterError(f"mask shape {invalid.shape} does not match the cube's {(x.shape[0], *x.shape[2:])}")
    out = x.copy()
    out[np.broadcast_to(invalid[:, None], x.shape)] = np.nan
    return out


def mask_from(values: np.ndarray, *, cloud_values: Sequence[float] = (1,)) -> np.ndarray:
    """A boolean invalid-mask from a mask band: true where the value is one of
    ``cloud_values`` (default 1 = cloud), or NaN (no mask observation)."""
    invalid = np.isin(values, np.asarray(cloud_values, dtype=values.dtype))
    mask: np.ndarray = invalid | np.isnan(values)
    return mask


def interpolate_time(x: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Fill NaN along axis 0 by linear interpolation in time (``days`` per date), holding the
    first/last observation beyond the ends. A pixel never observed stays NaN."""
    t = x.shape[0]
    if days.shape != (t,):
        raise RasterError(f"{len(days)} dates for {t} layers")
    flat = x.reshape(t, -1)
    valid = ~np.isnan(flat)
    if valid.all():
        return x.copy()
    steps = np.arange(t)[:, None]
    prev = np.maximum.accumulate(np.where(valid, steps, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(valid, steps, t)[::-1], axis=0)[::-1]
    has_prev, has_next = prev >= 0, nxt < t
    p, n = np.clip(prev, 0, t - 1), np.clip(nxt, 0, t - 1)
    pv = np.take_along_axis(flat, p, axis=0)
    nv = np.take_along_axis(flat, n, axis=0)
    tp, tn = days[p], days[n]
    span = np.where(tn > tp, tn - tp, 1.0)
    w = np.clip((days[:, None] - tp) / span, 0.0, 1.0)
    between = pv + (nv - pv) * w
    filled = np.where(has_prev & has_next, between, np.where(has_prev, pv, nv))
    out = np.where(valid, flat, filled).astype(x.dtype, copy=False)
    return out.reshape(x.shape)


def composite(x: np.ndarray, groups: Sequence[Sequence[int]], *, method: str = "median") -> np.ndarray:
    """One layer per group of date indices: the NaN-ignoring median (or mean, max, min) of
    its clear observations. A group with no clear observation at a pixel gives NaN there."""
    funcs: dict[str, Any] = {"median": np.nanmedian, "mean": np.nanmean, "max": np.nanmax, "min": np.nanmin}
    if method not in funcs:
        raise RasterError(f"unknown composite method {method!r}", hint=f"use one of {', '.join(funcs)}")
    out = np.full((len(groups), *x.shape[1:]), np.nan, dtype=np.float32)
    with np.errstate(all="ignore"), _quiet_nan_warnings():
        for g, idx in enumerate(groups):
            if len(idx):
                out[g] = funcs[method](x[list(idx)], axis=0)
    return out


class _quiet_nan_warnings:
    """All-NaN slices are expected (all-cloud windows); they give NaN, quietly."""

    def __enter__(self) -> None:
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)


@dataclass(frozen=True)
class CleanReport:
    """What :func:`clean_cube` did."""

    path: Path
    dates: int
    bands: tuple[str, ...]
    masked_fraction: float
    all_cloud_dates: tuple[str, ...]
    never_clear_pixels: int


def clean_cube(
    cube: Cube,
    dest: Path,
    *,
    mask_band: str | None = "cloud_mask",
    cloud_values: Sequence[float] = (1,),
    method: str = "interpolate",
    windows_: Sequence[TemporalWindow] | None = None,
    block: int | None = None,
) -> CleanReport:
    """Mask clouds (``mask_band`` of the cube, dropped from the output) and fill the gaps:
    ``method="interpolate"`` keeps every date, filling masked ones linearly in time;
    ``method="composite"`` gives one median composite per temporal window (``windows_``).
    Dates that are cloudy everywhere are filled like any other gap. A cube with no clear
    observation at all is refused: there is nothing to learn from."""
    if mask_band is not None and mask_band not in cube.bands:
        raise RasterError(
            f"the cube has no mask band {mask_band!r} (bands: {', '.join(cube.bands)})",
            hint="stack the cloud mask with the data, or pass no mask band",
        )
    data_bands = tuple(b for b in cube.bands if b != mask_band)
    if not data_bands:
        raise RasterError("the cube has only a mask band, no data to clean")
    keep = [cube.band_index(b) for b in data_bands]
    m = cube.band_index(mask_band) if mask_band else None
    days = days_of(cube.dates) if method == "interpolate" and len(cube.dates) > 1 else np.zeros(len(cube.dates))
    if method == "composite":
        if not windows_:
            raise RasterError(
                "compositing needs temporal windows", hint="give windows, e.g. temporal_windows(dates, days=30)"
            )
        out_dates = tuple(w.label for w in windows_)
    elif method == "interpolate":
        out_dates = cube.dates
    else:
        raise RasterError(f"unknown gap filling method {method!r}", hint="use interpolate or composite")

    total = masked = never = 0
    clear_per_date = np.zeros(len(cube.dates), dtype=np.int64)

    def transform(x: np.ndarray) -> np.ndarray:
        nonlocal total, masked, never
        data = x[:, keep]
        if m is not None:
            data = apply_mask(data, mask_from(x[:, m], cloud_values=cloud_values))
        obs = ~np.isnan(data).any(axis=1)  # (T, h, w)
        clear_per_date[:] += obs.reshape(len(cube.dates), -1).sum(axis=1)
        total += data.shape[0] * data.shape[2] * data.shape[3]
        masked += int((~obs).sum())
        never += int((~obs.any(axis=0)).sum())
        if method == "interpolate":
            return interpolate_time(data, days)
        return composite(data, [w.indices for w in windows_ or ()])

    write_cube(
        cube,
        dest,
        transform=transform,
        bands=data_bands,
        dates=out_dates,
        block=block,
        tags={"cleaning": method, "mask_band": mask_band or ""},
    )
    if clear_per_date.sum() == 0:
        Path(dest).unlink(missing_ok=True)
        raise RasterError(
            "every date is cloudy or empty at every pixel: there is no clear observation",
            hint="choose other dates or a cube with clear observations",
        )
    all_cloud = tuple(d for d, n in zip(cube.dates, clear_per_date) if n == 0)
    return CleanReport(Path(dest), len(out_dates), data_bands, masked / max(total, 1), all_cloud, never)


def cloud_fractions(cube: Cube, *, mask_band: str = "cloud_mask", cloud_values: Sequence[float] = (1,)) -> np.ndarray:
    """Fraction of masked pixels per date, window by window."""
    counts = np.zeros(len(cube.dates))
    n = 0
    for _, x in iter_windows(cube.select(bands=[mask_band])):
        counts += mask_from(x[:, 0], cloud_values=cloud_values).reshape(len(cube.dates), -1).sum(axis=1)
        n += x.shape[2] * x.shape[3]
    return counts / max(n, 1)
