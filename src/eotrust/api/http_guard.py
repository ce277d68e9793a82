"""Connection limits of the HTTP server, against clients that hold connections without using
them (slowloris) or open more than the process has file descriptors.

uvicorn closes an idle keep-alive connection after a response, but a connection that never
sends a complete request head, or stops sending a request body half-way, is kept for ever,
and it accepts connections until the process runs out of file descriptors — after which it
serves no one and logs every failed ``accept`` (about 2 MB a second). The protocol class made
by :func:`guarded_protocol` is uvicorn's own HTTP protocol with four limits added:

- at most ``max_connections`` open connections, and ``max_per_client`` from one client (an
  IPv4 address, an IPv6 /64: :func:`client_key`); a
  connection beyond either gets ``503 Service Unavailable`` with ``Retry-After`` and is closed;
- a request head (request line and headers) must arrive complete within ``head_timeout_s`` of
  its first byte, or of the connection's opening for the first request, and be at most
  ``max_head_bytes`` long (``431`` and closed beyond: uvicorn's parser keeps a head of any
  size, 70 MiB of one header line in 9 s);
- a request body may pause for at most ``body_idle_timeout_s`` between two pieces (not while
  the server itself has paused reading because the application has not consumed the body yet);
- a client that stops reading its answer may keep the server's send buffer full for at most
  ``send_stall_timeout_s`` (the connection is then aborted: uvicorn would wait for ever, the
  response and its task held).

A connection that breaks a time limit is closed; the application sees the client disconnect.
Once a request is complete, its response time is the application's business, and the time
between requests on a kept-alive connection is uvicorn's (``timeout_keep_alive``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import resource
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from eotrust.settings import Settings

#: File descriptors kept for everything but client connections (store objects, the chain's
#: journal, the catalogue, logs, the application's own sockets).
RESERVED_FDS = 256


def _plain_answer(status: str, text: str, *headers: str) -> bytes:
    """A whole HTTP/1.1 response that closes the connection, written before any parsing."""
    body = (text + "\n").encode()
    lines = [f"HTTP/1.1 {status}", "content-type: text/plain; charset=utf-8", *headers, "connection: close"]
    return ("\r\n".join([*lines, f"content-length: {len(body)}", "", ""])).encode() + body


HEAD_TOO_LARGE = _plain_answer("431 Request Header Fields Too Large", "the request head is too large")
SERVICE_UNAVAILABLE = _plain_answer("503 Service Unavailable", "too many connections; try again soon", "retry-after: 1")

_Deadline = Literal["head", "body"]


@dataclass(frozen=True)
class ConnectionLimits:
    """How many connections the server keeps and how long a client may take to send a request."""

    max_connections: int
    max_per_client: int
    head_timeout_s: float
    body_idle_timeout_s: float
    max_head_bytes: int
    send_stall_timeout_s: float

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            max_connections=settings.http_max_connections,
            max_per_client=settings.http_max_connections_per_client,
            head_timeout_s=settings.http_head_timeout_s,
            body_idle_timeout_s=settings.http_body_idle_timeout_s,
            max_head_bytes=settings.http_max_head_kb * 1024,
            send_stall_timeout_s=settings.http_send_stall_timeout_s,
        )

    def within_open_files(self) -> tuple[ConnectionLimits, str | None]:
        """These limits with ``max_connections`` lowered to what this process may open: its
        soft ``RLIMIT_NOFILE`` is first raised as far as they need (at most to the hard limit);
        a note when lowered."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            wanted = self.max_connections + RESERVED_FDS
            target = wanted if hard == resource.RLIM_INFINITY else min(hard, max(wanted, soft))
            if target > soft:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
        room = max(soft - RESERVED_FDS, 1)
        if self.max_connections <= room:
            return self, None
        lowered = replace(self, max_connections=room, max_per_client=min(self.max_per_client, room))
        note = (
            f"at most {room} HTTP connections (not {self.max_connections}): this process may open {soft} files; "
            f"raise `ulimit -n` for more"
        )
        return lowered, note


def client_key(address: str) -> str:
    """Whom ``address`` counts against for the per-client limit: an IPv4 address itself (an
    IPv4-mapped IPv6 one too), an IPv6 address by its /64 network — one host is usually given a
    whole /64, so counting single IPv6 addresses would be no limit at all."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # without a zone index
    except ValueError:
        return address  # a unix socket path, or nothing: counted as it is
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _base_protocol() -> type[asyncio.Protocol]:
    """The HTTP protocol uvicorn's ``http="auto"`` would choose: httptools when installed."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:  # httptools missing
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def guarded_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """An HTTP protocol class for ``uvicorn.run(..., http=…)`` that enforces ``limits``. Each
    call makes a class with its own count of connections by client: one per server."""
    base: Any = _base_protocol()  # uvicorn's protocols: their attributes are uvicorn's internals
    by_client: Counter[str] = Counter()  # open connections by client, shared by this server's protocols

    class GuardedHttpProtocol(base):  # type: ignore[misc]  # base is chosen at run time
        _guard_timer: asyncio.TimerHandle | None = None
        _guard_kind: _Deadline | None = None
        _guard_client: str | None = None
        _head_bytes = 0  # of the request head being read
        _stall_timer: asyncio.TimerHandle | None = None  # while the send buffer is full

        def connection_made(self, transport: asyncio.Transport) -> None:
            over = len(self.connections) >= limits.max_connections
            super().connection_made(transport)
            peer = transport.get_extra_info("peername")
            client = client_key(str(peer[0])) if isinstance(peer, tuple) and peer else "?"
            if over or by_client[client] >= limits.max_per_client:
                transport.write(SERVICE_UNAVAILABLE)
                transport.close()
                return
            self._guard_client = client
            by_client[client] += 1
            self._arm("head", limits.head_timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._release()
            super().connection_lost(exc)

        def handle_websocket_upgrade(self) -> None:
            # the connection passes to a WebSocket protocol, and this one hears no more of it
            # (eotrust serve runs with ws="none": never, unless that changes)
            self._release()
            super().handle_websocket_upgrade()

        def _release(self) -> None:
            self._disarm()
            self._unstall()
            if self._guard_client is not None:
                by_client[self._guard_client] -= 1
                if by_client[self._guard_client] <= 0:
                    del by_client[self._guard_client]
                self._guard_client = None

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            answering = before is not None and not before.response_complete and not before.more_body
            super().data_received(data)
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is not before:  # a request head ended in these bytes
                self._head_bytes = 0
            if cycle is None or cycle.response_complete:  # a request head under way (or none yet)
                if self._head_too_large(len(data)):
                    return
                if self._guard_kind != "head":  # its deadline runs from its first byte
                    self._arm("head", limits.head_timeout_s)
            elif cycle.more_body:  # the body of a request under way: it may not stall
                self._arm("body", limits.body_idle_timeout_s)
            else:  # a complete request: the application's time
                # bytes arriving while it is answered are the head of a next, pipelined request
                if answering and cycle is before and self._head_too_large(len(data)):
                    return
                self._disarm()

        def _head_too_large(self, more: int) -> bool:
            """Count ``more`` bytes of the request head being read; past the limit, answer 431
            and close (True)."""
            self._head_bytes += more
            if self._head_bytes <= limits.max_head_bytes:
                return False
            self.transport.write(HEAD_TOO_LARGE)
            self.transport.close()
            return True

        def pause_writing(self) -> None:
            super().pause_writing()
            if self._stall_timer is None:
                self._stall_timer = self.loop.call_later(limits.send_stall_timeout_s, self._stalled)

        def resume_writing(self) -> None:
            super().resume_writing()
            self._unstall()

        def _unstall(self) -> None:
            if self._stall_timer is not None:
                self._stall_timer.cancel()
                self._stall_timer = None

        def _stalled(self) -> None:
            self._stall_timer = None
            self.transport.abort()  # close() would wait for the buffer to drain: never

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()  # between requests, uvicorn's keep-alive timeout applies

        def _arm(self, kind: _Deadline, seconds: float) -> None:
            self._disarm()
            self._guard_kind = kind
            self._guard_timer = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._guard_timer is not None:
                self._guard_timer.cancel()
            self._guard_timer, self._guard_kind = None, None

        def _expired(self) -> None:
            kind = self._guard_kind
            self._guard_timer, self._guard_kind = None, None
            if kind == "body" and self.flow is not None and self.flow.read_paused:
                self._arm("body", limits.body_idle_timeout_s)  # the server stopped reading, not the client
                return
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedHttpProtocol
