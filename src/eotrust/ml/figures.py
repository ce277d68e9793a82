"""Pictures for people: class maps, change heatmaps and evaluation figures as PNGs.

Large rasters are read decimated (at most ``max_side`` pixels a side), so a figure of a
whole Sentinel-2 scene costs little memory. Colours follow the land-cover codes of the
shared reference labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eotrust.eo.classmap import colour_of
from eotrust.eo.labels import NODATA_CODE, classes_of
from eotrust.eo.raster import open_raster, read

if TYPE_CHECKING:
    from eotrust.ml.metrics import Metrics
    from eotrust.ml.uncertainty import Calibration


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_preview(path: Path, *, band: int = 1, max_side: int = 800) -> np.ndarray:
    """One band, decimated so that neither side exceeds ``max_side`` (nearest: classes stay classes)."""
    from rasterio.enums import Resampling

    with open_raster(path) as ds:
        scale = max(ds.width, ds.height) / max_side
        if scale <= 1:
            return read(ds, band)
        shape = (max(1, int(ds.height / scale)), max(1, int(ds.width / scale)))
        return read(ds, band, out_shape=shape, resampling=Resampling.nearest)


def _save(fig: Any, png: Path) -> Path:
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return png


@dataclass(frozen=True)
class _Geo:
    """Where a raster lies, for a figure's axes: its extent in CRS units and the CRS."""

    extent: tuple[float, float, float, float]  # left, right, bottom, top
    crs: str
    projected: bool


def _geo_of(path: Path) -> _Geo | None:
    with open_raster(path) as ds:
        if ds.crs is None:
            return None
        b = ds.bounds
        return _Geo((b.left, b.right, b.bottom, b.top), ds.crs.to_string(), bool(ds.crs.is_projected))


def _nice_length(span: float) -> float:
    """A round length (1, 2 or 5 × 10^k) near a fifth of ``span``."""
    import math

    target = span / 5
    if target <= 0:
        return 0.0
    power = 10.0 ** math.floor(math.log10(target))
    return max(m * power for m in (1, 2, 5) if m * power <= target) if target >= power else power


def _georeference(ax: Any, geo: _Geo | None, *, scale_bar: bool = True) -> None:
    """Coordinates on the axes (in the raster's CRS) and a scale bar (projected CRSs)."""
    if geo is None:
        ax.set_xticks([])
        ax.set_yticks([])
        return
    unit = "m" if geo.projected else "°"
    ax.set_xlabel(f"x ({unit}, {geo.crs})", fontsize=7)
    ax.set_ylabel(f"y ({unit})", fontsize=7)
    from matplotlib.ticker import MaxNLocator

    ax.tick_params(labelsize=6)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.xaxis.set_major_locator(MaxNLocator(3))
    ax.yaxis.set_major_locator(MaxNLocator(4))
    ax.tick_params(axis="y", labelrotation=90)
    if scale_bar and geo.projected:
        from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

        length = _nice_length(geo.extent[1] - geo.extent[0])
        if length > 0:
            label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
            ax.add_artist(
                AnchoredSizeBar(
                    ax.transData,
                    length,
                    label,
                    "lower left",
                    pad=0.3,
                    sep=3,
                    frameon=True,
                    size_vertical=(geo.extent[3] - geo.extent[2]) / 150,
                    fontproperties={"size": 7},
                )
            )


def _class_image(arr: np.ndarray, codes: list[int], names: list[str]) -> tuple[np.ndarray, list[Any]]:
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    rgb = np.ones((*arr.shape, 3))
    handles = []
    for i, (c, n) in enumerate(zip(codes, names)):
        mask = arr == c
        if mask.any():
            rgb[mask] = to_rgb(colour_of(c, i))
            handles.append(Patch(color=colour_of(c, i), label=f"{c} {n}"))
    rgb[arr == NODATA_CODE] = (0.85, 0.85, 0.85)
    return rgb, handles


def _codes_names(path: Path, arr: np.ndarray) -> tuple[list[int], list[str]]:
    declared = classes_of(path)
    present = sorted(int(v) for v in np.unique(arr) if v != NODATA_CODE)
    if declared:
        codes = sorted(set(declared.codes) | set(present))
        return codes, [declared.name_of(c) for c in codes]
    return present, [f"class {c}" for c in present]


def class_map_figure(path: Path, png: Path, *, title: str = "", reference: Path | None = None) -> Path:
    """A class map (and, if given, the reference labels beside it) with a legend."""
    plt = _plt()
    maps = [(path, title or Path(path).name)] + ([(reference, "reference")] if reference else [])
    arrays = [read_preview(p) for p, _ in maps]
    codes, names = _codes_names(path, np.concatenate([a.ravel() for a in arrays]))
    h, w = arrays[0].shape
    fig, axes = plt.subplots(1, len(maps), figsize=(min(4.5 * len(maps) * max(w / h, 0.5), 16), 5.5), squeeze=False)
    legend: dict[str, Any] = {}
    for ax, arr, (p, label) in zip(axes[0], arrays, maps):
        rgb, handles = _class_image(arr, codes, names)
        geo = _geo_of(p)
        ax.imshow(rgb, interpolation="nearest", extent=geo.extent if geo else None)
        ax.set_title(label, fontsize=10)
        _georeference(ax, geo)
        for hd in handles:
            legend[hd.get_label()] = hd
    fig.legend(handles=list(legend.values()), loc="lower center", ncol=min(len(legend), 4), fontsize=8, frameon=False)
    fig.subplots_adjust(bottom=0.17, wspace=0.35)
    return _save(fig, png)


def change_figure(
    before: Path,
    after: Path,
    intensity: np.ndarray,
    png: Path,
    *,
    title: str = "",
    labels: tuple[str, str] = ("before", "after"),
    intensity_label: str = "change",
) -> Path:
    """Before and after class maps and a heatmap of change intensity (0..1)."""
    plt = _plt()
    a, b = read_preview(before), read_preview(after)
    codes, names = _codes_names(before, np.concatenate([a.ravel(), b.ravel()]))
    fig, axes = plt.subplots(1, 3, figsize=(13, 5.5))
    legend: dict[str, Any] = {}
    geo = _geo_of(before)
    extent = geo.extent if geo else None
    for ax, arr, label in zip(axes[:2], (a, b), labels):
        rgb, handles = _class_image(arr, codes, names)
        ax.imshow(rgb, interpolation="nearest", extent=extent)
        ax.set_title(label, fontsize=10)
        for hd in handles:
            legend[hd.get_label()] = hd
    im = axes[2].imshow(
        np.ma.masked_invalid(intensity), cmap="magma", vmin=0, vmax=1, interpolation="nearest", extent=extent
    )
    axes[2].set_title(intensity_label, fontsize=10)
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.04)
    for ax in axes:
        _georeference(ax, geo)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.legend(handles=list(legend.values()), loc="lower center", ncol=min(len(legend), 5), fontsize=8, frameon=False)
    fig.subplots_adjust(bottom=0.17, wspace=0.35)
    return _save(fig, png)


def metrics_figure(metrics: Metrics, png: Path, *, title: str = "") -> Path:
    """The row-normalised confusion matrix and per-class IoU/F1 bars, with the headline numbers."""
    plt = _plt()
    cm = np.asarray(metrics.confusion, dtype=float)
    names = metrics.class_names
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [1.1, 1]})
    ax1.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            if cm[i, j]:
                ax1.text(
                    j,
                    i,
                    f"{int(cm[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if norm[i, j] > 0.6 else "black",
                )
    ax1.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax1.set_yticks(range(len(names)), names, fontsize=8)
    ax1.set_xlabel("predicted")
    ax1.set_ylabel("reference")
    ax1.set_title("confusion matrix (counts; colour: row share)", fontsize=10)
    present = [c for c in metrics.per_class if c.support]
    x = np.arange(len(present))
    ax2.bar(x - 0.2, [c.iou or 0 for c in present], 0.4, label="IoU", color="#4e79a7")
    ax2.bar(x + 0.2, [c.f1 or 0 for c in present], 0.4, label="F1", color="#f28e2b")
    ax2.set_xticks(x, [c.name for c in present], rotation=35, ha="right", fontsize=8)
    ax2.set_ylim(0, 1)
    ax2.legend(fontsize=8)
    head = f"accuracy {metrics.pixel_accuracy:.3f}   mean IoU {metrics.mean_iou:.3f}"
    if metrics.majority_baseline_accuracy is not None:
        head += f"   (majority baseline {metrics.majority_baseline_accuracy:.3f})"
    ax2.set_title(head, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, png)


def reliability_figure(cal: Calibration, png: Path, *, title: str = "") -> Path:
    """A reliability diagram: accuracy against confidence per bin (the diagonal is perfect
    calibration), with the share of pixels in each bin below."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(5.2, 6.2), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    width = cal.bins[0].upper - cal.bins[0].lower if cal.bins else 0.1
    centres = [(b.lower + b.upper) / 2 for b in cal.bins]
    acc = [b.accuracy if b.accuracy is not None else 0.0 for b in cal.bins]
    conf = [b.confidence if b.confidence is not None else (b.lower + b.upper) / 2 for b in cal.bins]
    used = [b.count > 0 for b in cal.bins]
    ax1.bar(
        [c for c, u in zip(centres, used) if u],
        [a for a, u in zip(acc, used) if u],
        width * 0.95,
        color="#4e79a7",
        edgecolor="#2b4a6f",
        label="accuracy in bin",
    )
    ax1.plot(
        [c for c, u in zip(centres, used) if u],
        [cf for cf, u in zip(conf, used) if u],
        "o",
        color="#e15759",
        ms=5,
        label="mean confidence in bin",
    )
    ax1.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect calibration")
    ax1.set_xlim(0, 1)
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("accuracy")
    ax1.legend(fontsize=8, loc="upper left")
    ax1.set_title(
        f"{title + ': ' if title else ''}ECE {cal.ece:.3f}, accuracy {cal.accuracy:.3f}, "
        f"mean confidence {cal.mean_confidence:.3f}",
        fontsize=9,
    )
    total = max(sum(b.count for b in cal.bins), 1)
    ax2.bar(centres, [b.count / total for b in cal.bins], width * 0.95, color="#76b7b2")
    ax2.set_ylabel("share of pixels")
    ax2.set_xlabel("confidence (top-class probability)")
    fig.tight_layout()
    return _save(fig, png)


def confidence_figure(
    classes: Path, confidence: Path, png: Path, *, title: str = "", reference: Path | None = None
) -> Path:
    """A class map beside its per-pixel confidence (top-class probability), and the
    reference labels when given: where the map can be trusted, and where it guesses."""
    plt = _plt()
    arr = read_preview(classes)
    conf = read_preview(confidence, band=1).astype(float)
    panels = [arr] + ([read_preview(reference)] if reference else [])
    codes, names = _codes_names(classes, np.concatenate([a.ravel() for a in panels]))
    h, w = arr.shape
    n = len(panels) + 1
    side = 3.0
    fig, axes = plt.subplots(
        1, n, figsize=(min(side * n + 1.2, 16), min(side * h / max(w, 1), 9) + 1.6), constrained_layout=True
    )
    legend: dict[str, Any] = {}
    for ax, a, label in zip(axes, panels, ["predicted classes", "reference labels"]):
        rgb, handles = _class_image(a, codes, names)
        ax.imshow(rgb, interpolation="nearest")
        ax.set_title(label, fontsize=10)
        for hd in handles:
            legend[hd.get_label()] = hd
    im = axes[-1].imshow(np.ma.masked_invalid(conf), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    axes[-1].set_title(f"confidence (mean {np.nanmean(conf):.2f})", fontsize=10)
    fig.colorbar(im, ax=axes[-1], fraction=0.07, pad=0.04)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.legend(
        handles=list(legend.values()), loc="outside lower center", ncol=min(len(legend), 4), fontsize=8, frameon=False
    )
    return _save(fig, png)


def learning_curve_figure(
    curves: dict[str, list[tuple[int, float]]],
    png: Path,
    *,
    title: str = "",
    ylabel: str = "pixel accuracy on the held-out region",
    references: dict[str, float] | None = None,
) -> Path:
    """Accuracy against labels used, one line per sampling strategy; horizontal lines for
    references (e.g. the majority class, the model trained on every label)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colours = ["#e15759", "#4e79a7", "#59a14f", "#f28e2b"]
    for i, (name, pts) in enumerate(curves.items()):
        xs, ys = zip(*pts) if pts else ((), ())
        ax.plot(xs, ys, "o-", color=colours[i % len(colours)], label=name, ms=4)
    for j, (name, value) in enumerate((references or {}).items()):
        ax.axhline(value, ls="--", lw=1, color=["grey", "black", "#b07aa1"][j % 3], label=name)
    ax.set_xlabel("labelled pixels")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, png)
