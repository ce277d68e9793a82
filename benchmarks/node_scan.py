"""A platform node's scan of the ledger when strangers have opened many tasks naming its
platform (locked, never answered: anyone may open them, with no consent of the platform),
beside the reference measured in the same run: reading every task in full, which is what
each scan did before (``TaskClient.status``: the contract's snapshot and the task's logs from
its creation block to the head). The node scans at each start, each ``node run --once`` and
each return of an unreachable chain.

    python benchmarks/node_scan.py [--tasks 200]
"""

from __future__ import annotations

import argparse
import os

from _bench import scratch_dir, timed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200, help="strangers' tasks naming the platform")
    args = parser.parse_args()
    os.environ.setdefault("EOTRUST_PASSPHRASE", "bench")
    os.environ.setdefault("EOTRUST_KEYSTORE_SCRYPT_N", "1024")

    from eotrust.backends import Backends
    from eotrust.catalog.entries import PlatformInfo
    from eotrust.ledger.funding import fund_parties
    from eotrust.nodes.node import PlatformNode
    from eotrust.party import Role, create_party
    from eotrust.settings import load_settings

    settings = load_settings(config_file=None, home=scratch_dir("node-scan-") / "home", sandbox=False)
    operator = create_party(settings, "operator", Role.PLATFORM_OWNER)
    stranger = create_party(settings, "stranger", Role.SUBMITTER)
    backends = Backends(settings)
    fund_parties(backends.chain, [operator.account.address, stranger.account.address])
    platform = backends.catalog.register(operator, PlatformInfo(name="hpc", age_recipient=operator.card.age_recipient))
    print(f"opening {args.tasks} strangers' tasks naming platform hpc (untimed) ...", flush=True)
    for _ in range(args.tasks):
        task = backends.factory.create_task(
            stranger.account,
            results_recipient=stranger.card.age_recipient,
            application_id=platform.id,
            application_owner=stranger.account.address,
            platform_id=platform.id,
            platform_owner=operator.account.address,
            paid=False,
        )
        task.add_requests(stranger.account, [(platform.id, stranger.account.address)])
        task.lock(stranger.account)
    node = PlatformNode(backends, operator, "hpc")
    listing = timed(backends.factory.all_tasks)
    glances = timed(lambda: [backends.task(a).glance() for a in backends.factory.all_tasks()])
    full = timed(lambda: [backends.task(a).status() for a in backends.factory.all_tasks()])
    first = timed(node.recover)
    again = timed(node.recover)
    print(f"{'scan of ' + str(args.tasks) + ' tasks':34} {'seconds':>8}")
    print(f"{'every task read in full (before)':34} {full:8.2f}")
    print(f"{'  of which: listing the tasks':34} {listing:8.2f}")
    print(f"{'every task glanced at (reference)':34} {glances:8.2f}")
    print(f"{'node scan, first':34} {first:8.2f}   {full / first:5.1f}x faster")
    print(f"{'node scan, again (same node)':34} {again:8.2f}   {full / again:5.1f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
