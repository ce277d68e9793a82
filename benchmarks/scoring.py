"""Model scoring: ENet frames per second, float32 and INT8 graphs (onnxruntime) vs PyTorch
eager, INT8 accuracy against float, scene scoring against pure inference, and REST prediction
against in-process scoring. Every figure is printed beside its reference from the same run.

0. **Model.** An ENet-class network (13 bands in, 13 classes, ~0.36 M parameters) trained for
   ``--train-steps`` steps on a synthetic 13-band land-cover task (blobby class maps, each
   class its own spectrum, noise), packaged (float32 graph), then quantised to INT8 (static,
   QDQ, calibrated on training tiles) into a second signed package. Reference for the INT8
   graph's accuracy: the float graph on the same held-out evaluation tiles (target: within
   0.5 point).
1. **FPS.** 512 x 512, batch 1, on ``--threads`` CPU threads (default 2): the float and INT8
   graphs with onnxruntime and PyTorch eager on the same weights, interleaved in rounds, the
   best round of each kept; also each one's frames per CPU-second (what a loaded machine
   changes least). Targets: >= 35 FPS (issue 18); the seed reports 21 FPS on a Jetson AGX
   Xavier and 10 on a TX2. Also the stream pipeline's FPS and latency on the same frames.
2. **Scene.** A 4096 x 4096 x 13 uint16 raster (tiled, deflate) scored tile by tile (512, overlap
   64) into a GeoTIFF class map, in a child process: megapixels per second against pure
   inference on the same tile size in the same process just before and after (target >=
   0.85x), and the child's peak RSS next to the raster's decoded size (the memory bound).
3. **REST.** A real ``eotrust serve`` on loopback; 8 client threads POST 256 x 256 x 13 ``.npy``
   tiles to ``/models/{cid}/predict`` with an API key: p50/p99 latency and requests per second
   against the same tile scored in-process just before and after (target >= 0.9x).

Parts 2 and 3 use the faster of the two graphs (``--graph`` to choose).

    python benchmarks/scoring.py [--threads 2] [--seconds 10] [--scene 4096] [--requests 400] [--no-rest]
"""

from __future__ import annotations

import argparse
import functools
import io
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
# PyTorch's OpenMP threads sleep when idle, as onnxruntime's do (eotrust.ml.scoring.batch):
# spinning threads would make the reference look worse than it is on a shared machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from eotrust.ports import free_port  # noqa: E402

if TYPE_CHECKING:
    from eotrust.ml.models.enet import ENet
    from eotrust.ml.onnx_export import Method

BANDS = [f"B{i:02d}" for i in range(1, 14)]
CLASSES = [f"class{i}" for i in range(13)]
FPS_TARGET = 35.0
SCENE_TARGET, REST_TARGET, DROP_TARGET = 0.85, 0.9, 0.5
SEED_XAVIER, SEED_TX2 = 21.0, 10.0
SIGNATURES_SEED = 7


def rate(fn: Callable[[], object], seconds: float, warmup: int = 3) -> tuple[float, list[float], float]:
    """Calls per second of ``fn`` over about ``seconds``, each call's time, and the CPU cores
    this process had meanwhile (CPU time of all its threads / wall time)."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds or len(times) < 5:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    wall = time.perf_counter() - start
    return len(times) / wall, times, (time.process_time() - cpu) / wall


def best_rates(
    fns: dict[str, Callable[[], object]], seconds: float, rounds: int
) -> dict[str, tuple[float, list[float], float]]:
    """Each function's best rate over ``rounds`` interleaved rounds (other load on the machine
    only ever slows a round down, so the best round is the closest to the machine's speed)."""
    best: dict[str, tuple[float, list[float], float]] = {name: (0.0, [], 0.0) for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            result = rate(fn, seconds / rounds, warmup=2)
            if result[0] > best[name][0]:
                best[name] = result
    return best


def synthetic_tiles(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """13-band uint16 tiles of blobby class maps (each class its own spectrum, plus noise)."""
    spectra = np.random.default_rng(SIGNATURES_SEED).uniform(300, 4000, (len(CLASSES), len(BANDS))).astype(np.float32)
    rng = np.random.default_rng(seed)
    fields = np.kron(rng.normal(size=(n, len(CLASSES), size // 16, size // 16)), np.ones((16, 16)))
    labels = fields.argmax(axis=1)
    x = spectra[labels].transpose(0, 3, 1, 2) + rng.normal(0, 300, (n, len(BANDS), size, size))
    return np.clip(x, 1, 10000).astype(np.uint16), labels.astype(np.int64)


def build_packages(work: Path, method: Method, steps: int) -> tuple[Path, Path, ENet, dict[str, float]]:
    """Train the ENet briefly, package its float graph, quantise it; the INT8 accuracy check."""
    import torch
    from eth_account import Account

    from eotrust.ml.models.enet import SPATIAL_MULTIPLE, ENet, count_parameters
    from eotrust.ml.onnx_export import package_model
    from eotrust.ml.package import read_package
    from eotrust.ml.quantize import quantise_package

    torch.manual_seed(0)
    model = ENet(13, 13)
    torch.set_num_threads(1)  # a small network on small tiles: one thread, no contention on a shared machine
    print(f"model: ENet, {count_parameters(model):,} parameters, 13 bands -> 13 classes")
    train_x, train_y = synthetic_tiles(64, 64, seed=1)
    eval_x, eval_y = synthetic_tiles(16, 128, seed=2)
    mean, std = 2000.0, 1200.0
    xt, yt = torch.from_numpy((train_x.astype(np.float32) - mean) / std), torch.from_numpy(train_y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    t = time.perf_counter()
    model.train()
    for step in range(steps):
        i = torch.randperm(len(xt), generator=torch.Generator().manual_seed(step))[:8]
        loss = torch.nn.functional.cross_entropy(model(xt[i]), yt[i])
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward is unannotated
        opt.step()
    model.eval()
    print(
        f"trained {steps} steps on {len(train_x)} synthetic 64x64 tiles in {time.perf_counter() - t:.0f} s "
        f"(last loss {float(loss.detach()):.3f})"
    )
    account = Account.from_key("0x" + "42" * 32)
    t = time.perf_counter()
    float_pkg = package_model(
        model,
        account,
        work / "enet.zip",
        name="enet-bench",
        algorithm="enet",
        classes=CLASSES,
        bands=BANDS,
        spatial_multiple=SPATIAL_MULTIPLE,
        tile_size=512,
        normalisation={"mean": [mean], "std": [std]},
        method=method,
    )
    print(f"packaged (ONNX export with {method}, checked against PyTorch) in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    int8_pkg = quantise_package(
        float_pkg,
        account,
        work / "enet-int8.zip",
        calibration=train_x[:32],
        evaluation=(eval_x, eval_y),
        max_drop=100.0,
    )  # the figure is reported, not enforced
    quantisation = read_package(int8_pkg).manifest.graph.quantisation
    # an INT8 package is described by its quantisation, with its accuracy when made with an evaluation set
    assert quantisation is not None and quantisation.accuracy is not None
    acc = quantisation.accuracy
    sizes = float_pkg.stat().st_size / 2**20, int8_pkg.stat().st_size / 2**20
    out: dict[str, float] = {
        "float_accuracy": acc.float32,
        "int8_accuracy": acc.int8,
        "drop_points": acc.drop_points,
        "pixels": acc.pixels,
        "float_package_mib": sizes[0],
        "int8_package_mib": sizes[1],
    }
    print(f"\n== INT8 accuracy (static QDQ, calibrated on 32 training tiles, in {time.perf_counter() - t:.1f} s)")
    print(
        f"INT8 {acc.int8:.2%} pixel accuracy on {acc.pixels:,} held-out pixels; reference float32 {acc.float32:.2%} "
        f"-> {acc.drop_points:+.2f} points lost (target <= {DROP_TARGET}: "
        + ("MET" if acc.drop_points <= DROP_TARGET else "NOT MET")
        + f"); package {sizes[1]:.2f} MiB vs {sizes[0]:.2f} MiB"
    )
    return float_pkg, int8_pkg, model, out


def bench_fps(packages: dict[str, Path], model: ENet, threads: int, seconds: float, rounds: int) -> dict[str, Any]:
    import torch

    from eotrust.ml.scoring.batch import Scorer
    from eotrust.ml.scoring.stream import GeneratorSource, ModelReader, StreamPipeline

    scorers = {name: Scorer.from_file(path, threads=threads) for name, path in packages.items()}
    x = np.random.default_rng(0).normal(2000, 1200, (1, 13, 512, 512)).astype(np.float32)
    prepared = scorers["float32"].prepare(x)
    torch.set_num_threads(threads)
    tx = torch.from_numpy(prepared)

    def eager() -> None:
        with torch.inference_mode():
            model(tx)

    fns: dict[str, Callable[[], object]] = {name: functools.partial(s.run, prepared) for name, s in scorers.items()}
    fns["torch"] = eager
    fns["classify"] = lambda: scorers["float32"].classify(x)
    best = best_rates(fns, seconds * 2.5, rounds)
    out: dict[str, Any] = {"threads": threads, "load_average_1min": os.getloadavg()[0]}
    print(
        f"\n== FPS at 512x512, batch 1, {threads} threads (best of {rounds} interleaved rounds; load average "
        f"{out['load_average_1min']:.1f}: other processes share this machine)"
    )
    for name in (*scorers, "torch"):
        fps, times, cores = best[name]
        out[name] = {
            "fps": fps,
            "ms_p50": float(np.median(times) * 1e3),
            "cores_used": cores,
            "fps_per_cpu_second": fps / cores if cores else None,
        }
        label = {"float32": "onnxruntime float32", "int8": "onnxruntime INT8", "torch": "PyTorch eager"}[name]
        print(
            f"{label:20s} {fps:7.2f} FPS  ({out[name]['ms_p50']:.1f} ms/frame) using {cores:.2f} of {threads} cores: "
            f"{fps / cores:.2f} frames per CPU-second"
        )
    f32, i8, pt = out["float32"]["fps"], out["int8"]["fps"], out["torch"]["fps"]
    out["int8_vs_float"] = i8 / f32
    out["int8_vs_float_cpu"] = out["int8"]["fps_per_cpu_second"] / out["float32"]["fps_per_cpu_second"]
    out["float_vs_torch"] = f32 / pt
    print(
        f"INT8 / float32: {out['int8_vs_float']:.2f}x wall, {out['int8_vs_float_cpu']:.2f}x per CPU-second; "
        f"float32 / PyTorch eager: {out['float_vs_torch']:.2f}x"
    )
    out["classify_fps_with_normalise_softmax_argmax"] = best["classify"][0]
    print(f"classify (normalise + float32 graph + softmax + argmax) {best['classify'][0]:.2f} FPS")
    fastest = max(f32, i8)
    out["fastest"] = "int8" if i8 > f32 else "float32"
    print(
        f"target >= {FPS_TARGET} FPS on 2 cores: {fastest:.2f} FPS ({out['fastest']}) "
        + ("MET" if fastest >= FPS_TARGET else "NOT MET")
        + f"; seed {SEED_XAVIER} FPS Jetson AGX Xavier, {SEED_TX2} FPS Jetson TX2"
    )
    # what the target asks of the CPU: 35 frames per second on ``threads`` cores needs at least
    # 35 / threads frames per CPU-second; the best graph's rate bounds what idle cores could give
    per_cpu = max(out[g]["fps_per_cpu_second"] or 0.0 for g in scorers)
    out["fps_bound_idle_cores"] = per_cpu * threads
    print(
        f"the target needs >= {FPS_TARGET / threads:.1f} frames per CPU-second; the best graph gives {per_cpu:.2f} "
        f"-> at most {per_cpu * threads:.1f} FPS on {threads} idle cores with perfect scaling"
    )
    pool = [np.random.default_rng(i).integers(0, 4000, (13, 512, 512)).astype(np.uint16) for i in range(4)]
    frames = itertools.islice(itertools.cycle(pool), 10**9)
    stream = StreamPipeline(GeneratorSource(frames, rate=25), ModelReader(scorers[out["fastest"]]), window=4).run(
        duration=seconds
    )
    out["stream"] = s = stream.summary()
    print(
        f"stream pipeline ({out['fastest']}) fed at 25 frames/s: {s['fps']} FPS scored, {s['dropped']} of "
        f"{s['frames_in']} frames dropped (sliding window 4), latency p50 {s['latency_p50_ms']} ms "
        f"p95 {s['latency_p95_ms']} ms"
    )
    return out


def write_scene(path: Path, size: int) -> None:
    import rasterio
    from affine import Affine

    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 13,
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": Affine(10, 0, 400000, 0, -10, 5200000),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "nodata": 0,
    }
    rng = np.random.default_rng(0)
    step = 512
    with rasterio.open(path, "w", **profile) as dst:
        for b in range(13):
            dst.set_band_description(b + 1, BANDS[b])
        for y in range(0, size, step):
            coarse = rng.normal(2000, 600, (13, step // 32 + 1, size // 32 + 1))
            block = np.kron(coarse, np.ones((32, 32)))[:, :step, :size] + rng.normal(0, 50, (13, step, size))
            dst.write(np.clip(block, 1, 10000).astype(np.uint16), window=rasterio.windows.Window(0, y, size, step))


SCENE_CHILD = """
import json, sys, time
from pathlib import Path
import numpy as np
from eotrust.ml.scoring.batch import Scorer
from eotrust.ml.scoring.scene import score_scene

def peak_mib():  # VmHWM: this process image's peak RSS (ru_maxrss would include the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

def pure(scorer, n):  # the graph alone on a prepared 512 x 512 tile: frames per second, CPU s per frame
    x = scorer.prepare(np.random.default_rng(0).normal(2000, 1200, (1, 13, 512, 512)).astype(np.float32))
    scorer.run(x)
    t, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        scorer.run(x)
    return n / (time.perf_counter() - t), (time.process_time() - cpu) / n

scorer = Scorer.from_file(Path(sys.argv[1]), threads=int(sys.argv[4]))
scorer.probabilities(np.zeros((1, 13, 512, 512), np.float32))  # the session at its working size
loaded = peak_mib()
before, cpu_before = pure(scorer, 20)
cpu = time.process_time()
r = score_scene(scorer, Path(sys.argv[2]), Path(sys.argv[3]), tile=512, overlap=64, batch_size=1)
cpu_scene = (time.process_time() - cpu) / r.tiles
peak = peak_mib()
after, cpu_after = pure(scorer, 20)
print(json.dumps({"seconds": r.seconds, "mp_per_s": r.megapixels_per_second, "tiles": r.tiles,
                  "loaded_mib": loaded, "peak_mib": peak, "pure_fps_before": before, "pure_fps_after": after,
                  "cpu_s_per_tile": cpu_scene, "pure_cpu_s_per_tile": (cpu_before + cpu_after) / 2}))
"""


def bench_scene(package: Path, work: Path, size: int, threads: int, graph: str) -> dict[str, Any]:
    import rasterio

    src = work / "scene.tif"
    t = time.perf_counter()
    write_scene(src, size)
    print(
        f"\n== Scene {size}x{size}x13 uint16 (written tiled + deflate in {time.perf_counter() - t:.1f} s, "
        f"{src.stat().st_size / 2**20:.0f} MiB on disk), {graph} graph"
    )
    dest = work / "classes.tif"
    proc = subprocess.run(
        [sys.executable, "-c", SCENE_CHILD, str(package), str(src), str(dest), str(threads)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"scene scoring failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_mib, loaded_mib = result["peak_mib"], result["loaded_mib"]
    decoded_mib = size * size * 13 * 2 / 2**20
    with rasterio.open(dest) as ds:
        ok = ds.width == size and ds.height == size and ds.crs.to_string() == "EPSG:32633"
    tile_fps = (result["pure_fps_before"] + result["pure_fps_after"]) / 2
    ideal = tile_fps * 512 * 512 / 1e6 * (size * size) / (result["tiles"] * 512 * 512)
    ratio = result["mp_per_s"] / ideal
    out: dict[str, Any] = {
        "graph": graph,
        "megapixels": size * size / 1e6,
        "seconds": result["seconds"],
        "mp_per_s": result["mp_per_s"],
        "tiles": result["tiles"],
        "peak_rss_mib": peak_mib,
        "raster_decoded_mib": decoded_mib,
        "rss_model_loaded_mib": loaded_mib,
        "pure_inference_fps": [result["pure_fps_before"], result["pure_fps_after"]],
        "pure_inference_mp_per_s": ideal,
        "ratio": ratio,
        "georeferenced_output": ok,
        "cpu_ms_per_tile": result["cpu_s_per_tile"] * 1e3,
        "pure_cpu_ms_per_tile": result["pure_cpu_s_per_tile"] * 1e3,
        "cpu_ratio": result["pure_cpu_s_per_tile"] / result["cpu_s_per_tile"],
    }
    print(
        f"scored {out['megapixels']:.1f} MP in {result['seconds']:.1f} s: {result['mp_per_s']:.2f} MP/s "
        f"({result['tiles']} tiles of 512, overlap 64)"
    )
    print(
        f"reference: pure inference on 512 tiles in the same process, {result['pure_fps_before']:.1f} FPS before and "
        f"{result['pure_fps_after']:.1f} after = {ideal:.2f} MP/s for these tiles -> scene scoring runs at "
        f"{ratio:.2f}x of it (target >= {SCENE_TARGET}: " + ("MET" if ratio >= SCENE_TARGET else "NOT MET") + ")"
    )
    print(
        f"CPU time per tile: scene {out['cpu_ms_per_tile']:.1f} ms (decode, inference, blend, write) vs inference "
        f"alone {out['pure_cpu_ms_per_tile']:.1f} ms -> {out['cpu_ratio']:.2f}x (the wall ratio's bound on a busy machine)"
    )
    print(
        f"peak RSS of the scoring process {peak_mib:.0f} MiB ({loaded_mib:.0f} MiB with the model loaded and run "
        f"once, so scoring added {peak_mib - loaded_mib:.0f} MiB); the raster decodes to {decoded_mib:.0f} MiB "
        f"({peak_mib / decoded_mib:.2f}x)"
    )
    print(f"output GeoTIFF keeps size, CRS and transform: {ok}")
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_rest(package: Path, work: Path, requests: int, clients: int, graph: str) -> dict[str, Any]:
    import httpx

    from eotrust.catalog.api_keys import create_api_key
    from eotrust.ml.registry import Registry
    from eotrust.ml.scoring.batch import Scorer
    from eotrust.settings import load_settings

    home = work / "home"
    settings = load_settings(home=home)
    entry = Registry(settings).register(package)
    secret, _ = create_api_key(settings, party=None, scopes=[entry.cid])
    port = free_port()
    env = {**os.environ, "EOTRUST_HOME": str(home)}
    log = (work / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "eotrust.cli.main", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/conformance", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start: " + (work / "server.log").read_text())
            time.sleep(0.2)
        tile = np.random.default_rng(0).integers(1, 4000, (13, 256, 256)).astype(np.uint16)
        scorer = Scorer.from_file(package)
        cpu = time.process_time()
        before, before_times, _ = rate(lambda: scorer.classify(tile), 3, warmup=0)
        direct_cpu = [(time.process_time() - cpu) / len(before_times)]
        buf = io.BytesIO()
        np.save(buf, tile)
        body = buf.getvalue()
        url = f"{base}/models/{entry.cid}/predict"
        headers = {"Content-Type": "application/x-npy", "X-API-Key": secret}
        with httpx.Client() as c:  # warm up: loads the model once
            for _ in range(3):
                assert c.post(url, content=body, headers=headers, timeout=60).status_code == 200
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        per_client = requests // clients

        def client() -> None:
            with httpx.Client() as c:
                for _ in range(per_client):
                    t = time.perf_counter()
                    r = c.post(url, content=body, headers=headers, timeout=120)
                    dt = time.perf_counter() - t
                    with lock:
                        latencies.append(dt)
                        if r.status_code != 200:
                            errors.append(f"{r.status_code} {r.text[:100]}")

        threads = [threading.Thread(target=client) for _ in range(clients)]
        server_cpu = cpu_seconds(server.pid)
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        server_cpu = cpu_seconds(server.pid) - server_cpu
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    cpu = time.process_time()
    after, after_times, _ = rate(lambda: scorer.classify(tile), 3, warmup=0)
    direct_cpu.append((time.process_time() - cpu) / len(after_times))
    direct = (before + after) / 2
    lat = np.array(latencies)
    out: dict[str, Any] = {
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "rps": len(latencies) / wall,
        "p50_ms": float(np.percentile(lat, 50) * 1e3),
        "p99_ms": float(np.percentile(lat, 99) * 1e3),
        "direct_ms": float(np.median(before_times + after_times) * 1e3),
        "direct_per_s": [before, after],
        "ratio": len(latencies) / wall / direct,
        "server_cpu_ms_per_request": server_cpu / max(1, len(latencies)) * 1e3,
        "direct_cpu_ms": sum(direct_cpu) / 2 * 1e3,
    }
    out["cpu_ratio"] = out["direct_cpu_ms"] / out["server_cpu_ms_per_request"]
    print(
        f"\n== REST predict ({graph} graph), 256x256x13 .npy tiles, {clients} concurrent clients, "
        f"{len(latencies)} requests"
    )
    print(
        f"{out['rps']:.1f} requests/s, latency p50 {out['p50_ms']:.1f} ms, p99 {out['p99_ms']:.1f} ms, "
        f"{len(errors)} errors" + (f" (first: {errors[0]})" if errors else "")
    )
    print(
        f"reference: the same tile scored in-process (normalise, graph, softmax, argmax) {before:.1f}/s before and "
        f"{after:.1f}/s after ({out['direct_ms']:.1f} ms) -> REST throughput is {out['ratio']:.2f}x of in-process "
        f"scoring (target >= {REST_TARGET}: " + ("MET" if out["ratio"] >= REST_TARGET else "NOT MET") + ")"
    )
    print(
        f"CPU time per request: server {out['server_cpu_ms_per_request']:.1f} ms (HTTP, parsing, scoring, answer) vs "
        f"in-process {out['direct_cpu_ms']:.1f} ms -> {out['cpu_ratio']:.2f}x"
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for onnxruntime and PyTorch")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per FPS measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the FPS measurements")
    parser.add_argument("--scene", type=int, default=4096, help="scene width and height")
    parser.add_argument("--requests", type=int, default=400, help="REST requests in all")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--no-rest", action="store_true", help="skip the REST part (where the server cannot run)")
    parser.add_argument("--export", choices=["auto", "dynamo", "torchscript"], default="auto")
    parser.add_argument("--train-steps", type=int, default=200, help="training steps of the benchmark's ENet")
    parser.add_argument(
        "--graph",
        choices=["float32", "int8"],
        default=None,
        help="graph for the scene and REST parts (default: the faster)",
    )
    args = parser.parse_args()

    (HERE / "out").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="scoring-", dir=HERE / "out"))
    try:
        float_pkg, int8_pkg, model, accuracy = build_packages(work, args.export, args.train_steps)
        packages = {"float32": float_pkg, "int8": int8_pkg}
        fps = bench_fps(packages, model, args.threads, args.seconds, args.rounds)
        graph = args.graph or fps["fastest"]
        scene = bench_scene(packages[graph], work, args.scene, args.threads, graph)
        rest = None if args.no_rest else bench_rest(packages[graph], work, args.requests, args.clients, graph)
        best_fps = fps[fps["fastest"]]["fps"]
        print(f"\n== Summary (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        rows = [
            (
                "ENet 512² FPS",
                f"{best_fps:.1f} ({fps['fastest']})",
                (
                    f"float32 {fps['float32']['fps']:.1f}, "
                    f"INT8 {fps['int8']['fps']:.1f}, PyTorch {fps['torch']['fps']:.1f}"
                ),
                f">= {FPS_TARGET}",
                best_fps >= FPS_TARGET,
            ),
            (
                "INT8 accuracy",
                f"{accuracy['int8_accuracy']:.2%}",
                f"float32 {accuracy['float_accuracy']:.2%}",
                f"drop <= {DROP_TARGET} pt",
                accuracy["drop_points"] <= DROP_TARGET,
            ),
            (
                "scene / pure inference",
                f"{scene['ratio']:.2f}x",
                (
                    f"{scene['mp_per_s']:.2f} vs "
                    f"{scene['pure_inference_mp_per_s']:.2f} MP/s; CPU/tile {scene['cpu_ratio']:.2f}x"
                ),
                f">= {SCENE_TARGET}",
                scene["ratio"] >= SCENE_TARGET,
            ),
        ]
        if rest is not None:
            rows.append(
                (
                    "REST / in-process",
                    f"{rest['ratio']:.2f}x",
                    f"{rest['rps']:.1f} vs {sum(rest['direct_per_s']) / 2:.1f} /s; CPU/request {rest['cpu_ratio']:.2f}x",
                    f">= {REST_TARGET}",
                    rest["ratio"] >= REST_TARGET,
                )
            )
        for name, value, reference, target, met in rows:
            print(
                f"{name:24s} {value:>16s}   reference {reference:52s} target {target:14s} {'MET' if met else 'NOT MET'}"
            )
        report = {
            "accuracy": accuracy,
            "fps": fps,
            "scene": scene,
            "rest": rest,
            "cpu_count": os.cpu_count(),
            "targets": {
                "fps": FPS_TARGET,
                "scene_ratio": SCENE_TARGET,
                "rest_ratio": REST_TARGET,
                "int8_drop_points": DROP_TARGET,
            },
        }
        (HERE / "out" / "scoring.json").write_text(json.dumps(report, indent=2))
        print(f"\nwrote {HERE / 'out' / 'scoring.json'}")
        rest_ok = rest is None or rest["errors"] == 0
        return 0 if all(r[-1] for r in rows) and rest_ok and scene["georeferenced_output"] else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
