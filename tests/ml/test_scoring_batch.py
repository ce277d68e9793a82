"""Batch scoring with onnxruntime: arrays in, arrays out, bad arrays refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import CLASSES, tiny_series_package

from eotrust.errors import InvalidInputError
from eotrust.ml.models.enet import ENet
from eotrust.ml.scoring.batch import Scorer, pad_to_multiple


@pytest.fixture(scope="module")
def enet_pkg(tiny_enet_zip: Path) -> Path:
    return tiny_enet_zip


@pytest.fixture(scope="module")
def scorer(enet_pkg: Path) -> Scorer:
    return Scorer.from_file(enet_pkg)


def test_matches_pytorch_after_normalisation(scorer: Scorer) -> None:
    torch.manual_seed(0)
    model = ENet(3, len(CLASSES), widths=(16, 32, 64), stage1_repeats=1, encoder_stages=1).eval()
    raw = np.random.default_rng(0).integers(0, 255, (2, 3, 32, 48)).astype(np.uint8)
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy((raw.astype(np.float32) - 100) / 50)), 1).numpy()
    probs = scorer.probabilities(raw)
    assert probs.shape == (2, 4, 32, 48)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert scorer.classify(raw).dtype == np.uint8
    assert scorer.classify(raw[0]).shape == (32, 48)


def test_any_size_is_padded_and_cropped(scorer: Scorer) -> None:
    x = np.random.default_rng(1).normal(100, 50, (1, 3, 37, 21)).astype(np.float32)
    assert scorer.classify(x).shape == (1, 37, 21)
    assert pad_to_multiple(x, 8).shape == (1, 3, 40, 24)


def test_normalising_is_astype_then_arithmetic_bit_for_bit(scorer: Scorer) -> None:
    """The one-pass normalisation (into a reused buffer or not) gives the bits of the plain
    ``(x.astype(float32) - mean) / std``, for every integer and float input type."""
    rng = np.random.default_rng(4)
    mean, std = scorer._normalisation()
    assert mean is not None and std is not None
    for dtype in (np.uint8, np.uint16, np.int16, np.int32, np.uint32, np.int64, np.float32, np.float64):
        x = (rng.normal(0, 1, (2, 3, 9, 7)) * 70000 + 1000).astype(dtype)
        expected = (x.astype(np.float32) - mean) / std
        if np.issubdtype(x.dtype, np.floating):
            expected[~np.isfinite(expected)] = 0.0
        buf = np.full(x.shape, np.nan, np.float32)
        assert scorer.prepare(x, out=buf) is buf
        np.testing.assert_array_equal(buf, expected)
        np.testing.assert_array_equal(scorer.prepare(x), expected)
        # a buffer that does not fit is not used (nor written)
        small = np.zeros((1, 3, 9, 7), np.float32)
        np.testing.assert_array_equal(scorer.prepare(x, out=small), expected)
        assert not small.any()


def test_wrong_bands_and_dtypes_are_refused(scorer: Scorer) -> None:
    with pytest.raises(InvalidInputError, match="4 bands; model tiny takes 3"):
        scorer.classify(np.zeros((1, 4, 16, 16), np.float32))
    for bad in (
        np.zeros((1, 3, 16, 16), np.complex64),
        np.zeros((1, 3, 16, 16), bool),
        np.array([[["a"] * 16] * 16] * 3)[None],
    ):
        with pytest.raises(InvalidInputError, match="dtype"):
            scorer.classify(bad)
    with pytest.raises(InvalidInputError, match="axes"):
        scorer.classify(np.zeros((16, 16), np.float32))


def test_pixel_series_model(tmp_path: Path) -> None:
    pkg = tiny_series_package(tmp_path / "series.zip", channels=2, timesteps=6)
    s = Scorer.from_file(pkg)
    assert s.spec.layout == "NCT" and s.raster_bands == 12
    series = np.random.default_rng(0).random((10, 2, 6)).astype(np.float32)
    assert s.classify(series).shape == (10,)
    block = np.random.default_rng(1).random((12, 5, 7)).astype(np.float32)
    probs = s.score_block(block)
    assert probs.shape == (3, 5, 7)
    # pixel (2, 3) of the block is the series of its 12 bands, date-major (t * C + c)
    one = s.probabilities(block[:, 2, 3].reshape(1, 6, 2).transpose(0, 2, 1).copy())[0]
    np.testing.assert_allclose(probs[:, 2, 3], one, atol=1e-6)
    with pytest.raises(InvalidInputError, match="time steps"):
        s.classify(np.zeros((3, 2, 5), np.float32))


def test_scoring_does_not_import_torch(enet_pkg: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "from eotrust.ml.scoring.batch import Scorer\n"
        f"s = Scorer.from_file(__import__('pathlib').Path({str(enet_pkg)!r}))\n"
        "s.classify(np.zeros((1, 3, 16, 16), np.float32))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(("shape", "axis"), [((13, 50, 60), 0), ((2, 13, 5, 6), 1), ((7, 4), -1), ((3, 1, 1), 0)])
def test_class_map_is_argmax_with_first_on_ties(shape: tuple[int, ...], axis: int) -> None:
    from eotrust.ml.scoring.batch import class_map

    p = np.random.default_rng(0).random(shape).astype(np.float32)
    p[(slice(None),) * (axis % p.ndim) + (1,)] = p[(slice(None),) * (axis % p.ndim) + (0,)]  # ties
    np.testing.assert_array_equal(class_map(p, axis), np.argmax(p, axis=axis))
