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

Run: ``.venv/bin/python benchmarks/eo.py`` (about 3-5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLE = REPO / "src" / "eotrust" / "data" / "slovenia-s2-ndvi"

ACC_TARGET, MIOU_TARGET, TRAIN_S_TARGET, MEM_TARGET_GIB = 0.90, 0.55, 120.0, 2.0


# -- 1. accuracy on the real patch ----------------------------------------------------------

def bench_accuracy(work: Path, seed: int, threads: int) -> dict:
    import numpy as np

    from eotrust.eo.dataset import TrainingDataset
    from eotrust.ml import landcover
    from eotrust.ml.evaluate import confusion_matrix, evaluate_dataset, metrics_from_confusion
    from eotrust.ml.modeldef import load_model_def
    from eotrust.ml.train import train

    cube, labels, ds_path, model = work / "cube.tif", work / "labels.tif", work / "dataset.zip", work / "model.pt"
    t0 = time.perf_counter()
    landcover.prepare({"ndvi": SAMPLE / "ndvi.tif", "cloud_mask": SAMPLE / "cloud_mask.tif", "lulc": SAMPLE / "lulc.tif"},
                      {"cube": cube, "labels": labels}, {})
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
    print(f"  data: {sum(counts['train'].values())} train / {sum(counts['val'].values())} val / "
          f"{sum(counts['test'].values())} test pixels (10 px blocks, stratified), prepared in {prep_s:.1f} s")
    print(f"  training: {result.epochs_run} epochs (best {result.best_epoch}{', stopped early' if result.stopped_early else ''}) "
          f"in {result.seconds:.1f} s, {result.samples_per_second:.0f} samples/s, {threads} torch thread(s)")
    print(f"  {'':<28}{'pixel accuracy':>16}{'mean IoU':>10}")
    print(f"  {'majority class (' + base.majority_class + ')':<28}{base.pixel_accuracy:>16.3f}{base.mean_iou:>10.3f}")
    print(f"  {'temporal classifier':<28}{metrics.pixel_accuracy:>16.3f}{metrics.mean_iou:>10.3f}")
    for c in metrics.per_class:
        if c.support:
            print(f"    {c.name:<24} IoU {c.iou:.3f}  F1 {c.f1:.3f}  ({c.support} px)")
    return {"pixel_accuracy": metrics.pixel_accuracy, "mean_iou": metrics.mean_iou,
            "majority_pixel_accuracy": base.pixel_accuracy, "majority_mean_iou": base.mean_iou,
            "per_class_iou": {c.name: c.iou for c in metrics.per_class if c.support},
            "train_seconds": result.seconds, "epochs": result.epochs_run,
            "train_samples_per_second": result.samples_per_second, "train_samples": result.train_samples,
            "seed": seed, "threads": threads}


def bench_raw_training(threads: int, t: int = 68, batch: int = 256, steps: int = 60) -> float:
    """Samples per second of a bare forward/backward/step loop of the same network."""
    import torch

    from eotrust.ml.modeldef import load_model_def
    from eotrust.ml.models import build_model

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        md = load_model_def("temporal_cnn")
        model = build_model(md.architecture, 1, 4, md.params)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x, y = torch.randn(batch, 1, t), torch.randint(0, 4, (batch,))
        for _ in range(5):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        t0 = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        return steps * batch / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(previous)


# -- 2. tiling a full-size scene ---------------------------------------------------------------

def write_scene(path: Path, size: int, bands: int, block: int = 512) -> float:
    """A tiled, DEFLATE-compressed uint16 scene written block by block; returns seconds."""
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    profile = {"driver": "GTiff", "width": size, "height": size, "count": bands, "dtype": "uint16",
               "crs": "EPSG:32633", "transform": Affine(10, 0, 399960, 0, -10, 5200020), "nodata": 0,
               "tiled": True, "blockxsize": block, "blockysize": block, "compress": "deflate", "zlevel": 1,
               "interleave": "pixel", "bigtiff": "yes", "num_threads": "all_cpus"}
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

        with rasterio.open(path) as ds, rasterio.Env(GDAL_CACHEMAX=block_cache_bytes(ds)):  # the same cache as eotrust's
            for _, win in ds.block_windows(1):
                data = ds.read(window=win)
                tiles += 1
                pixels += int(win.width * win.height)
                checksum += int(data[:, ::64, ::64].sum())
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(json.dumps({"seconds": seconds, "pixels": pixels, "tiles": tiles, "peak_rss": peak, "checksum": checksum,
                      "numpy": np.__version__}))


def run_probe(mode: str, path: Path, size: int, overlap: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--probe", mode, str(path), str(size), str(overlap)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_tiling(work: Path, size: int, bands: int, tile: int, overlap: int) -> dict:
    scene = work / "scene.tif"
    write_s = write_scene(scene, size, bands)
    raw_gib = size * size * bands * 2 / 2**30
    print(f"  scene: {size} x {size} x {bands} uint16 ({raw_gib:.2f} GiB uncompressed, "
          f"{scene.stat().st_size / 2**20:.0f} MiB on disk), written in {write_s:.1f} s")
    ref = run_probe("blocks", scene, tile, overlap)
    got = run_probe("tiles", scene, tile, overlap)
    mp = size * size / 1e6
    ref_mps, got_mps = mp / ref["seconds"], mp / got["seconds"]
    print(f"  {'':<36}{'scene Mpx/s':>12}{'peak memory':>14}{'windows':>9}")
    print(f"  {'reference: plain block read':<36}{ref_mps:>12.1f}{ref['peak_rss'] / 2**20:>10.0f} MiB{ref['tiles']:>9}")
    print(f"  {f'eotrust tiles {tile} px, overlap {overlap}':<36}{got_mps:>12.1f}{got['peak_rss'] / 2**20:>10.0f} MiB{got['tiles']:>9}")
    print(f"  tiling / plain read: {got_mps / ref_mps:.2f} (tiles read {got['pixels'] / (size * size):.2f}x the scene's pixels, "
          f"the overlap)")
    scene.unlink()
    return {"scene_megapixels": mp, "bands": bands, "reference_mpx_per_s": ref_mps, "tiling_mpx_per_s": got_mps,
            "ratio": got_mps / ref_mps, "tiling_peak_rss_gib": got["peak_rss"] / 2**30,
            "reference_peak_rss_gib": ref["peak_rss"] / 2**30, "tiles": got["tiles"], "write_seconds": write_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", nargs=4, metavar=("MODE", "PATH", "SIZE", "OVERLAP"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help="split and training seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training (the trainer's default for pixel models)")
    parser.add_argument("--scene", type=int, default=10980, help="synthetic scene side in pixels")
    parser.add_argument("--bands", type=int, default=13)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=32)
    args = parser.parse_args()
    if args.probe:
        mode, path, size, overlap = args.probe
        probe(mode, path, int(size), int(overlap))
        return 0

    (HERE / "out").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="eo-", dir=HERE / "out"))
    try:
        print("== land-cover accuracy on the real Slovenian patch (held-out blocks)")
        acc = bench_accuracy(work, args.seed, args.threads)
        print("== training throughput")
        raw = bench_raw_training(args.threads)
        print(f"  trainer {acc['train_samples_per_second']:.0f} samples/s (with validation each epoch: "
              f"{acc['train_samples'] * acc['epochs'] / acc['train_seconds']:.0f}); bare PyTorch loop of the same "
              f"network {raw:.0f} samples/s; ratio {acc['train_samples_per_second'] / raw:.2f}")
        print("== tiling a full-size Sentinel-2 scene")
        tiling = bench_tiling(work, args.scene, args.bands, args.tile, args.overlap)
        checks = {
            f"pixel accuracy {acc['pixel_accuracy']:.3f} >= {ACC_TARGET}": acc["pixel_accuracy"] >= ACC_TARGET,
            f"mean IoU {acc['mean_iou']:.3f} >= {MIOU_TARGET}": acc["mean_iou"] >= MIOU_TARGET,
            f"training {acc['train_seconds']:.1f} s < {TRAIN_S_TARGET:.0f} s": acc["train_seconds"] < TRAIN_S_TARGET,
            f"tiling peak memory {tiling['tiling_peak_rss_gib']:.2f} GiB < {MEM_TARGET_GIB} GiB": tiling["tiling_peak_rss_gib"] < MEM_TARGET_GIB,
        }
        print("== targets")
        for text, ok in checks.items():
            print(f"  {'PASS' if ok else 'FAIL'}  {text}")
        report = {"accuracy": acc, "training_reference_samples_per_second": raw, "tiling": tiling,
                  "cpu_count": os.cpu_count(), "targets_met": all(checks.values())}
        (HERE / "out" / "eo.json").write_text(json.dumps(report, indent=2))
        print(f"wrote {HERE / 'out' / 'eo.json'}")
        return 0 if all(checks.values()) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
