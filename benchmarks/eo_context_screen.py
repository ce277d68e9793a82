"""Spatial context, ensembles and smoothing for the per-pixel land-cover network: a screen
chosen on the training sides only, then checked on the held-out halves and a spatial k-fold.

Three levers a per-pixel model lacks, tried on the shipped Slovenian patch:

- **context**: each pixel's series gets a second (or third) channel, the mean NDVI of its
  K x K neighbourhood on every date (``ctx3``, ``ctx5``, ``ctx35``; ``base`` is NDVI alone);
- **ensembles**: ``/ens`` rows average the class probabilities of the candidate's seeds
  (independently trained networks);
- **smoothing**: ``w`` 3 or 5 averages the class probabilities over a w x w window before the
  arg-max (``w`` 1: none).

Modes (the 4th argument): ``inner`` (default) cuts the training side of each held-out half into
3 stripes of 10 px blocks, one block of buffer each side (:func:`eo.inner_splits`, the folds
``eo_select_screen.py`` uses): the held-out halves are never read, so a choice made here is a
choice on the training side only. ``outer`` trains on each half's training side and scores the
held-out half; ``kfold`` the 4 contiguous stripes of ``eo.py``'s spatial k-fold. Beside the
candidates, on the same pixels: RandomForest and LightGBM on the NDVI series (the baselines of
``eo.py``) and on NDVI plus the 5 x 5 context (``RFctx5``, ``LGBMctx5``), each with the same
smoothing windows.

Candidates: ``FEATURE[-OPTION…]`` with FEATURE in ``base ctx3 ctx5 ctx35`` and options ``nw`` (no
class weights), ``nocrop`` (no random runs of dates), ``aug`` (the trainer's jitter), ``att``
(attention pooling), ``small`` (hidden 32), ``ls`` (label smoothing 0.1). The training loop is
``eo_select_screen.fit``'s (the trainer's, re-implemented): AdamW, one-cycle, batch 256, early
stopping on the validation blocks' mIoU; ``EPOCHS``/``PATIENCE`` in the environment (default 40
and 10, the default model definition's).

Run (a few minutes on 2 cores)::

    .venv/bin/python benchmarks/eo_context_screen.py west,east base,ctx5 5 inner &
    .venv/bin/python benchmarks/eo_context_screen.py north,south base,ctx5 5 inner; wait
    .venv/bin/python benchmarks/eo_context_screen.py --summary benchmarks/out/context-inner-*.json
"""

from __future__ import annotations

import collections
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TypedDict

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

WINDOWS = (1, 3, 5)


class Row(TypedDict):
    region: str
    fold: int
    model: str
    w: int
    seed: int
    acc: float
    miou: float


class Screen:
    """The prepared patch as arrays and its context features."""

    def __init__(self) -> None:
        import eo
        import eo_select_screen

        work = HERE / "out" / "select-screen"
        work.mkdir(parents=True, exist_ok=True)
        self.patch = eo_select_screen.Patch(work)
        ndvi = np.nan_to_num(self.patch.x[:, 0])  # (T, rows, cols)
        mean = {k: eo.neighbourhood_mean(ndvi, k) for k in (3, 5)}
        self.features = {
            "base": ndvi[:, None],
            "ctx3": np.stack([ndvi, mean[3]], 1),
            "ctx5": np.stack([ndvi, mean[5]], 1),
            "ctx35": np.stack([ndvi, mean[3], mean[5]], 1),
        }

    def pixels(self, feat: np.ndarray) -> np.ndarray:
        """``(rows * cols, C, T)`` series of every pixel."""
        t, c, r, w = feat.shape
        return np.transpose(feat, (2, 3, 1, 0)).reshape(r * w, c, t).astype(np.float32)


def fit(screen: Screen, candidate: str, masks: dict[str, np.ndarray], seed: int) -> np.ndarray:
    """One network of ``candidate`` trained on the split; class probabilities ``(K, rows, cols)``."""
    import eo_select_screen
    import torch
    from torch import nn

    from eotrust.ml.models import build_model
    from eotrust.ml.train import class_weights

    feature, *options = candidate.split("-")
    feat = screen.features[feature]
    p = screen.patch
    rows, cols = p.lab.shape
    x = screen.pixels(feat)
    lab = p.lab.reshape(-1)
    tr, va = masks["train"].reshape(-1), masks["val"].reshape(-1)
    mean, std = x[tr].mean(axis=(0, 2), keepdims=True), x[tr].std(axis=(0, 2), keepdims=True)
    xx = torch.from_numpy(((x - mean) / std).astype(np.float32))
    xt, yt, xv, yv = xx[tr], torch.from_numpy(p.idx(lab[tr])), xx[va], p.idx(lab[va])
    k = len(p.codes)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    params = {
        "hidden": 32 if "small" in options else 64,
        "layers": 3,
        "kernel_size": 5,
        "dropout": 0.2,
        "pooling": "attention" if "att" in options else "avgmax",
    }
    model = build_model("temporal_cnn", feat.shape[1], k, params)
    weighting = "none" if "nw" in options else "sqrt_inverse"
    loss_fn = nn.CrossEntropyLoss(
        weight=class_weights(yt.numpy(), k, weighting), label_smoothing=0.1 if "ls" in options else 0.0
    )
    eo_select_screen.train_loop(
        model,
        loss_fn,
        (xt, yt, xv, yv),
        k,
        gen,
        epochs=int(os.environ.get("EPOCHS", 40)),
        patience=int(os.environ.get("PATIENCE", 10)),
        aug={"offset": 0.2, "scale": 0.1, "noise": 0.1, "drop": 0.1} if "aug" in options else {},
        crop="nocrop" not in options,
    )
    with torch.no_grad():
        prob = torch.softmax(model(xx), 1).numpy()
    return prob.reshape(rows, cols, k).transpose(2, 0, 1)


def baselines(screen: Screen, masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """RandomForest and LightGBM on NDVI, and on NDVI with its 5 x 5 context: probabilities."""
    import lightgbm as lgb
    from sklearn.ensemble import RandomForestClassifier

    p = screen.patch
    rows, cols = p.lab.shape
    k = len(p.codes)
    lab = p.lab.reshape(-1)
    tv = (masks["train"] | masks["val"]).reshape(-1)
    plain = screen.pixels(screen.features["base"])[:, 0]
    ctx = screen.pixels(screen.features["ctx5"]).reshape(rows * cols, -1)
    out: dict[str, np.ndarray] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, model, x in (
            ("RF", RandomForestClassifier(200, n_jobs=1, random_state=0), plain),
            ("LGBM", lgb.LGBMClassifier(n_estimators=200, num_threads=1, random_state=0, verbose=-1), plain),
            ("RFctx5", RandomForestClassifier(200, n_jobs=1, random_state=0), ctx),
            ("LGBMctx5", lgb.LGBMClassifier(n_estimators=200, num_threads=1, random_state=0, verbose=-1), ctx),
        ):
            model.fit(x[tv], p.idx(lab[tv]))
            prob = np.zeros((rows * cols, k))
            prob[:, model.classes_] = model.predict_proba(x)
            out[name] = prob.reshape(rows, cols, k).transpose(2, 0, 1)
    return out


def smooth(prob: np.ndarray, w: int) -> np.ndarray:
    """Class probabilities ``(K, rows, cols)`` averaged over w x w windows (``w`` 1: as they are)."""
    import eo

    return prob if w == 1 else eo.neighbourhood_mean(prob, w)


def run(regions: list[str], candidates: list[str], seeds: int, mode: str) -> list[Row]:
    import eo
    import eo_select_screen
    import torch

    from eotrust.eo.split import kfold_split, region_split

    torch.set_num_threads(1)
    screen = Screen()
    p = screen.patch
    rows, cols = p.lab.shape
    out: list[Row] = []
    for region in regions:
        if mode == "kfold":
            splits = [kfold_split(p.grid, 10, 4, int(region), buffer=1, labels=p.labels, seed=0)]
        else:
            outer = region_split(p.grid, 10, region, buffer=1, labels=p.labels, seed=0)
            splits = [outer] if mode == "outer" else eo.inner_splits(outer, 3)
        for fi, split in enumerate(splits):
            blocks = np.kron(np.asarray(split.assignment, np.uint8), np.ones((10, 10), np.uint8))[:rows, :cols]
            masks = {name: (blocks == s) & (p.lab > 0) for s, name in enumerate(("train", "val", "test"))}
            test = masks["test"]
            truth = p.idx(p.lab[test])
            trained = sorted(set(p.idx(p.lab[masks["train"] | masks["val"]]).tolist()))
            t0 = time.perf_counter()
            probs = {name: [prob] for name, prob in baselines(screen, masks).items()}
            for c in candidates:
                probs[c] = [fit(screen, c, masks, s) for s in range(seeds)]
            for name, ps in probs.items():
                members = [(s, q) for s, q in enumerate(ps)] + ([(-1, np.mean(ps, 0))] if len(ps) > 1 else [])
                for w in WINDOWS:
                    for s, q in members:
                        acc, miou = eo_select_screen.score(p, smooth(q, w)[:, test].T, truth, trained)
                        label = name + "/ens" if s == -1 else name
                        out.append(
                            {"region": region, "fold": fi, "model": label, "w": w, "seed": s, "acc": acc, "miou": miou}
                        )
            done = [r for r in out if r["region"] == region and r["fold"] == fi and r["w"] == 1 and r["seed"] <= 0]
            print(
                f"  [{mode} {region} {fi}: {int(masks['train'].sum())} train / {int(test.sum())} test px, "
                f"{time.perf_counter() - t0:.0f} s] " + "  ".join(f"{r['model']} {r['acc']:.3f}" for r in done),
                flush=True,
            )
    return out


def summary(rows: list[Row]) -> None:
    groups: dict[tuple[str, int], list[Row]] = collections.defaultdict(list)
    for r in rows:
        groups[(r["model"], r["w"])].append(r)
    print(f"  {'model':<18}{'w':>3}{'mean acc':>10}{'mean mIoU':>11}{'worst acc':>11}{'n':>5}   by split (acc)")
    for (model, w), rs in sorted(groups.items()):
        by: dict[str, list[float]] = collections.defaultdict(list)
        for r in rs:
            by[r["region"]].append(r["acc"])
        print(
            f"  {model:<18}{w:>3}{np.mean([r['acc'] for r in rs]):>10.3f}{np.mean([r['miou'] for r in rs]):>11.3f}"
            f"{min(r['acc'] for r in rs):>11.3f}{len(rs):>5}   "
            + " ".join(f"{k} {np.mean(v):.3f}" for k, v in by.items())
        )


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--summary"]:
        rows: list[Row] = []
        for f in args[1:]:
            rows += json.loads(Path(f).read_text())
        summary(rows)
        return 0
    if len(args) < 2:
        print(__doc__)
        return 2
    regions, candidates = args[0].split(","), args[1].split(",")
    seeds = int(args[2]) if len(args) > 2 else 2
    mode = args[3] if len(args) > 3 else "inner"
    if mode not in ("inner", "outer", "kfold"):
        print(f"mode must be inner, outer or kfold, not {mode!r}", file=sys.stderr)
        return 2
    rows = run(regions, candidates, seeds, mode)
    dest = HERE / "out" / f"context-{mode}-{'-'.join(regions)}-{'-'.join(candidates)}.json"
    dest.write_text(json.dumps(rows))
    summary(rows)
    print(f"  rows: {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
