"""A participant's local training: start from the global model, train on its own pixels, and
return the update (local − global), privatised when the plan asks for it.

It needs from :mod:`eotrust.ml` only ``build_model`` (through the plan): the loop is here
because FedProx adds a proximal term to the loss, which the generic trainer does not have.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from eotrust.federated.data import PixelSet
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.privacy import privatise
from eotrust.federated.strategy import strategy_of
from eotrust.federated.weights import Weights, floating, from_module, load_into


def _seed(plan: FederatedPlan, *parts: object) -> int:
    text = ":".join(str(p) for p in (plan.seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def train_local(
    plan: FederatedPlan, global_weights: Weights, data: PixelSet, *, round_: int, index: int, threads: int = 1
) -> Weights:
    """The update of participant ``index`` in ``round_``: its local model minus the global one.

    ``threads``: torch CPU threads while training (1 by default: these small convolutions gain
    nothing from intra-op threads and lose much when cores are shared); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _train_local(plan, global_weights, data, round_=round_, index=index)
    finally:
        torch.set_num_threads(before)


def _train_local(plan: FederatedPlan, global_weights: Weights, data: PixelSet, *, round_: int, index: int) -> Weights:
    seed = _seed(plan, "local", round_, index)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = plan.build_model()
    load_into(model, global_weights)
    anchor = [p.detach().clone() for p in model.parameters()]
    mu = strategy_of(plan).proximal_mu
    k = len(plan.classes)
    counts = np.bincount(data.y, minlength=k).astype(np.float64)
    w = np.sqrt(counts.sum() / (k * np.maximum(counts, 1)))
    w[counts == 0] = 0.0
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(w / max(w[counts > 0].mean(), 1e-12), dtype=torch.float32))
    opt = torch.optim.Adam(model.parameters(), lr=plan.learning_rate)
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    model.train()
    for _ in range(plan.local_epochs):
        order = torch.randperm(len(y), generator=generator)
        for i in range(0, len(y), plan.batch_size):
            batch = order[i : i + plan.batch_size]
            if len(batch) < 2:
                continue  # BatchNorm needs two samples
            opt.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            if mu > 0:
                loss = loss + (mu / 2) * sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor))
            loss.backward()
            opt.step()
    local = from_module(model)
    delta: Weights = OrderedDict(
        (n, (local[n] - global_weights[n]).astype(global_weights[n].dtype)) for n in floating(global_weights)
    )
    if plan.privacy is not None:
        # the noise is secret: drawn from the operating system's entropy, never from the plan's
        # seed, the round and the index (public: whoever opens the update could subtract it)
        delta = privatise(delta, plan.privacy, np.random.default_rng(secrets.randbits(128)))
    return delta


def evaluate(plan: FederatedPlan, weights: Weights, data: PixelSet) -> tuple[float, float]:
    """(pixel accuracy, mean IoU over the classes present) of ``weights`` on ``data``."""
    from eotrust.ml.metrics import confusion_matrix, metrics_from_confusion

    model = plan.build_model()
    load_into(model, weights)
    model.eval()
    with torch.no_grad():
        pred = torch.cat(
            [model(torch.from_numpy(data.x[i : i + 4096])).argmax(1) for i in range(0, len(data), 4096)]
        ).numpy()
    cm = confusion_matrix(data.y, pred, len(plan.classes))
    m = metrics_from_confusion(cm, plan.classes)
    return float(m.pixel_accuracy), float(m.mean_iou)


def train_alone(plan: FederatedPlan, data: PixelSet, *, rounds: int) -> Weights:
    """A model trained on ``data`` only, for as many epochs as the federation runs in total
    (the baselines of the benchmark: centralised, and each owner alone)."""
    weights = plan.initial_weights()
    for r in range(rounds):
        delta = train_local(
            plan.model_copy(update={"privacy": None, "strategy": "fedavg"}), weights, data, round_=r, index=0
        )
        weights = OrderedDict((n, (v + delta[n]).astype(v.dtype) if n in delta else v) for n, v in weights.items())
    return weights
