"""An algorithm owner's model package whose graph allocates what it likes, or runs as long as
it likes, when it runs.

The memory attack: a correctly signed package whose ONNX graph adds to its output the sum of a
``ConstantOfShape`` of 40,000 x 40,000 floats (6.4 GB) times zero — the class map is the honest
model's, the memory is not. Before, onnxruntime allocated it in the scoring process (the
server's: measured 6.4 GB of RSS and 29 s for one request; a larger shape gets the server
killed by the kernel with every request it was serving). Now every session allocates from one
capped arena per process (``model_max_memory_mb``): the call fails at once with one line, no
memory is taken, and the server scores the next request as before."""

from __future__ import annotations

import hashlib
import io
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from api_client import in_process

from eotrust.errors import ModelError

SHAPE = (40_000, 40_000)  # float32: 6.4 GB, over the default cap (4 GiB)


def _rewired(honest: Path) -> tuple[Any, Any, str]:
    """The honest package, its graph with the output renamed ``honest_output``, and the output's
    name: a hostile graph computes the output from ``honest_output`` and its own extra."""
    import onnx

    from eotrust.ml.package import read_package

    pkg = read_package(honest)
    graph = onnx.load_from_string(pkg.graph_bytes)
    out = pkg.manifest.output.name
    for node in graph.graph.node:
        for i, name in enumerate(node.output):
            if name == out:
                node.output[i] = "honest_output"
    return pkg, graph, out


def _with_extra(honest: Path, dest: Path, kind: str) -> Path:
    """The honest package's graph with its output plus zero made expensively (``kind``:
    "memory" or "time"), signed by the same owner."""
    from onnx import TensorProto, helper
    from tiny_models import OWNER

    from eotrust.ml.package import graph_info, pack

    pkg, graph, out = _rewired(honest)
    zero = helper.make_tensor("bomb_zero", TensorProto.FLOAT, [], [0.0])
    if kind == "memory":
        graph.graph.initializer.extend([helper.make_tensor("bomb_shape", TensorProto.INT64, [2], list(SHAPE)), zero])
        extra = [
            helper.make_node(
                "ConstantOfShape",
                ["bomb_shape"],
                ["bomb"],
                value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0]),
            ),
            helper.make_node("ReduceSum", ["bomb"], ["bomb_sum"], keepdims=0),
            helper.make_node("Mul", ["bomb_sum", "bomb_zero"], ["bomb_nothing"]),
        ]
    else:
        body = helper.make_graph(
            [
                helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                helper.make_node("Add", ["acc_in", "body_zero"], ["acc_out"]),
            ],
            "forever",
            [
                helper.make_tensor_value_info("i", TensorProto.INT64, []),
                helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, []),
            ],
            [
                helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, []),
            ],
            initializer=[helper.make_tensor("body_zero", TensorProto.FLOAT, [], [0.0])],
        )
        graph.graph.initializer.extend(
            [
                helper.make_tensor("bomb_trips", TensorProto.INT64, [], [10**12]),
                helper.make_tensor("bomb_go", TensorProto.BOOL, [], [True]),
                zero,
            ]
        )
        extra = [helper.make_node("Loop", ["bomb_trips", "bomb_go", "bomb_zero"], ["bomb_nothing"], body=body)]
    graph.graph.node.extend([*extra, helper.make_node("Add", ["honest_output", "bomb_nothing"], [out])])
    graph_bytes = graph.SerializeToString()
    manifest = pkg.manifest.model_copy(update={"graph": graph_info(graph_bytes)})
    return pack(manifest, graph_bytes, OWNER, dest)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def bomb(tiny_enet_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _with_extra(tiny_enet_zip, tmp_path_factory.mktemp("bomb") / "bomb.zip", "memory")


@pytest.fixture(scope="module")
def forever(tiny_enet_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _with_extra(tiny_enet_zip, tmp_path_factory.mktemp("forever") / "forever.zip", "time")


def test_the_packages_are_valid_and_signed(bomb: Path, forever: Path) -> None:
    from eotrust.ml.package import verify_package

    for package in (bomb, forever):
        report = verify_package(package)  # signature, manifest, and the graph loads: nothing looks wrong
        assert any("signature" in c for c in report.checks)


def test_a_call_that_runs_past_its_time_is_stopped(forever: Path, tiny_enet_zip: Path) -> None:
    import time

    from eotrust.ml.scoring.batch import Scorer

    tile = np.random.default_rng(0).integers(0, 255, (3, 64, 64)).astype(np.float32)
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        Scorer.from_file(forever, max_seconds=1).classify(tile)
    assert time.monotonic() - started < 10
    assert "was stopped on input (1, 3, 64, 64) after 1 s" in caught.value.message
    assert Scorer.from_file(tiny_enet_zip, max_seconds=1).classify(tile).shape == (64, 64)


def test_scoring_stops_at_the_cap_and_the_process_scores_on(bomb: Path, tiny_enet_zip: Path) -> None:
    from eotrust.ml.scoring.batch import Scorer

    tile = np.random.default_rng(0).integers(0, 255, (3, 64, 64)).astype(np.float32)
    before = _rss_mib()
    with pytest.raises(ModelError) as caught:
        Scorer.from_file(bomb).classify(tile)
    message = caught.value.message
    assert "asked for 6,104 MiB at once" in message and "MiB in this process" in message and "\n" not in message
    assert _rss_mib() - before < 1024, "the allocation was made"
    honest = Scorer.from_file(tiny_enet_zip).classify(tile)
    assert honest.shape == (64, 64)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, bomb: Path, forever: Path, tiny_enet_zip: Path
) -> Iterator[dict[str, Any]]:
    from eotrust.catalog.api_keys import create_api_key
    from eotrust.ml.registry import Registry
    from eotrust.settings import load_settings

    home = tmp_path_factory.mktemp("bomb-server") / "home"
    settings = load_settings(home=home, model_max_seconds=2)
    registry = Registry(settings)
    bad, slow, good = registry.register(bomb), registry.register(forever), registry.register(tiny_enet_zip)
    key, _ = create_api_key(settings, party=None, scopes=["*"])
    with in_process(settings) as client:
        yield {"client": client, "bad": bad.cid, "slow": slow.cid, "good": good.cid, "key": key}


def test_the_server_answers_one_line_and_serves_the_next_request(server: dict[str, Any]) -> None:
    client, headers = server["client"], {"X-API-Key": server["key"], "Content-Type": "application/x-npy"}
    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(1).integers(0, 255, (3, 64, 64)).astype(np.float32))
    before = _rss_mib()
    res = client.post(f"/models/{server['bad']}/predict", content=buf.getvalue(), headers=headers)
    assert 400 <= res.status_code < 500, res.text
    assert "asked for 6,104 MiB at once" in res.json()["detail"]
    assert _rss_mib() - before < 1024, "the allocation was made"
    ok = client.post(f"/models/{server['good']}/predict", content=buf.getvalue(), headers=headers)
    assert ok.status_code == 200, ok.text
    assert np.load(io.BytesIO(ok.content)).shape == (64, 64)


def test_the_server_stops_an_endless_call_and_serves_the_next_request(server: dict[str, Any]) -> None:
    import time

    client, headers = server["client"], {"X-API-Key": server["key"], "Content-Type": "application/x-npy"}
    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(2).integers(0, 255, (3, 64, 64)).astype(np.float32))
    started = time.monotonic()
    res = client.post(f"/models/{server['slow']}/predict", content=buf.getvalue(), headers=headers)
    assert 400 <= res.status_code < 500, res.text
    assert "after 2 s" in res.json()["detail"] and time.monotonic() - started < 15
    ok = client.post(f"/models/{server['good']}/predict", content=buf.getvalue(), headers=headers)
    assert ok.status_code == 200, ok.text


# -- a graph that reads a file of the host that scores it -----------------------------------------
def _reading(honest: Path, location: str) -> bytes:
    """The honest graph plus an initializer kept "outside" at ``location`` (onnxruntime resolves
    it against the scoring process's working directory; it refuses absolute paths and ``../``,
    so anything under that directory — a server started in the user's home sees ``.eotrust/``),
    summed into the output: the prediction carries the file."""
    from onnx import TensorProto, helper

    _, graph, out = _rewired(honest)
    stolen = TensorProto(name="stolen", data_type=TensorProto.UINT8, dims=[16])
    stolen.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = stolen.external_data.add()
        entry.key, entry.value = key, value
    graph.graph.initializer.append(stolen)
    graph.graph.node.extend(
        [
            helper.make_node("Cast", ["stolen"], ["stolen_f"], to=TensorProto.FLOAT),
            helper.make_node("ReduceSum", ["stolen_f"], ["stolen_sum"], keepdims=0),
            helper.make_node("Add", ["honest_output", "stolen_sum"], [out]),
        ]
    )
    return cast(bytes, graph.SerializeToString())  # protobuf is untyped here


def test_a_graph_that_reads_a_host_file_is_refused(
    tiny_enet_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime as ort
    from tiny_models import OWNER

    from eotrust.ml.package import graph_info, pack, read_package, verify_package
    from eotrust.ml.scoring.batch import Scorer

    keys = tmp_path / "work" / ".eotrust" / "parties"  # a server started where its home is below
    keys.mkdir(parents=True)
    (keys / "keystore.json").write_bytes(b"\x07" * 16)
    monkeypatch.chdir(tmp_path / "work")
    graph = _reading(tiny_enet_zip, ".eotrust/parties/keystore.json")
    # the attack is real: onnxruntime alone reads the file into the prediction (16 x 7 = 112)
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    x = np.zeros((1, 3, 64, 64), np.float32)
    name = session.get_inputs()[0].name
    honest = ort.InferenceSession(read_package(tiny_enet_zip).graph_bytes, providers=["CPUExecutionProvider"])
    assert np.allclose(session.run(None, {name: x})[0] - honest.run(None, {name: x})[0], 112.0)
    # eotrust refuses it wherever a graph is described, verified or loaded, in one line
    with pytest.raises(ModelError, match="keeps tensor 'stolen' outside itself"):
        graph_info(graph)
    pkg = read_package(tiny_enet_zip)
    described = {"sha256": hashlib.sha256(graph).hexdigest(), "size": len(graph)}
    forged = pkg.manifest.model_copy(update={"graph": pkg.manifest.graph.model_copy(update=described)})
    with pytest.raises(ModelError, match="outside itself"):
        pack(forged, graph, OWNER, tmp_path / "x.zip")
    with pytest.raises(ModelError, match="outside itself"):
        Scorer(type(pkg)(pkg.manifest, pkg.manifest_bytes, graph, pkg.signature))
    assert verify_package(tiny_enet_zip).cid  # an honest package still verifies


def test_a_file_read_hidden_in_a_model_local_function_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same read from a ``Constant`` inside a model-local function (``ModelProto.functions``),
    which onnxruntime inlines and loads just the same."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from eotrust.ml.package import graph_info

    (tmp_path / "secret.bin").write_bytes(b"\x05" * 16)
    monkeypatch.chdir(tmp_path)
    stolen = TensorProto(name="stolen", data_type=TensorProto.UINT8, dims=[16])
    stolen.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "secret.bin"), ("offset", "0"), ("length", "16")):
        entry = stolen.external_data.add()
        entry.key, entry.value = key, value
    leak = helper.make_function(
        "local",
        "Leak",
        ["x"],
        ["y"],
        [
            helper.make_node("Constant", [], ["c"], value=stolen),
            helper.make_node("Cast", ["c"], ["cf"], to=TensorProto.FLOAT),
            helper.make_node("ReduceSum", ["cf"], ["s"], keepdims=0),
            helper.make_node("Add", ["x", "s"], ["y"]),
        ],
        [helper.make_opsetid("", 17)],
    )
    graph = helper.make_graph(
        [helper.make_node("Leak", ["x"], ["y"], domain="local")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)], functions=[leak]
    )
    model.ir_version = 8
    data = model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])  # the attack is real: 16 x 5
    assert session.run(None, {"x": np.zeros(1, np.float32)})[0][0] == 80.0
    with pytest.raises(ModelError, match="keeps tensor 'stolen' outside itself"):
        graph_info(data)
