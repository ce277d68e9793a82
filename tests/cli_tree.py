"""The CLI's command tree, walked once for the tests that check every command (which go to the
resident agent, which options the hints may name)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def is_group(cmd: Any) -> bool:
    return hasattr(cmd, "list_commands")  # typer may bring its own click: no isinstance


def walk(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """``(path of names, command)`` for ``group`` and every command under it, groups included."""
    yield prefix, group
    ctx = type(group).context_class(group)
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if sub is None:
            continue
        if is_group(sub):
            yield from walk(sub, (*prefix, name))
        else:
            yield (*prefix, name), sub


def leaves(group: Any) -> Iterator[tuple[str, ...]]:
    """The path of every command that is not a group."""
    return (path for path, cmd in walk(group) if not is_group(cmd))
