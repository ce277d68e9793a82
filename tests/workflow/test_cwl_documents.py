"""CWL documents wherever a workflow is (issue 16): `workflow run` of a .cwl file, of a stored
package's CID and of a published name; `import-cwl` of a Workflow; `workflow publish` of a
.cwl file; an application that names a stored package. And the attacks: a document that reads
outside its inputs, a huge or recursive document, a malformed one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from one_cid import one_cid
from typer.testing import CliRunner

from eotrust.cid import cid_of_bytes
from eotrust.cli.main import app
from eotrust.settings import Settings, load_settings
from eotrust.store import open_store
from eotrust.workflow.cwl_documents import (
    import_cwl_document,
    pack_checked,
    run_cwl_file,
    run_cwl_stored,
)
from eotrust.workflow.cwl_runner import CwlOptions, Json, last_error, run_cwl
from eotrust.workflow.errors import WorkflowValidationError
from eotrust.workflow.prov import prov_json, validate_prov_json
from eotrust.workflow.runs import load_run

if TYPE_CHECKING:
    from eotrust.workflow.cwl_runner import CwlRunResult

CWL = Path(__file__).resolve().parents[1] / "data" / "cwl"
REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """scene-index.cwl (scatter, a JavaScript ExpressionTool, a conditional step, secondaryFiles)
    with two scenes and their .aux sidecars, and shout.cwl (a JavaScript argument)."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("scene-index.cwl", "shout.cwl", "scene.txt"):
        shutil.copy(CWL / name, work / name)
    (work / "karst.txt").write_text("a\nb\n")
    (work / "karst.txt.aux").write_text("x\n")
    (work / "coast.txt").write_text("1\n")
    (work / "coast.txt.aux").write_text("\n")
    return work


def _scene_index(settings: Settings, work: Path, min_lines: int = 3) -> CwlRunResult:
    return run_cwl_file(
        settings,
        work / "scene-index.cwl",
        {"scenes": [work / "karst.txt", work / "coast.txt"]},
        {"min_lines": min_lines},
        store=open_store(settings),
        outdir=work / "out",
    )


def test_workflow_with_scatter_expression_conditional_and_secondary_files(settings: Settings, work: Path) -> None:
    res = _scene_index(settings, work)
    assert res.exit_code == 0, res.log
    assert res.output is not None and res.output["total"] == 5  # karst 2+1 lines, coast 1+1: sidecars were staged
    reports = res.output["reports"]
    assert [Path(r["path"]).read_text() for r in reports] == ["karst: 3 lines\n"]  # coast (2 < 3) was skipped
    store = open_store(settings)
    cid, record = load_run(settings, one_cid(res.run_cid))
    assert record.status == "succeeded"
    assert record.workflow_cid == cid_of_bytes(pack_checked(work / "scene-index.cwl"))  # the stored package
    assert store.get_bytes(record.workflow_cid).startswith(b"{")
    validate_prov_json(prov_json(record, cid))
    again = _scene_index(settings, work)
    assert again.cache_hit and again.output is not None and again.output["total"] == 5
    (work / "coast.txt.aux").write_text("\n\n\n")  # a secondary file is an input: the cache key sees it
    changed = _scene_index(settings, work)
    assert not changed.cache_hit and changed.output is not None and changed.output["total"] == 7
    assert len(changed.output["reports"]) == 2  # coast now has 4 lines: its report step ran


def test_import_cwl_makes_services_of_plain_tools_and_packages_of_the_rest(settings: Settings, work: Path) -> None:
    store = open_store(settings)
    wf = import_cwl_document(work / "scene-index.cwl", store)
    assert wf.service is None and wf.package is not None and wf.package.klass == "Workflow"
    assert wf.package.data_inputs == {"scenes": "file[]"} and "min_lines" in wf.package.parameters_schema["properties"]
    js = import_cwl_document(work / "shout.cwl", store)
    assert js.package is not None and "expression" in js.reason
    plain = import_cwl_document(Path(__file__).resolve().parents[1] / "data" / "workflow" / "sort.cwl", store)
    assert plain.service is not None and plain.package is None
    scene = store.put_file(work / "scene.txt")
    res = run_cwl_stored(settings, js.cid, {"scene": scene}, {"tag": "karst"}, store=store, outdir=work / "out")
    assert res.exit_code == 0, res.log
    assert res.output is not None and res.run_cid is not None
    assert Path(res.output["shouted"]["path"]).read_text() == "NDVI OVER THE KARST\nKARST\n"
    assert load_run(settings, res.run_cid)[1].workflow_cid == js.cid


def test_cli_import_publish_describe_and_run_by_name_and_cid(
    tmp_path: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(work)
    home = tmp_path / "home"
    imported = runner.invoke(app, ["--home", str(home), "workflow", "import-cwl", "shout.cwl", "--json"])
    assert imported.exit_code == 0, imported.output
    info = json.loads(imported.stdout)
    assert info["kind"] == "cwl-package" and "expression" in info["reason"]
    valid = runner.invoke(app, ["--home", str(home), "workflow", "validate", "scene-index.cwl", "--json"])
    assert valid.exit_code == 0 and json.loads(valid.stdout)["class"] == "Workflow", valid.output
    published = runner.invoke(
        app, ["--home", str(home), "workflow", "publish", "scene-index.cwl", "--name", "scene-index", "--json"]
    )
    assert published.exit_code == 0, published.output
    described = json.loads(
        runner.invoke(app, ["--home", str(home), "workflow", "describe", "scene-index", "--json"]).stdout
    )
    assert described["cid"] == json.loads(published.stdout)["cid"]
    assert [i["name"] for i in described["inputs"]] == ["scenes"] and described["steps"] == ["measure", "report", "sum"]
    assert [p["name"] for p in described["params"]] == ["min_lines"] and described["open_params"] == []
    listed = json.loads(runner.invoke(app, ["--home", str(home), "workflow", "list", "--json"]).stdout)
    assert [w["name"] for w in listed] == ["scene-index"]
    # runs as a user runs them (cwltool's jobs need real standard streams)
    by_cid = _cli(home, "workflow", "run", info["cid"], "-i", "scene=scene.txt", "-p", "tag=karst", "--json", cwd=work)
    assert by_cid.returncode == 0, by_cid.stderr
    assert json.loads(by_cid.stdout)["output"]["shouted"]["size"] == len("NDVI OVER THE KARST\nKARST\n")
    assert runner.invoke(app, ["--home", str(home), "workflow", "publish", "shout.cwl"]).exit_code == 0
    by_name = _cli(home, "workflow", "run", "shout", "-i", "scene=scene.txt", "-p", "tag=karst", "--json", cwd=work)
    assert by_name.returncode == 0, by_name.stderr
    run_cid = json.loads(by_name.stdout)["run_cid"]
    assert load_run(load_settings(home=home), run_cid)[1].workflow_cid == info["cid"]  # the same stored package


def test_application_points_at_a_stored_cwl_package(settings: Settings, work: Path) -> None:
    from eotrust.backends import Backends
    from eotrust.party.party import create_party
    from eotrust.party.role import Role
    from eotrust.roles.algorithm_owner.applications import register_workflow_application

    backends = Backends(settings)
    package = import_cwl_document(work / "scene-index.cwl", backends.store).cid
    owner = create_party(settings, "owner", Role.ALGORITHM_OWNER)
    record = register_workflow_application(backends, owner, package, name="scene-index")
    assert record.body.workflow_cid == package and "cwl" in record.body.keywords
    assert record.body.inputs == ["scenes"] and record.body.outputs == ["reports", "total"]


# -- attacks ------------------------------------------------------------------------------

LEAK_DEFAULT = """\
cwlVersion: v1.2
class: CommandLineTool
requirements: {{InlineJavascriptRequirement: {{}}}}
inputs:
  f:
    type: File
    default: {{class: File, location: "{secret}"}}
    loadContents: true
outputs:
  leaked: {{type: string, outputBinding: {{outputEval: $(inputs.f.contents)}}}}
baseCommand: "true"
"""

LEAK_WORKDIR = """\
cwlVersion: v1.2
class: CommandLineTool
requirements:
  InlineJavascriptRequirement: {{}}
  InitialWorkDirRequirement:
    listing: ['$({{"class": "File", "location": "{secret}", "basename": "loot"}})']
inputs: []
outputs:
  leaked: {{type: stdout}}
baseCommand: [cat, loot]
"""

LEAK_COMMAND = """\
cwlVersion: v1.2
class: CommandLineTool
inputs: []
outputs:
  leaked: {{type: stdout}}
baseCommand: [cat, "{path}"]
"""


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "secret.txt"
    path.parent.mkdir()
    path.write_text("the node's secret\n")
    return path


@pytest.mark.parametrize("template", [LEAK_DEFAULT, LEAK_WORKDIR], ids=["default-loadContents", "initialworkdir"])
def test_a_document_that_reads_outside_its_inputs_is_refused(
    settings: Settings, work: Path, secret: Path, template: str
) -> None:
    doc = work / "leak.cwl"
    doc.write_text(template.format(secret=secret.as_uri()))
    store = open_store(settings)
    if template is LEAK_DEFAULT:  # control: the cwl-runner interface (the user's own run) reads it: the attack is real
        control = run_cwl(settings, doc, None, CwlOptions(outdir=work / "control", cache=False))
        assert control.exit_code == 0 and "the node's secret" in json.dumps(control.output)
    for res in (
        run_cwl_file(settings, doc, {}, {}, store=store, outdir=work / "local", cache=False),
        run_cwl_stored(
            settings, import_cwl_document(doc, store).cid, {}, {}, store=store, outdir=work / "stored", cache=False
        ),
    ):
        assert res.exit_code != 0
        assert "outside its documents and inputs" in last_error(res.log)
        assert "the node's secret" not in json.dumps(res.output) + _outputs_text(res.output)


def _outputs_text(output: Json | None) -> str:
    texts = []
    for value in (output or {}).values():
        if isinstance(value, dict) and value.get("class") == "File" and Path(value["path"]).is_file():
            texts.append(Path(value["path"]).read_text())
    return "".join(texts)


def test_a_command_that_reads_outside_sees_nothing(settings: Settings, work: Path, secret: Path) -> None:
    doc = work / "cat.cwl"
    doc.write_text(LEAK_COMMAND.format(path=secret))
    res = run_cwl_file(settings, doc, {}, {}, store=open_store(settings), outdir=work / "out", cache=False)
    assert res.exit_code != 0 and "the node's secret" not in _outputs_text(res.output)


def _cli(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "EOTRUST_HOME": str(home),
        "EOTRUST_CONFIG": "",
        "COLUMNS": "400",
    }
    return subprocess.run(
        [sys.executable, "-m", "eotrust.cli.main", *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_huge_recursive_and_malformed_documents_fail_in_one_line(tmp_path: Path, work: Path) -> None:
    from eotrust.limits import YAML_LIMITS

    huge = work / "huge.cwl"
    huge.write_text(
        "cwlVersion: v1.2\nclass: CommandLineTool\ndoc: '" + "x" * (YAML_LIMITS.max_bytes + 1) + "'\n"
        "inputs: []\noutputs: []\nbaseCommand: 'true'\n"
    )
    recursive = work / "loop.cwl"
    recursive.write_text(
        "cwlVersion: v1.2\nclass: Workflow\ninputs: []\noutputs: []\n"
        "steps:\n  again: {run: loop.cwl, in: {}, out: []}\n"
    )
    bomb = work / "bomb.cwl"
    bomb.write_text(
        "cwlVersion: v1.2\nclass: CommandLineTool\na: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefgh", "bcdefghi")
        )
        + "inputs: []\noutputs: []\nbaseCommand: 'true'\n"
    )
    malformed = work / "bad.cwl"
    malformed.write_text("cwlVersion: v1.2\nclass: Workflow\ninputs: {x: NoSuchType}\noutputs: []\nsteps: 7\n")
    for doc in (huge, recursive, bomb, malformed):
        with pytest.raises(WorkflowValidationError):
            pack_checked(doc)
    home = tmp_path / "home"
    for args in (
        ["workflow", "publish", "loop.cwl"],
        ["workflow", "import-cwl", "bad.cwl"],
        ["workflow", "run", "bomb.cwl"],
    ):
        done = _cli(home, *args, cwd=work)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("error: ") and len(done.stderr.splitlines()) <= 2, done.stderr
    published = home / "workflow" / "published"
    assert not published.exists() or not any(published.glob("*.json"))  # nothing half-published


def test_the_cwl_schema_stays_cached_but_an_extension_never_lingers(work: Path) -> None:
    """cwltool's standard schema is loaded once per process (an agent or a server validates
    many documents), yet a run with --enable-ext leaves no extension behind: a later standard
    load still refuses a document that needs one."""
    import io

    from cwltool.main import main as cwltool_main
    from cwltool.process import SCHEMA_CACHE

    needs_ext = work / "ext.cwl"
    needs_ext.write_text(
        "cwlVersion: v1.2\nclass: CommandLineTool\n"
        '$namespaces: {cwltool: "http://commonwl.org/cwltool#"}\n'
        "requirements:\n  cwltool:ShmSize: {shmSize: 64m}\n"
        "baseCommand: echo\ninputs: {who: string}\noutputs: {}\n"
    )
    plain = work / "plain.cwl"
    plain.write_text(
        "cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: echo\ninputs: {who: string}\noutputs: {}\n"
    )
    first = pack_checked(plain)
    schema = SCHEMA_CACHE["v1.2"]
    assert pack_checked(plain) == first and SCHEMA_CACHE["v1.2"] is schema  # not loaded again
    with pytest.raises(WorkflowValidationError, match="ShmSize"):
        pack_checked(needs_ext)
    assert (
        cwltool_main(argsl=["--enable-ext", "--validate", str(needs_ext)], stdout=io.StringIO(), stderr=io.StringIO())
        == 0
    )
    with pytest.raises(WorkflowValidationError, match="ShmSize"):
        pack_checked(needs_ext)
    assert pack_checked(plain) == first
