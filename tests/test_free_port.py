"""A free port is one the kernel never hands out by itself: the Dask scheduler of one test once
failed to start with "Address already in use" because the port `free_port` had just seen free was
the kernel's pick for another process's outgoing connection or `bind(0)` a moment later. Ports in
the kernel's ephemeral range are shared with every such pick; ports below it are not."""

from __future__ import annotations

import socket
from pathlib import Path

from eotrust.ports import ephemeral_range, free_port


def test_the_kernels_ephemeral_range_is_read() -> None:
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert ephemeral_range() == (low, high)


def test_free_ports_lie_outside_the_ephemeral_range_and_can_be_bound() -> None:
    low, high = ephemeral_range()
    ports = [free_port() for _ in range(200)]
    assert all(1024 <= p < low or p > high for p in ports), sorted(p for p in ports if low <= p <= high)
    assert len(set(ports)) > 150  # spread out: two callers rarely get the same one
    for p in ports[:20]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_a_bound_port_is_never_given_out() -> None:
    low, _ = ephemeral_range()
    start = next(p for p in range(low - 8, 1024, -8) if all(_bindable(q) for q in range(p, p + 8)))
    candidates = range(start, start + 8)  # eight ports all free now
    held = []
    try:
        for port in candidates[:-1]:  # hold all but the last
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
                held.append(s)
            except OSError:
                s.close()
        assert free_port(candidates=candidates) == candidates[-1]
        held.append(socket.socket())
        held[-1].bind(("127.0.0.1", candidates[-1]))
        beyond = free_port(candidates=candidates)  # none free: the kernel's pick
        assert beyond not in candidates and _bindable(beyond)
    finally:
        for s in held:
            s.close()


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
