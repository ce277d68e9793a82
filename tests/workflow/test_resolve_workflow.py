"""The one resolver of workflow references (``resolve_workflow``), used by ``eotrust workflow
run`` and by ``flow.applications``: a file, YAML text, a stored CID or a published name each
give the same workflow; anything else is one clear error."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from eotrust.errors import EotrustError, NotFoundError
from eotrust.store import open_store
from eotrust.workflow import publish_workflow
from eotrust.workflow.registry import resolve_workflow
from eotrust.workflow.spec import load_workflow, workflow_cid

if TYPE_CHECKING:
    from eotrust.settings import Settings

WF = """\
name: echo
services:
  echo:
    command: ["sh", "-c", "echo hi > {outputs.out}"]
    outputs: {out: file}
steps:
  s: {service: echo}
outputs: {out: s.out}
"""


def test_every_form_of_reference_gives_the_same_workflow(settings: Settings, tmp_path: Path) -> None:
    store = open_store(settings)
    spec = load_workflow(WF)
    cid = publish_workflow(settings, spec, name="echo-v1", store=store)
    file = tmp_path / "echo.yaml"
    file.write_text(WF)
    want = workflow_cid(spec)
    for ref in (file, str(file), WF, cid, "echo-v1"):
        assert workflow_cid(resolve_workflow(settings, ref, store=store)) == want, ref


def test_an_unknown_reference_is_one_clear_error(settings: Settings, tmp_path: Path) -> None:
    store = open_store(settings)
    with pytest.raises(NotFoundError):
        resolve_workflow(settings, "no-such-workflow", store=store)
    with pytest.raises(EotrustError, match="does not exist"):
        resolve_workflow(settings, str(tmp_path / "missing.yaml"), store=store)
