"""The header of a ``.npy`` array, read before its data: what the array declares (shape,
order, dtype, bytes of data), so that a reader can refuse it before allocating anything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy

_READERS = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}


class NpyVersionError(ValueError):
    """A ``.npy`` format version other than 1.0 and 2.0 (numpy's own reader takes those)."""


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        """Bytes of data the header declares."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def read_npy_header(f: BinaryIO) -> NpyHeader:
    """The header at ``f``'s position (``f`` is left at the data). :class:`NpyVersionError`
    for another format version; ValueError for a malformed header or an object array (those
    need pickles)."""
    version = npy.read_magic(f)
    if version not in _READERS:
        raise NpyVersionError(f"format version {version} (eotrust reads 1.0 and 2.0)")
    shape, fortran, dtype = _READERS[version](f)
    if dtype.hasobject:
        raise ValueError("object arrays need pickles, which are not accepted")
    return NpyHeader(tuple(shape), bool(fortran), dtype)
