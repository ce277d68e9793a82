"""Every command or option that eotrust's own words name — an error hint, a message, a
docstring — exists in the CLI: a newcomer who pastes a hint never meets "No such command".

The source is read with ``ast``: every string (f-strings with their placeholders blanked)
that holds a backticked ```eotrust …``` command is resolved in the typer app, and every
``--option`` after it must be one of that command's options (or a global one). Options named
in a ``hint=`` without a command must exist on some command.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Any

import typer.main
from cli_tree import is_group, walk

from eotrust.cli.main import app

SRC = Path(__file__).resolve().parents[2] / "src" / "eotrust"
COMMAND = re.compile(r"`eotrust ([^`]*)`")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
HOLE = "\x00"


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        # ignore: an f-string's constant parts are str, but typeshed types ast.Constant.value as any literal
        return "".join(v.value if isinstance(v, ast.Constant) else HOLE for v in node.values)  # type: ignore[misc]
    return None


@functools.cache
def _strings() -> list[tuple[str, str, bool]]:
    """(where, text, is_a_hint) for every string in the source."""
    out: list[tuple[str, str, bool]] = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        hints: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "hint":
                hints |= {id(n) for n in ast.walk(node.value)}
        for node in ast.walk(tree):
            text = _text(node)
            if text is not None:
                out.append((f"{path.relative_to(SRC.parent)}:{getattr(node, 'lineno', '?')}", text, id(node) in hints))
    return out


@functools.cache
def _root() -> Any:  # the click tree of the whole CLI, built once (read-only here)
    root = typer.main.get_command(app)
    assert is_group(root)
    return root


def _context(root: Any) -> Any:
    return type(root).context_class(root)


def _options(cmd: Any) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}


def resolve(words: list[str]) -> tuple[Any, list[str], str]:
    """The command a hint names, its options, and the command path as named."""
    root = _root()
    ctx = _context(root)
    cmd: Any = root
    path: list[str] = []
    allowed = _options(root)
    rest = list(words)
    while is_group(cmd) and rest:
        word = rest[0]
        if word.startswith("-"):  # a global option before the command
            rest.pop(0)
            if word in ("--home", "--config") and rest:
                rest.pop(0)
            continue
        if HOLE in word or not re.fullmatch(r"[a-z][a-z0-9-]*", word):
            break
        sub = cmd.get_command(ctx, word)
        if sub is None:
            raise LookupError(f"no command `eotrust {' '.join([*path, word])}`")
        cmd, path = sub, [*path, rest.pop(0)]
        allowed |= _options(cmd)
    return cmd, sorted(allowed), " ".join(path)


def test_every_named_command_and_option_exists() -> None:
    problems: list[str] = []
    checked = 0
    for where, text, _ in _strings():
        for match in COMMAND.finditer(text):
            words = match.group(1).replace("|", " ").split()
            try:
                cmd, allowed, path = resolve(words)
            except LookupError as exc:
                problems.append(f"{where}: {exc}")
                continue
            checked += 1
            for word in words:
                opt = word.split("=", 1)[0]
                if OPTION.fullmatch(opt) and opt not in allowed:
                    problems.append(f"{where}: `eotrust {path}` has no option {opt}")
    assert checked > 10, "the walk found almost no commands: is the pattern still right?"
    assert not problems, "\n".join(problems)


def test_every_option_a_hint_names_exists_somewhere() -> None:
    root = _root()
    every = set().union(*(_options(c) for _, c in walk(root)))
    problems = []
    for where, text, is_hint in _strings():
        if not is_hint:
            continue
        outside = COMMAND.sub("", text)
        if re.search(r"\b(dask|ipfs|kubo|age|pip|apt-get|geth|anvil) ", outside):
            continue  # another program's options
        for opt in OPTION.findall(outside):
            if HOLE not in opt and opt not in every:
                problems.append(f"{where}: a hint names {opt}, which no eotrust command has")
    assert not problems, "\n".join(problems)


def test_the_walk_catches_a_wrong_hint() -> None:
    """The checker itself: a made-up command and option are caught."""
    try:
        resolve(["store", "cat", "Qm"])
    except LookupError as exc:
        assert "store cat" in str(exc)
    else:
        raise AssertionError("`eotrust store cat` should not resolve")
    _, allowed, path = resolve(["task", "create", "--as", "x"])
    assert path == "task create" and "--as" in allowed and "--dataset-owner" not in allowed
