"""A free TCP port, for the processes eotrust starts on this machine (a Dask scheduler, the
rendezvous of distributed training) and for the tests and benchmarks that start servers."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing is bound to on ``host`` now (whoever asked binds it a moment later)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
