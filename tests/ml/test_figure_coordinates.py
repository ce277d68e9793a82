"""Class-map figures carry coordinates (the raster's CRS) and a scale bar."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.axes import Axes

from eotrust.ml import figures

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "eotrust" / "data" / "slovenia-s2-ndvi"


@pytest.mark.parametrize(("span", "length"), [(600, 100), (110_000, 20_000), (3, 0.5), (1000, 200)])
def test_scale_bar_length_is_round(span: float, length: float) -> None:
    assert figures._nice_length(span) == length


def test_figure_axes_are_in_the_rasters_crs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Axes, figures._Geo | None]] = []
    real = figures._georeference

    def spy(ax: Axes, geo: figures._Geo | None, **kw: bool) -> None:
        seen.append((ax, geo))
        real(ax, geo, **kw)

    monkeypatch.setattr(figures, "_georeference", spy)
    png = figures.class_map_figure(SAMPLE / "lulc.tif", tmp_path / "map.png", title="labels")
    assert png.read_bytes().startswith(b"\x89PNG")
    ((ax, geo),) = seen
    assert geo is not None
    assert geo.crs == "EPSG:32633" and geo.projected
    left, right, bottom, top = geo.extent
    assert ax.get_xlim() == pytest.approx((left, right)) and "EPSG:32633" in ax.get_xlabel()
    assert any(type(a).__name__ == "AnchoredSizeBar" for a in ax.artists)
