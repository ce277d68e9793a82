"""Scoring model packages with onnxruntime only: arrays (``batch``), whole scenes tile by tile
(``scene``) and streams of frames in sliding windows (``stream``)."""

from eotrust.ml.scoring.batch import Scorer
from eotrust.ml.scoring.scene import SceneResult, score_scene

__all__ = ["SceneResult", "Scorer", "score_scene"]
