"""A CID a result names, checked at run time (where a cast would only silence the type checker)."""

from __future__ import annotations


def one_cid(value: object) -> str:
    """``value`` itself when it is one CID (a str): not None, not a list of them."""
    assert isinstance(value, str) and value, f"expected one CID, got {value!r}"
    return value
