"""The torch.distributed pieces the trainer uses when it is one rank of several.

:class:`Ranks` says which rank this process is of how many; the collectives below are no-ops
for a single rank, so the trainer has one code path. The process group itself is opened by
:mod:`eotrust.ml.launch` (local processes or one rank per Dask worker): gloo on CPU, NCCL on
CUDA, rendezvous over TCP at ``host:port``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler

from eotrust.errors import BackendUnavailableError


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1

    @property
    def many(self) -> bool:
        return self.world_size > 1

    @property
    def leader(self) -> bool:
        return self.rank == 0


SINGLE = Ranks()


def backend_for(device: torch.device) -> str:
    """NCCL between GPUs, gloo between CPUs."""
    return "nccl" if device.type == "cuda" else "gloo"


def join(address: str, ranks: Ranks, device: torch.device, *, timeout_s: float = 120.0) -> None:
    """Open the default process group: rendezvous at ``address`` (``host:port``, served by
    rank 0)."""
    try:
        dist.init_process_group(
            backend_for(device),
            init_method=f"tcp://{address}",
            rank=ranks.rank,
            world_size=ranks.world_size,
            timeout=timedelta(seconds=timeout_s),
        )
    except (RuntimeError, ValueError) as exc:  # torch reports rendezvous failures as RuntimeError
        raise BackendUnavailableError(
            f"rank {ranks.rank} of {ranks.world_size} could not join the training group at {address}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def shard_indices(n: int, ranks: Ranks, *, seed: int, epoch: int) -> torch.Tensor:
    """This rank's share of a shuffled epoch over ``n`` samples (DistributedSampler: the
    same permutation on every rank, padded so every rank gets ``ceil(n / world)``)."""
    indices: Any = range(n)  # DistributedSampler needs only len() of its dataset
    sampler: DistributedSampler[int] = DistributedSampler(
        indices, num_replicas=ranks.world_size, rank=ranks.rank, shuffle=True, seed=seed
    )
    sampler.set_epoch(epoch)
    return torch.tensor(list(iter(sampler)), dtype=torch.long)


def all_sum(values: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The element-wise sum of ``values`` over the ranks (``values`` itself for one)."""
    if not ranks.many:
        return values
    out = values.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def share_buffers(model: nn.Module, ranks: Ranks) -> None:
    """Give every rank rank 0's buffers (batch-norm statistics), so all evaluate the same model."""
    if ranks.many:
        for buffer in model.buffers():
            dist.broadcast(buffer.data, src=0)


def wrap(model: nn.Module, ranks: Ranks, device: torch.device) -> nn.Module:
    """``model`` under DistributedDataParallel when there are several ranks."""
    if not ranks.many:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index or 0] if device.type == "cuda" else None)
