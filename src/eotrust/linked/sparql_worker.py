"""The child process that evaluates one SPARQL query for :func:`eotrust.linked.sparql.answer_bounded`.

``python -m eotrust.linked.sparql_worker`` reads one line of JSON (the query, the federation
peers, the Accept header, the prefixes and its own limits) and then the graph as N-Quads on
stdin; it limits its own memory (address space), CPU time and the size of what it writes,
evaluates, and streams the answer to stdout (a file: past ``RLIMIT_FSIZE`` the kernel stops
the process), then says its media type as one line of JSON on stderr (``{"kind": "answer",
"media_type": …}``). A refused or failed query is one line of JSON on stderr (``{"kind":
"invalid" | "denied" | "failed", "message": …}``) and exit status 3.

The parent kills this process at its deadline; everything the query could exhaust — a core,
memory, the disk — is this process's own and bounded."""

from __future__ import annotations

import json
import resource
import sys

from eotrust.limits import json_loads

MAX_HEADER_BYTES = 1024 * 1024


def _limit(which: int, value: int) -> None:
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, hard))


def _refuse(kind: str, message: str) -> int:
    sys.stderr.write(json.dumps({"kind": kind, "message": message[:2000]}) + "\n")
    return 3


def main() -> int:
    header = json_loads(sys.stdin.buffer.readline(MAX_HEADER_BYTES))
    if not isinstance(header, dict):
        raise SystemExit("sparql worker: the header is not an object")
    graph = sys.stdin.buffer.read()
    _limit(resource.RLIMIT_AS, int(header["max_memory_mb"]) * 1024 * 1024)
    _limit(resource.RLIMIT_CPU, int(header["max_cpu_s"]))
    _limit(resource.RLIMIT_FSIZE, int(header["max_answer_bytes"]))

    import pyoxigraph as ox

    from eotrust.errors import PermissionDeniedError
    from eotrust.linked.sparql import SparqlError, run_query, serialise_to

    store = ox.Store()
    store.load(graph, format=ox.RdfFormat.N_QUADS)
    del graph
    try:
        result = run_query(store, str(header["query"]), peers=list(header["peers"]), prefixes=header["prefixes"])
        media = serialise_to(result, str(header["accept"]), sys.stdout.buffer)
    except (SparqlError, PermissionDeniedError) as exc:
        kind = "denied" if isinstance(exc, PermissionDeniedError) else "invalid"
        return _refuse(kind, exc.message + (f" ({exc.hint})" if exc.hint else ""))
    except OSError as exc:  # raised while the answer streams: a SERVICE peer went away
        return _refuse("failed", f"the query failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    sys.stdout.flush()
    # the media type goes last, on stderr, so the answer streams out as it is made
    sys.stderr.write(json.dumps({"kind": "answer", "media_type": media}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
