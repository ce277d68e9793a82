"""Workflow documents: every mistake is reported, with the line it is on."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import pytest

from eotrust.workflow.errors import WorkflowValidationError
from eotrust.workflow.spec import load_workflow, store_workflow, workflow_cid

if TYPE_CHECKING:
    from eotrust.store.base import Store

GOOD = """\
name: good
inputs:
  text: file
params:
  suffix: {type: str, default: "!"}
  n: int
services:
  upper:
    python: wf_services:upper
    inputs: {src: file}
    outputs: {out: file}
    params: {suffix: {type: str, default: ""}}
  concat:
    python: wf_services:concat
    inputs: {parts: "file[]"}
    outputs: {out: file}
steps:
  a: {service: upper, in: {src: inputs.text}, params: {suffix: "${suffix}"}}
  b: {service: upper, in: {src: [a.out, inputs.text]}, scatter: src}
  c: {service: concat, in: {parts: b.out}}
outputs:
  result: c.out
"""


def problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(WorkflowValidationError) as info:
        load_workflow(text)
    return [(p.line, p.message) for p in info.value.problems]


def test_good_workflow_parses_in_dependency_order() -> None:
    spec = load_workflow(GOOD)
    assert spec.order == ["a", "b", "c"]
    assert list(spec.open_params()) == ["n"]
    assert spec.step_output_type("b", "out") == "file[]"


def test_invalid_yaml_names_the_line() -> None:
    [(line, msg)] = problems("name: x\nsteps:\n  a: {service: [unclosed\n  b: 1\n")
    assert msg.startswith("invalid YAML") and line == 4


def test_unknown_service_with_line() -> None:
    text = GOOD.replace("c: {service: concat", "c: {service: concatt")
    [(line, msg)] = problems(text)
    assert line == 20 and "unknown service 'concatt'" in msg and "concat" in msg


def test_type_mismatch_list_into_single_file() -> None:
    text = GOOD.replace("scatter: src}", "}").replace(
        "inputs: {src: file}\n    outputs: {out: file}\n    params: {suffix",
        "inputs: {src: file}\n    outputs: {out: file}\n    params: {suffix",
    )
    found = problems(text)
    assert any(line == 19 and "type mismatch" in msg and "wants file" in msg for line, msg in found), found


def test_scatter_over_single_file_is_reported() -> None:
    found = problems(
        GOOD.replace(
            "a: {service: upper, in: {src: inputs.text}", "a: {service: upper, in: {src: inputs.text}, scatter: src"
        )
    )
    assert any(line == 18 and "cannot scatter over input 'src'" in msg for line, msg in found), found


def test_cycle_is_reported() -> None:
    text = GOOD.replace("in: {src: inputs.text}, params", "in: {src: c.out}, params")
    found = problems(text)
    assert any("cycle" in msg and "a" in msg and "c" in msg for _, msg in found), found


def test_a_chain_of_thousands_of_steps_is_ordered_without_recursing() -> None:
    """Each step one level deeper: the old depth-first sort recursed once per step and raised
    RecursionError (a traceback from `workflow validate`) past Python's default limit (an
    audit; the node did not see it only because py-evm raises the limit on import)."""
    import sys

    n = 3000
    steps = "".join(f"  s{i}: {{service: pass, in: {{src: s{i + 1}.out}}}}\n" for i in range(n - 1))
    text = (
        "name: deep\ninputs: {text: file}\nservices:\n  pass:\n    command: [cp, '{inputs.src}', '{outputs.out}']\n"
        "    inputs: {src: file}\n    outputs: {out: file}\nsteps:\n"
        + steps
        + f"  s{n - 1}: {{service: pass, in: {{src: inputs.text}}}}\noutputs: {{out: s0.out}}\n"
    )
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default, whatever an earlier import set
    try:
        spec = load_workflow(text)
    finally:
        sys.setrecursionlimit(limit)
    assert spec.order == [f"s{i}" for i in reversed(range(n))]


def test_missing_input_and_unknown_parameter_and_param_type() -> None:
    text = GOOD.replace(
        'a: {service: upper, in: {src: inputs.text}, params: {suffix: "${suffix}"}}',
        "a: {service: upper, params: {suffix: 3, colour: red}}",
    )
    found = problems(text)
    msgs = " | ".join(m for _, m in found)
    assert all(line == 18 for line, _ in found), found
    assert "missing input 'src'" in msgs
    assert "unknown parameter 'colour'" in msgs
    assert "parameter 'suffix': expected a string" in msgs


def test_workflow_param_type_mismatch_and_unknown_ref() -> None:
    text = GOOD.replace('"${suffix}"', '"${n}"')
    [(line, msg)] = problems(text)
    assert line == 18 and "type mismatch" in msg and "'n' is int" in msg
    [(line, msg)] = problems(GOOD.replace('"${suffix}"', '"${nope}"'))
    assert "unknown workflow parameter 'nope'" in msg


def test_unknown_source_step_and_output() -> None:
    found = problems(GOOD.replace("parts: b.out", "parts: zz.out").replace("result: c.out", "result: c.nope"))
    msgs = [m for _, m in found]
    assert any("unknown step 'zz'" in m for m in msgs) and any("has no output 'nope'" in m for m in msgs)


def test_every_problem_is_listed_in_line_order() -> None:
    text = GOOD.replace("python: wf_services:concat", "python: not an entry").replace("n: int", "n: integer")
    found = problems(text)
    assert [line for line, _ in found] == sorted(cast(int, line) for line, _ in found)
    assert len(found) >= 2


def test_command_placeholder_must_be_declared() -> None:
    text = """\
name: cmd
services:
  cp: {command: "cp {inputs.src} {outputs.dst}", inputs: {src: file}, outputs: {out: file}}
steps:
  a: {service: cp}
"""
    found = problems(text)
    assert any(line == 3 and "{outputs.dst}" in msg for line, msg in found), found


def test_store_roundtrip_gives_same_spec_and_cid(store: Store) -> None:
    spec = load_workflow(GOOD)
    cid = store_workflow(store, spec)
    assert cid == workflow_cid(spec)
    again = load_workflow(cid, store=store)
    assert again == spec
    assert store_workflow(store, again) == cid
