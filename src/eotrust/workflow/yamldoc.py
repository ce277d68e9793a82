"""Reading YAML documents while keeping the line of every key, so validation can say where a
mistake is. ruamel.yaml's round-trip loader records positions; we convert to plain data and keep
a small locator beside it. A document is measured first (:func:`eotrust.limits.check_yaml`):
an alias bomb or a document nested too deep is refused before it is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from eotrust.workflow.errors import Problem, WorkflowValidationError

Path_ = tuple[Any, ...]


@dataclass
class YamlDoc:
    """Plain data of a YAML document plus the line (1-based) of each key path."""

    data: Any
    source: str
    _lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, *path: Any) -> int | None:
        """Line of the deepest prefix of ``path`` that is known."""
        p = tuple(path)
        while p:
            if p in self._lines:
                return self._lines[p]
            p = p[:-1]
        return self._lines.get((), None)

    def problem(self, message: str, *path: Any) -> Problem:
        return Problem(message, self.line(*path), self.source)


def _plain(node: Any, path: Path_, lines: dict[Path_, int]) -> Any:
    if isinstance(node, CommentedMap):
        if path not in lines:
            lines[path] = node.lc.line + 1
        out: dict[Any, Any] = {}
        for k, v in node.items():
            try:
                lines[path + (k,)] = node.lc.key(k)[0] + 1
            except (KeyError, TypeError, AttributeError):
                pass
            out[k] = _plain(v, path + (k,), lines)
        return out
    if isinstance(node, CommentedSeq):
        if path not in lines:
            lines[path] = node.lc.line + 1
        items = []
        for i, v in enumerate(node):
            try:
                lines[path + (i,)] = node.lc.item(i)[0] + 1
            except (KeyError, TypeError, AttributeError, IndexError):
                pass
            items.append(_plain(v, path + (i,), lines))
        return items
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def parse_yaml(text: str, source: str = "workflow") -> YamlDoc:
    """Parse YAML text; a syntax error becomes a WorkflowValidationError naming its line."""
    from eotrust.limits import ParseLimitError, check_yaml

    try:  # size, depth, aliases and expanded size, before anything is built (issue 12)
        check_yaml(text, what=f"the YAML document {source}")
    except ParseLimitError as exc:
        raise WorkflowValidationError([Problem(exc.message, None, source)], hint=exc.hint) from None
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = (exc.problem or exc.context or "invalid YAML").strip()
        raise WorkflowValidationError([Problem(f"invalid YAML: {what}", line, source)]) from None
    except YAMLError as exc:
        raise WorkflowValidationError([Problem(f"invalid YAML: {exc}", None, source)]) from None
    lines: dict[Path_, int] = {(): 1}
    data = _plain(raw, (), lines)
    return YamlDoc(data=data, source=source, _lines=lines)
