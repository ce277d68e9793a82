"""EO/ML benchmark: land-cover accuracy on the real Slovenian patch, tiling throughput and
memory on a full-size synthetic Sentinel-2 scene, training throughput.

1. Accuracy. The real sample (68 Sentinel-2 NDVI dates, cloud masks, reference labels) is
   prepared (clouds masked, gaps interpolated), cut on a stratified spatial block split
   (10 px blocks: 70 % train, 10 % validation, 20 % test) and the temporal classifier
   (built-in ``temporal_cnn`` definition) is trained; pixel accuracy and mean IoU over the
   classes present on the held-out test blocks are printed next to the majority-class
   baseline measured on the same blocks in the same run.
   Targets: accuracy >= 0.90, mean IoU >= 0.55, training < 120 s (2 CPU cores).
2. Tiling. A 10980 x 10980 x 13 uint16 GeoTIFF (tiled 512, DEFLATE; blocks of random-ish
   values) is written, then read tile by tile (``eotrust.eo.tiles.iter_tiles``, 256 px with
   32 px overlap) in a fresh process that reports megapixels per second and its peak
   memory; the reference, in the same run, is a plain read of the file's internal blocks.
   Target: peak memory < 2 GiB.
3. Training samples per second, next to a bare PyTorch loop of the same network on random
   tensors (the ceiling for this model on this machine).

Also, not by default (slow): ``--only select`` chooses the default model among candidates
(class weighting, jitter, ensembles, day of year, DEM) by nested spatial CV on the training
side of each held-out half only (``--select-folds`` stripes x ``--select-seeds`` seeds, mean
and worst fold, a pick per half); ``benchmarks/eo_select_screen.py`` is the faster screening
loop on the same inner folds, with the baselines beside it; ``--regions`` runs chosen halves.

Run: ``.venv/bin/python benchmarks/eo.py`` (about 3-5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    import numpy as np

    from eotrust.eo.split import BlockSplit
    from eotrust.ml.active import Strategy
    from eotrust.ml.modeldef import ModelDef

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLE = REPO / "src" / "eotrust" / "data" / "slovenia-s2-ndvi"

ACC_TARGET, MIOU_TARGET, TRAIN_S_TARGET, MEM_TARGET_GIB = 0.90, 0.55, 120.0, 2.0


# -- 1. accuracy on the real patch ----------------------------------------------------------


def bench_accuracy(work: Path, seed: int, threads: int) -> dict[str, Any]:
    import numpy as np

    from eotrust.eo.dataset import TrainingDataset
    from eotrust.ml import landcover
    from eotrust.ml.evaluate import evaluate_dataset
    from eotrust.ml.metrics import confusion_matrix, metrics_from_confusion
    from eotrust.ml.modeldef import load_model_def
    from eotrust.ml.train import train

    cube, labels, ds_path, model = work / "cube.tif", work / "labels.tif", work / "dataset.zip", work / "model.pt"
    t0 = time.perf_counter()
    landcover.prepare(
        {"ndvi": SAMPLE / "ndvi.tif", "cloud_mask": SAMPLE / "cloud_mask.tif", "lulc": SAMPLE / "lulc.tif"},
        {"cube": cube, "labels": labels},
        {},
    )
    landcover.dataset({"cube": cube, "labels": labels}, {"dataset": ds_path}, {"tile_size": 10, "seed": seed})
    prep_s = time.perf_counter() - t0
    md = load_model_def("temporal_cnn").with_training(seed=seed)
    with TrainingDataset(ds_path) as ds:
        result = train(ds, md, model, threads=threads)
        counts = ds.manifest.counts
    metrics = evaluate_dataset(model, ds_path, split="test")
    # the majority-class baseline on the same held-out blocks: always the most frequent training class
    cm = np.asarray(metrics.confusion)
    k = len(metrics.class_names)
    top = int(np.argmax([counts["train"][c] for c in metrics.class_names]))
    truth = np.repeat(np.arange(k), cm.sum(axis=1))
    base = metrics_from_confusion(confusion_matrix(truth, np.full_like(truth, top), k), metrics.class_names)
    assert base.majority_class is not None  # the test blocks hold pixels: they have a most frequent class
    print(
        f"  data: {sum(counts['train'].values())} train / {sum(counts['val'].values())} val / "
        f"{sum(counts['test'].values())} test pixels (10 px blocks, stratified), prepared in {prep_s:.1f} s"
    )
    print(
        f"  training: {result.epochs_run} epochs (best {result.best_epoch}{', stopped early' if result.stopped_early else ''}) "
        f"in {result.seconds:.1f} s, {result.samples_per_second:.0f} samples/s, {threads} torch thread(s)"
    )
    print(f"  {'':<28}{'pixel accuracy':>16}{'mean IoU':>10}")
    print(f"  {'majority class (' + base.majority_class + ')':<28}{base.pixel_accuracy:>16.3f}{base.mean_iou:>10.3f}")
    print(f"  {'temporal classifier':<28}{metrics.pixel_accuracy:>16.3f}{metrics.mean_iou:>10.3f}")
    for c in metrics.per_class:
        if c.support:
            print(f"    {c.name:<24} IoU {c.iou:.3f}  F1 {c.f1:.3f}  ({c.support} px)")
    return {
        "pixel_accuracy": metrics.pixel_accuracy,
        "mean_iou": metrics.mean_iou,
        "majority_pixel_accuracy": base.pixel_accuracy,
        "majority_mean_iou": base.mean_iou,
        "per_class_iou": {c.name: c.iou for c in metrics.per_class if c.support},
        "train_seconds": result.seconds,
        "epochs": result.epochs_run,
        "train_samples_per_second": result.samples_per_second,
        "train_samples": result.train_samples,
        "seed": seed,
        "threads": threads,
    }


def bench_raw_training(threads: int, t: int = 68, batch: int = 256, steps: int = 60) -> float:
    """Samples per second of a bare forward/backward/step loop of the same network."""
    import torch

    from eotrust.ml.modeldef import load_model_def
    from eotrust.ml.models import build_model

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        md = load_model_def("temporal_cnn")
        model = build_model(md.architecture, 1, 4, {**md.params, "days_of_year": [float(5 * i + 1) for i in range(t)]})
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x, y = torch.randn(batch, 1, t), torch.randint(0, 4, (batch,))
        for _ in range(5):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward is unannotated
            opt.step()
        t0 = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward is unannotated
            opt.step()
        return steps * batch / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(previous)


# -- 1b. transfer to ground the model never saw ---------------------------------------------

REGIONS = ("west", "east", "north", "south")
OTHER_HALF = {"west": "east", "east": "west", "north": "south", "south": "north"}
TRANSFER_ACC_TARGET = 0.92


def prepare_patch(work: Path) -> tuple[Path, Path]:
    from eotrust.ml import landcover

    cube, labels = work / "cube.tif", work / "labels.tif"
    if not cube.exists():
        landcover.prepare(
            {"ndvi": SAMPLE / "ndvi.tif", "cloud_mask": SAMPLE / "cloud_mask.tif", "lulc": SAMPLE / "lulc.tif"},
            {"cube": cube, "labels": labels},
            {},
        )
    return cube, labels


def _scores(truth: np.ndarray, pred: np.ndarray, names: list[str], trained: list[str]) -> dict[str, Any]:
    """Pixel accuracy, mIoU over the classes present in training, per-class IoU."""
    import numpy as np

    from eotrust.ml.metrics import confusion_matrix, metrics_from_confusion

    m = metrics_from_confusion(confusion_matrix(truth, pred, len(names)), names)
    ious = {c.name: (c.iou or 0.0) for c in m.per_class if c.name in trained and (c.support or c.predicted)}
    return {"acc": m.pixel_accuracy, "miou": float(np.mean(list(ious.values()))) if ious else 0.0, "iou": ious}


def _fold_models(
    ds_path: Path, work: Path, seed: int, threads: int, models: list[str], enet_epochs: int, net_seeds: int = 1
) -> dict[str, Any]:
    """Every model of the comparison trained on the fold's training side, scored on its test side.
    A network is trained ``net_seeds`` times (training seeds ``seed``, ``seed + 1``, …): one
    run says little, two seeds differ by up to half the accuracy on a half. Its row holds the
    mean of the runs' scores, and ``seeds`` each run's accuracy and mIoU."""
    import numpy as np
    import torch

    from eotrust.eo.dataset import TrainingDataset
    from eotrust.ml.checkpoint import load_checkpoint
    from eotrust.ml.data import normalise_series
    from eotrust.ml.inference import predict_logits
    from eotrust.ml.modeldef import load_model_def
    from eotrust.ml.train import train

    with TrainingDataset(ds_path) as ds:
        xt, yt = ds.pixels("train")
        xv, yv = ds.pixels("val")
        xs, ys = ds.pixels("test")
        names = ds.class_names
        counts = ds.manifest.counts
        bands = list(ds.manifest.bands)
    trained = [c for c in names if counts["train"].get(c, 0) + counts["val"].get(c, 0) > 0]
    # baselines see the same pixels (training + validation blocks) and the same features:
    # the cloud-masked, interpolated NDVI series (68 values per pixel)
    feats = np.nan_to_num(np.concatenate([xt, xv])[:, 0])
    labels = np.concatenate([yt, yv])
    test = np.nan_to_num(xs[:, 0])
    # rf_all / lgbm_all: the same baselines on every band of the cube (with --extra-bands, the
    # DEM or the neighbourhood mean too), flattened: what a user would give them as inputs
    feats_all = np.nan_to_num(np.concatenate([xt, xv]).reshape(len(labels), -1))
    test_all = np.nan_to_num(xs.reshape(len(xs), -1))
    out: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    out["majority class"] = {
        **_scores(ys, np.full_like(ys, np.bincount(labels).argmax()), names, trained),
        "seconds": 0.0,
    }
    for key, label, (f_train, f_test) in (
        ("rf", "RandomForest", (feats, test)),
        ("rf_all", "RandomForest, all bands", (feats_all, test_all)),
    ):
        if key in models:
            from sklearn.ensemble import RandomForestClassifier

            t0 = time.perf_counter()
            rf = RandomForestClassifier(n_estimators=200, n_jobs=threads, random_state=seed).fit(f_train, labels)
            out[label] = {**_scores(ys, rf.predict(f_test), names, trained), "seconds": time.perf_counter() - t0}
    for key, label, (f_train, f_test) in (
        ("lgbm", "LightGBM", (feats, test)),
        ("lgbm_all", "LightGBM, all bands", (feats_all, test_all)),
    ):
        if key in models:
            import warnings

            import lightgbm as lgb

            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gbm = lgb.LGBMClassifier(n_estimators=200, num_threads=threads, random_state=seed, verbose=-1).fit(
                    f_train, labels
                )
                pred = gbm.predict(f_test)
            out[label] = {**_scores(ys, pred, names, trained), "seconds": time.perf_counter() - t0}
    for name in [m for m in models if m not in ("rf", "lgbm", "rf_all", "lgbm_all")]:
        stem = Path(name).stem  # a built-in's name, or a model-definition file's
        ckpt = work / f"{stem}.pt"
        t0 = time.perf_counter()
        runs = []
        for s in range(seed, seed + net_seeds):
            md = load_model_def(name).with_training(seed=s)
            if name == "enet":
                md = md.with_training(epochs=enet_epochs)
            with TrainingDataset(ds_path) as ds:
                train(ds, md, ckpt, threads=threads)
            model, meta = load_checkpoint(ckpt)
            if meta["input_kind"] == "pixel":
                x = torch.from_numpy(
                    normalise_series(
                        xs, np.asarray(meta["normalisation"]["mean"]), np.asarray(meta["normalisation"]["std"])
                    )
                )
                pred = predict_logits(model, x, torch.device("cpu")).argmax(1).numpy()
                truth = ys
            else:
                from eotrust.ml.evaluate import evaluate_dataset

                cm = np.asarray(evaluate_dataset(ckpt, ds_path, split="test").confusion)
                truth = np.repeat(np.arange(len(names)), cm.sum(axis=1))
                pred = np.concatenate([np.repeat(np.arange(len(names)), cm[i]) for i in range(len(names))])
            runs.append(_scores(truth, pred, names, trained))
        # the default model reads NDVI alone; on a cube with more bands it is the same
        # definition, not the default pipeline
        label = {"temporal_cnn": "temporal_cnn (default)" if bands == ["ndvi"] else "temporal_cnn, all bands"}.get(
            name, stem
        )
        classes = sorted({c for r in runs for c in r["iou"]})
        out[label] = {
            "acc": float(np.mean([r["acc"] for r in runs])),
            "miou": float(np.mean([r["miou"] for r in runs])),
            "iou": {c: float(np.mean([r["iou"][c] for r in runs if c in r["iou"]])) for c in classes},
            "seeds": [[r["acc"], r["miou"]] for r in runs],
            "seconds": time.perf_counter() - t0,
        }
    return {"models": out, "test_pixels": int(len(ys)), "train_pixels": int(len(labels)), "classes_trained": trained}


def _summary(folds: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    import numpy as np

    models = list(next(iter(folds.values()))["models"])
    out: dict[str, dict[str, Any]] = {}
    for m in models:
        acc = [f["models"][m]["acc"] for f in folds.values()]
        miou = [f["models"][m]["miou"] for f in folds.values()]
        classes = sorted({c for f in folds.values() for c in f["models"][m]["iou"]})
        out[m] = {
            "acc_mean": float(np.mean(acc)),
            "acc_std": float(np.std(acc)),
            "miou_mean": float(np.mean(miou)),
            "miou_std": float(np.std(miou)),
            "iou": {
                c: float(np.mean([f["models"][m]["iou"][c] for f in folds.values() if c in f["models"][m]["iou"]]))
                for c in classes
            },
        }
    return out


def _print_table(title: str, folds: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    summary = _summary(folds)
    names = list(folds)
    print(f"  {title}")
    print(f"  {'model':<26}" + "".join(f"{n:>15}" for n in names) + f"{'mean ± sd acc':>18}{'mean ± sd mIoU':>18}")
    for m, s in summary.items():
        cells = "".join(f"{folds[n]['models'][m]['acc']:>7.3f}/{folds[n]['models'][m]['miou']:<7.3f}" for n in names)
        print(
            f"  {m:<26}{cells}{s['acc_mean']:>11.3f} ± {s['acc_std']:.3f}{s['miou_mean']:>11.3f} ± {s['miou_std']:.3f}"
        )
    print("  (cells: pixel accuracy / mIoU over the classes present in training)")
    print("  per-class IoU, mean over folds:")
    for m, s in summary.items():
        print(f"    {m:<24} " + "  ".join(f"{c} {v:.3f}" for c, v in s["iou"].items()))
    return summary


def bench_transfer(
    work: Path,
    seed: int,
    threads: int,
    models: list[str],
    kfold: int,
    enet_epochs: int,
    regions: bool = True,
    held_out: tuple[str, ...] = REGIONS,
    extra: tuple[str, ...] = (),
    net_seeds: int = 1,
) -> dict[str, Any]:
    """Train on one half of the patch, test on the other (both ways, both axes), with a
    one-block buffer along the border; and a spatial k-fold with a buffer around each test
    block. Early stopping uses validation blocks of the training side only."""
    from eotrust.eo.cube import open_cube
    from eotrust.eo.dataset import build_dataset
    from eotrust.eo.raster import raster_info
    from eotrust.eo.split import kfold_split, region_split

    cube, labels = prepare_patch(work)
    cube = _static_cube(work, cube, extra)
    grid = raster_info(cube).grid
    print(f"  cube {cube.name}: bands {list(open_cube(cube).bands)}")
    results: dict[str, dict[str, Any]] = {}
    splits = (
        {f"test {r}": region_split(grid, 10, r, buffer=1, labels=labels, seed=seed) for r in held_out}
        if regions
        else {}
    )
    kf = (
        {
            f"fold {i + 1}/{kfold}": kfold_split(grid, 10, kfold, i, buffer=1, labels=labels, seed=seed)
            for i in range(kfold)
        }
        if kfold
        else {}
    )
    for group, items in (("region", splits), ("kfold", kf)):
        folds: dict[str, dict[str, Any]] = {}
        for name, split in items.items():
            ds_path = work / f"transfer-{group}-{name.replace(' ', '_').replace('/', 'of')}.zip"
            build_dataset(cube, labels, ds_path, tile_size=10, split=split)
            t0 = time.perf_counter()
            folds[name] = _fold_models(ds_path, work, seed, threads, models, enet_epochs, net_seeds)
            print(
                f"  [{group} {name}: {folds[name]['train_pixels']} training / {folds[name]['test_pixels']} test pixels, "
                f"{time.perf_counter() - t0:.0f} s]",
                flush=True,
            )
            for m, r in folds[name]["models"].items():
                runs = r.get("seeds") or []
                print(
                    f"    {m:<26}{r['acc']:.3f} / {r['miou']:.3f}  "
                    + "  ".join(f"{c} {v:.3f}" for c, v in r["iou"].items())
                    + (f"  (mean of seeds {seed}..{seed + len(runs) - 1}: " if len(runs) > 1 else "")
                    + (", ".join(f"{a:.3f} / {mi:.3f}" for a, mi in runs) + ")" if len(runs) > 1 else ""),
                    flush=True,
                )
        if folds:
            title = (
                "transfer: train on one half, test on the other (1 block = 10 px buffer)"
                if group == "region"
                else f"spatial {kfold}-fold: contiguous stripes of 10 px blocks, 1 block buffer on each side"
            )
            if net_seeds > 1:
                title += f"; each network: the mean of {net_seeds} training seeds"
            results[group] = {"folds": folds, "summary": _print_table(title, folds)}
    return results


def transfer_checks(results: dict[str, Any]) -> dict[str, bool]:
    """The default at least matches the better baseline in accuracy and, separately, in mIoU
    (each against the better of RandomForest and LightGBM on that measure), and averages
    >= 0.92 accuracy. Nothing to check when the run left the default out (another --models, or
    --extra-bands: the default reads NDVI alone)."""
    s = results["region"]["summary"]
    if "temporal_cnn (default)" not in s:
        return {}
    d = s["temporal_cnn (default)"]
    checks: dict[str, bool] = {}
    base = [m for m in ("RandomForest", "LightGBM") if m in s]
    if base:
        ba = max(base, key=lambda m: s[m]["acc_mean"])
        bm = max(base, key=lambda m: s[m]["miou_mean"])
        checks[f"transfer: default acc {d['acc_mean']:.3f} >= better baseline ({ba}) {s[ba]['acc_mean']:.3f}"] = (
            d["acc_mean"] >= s[ba]["acc_mean"]
        )
        checks[f"transfer: default mIoU {d['miou_mean']:.3f} >= better baseline ({bm}) {s[bm]['miou_mean']:.3f}"] = (
            d["miou_mean"] >= s[bm]["miou_mean"]
        )
    checks[f"transfer: default mean acc {d['acc_mean']:.3f} >= {TRANSFER_ACC_TARGET}"] = (
        d["acc_mean"] >= TRANSFER_ACC_TARGET
    )
    return checks


# -- 1b'. choosing the default on the training side only ------------------------------------

#: candidate defaults: (label, extra static cube bands, temporal_cnn parameter overrides,
#: training overrides); ``--select-epochs`` caps every candidate's epochs alike (CPU time)
_JITTER = {"offset_jitter": 0.2, "scale_jitter": 0.1, "noise": 0.1, "date_dropout": 0.1, "label_smoothing": 0.1}
SELECT_CANDIDATES: dict[str, tuple[str, tuple[str, ...], dict[str, object], dict[str, object]]] = {
    "ndvi": (
        "NDVI, sqrt-inverse class weights",
        (),
        {"time_encoding": "none", "members": 1},
        {"class_weighting": "sqrt_inverse"},
    ),
    "noweight": ("NDVI, no class weights", (), {"time_encoding": "none", "members": 1}, {"class_weighting": "none"}),
    "jitter": (
        "NDVI, jitter + label smoothing",
        (),
        {"time_encoding": "none", "members": 1},
        {"class_weighting": "sqrt_inverse", **_JITTER},
    ),
    "noweight-jitter": (
        "NDVI, no class weights, jitter + l.s.",
        (),
        {"time_encoding": "none", "members": 1},
        {"class_weighting": "none", **_JITTER},
    ),
    "noweight-ens3": (
        "NDVI, no class weights, ensemble of 3",
        (),
        {"time_encoding": "none", "members": 3},
        {"class_weighting": "none"},
    ),
    "doy": ("+ day of year", (), {"time_encoding": "doy", "members": 1}, {"class_weighting": "sqrt_inverse"}),
    "dem": (
        "+ DEM and slope",
        ("dem", "slope"),
        {"time_encoding": "none", "members": 1},
        {"class_weighting": "sqrt_inverse"},
    ),
}


def neighbourhood_mean(series: np.ndarray, k: int) -> np.ndarray:
    """``(T, rows, cols)``: each pixel's mean over its k x k neighbourhood, date by date (the
    patch's edge repeated beyond it), in the series' own dtype."""
    import numpy as np
    from scipy.ndimage import uniform_filter

    return np.stack([uniform_filter(d, k, mode="nearest") for d in series])


def _static_cube(work: Path, cube: Path, static: tuple[str, ...]) -> Path:
    """The prepared cube with extra bands: static layers (the patch's DEM, its slope; the same
    value on every date) or ``ndvi_meanK``, the mean NDVI of each pixel's K x K neighbourhood
    on every date (spatial context for a per-pixel model; the whole patch's NDVI is read, no
    label)."""
    if not static:
        return cube
    import numpy as np
    import rasterio

    from eotrust.eo.cube import CubeWriter, open_cube

    dest = work / f"cube-{'-'.join(static)}.tif"
    if dest.exists():
        return dest
    c = open_cube(cube)
    with c.reader() as r:
        x = r.read(c.grid.full_window())
    with rasterio.open(SAMPLE / "dem.tif") as ds:
        dem = ds.read(1).astype(np.float32)
    gy, gx = np.gradient(dem, abs(float(c.grid.transform[0])))
    layers = {"dem": dem, "slope": np.degrees(np.arctan(np.hypot(gx, gy))).astype(np.float32)}

    def layer(name: str) -> np.ndarray:
        if name.startswith("ndvi_mean"):
            ndvi = np.nan_to_num(x[:, c.bands.index("ndvi")])
            return neighbourhood_mean(ndvi, int(name.removeprefix("ndvi_mean"))).astype(np.float32)
        return np.broadcast_to(layers[name], x[:, 0].shape)

    extra = np.stack([layer(b) for b in static], axis=1)
    with CubeWriter(dest, c.grid, c.dates, list(c.bands) + list(static)) as w:
        w.write(c.grid.full_window(), np.concatenate([x, extra], axis=1))
    return dest


def inner_splits(outer: BlockSplit, k: int = 3) -> list[BlockSplit]:
    """``k`` spatial folds inside an outer split's training side (its train and validation
    blocks): contiguous stripes of blocks across the side's longer axis, each tested once,
    with a block of buffer on each side; 15 % of the remaining blocks validate (early
    stopping). The outer test region and its buffer belong to no inner split."""
    import numpy as np

    from eotrust.eo.split import EXCLUDED, BlockSplit, _with_buffer

    a = np.asarray(outer.assignment)
    side = (a == 0) | (a == 1)
    nby, nbx = a.shape
    by, bx = np.indices((nby, nbx))
    rows, cols = np.unique(by[side]), np.unique(bx[side])
    along, values = (by, rows) if len(rows) >= len(cols) else (bx, cols)
    stripe = np.full(max(nby, nbx), -1)
    stripe[values] = np.arange(len(values)) * k // len(values)
    out = []
    for i in range(k):
        test = side & (stripe[along] == i)
        tr = side & ~test & ~(_with_buffer(test, 1) & side)
        b = np.full((nby, nbx), EXCLUDED, np.uint8)
        b[test], b[tr] = 2, 0
        cand = np.flatnonzero(tr.reshape(-1))
        b.reshape(-1)[np.random.default_rng(i).permutation(cand)[: max(1, round(0.15 * len(cand)))]] = 1
        out.append(
            BlockSplit(
                outer.block_size,
                outer.height,
                outer.width,
                (0.85, 0.15, 0.0),
                i,
                False,
                tuple(tuple(int(v) for v in r) for r in b),
            )
        )
    return out


def select_model_def(candidate: str, epochs: int | None = None, seed: int = 0) -> ModelDef:
    """The built-in ``temporal_cnn`` definition with a candidate's overrides."""
    from eotrust.ml.modeldef import load_model_def

    _, _, params, training = SELECT_CANDIDATES[candidate]
    md = load_model_def("temporal_cnn")
    md = md.model_copy(update={"params": {**md.params, **params}})
    return md.with_training(seed=seed, **({"epochs": epochs} if epochs else {}), **training)


def bench_select(
    work: Path, seed: int, threads: int, candidates: list[str], epochs: int, regions: list[str], k: int, seeds: int
) -> dict[str, Any]:
    """Nested spatial CV: for every outer half, each candidate default is trained ``seeds``
    times on each of ``k`` spatial folds inside the training side only and scored on the
    fold's test stripe; the outer test half is never looked at. Per outer half the candidate
    with the best mean inner accuracy (then mIoU) is that half's pick; over all halves, the
    best mean accuracy, with the worst inner fold beside it."""
    import numpy as np
    import torch

    from eotrust.eo.dataset import TrainingDataset, build_dataset
    from eotrust.eo.raster import raster_info
    from eotrust.eo.split import region_split
    from eotrust.ml.checkpoint import load_checkpoint
    from eotrust.ml.data import normalise_series
    from eotrust.ml.inference import predict_logits
    from eotrust.ml.train import train

    cube, labels = prepare_patch(work)
    grid = raster_info(cube).grid
    rows: list[dict[str, Any]] = []
    print(
        f"  inner folds: the training side of each held-out half ({', '.join(regions)}) cut into {k} stripes "
        f"(1 block of buffer), {seeds} seed(s) each, at most {epochs} epochs; the held-out halves are never read"
    )
    for region in regions:
        outer = region_split(grid, 10, region, buffer=1, labels=labels, seed=seed)
        for i, split in enumerate(inner_splits(outer, k)):
            for c in candidates:
                static = SELECT_CANDIDATES[c][1]
                ds_path = work / f"select-{region}-{i}-{'-'.join(static) or 'ndvi'}.zip"
                if not ds_path.exists():
                    build_dataset(_static_cube(work, cube, static), labels, ds_path, tile_size=10, split=split)
                accs = []
                for s in range(seeds):
                    md = select_model_def(c, epochs, seed + s)
                    ckpt = work / f"select-{c}.pt"
                    with TrainingDataset(ds_path) as ds:
                        train(ds, md, ckpt, threads=threads)
                        xs, ys = ds.pixels("test")
                        names, counts = ds.class_names, ds.manifest.counts
                    trained = [n for n in names if counts["train"].get(n, 0) + counts["val"].get(n, 0) > 0]
                    model, meta = load_checkpoint(ckpt)
                    x = torch.from_numpy(
                        normalise_series(
                            xs, np.asarray(meta["normalisation"]["mean"]), np.asarray(meta["normalisation"]["std"])
                        )
                    )
                    sc = _scores(ys, predict_logits(model, x, torch.device("cpu")).argmax(1).numpy(), names, trained)
                    rows.append({"candidate": c, "region": region, "fold": i, "seed": seed + s, **sc})
                    accs.append(sc["acc"])
                print(
                    f"    [held out {region}, inner fold {i + 1}/{k}, {len(ys)} test px] {SELECT_CANDIDATES[c][0]:<38} "
                    + " ".join(f"{a:.3f}" for a in accs),
                    flush=True,
                )
    summary: dict[str, dict[str, Any]] = {}
    print(
        f"  {'candidate (training-side CV only)':<40}{'mean acc':>10}{'mean mIoU':>11}{'worst fold':>12}{'sd seeds':>10}"
    )
    for c in candidates:
        mine = [r for r in rows if r["candidate"] == c]
        per_fold: dict[tuple[str, int], list[float]] = {}
        for r in mine:
            per_fold.setdefault((r["region"], r["fold"]), []).append(r["acc"])
        seed_sd = float(np.mean([np.std(v) for v in per_fold.values()]))
        summary[c] = {
            "acc_mean": float(np.mean([r["acc"] for r in mine])),
            "miou_mean": float(np.mean([r["miou"] for r in mine])),
            "acc_worst_fold": float(min(np.mean(v) for v in per_fold.values())),
            "acc_seed_sd": seed_sd,
            "by_region": {g: float(np.mean([r["acc"] for r in mine if r["region"] == g])) for g in regions},
        }
        s_ = summary[c]
        print(
            f"  {SELECT_CANDIDATES[c][0]:<40}{s_['acc_mean']:>10.3f}{s_['miou_mean']:>11.3f}"
            f"{s_['acc_worst_fold']:>12.3f}{seed_sd:>10.3f}"
        )
    picks = {g: max(candidates, key=lambda c: summary[c]["by_region"][g]) for g in regions}
    print("  pick per held-out half (its own training side only): " + ", ".join(f"{g}: {c}" for g, c in picks.items()))
    best = max(summary, key=lambda c: (summary[c]["acc_mean"], summary[c]["miou_mean"]))
    print(f"  chosen on the training sides (mean inner accuracy): {SELECT_CANDIDATES[best][0]}")
    return {"summary": summary, "chosen": best, "picks": picks, "folds": rows, "k": k, "seeds": seeds}


# -- 1c. uncertainty: confidence map and calibration ------------------------------------------


def bench_uncertainty(
    work: Path, seed: int, threads: int, figures: Path | None, held_out: str = "east"
) -> dict[str, Any]:
    """The default model trained on one half: ECE on the held-out half, a confidence map of
    the whole patch, and whether low confidence marks the errors."""
    import rasterio

    from eotrust.eo.dataset import TrainingDataset, build_dataset
    from eotrust.eo.raster import raster_info
    from eotrust.eo.split import region_split
    from eotrust.ml.evaluate import evaluate_dataset
    from eotrust.ml.modeldef import load_model_def
    from eotrust.ml.predict import predict_raster
    from eotrust.ml.train import train

    cube, labels = prepare_patch(work)
    grid = raster_info(cube).grid
    ds_path, ckpt = work / "unc.zip", work / "unc.pt"
    build_dataset(cube, labels, ds_path, tile_size=10, split=region_split(grid, 10, held_out, labels=labels, seed=seed))
    with TrainingDataset(ds_path) as ds:
        train(ds, load_model_def("temporal_cnn").with_training(seed=seed), ckpt, threads=threads)
    metrics = evaluate_dataset(ckpt, ds_path, split="test")
    cal = metrics.calibration
    assert cal is not None
    result = predict_raster(ckpt, cube, work / "unc-classes.tif", confidence=work / "unc-conf.tif")
    with (
        rasterio.open(work / "unc-classes.tif") as c,
        rasterio.open(work / "unc-conf.tif") as u,
        rasterio.open(labels) as r,
    ):
        pred, conf, ref = c.read(1), u.read(1), r.read(1)
    keep = ref > 0
    wrong = keep & (pred != ref)
    right = keep & (pred == ref)
    low = keep & (conf < 0.6)
    print(
        f"  default model trained on the {'west' if held_out == 'east' else 'other'} half, scored on the {held_out} half: "
        f"accuracy {metrics.pixel_accuracy:.3f}, ECE {cal.ece:.3f} (mean confidence {cal.mean_confidence:.3f})"
    )
    print(
        f"  whole patch: mean confidence of right pixels {conf[right].mean():.3f}, of wrong pixels {conf[wrong].mean():.3f}; "
        f"accuracy where confidence >= 0.6: {(pred == ref)[keep & ~low].mean():.3f} "
        f"({(keep & ~low).sum()} px), below: {(pred == ref)[low].mean() if low.any() else float('nan'):.3f} ({low.sum()} px)"
    )
    if figures is not None:
        from eotrust.ml.figures import confidence_figure, reliability_figure

        confidence_figure(
            work / "unc-classes.tif",
            work / "unc-conf.tif",
            figures / "confidence-map.png",
            reference=labels,
            title="temporal_cnn trained on the west half only (east half never seen)",
        )
        reliability_figure(cal, figures / "reliability.png", title=f"{held_out} half (never seen)")
        print(f"  figures: {figures / 'confidence-map.png'}, {figures / 'reliability.png'}")
    return {
        "accuracy": metrics.pixel_accuracy,
        "ece": cal.ece,
        "mean_confidence": cal.mean_confidence,
        "conf_right": float(conf[right].mean()),
        "conf_wrong": float(conf[wrong].mean()),
        "mean_confidence_map": result.mean_confidence,
    }


# -- 1d. active learning: uncertainty vs random sampling --------------------------------------

AL_LABEL_SHARE_TARGET = 0.60


class _CurveSettings(TypedDict):
    """The keyword arguments of :func:`_al_curve` that every learning curve shares."""

    start: int
    batch: int
    rounds: int
    threads: int
    min_distance: float


def _al_curve(
    work: Path,
    cube: Path,
    labels: Path,
    pool: np.ndarray,
    test_xy: tuple[np.ndarray, np.ndarray],
    strategy: Strategy,
    *,
    start: int,
    batch: int,
    rounds: int,
    seed: int,
    threads: int,
    min_distance: float,
) -> list[tuple[int, float]]:
    """One learning curve through the real path: suggest → GeoJSON → labels from the reference
    (the oracle) → import → dataset → train (warm start) → accuracy on the held-out region."""
    import json as _json

    import numpy as np
    import rasterio
    import torch

    from eotrust.eo.dataset import TrainingDataset, build_dataset
    from eotrust.eo.labels import classes_of
    from eotrust.ml.active import import_labels, pick, suggest, write_suggestions
    from eotrust.ml.checkpoint import load_checkpoint
    from eotrust.ml.data import normalise_series
    from eotrust.ml.inference import predict_logits
    from eotrust.ml.modeldef import load_model_def
    from eotrust.ml.train import train

    d = work / f"al-{strategy}-{seed}"
    d.mkdir(exist_ok=True)
    with rasterio.open(labels) as ds:
        ref = ds.read(1)
    declared = classes_of(labels)
    assert declared is not None  # the prepared label raster declares its classes
    present = declared.only(int(c) for c in np.unique(ref) if c)
    xs, ys_codes = test_xy
    # the quick network with the default's inputs and ensemble (its members' disagreement ranks the pool)
    # the quick network as an ensemble of 3 (its members' disagreement ranks the pool), NDVI
    # series only; retrained from scratch every round, 60 epochs of batches of 32 (a warm start
    # with 15 epochs of one batch each left the tiny early rounds undertrained)
    md = load_model_def("temporal_cnn_quick").with_training(seed=seed, patience=0, epochs=60, batch_size=32)
    md = md.model_copy(update={"params": {**md.params, "members": 3}})
    # round 0: the same random start for every strategy
    rng = np.random.default_rng(seed)
    start_score = rng.random(ref.shape)
    picks = pick(start_score, start, min_distance=min_distance, candidates=pool & (ref > 0))
    lab = d / "labels-0.tif"
    curve = []
    total = 0
    for r in range(rounds + 1):
        geo = d / f"labelled-{r}.geojson"
        from eotrust.ml.active import Suggestion

        if r == 0:
            sugg = [Suggestion(i + 1, a, b, 0.0, "", 0.0) for i, (a, b) in enumerate(picks)]
            from eotrust.eo.raster import raster_info

            grid = raster_info(cube).grid
        write_suggestions(sugg, grid, geo, strategy=strategy)
        doc = _json.loads(geo.read_text())
        for f in doc["features"]:  # the oracle labels each suggestion from the reference
            f["properties"]["label"] = int(ref[f["properties"]["row"], f["properties"]["col"]])
        geo.write_text(_json.dumps(doc))
        new_lab = d / f"labels-{r + 1}.tif"
        rep = import_labels(geo, cube, new_lab, classes=present, base=lab if r else None)
        lab = new_lab
        total = rep.total_pixels
        ds_path, ckpt = d / f"ds-{r}.zip", d / f"model-{r}.pt"
        build_dataset(cube, lab, ds_path, tile_size=10, fractions=(1.0, 0.0, 0.0), classes=present, keep_absent=True)
        with TrainingDataset(ds_path) as ds:
            train(ds, md, ckpt, threads=threads)
        model, meta = load_checkpoint(ckpt)
        lut = dict(enumerate(meta["class_codes"]))
        x = torch.from_numpy(
            normalise_series(xs, np.asarray(meta["normalisation"]["mean"]), np.asarray(meta["normalisation"]["std"]))
        )
        pred = predict_logits(model, x, torch.device("cpu")).argmax(1).numpy()
        acc = float((np.vectorize(lut.get)(pred) == ys_codes).mean())
        curve.append((total, acc))
        print(f"    {strategy:<8} round {r}: {total:>4} labels, accuracy {acc:.3f}", flush=True)
        if r < rounds:
            # the next batch: the model's suggestions on the training side (the pool) only
            sugg, grid = suggest(
                ckpt,
                cube,
                batch,
                strategy=strategy,
                min_distance=min_distance,
                labelled=lab,
                seed=seed + r,
                candidates=pool & (ref > 0),
            )
    return curve


def bench_active(
    work: Path,
    seed: int,
    threads: int,
    figures: Path | None,
    *,
    start: int,
    batch: int,
    rounds: int,
    min_distance: float,
    seeds: int = 3,
    held_out: str = "east",
    workers: int = 1,
) -> dict[str, Any]:
    import numpy as np

    from eotrust.eo.dataset import TrainingDataset, build_dataset
    from eotrust.eo.raster import raster_info
    from eotrust.eo.split import region_split

    cube, labels = prepare_patch(work)
    grid = raster_info(cube).grid
    split = region_split(grid, 10, held_out, labels=labels, seed=seed)
    where = split.window_split(grid.full_window())
    pool = (where == 0) | (where == 1)
    ds_path = work / "al-test.zip"
    build_dataset(cube, labels, ds_path, tile_size=10, split=split)
    with TrainingDataset(ds_path) as ds:
        xs, ys = ds.pixels("test")
        codes = np.asarray([c.code for c in ds.manifest.classes])
    test_xy = (xs, codes[ys])
    print(
        f"  pool: {int(pool.sum())} pixels of the training side; test: the {held_out} half ({len(ys)} labelled pixels); "
        f"start {start} random labels, +{batch} per round, {rounds} rounds, suggestions >= {min_distance:g} px apart"
    )
    runs: dict[str, list[list[tuple[int, float]]]] = {"random": [], "margin": []}
    from concurrent.futures import ProcessPoolExecutor

    jobs: list[tuple[int, Strategy]] = [(k, strategy) for k in range(seeds) for strategy in ("random", "margin")]
    common: _CurveSettings = {
        "start": start,
        "batch": batch,
        "rounds": rounds,
        "threads": threads,
        "min_distance": min_distance,
    }
    with ProcessPoolExecutor(max_workers=max(1, workers)) as ex:
        futures = [
            ex.submit(_al_curve, work, cube, labels, pool, test_xy, strategy, seed=seed + 100 * k, **common)
            for k, strategy in jobs
        ]
        for (_, strategy), f in zip(jobs, futures):
            runs[strategy].append(f.result())
    # mean over seeds, round by round (every round adds the same number of labels)
    curves = {
        s: [(int(np.mean([r[i][0] for r in rs])), float(np.mean([r[i][1] for r in rs]))) for i in range(rounds + 1)]
        for s, rs in runs.items()
    }
    print(f"  mean over {seeds} seed(s):")
    final = curves["random"][-1]
    reach = next(((n, a) for n, a in curves["margin"] if a >= final[1]), None)
    share = reach[0] / final[0] if reach else float("inf")
    # "reaches random's final accuracy" means something only where random sampling's labels
    # helped: a random curve that ends no higher than it started is met by the start alone
    informative = final[1] > curves["random"][0][1]
    print(f"  {'labels':>8}" + "".join(f"{n:>8}" for n, _ in curves["random"]))
    for s, c in curves.items():
        print(f"  {s:>8}" + "".join(f"{a:>8.3f}" for _, a in c))
    if not informative:
        print(
            f"  random sampling ends no higher than it started ({final[1]:.3f} with {final[0]} labels, "
            f"{curves['random'][0][1]:.3f} with {curves['random'][0][0]}): on this split the comparison shows nothing"
        )
    elif reach:
        print(
            f"  uncertainty sampling reaches random sampling's final accuracy ({final[1]:.3f} with {final[0]} labels) "
            f"with {reach[0]} labels: {100 * share:.0f} % of random's labels"
        )
    else:
        print(
            f"  uncertainty sampling never reaches random sampling's final accuracy ({final[1]:.3f} with {final[0]} labels)"
        )
    if figures is not None:
        from eotrust.ml.figures import learning_curve_figure

        learning_curve_figure(
            {"uncertainty sampling (margin, min distance)": curves["margin"], "random sampling": curves["random"]},
            figures / "learning-curve.png",
            title=f"active learning, mean of {seeds} seeds: pool = {OTHER_HALF[held_out]} half, test = {held_out} half",
        )
        print(f"  figure: {figures / 'learning-curve.png'}")
    return {
        "curves": curves,
        "runs": runs,
        "random_final": final,
        "margin_reach": reach,
        "label_share": share,
        "informative": informative,
        "held_out": held_out,
    }


# -- 2. tiling a full-size scene ---------------------------------------------------------------


def write_scene(path: Path, size: int, bands: int, block: int = 512) -> float:
    """A tiled, DEFLATE-compressed uint16 scene written block by block; returns seconds."""
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": bands,
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": Affine(10, 0, 399960, 0, -10, 5200020),
        "nodata": 0,
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "compress": "deflate",
        "zlevel": 1,
        "interleave": "pixel",
        "bigtiff": "yes",
        "num_threads": "all_cpus",
    }
    rng = np.random.default_rng(0)
    pattern = rng.integers(0, 16, (bands, block, block), dtype=np.uint16)  # texture shared by blocks
    t0 = time.perf_counter()
    with rasterio.open(path, "w", **profile) as ds:
        for row in range(0, size, block):
            for col in range(0, size, block):
                h, w = min(block, size - row), min(block, size - col)
                base = rng.integers(500, 4000, (bands, 1, 1), dtype=np.uint16)  # random level per block and band
                ds.write(pattern[:, :h, :w] + base, window=Window(col, row, w, h))
    return time.perf_counter() - t0


def probe(mode: str, path: str, size: int, overlap: int) -> None:
    """Runs in a fresh process: read the scene, print seconds, pixels and peak memory."""
    import numpy as np
    import rasterio

    t0 = time.perf_counter()
    pixels = 0
    tiles = 0
    checksum = 0
    if mode == "tiles":
        from eotrust.eo.tiles import iter_tiles

        for tile, data in iter_tiles(Path(path), size, overlap, skip_empty=True):
            tiles += 1
            pixels += tile.size * tile.size
            checksum += int(data[:, ::64, ::64].sum())
    else:
        from eotrust.eo.raster import block_cache_bytes

        with (
            rasterio.open(path) as ds,
            rasterio.Env(GDAL_CACHEMAX=block_cache_bytes(ds)),
        ):  # the same cache as eotrust's
            for _, win in ds.block_windows(1):
                data = ds.read(window=win)
                tiles += 1
                pixels += int(win.width * win.height)
                checksum += int(data[:, ::64, ::64].sum())
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(
        json.dumps(
            {
                "seconds": seconds,
                "pixels": pixels,
                "tiles": tiles,
                "peak_rss": peak,
                "checksum": checksum,
                "numpy": np.__version__,
            }
        )
    )


def run_probe(mode: str, path: Path, size: int, overlap: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--probe", mode, str(path), str(size), str(overlap)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def bench_tiling(work: Path, size: int, bands: int, tile: int, overlap: int) -> dict[str, Any]:
    scene = work / "scene.tif"
    write_s = write_scene(scene, size, bands)
    raw_gib = size * size * bands * 2 / 2**30
    print(
        f"  scene: {size} x {size} x {bands} uint16 ({raw_gib:.2f} GiB uncompressed, "
        f"{scene.stat().st_size / 2**20:.0f} MiB on disk), written in {write_s:.1f} s"
    )
    ref = run_probe("blocks", scene, tile, overlap)
    got = run_probe("tiles", scene, tile, overlap)
    mp = size * size / 1e6
    ref_mps, got_mps = mp / ref["seconds"], mp / got["seconds"]
    print(f"  {'':<36}{'scene Mpx/s':>12}{'peak memory':>14}{'windows':>9}")
    print(f"  {'reference: plain block read':<36}{ref_mps:>12.1f}{ref['peak_rss'] / 2**20:>10.0f} MiB{ref['tiles']:>9}")
    print(
        f"  {f'eotrust tiles {tile} px, overlap {overlap}':<36}{got_mps:>12.1f}{got['peak_rss'] / 2**20:>10.0f} MiB{got['tiles']:>9}"
    )
    print(
        f"  tiling / plain read: {got_mps / ref_mps:.2f} (tiles read {got['pixels'] / (size * size):.2f}x the scene's pixels, "
        f"the overlap)"
    )
    scene.unlink()
    return {
        "scene_megapixels": mp,
        "bands": bands,
        "reference_mpx_per_s": ref_mps,
        "tiling_mpx_per_s": got_mps,
        "ratio": got_mps / ref_mps,
        "tiling_peak_rss_gib": got["peak_rss"] / 2**30,
        "reference_peak_rss_gib": ref["peak_rss"] / 2**30,
        "tiles": got["tiles"],
        "write_seconds": write_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", nargs=4, metavar=("MODE", "PATH", "SIZE", "OVERLAP"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help="split and training seed")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for training (the trainer's default for pixel models)"
    )
    parser.add_argument("--scene", type=int, default=10980, help="synthetic scene side in pixels")
    parser.add_argument("--bands", type=int, default=13)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument(
        "--only",
        default="accuracy,transfer,uncertainty,active,tiling",
        help="comma-separated parts: accuracy, transfer, uncertainty, active, tiling; and select (slow, not by default)",
    )
    parser.add_argument(
        "--models",
        default="rf,lgbm,temporal_cnn,temporal_cnn_quick,enet",
        help="transfer comparison: rf, lgbm (NDVI), rf_all, lgbm_all (every band of the cube) and eotrust "
        "model definitions (built-in names or files)",
    )
    parser.add_argument("--kfold", type=int, default=4, help="spatial k-fold folds (0: halves only)")
    parser.add_argument("--regions", default=",".join(REGIONS), help="transfer: the halves held out (one run each)")
    parser.add_argument("--kfold-only", action="store_true", help="transfer: skip the halves, run the k-fold only")
    parser.add_argument(
        "--net-seeds",
        type=int,
        default=3,
        help="transfer: train each network this many times (seeds --seed, --seed + 1, ...); its row is the mean",
    )
    parser.add_argument(
        "--extra-bands",
        default="",
        help="transfer: bands added to the cube, comma-separated: dem, slope (static), ndvi_meanK (each pixel's "
        "K x K neighbourhood mean NDVI per date)",
    )
    parser.add_argument("--enet-epochs", type=int, default=15, help="ENet epochs in the transfer comparison (CPU time)")
    parser.add_argument(
        "--select",
        default="ndvi,noweight,jitter,noweight-jitter",
        help=f"select: candidate defaults ({', '.join(SELECT_CANDIDATES)})",
    )
    parser.add_argument("--select-epochs", type=int, default=20, help="select: epochs per candidate (CPU time)")
    parser.add_argument("--select-folds", type=int, default=3, help="select: inner spatial folds per training side")
    parser.add_argument("--select-seeds", type=int, default=2, help="select: seeds per candidate and inner fold")
    parser.add_argument("--select-regions", default="east,west,south,north", help="select: outer halves held out")
    parser.add_argument("--al-start", type=int, default=20)
    parser.add_argument("--al-batch", type=int, default=20)
    parser.add_argument("--al-rounds", type=int, default=8)
    parser.add_argument("--al-min-distance", type=float, default=1.5)
    parser.add_argument("--al-seeds", type=int, default=3, help="learning curves averaged over this many seeds")
    parser.add_argument("--al-workers", type=int, default=1, help="learning curves computed in parallel processes")
    parser.add_argument(
        "--al-held-out",
        choices=REGIONS,
        default="east",
        help="active learning: the half held out for testing (the pool is the other half); the settings were "
        "chosen on east, so the others check them on ground they were not tuned on",
    )
    parser.add_argument(
        "--figures", type=Path, default=None, help="write the PNG figures into this folder (docs/images)"
    )
    args = parser.parse_args()
    extra = tuple(b.strip() for b in args.extra_bands.split(",") if b.strip())
    bad = [b for b in extra if b not in ("dem", "slope") and not re.fullmatch(r"ndvi_mean[1-9][0-9]?", b)]
    if not 1 <= args.net_seeds <= 100:
        parser.error("--net-seeds: give 1 to 100")
    if bad:
        parser.error(f"--extra-bands: {', '.join(bad)}: give dem, slope or ndvi_meanK (K from 1 to 99)")
    if args.probe:
        mode, path, size, overlap = args.probe
        probe(mode, path, int(size), int(overlap))
        return 0

    (HERE / "out").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="eo-", dir=HERE / "out"))
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    figures = args.figures
    if figures is not None:
        figures.mkdir(parents=True, exist_ok=True)
    try:
        import torch

        torch.set_num_threads(args.threads)
        checks: dict[str, bool] = {}
        report: dict[str, Any] = {"cpu_count": os.cpu_count(), "threads": args.threads, "seed": args.seed}
        if "accuracy" in parts:
            print("== land-cover accuracy on the real Slovenian patch (held-out blocks)")
            acc = bench_accuracy(work, args.seed, args.threads)
            print("== training throughput")
            raw = bench_raw_training(args.threads)
            print(
                f"  trainer {acc['train_samples_per_second']:.0f} samples/s (with validation each epoch: "
                f"{acc['train_samples'] * acc['epochs'] / acc['train_seconds']:.0f}); bare PyTorch loop of the same "
                f"network {raw:.0f} samples/s; ratio {acc['train_samples_per_second'] / raw:.2f}"
            )
            checks.update(
                {
                    f"pixel accuracy {acc['pixel_accuracy']:.3f} >= {ACC_TARGET}": acc["pixel_accuracy"] >= ACC_TARGET,
                    f"mean IoU {acc['mean_iou']:.3f} >= {MIOU_TARGET}": acc["mean_iou"] >= MIOU_TARGET,
                    f"training {acc['train_seconds']:.1f} s < {TRAIN_S_TARGET:.0f} s": acc["train_seconds"]
                    < TRAIN_S_TARGET,
                }
            )
            report.update({"accuracy": acc, "training_reference_samples_per_second": raw})
        if "transfer" in parts:
            print("== transfer to ground never seen: the patch's halves and a spatial k-fold")
            transfer = bench_transfer(
                work,
                args.seed,
                args.threads,
                [m.strip() for m in args.models.split(",") if m.strip()],
                args.kfold,
                args.enet_epochs,
                regions=not args.kfold_only,
                held_out=tuple(r.strip() for r in args.regions.split(",") if r.strip()),
                extra=extra,
                net_seeds=args.net_seeds,
            )
            if "region" in transfer and len(transfer["region"]["folds"]) == len(REGIONS):
                checks.update(transfer_checks(transfer))
            report["transfer"] = transfer
        if "select" in parts:
            print("== choosing the default model by spatial CV on the training side only (nested in the halves)")
            report["select"] = bench_select(
                work,
                args.seed,
                args.threads,
                [c.strip() for c in args.select.split(",") if c.strip()],
                args.select_epochs,
                [r.strip() for r in args.select_regions.split(",") if r.strip()],
                args.select_folds,
                args.select_seeds,
            )
        if "uncertainty" in parts:
            print("== uncertainty: calibration and confidence on the unseen half")
            report["uncertainty"] = bench_uncertainty(work, args.seed, args.threads, figures)
        if "active" in parts:
            print("== active learning: uncertainty vs random sampling (learning curve on the transfer split)")
            al = bench_active(
                work,
                args.seed,
                args.threads,
                figures,
                start=args.al_start,
                batch=args.al_batch,
                rounds=args.al_rounds,
                min_distance=args.al_min_distance,
                seeds=args.al_seeds,
                held_out=args.al_held_out,
                workers=args.al_workers,
            )
            checks[
                f"active learning reaches random's final accuracy with {100 * al['label_share']:.0f} % of its labels "
                f"(<= {100 * AL_LABEL_SHARE_TARGET:.0f} %; {al['held_out']} half held out"
                + ("" if al["informative"] else "; random sampling's labels did not help: not shown")
                + ")"
            ] = al["informative"] and al["label_share"] <= AL_LABEL_SHARE_TARGET
            report["active"] = al
        if "tiling" in parts:
            print("== tiling a full-size Sentinel-2 scene")
            tiling = bench_tiling(work, args.scene, args.bands, args.tile, args.overlap)
            checks[f"tiling peak memory {tiling['tiling_peak_rss_gib']:.2f} GiB < {MEM_TARGET_GIB} GiB"] = (
                tiling["tiling_peak_rss_gib"] < MEM_TARGET_GIB
            )
            report["tiling"] = tiling
        print("== targets")
        for text, ok in checks.items():
            print(f"  {'PASS' if ok else 'FAIL'}  {text}")
        report["targets_met"] = all(checks.values())
        (HERE / "out" / "eo.json").write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {HERE / 'out' / 'eo.json'}")
        return 0 if all(checks.values()) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
