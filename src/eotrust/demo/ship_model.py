"""Step 8 of `eotrust demo`: the trained model ships as a signed package.

The submitter owns the task's results, so it packages the decrypted checkpoint with its own
key (:func:`eotrust.ml.onnx_export.package_checkpoint`; the lineage names the training
dataset's CID from the checkpoint and the run record's CID from the contract), registers it
(:class:`eotrust.ml.registry.Registry`), verifies it (:func:`eotrust.ml.package.verify_package`)
and scores the whole scene — the analysis-ready cube the workflow classified — with
onnxruntime only (:func:`eotrust.ml.scoring.scene.score_scene`) into a GeoTIFF next to the
other results. No second packaging or scoring path: the library's own functions, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eotrust.backends import Backends
    from eotrust.party import Party
    from eotrust.roles.submitter.collect import CollectedResult

#: results of the land-cover application this step needs: the checkpoint and the scene
MODEL, SCENE, RUN_RECORD = "model", "cube", "run-record"
#: file names the step writes into the results folder
PACKAGE_FILE, SCENE_MAP = "landcover-model.zip", "classmap-onnx.tif"


@dataclass(frozen=True)
class ShippedModel:
    """What step 8 made: the package (file and CID), its verification and the scene it scored."""

    cid: str
    package: Path
    size: int
    checks: list[str]
    lineage: dict[str, Any]
    scene_map: Path
    width: int
    height: int
    seconds: float
    tiles: int

    @property
    def pixels_per_second(self) -> float:
        return self.width * self.height / self.seconds if self.seconds > 0 else float("inf")


def ship_model(backends: Backends, submitter: Party, results: list[CollectedResult], out: Path) -> ShippedModel | None:
    """Package, register, verify and score; ``None`` when the application made no model (or no scene)."""
    from eotrust.ml.onnx_export import package_checkpoint
    from eotrust.ml.package import verify_package
    from eotrust.ml.scoring.scene import score_scene

    by_name = {r.name: r for r in results}
    if MODEL not in by_name or SCENE not in by_name:
        return None
    run = by_name[RUN_RECORD].plaintext_cid if RUN_RECORD in by_name else None
    package = package_checkpoint(
        by_name[MODEL].path,
        submitter.account,
        out / PACKAGE_FILE,
        run=run,
        description="land-cover classifier trained by `eotrust demo`",
    )
    registry = backends.registry
    entry = registry.register(package)
    report = verify_package(package, cid=entry.cid, owner=submitter.address)
    scene = score_scene(registry.scorer(entry.cid), by_name[SCENE].path, out / SCENE_MAP)
    return ShippedModel(
        cid=entry.cid,
        package=package,
        size=package.stat().st_size,
        checks=report.checks,
        lineage=dict(entry.lineage),
        scene_map=scene.classes,
        width=scene.width,
        height=scene.height,
        seconds=scene.seconds,
        tiles=scene.tiles,
    )
