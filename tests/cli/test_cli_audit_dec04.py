"""Attacks on the command line found in the audit of 4 December: each is one line on stderr,
exit status 1, no traceback, nothing written, and never a wait without end.

A FIFO named where a small document goes (`party verify`, `label import`, `eo labels --rules`)
was opened with a blocking ``open``, which waits for a writer that never comes: each command
hung until killed. A seed below 0 (`eo dataset`, `train`, `label suggest`) or past 64 bits
(`train`) reached numpy's or torch's generator: a ValueError traceback. A bounding box of NaN passed the catalogue's order check (every comparison
with NaN is false) and `catalog search` answered an empty list, exit status 0, as if nothing
were there; an infinite one matched everything. The API refuses both. `serve --host` with a
name IDNA cannot encode (an empty label `a..b`, a label past 63 characters, a byte that is not
UTF-8) was a UnicodeError traceback from getaddrinfo, where an unknown host is one line. An
id given as bytes that are not UTF-8 reached SQLite as a lone surrogate: `apikey revoke` was a
UnicodeEncodeError traceback, and `catalog show` blamed a catalogue row ("the row was altered")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from measured_cli import one_line_refusal

LIKE = Path(__file__).resolve().parents[1] / "data" / "slovenia-s2-ndvi" / "lulc.tif"


EOTRUST = Path(sys.executable).parent / "eotrust"


def eotrust(home: Path, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of the real ``eotrust --home HOME ARGS`` (a short
    command through the suite's resident agent, the others in the process itself); a command
    that waits past ``timeout`` is TimeoutExpired."""
    env = {**os.environ, "COLUMNS": "400"}  # the line stays a line
    proc = subprocess.run(
        [str(EOTRUST), "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["party", "verify", "{fifo}"], "card file"),
        (
            ["label", "import", "{fifo}", "--like", str(LIKE), "--classes", "2 forest", "-o", "{out}"],
            "labelled GeoJSON",
        ),
        (["eo", "labels", "--like", str(LIKE), "--synthetic", "--rules", "{fifo}", "-o", "{out}"], "rules file"),
    ],
    ids=["party-verify", "label-import", "eo-labels-rules"],
)
def test_a_pipe_named_as_a_document_is_refused_not_waited_on(tmp_path: Path, args: list[str], what: str) -> None:
    fifo = tmp_path / "p.json"
    os.mkfifo(fifo)
    out = tmp_path / "out.tif"
    argv = [a.format(fifo=fifo, out=out) for a in args]
    code, _, stderr = eotrust(tmp_path / "home", *argv, timeout=30)  # a wait is TimeoutExpired
    line = one_line_refusal(code, stderr)
    assert f"{what} {fifo} is not a regular file" in line, stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["p.json"]


@pytest.mark.parametrize("bbox", ["nan,0,90,90", "0,nan,90,90", "nan,nan,nan,nan", "-inf,-90,inf,90", "0,0,1e400,90"])
def test_a_bbox_that_is_not_finite_is_refused(tmp_path: Path, bbox: str) -> None:
    code, _, stderr = eotrust(tmp_path / "home", "catalog", "search", f"--bbox={bbox}")
    line = one_line_refusal(code, stderr)
    assert "bbox" in line and "finite" in line, stderr


def test_a_finite_bbox_still_searches(tmp_path: Path) -> None:
    code, stdout, stderr = eotrust(tmp_path / "home", "catalog", "search", "--bbox=-180,-90,180,90", "--json")
    assert code == 0, stderr
    assert stdout.splitlines()[0] == "[]"


def test_a_folder_named_as_a_card_is_still_one_line(tmp_path: Path) -> None:
    """The pipe's refusal is judged by the opened descriptor: a folder is still the file
    system's refusal naming the path (no traceback from a read with no file name)."""
    (tmp_path / "cards").mkdir()
    code, _, stderr = eotrust(tmp_path / "home", "party", "verify", str(tmp_path / "cards"))
    line = one_line_refusal(code, stderr)
    assert str(tmp_path / "cards") in line and "directory" in line, stderr


def _world() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))
    from landcover_world import world

    return world()


@pytest.mark.parametrize(
    ("command", "seed"),
    [("eo-dataset", "-1"), ("train", "-1"), ("train", str(2**64)), ("label-suggest", "-1")],
)
def test_a_seed_out_of_range_is_one_line(tmp_path: Path, command: str, seed: str) -> None:
    w = _world()
    out = tmp_path / "out"
    args = {
        "eo-dataset": ["eo", "dataset", str(w.cube), str(w.labels), "--no-store", "-o", str(out)],
        "train": [
            "train",
            "--dataset",
            str(w.dataset),
            "--model-def",
            "temporal_cnn_quick",
            "--epochs",
            "1",
            "-o",
            str(out),
        ],
        "label-suggest": [
            "label",
            "suggest",
            "--model",
            str(w.model),
            "--raster",
            str(w.cube),
            "--strategy",
            "random",
            "-o",
            str(out),
        ],
    }[command]
    code, _, stderr = eotrust(tmp_path / "home", *args, f"--seed={seed}", timeout=120)
    line = one_line_refusal(code, stderr)
    # numpy's seeds are refused naming the value; a training seed by the model definition's bound
    assert "seed" in line and (seed in line or "than or equal to" in line), stderr
    assert not out.exists()


def test_a_seed_out_of_range_in_a_model_definition_is_one_line(tmp_path: Path) -> None:
    import yaml

    from eotrust.ml.modeldef import load_model_def

    md = load_model_def("temporal_cnn_quick").model_dump(mode="json")
    md["training"]["seed"] = -7
    (tmp_path / "md.yaml").write_text(yaml.safe_dump(md))
    out = tmp_path / "m.pt"
    w = _world()
    args = ["train", "--dataset", str(w.dataset), "--model-def", str(tmp_path / "md.yaml"), "-o", str(out)]
    code, _, stderr = eotrust(tmp_path / "home", *args, timeout=120)
    line = one_line_refusal(code, stderr)
    assert "training.seed" in line and "greater than or equal to 0" in line, stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "host", ["a..b", "x" * 64 + ".example", os.fsdecode(b"\xff")], ids=["empty-label", "long-label", "not-utf8"]
)
def test_a_host_name_that_cannot_be_encoded_is_one_line(tmp_path: Path, host: str) -> None:
    code, stdout, stderr = eotrust(tmp_path / "home", "serve", "--host", host, "--port", "0")
    line = one_line_refusal(code, stderr)
    assert line.startswith("error: cannot listen on ") and "not a host name" in line, stderr
    assert "serving" not in stdout


@pytest.mark.parametrize(
    ("args", "what"),
    [(["apikey", "revoke"], "API key id"), (["catalog", "show"], "record id")],
    ids=["apikey-revoke", "catalog-show"],
)
def test_an_id_that_is_not_utf8_is_one_line(tmp_path: Path, args: list[str], what: str) -> None:
    code, _, stderr = eotrust(tmp_path / "home", *args, os.fsdecode(b"k\xff"))
    line = one_line_refusal(code, stderr)
    assert f"{what} " in line and "is not UTF-8 text" in line and "altered" not in stderr, stderr


@pytest.mark.parametrize("command", ["show", "export", "verify"])
def test_a_model_version_past_any_database_integer_is_not_found(tmp_path: Path, command: str) -> None:
    """`model show x:99999999999999999999999999` reached SQLite with a version past its 64-bit
    integers: an OverflowError traceback. No model can have such a version: not found."""
    args = ["model", command, "x:" + "9" * 26, *(["-o", str(tmp_path / "x.zip")] if command == "export" else [])]
    code, _, stderr = eotrust(tmp_path / "home", *args)
    line = one_line_refusal(code, stderr)
    assert "no registered model x:" in line, stderr
    assert not (tmp_path / "x.zip").exists()


def test_a_chain_url_whose_host_does_not_parse_is_one_line(tmp_path: Path) -> None:
    """``EOTRUST_CHAIN_URL=http://a..b:8545``: urllib3 parses the host only when it connects,
    and its LocationParseError (neither a connection error nor a requests error) went past the
    chain's error handling: a traceback from every command that reads the chain."""
    env = {**os.environ, "COLUMNS": "400", "EOTRUST_CHAIN_URL": "http://user:secret@a..b:8545"}
    proc = subprocess.run(
        [str(EOTRUST), "--home", str(tmp_path / "home"), "task", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    line = one_line_refusal(proc.returncode, proc.stderr)
    assert "JSON-RPC node" in line and "a..b" in line, proc.stderr
    assert "secret" not in proc.stderr, proc.stderr  # the URL's credentials are never shown


@pytest.mark.parametrize(
    "args",
    [["workflow", "validate"], ["workflow", "import-cwl"], ["workflow", "run"]],
    ids=["validate", "import-cwl", "run"],
)
def test_a_folder_named_as_a_workflow_says_it_is_a_folder(tmp_path: Path, args: list[str]) -> None:
    """A folder given where a workflow or CWL file goes was "does not exist" (validate,
    import-cwl), or parsed as YAML text ("workflow:1: a workflow document must be a mapping",
    run): each now says what the path is."""
    folder = tmp_path / "flows"
    folder.mkdir()
    code, _, stderr = eotrust(tmp_path / "home", *args, str(folder))
    if args[1] == "validate":  # it lists every problem, one per line, as "FILE: problem"
        assert code == 1 and "Traceback" not in stderr, stderr
        assert f"{folder} is a folder" in stderr, stderr
    else:
        line = one_line_refusal(code, stderr)
        assert f"{folder} is a folder" in line, stderr


def test_an_empty_cwl_document_is_named_empty(tmp_path: Path) -> None:
    """An empty CWL file: cwltool's message was empty, and the line said "invalid CWL: The error
    was: \\x1b[0m" (its terminal colour code, shown escaped)."""
    doc = tmp_path / "tool.cwl"
    doc.write_text("")
    code, _, stderr = eotrust(tmp_path / "home", "workflow", "import-cwl", str(doc))
    line = one_line_refusal(code, stderr)
    assert "the CWL document is empty" in line, stderr
    assert "The error was" not in stderr and "x1b" not in stderr, stderr


def test_an_identity_exported_under_a_file_says_the_file_is_no_folder(tmp_path: Path) -> None:
    """`party export-identity NAME -o FILE/x` said "the directory FILE does not exist" of a file
    that does exist."""
    home = tmp_path / "home"
    code, _, stderr = eotrust(home, "party", "create", "ann", "--role", "submitter")
    assert code == 0, stderr
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder\n")
    code, _, stderr = eotrust(home, "party", "export-identity", "ann", "-o", str(blocker / "ann.key"))
    line = one_line_refusal(code, stderr)
    assert f"{blocker} is a file, not a folder" in line and "does not exist" not in line, stderr
    assert blocker.read_text() == "a file, not a folder\n"
