"""A model's tensors as deterministic bytes: ``eotrust-weights/1``.

``MAGIC | u32 header length | header JSON | raw little-endian tensors``; the header lists each
tensor's name, dtype and shape in the model's order. The same tensors always give the same
bytes, so a global model's CID is its identity and ``verify`` compares aggregates by CID.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from typing import Any

import numpy as np

from eotrust.cid import canonical_json
from eotrust.errors import InvalidInputError
from eotrust.limits import json_loads

MAGIC = b"eotrust-weights/1\n"
_DTYPES: dict[str, np.dtype[Any]] = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8"), "int64": np.dtype("<i8")}
MAX_HEADER = 1 << 20

Weights = OrderedDict[str, np.ndarray]


def encode(weights: Weights) -> bytes:
    header = []
    blobs = []
    for name, array in weights.items():
        a = np.asarray(array)
        dtype = a.dtype.name
        if dtype not in _DTYPES:
            raise InvalidInputError(f"tensor {name} has dtype {dtype}; weights are float32, float64 or int64")
        header.append({"name": name, "dtype": dtype, "shape": list(a.shape)})
        blobs.append(np.ascontiguousarray(a, dtype=_DTYPES[dtype]).tobytes())
    head = canonical_json(header)
    return MAGIC + struct.pack("<I", len(head)) + head + b"".join(blobs)


def decode(data: bytes, *, what: str = "weights") -> Weights:
    """The tensors of ``data``; InvalidInputError naming ``what`` if it is not well formed."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise InvalidInputError(f"{what} are not eotrust weights (bad magic)")
    (n,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4
    if n > MAX_HEADER or start + n > len(data):
        raise InvalidInputError(f"{what}: the header length {n} is out of bounds")
    try:
        header = json_loads(data[start : start + n])
        out: Weights = OrderedDict()
        offset = start + n
        for entry in header:
            dtype = _DTYPES[entry["dtype"]]
            shape = tuple(int(d) for d in entry["shape"])
            if any(d < 0 for d in shape):
                raise ValueError("negative dimension")
            size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if offset + size > len(data):
                raise ValueError("truncated")
            out[str(entry["name"])] = (
                np.frombuffer(data, dtype=dtype, count=size // dtype.itemsize, offset=offset).reshape(shape).copy()
            )
            offset += size
    except (ValueError, KeyError, TypeError, OverflowError) as exc:  # 1e400: int(inf) overflows
        raise InvalidInputError(f"{what} are malformed: {exc}") from None
    if offset != len(data):
        raise InvalidInputError(f"{what} have {len(data) - offset} trailing bytes")
    return out


def from_module(module: object) -> Weights:
    """A torch module's state dict as numpy arrays, in its order."""
    state = module.state_dict()  # type: ignore[attr-defined]
    return OrderedDict((k, v.detach().cpu().numpy().copy()) for k, v in state.items())


def load_into(module: object, weights: Weights) -> None:
    import torch

    module.load_state_dict(OrderedDict((k, torch.from_numpy(np.array(v))) for k, v in weights.items()))  # type: ignore[attr-defined]


def floating(weights: Weights) -> list[str]:
    """Names of the tensors that training moves and aggregation averages (the floating ones;
    counters such as BatchNorm's ``num_batches_tracked`` stay as in the global model)."""
    return [k for k, v in weights.items() if v.dtype.kind == "f"]


def l2_norm(delta: Weights) -> float:
    """The L2 norm of ``delta`` over its floating tensors: float64, in the tensors' order."""
    return float(np.sqrt(sum(float(np.sum(delta[k].astype(np.float64) ** 2)) for k in floating(delta))))


#: Names said in a refusal: at most this many of each kind, each cut to this many characters.
_SAID_NAMES, _SAID_CHARS = 8, 60


def _said(names: list[str]) -> str:
    """``names`` quoted for a one-line message: a name is another party's bytes (repr escapes a
    newline), a few of them at most, each cut short."""
    shown = [repr(n if len(n) <= _SAID_CHARS else n[:_SAID_CHARS] + "…") for n in names[:_SAID_NAMES]]
    more = f" and {len(names) - _SAID_NAMES} more" if len(names) > _SAID_NAMES else ""
    return ", ".join(shown) + more


def name_difference(got: list[str], expected: list[str]) -> str:
    """How the tensor names ``got`` differ from ``expected`` (they do): the extra and the missing
    names, or where the order first differs."""
    have, want = set(got), set(expected)
    extra = [n for n in got if n not in want]
    missing = [n for n in expected if n not in have]
    parts = ([f"extra {_said(extra)}"] if extra else []) + ([f"missing {_said(missing)}"] if missing else [])
    if parts:
        return "; ".join(parts)
    i = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
    return f"the same names in another order (#{i} is {_said([got[i]])}, the model's {_said([expected[i]])})"


def check_like(weights: Weights, reference: Weights, what: str) -> None:
    """InvalidInputError unless ``weights`` has exactly ``reference``'s tensors: names in order,
    shapes and dtypes (a model another party published, against the plan's)."""
    if list(weights) != list(reference):
        raise InvalidInputError(
            f"{what} is not the plan's model: tensor names differ ({name_difference(list(weights), list(reference))})"
        )
    for name, ref in reference.items():
        got = weights[name]
        if got.shape != ref.shape or got.dtype != ref.dtype:
            raise InvalidInputError(
                f"{what} is not the plan's model: tensor {name} is {got.dtype}{list(got.shape)}, "
                f"the plan's {ref.dtype}{list(ref.shape)}"
            )
        if got.dtype.kind == "f" and not np.isfinite(got).all():
            raise InvalidInputError(f"{what} holds NaN or infinite values (tensor {name}): nothing can train from it")
