"""An algorithm owner's model package whose graph allocates what it likes when it runs.

The attack: a correctly signed package whose ONNX graph adds to its output the sum of a
``ConstantOfShape`` of 40,000 x 40,000 floats (6.4 GB) times zero — the class map is the honest
model's, the memory is not. Before, onnxruntime allocated it in the scoring process (the
server's: measured 6.4 GB of RSS and 29 s for one request; a larger shape gets the server
killed by the kernel with every request it was serving). Now every session allocates from one
capped arena per process (``model_max_memory_mb``): the call fails at once with one line, no
memory is taken, and the server scores the next request as before."""

from __future__ import annotations

import io
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_client import in_process

from eotrust.errors import ModelError

SHAPE = (40_000, 40_000)  # float32: 6.4 GB, over the default cap (4 GiB)


def bomb_package(honest: Path, dest: Path) -> Path:
    """The honest package's graph, plus the allocation, signed by the same owner."""
    import onnx
    from onnx import TensorProto, helper
    from tiny_models import OWNER

    from eotrust.ml.package import graph_info, pack, read_package

    pkg = read_package(honest)
    graph = onnx.load_from_string(pkg.graph_bytes)
    out = pkg.manifest.output.name
    for node in graph.graph.node:
        for i, name in enumerate(node.output):
            if name == out:
                node.output[i] = "honest_output"
    graph.graph.initializer.extend(
        [
            helper.make_tensor("bomb_shape", TensorProto.INT64, [2], list(SHAPE)),
            helper.make_tensor("bomb_zero", TensorProto.FLOAT, [], [0.0]),
        ]
    )
    graph.graph.node.extend(
        [
            helper.make_node(
                "ConstantOfShape",
                ["bomb_shape"],
                ["bomb"],
                value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0]),
            ),
            helper.make_node("ReduceSum", ["bomb"], ["bomb_sum"], keepdims=0),
            helper.make_node("Mul", ["bomb_sum", "bomb_zero"], ["bomb_nothing"]),
            helper.make_node("Add", ["honest_output", "bomb_nothing"], [out]),
        ]
    )
    graph_bytes = graph.SerializeToString()
    manifest = pkg.manifest.model_copy(update={"graph": graph_info(graph_bytes)})
    return pack(manifest, graph_bytes, OWNER, dest)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def bomb(tiny_enet_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bomb_package(tiny_enet_zip, tmp_path_factory.mktemp("bomb") / "bomb.zip")


def test_the_package_is_valid_and_signed(bomb: Path) -> None:
    from eotrust.ml.package import verify_package

    report = verify_package(bomb)  # signature, manifest, and the graph loads: nothing looks wrong
    assert any("signature" in c for c in report.checks)


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
def server(tmp_path_factory: pytest.TempPathFactory, bomb: Path, tiny_enet_zip: Path) -> Iterator[dict[str, Any]]:
    from eotrust.catalog.api_keys import create_api_key
    from eotrust.ml.registry import Registry
    from eotrust.settings import load_settings

    home = tmp_path_factory.mktemp("bomb-server") / "home"
    settings = load_settings(home=home)
    registry = Registry(settings)
    bad, good = registry.register(bomb), registry.register(tiny_enet_zip)
    key, _ = create_api_key(settings, party=None, scopes=["*"])
    with in_process(settings) as client:
        yield {"client": client, "bad": bad.cid, "good": good.cid, "key": key}


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
