"""INT8 packages: an ENet trained on a small land-cover-like task is quantised, calibrated on
its training tiles; on held-out evaluation tiles the INT8 graph's pixel accuracy is within
0.5 point of the float graph's. The INT8 package says so, names its float package, verifies
and scores; mislabelled graphs and useless calibration are refused."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TypedDict

import numpy as np
import pytest
import torch
from eth_account import Account

from eotrust.cid import canonical_json
from eotrust.errors import IntegrityError, InvalidInputError, ModelError
from eotrust.ml.models.enet import ENet
from eotrust.ml.onnx_export import package_model
from eotrust.ml.package import Manifest, graph_info, pack, read_package, verify_package
from eotrust.ml.quantize import MAX_DROP_POINTS, QuantOptions, quantise_package
from eotrust.ml.scoring.batch import Scorer

pytestmark = pytest.mark.slow  # trains a small ENet (seconds on a quiet machine)

OWNER = Account.from_key("0x" + "b2" * 32)
CLASSES = ["water", "forest", "field", "town"]
BANDS = ["blue", "green", "red", "nir"]
# each class's mean reflectance per band (uint16 digital numbers, as a Sentinel-2 raster)
SIGNATURES = np.array(
    [[900, 700, 400, 200], [400, 700, 350, 3000], [700, 900, 1000, 2200], [1300, 1300, 1400, 1600]], np.float32
)


def _scenes(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Tiles of blobby class maps (smooth random fields, arg-max) and their noisy band values."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=(n, len(CLASSES), size // 8, size // 8))
    fields = np.kron(coarse, np.ones((8, 8)))
    labels = fields.argmax(axis=1)
    x = SIGNATURES[labels].transpose(0, 3, 1, 2) + rng.normal(0, 250, (n, len(BANDS), size, size))
    return np.clip(x, 0, 10000).astype(np.uint16), labels.astype(np.int64)


class Packages(TypedDict):
    """The fixture's work folder, float and INT8 packages, and (x, y) training and evaluation tiles."""

    work: Path
    float: Path
    int8: Path
    train: tuple[np.ndarray, np.ndarray]
    eval: tuple[np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Packages:
    work = tmp_path_factory.mktemp("quantise")
    train_x, train_y = _scenes(24, 32, seed=1)
    eval_x, eval_y = _scenes(16, 64, seed=2)
    mean, std = 1000.0, 800.0
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny network: more threads only contend on a shared machine
    model = ENet(len(BANDS), len(CLASSES), widths=(16, 32, 64), stage1_repeats=1, encoder_stages=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt = torch.from_numpy((train_x.astype(np.float32) - mean) / std)
    yt = torch.from_numpy(train_y)
    model.train()
    for step in range(60):
        i = torch.randperm(len(xt), generator=torch.Generator().manual_seed(step))[:8]
        loss = torch.nn.functional.cross_entropy(model(xt[i]), yt[i])
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward is unannotated
        opt.step()
    torch.set_num_threads(threads)
    model.eval()
    float_pkg = package_model(
        model,
        OWNER,
        work / "float.zip",
        name="landcover",
        algorithm="enet",
        classes=CLASSES,
        bands=BANDS,
        spatial_multiple=8,
        tile_size=32,
        normalisation={"mean": [mean], "std": [std]},
        created="2026-01-01T00:00:00Z",
        method="torchscript",
    )
    int8_pkg = quantise_package(
        float_pkg,
        OWNER,
        work / "int8.zip",
        calibration=train_x[:16],
        evaluation=(eval_x, eval_y),
        calibration_data=["QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB"],
    )
    return {"work": work, "float": float_pkg, "int8": int8_pkg, "train": (train_x, train_y), "eval": (eval_x, eval_y)}


def _accuracy(package: Path, x: np.ndarray, y: np.ndarray) -> float:
    return float((Scorer.from_file(package).classify(x) == y).mean())


def test_int8_accuracy_is_within_half_a_point_of_float(packages: Packages) -> None:
    eval_x, eval_y = packages["eval"]
    float_acc = _accuracy(packages["float"], eval_x, eval_y)
    int8_acc = _accuracy(packages["int8"], eval_x, eval_y)
    assert float_acc > 0.8, (
        f"the float model did not learn the task ({float_acc:.3f}): the comparison would say nothing"
    )
    assert abs(float_acc - int8_acc) * 100 <= MAX_DROP_POINTS, (float_acc, int8_acc)
    # and the manifest records the same figures, measured when it was made
    acc = read_package(packages["int8"]).manifest.graph.quantisation.accuracy  # type: ignore[union-attr]
    assert acc is not None and acc.pixels == eval_y.size
    assert acc.float32 == pytest.approx(float_acc) and acc.int8 == pytest.approx(int8_acc)


def test_the_package_says_which_graph_it_carries(packages: Packages) -> None:
    f, q = read_package(packages["float"]), read_package(packages["int8"])
    assert f.manifest.graph.precision is None and f.manifest.graph.precision_name == "float32"
    assert "precision" not in f.manifest.canonical().decode()  # float manifests keep their old bytes
    assert q.manifest.graph.precision == "int8" and q.manifest.name == "landcover-int8"
    quant = q.manifest.graph.quantisation
    assert quant is not None and quant.format == "QDQ" and quant.per_channel and quant.calibration_tiles == 16
    assert quant.float_graph_sha256 == f.manifest.graph.sha256
    assert q.manifest.lineage.derived_from == verify_package(packages["float"]).cid
    assert {"QuantizeLinear", "DequantizeLinear"} <= _ops(q.graph_bytes)
    report = verify_package(packages["int8"], owner=OWNER.address)
    assert any("precision int8" in c for c in report.checks)


def test_qoperator_form_carries_qlinear_operators_and_says_so(packages: Packages) -> None:
    """The other INT8 form: QLinearConv written into the graph, the manifest saying QOperator,
    verified and within half a point of the float graph like the QDQ one."""
    train_x, _ = packages["train"]
    eval_x, eval_y = packages["eval"]
    dest = quantise_package(
        packages["float"],
        OWNER,
        packages["work"] / "int8-qop.zip",
        calibration=train_x[:16],
        evaluation=(eval_x, eval_y),
        options=QuantOptions(format="QOperator"),
    )
    q = read_package(dest)
    quant = q.manifest.graph.quantisation
    assert quant is not None and quant.format == "QOperator" and quant.accuracy is not None
    assert quant.accuracy.drop_points <= MAX_DROP_POINTS
    ops = _ops(q.graph_bytes)
    assert "QLinearConv" in ops and "Conv" not in ops  # every convolution in int8 operators
    assert "QLinearConv" not in _ops(read_package(packages["int8"]).graph_bytes)  # the QDQ form: none
    verify_package(dest, owner=OWNER.address)
    with pytest.raises(InvalidInputError, match="unknown quantisation format"):
        quantise_package(
            packages["float"],
            OWNER,
            packages["work"] / "bad.zip",
            calibration=train_x[:4],
            options=QuantOptions(format="QQ"),
        )
    assert not (packages["work"] / "bad.zip").exists()


def _ops(graph: bytes) -> set[str]:
    import onnx

    return {n.op_type for n in onnx.load_from_string(graph).graph.node}


def test_old_float_packages_read_and_verify_unchanged(packages: Packages, tmp_path: Path) -> None:
    # a manifest written before precision existed has no such key: same bytes, same CID
    old = read_package(packages["float"])
    again = pack(old.manifest, old.graph_bytes, OWNER, tmp_path / "again.zip")
    assert again.read_bytes() == packages["float"].read_bytes()


def test_a_mislabelled_graph_is_refused(packages: Packages, tmp_path: Path) -> None:
    f, q = read_package(packages["float"]), read_package(packages["int8"])
    # packing an INT8 graph described as float (or the reverse) is refused outright ...
    with pytest.raises(ModelError, match="not quantised|needs its quantisation"):
        graph_info(q.graph_bytes)
    with pytest.raises(ModelError):
        graph_info(f.graph_bytes, q.manifest.graph.quantisation)
    liar = Manifest.model_validate(
        {
            **f.manifest.model_dump(),
            "graph": {
                **graph_info(q.graph_bytes, q.manifest.graph.quantisation).model_dump(),
                "precision": None,
                "quantisation": None,
            },
        }
    )
    with pytest.raises(ModelError, match="float32, but it is not"):
        pack(liar, q.graph_bytes, OWNER, tmp_path / "liar.zip")
    # ... and a signed package whose manifest lies (made by hand, signed by its owner) fails verification
    from eth_account.messages import encode_defunct

    from eotrust.ml.package import ENTRIES, _zip_entry, signing_message

    mbytes = liar.canonical()
    message = signing_message(mbytes, q.graph_bytes)
    sig = OWNER.sign_message(encode_defunct(text=message))
    signature = {
        "scheme": "eip191",
        "signer": OWNER.address,
        "message": message,
        "signature": "0x" + sig.signature.hex().removeprefix("0x"),
    }
    bad = tmp_path / "mislabelled.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in zip(ENTRIES, (mbytes, q.graph_bytes, canonical_json(signature))):
            zf.writestr(_zip_entry(name), data)
    with pytest.raises(IntegrityError, match="says the graph is float32, but model.onnx is int8"):
        verify_package(bad)


def test_an_int8_package_is_not_quantised_again(packages: Packages, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="already carries an int8 graph"):
        quantise_package(packages["int8"], OWNER, tmp_path / "x.zip", calibration=packages["train"][0][:2])
    assert not (tmp_path / "x.zip").exists()


def test_calibration_that_does_not_fit_the_model_is_refused(packages: Packages, tmp_path: Path) -> None:
    train_x = packages["train"][0]
    with pytest.raises(InvalidInputError, match="bands"):
        quantise_package(packages["float"], OWNER, tmp_path / "x.zip", calibration=train_x[:, :3])
    with pytest.raises(InvalidInputError, match="calibration data"):
        quantise_package(packages["float"], OWNER, tmp_path / "x.zip", calibration=train_x[:0])
    assert not (tmp_path / "x.zip").exists()


def test_a_graph_that_loses_accuracy_is_not_packaged(packages: Packages, tmp_path: Path) -> None:
    # calibrated on tiles 50 times brighter than the training data, the activation ranges are so
    # wide that 8 bits cannot tell the classes apart: the check must catch it, and write nothing
    train_x = packages["train"][0]
    eval_x, eval_y = packages["eval"]
    with pytest.raises(ModelError, match="points lost, more than 0.5; not packaged"):
        quantise_package(
            packages["float"],
            OWNER,
            tmp_path / "x.zip",
            calibration=train_x[:4].astype(np.float32) * 50,
            evaluation=(eval_x, eval_y),
            options=QuantOptions(per_channel=False),
        )
    assert not (tmp_path / "x.zip").exists()
