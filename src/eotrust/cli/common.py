"""What every CLI module shares: the Backends (and their Settings) from the root context, JSON
output, the console."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import rich.table
import typer
from rich.console import Console, JustifyMethod, OverflowMethod, RenderableType
from rich.errors import MarkupError
from rich.style import Style, StyleType
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import HighlighterType

    from eotrust.backends import Backends
    from eotrust.party import Party
    from eotrust.settings import Settings

#: Characters another party's text may hold that a terminal would act on instead of showing:
#: C0 controls but newline and tab (ESC starts escape sequences: retitling, clearing, writing
#: the clipboard), DEL, C1 controls (U+009B is a one-character CSI) and the bidirectional
#: overrides and isolates that reorder what is read.
_SHOWN_AS_ESCAPES = {
    **{c: f"\\x{c:02x}" for c in [*range(0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]},
    **{c: f"\\u{c:04x}" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]},
}


def shown(text: str) -> str:
    """``text`` with every character a terminal would act on written as its escape."""
    return text.translate(_SHOWN_AS_ESCAPES)


def echo_text(text: str, *, nl: bool = True) -> None:
    """Print text another party wrote (a step's or a platform's log) as it is to a file or a
    pipe, and with :func:`shown` escapes to a terminal, which would act on them."""
    typer.echo(shown(text) if sys.stdout.isatty() else text, nl=nl)


class SafeConsole(Console):
    """A console for text other parties wrote (titles, names, messages): every string it
    renders has its control characters shown as escapes (:func:`shown`), markup that does not
    parse is shown as written instead of raising, and no markup makes a hyperlink (eotrust's
    own output has none: one in a title would be a link the user did not see)."""

    def render_str(
        self,
        text: str,
        *,
        style: str | Style = "",
        justify: JustifyMethod | None = None,
        overflow: OverflowMethod | None = None,
        emoji: bool | None = None,
        markup: bool | None = None,
        highlight: bool | None = None,
        highlighter: HighlighterType | None = None,
    ) -> Text:
        text = shown(text)

        def render(markup: bool | None) -> Text:
            return super(SafeConsole, self).render_str(
                text,
                style=style,
                justify=justify,
                overflow=overflow,
                emoji=emoji,
                markup=markup,
                highlight=highlight,
                highlighter=highlighter,
            )

        try:
            rendered = render(markup)
        except MarkupError:
            return render(False)
        if any(self.get_style(span.style, default="").link for span in rendered.spans):
            return render(False)
        return rendered


class Table(rich.table.Table):
    """A rich table whose string cells are text, never markup (they hold what other parties
    wrote); give a ``rich.text.Text`` for a styled cell."""

    def add_row(
        self, *renderables: RenderableType | None, style: StyleType | None = None, end_section: bool = False
    ) -> None:
        super().add_row(
            *(Text(shown(r)) if isinstance(r, str) else r for r in renderables), style=style, end_section=end_section
        )


console = SafeConsole()
err_console = SafeConsole(stderr=True)

JsonOption = typer.Option(False, "--json", help="print machine-readable JSON")
AsOption = typer.Option(None, "--as", help="the party acting (default: the `party` setting, EOTRUST_PARTY)")


def backends_of(ctx: typer.Context) -> Backends:
    """The Backends built once by the root callback (each opened on first use)."""
    from eotrust.backends import Backends

    backends = ctx.find_root().obj
    assert isinstance(backends, Backends), "root callback did not build the Backends"
    return backends


def settings_of(ctx: typer.Context) -> Settings:
    """The Settings the root callback read."""
    return backends_of(ctx).settings


def acting_party(ctx: typer.Context, name: str | None) -> Party:
    """The eotrust Party a command acts as: ``--as NAME``, else the ``party`` setting."""
    from eotrust.errors import InvalidInputError

    backends = backends_of(ctx)
    name = name or backends.settings.party
    if not name:
        raise InvalidInputError("which party acts here?", hint="pass --as NAME or set EOTRUST_PARTY")
    return backends.load_party(name)


def to_jsonable(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    return value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(to_jsonable(value), indent=2, default=str))


NoSandboxOption = typer.Option(
    False, "--no-sandbox", help="DEVELOPMENT ONLY: run steps without the sandbox (they see keys, network, everything)"
)


def maybe_unsandboxed(settings: Settings, no_sandbox: bool) -> Settings:
    """``settings`` with the sandbox off when ``--no-sandbox`` is given, after a loud warning."""
    if not no_sandbox:
        return settings
    err_console.print(
        "[bold red]WARNING: --no-sandbox: workflow steps run as ordinary processes of this node. "
        "Other parties' code can read its keys, its store and the network. Development only; "
        "run records and `eotrust verify` will show these steps as UNSANDBOXED.[/]"
    )
    return settings.model_copy(update={"sandbox": False})


def checked_seed(seed: int, where: str = "--seed") -> int:
    """``seed`` when numpy's random generators take it (any whole number from 0; a negative
    one is a ValueError deep inside them); else one error line. Training seeds are bounded by
    the model definition (``TrainingConfig.seed``)."""
    from eotrust.errors import InvalidInputError

    if seed < 0:
        raise InvalidInputError(f"{where} {seed} is not a seed: a seed is a whole number, 0 or more")
    return seed


def utf8_text(value: str, what: str) -> str:
    """``value`` when it is UTF-8 text; an argument whose bytes are not (Python keeps each such
    byte as a lone surrogate, which SQLite cannot take) is one error line naming ``what``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        from eotrust.errors import InvalidInputError

        raise InvalidInputError(
            f"{what} {value.encode('utf-8', 'backslashreplace').decode()} is not UTF-8 text"
        ) from None
    return value
