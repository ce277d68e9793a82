"""The demo's land-cover application: the services of ``landcover.yaml``.

Real work on real data, small enough for two cores: Sentinel-2 NDVI time series (data owner A,
with its cloud masks) and reference land-cover labels (data owner B) over a Slovenian patch.

- ``prepare``: check the three rasters share one grid, mask cloudy observations, fill them by
  linear interpolation in time per pixel → a cube (``.npz``: series, labels, dates, grid);
- ``train``: a small per-pixel temporal classifier (an MLP over each pixel's standardised NDVI
  series), trained on a spatial block split (neighbouring pixels never cross train/test),
  class-weighted (inverse square root of frequency), seeded;
  its metrics on the held-out blocks next to the majority-class baseline → ``metrics.json``;
- ``predict``: the class of every pixel → a GeoTIFF on the input's grid, and a PNG;
- ``change``: median NDVI of two epochs (before / after ``split``) → the NDVI change as a
  GeoTIFF and a PNG heatmap.

Every service has the workflow engine's signature ``fn(inputs, outputs, params)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from eotrust.errors import RasterError

CLASS_NAMES = {
    1: "cultivated land", 2: "forest", 3: "grassland", 4: "shrubland", 5: "water", 6: "wetland",
    7: "tundra", 8: "artificial surface", 9: "bareland", 10: "snow and ice",
}


# -- prepare -------------------------------------------------------------------------------
def _read(path: Path) -> tuple[np.ndarray, Any, Any, list[str]]:
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                raise RasterError(f"{path.name} has no CRS", hint="give georeferenced rasters")
            return ds.read(), ds.crs, ds.transform, list(ds.descriptions)
    except RasterioIOError as exc:
        raise RasterError(f"{path.name} is not a readable raster: {exc}") from None


def interpolate_gaps(series: np.ndarray) -> np.ndarray:
    """Fill NaNs of each pixel's series (..., T) by linear interpolation in time; a pixel with
    no clear observation at all takes the scene's mean series."""
    out = series.reshape(-1, series.shape[-1]).astype(np.float32, copy=True)
    t = np.arange(out.shape[1])
    clear = ~np.isnan(out)
    scene_mean = np.where(clear.any(axis=0), np.nansum(out, axis=0) / np.maximum(clear.sum(axis=0), 1), np.nan)
    if np.isnan(scene_mean).all():
        raise RasterError("every observation is cloudy: nothing to interpolate from")
    scene_mean = np.where(np.isnan(scene_mean), np.nanmean(scene_mean), scene_mean)
    for row in out:
        ok = ~np.isnan(row)
        if ok.all():
            continue
        row[:] = np.interp(t, t[ok], row[ok]) if ok.any() else scene_mean
    return out.reshape(series.shape)


def prepare(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    ndvi, crs, transform, dates = _read(inputs["ndvi"])
    clouds, crs_c, transform_c, _ = _read(inputs["cloud_mask"])
    labels, crs_l, transform_l, _ = _read(inputs["lulc"])
    if ndvi.shape != clouds.shape:
        raise RasterError(f"cloud masks {clouds.shape} do not match the NDVI series {ndvi.shape}")
    if labels.shape[1:] != ndvi.shape[1:] or crs_l != crs or crs_c != crs or transform_l != transform or transform_c != transform:
        raise RasterError("the labels, cloud masks and NDVI are not on one grid", hint="resample them to one grid first")
    masked = np.where(clouds.astype(bool), np.nan, ndvi.astype(np.float32))
    series = interpolate_gaps(np.moveaxis(masked, 0, -1))  # (H, W, T)
    with open(outputs["cube"], "wb") as f:
        np.savez_compressed(
            f,
            series=series,
            labels=labels[0].astype(np.int64),
            dates=np.array(dates),
            crs=np.array(crs.to_wkt()),
            transform=np.array(list(transform)[:6]),
            cloud_fraction=np.array(float(clouds.mean())),
        )


def _load_cube(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as cube:
        return {k: cube[k] for k in cube.files}


# -- train ---------------------------------------------------------------------------------
def _model(n_dates: int, n_classes: int) -> Any:
    import torch.nn as nn

    return nn.Sequential(
        nn.Linear(n_dates, 64), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(64, 32), nn.ReLU(),
        nn.Linear(32, n_classes),
    )


def block_split(shape: tuple[int, int], block: int, test_every: int = 4) -> np.ndarray:
    """True where a pixel is held out: whole ``block``×``block`` blocks, one in ``test_every``."""
    rows, cols = np.indices(shape) // block
    return ((rows * 7 + cols * 3) % test_every) == 0


def _scores(truth: np.ndarray, pred: np.ndarray, classes: list[int]) -> dict[str, Any]:
    per_class = {}
    for c in classes:
        inter = int(((truth == c) & (pred == c)).sum())
        union = int(((truth == c) | (pred == c)).sum())
        if (truth == c).any():
            per_class[CLASS_NAMES.get(c, str(c))] = round(inter / union, 4) if union else 0.0
    majority = max(classes, key=lambda c: (truth == c).sum())
    return {
        "pixel_accuracy": round(float((truth == pred).mean()), 4),
        "majority_baseline_accuracy": round(float((truth == majority).mean()), 4),
        "mean_iou": round(float(np.mean(list(per_class.values()))), 4),
        "iou": per_class,
        "pixels": int(truth.size),
    }


def train(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    import torch

    cube = _load_cube(inputs["cube"])
    series, labels = cube["series"], cube["labels"]
    epochs, seed, block = int(params.get("epochs", 60)), int(params.get("seed", 0)), int(params.get("block", 10))
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    valid = labels > 0
    classes = sorted(int(c) for c in np.unique(labels[valid]))
    index = {c: i for i, c in enumerate(classes)}
    held_out = block_split(labels.shape, block)
    x = torch.from_numpy(series.reshape(-1, series.shape[-1]))
    y = torch.from_numpy(np.vectorize(lambda c: index.get(int(c), -1))(labels).reshape(-1))
    train_mask = torch.from_numpy((valid & ~held_out).reshape(-1))
    test_mask = torch.from_numpy((valid & held_out).reshape(-1))
    mean, std = x[train_mask].mean(0), x[train_mask].std(0) + 1e-6  # per date
    xs = (x - mean) / std
    counts = torch.bincount(y[train_mask], minlength=len(classes)).float().clamp(min=1)
    weights = (counts.sum() / counts).sqrt()
    model = _model(x.shape[1], len(classes))
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights / weights.mean())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    xt, yt = xs[train_mask], y[train_mask]
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(xt), generator=generator).split(256):
            opt.zero_grad()
            loss_fn(model(xt[batch]), yt[batch]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(xs[test_mask]).argmax(1).numpy()
    truth = y[test_mask].numpy()
    metrics = _scores(np.array(classes)[truth], np.array(classes)[pred], classes)
    metrics.update(epochs=epochs, seed=seed, split=f"{block}x{block}-pixel blocks, 1 in 4 held out",
                   train_pixels=int(train_mask.sum()), classes={str(c): CLASS_NAMES.get(c, str(c)) for c in classes})
    outputs["metrics"].write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    torch.save({"state_dict": model.state_dict(), "classes": classes, "mean": mean, "std": std,
                "dates": int(x.shape[1])}, outputs["model"])


# -- predict and change ------------------------------------------------------------------------
def _write_tif(path: Path, array: np.ndarray, cube: dict[str, Any], *, nodata: float | int | None) -> None:
    import rasterio
    from affine import Affine

    profile = {
        "driver": "GTiff", "height": array.shape[0], "width": array.shape[1], "count": 1,
        "dtype": str(array.dtype), "crs": str(cube["crs"]), "transform": Affine(*cube["transform"].tolist()),
        "nodata": nodata, "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.savefig(path, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def _class_png(path: Path, classes: np.ndarray) -> None:
    """The class map with a legend naming each class present."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    plt = _figure()
    present = sorted(int(c) for c in np.unique(classes) if c)
    palette = plt.get_cmap("tab10")
    colours = [palette(i % 10) for i in range(len(present))]
    index = np.zeros_like(classes, dtype=np.int64)
    for i, c in enumerate(present):
        index[classes == c] = i
    fig, ax = plt.subplots(figsize=(4.6, 5.6), dpi=100)
    ax.imshow(index, cmap=ListedColormap(colours), vmin=0, vmax=max(len(present) - 1, 1), interpolation="nearest")
    ax.legend(handles=[Patch(color=colours[i], label=CLASS_NAMES.get(c, str(c))) for i, c in enumerate(present)],
              loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize=8, frameon=False)
    ax.set_title("predicted land cover", fontsize=10)
    ax.set_axis_off()
    _save(plt, fig, path)


def _change_png(path: Path, delta: np.ndarray, title: str) -> None:
    plt = _figure()
    limit = float(np.nanmax(np.abs(delta))) or 1.0
    fig, ax = plt.subplots(figsize=(4, 5.6), dpi=100)
    image = ax.imshow(delta, cmap="RdYlGn", vmin=-limit, vmax=limit, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.7, label="ΔNDVI")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    _save(plt, fig, path)


def predict(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    import torch

    cube = _load_cube(inputs["cube"])
    saved = torch.load(inputs["model"], weights_only=True)
    model = _model(saved["dates"], len(saved["classes"]))
    model.load_state_dict(saved["state_dict"])
    model.eval()
    series = cube["series"]
    x = (torch.from_numpy(series.reshape(-1, series.shape[-1])) - saved["mean"]) / saved["std"]
    with torch.no_grad():
        pred = model(x).argmax(1).numpy()
    classes = np.array(saved["classes"], dtype=np.uint8)[pred].reshape(series.shape[:2])
    _write_tif(outputs["classmap"], classes, cube, nodata=0)
    _class_png(outputs["preview"], classes)


def change(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    cube = _load_cube(inputs["cube"])
    split = str(params.get("split", "2017-01-01"))
    dates = [str(d)[:10] for d in cube["dates"]]
    before = [i for i, d in enumerate(dates) if d < split]
    after = [i for i, d in enumerate(dates) if d >= split]
    if not before or not after:
        raise RasterError(f"no dates on one side of {split} (dates run {dates[0]} to {dates[-1]})")
    series = cube["series"]
    delta = (np.median(series[..., after], axis=-1) - np.median(series[..., before], axis=-1)).astype(np.float32)
    _write_tif(outputs["change"], delta, cube, nodata=None)
    _change_png(outputs["heatmap"], delta, f"NDVI change: median after {split} − before")
