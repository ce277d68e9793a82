"""A national boundary polygon over a small scene: one feature of 3,000,000 vertices whose
bounding box reaches the scene. Each geometry is cut to the scene's extent (in the file's CRS)
as it is decoded, and only the vertices of its cut part count towards ``max_vertices``; the
vertices decoded are bounded apart (``max_decoded_vertices``, from the WKB's size before a
geometry is built), so a hostile file still cannot exhaust memory.

Before: the polygon was counted whole and refused ("holds 3,000,000 vertices or more; at most
2,000,000 are read"); the user had to clip it first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from eo_world import write_polygons, write_raster
from measured_cli import measured_cli

from eotrust.eo.raster import Grid
from eotrust.errors import InvalidInputError

#: the scene of tests/eo/test_ingestion_bounds.py: 100 x 100 px of 10 m, about 14.483-14.496 E,
#: 45.998-46.007 N
SCENE = Affine(10, 0, 460000, 0, -10, 5095000)

#: the circle's centre and radius (degrees): its edge runs north-south through the middle of
#: :data:`SCENE` (about 14.483-14.496 E, 45.998-46.007 N), so the scene is half labelled.
_CENTRE, _RADIUS = (14.4895 - 0.5, 46.003), 0.5


def _nation(path: Path, vertices: int = 3_000_000) -> Path:
    t = np.linspace(0, 2 * np.pi, vertices - 1, endpoint=False)
    ring = np.c_[_CENTRE[0] + _RADIUS * np.cos(t), _CENTRE[1] + _RADIUS * np.sin(t)]
    return write_polygons(path, [ring], [2])


def _clipped(path: Path, vertices: int = 3_000_000) -> Path:
    """The same circle cut to a box well around the scene, by shapely (the part that matters)."""
    import shapely

    t = np.linspace(0, 2 * np.pi, vertices - 1, endpoint=False)
    ring = np.c_[_CENTRE[0] + _RADIUS * np.cos(t), _CENTRE[1] + _RADIUS * np.sin(t)]
    part = shapely.clip_by_rect(shapely.Polygon(ring), 14.45, 45.97, 14.53, 46.04)
    return write_polygons(path, [np.asarray(part.exterior.coords)[:-1]], [2])


def test_a_national_polygon_over_a_small_scene_labels_it(tmp_path: Path) -> None:
    vector = _nation(tmp_path / "nation.gpkg")
    like = write_raster(tmp_path / "like.tif", np.zeros((100, 100), np.uint8), transform=SCENE)
    args = ("eo", "labels", "--like", str(like), "--classes", "2 forest", "--field", "class")
    out = tmp_path / "labels.tif"
    code, _, stderr, peak_kib = measured_cli(tmp_path / "h", *args, "--vector", str(vector), "-o", str(out))
    assert code == 0, stderr
    assert peak_kib < 500_000, peak_kib  # KiB, imports included
    reference = tmp_path / "reference.tif"
    part = _clipped(tmp_path / "part.gpkg")
    code, _, stderr, _ = measured_cli(tmp_path / "h", *args, "--vector", str(part), "-o", str(reference))
    assert code == 0, stderr
    with rasterio.open(out) as got, rasterio.open(reference) as want:
        labels = got.read(1)
        assert np.array_equal(labels, want.read(1))
    assert 3_000 < (labels == 2).sum() < 7_000 and (labels == 0).sum() > 3_000


def test_the_cut_part_inside_the_scene_still_counts_towards_the_vertex_bound(tmp_path: Path) -> None:
    from eotrust.eo.labels import read_vector
    from eotrust.limits import VectorLimits

    grid = Grid("EPSG:32633", tuple(SCENE)[:6], 100, 100)
    vector = _nation(tmp_path / "nation.gpkg", 300_000)  # some 1,500 vertices in the scene's extent
    geoms, values, _ = read_vector(vector, "class", within=grid, limits=VectorLimits(max_vertices=5_000))
    assert len(geoms) == 1 and values == [2] and geoms[0].is_valid
    assert 100 < int(np.asarray(geoms[0].exterior.coords).shape[0]) < 5_000
    with pytest.raises(InvalidInputError, match=r"holds [\d,]+ vertices in the scene or more; at most 500 are read"):
        read_vector(vector, "class", within=grid, limits=VectorLimits(max_vertices=500))


def test_the_vertices_decoded_are_bounded_before_a_geometry_is_built(tmp_path: Path) -> None:
    from eotrust.eo.labels import read_vector
    from eotrust.limits import VectorLimits

    grid = Grid("EPSG:32633", tuple(SCENE)[:6], 100, 100)
    vector = _nation(tmp_path / "nation.gpkg", 300_000)
    with pytest.raises(InvalidInputError, match="holds 300,000 vertices or more; at most 200,000 are decoded"):
        read_vector(vector, "class", within=grid, limits=VectorLimits(max_decoded_vertices=200_000))


def test_the_national_polygon_past_the_decoded_bound_is_refused_in_one_line(tmp_path: Path) -> None:
    """A child capped at 1 GiB of address space: the refusal is one line, well under the cap."""
    from bounded_child import bounded_child

    vector = _nation(tmp_path / "nation.gpkg")
    code, _, stderr, peak_kib = bounded_child(
        "from eotrust.eo.labels import read_vector\n"
        "from eotrust.eo.raster import Grid\n"
        "from eotrust.limits import VectorLimits\n"
        f"grid = Grid('EPSG:32633', {tuple(SCENE)[:6]!r}, 100, 100)\n"
        f"read_vector({str(vector)!r}, 'class', within=grid, limits=VectorLimits(max_decoded_vertices=1_000_000))\n",
        cap_bytes=3 << 30,
    )
    assert code == 1, stderr
    assert stderr.startswith("error:") and "at most 1,000,000 are decoded" in stderr, stderr
    assert peak_kib < 400_000
