"""CWL CommandLineTool documents imported as services and run by our engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from one_cid import one_cid

from eotrust.workflow import run_workflow
from eotrust.workflow.command import render_command
from eotrust.workflow.cwl import import_cwl
from eotrust.workflow.errors import WorkflowValidationError
from eotrust.workflow.spec import load_workflow

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from eotrust.settings import Settings
    from eotrust.store.base import Store


def test_import_maps_ports_params_resources(data_dir: Path) -> None:
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


def test_cwl_service_runs_in_a_workflow(
    settings: Settings, store: Store, write_wf: Callable[[str], Path], data_dir: Path
) -> None:
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
    assert store.get_bytes(one_cid(res.outputs["sorted"])) == b"c\nb\na\n"
    res = run_workflow(settings, spec, {"lines": lines}, {"rev": False})
    assert store.get_bytes(one_cid(res.outputs["sorted"])) == b"a\nb\nc\n"


def test_expressions_are_refused_clearly(data_dir: Path) -> None:
    with pytest.raises(WorkflowValidationError, match="CWL expression"):
        import_cwl(data_dir / "workflow" / "expr.cwl")


def test_not_a_cwl_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cwl"
    bad.write_text("cwlVersion: v1.2\nclass: CommandLineTool\ninputs: 3\n")
    with pytest.raises(WorkflowValidationError, match="invalid CWL"):
        import_cwl(bad)
    with pytest.raises(WorkflowValidationError, match="does not exist"):
        import_cwl(tmp_path / "none.cwl")


def test_same_result_as_cwltool(settings: Settings, store: Store, tmp_path: Path, data_dir: Path) -> None:
    """The reference runner and our engine give the same bytes for the same tool and job."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    cwltool = shutil.which("cwltool", path=str(Path(sys.executable).parent))
    assert cwltool, "cwltool (a test dependency) is installed in the venv"
    cwl = data_dir / "workflow" / "sort.cwl"
    lines = tmp_path / "lines.txt"
    lines.write_text("pear 2\napple 3\nfig 1\n")
    job = tmp_path / "job.yml"
    job.write_text(f"infile: {{class: File, path: {lines}}}\nreverse: true\nkey: 2\n")
    out = tmp_path / "out"
    subprocess.run(
        [cwltool, "--quiet", "--no-container", "--outdir", str(out), str(cwl), str(job)],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    theirs = (out / "sorted.txt").read_bytes()
    svc = import_cwl(cwl)
    from eotrust.workflow.spec import StepSpec, WorkflowSpec

    spec = WorkflowSpec(
        name="one",
        inputs={"lines": {"type": "file"}},
        services={"sort": svc},
        steps={
            "s": StepSpec(
                name="s", service="sort", inputs={"infile": "inputs.lines"}, params={"reverse": True, "key": 2}
            )
        },
        outputs={"sorted": "s.sorted"},
        order=["s"],
    )
    res = run_workflow(settings, spec, {"lines": store.put_file(lines)}, {})
    assert store.get_bytes(one_cid(res.outputs["sorted"])) == theirs == b"apple 3\npear 2\nfig 1\n"
