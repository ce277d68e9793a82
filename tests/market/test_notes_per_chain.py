"""The market's notes in a home (quotes, usage records, refusals) are kept per chain: a dev
chain started afresh gives its tasks the previous chain's addresses, and what was noted for
the previous chain's task is never offered, funded or billed for this chain's; a usage record
and a quote shown by its CID are checked against this chain's task record."""

from __future__ import annotations

import json
import shutil

import pytest
from dev_chain import restart_world_chain
from flow_world import World
from market_world import cli, open_paid

from eotrust.errors import NotFoundError
from eotrust.ledger.escrow import EscrowClient
from eotrust.market.bill import make_bill
from eotrust.market.payments import payments_of
from eotrust.market.quote import quote_cids
from eotrust.market.service import fund_task, quote_task
from eotrust.market.usage import latest_usage


def test_a_previous_chains_quote_and_usage_are_not_funded_or_billed_for_a_fresh_chains_task(
    market: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, quotes and usage records were noted under the task's address alone: on a fresh
    dev chain the submitter funded the previous chain's task's quote (unexpired, its escrow
    terms signed for the same chain id and escrow address) for a task the platform never
    quoted, and its bill showed the previous task's usage record."""
    old = open_paid(market)
    r = cli(market, "quote", old, "--as", "platform-owner", "--json")
    assert r.exit_code == 0, r.output
    stale = json.loads(r.stdout)["cid"]
    r = cli(market, "usage", old, "--as", "platform-owner", "--json")  # never ran: its failure terms
    assert r.exit_code == 0, r.output
    stale_usage = json.loads(r.stdout)["cid"]

    fresh = restart_world_chain(market, monkeypatch)
    address = open_paid(fresh)
    assert address == old and fresh.chain.genesis_hash != market.chain.genesis_hash

    r = cli(fresh, "fund", address, "--as", "submitter", "--json")
    assert isinstance(r.exception, NotFoundError), r.output  # before: funded with the stale quote
    assert f"no quote for task {address}" in str(r.exception)
    r = cli(fresh, "bill", address, "--json")
    assert isinstance(r.exception, NotFoundError), r.output

    # quoted on this chain: that quote is funded and billed, with no usage yet
    r = cli(fresh, "quote", address, "--as", "platform-owner", "--json")
    assert r.exit_code == 0, r.output
    quoted = json.loads(r.stdout)["cid"]
    assert quoted != stale
    r = cli(fresh, "bill", address, "--json")
    assert r.exit_code == 0, r.output
    bill = json.loads(r.stdout)
    assert (bill["quote_cid"], bill["usage_cid"], bill["status"]) == (quoted, None, "quoted")
    assert stale_usage != bill["usage_cid"]
    r = cli(fresh, "fund", address, "--as", "submitter", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["quote"] == quoted


def test_notes_of_the_earlier_layout_are_taken_over_only_where_this_chains_escrow_names_them(
    market: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A home upgraded from the layout keyed by the task's address alone: the quote this
    chain's escrow was funded with and the usage record it was settled with are this chain's
    (the bill still shows them); any other note of that layout (a quote never funded) may be
    another chain's and is left unread — here, and on a fresh chain at the same addresses."""
    world = market
    platform = world.parties["platform-owner"]
    address = open_paid(world)
    unfunded = quote_task(world.settings, world.catalog, world.store, address, platform, valid_s=600, chain=world.chain)
    funded = quote_task(world.settings, world.catalog, world.store, address, platform, chain=world.chain)
    fund_task(
        world.settings,
        world.catalog,
        world.store,
        world.chain,
        address,
        world.parties["submitter"],
        quote_cid=funded.cid,
    )
    world.answer_all(address)
    assert world.node().recover() == {address: "Finished"}  # settled from its usage record
    found = latest_usage(world.settings, world.store, address, world.catalog, chain=world.chain)
    assert found is not None
    usage = found[0]
    other = open_paid(world)
    quote_task(world.settings, world.catalog, world.store, other, platform, chain=world.chain)

    # the home as the code before kept it: market/<kind>/<task>
    market_dir = world.settings.path("market")
    for kind in ("quotes", "usage"):
        (market_dir / kind).mkdir()
        for task in (market_dir / world.chain.key / kind).iterdir():
            task.rename(market_dir / kind / task.name)
    shutil.rmtree(market_dir / world.chain.key)
    # a note of that layout at a contract that is no task, and at no address, are passed over
    escrow = EscrowClient.for_task(world.chain, address).address.lower()
    for name in (escrow, "not-a-task"):
        (market_dir / "quotes" / name).mkdir()
        (market_dir / "quotes" / name / f"{funded.body.created}_{funded.cid}").touch()

    assert unfunded.cid != funded.cid
    assert quote_cids(world.settings, address, chain=world.chain) == [funded.cid]
    assert unfunded.cid not in quote_cids(world.settings, chain=world.chain)
    assert quote_cids(world.settings, other, chain=world.chain) == []
    bill = make_bill(world.settings, world.catalog, world.store, address, payments_of(world.chain), chain=world.chain)
    assert (bill.quote_cid, bill.usage_cid, bill.status) == (funded.cid, usage.cid, "settled")

    fresh = restart_world_chain(world, monkeypatch)
    assert open_paid(fresh) == address
    assert quote_cids(fresh.settings, chain=fresh.chain) == []
    assert latest_usage(fresh.settings, fresh.store, address, fresh.catalog, chain=fresh.chain) is None


def test_a_fresh_chains_quote_and_usage_are_shown_and_billed_beside_a_previous_chains_task(
    market: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, showing a quote by its CID and re-checking a usage record (the bill) read every
    task record of the address, of whichever chain: on a fresh dev chain the submitter's record
    of the previous chain's task at the same address differs from this one's, so the quote
    could not be shown and the task could not be billed (`signed two different records`)."""
    old = open_paid(market)
    fresh = restart_world_chain(market, monkeypatch)
    address = open_paid(fresh)
    assert address == old and fresh.chain.key != market.chain.key

    r = cli(fresh, "quote", address, "--as", "platform-owner", "--json")
    assert r.exit_code == 0, r.output
    quoted = json.loads(r.stdout)["cid"]
    r = cli(fresh, "quote", quoted, "--json")  # shown by its CID, checked against this chain's record
    assert r.exit_code == 0, (r.output, r.exception)
    assert json.loads(r.stdout)["cid"] == quoted

    r = cli(fresh, "usage", address, "--as", "platform-owner", "--json")  # never ran: its failure terms
    assert r.exit_code == 0, (r.output, r.exception)
    usage = json.loads(r.stdout)["cid"]
    r = cli(fresh, "bill", address, "--json")
    assert r.exit_code == 0, (r.output, r.exception)
    bill = json.loads(r.stdout)
    assert (bill["quote_cid"], bill["usage_cid"]) == (quoted, usage)


def test_asking_of_a_task_makes_no_folder_for_it(market: World) -> None:
    """Before, asking for a task's quotes or usage made ``market/<chain>/<kind>/<task>/`` in the
    home: a party asking for the bills of made-up addresses filled the server's home with
    folders, one per address."""
    from eth_account import Account

    task = Account.create().address
    assert quote_cids(market.settings, task, chain=market.chain) == []
    assert latest_usage(market.settings, market.store, task, chain=market.chain) is None
    made = [p for p in (market.settings.home_dir / "market").rglob("*") if task.lower() in p.name.lower()]
    assert made == []
