"""The engine on the local executor: results, caching, forcing, isolation, logs, parallelism."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from one_cid import one_cid

from eotrust.errors import NotFoundError, WorkflowError
from eotrust.workflow import run_workflow
from eotrust.workflow.engine import RunResult
from eotrust.workflow.executors.local import LocalExecutor
from eotrust.workflow.spec import load_workflow

if TYPE_CHECKING:
    from eotrust.settings import Settings
    from eotrust.store.base import Store

WF = """\
name: chain
inputs: {text: file}
params:
  suffix: {type: str, default: "!"}
  tail: {type: str, default: "?"}
services:
  upper:
    python: wf_services:upper
    inputs: {src: file}
    outputs: {out: file}
    params: {suffix: {type: str, default: ""}}
  copy:
    command: "cp {inputs.src} {outputs.out}"
    inputs: {src: file}
    outputs: {out: file}
  concat:
    python: wf_services:concat
    inputs: {parts: "file[]"}
    outputs: {out: file}
    params: {sep: {type: str, default: "|"}}
steps:
  a: {service: upper, in: {src: inputs.text}, params: {suffix: "${suffix}"}}
  b: {service: copy, in: {src: a.out}}
  side: {service: upper, in: {src: inputs.text}, params: {suffix: "${tail}"}}
  c: {service: upper, in: {src: [b.out, side.out]}, scatter: src}
  d: {service: concat, in: {parts: c.out}}
outputs:
  result: d.out
  pieces: c.out
"""


def hits(res: RunResult) -> dict[str, bool]:
    return {s.label: s.cache_hit for s in res.steps}


def test_run_then_cached_then_changed_param_reruns_exactly_downstream(settings: Settings, store: Store) -> None:
    spec = load_workflow(WF)
    text = store.put_bytes(b"hi")
    first = run_workflow(settings, spec, {"text": text}, {})
    assert store.get_bytes(one_cid(first.outputs["result"])) == b"HI!|HI?"
    assert len(first.outputs["pieces"]) == 2
    assert not any(hits(first).values())
    assert all(s.exit_status == 0 and s.attempts == 1 for s in first.steps)

    again = run_workflow(settings, spec, {"text": text}, {})
    assert all(hits(again).values()) and again.outputs == first.outputs

    changed = run_workflow(settings, spec, {"text": text}, {"tail": "#"})
    assert hits(changed) == {"a": True, "b": True, "side": False, "c[0]": True, "c[1]": False, "d": False}
    assert store.get_bytes(one_cid(changed.outputs["result"])) == b"HI!|HI#"

    other_input = run_workflow(settings, spec, {"text": store.put_bytes(b"yo")}, {})
    assert not any(hits(other_input).values())


def test_without_the_cache_nothing_is_reused_or_recorded(settings: Settings, store: Store) -> None:
    """A platform node runs without the step cache (it deletes a task's intermediates)."""
    spec = load_workflow(WF)
    text = store.put_bytes(b"hi")
    first = run_workflow(settings, spec, {"text": text}, {}, cache=False)
    again = run_workflow(settings, spec, {"text": text}, {}, cache=False)
    assert not any(hits(first).values()) and not any(hits(again).values())
    assert again.outputs == first.outputs
    cached = run_workflow(settings, spec, {"text": text}, {})
    assert not any(hits(cached).values())  # the runs without the cache recorded nothing
    with_cache = run_workflow(settings, spec, {"text": text}, {})
    assert all(hits(with_cache).values())


def test_force_reruns_only_that_step(settings: Settings, store: Store) -> None:
    spec = load_workflow(WF)
    text = store.put_bytes(b"hi")
    run_workflow(settings, spec, {"text": text}, {})
    forced = run_workflow(settings, spec, {"text": text}, {}, force={"b"})
    assert [label for label, hit in hits(forced).items() if not hit] == ["b"]
    with pytest.raises(WorkflowError, match="unknown step 'zz'"):
        run_workflow(settings, spec, {"text": text}, {}, force={"zz"})


def test_step_sees_only_its_inputs_and_tmp_is_removed(settings: Settings, store: Store) -> None:
    spec = load_workflow("""\
name: iso
inputs: {a: file, b: file}
services:
  where: {python: wf_services:where, inputs: {src: file}, outputs: {out: file}}
steps:
  w: {service: where, in: {src: inputs.a}}
outputs: {seen: w.out}
""")
    res = run_workflow(settings, spec, {"a": store.put_bytes(b"1"), "b": store.put_bytes(b"2")}, {})
    seen = store.get_bytes(one_cid(res.outputs["seen"])).decode().splitlines()
    assert [s for s in seen if not s.startswith(".")] == ["in/src"]
    assert list(settings.path("workflow", "tmp").iterdir()) == []


def test_stdout_kept_per_step_and_record_stored(settings: Settings, store: Store) -> None:
    spec = load_workflow(WF)
    res = run_workflow(settings, spec, {"text": store.put_bytes(b"hey")}, {})
    a = next(s for s in res.steps if s.step == "a")
    assert store.get_bytes(one_cid(a.stdout_cid)).decode().strip() == "upper: 3 chars"
    from eotrust.workflow.record import RunRecord

    rec = RunRecord.model_validate_json(store.get_bytes(res.run_cid))
    assert rec.status == "succeeded" and rec.workflow_cid == res.workflow_cid and len(rec.steps) == 6
    assert {s.step for s in rec.steps} == {"a", "b", "side", "c", "d"}


def test_missing_and_bad_params_and_inputs(settings: Settings, store: Store) -> None:
    spec = load_workflow(WF.replace('tail: {type: str, default: "?"}', "tail: str"))
    text = store.put_bytes(b"x")
    with pytest.raises(WorkflowError, match="missing parameter 'tail'"):
        run_workflow(settings, spec, {"text": text}, {})
    with pytest.raises(WorkflowError, match="unknown parameter 'nope'"):
        run_workflow(settings, spec, {"text": text}, {"tail": "x", "nope": 1})
    with pytest.raises(WorkflowError, match="missing input 'text'"):
        run_workflow(settings, spec, {}, {"tail": "x"})
    with pytest.raises(NotFoundError, match="not in the store"):
        run_workflow(settings, spec, {"text": "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaY"}, {"tail": "x"})


def test_cpu_declarations_limit_parallelism(settings: Settings, store: Store) -> None:
    wf = """\
name: par
params: {seconds: {type: float, default: 0.4}}
services:
  sleepy: {python: wf_services:sleepy, outputs: {out: file}, params: {seconds: float}, resources: {cpus: CPUS}}
steps:
  s1: {service: sleepy, params: {seconds: "${seconds}"}}
  s2: {service: sleepy, params: {seconds: "${seconds}"}}
"""

    def overlap(cpus: int) -> bool:
        ex = LocalExecutor(store, settings.path("workflow", "tmp"), cpus=2)
        try:
            res: RunResult = run_workflow(
                settings, load_workflow(wf.replace("CPUS", str(cpus))), {}, {"seconds": 0.4 + cpus / 1000}, executor=ex
            )
        finally:
            ex.close()
        s1, s2 = sorted(res.steps, key=lambda s: s.started)
        return s2.started < s1.ended

    assert overlap(1)  # both fit on 2 CPUs: they run at the same time
    assert not overlap(2)  # each needs both CPUs: the second waits for the first


def test_step_needing_more_gpus_than_here_is_refused_before_running(settings: Settings, store: Store) -> None:
    spec = load_workflow("""\
name: gpu
services:
  big: {python: wf_services:noop, outputs: {out: file}, resources: {gpus: 1}}
steps:
  b: {service: big}
""")
    t = time.time()
    with pytest.raises(WorkflowError, match="needs 1 GPU"):
        run_workflow(settings, spec, {}, {})
    assert time.time() - t < 5


def test_memory_declarations_limit_parallelism(settings: Settings, store: Store) -> None:
    wf = """\
name: mem
services:
  sleepy: {python: wf_services:sleepy, outputs: {out: file}, params: {seconds: float}, resources: {cpus: 0.5, memory_mb: 600}}
steps:
  s1: {service: sleepy, params: {seconds: 0.4}}
  s2: {service: sleepy, params: {seconds: 0.401}}
"""
    ex = LocalExecutor(store, settings.path("workflow", "tmp"), cpus=2, memory_mb=1000)
    try:
        res = run_workflow(settings, load_workflow(wf), {}, {}, executor=ex)
    finally:
        ex.close()
    s1, s2 = sorted(res.steps, key=lambda s: s.started)
    assert s2.started >= s1.ended  # 2 x 600 MB do not fit in 1000 MB: one after the other


def test_scatter_over_an_empty_list(settings: Settings, store: Store) -> None:
    spec = load_workflow("""\
name: empty
inputs: {parts: "file[]"}
services:
  upper: {python: wf_services:upper, inputs: {src: file}, outputs: {out: file}}
  concat: {python: wf_services:concat, inputs: {parts: "file[]"}, outputs: {out: file}}
steps:
  u: {service: upper, in: {src: inputs.parts}, scatter: src}
  c: {service: concat, in: {parts: u.out}}
outputs: {all: c.out, each: u.out}
""")
    res = run_workflow(settings, spec, {"parts": []}, {})
    assert res.outputs["each"] == [] and store.get_bytes(one_cid(res.outputs["all"])) == b""


def test_step_needing_more_disk_than_free_is_refused(settings: Settings) -> None:
    spec = load_workflow("""\
name: disk
services:
  big: {python: wf_services:noop, outputs: {out: file}, resources: {disk_mb: 999999999}}
steps:
  b: {service: big}
""")
    with pytest.raises(WorkflowError, match="needs 999999999 MB of disk"):
        run_workflow(settings, spec, {}, {})
