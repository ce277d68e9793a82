"""Building a command line from a service's template: ``{inputs.x}``, ``{outputs.y}``,
``{params.z}`` placeholders, and CWL-style bindings for imported CWL tools."""

from __future__ import annotations

import json
from typing import Any

from eotrust.workflow.service import PLACEHOLDER, Binding, ServiceSpec


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    if isinstance(value, (dict,)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _lookup(group: str, name: str, inputs: dict[str, Any], outputs: dict[str, str], params: dict[str, Any]) -> Any:
    return {"inputs": inputs, "outputs": outputs, "params": params}[group].get(name)


def render_command(
    service: ServiceSpec, inputs: dict[str, Any], outputs: dict[str, str], params: dict[str, Any]
) -> list[str]:
    """The argv of one run. A token that is exactly one list-valued placeholder becomes one
    argument per item; otherwise placeholders are replaced inside the token."""
    assert service.command is not None
    argv: list[str] = []
    for token in service.command:
        whole = PLACEHOLDER.fullmatch(token)
        if whole:
            value = _lookup(whole.group(1), whole.group(2), inputs, outputs, params)
            if isinstance(value, list):
                argv.extend(_text(v) for v in value)
                continue
            if value is None and whole.group(1) != "outputs":
                continue  # an absent optional input or empty optional parameter adds nothing
            argv.append(_text(value))
            continue
        argv.append(
            PLACEHOLDER.sub(lambda m: _list_text(_lookup(m.group(1), m.group(2), inputs, outputs, params)), token)
        )
    for b in service.bindings:
        argv.extend(_binding(b, inputs, params))
    return argv


def _list_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return _text(value)


def _binding(b: Binding, inputs: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """CWL v1.2 command-line binding rules for one argument or input."""
    if b.value is not None:
        value: Any = b.value
    else:
        assert b.source is not None
        group, _, name = b.source.partition(".")
        value = (inputs if group == "inputs" else params).get(name)
    if value is None or value is False:
        return []
    if value is True:
        return [b.prefix] if b.prefix else []
    if isinstance(value, list):
        if not value:
            return []
        items = [_text(v) for v in value]
        if b.item_separator is not None:
            items = [b.item_separator.join(items)]
    else:
        items = [_text(value)]
    if b.prefix is None:
        return items
    if b.separate:
        return [b.prefix, *items]
    return [b.prefix + items[0], *items[1:]]
