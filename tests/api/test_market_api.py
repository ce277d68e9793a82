"""OGC quotations and bills over HTTP (Weaver's shape): the platform owner signs, every route
needs a key, each party sees only its own tasks' quotes and bills, bad numbers are 400s."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from api_world import build_world, priced_task
from fastapi.testclient import TestClient

from eotrust.catalog.entries import Kind
from eotrust.catalog.service import Catalog
from eotrust.party import load_party
from eotrust.settings import load_settings

GWEI = 10**9


def test_quotations_and_bills(tmp_path: Path, api_client_factory: Callable[..., TestClient]) -> None:
    world = build_world(tmp_path / "home", submitters=("sam", "sue"))
    settings = load_settings(home=world.home)
    pia = load_party(settings, "pia")
    app = Catalog(settings).find("shout", Kind.APPLICATION)
    task = priced_task(world, app.id, {"cpu_hour": 36 * GWEI, "flat": 3 * GWEI})
    client = api_client_factory(world.home)

    def key(name: str) -> dict[str, str]:
        return {"X-API-Key": world.keys[name]}

    # attacks first: no key, a party of no standing, a wrong process, bad numbers
    assert client.post("/processes/shout/quotations", json={"task": task}).status_code == 401
    assert client.get("/bills").status_code == 401
    assert client.post("/processes/shout/quotations", headers=key("olga"), json={"task": task}).status_code == 403
    assert client.post("/processes/other/quotations", headers=key("sam"), json={"task": task}).status_code == 404
    for bad in (
        {"task": task, "validFor": -1},
        {"task": task, "validFor": 10**30},
        {"task": task, "runFor": 10},
        {"task": "0x12"},
        {"task": task, "onFailure": "never"},
        {"task": task, "price": "0"},
    ):
        r = client.post("/processes/shout/quotations", headers=key("sam"), json=bad)
        assert r.status_code == 400, (bad, r.text)

    # the server signs as the platform: the submitter cannot give itself the platform's terms
    # (before: a refund on failure, so the work of a failed task was paid nothing; a month to fund)
    # (or a deadline an hour away, after which the task is expired and everything refunded)
    for terms in ({"onFailure": "refund"}, {"validFor": 30 * 24 * 3600}, {"runFor": 3600}):
        r = client.post("/processes/shout/quotations", headers=key("sam"), json={"task": task, **terms})
        assert r.status_code == 403 and "only the platform owner" in r.json()["detail"], (terms, r.text)

    r = client.post("/processes/shout/quotations", headers=key("sam"), json={"task": task, "validFor": 600})
    assert r.status_code == 201, r.text
    quote = r.json()
    assert r.headers["Location"] == f"/quotations/{quote['id']}"
    assert quote["signer"] == world.addresses["pia"] and quote["userID"] == world.addresses["sam"]
    assert quote["currency"] == "wei" and quote["status"] == "completed" and not quote["expired"]
    items = {i["item"]: i for i in quote["items"]}
    assert items["flat"]["cost"] == str(3 * GWEI) and int(items["cpu"]["cost"]) > 0
    assert int(quote["price"]) == sum(int(i["cost"]) for i in quote["items"])
    assert quote["escrow"]["quote_cid"] == quote["id"] and sum(map(int, quote["escrow"]["maxima"])) == int(
        quote["price"]
    )
    assert quote["escrow"]["fail_fee"] == str(3 * GWEI)  # the default terms: the flat fee
    assert quote["escrow"]["deadline"] == quote["escrow"]["valid_until"] + 24 * 3600  # and a day to finish
    assert quote["deadline"] > quote["expire"]

    got = client.get(f"/quotations/{quote['id']}", headers=key("sam"))
    assert got.status_code == 200 and got.json()["id"] == quote["id"], got.text
    assert client.get(f"/quotations/{quote['id']}", headers=key("pia")).status_code == 200  # a payee
    assert client.get(f"/quotations/{quote['id']}", headers=key("sue")).status_code == 403
    assert client.get(f"/quotations/{world.dataset_cid}", headers=key("sam")).status_code == 404  # not a quote
    listed = client.get("/processes/shout/quotations", headers=key("sam")).json()["quotations"]
    assert [q["id"] for q in listed] == [quote["id"]]
    assert client.get("/processes/shout/quotations", headers=key("sue")).json()["quotations"] == []

    bill = client.get(f"/bills/{task}", headers=key("sam"))
    assert bill.status_code == 200, bill.text
    assert bill.json()["status"] == "quoted" and bill.json()["quote_cid"] == quote["id"]
    assert bill.json()["payments_connected"] is False and bill.json()["usage_cid"] is None
    assert client.get(f"/bills/{task}", headers=key("sue")).status_code == 403
    assert client.get("/bills/not-an-address", headers=key("sam")).status_code == 400
    assert [b["id"] for b in client.get("/bills", headers=key("sam")).json()["bills"]] == [task]
    assert client.get("/bills", headers=key("sue")).json()["bills"] == []

    # prices out of bounds in a record registered over HTTP: a 400 naming the field, nothing registered
    for prices in ({"cpu_hour": -1}, {"flat": str(10**40)}, {"gpu_hour": 0.5}):
        r = client.post(
            "/catalog/platforms",
            headers=key("pia"),
            json={"name": "dear", "age_recipient": pia.card.age_recipient, "prices": prices},
        )
        assert r.status_code == 400 and "prices." in r.json()["detail"], r.text
    assert all(p["body"]["name"] != "dear" for p in client.get("/catalog/platforms").json())
    own = client.post("/processes/shout/quotations", headers=key("pia"), json={"task": task, "onFailure": "refund"})
    assert own.status_code == 201 and own.json()["escrow"]["fail_fee"] == "0", own.text  # the platform's own choice
