"""Attack: a document another party names by CID — a published workflow, a service in it, a
stored CWL package — that is gigabytes long. It was read whole into memory before anything
looked at it (and a node read a whole workflow object to sniff its first 20 KB). Now such a
document is read no further than its limit (:func:`eotrust.store.base.read_at_most`) and
refused in one line."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, cast

import pytest

from eotrust.errors import EotrustError, InvalidInputError
from eotrust.limits import JSON_LIMITS, YAML_LIMITS
from eotrust.store.base import read_at_most
from eotrust.store.local import LocalStore


class _Counting:
    """The store's stream, counting the bytes handed out."""

    def __init__(self, stream: BinaryIO, box: list[int]) -> None:
        self.stream, self.box = stream, box

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.stream.read(n)
        self.box[0] += len(data)
        return data

    def __enter__(self) -> _Counting:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()


class CountingStore(LocalStore):
    """A real local store that remembers how many bytes its readers took."""

    read_bytes = [0]

    def open(self, cid: str) -> BinaryIO:
        # a stand-in for the store's stream: its readers only read it and close it (`with`)
        return cast(BinaryIO, _Counting(super().open(cid), self.read_bytes))


def test_read_at_most_reads_no_further_than_its_limit(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "store")
    small = store.put_bytes(b"x" * 100)
    assert read_at_most(store, small, 100, "thing") == b"x" * 100
    big = store.put_bytes(bytes(8 * 2**20))
    store.read_bytes[0] = 0
    with pytest.raises(InvalidInputError, match=r"thing Qm\w+ is over 1000 bytes"):
        read_at_most(store, big, 1000, "thing")
    assert store.read_bytes[0] <= 1001


def test_a_huge_workflow_or_service_by_cid_is_one_problem(tmp_path: Path) -> None:
    from eotrust.workflow.spec import load_workflow, load_workflow_cid

    store = LocalStore(tmp_path / "store")
    huge = store.put_bytes(b"name: x\n" + b"#" * (YAML_LIMITS.max_bytes + 1))
    with pytest.raises(EotrustError, match="is over"):
        load_workflow_cid(huge, store)
    spec = tmp_path / "wf.yaml"
    spec.write_text(f"name: big-service\nservices:\n  s: {{cid: {huge}}}\nsteps:\n  a: {{service: s}}\n")
    with pytest.raises(EotrustError, match=f"service 's'.*{huge} is over"):
        load_workflow(spec, store=store)


def test_a_huge_stored_cwl_package_is_refused(tmp_path: Path) -> None:
    from eotrust.workflow.cwl_documents import package_bytes

    store = LocalStore(tmp_path / "store")
    huge = store.put_bytes(b'{"cwlVersion": "v1.2", "x": "' + b"a" * JSON_LIMITS.max_bytes + b'"}')
    with pytest.raises(InvalidInputError, match="CWL package .* is over"):
        package_bytes(store, huge)


def test_a_platforms_huge_run_record_is_not_read_whole(tmp_path: Path) -> None:
    """A platform writes the run record; anyone verifies it and the server shows it."""
    from eotrust.store.base import read_head
    from eotrust.workflow.record import MAX_RUN_RECORD_BYTES, read_run_record

    store = CountingStore(tmp_path / "store")
    huge = store.put_bytes(b'{"steps": [' + b" " * MAX_RUN_RECORD_BYTES + b"]}")
    store.read_bytes[0] = 0
    with pytest.raises(InvalidInputError, match="run record .* is over"):
        read_run_record(store, huge)
    assert store.read_bytes[0] <= MAX_RUN_RECORD_BYTES + 1
    assert read_head(store, huge, 11) == b'{"steps": ['  # a log view reads only its head


def test_run_logs_stream_a_huge_log_and_keep_characters_across_chunks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run logs` printed a step log by reading it whole (a platform's log may be gigabytes);
    it now prints as it reads, and a character split between two reads survives."""
    from eotrust.cli.workflow import _echo_object

    store = CountingStore(tmp_path / "store")
    text = "a" * ((1 << 20) - 1) + "é" + "z" * 10  # the é's two bytes straddle the first MiB
    cid = store.put_bytes(text.encode())
    _echo_object(store, cid)
    assert capsys.readouterr().out == text + "\n"
