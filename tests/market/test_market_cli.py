"""`eotrust price`, `quote`, `usage` and `bill`: thin shells over eotrust.market, tables and
--json, one clear line for every refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from flow_world import World
from market_world import cli, open_paid

from eotrust.catalog.entries import Kind
from eotrust.errors import EotrustError, InvalidInputError, NotFoundError, PermissionDeniedError, StateError
from eotrust.settings import Settings


def test_owners_price_platforms_quote_and_everyone_reads_the_bill(market: World) -> None:
    # attacks first: another party's record, negative, fractional and huge amounts
    r = cli(market, "price", "platform", "test-platform", "--cpu-hour", "1gwei", "--as", "submitter")
    assert isinstance(r.exception, PermissionDeniedError), r.output
    for amount in ("-5", "0.5wei", "1e400", "lots"):
        r = cli(market, "price", "dataset", "labels", "--per-use", amount, "--as", "owner-b")
        assert isinstance(r.exception, InvalidInputError), (amount, r.output)
    r = cli(market, "price", "dataset", "labels", "--allow-platform", "x", "--as", "owner-b")
    assert isinstance(r.exception, InvalidInputError)

    algo = market.parties["algorithm-owner"].account.address
    r = cli(
        market,
        "price",
        "dataset",
        "labels",
        "--per-use",
        "12gwei",
        "--allow-app",
        f"tiny-stack@{algo}",
        "--as",
        "owner-b",
        "--json",
    )
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["body"]["price"] == {"per_use": str(12 * 10**9)}
    assert record["body"]["policy"]["applications"] == [{"cid": None, "name": "tiny-stack", "owner": algo}]
    assert market.catalog.find("labels", Kind.DATASET).id == record["id"]  # the owner's current terms

    address = market.request().address
    r = cli(market, "quote", address, "--as", "submitter")
    assert isinstance(r.exception, PermissionDeniedError)
    r = cli(market, "quote", address, "--as", "platform-owner", "--valid-for", "5")
    assert isinstance(r.exception, InvalidInputError)
    r = cli(market, "quote", address, "--as", "platform-owner", "--json")
    assert r.exit_code == 0, r.output
    quote = json.loads(r.stdout)
    lulc = next(i for i in quote["items"] if i["item"] == "dataset:lulc")
    assert lulc["cost"] == str(12 * 10**9)  # the new price, though the task names the record from before it
    assert quote["escrow"]["quote_cid"] == quote["cid"] and not quote["expired"]
    shown = cli(market, "quote", quote["cid"])
    assert (
        shown.exit_code == 0
        and "signed by the platform owner platform-owner" in shown.stdout
        and "valid until" in shown.stdout
    )
    r = cli(market, "quote", market.datasets["labels"].body.cid)
    assert isinstance(r.exception, NotFoundError)

    market.answer_all(address)
    assert market.node().recover() == {address: "Finished"}
    r = cli(market, "usage", address, "--as", "platform-owner", "--json")
    assert r.exit_code == 0, r.output
    used = json.loads(r.stdout)
    assert used["outcome"] == "finished" and used["settled_tx"] is None
    assert int(used["charged"]) + int(used["refund"]) == int(quote["total"])
    r = cli(market, "bill", address, "--json")
    assert r.exit_code == 0, r.output
    bill = json.loads(r.stdout)
    assert bill["usage_cid"] == used["cid"] and bill["quote_cid"] == quote["cid"] and bill["status"] == "quoted"
    assert [line["used"] for line in bill["lines"]] == [int(o["amount"]) for o in used["owed"]]
    table = cli(market, "bill", address)
    assert table.exit_code == 0 and "not funded" in table.stdout and "owner-b" in table.stdout


def test_a_paid_task_is_funded_withdrawn_from_and_billed_from_the_command_line(market: World) -> None:
    address = open_paid(market)
    r = cli(market, "fund", address, "--as", "submitter")
    assert isinstance(r.exception, NotFoundError), r.output  # nothing quoted yet
    r = cli(market, "quote", address, "--as", "platform-owner", "--json")
    assert r.exit_code == 0, r.output
    quote = json.loads(r.stdout)
    assert quote["escrow_signed"]["quote"]["quote_cid"] == quote["cid"]
    r = cli(market, "fund", address, "--as", "owner-a")
    assert isinstance(r.exception, PermissionDeniedError), r.output
    r = cli(market, "fund", address, "--as", "submitter", "--json")
    assert r.exit_code == 0, r.output
    funded = json.loads(r.stdout)
    assert funded["total"] == quote["total"] and market.state(address) == "RequestsLocked"
    r = cli(market, "withdraw", "--as", "owner-b")
    assert isinstance(r.exception, EotrustError), r.output  # owed nothing yet
    market.answer_all(address)
    assert market.node().recover() == {address: "Finished"}
    r = cli(market, "withdraw", "--as", "owner-b", "--json")
    assert r.exit_code == 0, r.output
    pulled = json.loads(r.stdout)
    assert int(pulled["amount"]) == 11 * 10**9  # the labels' price per use
    r = cli(market, "bill", address, "--json")
    bill = json.loads(r.stdout)
    assert bill["status"] == "settled" and bill["funding_transactions"] == [funded["tx"]]
    line = next(x for x in bill["lines"] if x["address"] == market.parties["owner-b"].account.address)
    assert line["paid"] == line["withdrawn"] == int(pulled["amount"]) and pulled["tx"] in line["transactions"]
    assert all(x["withdrawn"] == 0 for x in bill["lines"] if x is not line)
    table = cli(market, "bill", address)
    assert table.exit_code == 0 and "settled" in table.stdout and "owner-b" in table.stdout


def test_a_refusal_is_one_line_and_a_non_zero_exit(settings: Settings) -> None:
    # in this process (the same refusal through the agent: tests/cli/test_resident_agent.py)
    env = {**os.environ, "EOTRUST_CONFIG": "", "PYTHONPATH": os.pathsep.join(sys.path), "EOTRUST_AGENT": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "eotrust.cli.main", "--home", str(settings.home), "bill", "0x" + "1" * 40],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: no quote for task 0x1111"), done.stderr


def test_a_paid_task_nobody_finished_is_expired_from_the_command_line(market: World) -> None:
    from chain_clock import mine_at

    address = open_paid(market)
    r = cli(market, "quote", address, "--as", "platform-owner", "--run-for", "10")
    assert isinstance(r.exception, InvalidInputError), r.output
    r = cli(market, "quote", address, "--as", "platform-owner", "--valid-for", "60", "--run-for", "60", "--json")
    assert r.exit_code == 0, r.output
    quote = json.loads(r.stdout)
    assert quote["escrow"]["deadline"] == quote["escrow"]["valid_until"] + 60
    assert cli(market, "fund", address, "--as", "submitter").exit_code == 0
    r = cli(market, "expire", address, "--as", "submitter")
    assert isinstance(r.exception, StateError) and "deadline" in str(r.exception), r.output  # not yet
    r = cli(market, "expire", "0x" + "2" * 40, "--as", "submitter")
    assert isinstance(r.exception, EotrustError), r.output  # no task there
    from eotrust.ledger.escrow import EscrowClient

    with pytest.raises(NotFoundError, match="no task at"):  # was a decoding traceback
        EscrowClient.for_task(market.chain, "0x" + "2" * 40)
    mine_at(market.chain, quote["escrow"]["deadline"] + 1)
    r = cli(market, "expire", address, "--as", "owner-a", "--json")  # anyone may; the money is the submitter's
    assert r.exit_code == 0, r.output
    expired = json.loads(r.stdout)
    assert expired["state"] == "Expired" and expired["refund"] == quote["total"]
    assert market.state(address) == "Expired"
    r = cli(market, "withdraw", "--as", "submitter", "--json")
    assert r.exit_code == 0 and int(json.loads(r.stdout)["amount"]) >= int(quote["total"]), r.output
    r = cli(market, "bill", address, "--json")
    assert json.loads(r.stdout)["status"] == "expired"  # before: "refunded", as for a nacked task
