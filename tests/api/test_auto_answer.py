"""The server's dev auto-answer (``--dev-autoack``): it answers every request a local party
owes, and while nothing moves on the chain it reads no task (it used to read every open task's
status twice a second, forever)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flow_world import make_world

from eotrust.api.background import AutoAnswer
from eotrust.api.state import ServerState
from eotrust.ledger import TaskClient, TaskState
from eotrust.settings import load_settings


def test_it_answers_what_is_owed_then_reads_nothing_until_the_chain_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(home=tmp_path / "home")
    world = make_world(settings)
    first = world.request().address
    state = ServerState(settings)
    reads: list[str] = []
    task = state.task

    def counted(address: str) -> TaskClient:
        reads.append(address)
        return task(address)

    monkeypatch.setattr(state, "task", counted)
    loop = AutoAnswer(state)
    try:
        loop.tick()  # every party of this home is local: it answers all of the task's requests
        snap = world.task(first).status()
        assert snap.state is TaskState.RequestsLocked  # answered, waiting for its platform to start it
        assert not any(snap.owed_by(p.account.address) for p in world.parties.values())
        assert first in reads
        loop.tick()  # one more look: its own answers were new blocks
        reads.clear()
        for _ in range(3):
            loop.tick()
        assert reads == []  # no new block, task or party since: nothing to read
        second = world.request().address  # a new task: new blocks and a new catalogue record
        loop.tick()
        assert second in reads
        snap = world.task(second).status()
        assert not any(snap.owed_by(p.account.address) for p in world.parties.values())
    finally:
        state.close()
