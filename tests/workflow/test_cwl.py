"""CWL CommandLineTool documents imported as services and run by our engine."""

from __future__ import annotations

import pytest

from eotrust.workflow import run_workflow
from eotrust.workflow.command import render_command
from eotrust.workflow.cwl import import_cwl
from eotrust.workflow.errors import WorkflowValidationError
from eotrust.workflow.spec import load_workflow


def test_import_maps_ports_params_resources(data_dir) -> None:  # type: ignore[no-untyped-def]
    svc = import_cwl(data_dir / "workflow" / "sort.cwl")
    assert svc.command == ["sort"] and svc.stdout == "sorted"
    assert list(svc.inputs) == ["infile"] and svc.inputs["infile"].type == "file"
    assert svc.params["reverse"].type == "bool" and svc.params["reverse"].default is False
    assert svc.params["key"].type == "int" and svc.params["key"].has_default and svc.params["key"].default is None
    assert svc.resources.cpus == 1 and svc.resources.memory_mb == 64
    assert svc.origin and svc.origin.startswith("cwl:Qm")
    # CWL binding rules: a false boolean and an absent optional value add nothing
    assert render_command(svc, {"infile": "f"}, {}, {"reverse": False, "key": None}) == ["sort", "f"]
    assert render_command(svc, {"infile": "f"}, {}, {"reverse": True, "key": 2}) == ["sort", "-r", "-k", "2", "f"]


def test_cwl_service_runs_in_a_workflow(settings, store, write_wf, data_dir) -> None:  # type: ignore[no-untyped-def]
    cwl = data_dir / "workflow" / "sort.cwl"
    wf = write_wf(f"""\
name: sorter
inputs: {{lines: file}}
params: {{rev: {{type: bool, default: true}}}}
services:
  sort: {{cwl: {cwl}}}
steps:
  s: {{service: sort, in: {{infile: inputs.lines}}, params: {{reverse: "${{rev}}"}}}}
outputs: {{sorted: s.sorted}}
""")
    spec = load_workflow(wf)
    lines = store.put_bytes(b"b\nc\na\n")
    res = run_workflow(settings, spec, {"lines": lines}, {})
    assert store.get_bytes(res.outputs["sorted"]) == b"c\nb\na\n"
    res = run_workflow(settings, spec, {"lines": lines}, {"rev": False})
    assert store.get_bytes(res.outputs["sorted"]) == b"a\nb\nc\n"


def test_expressions_are_refused_clearly(data_dir) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WorkflowValidationError, match="CWL expression"):
        import_cwl(data_dir / "workflow" / "expr.cwl")


def test_not_a_cwl_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.cwl"
    bad.write_text("cwlVersion: v1.2\nclass: CommandLineTool\ninputs: 3\n")
    with pytest.raises(WorkflowValidationError, match="invalid CWL"):
        import_cwl(bad)
    with pytest.raises(WorkflowValidationError, match="does not exist"):
        import_cwl(tmp_path / "none.cwl")
