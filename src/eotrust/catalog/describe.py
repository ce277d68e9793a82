"""Describe a raster file as a catalogue dataset: footprint in WGS84, time range from the band
dates, CRS, band names, size and CID — read from the file, so an owner types only a title."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from eotrust.catalog.entries import DatasetInfo
from eotrust.clock import utc_iso
from eotrust.errors import InvalidInputError, NotFoundError
from eotrust.limits import check_raster_layout


def _as_time(text: str) -> str | None:
    try:
        return utc_iso(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def describe_raster(
    path: Path,
    *,
    title: str | None = None,
    description: str = "",
    licence: str = "proprietary",
    keywords: list[str] | None = None,
) -> DatasetInfo:
    """A DatasetInfo for a GeoTIFF (or any raster rasterio opens)."""
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.warp import transform_bounds

    from eotrust.cid import cid_of_file

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no file {path}")
    try:
        with rasterio.open(path, driver="GTiff") as ds:
            # held to what a read may cost, as every raster another party hands over
            check_raster_layout(ds, path)
            crs = ds.crs.to_string() if ds.crs else None
            bbox = None
            if ds.crs:
                west, south, east, north = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
                bbox = (round(west, 7), round(south, 7), round(east, 7), round(north, 7))
            names = [d or f"band{i + 1}" for i, d in enumerate(ds.descriptions)]
            dates = [t for t in (_as_time(n) for n in ds.descriptions if n) if t]
            if not dates and ds.tags().get("dates"):
                dates = [t for t in (_as_time(n) for n in ds.tags()["dates"].split(",")) if t]
    except RasterioIOError as exc:
        raise InvalidInputError(f"{path} is not a raster rasterio can read: {exc}") from None
    return DatasetInfo(
        title=title or path.stem,
        cid=cid_of_file(path),
        size=path.stat().st_size,
        description=description,
        bbox=bbox,
        start=min(dates) if dates else None,
        end=max(dates) if dates else None,
        crs=crs,
        bands=names,
        licence=licence,
        keywords=keywords or [],
    )
