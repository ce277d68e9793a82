"""A CWL document from someone else makes eotrust fetch nothing and read nothing outside its
folder, when it is packed (deploy, publish, import) and when a stored package runs on a
platform. cwltool (schema-salad) fetched every ``$schemas`` URL with no timeout, read
``file:`` schemas without bound (``/dev/zero``: gigabytes), and sent a HEAD to every
URL-valued ``class`` of a hint or a namespace: a request to any address the author chose, from
the server and again from each platform that ran the package (an audit; each test failed on
the old code)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from eotrust.settings import Settings, load_settings
from eotrust.store import open_store
from eotrust.workflow.cwl_package import pack_cwl, run_cwl_package
from eotrust.workflow.errors import WorkflowValidationError

TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [echo, fine]
inputs: []
outputs: {said: stdout}
stdout: said.txt
"""


@dataclass
class Listener:
    """An HTTP server on loopback that answers 404 to everything and notes each request."""

    url: str
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def listener() -> Iterator[Listener]:
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(f"{self.command} {self.path}")
            self.send_response(404)
            self.end_headers()

        do_HEAD = do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Listener(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()


def _doc(tmp_path: Path, extra: str) -> Path:
    folder = tmp_path / "tool"
    folder.mkdir()
    path = folder / "tool.cwl"
    path.write_text(TOOL + extra)
    return path


@pytest.mark.parametrize(
    "extra",
    [
        "$schemas: ['{url}/schema.rdf']\n",
        "$schemas: ['file:///dev/zero']\n",
        "$schemas: ['../outside.rdf']\n",
    ],
    ids=["http", "dev-zero", "outside-the-folder"],
)
def test_a_document_naming_schemas_is_refused_in_one_line(tmp_path: Path, listener: Listener, extra: str) -> None:
    (tmp_path / "outside.rdf").write_text("<a> <b> <c> .\n")
    with pytest.raises(WorkflowValidationError) as caught:
        pack_cwl(_doc(tmp_path, extra.format(url=listener.url)))
    assert "$schemas" in str(caught.value) and "\n" not in caught.value.problems[0].message
    assert listener.requests == []


@pytest.mark.parametrize(
    "extra",
    [
        "hints:\n  - class: '{url}/ext#Tuning'\n",
        "$namespaces: {{ex: '{url}/ns#'}}\nhints:\n  - class: ex:Tuning\n",
    ],
    ids=["url-class", "namespaced-class"],
)
def test_a_hint_of_a_foreign_class_is_packed_without_a_request(tmp_path: Path, listener: Listener, extra: str) -> None:
    packed = json.loads(pack_cwl(_doc(tmp_path, extra.format(url=listener.url))))
    assert packed["baseCommand"] == ["echo", "fine"]
    assert listener.requests == []


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(config_file=None, home=tmp_path / "home", sandbox="off")


def test_a_stored_package_runs_on_a_platform_without_a_request(
    tmp_path: Path, listener: Listener, settings: Settings
) -> None:
    """A package stored as bytes (never packed here) that names schemas and foreign classes:
    the platform runs it and asks nobody for anything; the schema at a host path is not read."""
    packed = json.loads(pack_cwl(_doc(tmp_path, "")))
    packed["$schemas"] = [f"{listener.url}/schema.rdf", "file:///dev/zero"]
    packed["$namespaces"] = {"ex": f"{listener.url}/ns#"}
    packed["hints"] = [{"class": f"{listener.url}/ext#Tuning"}, {"class": "ex:Other"}]
    store = open_store(settings)
    cid = store.put_bytes(json.dumps(packed).encode())
    result = run_cwl_package(settings, cid, {}, {}, store=store, outdir=tmp_path / "out")
    assert result.exit_code == 0, result.log[-2000:]
    assert (tmp_path / "out" / "said.txt").read_text() == "fine\n"
    assert listener.requests == []
