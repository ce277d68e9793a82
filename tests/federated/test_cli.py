"""`eotrust federated split|create|status` and `node run --federated`, in process; bad input is
one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.errors import InvalidInputError, NotFoundError
from eotrust.federated.data import PixelSet
from eotrust.settings import Settings

runner = CliRunner()


def test_split_writes_each_owner_its_band_and_a_held_out_one(tmp_path: Path) -> None:
    out = tmp_path / "owners"
    result = runner.invoke(app, ["federated", "split", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    parts = json.loads(result.stdout)
    assert list(parts) == ["owner-0", "owner-1", "owner-2", "heldout"]
    rows = [tuple(p["rows"]) for p in parts.values()]
    assert rows == [(0, 25), (25, 50), (50, 75), (75, 101)]
    sizes = [len(PixelSet.load(Path(p["path"]))) for p in parts.values()]
    assert all(s > 1000 for s in sizes)
    a, b = PixelSet.load(out / "owner-0.npz"), PixelSet.load(out / "owner-1.npz")
    assert not np.array_equal(a.x[:10], b.x[:10])


def test_create_and_status(settings: Settings) -> None:
    home = ["--home", str(settings.home)]
    cards = {}
    for name, role in (("alice", "submitter"), ("hpc", "platform-owner"), ("a", "data-owner"), ("b", "data-owner")):
        r = runner.invoke(app, [*home, "party", "create", name, "--role", role])
        assert r.exit_code == 0, r.output
        cards[name] = json.loads(runner.invoke(app, [*home, "party", "show", name, "--json"]).stdout)
    args = [
        *home,
        "federated",
        "create",
        "--as",
        "alice",
        "-p",
        cards["a"]["address"],
        "-p",
        cards["b"]["address"],
        "--aggregator",
        cards["hpc"]["address"],
        "--aggregator-recipient",
        cards["hpc"]["age_recipient"],
        "--rounds",
        "2",
        "--dp-clip",
        "1",
        "--dp-noise",
        "1.1",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert 0 < created["epsilon"] < 20 and created["delta"] == 1e-5
    status = json.loads(runner.invoke(app, [*home, "federated", "status", created["address"], "--json"]).stdout)
    assert status["task"]["state"] == "Running" and status["task"]["participants"] == [
        cards["a"]["address"],
        cards["b"]["address"],
    ]
    assert status["rounds"] == []
    # bad input: one clear error each
    bad = runner.invoke(app, [*home, "federated", "create", *args[4:16], "--strategy", "fedsgd"])
    assert isinstance(bad.exception, InvalidInputError) and "fedsgd" in str(bad.exception)
    bad = runner.invoke(app, [*home, "federated", "create", *args[4:16], "--dp-clip", "1"])
    assert isinstance(bad.exception, InvalidInputError)
    bad = runner.invoke(app, [*home, "node", "run", "--federated", "participant", "--as", "a", "--once"])
    assert isinstance(bad.exception, InvalidInputError) and "own data" in str(bad.exception)
    bad = runner.invoke(
        app, [*home, "node", "run", "--federated", "participant", "--as", "a", "--data", str(settings.home / "x.npz")]
    )
    assert isinstance(bad.exception, NotFoundError)
    bad = runner.invoke(app, [*home, "node", "run", "--federated", "boss", "--as", "a"])
    assert isinstance(bad.exception, InvalidInputError)
    # the defences against a poisoning participant, from the command line: said when the task
    # opens, and a value out of bounds is one line before any contract is created
    opened = runner.invoke(
        app, [*home, "federated", "create", *args[4:16], "--max-samples", "500", "--max-update-norm", "0.5"]
    )
    assert opened.exit_code == 0, opened.output
    assert "fedavg (weights capped at 500 samples, updates clipped to norm 0.5)" in " ".join(opened.stdout.split())
    assert "note:" not in opened.stdout
    # a median of two participants is their mean: refused in one line, before any contract
    median = runner.invoke(app, [*home, "federated", "create", *args[4:16], "--strategy", "fedmedian"])
    assert isinstance(median.exception, InvalidInputError)
    assert "the median of 2 updates is their mean" in str(median.exception)
    plain = runner.invoke(app, [*home, "federated", "create", *args[4:16]])
    assert plain.exit_code == 0 and "fedavg (weights as declared)" in plain.stdout
    assert "--max-samples caps that weight" in " ".join(plain.stdout.split())
    capped = runner.invoke(app, [*home, "federated", "create", *args[4:16], "--max-samples", "500"])
    assert "fedavg (weights capped at 500 samples)" in capped.stdout and "note:" not in capped.stdout
    tasks_before = len(_federated_tasks(settings))
    assert tasks_before == 4
    for option, value, field in (
        ("--max-update-norm", "-1", "max_update_norm"),
        ("--trim-beta", "0.7", "trim_beta"),
        ("--dp-noise", "-1", "privacy.noise_multiplier"),
    ):
        extra = ["--dp-clip", "1"] if option == "--dp-noise" else []
        bad = runner.invoke(app, [*home, "federated", "create", *args[4:16], *extra, option, value])
        assert isinstance(bad.exception, InvalidInputError), bad.output
        assert str(bad.exception).startswith(f"the federated plan is not valid: field {field}: ")
    bad = runner.invoke(
        app, [*home, "federated", "create", *args[4:16], "--strategy", "fedmedian", "--max-samples", "9"]
    )
    assert isinstance(bad.exception, InvalidInputError)
    assert str(bad.exception) == (
        "the federated plan is not valid: max_samples caps a weight; fedmedian counts no samples (leave it out)"
    )
    # a deadline past the contract's uint32 of seconds: before (an audit), "the round deadline
    # must be 1 s or more, not 4294967296" (the bound it broke is the upper one)
    for seconds in ("4294967296", "99999999999"):
        bad = runner.invoke(app, [*home, "federated", "create", *args[4:16], "--round-seconds", seconds])
        assert isinstance(bad.exception, InvalidInputError), bad.output
        assert str(bad.exception) == f"the round deadline must be 1 to 4294967295 s (some 136 years), not {seconds}"
    assert len(_federated_tasks(settings)) == tasks_before  # no contract left behind


def _federated_tasks(settings: Settings) -> list[str]:
    from eotrust.ledger import Chain
    from eotrust.ledger.federated import FederatedFactoryClient

    return FederatedFactoryClient(Chain.from_settings(settings)).all_tasks()
