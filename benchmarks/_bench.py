"""What the benchmark scripts share: a timer, a scratch file of random bytes on the repository's disk, a
catalogue dataset record, and a fresh catalogue holding N of them."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eotrust.catalog.entries import DatasetInfo
    from eotrust.catalog.service import Catalog
    from eotrust.settings import Settings

HERE = Path(__file__).resolve().parent


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def scratch_dir(prefix: str) -> Path:
    """A fresh directory under benchmarks/out (the repository's disk, not /tmp, which may be slower)."""
    (HERE / "out").mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=HERE / "out"))


def random_file(path: Path, mib: int) -> Path:
    """Write ``mib`` MiB of random bytes to ``path``."""
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    return path


def bench_dataset(i: int) -> DatasetInfo:
    """The ``i``-th of the benchmarks' catalogue datasets (same footprint and object, its own title)."""
    from eotrust.catalog.entries import DatasetInfo

    return DatasetInfo(
        title=f"dataset {i}",
        cid="QmWdL3popvi9diBi41SmFtDmmFugRovnuhoprE1o4ejov8",
        size=1000 + i,
        bbox=(14.0, 45.0, 15.0, 46.0),
        start="2017-01-01T00:00:00Z",
        end="2017-12-31T00:00:00Z",
        keywords=["ndvi", "sentinel-2"],
    )


def bench_catalog(prefix: str, records: int) -> tuple[Settings, Catalog]:
    """A fresh home (in a scratch folder named ``prefix``…) whose catalogue holds ``records``
    of :func:`bench_dataset`, signed by one new account; says how long registering took."""
    from eth_account import Account

    from eotrust.catalog.service import Catalog
    from eotrust.settings import load_settings

    settings = load_settings(home=scratch_dir(prefix) / "home")
    catalog = Catalog(settings)
    owner = Account.create()
    t = time.perf_counter()
    for i in range(records):
        catalog.register(owner, bench_dataset(i))
    print(f"{records} signed datasets registered in {time.perf_counter() - t:.1f} s")
    return settings, catalog
