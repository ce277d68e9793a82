"""`eotrust demo --federated`: one round of the federated demo on the whole patch, verified."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from eotrust.demo.federated import run_federated_demo


def test_the_federated_demo_runs_and_verifies(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    result = run_federated_demo(home=tmp_path / "demo", console=console, rounds=1)
    text = console.export_text()
    assert result.state == "Finished" and result.verified, text
    assert "round 0: aggregate recomputed bit for bit" in text and "VERIFIED" in text
    assert 0.5 < result.accuracy <= 1.0  # better than chance (4 classes) on the held-out band
