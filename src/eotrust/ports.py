"""A free TCP port, for the processes eotrust starts on this machine (a Dask scheduler, the
rendezvous of distributed training) and for the tests and benchmarks that start servers.

The port is chosen below the kernel's ephemeral range: a port from ``bind(0)`` lies inside it, where
the kernel gives ports to every outgoing connection and every ``bind(0)`` of every process, so the
port seen free here could be taken by someone else's pick before the caller binds it (a Dask
scheduler failed to start so: "Address already in use"). Below the range only another caller
choosing the same number at random could take it first."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000  # below are the well-known services' registered ports
_TRIES = 50


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ephemeral port range (Linux; the IANA range 49152–65535 elsewhere)."""
    try:
        low, high = (int(x) for x in _RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 49152, 65535
    return low, high


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1", candidates: range | None = None) -> int:
    """A TCP port nothing is bound to on ``host`` now (whoever asked binds it a moment later),
    drawn at random from ``candidates`` (default: from 10,000 up to the ephemeral range); the
    kernel's own pick when none of a few draws is free, or when there is no room below the range."""
    if candidates is None:
        candidates = range(_LOWEST, ephemeral_range()[0])
    if len(candidates) > 0:
        draw = random.SystemRandom()
        for _ in range(min(_TRIES, 2 * len(candidates))):
            port = draw.choice(candidates)
            if _bindable(host, port):
                return port
        for port in candidates if len(candidates) <= _TRIES else ():
            if _bindable(host, port):
                return port
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
