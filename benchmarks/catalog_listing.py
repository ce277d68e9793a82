"""What one catalogue listing costs the server, and what keeping checked records saves.

Every row a listing or a search returns is checked (columns against the signed body, body
against its id, the owner's signature): ~1 ms a row. `GET /catalog/datasets` is open to anyone,
so before the server kept checked records (``eotrust.catalog.checked``) each request for a
catalogue of N datasets cost N of those. This script registers N signed datasets in a fresh
catalogue, then measures, in the same run, the CPU time of the same listing (in process, and
through the API's route with FastAPI's TestClient) when every row is checked — a fresh
``Catalog``, the reference — and when it is read again; it prints both and the ratio, and checks
that a row edited after it was kept is still caught (left out of the listing and named).

    .venv/bin/python benchmarks/catalog_listing.py [--records 2000]
"""

from __future__ import annotations

import argparse
import sqlite3
import time

from _bench import bench_catalog
from fastapi.testclient import TestClient

from eotrust.api.app import create_app
from eotrust.catalog.entries import Kind
from eotrust.catalog.service import Catalog


def cpu(fn: object) -> float:
    assert callable(fn)
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    args = parser.parse_args()
    settings, catalog = bench_catalog("catalog-", args.records)

    cold = cpu(lambda: Catalog(settings).list(Kind.DATASET))  # a fresh catalogue: every row checked
    catalog.list(Kind.DATASET)
    warm = min(cpu(lambda: catalog.list(Kind.DATASET)) for _ in range(3))
    print(
        f"Catalog.list: every row checked {cold * 1e3:.0f} ms CPU ({cold / args.records * 1e6:.0f} us a row); "
        f"read again {warm * 1e3:.0f} ms -> {cold / warm:.1f}x less"
    )

    with TestClient(create_app(settings)) as client:
        first = cpu(lambda: client.get("/catalog/datasets"))
        again = min(cpu(lambda: client.get("/catalog/datasets")) for _ in range(3))
        count = len(client.get("/catalog/datasets").json())
        matched = client.get("/stac/search?limit=10").json()["numberMatched"]
        stac = min(cpu(lambda: client.get("/stac/search?limit=10")) for _ in range(3))
        paged = min(cpu(lambda: client.get("/catalog/datasets?limit=10")) for _ in range(3))
        datasets = "/stac/search?collections=datasets&limit=10"
        late = f"{datasets}&token=offset:{matched - 10}"  # the last page: the database skips to it
        stac_paged = min(cpu(lambda: client.get(datasets)) for _ in range(3))
        stac_late = min(cpu(lambda: client.get(late)) for _ in range(3))
    print(
        f"GET /stac/search?limit=10 ({matched} match) {stac * 1e3:.0f} ms CPU beside GET /catalog/datasets?limit=10 "
        f"{paged * 1e3:.0f} ms ({stac / paged:.1f}x: a search of every collection filters every matching record, "
        "paging in the database does not; STAC items are built for the page only)"
    )
    print(
        f"GET {datasets} (paged in the database): first page {stac_paged * 1e3:.0f} ms CPU, last page "
        f"{stac_late * 1e3:.0f} ms, beside every collection's {stac * 1e3:.0f} ms ({stac / stac_paged:.1f}x less)"
    )
    print(
        f"GET /catalog/datasets ({count} records): first {first * 1e3:.0f} ms CPU, again {again * 1e3:.0f} ms "
        f"-> {first / again:.1f}x less (the answer's JSON is the rest)"
    )

    # an edit made after the record was kept is still found: the row is left out and named
    db = settings.home_dir / "catalog" / "catalog.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE catalog_datasets SET title = 'edited' WHERE title = 'dataset 7'")
    listing = catalog.list(Kind.DATASET)
    if len(listing) == args.records - 1 and len(listing.skipped) == 1:
        print(f"after an edit: the row is left out and named ({listing.skipped[0].reason[:90]}…)")
        return 0
    print(f"after an edit: NOT CAUGHT ({len(listing)} records listed, {len(listing.skipped)} left out)")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
