"""What a CWL run may read on the host: its own documents, the inputs it was given, and the
scratch space of the run; nothing else (issue 16).

cwltool reads files on the host for a job before any sandbox exists: ``loadContents``, the
staging of a File named by a ``default`` or built by an expression, ``secondaryFiles``,
Directory listings. A CWL document from someone else (an imported tool, a published
workflow, a catalogue application) could name ``file:///etc/passwd`` or the node's keystore
that way and have its contents printed into an output. :func:`confined_fs_access` is the file
access cwltool is given (its ``make_fs_access`` hook): every path it resolves must lie, after
symlinks, under one of the run's roots, and nothing is fetched over the network. The
sandbox (:mod:`eotrust.workflow.cwl_sandbox`) applies the same roots to what it binds."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from eotrust.errors import WorkflowError


class CwlReadRefused(WorkflowError):
    """A CWL document or job named a file outside what its run may read."""


def real_roots(roots: Iterable[Path]) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(Path(os.path.realpath(r)) for r in roots))


def check_readable(path: str, roots: tuple[Path, ...]) -> None:
    """CwlReadRefused unless ``path`` (after symlinks) is one of ``roots`` or inside one."""
    if urlsplit(path).scheme in ("http", "https", "ftp"):
        raise CwlReadRefused(f"the CWL run may not fetch {path} (eotrust fetches nothing over the network)")
    real = Path(os.path.realpath(path))
    if not any(real == r or r in real.parents for r in roots):
        raise CwlReadRefused(f"the CWL run may not read {path}: it is outside its documents and inputs")


def confined_fs_access(roots: Iterable[Path]) -> Any:
    """A cwltool ``make_fs_access`` factory whose file access refuses paths outside ``roots``."""
    from cwltool.stdfsaccess import StdFsAccess, abspath

    allowed = real_roots(roots)

    class ConfinedFsAccess(StdFsAccess):
        def _abs(self, p: str) -> str:
            full = abspath(p, self.basedir)
            check_readable(full, allowed)
            return full

        def listdir(self, fn: str) -> list[str]:
            self._abs(fn)
            return super().listdir(fn)

    return ConfinedFsAccess


def confined_fetcher(roots: Iterable[Path]) -> Any:
    """A schema-salad ``fetcher_constructor`` for cwltool's loaders (documents, job orders):
    it reads ``file:`` URLs under ``roots`` only and asks nothing over the network. Its
    default fetched every ``$schemas`` URL (no timeout: a host that never answers held the
    caller for ever), read ``file:`` schemas without bound, and sent a HEAD to every
    URL-valued ``class`` of a hint or namespace: requests to wherever a document's author
    chose. A URL asked about is simply not there; one asked for is a validation error."""
    from schema_salad.exceptions import ValidationException
    from schema_salad.fetcher import DefaultFetcher

    allowed = real_roots(roots)

    def refuse_outside(url: str) -> None:
        split = urlsplit(url)
        if split.scheme != "file":
            raise ValidationException(f"eotrust fetches nothing: {url}")
        try:
            check_readable(url2pathname(split.path), allowed)
        except CwlReadRefused as exc:
            raise ValidationException(exc.message) from None

    class ConfinedFetcher(DefaultFetcher):
        def fetch_text(self, url: str, content_types: list[str] | None = None) -> str:
            if not isinstance(self.cache.get(url), str):  # cwltool's own schemas are in the cache
                refuse_outside(url)
            return super().fetch_text(url, content_types)

        def check_exists(self, url: str) -> bool:
            if url in self.cache:
                return True
            try:
                refuse_outside(url)
            except ValidationException:
                return False
            return super().check_exists(url)

    return ConfinedFetcher
