"""Typed parameters: declaration, validation and parsing from command-line text."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ParamType = Literal["str", "int", "float", "bool", "json", "str[]", "int[]", "float[]"]
PARAM_TYPES: tuple[str, ...] = ("str", "int", "float", "bool", "json", "str[]", "int[]", "float[]")

_MISSING = object()


class ParamSpec(BaseModel):
    """A typed parameter with an optional default and constraints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ParamType = "str"
    default: Any = None
    has_default: bool = False
    description: str = ""
    min: float | None = None
    max: float | None = None
    choices: list[Any] | None = None
    pattern: str | None = None

    @property
    def required(self) -> bool:
        return not self.has_default


def _scalar(kind: str, value: Any) -> Any:
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__} {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {type(value).__name__} {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    raise ValueError(f"unknown type {kind!r}")


def check_value(spec: ParamSpec, value: Any) -> Any:
    """``value`` converted to the declared type, or ValueError saying what is wrong."""
    kind = spec.type
    if value is None and spec.has_default and spec.default is None:
        return None  # an optional value left empty
    if kind == "json":
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise ValueError(f"value {value!r} is not JSON-serialisable") from None
        out: Any = value
    elif kind.endswith("[]"):
        if not isinstance(value, list):
            raise ValueError(f"expected a list of {kind[:-2]}, got {type(value).__name__} {value!r}")
        out = [_scalar(kind[:-2], v) for v in value]
    else:
        out = _scalar(kind, value)
    items = out if isinstance(out, list) else [out]
    for item in items:
        if spec.min is not None and isinstance(item, (int, float)) and item < spec.min:
            raise ValueError(f"{item!r} is below the minimum {spec.min:g}")
        if spec.max is not None and isinstance(item, (int, float)) and item > spec.max:
            raise ValueError(f"{item!r} is above the maximum {spec.max:g}")
        if spec.pattern is not None and isinstance(item, str) and not re.fullmatch(spec.pattern, item):
            raise ValueError(f"{item!r} does not match the pattern {spec.pattern!r}")
    if spec.choices is not None and out not in spec.choices:
        raise ValueError(f"{out!r} is not one of {spec.choices!r}")
    return out


def parse_text(spec: ParamSpec, text: str) -> Any:
    """A value typed on the command line (``-p key=TEXT``), converted to the declared type."""
    kind = spec.type
    try:
        if kind == "str":
            value: Any = text
        elif kind == "int":
            value = int(text)
        elif kind == "float":
            value = float(text)
        elif kind == "bool":
            low = text.strip().lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            value = low in ("true", "1", "yes")
        elif kind == "json" or kind.endswith("[]"):
            from eotrust.errors import InvalidInputError
            from eotrust.limits import load_json

            try:
                value = load_json(text, what="the value")  # bounded: size and depth (issue 12)
            except InvalidInputError:
                raise ValueError from None
        else:  # pragma: no cover - guarded by ParamType
            raise ValueError
    except ValueError:
        raise ValueError(f"{text!r} is not a valid {kind}") from None
    return check_value(spec, value)


def parse_param_decl(raw: Any) -> ParamSpec:
    """A parameter declaration from a document: ``float`` or ``{type: float, default: 0.1, min: 0}``."""
    if isinstance(raw, str):
        if raw not in PARAM_TYPES:
            raise ValueError(f"unknown parameter type {raw!r} (use one of {', '.join(PARAM_TYPES)})")
        return ParamSpec(type=raw)
    if not isinstance(raw, dict):
        raise ValueError("a parameter is declared as a type name or a mapping with 'type' (and 'default')")
    unknown = set(raw) - {"type", "default", "description", "min", "max", "choices", "pattern"}
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))} in a parameter declaration")
    kind = raw.get("type", "str")
    if kind not in PARAM_TYPES:
        raise ValueError(f"unknown parameter type {kind!r} (use one of {', '.join(PARAM_TYPES)})")
    spec = ParamSpec(
        type=kind,
        description=str(raw.get("description", "")),
        min=raw.get("min"),
        max=raw.get("max"),
        choices=raw.get("choices"),
        pattern=raw.get("pattern"),
    )
    if "default" in raw:
        default = None if raw["default"] is None else check_value(spec, raw["default"])
        spec = spec.model_copy(update={"default": default, "has_default": True})
    return spec
