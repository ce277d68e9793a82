"""Choosing the default land-cover model on the training side only: the screening run.

For each held-out half of the shipped Slovenian patch (west, east, north, south), its
training side is cut into ``k`` contiguous stripes of 10 px blocks (one block of buffer each
side; :func:`eo.inner_splits`, the folds ``benchmarks/eo.py --only select`` uses); every
candidate is trained ``seeds`` times on each inner fold and scored on the fold's test stripe.
The held-out halves are never read. Beside the candidates, in the same run: the majority
class, RandomForest and LightGBM on the same folds and features.

The loop re-implements the trainer's (:func:`eotrust.ml.train.train`): the same network
(``temporal_cnn``, hidden 64, 3 layers, avgmax pooling), AdamW with a one-cycle schedule,
batch 256, early stopping on the validation blocks' mIoU, random runs of at least 35 % of the
dates; the jitter is the trainer's ``offset_jitter``/``scale_jitter``/``noise``/``date_dropout``
(at most 20 epochs, patience 6, for CPU time). A candidate's "/ensN" row averages the class
probabilities of its N seeds (a deep ensemble of N independently trained members).

Run: ``.venv/bin/python benchmarks/eo_select_screen.py base20,nw20 --seeds 2`` (tens of
minutes of one core per candidate).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict

import numpy as np

if TYPE_CHECKING:
    import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


class Candidate(TypedDict, total=False):
    """A candidate's departures from the defaults of :func:`fit`."""

    weighting: str
    aug: dict[str, float]
    ls: float
    epochs: int
    patience: int


class Row(TypedDict):
    """One model's scores on one inner fold (``seed``: one member of a candidate's ensemble)."""

    region: str
    fold: int
    seed: NotRequired[int]
    acc: float
    miou: float


#: pixels of one split: "train", "val", "test" -> (features, labels)
Split = dict[str, tuple[np.ndarray, np.ndarray]]

_JITTER = {"offset": 0.2, "scale": 0.1, "noise": 0.1, "drop": 0.1}
CANDIDATES: dict[str, Candidate] = {
    "base": {},  # the previous default: sqrt-inverse class weights
    "nw": {"weighting": "none"},
    "aug": {"aug": _JITTER, "ls": 0.1},
    "nw-aug": {"weighting": "none", "aug": _JITTER, "ls": 0.1},
}
for _k in list(CANDIDATES):
    CANDIDATES[_k + "20"] = {**CANDIDATES[_k], "epochs": 20, "patience": 6}


class Patch:
    """The prepared cube and labels as arrays, and pixels by block assignment."""

    def __init__(self, work: Path) -> None:
        import eo
        import rasterio

        from eotrust.eo.cube import open_cube
        from eotrust.eo.raster import raster_info

        self.cube, self.labels = eo.prepare_patch(work)
        c = open_cube(self.cube)
        with c.reader() as r:
            self.x = r.read(c.grid.full_window())  # (T, C, rows, cols)
        with rasterio.open(self.labels) as ds:
            self.lab = ds.read(1)
        self.grid = raster_info(self.cube).grid
        self.codes = sorted(int(v) for v in np.unique(self.lab) if v)

    def idx(self, y: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.codes, y)

    def pixels(self, blocks: np.ndarray) -> Split:
        pb = np.kron(blocks, np.ones((10, 10), np.uint8))[: self.lab.shape[0], : self.lab.shape[1]]
        out: Split = {}
        for s, name in enumerate(("train", "val", "test")):
            m = (pb == s) & (self.lab > 0)
            out[name] = (np.transpose(self.x[:, :, m], (2, 1, 0)).astype(np.float32), self.lab[m])
        return out


def _augment(xb: torch.Tensor, cfg: dict[str, float], gen: torch.Generator) -> torch.Tensor:
    import torch

    t = xb.shape[-1]
    lo = max(1, math.ceil(0.35 * t))
    length = int(torch.randint(lo, t + 1, (1,), generator=gen))
    start = int(torch.randint(0, t - length + 1, (1,), generator=gen))
    xb = xb[..., start : start + length]
    n = xb.shape[0]
    if cfg.get("offset"):
        xb = xb + cfg["offset"] * torch.randn(n, 1, 1, generator=gen)
    if cfg.get("scale"):
        xb = xb * (1 + cfg["scale"] * torch.randn(n, 1, 1, generator=gen))
    if cfg.get("noise"):
        xb = xb + cfg["noise"] * torch.randn(xb.shape, generator=gen)
    if cfg.get("drop"):
        xb = xb * (torch.rand(n, 1, xb.shape[-1], generator=gen) >= cfg["drop"]).float()
    return xb


def train_loop(
    model: torch.nn.Module,
    loss_fn: torch.nn.Module,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray],
    k: int,
    gen: torch.Generator,
    *,
    epochs: int = 40,
    patience: int = 10,
    aug: dict[str, float] | None = None,
    crop: bool = True,
) -> None:
    """The trainer's loop, re-implemented: AdamW with a one-cycle schedule, batch 256, random
    runs of at least 35 % of the dates (``crop``) and the jitter ``aug``, early stopping on the
    validation pixels' mIoU; ``model`` ends with its best weights, in eval mode. ``data``:
    training series and labels, validation series and labels."""
    import torch

    from eotrust.ml.metrics import confusion_matrix, metrics_from_confusion

    xt, yt, xv, yv = data
    bs, lr, n = 256, 3e-3, len(yt)
    steps = max(1, n // min(bs, n))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    best, best_score, bad = None, -1.0, 0
    names = [str(i) for i in range(k)]
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        for s in range(steps):
            i = perm[s * bs : (s + 1) * bs] if s < steps - 1 else perm[s * bs :]
            xb = _augment(xt[i], aug or {}, gen) if crop else xt[i]
            opt.zero_grad()
            loss_fn(model(xb), yt[i]).backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            pv = model(xv).argmax(1).numpy()
        score = metrics_from_confusion(confusion_matrix(yv, pv, k), names).mean_iou
        if score > best_score + 1e-9:
            best, best_score, bad = copy.deepcopy(model.state_dict()), score, 0
        else:
            bad += 1
            if bad >= patience:
                break
    assert best is not None
    model.load_state_dict(best)
    model.eval()


def fit(patch: Patch, split: Split, cfg: Candidate, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One network trained on the split's train blocks (early stopping on its val blocks);
    its class probabilities on the test blocks, and their labels."""
    import torch
    from torch import nn

    from eotrust.ml.models import build_model
    from eotrust.ml.train import class_weights

    tr, va, te = split["train"], split["val"], split["test"]
    mean, std = float(np.nanmean(tr[0])), float(np.nanstd(tr[0]))

    def norm(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.nan_to_num((x - mean) / std).astype(np.float32))

    xt, yt, xv, yv = norm(tr[0]), torch.from_numpy(patch.idx(tr[1])), norm(va[0]), patch.idx(va[1])
    xs, ys = norm(te[0]), patch.idx(te[1])
    k = len(patch.codes)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    params = {"hidden": 64, "layers": 3, "kernel_size": 5, "dropout": 0.2, "pooling": "avgmax"}
    model = build_model("temporal_cnn", 1, k, params)
    w = class_weights(yt.numpy(), k, cfg.get("weighting", "sqrt_inverse"))
    loss_fn = nn.CrossEntropyLoss(weight=w, label_smoothing=cfg.get("ls", 0.0))
    train_loop(
        model,
        loss_fn,
        (xt, yt, xv, yv),
        k,
        gen,
        epochs=cfg.get("epochs", 40),
        patience=cfg.get("patience", 10),
        aug=cfg.get("aug", {}),
    )
    with torch.no_grad():
        return torch.softmax(model(xs), 1).numpy(), ys


def score(patch: Patch, prob: np.ndarray, ys: np.ndarray, trained: list[int]) -> tuple[float, float]:
    """Pixel accuracy and mIoU over the classes present in training."""
    from eotrust.ml.metrics import confusion_matrix, metrics_from_confusion

    m = metrics_from_confusion(confusion_matrix(ys, prob.argmax(1), len(patch.codes)), [str(c) for c in patch.codes])
    ious = [(c.iou or 0.0) for i, c in enumerate(m.per_class) if i in trained and (c.support or c.predicted)]
    return m.pixel_accuracy, float(np.mean(ious))


def baselines(patch: Patch, split: Split, trained: list[int]) -> dict[str, tuple[float, float]]:
    import lightgbm as lgb
    from sklearn.ensemble import RandomForestClassifier

    x = np.nan_to_num(np.concatenate([split["train"][0], split["val"][0]])[:, 0])
    y = patch.idx(np.concatenate([split["train"][1], split["val"][1]]))
    xs, ys = np.nan_to_num(split["test"][0][:, 0]), patch.idx(split["test"][1])
    out: dict[str, tuple[float, float]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, m in (
            ("RandomForest", RandomForestClassifier(200, n_jobs=1, random_state=0)),
            ("LightGBM", lgb.LGBMClassifier(n_estimators=200, num_threads=1, random_state=0, verbose=-1)),
        ):
            p = np.zeros((len(ys), len(patch.codes)))
            m.fit(x, y)
            p[:, m.classes_] = m.predict_proba(xs)
            out[name] = score(patch, p, ys, trained)
    p = np.zeros((len(ys), len(patch.codes)))
    p[:, np.bincount(y).argmax()] = 1
    out["majority class"] = score(patch, p, ys, trained)
    return out


def main() -> int:
    import eo
    import torch

    from eotrust.eo.split import region_split

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("candidates", help=f"comma-separated: {', '.join(CANDIDATES)}")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--regions", default=",".join(eo.REGIONS))
    ap.add_argument("--no-baselines", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    work = HERE / "out" / "select-screen"
    work.mkdir(parents=True, exist_ok=True)
    patch = Patch(work)
    cands = [c for c in args.candidates.split(",") if c]
    rows: dict[str, list[Row]] = {}
    for region in args.regions.split(","):
        outer = region_split(patch.grid, 10, region, buffer=1, labels=patch.labels, seed=0)
        for fi, split_ in enumerate(eo.inner_splits(outer, args.folds)):
            sp = patch.pixels(np.asarray(split_.assignment, np.uint8))
            trained = sorted(set(patch.idx(np.concatenate([sp["train"][1], sp["val"][1]])).tolist()))
            if not args.no_baselines:
                for name, (a, mi) in baselines(patch, sp, trained).items():
                    rows.setdefault(name, []).append({"region": region, "fold": fi, "acc": a, "miou": mi})
            for c in cands:
                probs, t0 = [], time.perf_counter()
                for s in range(args.seeds):
                    p, ys = fit(patch, sp, CANDIDATES[c], s)
                    probs.append(p)
                    a, mi = score(patch, p, ys, trained)
                    rows.setdefault(c, []).append({"region": region, "fold": fi, "seed": s, "acc": a, "miou": mi})
                ea, em = score(patch, np.mean(probs, 0), ys, trained)
                rows.setdefault(f"{c}/ens{args.seeds}", []).append(
                    {"region": region, "fold": fi, "acc": ea, "miou": em}
                )
                print(
                    f"  [held out {region}, inner fold {fi + 1}/{args.folds}: {len(sp['train'][1])} train / {len(ys)} test px] "
                    f"{c:<10} seeds "
                    + " ".join(f"{r['acc']:.3f}" for r in rows[c][-args.seeds :])
                    + f" | ensemble {ea:.3f} / {em:.3f}  ({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
    print(f"  {'model (inner folds, training sides only)':<42}{'mean acc':>10}{'worst':>8}{'mean mIoU':>11}{'n':>5}")
    for name, rs in rows.items():
        acc, miou = [r["acc"] for r in rs], [r["miou"] for r in rs]
        print(f"  {name:<42}{np.mean(acc):>10.3f}{np.min(acc):>8.3f}{np.mean(miou):>11.3f}{len(rs):>5}")
    (HERE / "out" / "eo-select-screen.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
