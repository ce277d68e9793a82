"""Data-parallel training (PyTorch DDP) over several processes: local ones
(:func:`train_local`, torch.multiprocessing) or one per worker of a Dask cluster
(:func:`train_on_dask`).

Every rank opens the same training-dataset archive, joins a torch.distributed group (gloo on
CPU, NCCL on CUDA) whose rendezvous rank 0 serves on a free TCP port, and runs
:func:`eotrust.ml.train.train` with its :class:`~eotrust.ml.distributed.Ranks`. Rank 0's
checkpoint and result are the run's.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from eotrust.errors import BackendUnavailableError, EotrustError, InvalidInputError, ModelError
from eotrust.limits import json_loads
from eotrust.ml.distributed import Ranks, join, leave
from eotrust.ml.inference import pick_device
from eotrust.ml.modeldef import ModelDef
from eotrust.ml.train import TrainResult, train
from eotrust.ports import free_port
from eotrust.settings import Settings


@dataclass(frozen=True)
class RankJob:
    """What every rank needs (pickled to each process or Dask worker)."""

    dataset: Path
    model_def: ModelDef
    checkpoint: Path
    address: str
    world_size: int
    device: str | None = None
    dataset_cid: str | None = None
    init_from: Path | None = None
    threads: int | None = None
    timeout_s: float = 120.0
    log: bool = False
    settings: Settings | None = None  # where a worker fetches ``dataset_cid`` when ``dataset`` is not there


def run_rank(job: RankJob, rank: int) -> TrainResult:
    """Train as rank ``rank`` of ``job.world_size``: join the group, train, leave."""
    from eotrust.eo.dataset import TrainingDataset

    ranks = Ranks(rank, job.world_size)
    job = _with_local_dataset(job)
    device = job.device
    if device in (None, "cuda") and torch.cuda.is_available():  # one GPU per rank, round robin
        device = f"cuda:{rank % torch.cuda.device_count()}"
    dev = pick_device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    join(job.address, ranks, dev, timeout_s=job.timeout_s)
    try:
        with TrainingDataset(job.dataset) as ds:
            return train(
                ds,
                job.model_def,
                job.checkpoint,
                dataset_cid=job.dataset_cid,
                device=str(dev),
                threads=job.threads or 1,
                init_from=job.init_from,
                ranks=ranks,
                log=(lambda line: print(line, flush=True)) if job.log else None,
            )
    finally:
        leave()


def _with_local_dataset(job: RankJob) -> RankJob:
    """``job`` with a dataset path readable here: fetched from the store by its CID (verified)
    when the path is not on this machine and the job names a store."""
    if Path(job.dataset).is_file() or job.settings is None or job.dataset_cid is None:
        return job
    from eotrust.eo.dataset import fetch_dataset
    from eotrust.store import open_store

    settings = job.settings
    return replace(job, dataset=fetch_dataset(open_store(settings), job.dataset_cid, settings.path("datasets")))


def _check(dataset: Path, workers: int, device: str | None = None) -> None:
    if workers < 1:
        raise InvalidInputError(f"--workers must be at least 1, not {workers}")
    cuda = (device or "").startswith("cuda") or (device is None and torch.cuda.is_available())
    # every rank computes every step and waits for the others: ranks beyond the processors
    # (GPUs with CUDA) only slow the run and fill the machine with processes
    room, what = (torch.cuda.device_count(), "GPUs") if cuda else (len(os.sched_getaffinity(0)), "CPUs")
    if workers > room:
        raise InvalidInputError(
            f"--workers {workers} asks for more local ranks than this machine's {what}: {room}",
            hint=f"use at most {room}, or --workers dask for one rank per worker of a Dask cluster",
        )
    if not Path(dataset).is_file():
        raise InvalidInputError(f"training dataset {dataset} does not exist")


# -- local processes --------------------------------------------------------------------


def _spawned(rank: int, job: RankJob, outbox: str) -> None:
    """One local rank (the target torch.multiprocessing.spawn calls)."""
    try:
        result = run_rank(job, rank)
    except EotrustError as exc:
        # atomically: the launcher stops the other ranks as soon as one fails, maybe this one
        # halfway through the write, and must never read half an error
        from eotrust.store.atomic import write_atomic

        write_atomic(
            Path(outbox, f"error-{rank}.json"), json.dumps({"message": exc.message, "hint": exc.hint}).encode()
        )
        raise SystemExit(1) from None
    if rank == 0:
        Path(outbox, "result.pickle").write_bytes(pickle.dumps(result))


def _start_method(device: str | None) -> str:
    """fork where this process has no GPU (the ranks start at once, torch already imported),
    else spawn, even for CPU ranks: CUDA cannot be forked once initialised, and where a GPU is
    present autograd's first backward in this process starts per-device threads, after which
    torch refuses a forked child's backward ("Unable to handle autograd's threading in
    combination with fork-based multiprocessing", seen on an H200 machine for CPU ranks started
    after a training in the parent). Spawn also where fork is missing."""
    import multiprocessing

    cuda = (device or "").startswith("cuda") or torch.cuda.is_available()
    return "fork" if not cuda and "fork" in multiprocessing.get_all_start_methods() else "spawn"


def train_local(
    dataset: Path,
    model_def: ModelDef,
    checkpoint: Path,
    *,
    workers: int,
    device: str | None = None,
    dataset_cid: str | None = None,
    init_from: Path | None = None,
    threads: int | None = None,
    log: bool = False,
    timeout_s: float = 120.0,
) -> TrainResult:
    """Train with ``workers`` local processes (one rank each, rendezvous on loopback);
    rank 0 writes ``checkpoint``. ``threads``: torch threads per rank (default 1). The
    processes are forked on CPU and spawned when CUDA is used."""
    _check(dataset, workers, device)
    from torch.multiprocessing.spawn import ProcessExitedException, ProcessRaisedException, start_processes

    job = RankJob(
        Path(dataset).resolve(),
        model_def,
        Path(checkpoint).resolve(),
        f"127.0.0.1:{free_port()}",
        workers,
        device,
        dataset_cid,
        init_from,
        threads,
        timeout_s,
        log,
    )
    with tempfile.TemporaryDirectory(prefix="eotrust-ddp-") as outbox:
        try:
            start_processes(  # type: ignore[no-untyped-call]  # torch's start_processes is unannotated
                _spawned, args=(job, outbox), nprocs=workers, join=True, start_method=_start_method(device)
            )
        except (ProcessRaisedException, ProcessExitedException) as exc:
            raise rank_error(Path(outbox)) or ModelError(
                f"a training process failed: {str(exc).strip().splitlines()[-1]}"
            ) from None
        result: TrainResult = pickle.loads(Path(outbox, "result.pickle").read_bytes())  # noqa: S301 - our rank 0's
        return result


def rank_error(outbox: Path) -> ModelError | None:
    """The failure the lowest failing rank reported in ``outbox``, if any rank finished saying
    why (a rank stopped while writing leaves no file, or an unreadable one: skipped)."""
    for path in sorted(outbox.glob("error-*.json")):
        try:
            said = json_loads(path.read_text())
            message, hint = said["message"], said.get("hint")
        except (OSError, ValueError, TypeError, KeyError):
            continue
        return ModelError(
            f"distributed training failed on {path.stem.replace('error-', 'rank ')}: {message}", hint=hint
        )
    return None


# -- a Dask cluster -------------------------------------------------------------------------


def _dask_rank(job: RankJob, rank: int) -> tuple[str, Any]:
    """What each Dask task runs: rank ``rank``; rank 0 sends back the checkpoint's bytes."""
    try:
        with tempfile.TemporaryDirectory(prefix="eotrust-ddp-") as tmp:
            local = replace(job, checkpoint=Path(tmp) / "model.pt")
            result = run_rank(local, rank)
            data = local.checkpoint.read_bytes() if rank == 0 else None
        return "ok", (result, data)
    except EotrustError as exc:
        return "error", (type(exc).__name__, exc.message, exc.hint)


def _port_here() -> int:
    return free_port("0.0.0.0")


def train_on_dask(
    client: Any,
    dataset: Path,
    model_def: ModelDef,
    checkpoint: Path,
    *,
    device: str | None = None,
    dataset_cid: str | None = None,
    init_from: Path | None = None,
    threads: int | None = None,
    timeout_s: float = 120.0,
    settings: Settings | None = None,
) -> TrainResult:
    """Train with one rank on each worker of the Dask cluster behind ``client`` (a
    ``distributed.Client``). Each worker reads ``dataset`` at that path or, where it is not
    there and ``settings`` and ``dataset_cid`` are given, fetches the archive by its CID from
    the store the settings name (verified; the passphrase is not sent). ``init_from`` must be
    at the same path on every worker. The checkpoint comes back through Dask and is written
    here."""
    from eotrust.store.atomic import write_atomic

    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
    addresses = sorted(info.get("workers", {}))
    if not addresses:
        raise BackendUnavailableError(
            "the Dask cluster has no workers", hint="start workers with `dask worker SCHEDULER_ADDRESS`"
        )
    dataset = Path(dataset).resolve()
    missing = [a for a, ok in client.run(os.path.isfile, str(dataset), workers=addresses).items() if not ok]
    if settings is not None:
        settings = settings.model_copy(update={"passphrase": None})
    if missing and not (settings is not None and dataset_cid):
        raise InvalidInputError(
            f"training dataset {dataset} is not readable on the Dask worker(s) {', '.join(sorted(missing))}",
            hint="put the archive at the same path on every worker, or give its CID and the store",
        )
    leader = addresses[0]
    port = client.run(_port_here, workers=[leader])[leader]
    job = RankJob(
        dataset,
        model_def,
        Path(checkpoint),
        f"{urlparse(leader).hostname}:{port}",
        len(addresses),
        device,
        dataset_cid,
        init_from,
        threads,
        timeout_s,
        settings=settings,
    )
    run = uuid.uuid4().hex[:8]
    futures = [
        client.submit(
            _dask_rank,
            job,
            rank,
            workers=[address],
            allow_other_workers=False,
            pure=False,
            key=f"eotrust-ddp-{run}-rank-{rank}",
        )
        for rank, address in enumerate(addresses)
    ]
    outcomes = client.gather(futures)
    for rank, (status, value) in enumerate(outcomes):
        if status == "error":
            raise ModelError(
                f"distributed training failed on rank {rank} ({addresses[rank]}): {value[1]}", hint=value[2]
            )
    result: TrainResult
    result, data = outcomes[0][1]
    write_atomic(Path(checkpoint), data)
    result.checkpoint = Path(checkpoint)
    return result


def _takes_n_workers(client: Any) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


def parse_workers(value: str) -> int | str:
    """``--workers``: a number of local ranks, or ``dask`` (one rank per Dask worker)."""
    if value.strip().lower() == "dask":
        return "dask"
    try:
        n = int(value)
    except ValueError:
        raise InvalidInputError(f"--workers takes a number of processes or 'dask', not {value!r}") from None
    if n < 1:
        raise InvalidInputError(f"--workers must be at least 1, not {n}")
    return n
