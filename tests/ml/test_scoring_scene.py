"""Scene scoring: tiles with overlap and blending, the input's georeference, nodata, bad rasters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from tiny_models import tiny_series_package

from eotrust.errors import InvalidInputError, RasterError
from eotrust.ml.scoring.batch import Scorer
from eotrust.ml.scoring.scene import blend_ramp, score_scene, single_spans, tile_starts

CRS = "EPSG:32633"
TRANSFORM = Affine(10, 0, 500000, 0, -10, 5100000)


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = CRS,
    nodata: float | None = None,
    descriptions: list[str] | None = None,
) -> Path:
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "transform": TRANSFORM,
        "nodata": nodata,
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
    return path


@pytest.fixture(scope="module")
def scorer(tiny_enet_zip: Path) -> Scorer:
    return Scorer.from_file(tiny_enet_zip)


def scene(shape: tuple[int, int, int] = (3, 150, 230), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = rng.normal(100, 60, (shape[0], shape[1] // 10 + 1, shape[2] // 10 + 1))
    big = np.kron(smooth, np.ones((10, 10)))[:, : shape[1], : shape[2]]
    return np.clip(big + rng.normal(0, 5, shape), 0, 255).astype(np.uint8)


def test_tiles_cover_and_ramp_never_zero() -> None:
    assert tile_starts(230, 64, 48) == [0, 48, 96, 144, 166]
    assert tile_starts(50, 64, 48) == [0]
    ramp = blend_ramp(64, 16)
    assert ramp.min() > 0 and ramp.max() == 1 and ramp[0] < ramp[16] == 1


def test_scene_keeps_georeference_and_matches_whole_image(scorer: Scorer, tmp_path: Path) -> None:
    data = scene()
    src = write_raster(tmp_path / "scene.tif", data)
    ticks: list[tuple[int, int]] = []
    result = score_scene(
        scorer,
        src,
        tmp_path / "classes.tif",
        probabilities=tmp_path / "probs.tif",
        tile=64,
        overlap=16,
        progress=lambda d, t: ticks.append((d, t)),
    )
    assert result.tiles == len(tile_starts(150, 64, 48)) * len(tile_starts(230, 64, 48))
    assert ticks[-1] == (result.tiles, result.tiles)
    with rasterio.open(result.classes) as out:
        assert out.crs.to_string() == CRS and out.transform == TRANSFORM
        assert (out.width, out.height, out.count, out.dtypes[0]) == (230, 150, 1, "uint8")
        classes = out.read(1)
        # the one class-map encoding: codes (index + 1 for a model without codes), nodata 0, colour table
        assert out.nodata == 0 and out.colormap(1)[2][:3] == (255, 127, 14)
        assert out.tags()["classes"].startswith("0 no data,1 water")
        assert "tiny" in out.tags()["model"]
    with rasterio.open(result.probabilities) as probs_ds:
        probs = probs_ds.read()
        assert probs.shape == (4, 150, 230) and probs_ds.descriptions[0] == "water"
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(classes, probs.argmax(axis=0) + 1)
    # tiles blended back together agree with scoring the whole image at once almost everywhere
    whole = scorer.classify(data[None].astype(np.float32))[0]
    assert (whole + 1 == classes).mean() > 0.95


def plain_blend(scorer: Scorer, data: np.ndarray, tile: int, overlap: int) -> np.ndarray:
    """Tile-by-tile probabilities blended with plain numpy: the reference of the pipeline."""
    _, height, width = data.shape
    weight = np.outer(blend_ramp(tile, overlap), blend_ramp(tile, overlap))
    acc = np.zeros((scorer.num_classes, height, width), np.float32)
    wsum = np.zeros((height, width), np.float32)
    for y in tile_starts(height, tile, tile - overlap):
        for x in tile_starts(width, tile, tile - overlap):
            p = scorer.probabilities(data[None, :, y : y + tile, x : x + tile])[0]
            acc[:, y : y + tile, x : x + tile] += p * weight
            wsum[y : y + tile, x : x + tile] += weight
    blended: np.ndarray = acc / wsum
    return blended


def test_pipelined_scene_is_the_plain_blend_bit_for_bit(scorer: Scorer, tmp_path: Path) -> None:
    """The three-thread pipeline (reused buffers, softmax and blending in bands of rows) gives
    exactly what tile-by-tile scoring blended with plain numpy gives, whatever the batch size:
    a buffer reused while a job still needs it, or a band left out, would change bits."""
    data = scene((3, 150, 230), seed=5)
    src = write_raster(tmp_path / "scene.tif", data)
    tile, overlap = 64, 16
    expected = plain_blend(scorer, data, tile, overlap)
    for batch_size in (1, 3):
        out = tmp_path / f"probs{batch_size}.tif"
        score_scene(
            scorer, src, tmp_path / "c.tif", probabilities=out, tile=tile, overlap=overlap, batch_size=batch_size
        )
        with rasterio.open(out) as ds:
            np.testing.assert_array_equal(ds.read(), expected)


def test_a_class_map_alone_skips_softmax_where_one_tile_covers_and_gives_the_same_classes(
    scorer: Scorer, tmp_path: Path
) -> None:
    """Without a probabilities output, a pixel that one tile alone covers takes the largest of
    its logits (softmax keeps their order) and the blended sums are not divided by their
    weights (one positive factor per pixel): the class map is the blended probabilities' argmax,
    as when the probabilities are written. Tiles of 128 with overlap 20 on 300 x 330 pixels:
    bands of rows lie wholly inside and partly outside each tile's lone span, and the last row
    and column of tiles are moved back over their neighbours."""
    assert scorer.manifest.output.kind == "logits"
    data = scene((3, 300, 330), seed=7)
    src = write_raster(tmp_path / "scene.tif", data)
    tile, overlap = 128, 20
    assert single_spans(tile_starts(300, tile, tile - overlap), tile) == {0: (0, 108), 108: (20, 64), 172: (64, 128)}
    expected = plain_blend(scorer, data, tile, overlap).argmax(axis=0) + 1
    alone = score_scene(scorer, src, tmp_path / "alone.tif", tile=tile, overlap=overlap, batch_size=2)
    both = score_scene(scorer, src, tmp_path / "both.tif", probabilities=tmp_path / "p.tif", tile=tile, overlap=overlap)
    with rasterio.open(alone.classes) as a, rasterio.open(both.classes) as b:
        np.testing.assert_array_equal(a.read(1), expected)
        np.testing.assert_array_equal(b.read(1), expected)


def test_one_tile_scene_is_exactly_the_whole_image(scorer: Scorer, tmp_path: Path) -> None:
    data = scene((3, 40, 56), seed=3)
    result = score_scene(scorer, write_raster(tmp_path / "s.tif", data), tmp_path / "c.tif", tile=64)
    with rasterio.open(result.classes) as out:
        np.testing.assert_array_equal(out.read(1), scorer.classify(data[None])[0] + 1)


def test_pixel_series_scene_is_exact(tmp_path: Path) -> None:
    s = Scorer.from_file(tiny_series_package(tmp_path / "series.zip", channels=1, timesteps=12))
    data = np.random.default_rng(0).random((12, 70, 45)).astype(np.float32)
    data[:, 5, 7] = np.nan  # no value on any date: nodata
    src = write_raster(tmp_path / "ndvi.tif", data)
    result = score_scene(s, src, tmp_path / "classes.tif", tile=32)
    with rasterio.open(result.classes) as out:
        classes = out.read(1)
    per_pixel = s.classify(np.nan_to_num(data).reshape(12, -1).T).reshape(70, 45)
    assert classes[5, 7] == 0
    mask = np.ones_like(classes, bool)
    mask[5, 7] = False
    np.testing.assert_array_equal(classes[mask], per_pixel[mask] + 1)


def test_nodata_and_band_selection_by_name(scorer: Scorer, tmp_path: Path) -> None:
    data = np.concatenate([scene((3, 48, 48)), np.full((2, 48, 48), 7, np.uint8)])[[3, 2, 4, 1, 0]]
    data[:, :8, :8] = 0
    names = ["swir", "blue", "nir", "green", "red"]
    src = write_raster(tmp_path / "five.tif", data, nodata=0, descriptions=names)
    result = score_scene(scorer, src, tmp_path / "c.tif")
    with rasterio.open(result.classes) as out:
        classes = out.read(1)
    assert (classes[:8, :8] == 0).all() and (classes[8:, 8:] >= 1).all() and (classes[8:, 8:] <= 4).all()
    rgb = data[[4, 3, 1]]
    np.testing.assert_array_equal(classes[8:, 8:], scorer.classify(rgb[None])[0][8:, 8:] + 1)


def test_bad_rasters(scorer: Scorer, tmp_path: Path) -> None:
    dest = tmp_path / "c.tif"
    with pytest.raises(RasterError, match="no CRS"):
        score_scene(scorer, write_raster(tmp_path / "nocrs.tif", scene((3, 32, 32)), crs=None), dest)
    with pytest.raises(InvalidInputError, match="has 2 bands; the model takes 3"):
        score_scene(scorer, write_raster(tmp_path / "two.tif", scene((2, 32, 32))), dest)
    notatiff = tmp_path / "junk.tif"
    notatiff.write_bytes(b"not a tiff")
    with pytest.raises(RasterError, match="cannot read"):
        score_scene(scorer, notatiff, dest)
    with pytest.raises(InvalidInputError, match="overlap"):
        score_scene(scorer, write_raster(tmp_path / "ok.tif", scene((3, 32, 32))), dest, tile=64, overlap=40)
    assert not dest.exists() and not list(tmp_path.glob(".*part"))
