"""Training benchmark: data-parallel training (PyTorch DDP) with 1 and 2 ranks side by side.

The real Slovenian sample (68 Sentinel-2 NDVI dates, cloud masks, reference labels) is
prepared and cut into a training dataset (10 px blocks), then the temporal classifier
(built-in ``temporal_cnn``) is trained with the same definition and seed three ways:

- 1 rank, in this process (the reference);
- N ranks as local processes (``eotrust train --workers N``: gloo on CPU, NCCL on CUDA);
- with ``--dask``: one rank per worker of a Dask cluster of N workers started here.

Each line prints training samples per second (all ranks together, over the epochs'
training time), the wall time including start-up, and test-split pixel accuracy; the last
line the N-rank / 1-rank throughput ratio. Each rank uses ``--threads`` torch threads
(default 1), so 2 ranks use 2 cores where 1 rank uses 1. Not a timed test: the figures
depend on the machine and its load.

Run: ``.venv/bin/python benchmarks/training.py [--ranks 2] [--epochs 10] [--dask] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "slovenia-s2-ndvi"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import scratch_dir  # noqa: E402

if TYPE_CHECKING:
    from distributed import Client

    from eotrust.ml.train import TrainResult
    from eotrust.workflow.executors.process_cluster import ProcessCluster


def prepare(work: Path, seed: int) -> Path:
    from eotrust.ml import landcover

    cube, labels, dataset = work / "cube.tif", work / "labels.tif", work / "dataset.zip"
    landcover.prepare(
        {"ndvi": SAMPLE / "ndvi.tif", "cloud_mask": SAMPLE / "cloud_mask.tif", "lulc": SAMPLE / "lulc.tif"},
        {"cube": cube, "labels": labels},
        {},
    )
    landcover.dataset({"cube": cube, "labels": labels}, {"dataset": dataset}, {"tile_size": 10, "seed": seed})
    return dataset


def start_dask(work: Path, workers: int) -> tuple[ProcessCluster, Client]:
    """A scheduler and ``workers`` worker processes on loopback, each with torch and eotrust
    imported before the timing starts."""
    from eotrust.workflow.executors.process_cluster import ProcessCluster

    cluster = ProcessCluster(work, workers, pythonpath=[ROOT / "src"])
    try:
        client = cluster.client(timeout_s=120)
    except BaseException:
        cluster.stop()
        raise
    client.run(lambda: __import__("eotrust.ml.launch") and None)
    return cluster, client


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    ap.add_argument("--model-def", default="temporal_cnn")
    ap.add_argument("--dask", action="store_true", help="also one rank per worker of a local Dask cluster")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when present)")
    args = ap.parse_args()

    import torch

    from eotrust.eo.dataset import TrainingDataset
    from eotrust.ml.evaluate import evaluate_dataset
    from eotrust.ml.launch import train_local, train_on_dask
    from eotrust.ml.modeldef import load_model_def
    from eotrust.ml.train import train

    work = scratch_dir("training-")
    dataset = prepare(work, args.seed)
    md = load_model_def(args.model_def).with_training(epochs=args.epochs, seed=args.seed, patience=0)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(
        f"training benchmark: {args.model_def}, {args.epochs} epochs, seed {args.seed}, {args.threads} torch thread(s) "
        f"per rank, {device}, {os.cpu_count()} cores (load {os.getloadavg()[0]:.1f})"
    )
    rows: list[tuple[str, float]] = []

    def row(name: str, path: Path, result: TrainResult, wall: float) -> None:
        acc = evaluate_dataset(path, dataset, split="test", device=device).pixel_accuracy
        rows.append((name, result.samples_per_second))
        print(
            f"  {name:<24} {result.samples_per_second:>9.0f} samples/s   {result.seconds:>6.1f} s training, "
            f"{wall:>6.1f} s wall   test accuracy {acc:.3f}",
            flush=True,
        )

    t0 = time.perf_counter()
    with TrainingDataset(dataset) as ds:
        one = train(ds, md, work / "one.pt", threads=args.threads, device=device)
    row("1 rank (in process)", work / "one.pt", one, time.perf_counter() - t0)

    t0 = time.perf_counter()
    many = train_local(dataset, md, work / "local.pt", workers=args.ranks, threads=args.threads, device=device)
    row(f"{args.ranks} ranks (local)", work / "local.pt", many, time.perf_counter() - t0)

    if args.dask:
        cluster, client = start_dask(work, args.ranks)
        try:
            t0 = time.perf_counter()
            on_dask = train_on_dask(client, dataset, md, work / "dask.pt", threads=args.threads)
            row(f"{args.ranks} ranks (Dask workers)", work / "dask.pt", on_dask, time.perf_counter() - t0)
        finally:
            client.close()  # type: ignore[no-untyped-call]  # distributed's Client.close is unannotated
            cluster.stop()

    for name, rate in rows[1:]:
        print(f"{name} / 1 rank samples/s ratio {rate / rows[0][1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
