"""The CWL schemas cwltool validates documents with, parsed once per process.

``cwltool.main.main`` sets its schemas up on every call and, for the standard ones, drops the
parsed schemas it keeps (``cwltool.process.SCHEMA_CACHE``), so each call in a long-lived process
(the server packs deployed CWL and its node runs it) parses the CWL schema YAML again: seconds of
CPU per call. :func:`schema_setup` gives ``main`` a ``custom_schema_callback`` that leaves the
standard schemas in place and parsed, and drops only custom ones left by an ``--enable-ext`` run."""

from __future__ import annotations

from collections.abc import Callable


def _standard_schemas() -> None:
    from cwltool.process import custom_schemas, use_standard_schema

    for version in list(custom_schemas):
        use_standard_schema(version)  # drops the custom schema and its parsed form


def schema_setup(enable_ext: bool) -> Callable[[], None] | None:
    """The ``custom_schema_callback`` for ``cwltool.main.main``: keep parsed standard schemas;
    with ``--enable-ext`` (``enable_ext``) None, so that cwltool sets its extensions up itself."""
    return None if enable_ext else _standard_schemas
