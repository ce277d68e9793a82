from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from eo_world import write_raster

from eotrust.eo.cube import open_cube
from eotrust.eo.labels import (
    ClassList,
    IndexRule,
    align_labels,
    check_classes,
    check_grid,
    classes_of,
    rasterize_labels,
    spectral_index,
    synthetic_labels,
)
from eotrust.eo.raster import raster_info
from eotrust.errors import InvalidInputError, RasterError

CLASSES = ClassList.parse("2 forest,3 grassland")


def _geojson(path: Path, features: list[tuple[list[tuple[float, float]], object]], crs: str | None) -> Path:
    doc: dict[str, object] = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"class": v},
                "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring + [ring[0]]]]},
            }
            for ring, v in features
        ],
    }
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc))
    return path


def test_class_list_from_the_labels_tag(slovenia: Path) -> None:
    cl = classes_of(slovenia / "lulc.tif")
    assert cl is not None and cl.codes == list(range(1, 11))
    assert cl.name_of(2) == "forest" and cl.code_of("Artificial Surface") == 8
    assert cl.lut()[[0, 2, 8]].tolist() == [-1, 1, 7]
    with pytest.raises(InvalidInputError):
        ClassList.parse("forest,2 water")


def test_rasterise_polygons_in_another_crs(tmp_path: Path, slovenia: Path) -> None:
    grid = raster_info(slovenia / "ndvi.tif").grid
    left, bottom, right, top = grid.bounds
    mid = (left + right) / 2
    # the same two halves, described in WGS 84
    from rasterio.warp import transform

    def lonlat(xs: list[float], ys: list[float]) -> list[tuple[float, float]]:
        lon, lat = transform(grid.crs, "EPSG:4326", xs, ys)
        return list(zip(lon, lat))

    west = lonlat([left - 50, mid, mid, left - 50], [bottom - 50, bottom - 50, top + 50, top + 50])
    east = lonlat([mid, right + 50, right + 50, mid], [bottom - 50, bottom - 50, top + 50, top + 50])
    gj = _geojson(tmp_path / "ref.geojson", [(west, "forest"), (east, 3)], "urn:ogc:def:crs:OGC:1.3:CRS84")
    counts = rasterize_labels(gj, grid, tmp_path / "labels.tif", field="class", classes=CLASSES, block=32)
    assert counts.get(2, 0) + counts.get(3, 0) == grid.width * grid.height
    with rasterio.open(tmp_path / "labels.tif") as ds:
        arr = ds.read(1)
        assert ds.crs.to_string() == grid.crs and classes_of(tmp_path / "labels.tif") == CLASSES
    assert (arr[:, :25] == 2).all() and (arr[:, 35:] == 3).all()


def test_polygons_with_classes_not_in_the_list_are_refused(tmp_path: Path, slovenia: Path) -> None:
    grid = raster_info(slovenia / "ndvi.tif").grid
    left, bottom, right, top = grid.bounds
    ring = [(left, bottom), (right, bottom), (right, top), (left, top)]
    gj = _geojson(tmp_path / "bad.geojson", [(ring, "forest"), (ring, "lava"), (ring, 9)], "EPSG:32633")
    with pytest.raises(InvalidInputError, match=r"\['9', 'lava'\] .* not in the class list"):
        rasterize_labels(gj, grid, tmp_path / "out.tif", field="class", classes=CLASSES)
    # a number that is no class code: 2.7 was burnt as class 2, silently (GDAL reads this field
    # as Real, true as 1.0: not a class of this list)
    odd = _geojson(tmp_path / "odd.geojson", [(ring, 2.7), (ring, True), (ring, 2)], "EPSG:32633")
    with pytest.raises(InvalidInputError, match=r"\['1\.0', '2\.7'\] .* not in the class list"):
        rasterize_labels(odd, grid, tmp_path / "out.tif", field="class", classes=CLASSES)
    with pytest.raises(InvalidInputError, match="no field 'kind'"):
        rasterize_labels(gj, grid, tmp_path / "out.tif", field="kind", classes=CLASSES)
    assert not (tmp_path / "out.tif").exists()


def test_hostile_polygons_are_one_clear_error_or_nothing_burned(tmp_path: Path, slovenia: Path) -> None:
    """Found by hand: polygons a data owner supplies as reference labels. Coordinates outside
    what the grid's projection can hold (WGS 84 at ±1e308) were a PROJ traceback; a geometry
    GDAL could not read (coordinates that are strings) an AttributeError traceback; and the
    error for a missing field listed no fields ("fields: none") when the file had some."""
    grid = raster_info(slovenia / "ndvi.tif").grid
    far = [(1e308, 1e308), (-1e308, 1e308), (-1e308, -1e308)]
    gj = _geojson(tmp_path / "far.geojson", [(far, "forest")], None)
    # its ring is not closed: cut to the scene's extent as it is decoded, it is refused as not
    # valid (read whole, or where it cannot be cut, PROJ cannot put it on the grid)
    with pytest.raises(
        InvalidInputError,
        match=r"far\.geojson holds a geometry that is not valid: .*closed|cannot put the polygons of .*far\.geojson",
    ):
        rasterize_labels(gj, grid, tmp_path / "out.tif", field="class", classes=CLASSES)
    left, bottom, right, top = grid.bounds
    ring = [[left, bottom], [right, bottom], [right, top], [left, top], [left, bottom]]
    features = [
        {"type": "Feature", "properties": {"class": 3}, "geometry": {"type": "Polygon", "coordinates": [[["a", "b"]]]}},
        {"type": "Feature", "properties": {"class": 3}, "geometry": None},  # an unlocated feature: valid GeoJSON
        {"type": "Feature", "properties": {"class": 2}, "geometry": {"type": "Polygon", "coordinates": [ring]}},
    ]
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:32633"}},
        "features": features,
    }
    broken = tmp_path / "broken.geojson"
    broken.write_text(json.dumps(doc))
    # read for the grid's extent (GDAL's spatial filter), a geometry GDAL cannot read is refused
    # in one line (read whole, it was left out)
    with pytest.raises(InvalidInputError, match=r"cannot read polygons from .*broken\.geojson: .*invalid 'y'"):
        rasterize_labels(broken, grid, tmp_path / "out.tif", field="class", classes=CLASSES)
    mixed = tmp_path / "mixed.geojson"
    mixed.write_text(json.dumps({**doc, "features": features[1:]}))
    counts = rasterize_labels(mixed, grid, tmp_path / "out.tif", field="class", classes=CLASSES)
    assert counts == {2: grid.width * grid.height}  # nothing to burn for the feature without a geometry
    with pytest.raises(InvalidInputError, match=r"no field 'kind' \(fields: class\)"):
        rasterize_labels(mixed, grid, tmp_path / "out2.tif", field="kind", classes=CLASSES)
    assert not (tmp_path / "out2.tif").exists()


def test_label_raster_with_unknown_codes_is_refused(tmp_path: Path) -> None:
    p = write_raster(tmp_path / "l.tif", np.array([[0, 2], [3, 7]], np.uint16), nodata=0)
    with pytest.raises(InvalidInputError, match=r"class code\(s\) \[7\]"):
        check_classes(p, CLASSES)


def test_mismatched_label_grid_is_refused(tmp_path: Path, slovenia: Path) -> None:
    grid = raster_info(slovenia / "ndvi.tif").grid
    other = write_raster(tmp_path / "l.tif", np.ones((50, 30), np.uint16), nodata=0)
    with pytest.raises(RasterError, match="on another grid"):
        check_grid(other, grid)


def test_align_labels_onto_a_grid(tmp_path: Path, slovenia: Path) -> None:
    grid = raster_info(slovenia / "ndvi.tif").grid
    counts = align_labels(slovenia / "lulc.tif", grid, tmp_path / "same.tif")
    with rasterio.open(slovenia / "lulc.tif") as a, rasterio.open(tmp_path / "same.tif") as b:
        assert np.array_equal(a.read(), b.read()) and b.tags()["classes"] == a.tags()["classes"]
    assert counts[2] == 4605


def test_spectral_indices() -> None:
    x = np.zeros((2, 3, 1, 1), np.float32)
    x[:, 0], x[:, 1], x[:, 2] = 0.1, 0.5, 0.2  # red, nir, green
    ndvi = spectral_index("ndvi", x, ["red", "nir", "green"])
    assert ndvi.ravel() == pytest.approx([0.4 / 0.6] * 2)
    assert spectral_index("ndwi", x, ["B04", "B08", "B03"]).ravel()[0] == pytest.approx(-0.3 / 0.7)
    with pytest.raises(InvalidInputError, match="needs a band"):
        spectral_index("ndbi", x, ["red", "nir", "green"])


def test_synthetic_labels_from_ndvi_rules(tmp_path: Path, slovenia: Path) -> None:
    from eotrust.eo.clouds import clean_cube
    from eotrust.eo.cube import Source, stack

    clean_cube(
        stack([Source(slovenia / "ndvi.tif", band="ndvi"), Source(slovenia / "cloud_mask.tif", band="cloud_mask")]),
        tmp_path / "clean.tif",
    )
    cube = open_cube(tmp_path / "clean.tif")
    counts = synthetic_labels(cube, tmp_path / "syn.tif")
    assert sum(counts.values()) == 6060 and counts.get(2, 0) > 0 and counts.get(3, 0) > 0
    with rasterio.open(tmp_path / "syn.tif") as s, rasterio.open(slovenia / "lulc.tif") as r:
        syn, ref = s.read(1), r.read(1)
    assert (syn == ref)[ref > 0].mean() > 0.6  # crude, but mostly right on the two big classes
    rules = [
        IndexRule(code=1, name="green", stat="median", min=0.5),
        IndexRule(code=9, name="other", stat="median", max=0.5),
    ]
    counts = synthetic_labels(cube, tmp_path / "two.tif", rules)
    assert set(counts) <= {1, 9} and sum(counts.values()) == 6060
    assert classes_of(tmp_path / "two.tif") == ClassList.parse("1 green,9 other")
    with pytest.raises(ValueError):
        IndexRule(code=1, name="nothing")


def test_rasterise_a_geopackage_in_web_mercator(tmp_path: Path, slovenia: Path) -> None:
    import pyogrio
    import shapely
    from rasterio.warp import transform_geom

    grid = raster_info(slovenia / "ndvi.tif").grid
    left, bottom, right, top = grid.bounds
    north = shapely.box(left - 100, (bottom + top) / 2, right + 100, top + 100)
    south = shapely.box(left - 100, bottom - 100, right + 100, (bottom + top) / 2)
    geoms = [
        shapely.geometry.shape(transform_geom(grid.crs, "EPSG:3857", shapely.geometry.mapping(g)))
        for g in (north, south)
    ]
    gpkg = tmp_path / "ref.gpkg"
    pyogrio.raw.write(
        gpkg,
        shapely.to_wkb(np.array(geoms)),
        [np.array([3, 2], dtype=np.int32)],
        ["code"],
        driver="GPKG",
        geometry_type="Polygon",
        crs="EPSG:3857",
    )
    counts = rasterize_labels(gpkg, grid, tmp_path / "l.tif", field="code", classes=CLASSES)
    with rasterio.open(tmp_path / "l.tif") as ds:
        arr = ds.read(1)
    assert counts[2] + counts[3] == 6060 and (arr[:45] == 3).all() and (arr[56:] == 2).all()


@pytest.mark.parametrize("all_touched", [False, True])
def test_polygons_cut_to_each_window_burn_the_pixels_the_whole_polygon_burns(
    tmp_path: Path, slovenia: Path, all_touched: bool
) -> None:
    """Each polygon is cut to the window (and a pixel around it) before it is burnt: a circle of
    200,000 vertices across windows of 16 pixels burns exactly what rasterising it whole burns
    (cut, it costs one window's share of its vertices: 500,000 vertices on 4096² took 21.7 s
    whole per window, 2.8 s cut)."""
    from rasterio.features import rasterize

    grid = raster_info(slovenia / "ndvi.tif").grid
    left, bottom, right, top = grid.bounds
    cx, cy, r = (left + right) / 2, (bottom + top) / 2, min(right - left, top - bottom) / 2.3
    t = np.linspace(0, 2 * np.pi, 200_000, endpoint=False)
    ring = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in t]
    gj = _geojson(tmp_path / "circle.geojson", [(ring, "forest")], "EPSG:32633")
    rasterize_labels(gj, grid, tmp_path / "out.tif", field="class", classes=CLASSES, block=16, all_touched=all_touched)
    import shapely

    whole = rasterize(
        [(shapely.Polygon(ring), 2)],
        out_shape=(grid.height, grid.width),
        transform=grid.affine,
        fill=0,
        all_touched=all_touched,
        dtype="uint16",
    )
    with rasterio.open(tmp_path / "out.tif") as out:
        np.testing.assert_array_equal(out.read(1), whole)
    assert (whole == 2).sum() > 1000
