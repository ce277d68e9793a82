"""Attack: a "GeoTIFF" or a "GeoJSON" another party hands over is something GDAL/OGR reads
differently — a VRT naming a file of this machine, or a URL.

Before (an audit), `eo stack`, `eo info`, `eo labels` and every other reader opened a raster
with whatever driver GDAL chose by content, and a label file with whatever OGR chose: a VRT
named ``scene.tif`` put another raster of this machine into the cube (values 4242), a WMS
description named ``.tif`` made a GetMap request, and an OGR VRT named ``labels.geojson`` read a
local CSV as the polygons (the API had been fixed for this; the EO readers had not). Now a
raster is opened as a GeoTIFF only, and a label file must be a GeoPackage, a Shapefile or
(Geo)JSON by its first bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from eotrust.errors import EotrustError, InvalidInputError, RasterError


def _secret(tmp_path: Path) -> Path:
    path = tmp_path / "someone-elses.tif"
    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "float32", "crs": "EPSG:32633"}
    with rasterio.open(path, "w", transform=from_origin(500000, 5000000, 10, 10), **profile) as ds:
        ds.write(np.full((1, 4, 4), 4242, np.float32))
    return path


def _vrt_raster(tmp_path: Path) -> Path:
    source = _secret(tmp_path)
    vrt = tmp_path / "scene.tif"
    vrt.write_text(
        '<VRTDataset rasterXSize="4" rasterYSize="4"><SRS>EPSG:32633</SRS>'
        "<GeoTransform>500000, 10, 0, 5000000, 0, -10</GeoTransform>"
        '<VRTRasterBand dataType="Float32" band="1"><SimpleSource>'
        f'<SourceFilename relativeToVRT="0">{source}</SourceFilename><SourceBand>1</SourceBand>'
        "</SimpleSource></VRTRasterBand></VRTDataset>"
    )
    return vrt


def test_a_vrt_posing_as_a_geotiff_is_not_read(tmp_path: Path) -> None:
    from eotrust.eo.raster import open_raster, raster_info

    vrt = _vrt_raster(tmp_path)
    with pytest.raises(RasterError) as caught, open_raster(vrt):
        pass
    assert "is not a readable raster" in caught.value.message and "\n" not in caught.value.message
    with pytest.raises(EotrustError):
        raster_info(vrt)


def test_an_ogr_vrt_posing_as_geojson_is_not_read(tmp_path: Path) -> None:
    from eotrust.eo.labels import read_vector

    table = tmp_path / "someone-elses.csv"
    table.write_text("x,y,code\n14.5,46.0,2\n14.6,46.1,2\n")
    vrt = tmp_path / "labels.geojson"
    vrt.write_text(
        '<OGRVRTDataSource><OGRVRTLayer name="someone-elses">'
        f"<SrcDataSource>{table}</SrcDataSource><GeometryType>wkbPoint</GeometryType>"
        '<LayerSRS>EPSG:4326</LayerSRS><GeometryField encoding="PointFromColumns" x="x" y="y"/>'
        "</OGRVRTLayer></OGRVRTDataSource>"
    )
    with pytest.raises(InvalidInputError, match="is not a GeoPackage, GeoJSON or Shapefile"):
        read_vector(vrt, "code")


def test_real_geojson_and_geotiffs_still_read(tmp_path: Path) -> None:
    from eotrust.eo.labels import read_vector
    from eotrust.eo.raster import open_raster

    with open_raster(_secret(tmp_path)) as ds:
        assert float(ds.read(1)[0, 0]) == 4242
    doc = tmp_path / "labels.geojson"
    doc.write_text(
        '{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:4326"}}, '
        '"features": [{"type": "Feature", "properties": {"code": 2}, '
        '"geometry": {"type": "Point", "coordinates": [14.5, 46.0]}}]}'
    )
    geoms, values, _ = read_vector(doc, "code")
    assert len(geoms) == 1 and list(values) == [2]


def _raster(path: Path, values: np.ndarray, dtype: str) -> Path:
    profile = {"driver": "GTiff", "width": values.shape[-1], "height": values.shape[-2], "count": 1, "dtype": dtype}
    with rasterio.open(path, "w", crs="EPSG:32633", transform=from_origin(500000, 5000000, 10, 10), **profile) as ds:
        ds.write(values.reshape(1, *values.shape[-2:]).astype(dtype))
    return path


def test_complex_pixels_and_labels_that_are_no_codes_are_one_line(tmp_path: Path) -> None:
    """Before (an audit): `eo info/stack/tile/dataset` on complex int16 pixels died with
    "TypeError: data type 'complex_int16' not understood"; a label raster holding an infinity
    with "OverflowError: cannot convert float infinity to integer"."""
    from eotrust.eo.labels import code_counts
    from eotrust.eo.raster import open_raster

    complex_pixels = _raster(tmp_path / "complex.tif", np.ones((4, 4)), "complex64")
    with pytest.raises(RasterError, match="complex pixel values"), open_raster(complex_pixels):
        pass
    labels = np.ones((4, 4))
    labels[0, 0] = np.inf
    with pytest.raises(RasterError, match="NaN or infinite values"):
        code_counts(_raster(tmp_path / "labels.tif", labels, "float32"))


def test_an_invalid_polygon_is_one_line(tmp_path: Path) -> None:
    """Before (an audit): an unclosed ring was shapely's GEOSException, a traceback."""
    from eotrust.eo.labels import read_vector

    doc = tmp_path / "labels.geojson"
    doc.write_text(
        '{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:4326"}}, '
        '"features": [{"type": "Feature", "properties": {"code": 2}, "geometry": {"type": "Polygon", '
        '"coordinates": [[[14.5, 46.0], [14.6, 46.0], [14.6, 46.1]]]}}]}'
    )
    with pytest.raises(InvalidInputError, match="not valid"):
        read_vector(doc, "code")


def test_a_tiling_that_fails_late_leaves_no_tiles_behind(tmp_path: Path) -> None:
    """Before (an audit): a corrupt last block stopped `eo tile` with one line, but the 36 tiles
    already written stayed, without their tiles.json (and 1,034 after a SIGTERM) — a folder
    of some tiles that a later step could take for the tiling."""
    from eotrust.eo.tiles import tile_raster

    source = tmp_path / "late.tif"
    profile = {"driver": "GTiff", "width": 512, "height": 512, "count": 1, "dtype": "float32", "crs": "EPSG:32633"}
    layout = {"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    with rasterio.open(source, "w", transform=from_origin(465000, 5081000, 10, 10), **profile, **layout) as ds:
        ds.write(np.random.default_rng(0).random((1, 512, 512)).astype("float32"))
    with rasterio.open(source) as ds:  # the last block's bytes become garbage
        offset = int(ds.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))
        size = int(ds.get_tag_item("BLOCK_SIZE_1_1", "TIFF", bidx=1))
    with open(source, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * size)
    out = tmp_path / "tiles"
    with pytest.raises(EotrustError):
        tile_raster(source, out, 64)
    assert not out.exists()
