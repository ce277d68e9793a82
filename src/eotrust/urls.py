"""What of a service's URL may be shown: a node's or an API's URL often carries credentials."""

from __future__ import annotations


def redacted_url(url: str) -> str:
    """``url`` as it may be shown: scheme, host and port only. A node's URL often carries its
    credentials (user:password, a provider's key in the path or the query); none of that is
    printed, logged or sent to an HTTP client."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "(a malformed URL)"
    if not parts.scheme or not parts.hostname:
        return "(not a URL with a scheme and a host)"
    host = f"[{host}]" if ":" in host else host
    hidden = "/…" if parts.path.strip("/") or parts.query or parts.username or parts.password else ""
    return f"{parts.scheme}://{host}{port}{hidden}"
