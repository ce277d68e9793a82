"""What `GET /linked-data` and `/sparql` cost the server, built on each request or kept.

Both are open to anyone and answer from the whole catalogue graph. This script registers N
signed datasets in a fresh catalogue, then measures, in the same run and through the API's
routes (FastAPI's TestClient, in process), requests per second when the graph is built for each
request — the reference: the server's kept graphs emptied before each — and when it is kept
until the catalogue changes (``eotrust.linked.kept``); and checks that a dataset registered
by another ``Catalog`` is in the next answer.

    .venv/bin/python benchmarks/linked_data.py [--records 2000] [--requests 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from _bench import bench_catalog, bench_dataset
from eth_account import Account
from fastapi.testclient import TestClient

from eotrust.api.app import create_app
from eotrust.catalog.service import Catalog
from eotrust.linked.kept import KeptGraphs

QUERY = "SELECT (COUNT(?d) AS ?n) WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> }"


def rate(n: int, request: Callable[[], object], before: Callable[[], None] = lambda: None) -> float:
    """Requests per second of ``n`` calls of ``request`` (``before`` each, not timed)."""
    spent = 0.0
    for _ in range(n):
        before()
        t = time.perf_counter()
        request()
        spent += time.perf_counter() - t
    return n / spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args()
    settings, _ = bench_catalog("linked-", args.records)

    with TestClient(create_app(settings)) as client:
        state = client.app.state.eotrust  # type: ignore[attr-defined]

        def forget() -> None:
            state.__dict__["linked_graphs"] = KeptGraphs()

        def turtle() -> None:
            assert client.get("/linked-data").status_code == 200

        def sparql() -> None:
            assert client.get("/sparql", params={"query": QUERY}).status_code == 200

        for name, request in (("GET /linked-data", turtle), ("GET /sparql (a count)", sparql)):
            built = rate(args.requests, request, forget)
            request()
            kept = rate(args.requests, request)
            print(f"{name}: built each time {built:.2f} req/s, kept {kept:.1f} req/s -> {kept / built:.0f}x")
        Catalog(settings).register(Account.create(), bench_dataset(args.records))
        fresh = client.get("/sparql", params={"query": QUERY}).json()["results"]["bindings"][0]["n"]["value"]
        print(f"after another process registered one more: {fresh} datasets in the next answer")
        if int(fresh) != args.records + 1:
            print("NOT SEEN")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
