"""Published workflows with open parameters, and parameter sweeps."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from one_cid import one_cid

from eotrust.errors import NotFoundError, WorkflowError
from eotrust.workflow import (
    describe_published,
    list_published,
    publish_workflow,
    run_published,
    run_sweep,
)
from eotrust.workflow.spec import load_workflow

if TYPE_CHECKING:
    from eotrust.settings import Settings
    from eotrust.store.base import Store

WF = """\
name: scorer
description: writes a metrics JSON
params:
  lr: {type: float, min: 0, description: learning rate}
  epochs: {type: int, default: 2}
  aoi: {type: "float[]", default: [0, 0, 1, 1]}
services:
  score:
    command: ["python3", "-c", "import json,sys; json.dump({'lr': float(sys.argv[1]), 'epochs': int(sys.argv[2]), 'score': float(sys.argv[1]) * int(sys.argv[2])}, open(sys.argv[3], 'w'))", "{params.lr}", "{params.epochs}", "{outputs.metrics}"]
    outputs: {metrics: file}
    params: {lr: float, epochs: int}
steps:
  s: {service: score, params: {lr: "${lr}", epochs: "${epochs}"}}
outputs: {metrics: s.metrics}
"""


def test_publish_describe_run(settings: Settings, store: Store) -> None:
    spec = load_workflow(WF)
    cid = publish_workflow(settings, spec, name="scorer-v1")
    [item] = list_published(settings)
    assert item.name == "scorer-v1" and item.cid == cid
    d = describe_published(settings, "scorer-v1")
    assert [p.name for p in d.open_params] == ["lr"]
    epochs = next(p for p in d.params if p.name == "epochs")
    assert epochs.type == "int" and epochs.default == 2 and not epochs.required
    assert d.outputs == ["metrics"] and d.steps == ["s"]
    res = run_published(settings, "scorer-v1", {}, {"lr": "0.5"})
    assert json.loads(store.get_bytes(one_cid(res.outputs["metrics"]))) == {"lr": 0.5, "epochs": 2, "score": 1.0}
    assert res.workflow_cid == cid
    with pytest.raises(WorkflowError, match="missing parameter 'lr'"):
        run_published(settings, "scorer-v1", {}, {})
    with pytest.raises(WorkflowError, match="below the minimum"):
        run_published(settings, "scorer-v1", {}, {"lr": "-1"})
    with pytest.raises(NotFoundError, match="no published workflow named 'nope'"):
        describe_published(settings, "nope")


def test_sweep_runs_every_combination_side_by_side(settings: Settings) -> None:
    result = run_sweep(settings, load_workflow(WF), {}, {"lr": "0.1,0.2", "epochs": "1,3"})
    assert result.swept == ["lr", "epochs"] and result.ok
    table = {(r.params["lr"], r.params["epochs"]): r.metrics["metrics.score"] for r in result.rows}
    assert table == pytest.approx({(0.1, 1): 0.1, (0.1, 3): 0.3, (0.2, 1): 0.2, (0.2, 3): 0.6})
    assert len({r.run_cid for r in result.rows}) == 4


def test_sweep_checks_every_value_first(settings: Settings) -> None:
    with pytest.raises(WorkflowError, match="'x' is not a valid float"):
        run_sweep(settings, load_workflow(WF), {}, {"lr": "0.1,x"})
