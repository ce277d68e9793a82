"""Attack: a file named on the command line that never ends (`/dev/zero`, or one of many
gigabytes). Found by hand: `party verify /dev/zero` read until the kernel's OOM killer ended it
(24 GB resident on this machine, with every other process at risk), as did `label import
/dev/zero …` and `eo labels --synthetic --rules /dev/zero`. Now each reads no further than its
document's limit and refuses in one line. Each command runs under a 4 GB address-space cap so
that a regression fails here with MemoryError instead of exhausting the machine."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from eotrust.limits import DocumentTooLarge, read_document

DATA = Path(__file__).resolve().parents[1] / "data"
CUBE_LIKE = DATA / "slovenia-s2-ndvi" / "lulc.tif"


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def _refused(tmp_path: Path, args: list[str], says: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``eotrust ARGS`` under the cap; it fails with status 1 and ``says`` on its first line."""
    env = {**os.environ, "EOTRUST_HOME": str(tmp_path / "h"), "EOTRUST_AGENT": "0", "COLUMNS": "300"}
    done = subprocess.run(
        [sys.executable, "-m", "eotrust.cli.main", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_capped,
    )
    assert done.returncode == 1, done.stderr
    assert says in done.stderr.splitlines()[0], done.stderr
    return done


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["party", "verify", "/dev/zero"], "card file /dev/zero is larger than 65,536 bytes"),
        (
            ["label", "import", "/dev/zero", "--like", str(CUBE_LIKE), "--classes", "2 forest", "-o", "l.tif"],
            "labelled GeoJSON /dev/zero is larger than",
        ),
        (
            ["eo", "labels", "--like", str(CUBE_LIKE), "--synthetic", "--rules", "/dev/zero", "-o", "r.tif"],
            "rules file /dev/zero is larger than",
        ),
    ],
    ids=["party-verify", "label-import", "eo-labels-rules"],
)
def test_an_endless_file_is_refused_in_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    done = _refused(tmp_path, args, says)
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "l.tif").exists() and not (tmp_path / "r.tif").exists()


def test_read_document_reads_one_byte_past_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "doc"
    path.write_bytes(b"x" * 10)
    assert read_document(path, max_bytes=10, what="doc") == b"x" * 10
    with pytest.raises(DocumentTooLarge, match="doc .* is larger than 9 bytes"):
        read_document(path, max_bytes=9, what="doc")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["eo", "dataset", "/dev/zero", str(CUBE_LIKE)], "cube /dev/zero is not a regular file"),
        (["model", "register", "/dev/zero", "--as", "nobody"], "model /dev/zero is not a regular file"),
        (
            ["predict", "--model", "/dev/zero", "--raster", str(CUBE_LIKE), "-o", "p.tif"],
            "checkpoint /dev/zero is not a regular file",
        ),
    ],
    ids=["eo-dataset", "model-register", "predict-model"],
)
def test_a_device_where_a_file_goes_is_named_as_such(tmp_path: Path, args: list[str], says: str) -> None:
    """Found by hand: `eo dataset /dev/zero …` hashed /dev/zero until killed (its CID is taken
    before the raster is opened), `model register /dev/zero` ran out of memory sniffing for a
    ZIP, and a checkpoint on a device was said not to exist."""
    _refused(tmp_path, args, says)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["eo", "info", "{fifo}"], "raster {fifo} is not a regular file"),
        (["eo", "stack", "ndvi={fifo}", "-o", "c.tif"], "raster {fifo} is not a regular file"),
        (["model", "score", "{package}", "{fifo}", "-o", "s.tif"], "raster {fifo} is not a regular file"),
        (["cwl-runner", "{fifo}"], "CWL document {fifo} is not a regular file"),
    ],
    ids=["eo-info", "eo-stack", "model-score", "cwl-runner"],
)
def test_a_pipe_named_as_a_raster_or_document_is_refused_not_waited_on(
    tmp_path: Path, tiny_enet_zip: Path, args: list[str], says: str
) -> None:
    """Found by hand: GDAL (and cwltool) opened a FIFO and waited for a writer that never
    came: `eo info`, `eo stack`, `predict --raster`, `model score` and `cwl-runner` hung until
    killed. (`predict` opens its raster as `eo info` does.)"""
    fifo = tmp_path / "p.tif"
    os.mkfifo(fifo)
    args = [a.format(fifo=fifo, package=tiny_enet_zip) for a in args]
    done = _refused(tmp_path, args, says.format(fifo=fifo), timeout=60)
    assert "Traceback" not in done.stderr
