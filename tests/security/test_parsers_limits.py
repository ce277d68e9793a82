"""Attack (issue 12, item 2): a 600-byte YAML file of nested aliases made `workflow validate`
grow past 3 GB; registered as an application (not parsed at registration), every later
anonymous GET /processes grew the server by GBs. Every YAML, CWL and JSON document is measured
before it is parsed (eotrust.limits): size, depth, aliases and the size an alias expansion
would reach; CWL may not import remote or outside documents. The attacks that would exhaust
memory on unfixed code run in a child process under a memory and time ceiling."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from api_attack_world import build_world, client

BOMB = (
    "\n".join(
        [f'{chr(97)}: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        + [f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]" for i in range(1, 9)]
    )
    + "\n"
)
MEM_CEILING = 1536 * 1024 * 1024


def run_limited(code: str, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child Python with at most MEM_CEILING bytes of address space."""
    prelude = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({MEM_CEILING}, {MEM_CEILING}))\n"
    try:
        return subprocess.run(
            [sys.executable, "-c", prelude + textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"no answer within {timeout} s")


def test_the_bomb_is_small() -> None:
    assert len(BOMB) < 700


def test_workflow_validate_refuses_an_alias_bomb_in_one_line(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    run = run_limited(
        f"""
        import sys
        from eotrust.cli.main import main
        sys.argv = ["eotrust", "--home", {str(tmp_path / "home")!r}, "workflow", "validate", {str(bomb)!r}]
        main()
    """,
        tmp_path,
    )
    assert run.returncode not in (0, -9), run.stderr[-2000:]
    assert "Traceback" not in run.stderr and "MemoryError" not in run.stderr, run.stderr[-2000:]
    assert "alias" in run.stderr.lower() or "expands" in run.stderr, run.stderr[-2000:]


def test_yaml_limits_refuse_depth_aliases_and_size() -> None:
    from eotrust.limits import DocumentTooLarge, ParseLimitError, YamlLimits, check_yaml, load_yaml

    with pytest.raises(ParseLimitError, match="expands"):
        check_yaml(BOMB)
    with pytest.raises(ParseLimitError, match="deep"):
        check_yaml("[" * 200 + "]" * 200)
    with pytest.raises(ParseLimitError, match="aliases"):
        check_yaml("a: &a 1\nb: [" + ",".join(["*a"] * 300) + "]\n")
    with pytest.raises(DocumentTooLarge):
        check_yaml("a: " + "x" * 100, YamlLimits(max_bytes=50))
    assert load_yaml("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}


def test_a_bomb_registered_as_an_application_is_refused_and_processes_stay_small(tmp_path: Path) -> None:
    from eotrust.store import open_store

    world = build_world(tmp_path / "home", dataset=False)
    cid = open_store(world.settings).put_bytes(BOMB.encode())
    http = client(world.settings)
    r = http.post(
        "/catalog/applications",
        headers=world.headers("alan"),
        json={"name": "bomb", "workflow_cid": cid, "inputs": ["x"], "outputs": ["y"]},
    )
    assert r.status_code == 400, r.text
    assert http.get("/catalog/applications").json() == []
    # a holder of the shared catalogue writes the record anyway: GET /processes stays small
    from eotrust.catalog.entries import ApplicationInfo
    from eotrust.catalog.service import Catalog

    Catalog(world.settings).register(
        world.parties["alan"], ApplicationInfo(name="bomb", workflow_cid=cid, inputs=["x"], outputs=["y"])
    )
    run = run_limited(
        f"""
        from fastapi.testclient import TestClient
        from eotrust.api.app import create_app
        from eotrust.settings import load_settings
        http = TestClient(create_app(load_settings(home={str(world.home)!r})))
        r = http.get("/processes")
        print(r.status_code, len(r.content))
    """,
        tmp_path,
    )
    assert run.returncode == 0 and run.stdout.startswith("200"), run.stderr[-2000:]


def _refused_in_child(call: str, paths: list[Path], cwd: Path, words: str) -> None:
    """Run ``call(path)`` for each path in a child under the ceilings (on unfixed code a parser
    may segfault or exhaust memory): each must raise an EotrustError whose text has ``words``."""
    run = run_limited(
        f"""
        import importlib
        from eotrust.errors import EotrustError
        module, name = {call!r}.rsplit(".", 1)
        call = getattr(importlib.import_module(module), name)
        from pathlib import Path
        for path in {[str(p) for p in paths]!r}:
            try:
                call(Path(path))
            except EotrustError as exc:
                print("refused", path, str(exc).replace(chr(10), " "))
            else:
                print("accepted", path)
    """,
        cwd,
    )
    assert run.returncode == 0, f"child died ({run.returncode}): {run.stderr[-1500:]}"
    lines = run.stdout.splitlines()
    assert len(lines) == len(paths) and all(line.startswith("refused") for line in lines), run.stdout
    assert all(any(w in line for w in words.split("|")) for line in lines), run.stdout


def test_cwl_imports_are_bounded(tmp_path: Path) -> None:
    head = "cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: echo\noutputs: []\n"
    remote = tmp_path / "remote.cwl"
    remote.write_text(head + "inputs:\n  $import: http://example.invalid/inputs.yml\n")
    outside = tmp_path / "sub" / "outside.cwl"
    outside.parent.mkdir()
    outside.write_text(head + "inputs:\n  $import: ../../../etc/passwd\n")
    bomb = tmp_path / "bomb.cwl"
    bomb.write_text(head + "inputs: []\nhints:\n  - class: x\n    " + BOMB.replace("\n", "\n    "))
    _refused_in_child("eotrust.workflow.cwl.import_cwl", [remote, outside, bomb], tmp_path, "import|expands")


def test_model_definitions_and_json_documents_are_bounded(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    _refused_in_child("eotrust.ml.modeldef.load_model_def", [deep, bomb], tmp_path, "deep|expands")
