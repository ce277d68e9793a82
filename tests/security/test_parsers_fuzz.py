"""Keep attacking (issue 12): Hypothesis fuzzes every parser that reads what a hostile party
sends — JSON documents and bodies, workflow YAML, CWL, model definitions, .npy bodies, GeoTIFF
headers — under a time ceiling (a deadline per example) and a memory ceiling (the peak of
Python allocations per example, by tracemalloc). Every input is either accepted or refused with
an EotrustError; nothing else escapes, nothing runs long, nothing grows."""

from __future__ import annotations

import io
import json
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from attack_counts import record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eotrust.errors import EotrustError

MEMORY_CEILING = 128 * 1024 * 1024
FUZZ = settings(
    max_examples=60,
    deadline=5000,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
COUNTS: dict[str, int] = {}


@contextmanager
def ceiling(kind: str) -> Iterator[None]:
    """Count one fuzzed document of ``kind`` and fail if parsing it peaks over the ceiling."""
    COUNTS[kind] = COUNTS.get(kind, 0) + 1
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
        assert peak < MEMORY_CEILING, f"{kind}: peak {peak} bytes"
    finally:
        tracemalloc.stop()


def refused_or_parsed(kind: str, parse: Callable[[], Any]) -> None:
    with ceiling(kind):
        try:
            parse()
        except EotrustError:
            pass


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    for kind, count in COUNTS.items():
        record(f"fuzzed {kind}", count)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)
brackets = st.text(alphabet='[]{}",:\\ 0a"', max_size=400)


@FUZZ
@given(value=json_values, depth=st.integers(0, 200))
def test_bounded_json_agrees_with_json_within_the_limits(value: Any, depth: int) -> None:
    from eotrust.limits import JsonLimits, ParseLimitError, json_depth, load_json

    text = "[" * depth + json.dumps(value) + "]" * depth
    limits = JsonLimits(max_depth=64)
    with ceiling("JSON documents"):
        if json_depth(text) <= 64:
            assert load_json(text, limits) == json.loads(text)
        else:
            with pytest.raises(ParseLimitError):
                load_json(text, limits)


@FUZZ
@given(text=brackets)
def test_bounded_json_never_lets_anything_else_escape(text: str) -> None:
    from eotrust.limits import load_json

    refused_or_parsed("JSON documents", lambda: load_json(text))


yaml_text = st.text(alphabet="abc:-&*[]{}!|>#'\"\n 01", max_size=300)


@FUZZ
@given(text=yaml_text)
def test_workflow_yaml(text: str) -> None:
    from eotrust.workflow.spec import parse_workflow

    refused_or_parsed("workflow YAML", lambda: parse_workflow(text, source="fuzz"))


@settings(
    max_examples=25,
    deadline=10000,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=yaml_text, head=st.sampled_from(["", "cwlVersion: v1.2\nclass: CommandLineTool\n"]))
def test_cwl(tmp_path_factory: pytest.TempPathFactory, body: str, head: str) -> None:
    from eotrust.workflow.cwl import import_cwl

    path = tmp_path_factory.mktemp("cwl") / "tool.cwl"
    path.write_text(head + body)
    refused_or_parsed("CWL documents", lambda: import_cwl(path))


@FUZZ
@given(
    data=st.dictionaries(st.sampled_from(["architecture", "params", "training", "name", "x"]), json_values, max_size=4)
)
def test_model_definitions(data: dict[str, Any]) -> None:
    from eotrust.ml.modeldef import parse_model_def

    refused_or_parsed("model definitions", lambda: parse_model_def(data, source="fuzz"))


def _npy(shape: tuple[int, ...], dtype: str) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros(shape, dtype=dtype), allow_pickle=False)
    return buf.getvalue()


@FUZZ
@given(
    base=st.sampled_from([_npy((3, 4, 4), "float32"), _npy((2,), "uint8"), _npy((1, 1), "<U3")]),
    flips=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 300),
)
def test_npy_bodies(base: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    from eotrust.api.predict import _parse_npy

    body = bytearray(base)
    for at, value in flips:
        if at < len(body):
            body[at] = value
    refused_or_parsed("npy bodies", lambda: _parse_npy(bytes(body[: max(cut, 1)] if cut < len(body) else body)))


@FUZZ
@given(doc=json_values)
def test_json_prediction_bodies(doc: Any) -> None:
    from eotrust.api.predict import _parse_json

    refused_or_parsed("JSON prediction bodies", lambda: _parse_json(json.dumps({"data": doc}).encode()))


@pytest.fixture(scope="module")
def geotiff() -> bytes:
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    with MemoryFile() as mem:
        with mem.open(
            driver="GTiff",
            width=8,
            height=8,
            count=3,
            dtype="uint16",
            crs="EPSG:32633",
            transform=from_origin(500000, 5100000, 10, 10),
        ) as dst:
            dst.write(np.ones((3, 8, 8), dtype="uint16"))
        assert rasterio  # the module is what opens the header below
        return bytes(mem.read())


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=8))
def test_geotiff_headers(geotiff: bytes, flips: list[tuple[int, int]]) -> None:
    """The header a server reads before scoring (size, bands, CRS) from a mutated GeoTIFF."""
    from eotrust.eo.raster import raster_info

    body = bytearray(geotiff)
    for at, value in flips:
        body[at % len(body)] = value

    def parse() -> None:
        path = Path(tmp_dir) / "fuzz.tif"
        path.write_bytes(bytes(body))
        raster_info(path)

    import tempfile

    with tempfile.TemporaryDirectory() as tmp_dir:
        refused_or_parsed("GeoTIFF headers", parse)


if (
    sys.platform != "linux"
):  # tracemalloc ceilings are only meaningful where we measured them  # environment-conditional
    pytestmark = pytest.mark.skip("linux only")  # environment-conditional
