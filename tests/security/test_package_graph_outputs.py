"""Attack: an algorithm owner signs a package whose graph does not give what its manifest
declares, or makes the scorer compute its constants while the package is loaded.

Before: the package checks looked at the output's name only. A graph giving int64, string or
bool scores, scores of another rank, or more classes than the manifest lists verified and
registered; scoring it then died in numpy (``UFuncTypeError``, ``IndexError``: a traceback in the
CLI, a 500 over REST), or coloured pixels with classes the manifest does not have. A graph whose
output shape is decided at run time (a ``Tile`` of the honest scores, its repeats computed from
the input) produced whatever it liked, outside any cap (1 GiB for one 16 x 16 tile), and
onnxruntime's constant folding computed a ``ConstantOfShape`` of 16384 x 16384 floats while the
session was made: 2 GiB and 30 s before the first tile, past ``model_max_memory_mb`` and
``model_max_seconds``.

Now the output must be float32 of the layout's rank with the manifest's classes (checked when a
package is verified), every call writes into an array of the one shape the manifest allows (a
graph computing another fails before allocating it), and sessions are made without constant
folding, so a constant subgraph runs, under the cap, when the graph does."""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from core_cli import cli, refused

from eotrust.errors import ModelError
from eotrust.settings import Settings

HERE = Path(__file__).resolve().parent


def _package(dest: Path, nodes: Sequence[Any], inits: Sequence[Any] = (), out_type: int | None = None) -> Path:
    """A signed image package (3 bands in, 3 classes out) whose graph is ``input -> x``, then
    ``nodes`` computing ``logits`` (``Identity`` of ``x`` when none does)."""
    from onnx import TensorProto, helper

    sys.path.insert(0, str(HERE.parent / "ml"))
    from tiny_models import OWNER

    from eotrust.ml.package import Manifest, graph_info, make_classes, pack

    body = [helper.make_node("Identity", ["input"], ["x"]), *nodes]
    if not any("logits" in n.output for n in nodes):
        body.append(helper.make_node("Identity", ["x"], ["logits"]))
    graph = helper.make_graph(
        body,
        "probe",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("logits", out_type or TensorProto.FLOAT, None)],
        initializer=list(inits),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    graph_bytes = model.SerializeToString()
    manifest = Manifest(
        name="probe",
        algorithm="probe",
        created="2024-05-01T12:00:00Z",
        owner=OWNER.address,
        input={"kind": "image", "layout": "NCHW", "bands": ["r", "g", "b"], "channels": 3, "tile_size": 16},
        output={"layout": "NKHW", "classes": 3},
        classes=make_classes(["a", "b", "c"]),
        graph=graph_info(graph_bytes),
    )
    return pack(manifest, graph_bytes, OWNER, dest)


def _other_output(kind: str) -> tuple[list[Any], list[Any], int | None]:
    from onnx import TensorProto, helper

    if kind in ("int64", "string", "bool"):
        to = {"int64": TensorProto.INT64, "string": TensorProto.STRING, "bool": TensorProto.BOOL}[kind]
        return [helper.make_node("Cast", ["x"], ["logits"], to=to)], [], to
    if kind == "rank 2":
        return [helper.make_node("ReduceMean", ["x"], ["logits"], axes=[2, 3], keepdims=0)], [], None
    if kind == "scalar":
        return [helper.make_node("ReduceMean", ["x"], ["logits"], keepdims=0)], [], None
    return [helper.make_node("Concat", ["x", "x"], ["logits"], axis=1)], [], None  # 6 classes for 3


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("kind", ["int64", "string", "bool", "rank 2", "scalar", "six classes"])
def test_a_graph_giving_other_scores_than_declared_is_refused(settings: Settings, tmp_path: Path, kind: str) -> None:
    from eotrust.ml.package import verify_package
    from eotrust.ml.registry import Registry

    package = _package(tmp_path / "other.zip", *_other_output(kind))
    with pytest.raises(ModelError) as caught:
        verify_package(package)
    assert "output" in caught.value.message and "\n" not in caught.value.message
    with pytest.raises(ModelError):
        Registry(settings).register(package)
    assert "output" in refused(cli(settings.home, "model", "verify", str(package))).message
    assert Registry(settings).list() == []


def _wide_at_run_time(dest: Path, repeats: int) -> Path:
    """Declares ``(N, 3, H, W)``; gives the scores tiled ``repeats`` times along the class axis,
    the repeats computed from the input at run time (nothing known when the session is made)."""
    from onnx import TensorProto, helper

    inits = [
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("repeats", TensorProto.FLOAT, [], [float(repeats)]),
        helper.make_tensor("one", TensorProto.INT64, [1], [1]),
        helper.make_tensor("ones", TensorProto.INT64, [2], [1, 1]),
    ]
    nodes = [
        helper.make_node("ReduceMax", ["x"], ["top"], keepdims=0),
        helper.make_node("Mul", ["top", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "repeats"], ["r"]),
        helper.make_node("Cast", ["r"], ["r64"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["r64", "one"], ["r1"]),
        helper.make_node("Concat", ["one", "r1", "ones"], ["reps"], axis=0),
        helper.make_node("Tile", ["x", "reps"], ["logits"]),
    ]
    return _package(dest, nodes, inits)


REPEATS = 400_000  # a 16 x 16 tile's scores become 1.2 GB


def test_an_output_decided_at_run_time_is_refused_before_it_is_allocated(tmp_path: Path) -> None:
    from eotrust.ml.scoring.batch import Scorer

    scorer = Scorer.from_file(_wide_at_run_time(tmp_path / "wide.zip", REPEATS))  # nothing to see when loaded
    tile = np.random.default_rng(0).random((3, 16, 16), dtype=np.float32)
    before = _rss_mib()
    with pytest.raises(ModelError) as caught:
        scorer.classify(tile)
    assert caught.value.message == (
        "model probe does not give the (1, 3, 16, 16) float32 output its manifest declares for input (1, 3, 16, 16)"
    )
    assert _rss_mib() - before < 256, "the output was allocated"


def test_the_server_answers_one_line_for_a_graph_that_breaks_its_manifest(settings: Settings, tmp_path: Path) -> None:
    sys.path.insert(0, str(HERE.parent / "api"))
    from api_client import in_process

    from eotrust.catalog.api_keys import create_api_key
    from eotrust.ml.registry import Registry

    wide = Registry(settings).register(_wide_at_run_time(tmp_path / "wide.zip", 3))
    honest = Registry(settings).register(_package(tmp_path / "honest.zip", []))
    key, _ = create_api_key(settings, party=None, scopes=["*"])
    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(1).random((3, 16, 16), dtype=np.float32))
    headers = {"X-API-Key": key, "Content-Type": "application/x-npy"}
    with in_process(settings) as client:
        res = client.post(f"/models/{wide.cid}/predict", content=buf.getvalue(), headers=headers)
        assert 400 <= res.status_code < 500, res.text
        assert "does not give the (1, 3, 16, 16) float32 output" in res.json()["detail"]
        ok = client.post(f"/models/{honest.cid}/predict", content=buf.getvalue(), headers=headers)
        assert ok.status_code == 200, ok.text
        assert np.load(io.BytesIO(ok.content)).shape == (16, 16)


_LOAD_AND_SCORE = """
import json, sys, time
import numpy as np
from pathlib import Path
from eotrust.errors import EotrustError
from eotrust.ml.scoring.batch import Scorer
started = time.monotonic()
try:
    scorer = Scorer.from_file(Path(sys.argv[1]), max_memory_mb=256)
    loaded = time.monotonic() - started
    scorer.classify(np.zeros((3, 8, 8), np.float32))
    said = "scored"
except EotrustError as exc:
    loaded, said = time.monotonic() - started, exc.message
# VmHWM: this process image's peak (ru_maxrss keeps the forking parent's, a big pytest worker)
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
print(json.dumps({"loaded_s": loaded, "said": said, "peak_mib": peak}))
"""


def test_constants_are_not_computed_while_a_package_loads(tmp_path: Path) -> None:
    """In a process of its own: the arena's cap (256 MiB here) is fixed by a process's first session."""
    from onnx import TensorProto, helper

    inits = [
        helper.make_tensor("shape", TensorProto.INT64, [2], [16384, 16384]),  # 1 GiB of float32
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
    ]
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["big"], value=one),
        helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["x", "nothing"], ["logits"]),
    ]
    package = _package(tmp_path / "folded.zip", nodes, inits)
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_SCORE, str(package)], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["said"].endswith("it asked for 1,024 MiB at once; models may use 256 MiB in this process"), report
    assert report["loaded_s"] < 10 and report["peak_mib"] < 700, report


def test_an_honest_graph_still_scores(tmp_path: Path) -> None:
    from eotrust.ml.scoring.batch import Scorer

    tile = np.random.default_rng(2).random((2, 3, 16, 16), dtype=np.float32)
    probs = Scorer.from_file(_package(tmp_path / "honest.zip", [])).probabilities(tile)
    assert probs.shape == (2, 3, 16, 16) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    expected = np.exp(tile - tile.max(axis=1, keepdims=True))
    assert np.allclose(probs, expected / expected.sum(axis=1, keepdims=True), atol=1e-6)
