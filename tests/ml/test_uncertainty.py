"""Uncertainty: confidence bands, calibration (ECE), reliability diagrams, MC-dropout, and
the confidence GeoTIFF beside a class map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from landcover_world import world

from eotrust.ml.uncertainty import calibration, confidence_bands


def test_confidence_bands() -> None:
    p = np.array([[1.0, 0.5, 0.25], [0.0, 0.5, 0.25], [0.0, 0.0, 0.25], [0.0, 0.0, 0.25]])
    conf, margin, ent = confidence_bands(p)
    np.testing.assert_allclose(conf, [1.0, 0.5, 0.25])
    np.testing.assert_allclose(margin, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(ent, [0.0, 0.5, 1.0], atol=1e-6)


def test_ece_of_a_calibrated_and_an_overconfident_model() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.3, 1.0, 200_000)
    honest = rng.random(conf.size) < conf  # right as often as it says
    assert calibration(conf, honest).ece < 0.01
    boastful = rng.random(conf.size) < conf - 0.2  # 20 points less often right than it says
    cal = calibration(conf, boastful)
    assert 0.17 < cal.ece < 0.23 and cal.mean_confidence > cal.accuracy
    assert sum(b.count for b in cal.bins) == conf.size and len(cal.bins) == 10


def test_evaluate_reports_calibration_and_draws_a_reliability_diagram(tmp_path: Path) -> None:
    from eotrust.ml.evaluate import evaluate_dataset, reliability_path, write_metrics

    w = world()
    m = evaluate_dataset(w.model, w.dataset, split="test")
    assert m.calibration is not None and 0 <= m.calibration.ece <= 1
    assert abs(m.calibration.accuracy - m.pixel_accuracy) < 1e-9  # the same pixels, the same predictions
    write_metrics(m, tmp_path / "m.json", tmp_path / "m.png")
    assert reliability_path(tmp_path / "m.png").stat().st_size > 5000 and "ECE" in m.summary()


def test_confidence_geotiff_and_mc_dropout(tmp_path: Path) -> None:
    from eotrust.ml.predict import predict_raster

    w = world()
    r = predict_raster(
        w.model, w.cube, tmp_path / "c.tif", probabilities=tmp_path / "p.tif", confidence=tmp_path / "u.tif"
    )
    with (
        rasterio.open(tmp_path / "u.tif") as u,
        rasterio.open(tmp_path / "p.tif") as p,
        rasterio.open(tmp_path / "c.tif") as c,
    ):
        assert u.descriptions == ("confidence", "margin", "entropy") and u.transform == c.transform
        bands, probs = u.read(), p.read()
    np.testing.assert_allclose(bands[0], probs.max(axis=0), atol=1e-6)
    assert r.mean_confidence == pytest.approx(float(bands[0].mean()), abs=1e-4)
    mc = predict_raster(w.model, w.cube, tmp_path / "c2.tif", confidence=tmp_path / "u2.tif", mc_samples=4)
    with rasterio.open(tmp_path / "u2.tif") as u2:
        assert u2.tags()["mc_samples"] == "4"
        assert not np.array_equal(u2.read(1), bands[0])  # dropout on: the passes differ
    assert mc.mean_confidence is not None and 0 < mc.mean_confidence <= 1
