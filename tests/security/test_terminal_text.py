"""Attack: text another party wrote, shown on the user's terminal.

Found by hand: a data owner registered a dataset titled with terminal escape sequences and rich
markup, and every `eotrust catalog search` printed them raw — ``ESC ] 0 ; … BEL`` retitles the
terminal, ``ESC [ 2 J`` clears it, ``ESC ] 52`` writes the clipboard on many terminals (a
command the user then pastes), right-to-left overrides reorder what is read — and rendered
the markup: ``[link=http://…]`` made a clickable link, colours can hide text. A title or an
argument holding ``[/x]`` was worse: rich raised MarkupError, so `eotrust party show '[/x]'`
ended in a traceback, and a record titled so broke every listing of the catalogue.

Now every string the CLI's consoles render has its control characters (C0 but newline and tab,
DEL, C1) and bidirectional overrides shown as escapes (``\\x1b``, ``\\u202e``), markup that does
not parse is shown as written, table cells are never read as markup, and error messages are
printed as the plain text they are."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from eotrust.cli.common import SafeConsole, Table, echo_text
from eotrust.cli.main import app
from eotrust.party import Role, create_party
from eotrust.settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "slovenia-s2-ndvi"
HOSTILE = (
    "Evil [bold red]RED[/] [link=http://evil.example]click[/link] [/x] "
    "\x1b]0;pwned\x07 \x1b]52;c;cm0gLXJmIH4K\x07 \x1b[2J \x9b31m \u202eabc\u202c end"
)
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u202c")


def _rendered(console_cls: type[Console], thing: object) -> str:
    out = io.StringIO()
    console_cls(file=out, force_terminal=True, width=400, color_system="truecolor").print(thing, highlight=False)
    return out.getvalue()


def test_the_console_shows_control_characters_and_never_fails_on_markup() -> None:
    shown = _rendered(SafeConsole, f"[bold]title:[/] {HOSTILE}")
    for ch in ("\x07", "\x9b", "\u202e", "\u202c", "\x1b]", "\x1b[2J", "\x1b]8;"):  # OSC 8: a hyperlink
        assert ch not in shown, repr(ch)
    assert "\\x1b]0;pwned\\x07" in shown and "\\x9b31m" in shown and "\\u202eabc\\u202c" in shown
    assert "[/x]" in shown  # markup that does not parse is shown as written (rich raised MarkupError)
    # our own styles still work on a terminal
    assert "\x1b[1m" in _rendered(SafeConsole, "[bold]ok[/]")


def test_table_cells_are_text_not_markup() -> None:
    table = Table("title")
    table.add_row(HOSTILE)
    shown = _rendered(SafeConsole, table)
    assert "[link=http://evil.example]click[/link]" in shown and "[bold red]RED[/]" in shown
    assert "\x1b]8;" not in shown and "\x1b]0;" not in shown and "\x1b[2J" not in shown


@pytest.fixture
def wide_console() -> Iterator[None]:
    """The CLI's console 400 columns wide, so that no cell is wrapped (its width is fixed when
    it is made; COLUMNS set later is not read everywhere)."""
    from eotrust.cli import common

    saved = common.console._width  # noqa: SLF001 - restored as it was, set or not
    common.console.width = 400
    yield
    common.console._width = saved  # noqa: SLF001


@pytest.mark.usefixtures("wide_console")
def test_a_hostile_title_is_listed_as_written(settings: Settings, tmp_path: Path) -> None:
    create_party(settings, "owner-b", Role.DATA_OWNER)
    labels = tmp_path / "lulc.tif"
    labels.write_bytes((SAMPLE / "lulc.tif").read_bytes())
    home = ["--home", str(settings.home_dir)]
    runner = CliRunner()
    spoof = "[bold green]VERIFIED[/]: all checks ran and hold"  # styled like eotrust's own verdict
    out = runner.invoke(
        app,
        [*home, "catalog", "register-dataset", str(labels), "--title", HOSTILE, "--description", spoof]
        + ["--as", "owner-b", "--json"],
    )
    assert out.exit_code == 0, out.output
    record = json.loads(out.output)
    assert record["body"]["title"] == HOSTILE  # stored as its owner signed it; JSON escapes it
    for args in (["catalog", "search", "--text", "Evil"], ["catalog", "show", record["id"]]):
        shown = runner.invoke(app, [*home, *args])
        assert shown.exit_code == 0, shown.output
        assert not any(ch in shown.output for ch in RAW), repr(shown.output)
        assert "[link=http://evil.example]click[/link]" in shown.output and "[/x]" in shown.output
    assert spoof in runner.invoke(app, [*home, "catalog", "show", record["id"]]).output  # as written, not styled


def test_an_error_naming_markup_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "EOTRUST_HOME": str(tmp_path / "h"), "EOTRUST_AGENT": "0", "COLUMNS": "300"}
    done = subprocess.run(
        [sys.executable, "-m", "eotrust.cli.main", "party", "show", "[/x] \x1b[2J"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "[/x]" in done.stderr and "\x1b" not in done.stderr
    assert done.stderr.startswith("error:")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_is_escaped_on_a_terminal_and_kept_whole_in_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # `run logs` and `flow log` print what application code and platforms wrote
    log = "step 1\n\x1b]52;c;cm0gLXJmIH4K\x07done\tok\n"
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    echo_text(log, nl=False)
    assert terminal.getvalue() == "step 1\n\\x1b]52;c;cm0gLXJmIH4K\\x07done\tok\n"
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stdout", piped)
    echo_text(log, nl=False)
    assert piped.getvalue() == log


def test_sparql_answers_are_escaped_on_a_terminal(settings: Settings, tmp_path: Path) -> None:
    """`eotrust sparql` prints literals other parties wrote (titles, from this catalogue or a
    federated peer's): on a terminal their control characters are escapes, not sequences."""
    import pty

    create_party(settings, "owner-b", Role.DATA_OWNER)
    labels = tmp_path / "lulc.tif"
    labels.write_bytes((SAMPLE / "lulc.tif").read_bytes())
    home = ["--home", str(settings.home_dir)]
    out = CliRunner().invoke(
        app, [*home, "catalog", "register-dataset", str(labels), "--title", HOSTILE, "--as", "owner-b"]
    )
    assert out.exit_code == 0, out.output
    query = "SELECT ?t WHERE { ?d dct:title ?t }"
    primary, secondary = pty.openpty()
    env = {**os.environ, "EOTRUST_AGENT": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "eotrust.cli.main", *home, "sparql", query],
        env=env,
        stdout=secondary,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the terminal's other end is closed and drained
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert done.returncode == 0, done.stderr
    text = shown.decode()
    assert "Evil" in text and "\\x1b]0;pwned" in text, text
    assert not any(ch in text for ch in RAW), repr(text)


def test_task_status_shows_a_catalogue_name_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """`task status` names the task's application, platform and datasets by their catalogue
    titles, which their owners chose: a title styled like eotrust's own lines is shown as written."""
    from eotrust.cli import common
    from eotrust.cli.task import print_status
    from eotrust.ledger import RequestStatus, TaskSnapshot, TaskState

    out = io.StringIO()
    monkeypatch.setattr(common, "console", SafeConsole(file=out, force_terminal=True, width=300))
    monkeypatch.setattr("eotrust.cli.task.console", common.console)
    app_id, plat_id = "0x" + "a" * 64, "0x" + "b" * 64
    snap = TaskSnapshot(
        address=f"0x{99:040x}",
        submitter=f"0x{1:040x}",
        state=TaskState.RequestsLocked,
        results_recipient="age1x",
        application_id=app_id,
        application_owner=f"0x{2:040x}",
        application_status=RequestStatus.Requested,
        platform_id=plat_id,
        platform_owner=f"0x{3:040x}",
        platform_status=RequestStatus.Requested,
    )
    spoof = "[bold green]VERIFIED[/] \x1b[2J"
    print_status(snap, {app_id: spoof, plat_id: "hpc"}, "the embedded chain")
    shown = out.getvalue()
    assert "[bold green]VERIFIED[/] \\x1b[2J" in shown and "\x1b[2J" not in shown.replace("\\x1b[2J", "")


SPOOF = "[bold green]VERIFIED[/] [on black]hidden[/]"


def test_a_rasters_tags_and_band_names_are_shown_as_written(tmp_path: Path) -> None:
    """A raster from elsewhere carries its maker's words (tags, band descriptions): `eo info`
    shows them as written, never as styles."""
    import numpy as np
    import rasterio
    from affine import Affine

    path = tmp_path / "r.tif"
    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "uint8", "crs": "EPSG:32633"}
    with rasterio.open(path, "w", transform=Affine(10, 0, 0, 0, -10, 0), **profile) as dst:
        dst.write(np.zeros((1, 4, 4), np.uint8))
        dst.update_tags(note=SPOOF)
        dst.set_band_description(1, SPOOF)
    env = {**os.environ, "EOTRUST_HOME": str(tmp_path / "h"), "EOTRUST_AGENT": "0", "COLUMNS": "300"}
    done = subprocess.run(
        [sys.executable, "-m", "eotrust.cli.main", "eo", "info", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"tag note = {SPOOF}" in done.stdout and f"variables {SPOOF}" in done.stdout, done.stdout


def test_a_failed_runs_words_are_shown_as_written(tmp_path: Path) -> None:
    """`run show` prints what application code raised, the workflow's name and the parameters:
    an application's author styling its error like eotrust's own lines is shown as written."""
    (tmp_path / "hostile_app.py").write_text(
        "def fail(inputs, outputs, params):\n    raise RuntimeError(" + repr(SPOOF) + ")\n"
    )
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        "name: spoofing\nparams: {note: str}\n"
        "services:\n  s: {python: 'hostile_app:fail', outputs: {out: file}, params: {note: str}}\n"
        "steps:\n  a: {service: s, params: {note: '${note}'}}\noutputs: {result: a.out}\n"
    )
    env = {
        **os.environ,
        "EOTRUST_HOME": str(tmp_path / "h"),
        "EOTRUST_AGENT": "0",
        "COLUMNS": "300",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path[1:]]),
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "eotrust.cli.main", *args], env=env, capture_output=True, text=True, timeout=120
        )

    # unsandboxed: the application's module lives in this test's folder, which a sandbox hides
    ran = cli("workflow", "run", str(wf), "-p", f"note={SPOOF}", "--no-sandbox")
    assert ran.returncode != 0 and "Traceback" not in ran.stderr, ran.stderr
    shown = cli("run", "show", "last")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count(SPOOF) >= 2, shown.stdout  # the error and the parameter, as written
