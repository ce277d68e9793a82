"""A participant's update: what it holds, how it is checked, sealed and opened.

The update is the participant's delta (local − global weights, ``eotrust-weights/1``) with a
small JSON header (task, round, participant index, samples). It is sealed with age for the
aggregator and for the task's submitter (the auditor, who may run ``verify``) — nobody else
can read it — and its ciphertext's CID is what the participant submits on the ledger, in a
transaction signed with its key.

Secure aggregation (the aggregator seeing only the sum) is not implemented: the aggregator
sees each update it opens. Differential privacy (:mod:`privacy`) bounds what it can learn.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

from eotrust.cid import canonical_json
from eotrust.crypto.age import NotARecipientError, decrypt_stream, encrypt_stream
from eotrust.errors import BackendUnavailableError, EotrustError, InvalidInputError, NotFoundError
from eotrust.federated.weights import MAGIC as WEIGHTS_MAGIC
from eotrust.federated.weights import MAX_HEADER as WEIGHTS_MAX_HEADER
from eotrust.federated.weights import Weights, decode, encode, floating, name_difference
from eotrust.limits import json_loads
from eotrust.store.base import Store

UPDATE_MAGIC = b"eotrust-update/1\n"
_MAX_HEADER = 4096


class GarbageUpdateError(InvalidInputError):
    """An update that cannot be aggregated: malformed, wrong shape or dtype, NaN or infinite."""


class UpdateNotStoredError(GarbageUpdateError):
    """An update whose object is not in the store (yet): its record may reach the ledger before
    its object the store. The aggregator waits for it until the round's deadline and refuses it
    only then; ``verify`` cannot judge an aggregated one without it."""


class SealedForOthersError(GarbageUpdateError):
    """An update this key cannot open because its participant did not seal it for this key:
    garbage to the one who must aggregate it, a check ``verify`` cannot make with this key."""


@dataclass(frozen=True)
class Update:
    task: str
    round: int
    index: int
    samples: int
    delta: Weights

    def to_bytes(self) -> bytes:
        head = canonical_json(
            {"task": self.task.lower(), "round": self.round, "index": self.index, "samples": self.samples}
        )
        return UPDATE_MAGIC + struct.pack("<I", len(head)) + head + encode(self.delta)

    @classmethod
    def from_bytes(cls, data: bytes) -> Update:
        if not data.startswith(UPDATE_MAGIC) or len(data) < len(UPDATE_MAGIC) + 4:
            raise GarbageUpdateError("the update is not an eotrust update (bad magic)")
        (n,) = struct.unpack_from("<I", data, len(UPDATE_MAGIC))
        start = len(UPDATE_MAGIC) + 4
        if n > _MAX_HEADER or start + n > len(data):
            raise GarbageUpdateError("the update's header is out of bounds")
        try:
            head = json_loads(data[start : start + n])
            fields = (str(head["task"]), int(head["round"]), int(head["index"]), int(head["samples"]))
        except (ValueError, KeyError, TypeError, OverflowError) as exc:  # 1e400: int(inf) overflows
            raise GarbageUpdateError(f"the update's header is malformed: {exc}") from None
        try:
            delta = decode(data[start + n :], what="the update's tensors")
        except InvalidInputError as exc:
            raise GarbageUpdateError(exc.message) from None
        return cls(*fields, delta=delta)


def check_update(update: Update, global_weights: Weights, *, task: str, round_: int, index: int, samples: int) -> None:
    """Raise GarbageUpdateError unless ``update`` is for this task, round and participant, says
    the sample count recorded on the ledger, and has exactly the global model's floating
    tensors (names, shapes, dtypes), every value finite."""
    if (update.task, update.round, update.index, update.samples) != (task.lower(), round_, index, samples):
        raise GarbageUpdateError(
            f"the update says task {update.task} round {update.round} participant #{update.index} ({update.samples} samples); "
            f"the ledger says {task.lower()} round {round_} participant #{index} ({samples} samples)"
        )
    expected = floating(global_weights)
    if list(update.delta) != expected:
        raise GarbageUpdateError(
            f"the update's tensors are not the model's: {name_difference(list(update.delta), expected)}"
        )
    for name in expected:
        d, g = update.delta[name], global_weights[name]
        if d.shape != g.shape or d.dtype != g.dtype:
            raise GarbageUpdateError(
                f"tensor {name} is {d.dtype}{list(d.shape)}, the model's is {g.dtype}{list(g.shape)}"
            )
        if not np.all(np.isfinite(d)):
            raise GarbageUpdateError(f"tensor {name} holds NaN or infinite values")


def seal_update(store: Store, update: Update, recipients: list[str]) -> str:
    """Seal ``update`` for ``recipients`` (age) into ``store``; the ciphertext's CID. In memory:
    an update is derived from the participant's private pixels, and no plaintext of it is
    written to disk (an update is the size of the model)."""
    sealed = io.BytesIO()
    encrypt_stream(io.BytesIO(update.to_bytes()), sealed, recipients)
    return store.put_bytes(sealed.getvalue())


def sealed_update_bound(global_weights: Weights) -> int:
    """The most bytes a sound update of this model takes once sealed: its header, its delta
    (the model's floating tensors and their header) and age's overhead (16 bytes per 64 KiB
    chunk, and a header of a few hundred bytes for the two recipients)."""
    plain = len(UPDATE_MAGIC) + 4 + _MAX_HEADER + len(WEIGHTS_MAGIC) + 4 + WEIGHTS_MAX_HEADER
    plain += sum(global_weights[name].nbytes for name in floating(global_weights))
    return plain + 16 * (plain // 65536 + 1) + 4096


def open_update(store: Store, cid: str, identity: str, *, like: Weights | None = None) -> Update:
    """Decrypt and parse the sealed update ``cid``; GarbageUpdateError if it cannot be read.
    ``like``: the round's global model: an object larger than any sound update of it
    (:func:`sealed_update_bound`) is refused before it is decrypted (a participant could
    otherwise fill the aggregator's disk and memory with one submission)."""
    if like is not None:
        try:
            size, bound = store.size(cid), sealed_update_bound(like)
        except NotFoundError as exc:
            raise UpdateNotStoredError(f"cannot open update {cid}: {exc.message}") from None
        except BackendUnavailableError:
            raise  # the store is down: no judgement of the update (before, it was refused as garbage)
        except EotrustError as exc:
            raise GarbageUpdateError(f"cannot open update {cid}: {exc.message}") from None
        if size > bound:
            raise GarbageUpdateError(f"update {cid} is {size} bytes; a sealed update of this model is at most {bound}")
    plaintext = io.BytesIO()  # in memory: another party's update never touches this disk
    try:
        # the ciphertext's CID is what the participant signed on chain, and age authenticates
        # every chunk, so the plaintext is bound to it; Update.from_bytes checks its shape
        with store.open(cid) as ciphertext:
            decrypt_stream(ciphertext, plaintext, identity)
    except NotARecipientError as exc:
        raise SealedForOthersError(f"cannot open update {cid}: {exc.message}") from None
    except NotFoundError as exc:
        raise UpdateNotStoredError(f"cannot open update {cid}: {exc.message}") from None
    except BackendUnavailableError:
        raise
    except EotrustError as exc:
        raise GarbageUpdateError(f"cannot open update {cid}: {exc.message}") from None
    return Update.from_bytes(plaintext.getvalue())
