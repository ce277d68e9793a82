"""CUDA benchmark: training and scoring on a GPU beside the same work on the same machine's CPU.

1. **Training.** The temporal classifier (built-in ``temporal_cnn``) trained on the real
   Slovenian patch, prepared as ``benchmarks/training.py`` prepares it, same definition and
   seed, once on the CPU (every core as a torch thread: the reference) and once on the GPU
   (``eotrust train --device cuda``): samples per second, wall time and test-split pixel
   accuracy each, then the GPU / CPU throughput ratio.
2. **Scoring.** ENet at 512 x 512, trained and packaged as ``benchmarks/scoring.py`` does.
   Reference: the package's float32 graph in onnxruntime on the CPU (every core), batch 1.
   On the GPU, whole frames: a uint16 tile copied in, normalised, scored, ``argmax``, the class
   map copied back (what scoring a frame costs end to end): PyTorch eager float32; bfloat16
   autocast; bfloat16 with channels-last memory; the same replayed as one CUDA graph; and a
   batch of ``--batch`` frames in bfloat16. Frames per second, the ratio to the reference,
   and each variant's class-map agreement with the float32 CPU model on held-out tiles.

Not a timed test: the figures depend on the machine. ``--device cpu`` runs every step on the
CPU instead (a dry run of this script where no GPU is present; its ratios mean nothing).

    python benchmarks/cuda.py [--epochs 10] [--seconds 3] [--batch 16] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scoring import build_packages, rate, synthetic_tiles  # noqa: E402
from training import prepare  # noqa: E402


def bench_training(work: Path, device: str, epochs: int, seed: int) -> dict[str, Any]:
    from eotrust.eo.dataset import TrainingDataset
    from eotrust.ml.evaluate import evaluate_dataset
    from eotrust.ml.modeldef import load_model_def
    from eotrust.ml.train import train

    cores = len(os.sched_getaffinity(0))
    dataset = prepare(work, seed)
    md = load_model_def("temporal_cnn").with_training(epochs=epochs, seed=seed, patience=0)
    print(f"\n== Training: temporal_cnn on the Slovenian patch, {epochs} epochs, seed {seed}")
    out: dict[str, Any] = {}
    for name, dev, threads in (("reference", "cpu", cores), ("device", device, 1)):
        t0 = time.perf_counter()
        with TrainingDataset(dataset) as ds:
            result = train(ds, md, work / f"{name}.pt", device=dev, threads=threads)
        wall = time.perf_counter() - t0
        acc = evaluate_dataset(work / f"{name}.pt", dataset, split="test", device=dev).pixel_accuracy
        out[name] = {"samples_per_s": result.samples_per_second, "train_s": result.seconds, "wall_s": wall, "acc": acc}
        label = f"CPU, {cores} threads" if name == "reference" else f"{dev}"
        print(
            f"  {label:<22} {result.samples_per_second:>10.0f} samples/s   {result.seconds:>6.1f} s training, "
            f"{wall:>6.1f} s wall   test accuracy {acc:.3f}",
            flush=True,
        )
    out["ratio"] = out["device"]["samples_per_s"] / out["reference"]["samples_per_s"]
    print(f"  {device} / CPU samples/s ratio {out['ratio']:.2f}")
    return out


def bench_scoring(work: Path, device: str, seconds: float, batch: int, steps: int) -> dict[str, Any]:
    from eotrust.ml.scoring.batch import Scorer

    cores = len(os.sched_getaffinity(0))
    float_pkg, _int8_pkg, model, _acc = build_packages(work, "auto", steps)
    scorer = Scorer.from_file(float_pkg, threads=cores)
    print(f"\n== Scoring: ENet 512x512, 13 bands; reference onnxruntime float32 on {cores} CPU threads, batch 1")
    frame = np.random.default_rng(0).integers(1, 8000, (1, 13, 512, 512)).astype(np.uint16)
    frames = np.repeat(frame, batch, axis=0)
    ref_fps, _, _ = rate(lambda: scorer.classify(frame), seconds)
    print(f"  {'onnxruntime CPU float32':<36} {ref_fps:>8.1f} FPS")

    mean, std = 2000.0, 1200.0
    eval_x, _ = synthetic_tiles(4, 512, seed=3)
    with torch.inference_mode():
        cpu_maps = model.float().cpu()(torch.from_numpy((eval_x.astype(np.float32) - mean) / std)).argmax(1).numpy()
    dev = torch.device(device)
    gpu_model = model.to(dev).eval()
    cl_model = type(model)(13, 13).to(dev)
    # channels-last weights; torch's stubs lack Module.to's memory_format overload
    cl_model = cl_model.to(memory_format=torch.channels_last).eval()  # type: ignore[call-overload]
    cl_model.load_state_dict(gpu_model.state_dict())

    def score(x: np.ndarray, dtype: torch.dtype | None, channels_last: bool) -> torch.Tensor:
        t = _to_float(torch.from_numpy(x.view(np.int16)).to(dev, non_blocking=True))
        t = (t - mean) / std
        if channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        m = cl_model if channels_last else gpu_model
        with torch.inference_mode(), torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits: torch.Tensor = m(t)
            return logits.argmax(1).to("cpu", torch.uint8)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    variants: dict[str, tuple[Callable[[np.ndarray], torch.Tensor], int]] = {
        "eager float32": (lambda x: score(x, None, False), 1),
        "eager bfloat16 autocast": (lambda x: score(x, torch.bfloat16, False), 1),
        "bfloat16 channels-last": (lambda x: score(x, torch.bfloat16, True), 1),
        f"bfloat16 channels-last, batch {batch}": (lambda x: score(x, torch.bfloat16, True), batch),
    }
    if dev.type == "cuda":
        variants["bfloat16 channels-last, CUDA graph"] = (_graphed(cl_model, dev, mean, std), 1)
    out: dict[str, Any] = {"reference_fps": ref_fps, "variants": {}}
    for name, (fn, n) in variants.items():
        x = frame if n == 1 else frames

        def step(fn: Callable[[np.ndarray], torch.Tensor] = fn, x: np.ndarray = x) -> None:
            fn(x)
            sync()

        calls, _, _ = rate(step, seconds)
        fps = calls * n
        maps = np.concatenate([fn(eval_x[i : i + 1]).numpy() for i in range(len(eval_x))])
        agree = float((maps == cpu_maps).mean())
        out["variants"][name] = {"fps": fps, "ratio": fps / ref_fps, "agreement": agree}
        print(f"  {device + ' ' + name:<36} {fps:>8.1f} FPS   {fps / ref_fps:>6.1f}x   class maps agree {agree:.4%}")
    return out


def _to_float(bits: torch.Tensor) -> torch.Tensor:
    """uint16 pixels carried as int16 bits (torch's uint16 has few kernels) back to their values."""
    return (bits.int() & 0xFFFF).float()


def _graphed(
    model: torch.nn.Module, dev: torch.device, mean: float, std: float
) -> Callable[[np.ndarray], torch.Tensor]:
    """One 512 x 512 frame's scoring captured as a CUDA graph: copy in, normalise, bfloat16
    forward, argmax; each call copies the frame into the graph's input and replays it."""
    static_in = torch.zeros((1, 13, 512, 512), dtype=torch.int16, device=dev)
    pinned = torch.empty((1, 13, 512, 512), dtype=torch.int16).pin_memory()

    def forward() -> torch.Tensor:
        t = ((_to_float(static_in) - mean) / std).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):  # no cast cache in a capture
            logits: torch.Tensor = model(t)
            return logits.argmax(1).to(torch.uint8)

    stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]  # unannotated in torch
    stream.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), torch.cuda.stream(stream):
        for _ in range(3):
            forward()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        static_out = forward()

    def run(x: np.ndarray) -> torch.Tensor:
        pinned.copy_(torch.from_numpy(x.view(np.int16)))
        static_in.copy_(pinned, non_blocking=True)
        graph.replay()
        return static_out.to("cpu")

    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), or cpu for a dry run")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=3.0, help="time per scoring measurement")
    ap.add_argument("--batch", type=int, default=16, help="frames per batch in the batched variant")
    ap.add_argument("--train-steps", type=int, default=200, help="training steps of the benchmark's ENet")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: nothing measured (--device cpu runs a dry run)")
        return 0
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "none (dry run)"
    print(
        f"CUDA benchmark: GPU {name}, torch {torch.__version__}, {len(os.sched_getaffinity(0))} CPU cores "
        f"(load {os.getloadavg()[0]:.1f})"
    )
    (HERE / "out").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cuda-", dir=HERE / "out"))
    try:
        report = {
            "gpu": name,
            "torch": torch.__version__,
            "cpu_cores": len(os.sched_getaffinity(0)),
            "training": bench_training(work, args.device, args.epochs, args.seed),
            "scoring": bench_scoring(work, args.device, args.seconds, args.batch, args.train_steps),
        }
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
