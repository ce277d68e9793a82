"""Attacks found by the API audit of 4 December 2026, each a request any authenticated party
(or anyone) can make."""

from __future__ import annotations

from pathlib import Path

from api_attack_world import build_world, client


def test_quotation_lookup_names_no_server_path_and_tells_no_stored_object_apart(tmp_path: Path) -> None:
    """``GET /quotations/{cid}`` of a CID that is no quotation answered 404 with the store's own
    message, "object … is not in the store at /…/home/store": the server's home to any party.
    And a CID the store holds (olga's dataset, whose bytes only she may read) got another
    answer ("… is not a quote document") than one it does not hold: an oracle of what the store
    holds, which ``GET /store/{cid}`` refuses to be."""
    world = build_world(tmp_path / "home")
    absent = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
    with client(world.settings) as http:
        answers = {
            cid: http.get(f"/quotations/{cid}", headers=world.headers("sam")) for cid in (absent, world.dataset_cid)
        }
    for cid, r in answers.items():
        assert r.status_code == 404, r.text
        assert str(world.home) not in r.text and str(tmp_path) not in r.text, r.text
        assert r.json()["detail"].replace(cid, "CID") == answers[absent].json()["detail"].replace(absent, "CID")


def test_a_process_deployed_for_named_parties_keeps_its_package_when_another_owner_names_it(tmp_path: Path) -> None:
    """alan deploys a process for sam only; its application record, public like every record,
    names the package's CID. ava, another algorithm owner, registered an application of her own
    naming that CID (``POST /catalog/applications``, or the CLI) — a record with no deployment
    statement, which counts as public — and from then on ``GET /store/{cid}`` gave alan's code
    to her and to every other party."""
    from api_attack_world import WORKFLOW, party_key

    from eotrust.party import Role, create_party

    world = build_world(tmp_path / "home")
    ava = create_party(world.settings, "ava", Role.ALGORITHM_OWNER)
    world.keys["ava"] = party_key(world.settings, ava)
    with client(world.settings) as http:
        deployed = http.post(
            "/processes",
            content=WORKFLOW.replace("name: shout", "name: private").encode(),
            headers={**world.headers("alan"), "Content-Type": "application/x-yaml"},
            params={"visibility": "sam"},
        )
        assert deployed.status_code == 201, deployed.text
        records = http.get("/catalog/applications").json()
        package = next(r["body"]["workflow_cid"] for r in records if r["body"]["name"] == "private")
        assert http.get(f"/store/{package}", headers=world.headers("ava")).status_code == 403

        copied = http.post(
            "/catalog/applications",
            json={"name": "copycat", "version": "1.0", "workflow_cid": package},
            headers=world.headers("ava"),
        )
        assert copied.status_code == 403, copied.text
        assert "tr a-z" not in copied.text  # nothing of the package in the refusal
        # nor when her record reaches the catalogue another way (the CLI, a shared catalogue)
        from eotrust.catalog.entries import ApplicationInfo
        from eotrust.catalog.service import Catalog

        Catalog(world.settings).register(ava, ApplicationInfo(name="copycat", version="1.0", workflow_cid=package))

        # nor may a record name another party's private object: olga's dataset was parsed as a
        # workflow, and the refusal told its structure ("…:1: a workflow document must be a mapping")
        named = http.post(
            "/catalog/applications",
            json={"name": "peek", "version": "1.0", "workflow_cid": world.dataset_cid},
            headers=world.headers("ava"),
        )
        assert named.status_code == 403, named.text

        for who in ("ava", "olga"):
            assert http.get(f"/store/{package}", headers=world.headers(who)).status_code == 403, who
        assert http.get(f"/store/{package}", headers=world.headers("sam")).status_code == 200
        assert http.get(f"/store/{package}", headers=world.headers("alan")).status_code == 200


def test_a_paging_token_past_any_database_offset_is_a_400_not_a_500(tmp_path: Path) -> None:
    """A search of the datasets collection is paged by the catalogue's database, and the token's
    offset went to it as it was: ``token=offset:99999999999999999999`` (anyone, no key) was
    SQLite's OverflowError, a 500, on the GET and POST searches and the items of the collection."""
    world = build_world(tmp_path / "home")
    huge = "offset:" + "9" * 20
    with client(world.settings) as http:
        answers = [
            http.get("/stac/search", params={"collections": "datasets", "token": huge}),
            http.post("/stac/search", json={"collections": ["datasets"], "token": huge}),
            http.get("/stac/collections/datasets/items", params={"token": huge}),
        ]
        first = http.get("/stac/collections/datasets/items").json()
    for r in answers:
        assert r.status_code == 400, r.text
        assert "paging token" in r.json()["detail"]
    assert first["numberReturned"] == 1  # the first page, without a token, still holds olga's dataset


def test_an_anonymous_key_challenge_holds_a_bounded_size_in_memory(tmp_path: Path) -> None:
    """The server keeps at most 1000 pending key challenges so that anonymous callers cannot
    grow it, but not how large each is: a scope had no length limit, so one challenge of 50
    scopes of 20 000 characters (a 1 MB body, under the JSON limit) was held whole, twice (the
    scopes and the message to sign, echoed back) — a thousand of them about 2 GB, no key needed."""
    from eotrust.api.key_proof import MAX_PENDING

    world = build_world(tmp_path / "home")
    with client(world.settings) as http:
        huge = http.post(
            "/apikeys/challenge", json={"party": "sam", "scopes": [f"{'m' * 20_000}{i}" for i in range(50)]}
        )
        assert huge.status_code == 400, huge.text[:300]
        # the largest a challenge may be: 50 scopes as long as a model package's name
        largest = http.post(
            "/apikeys/challenge", json={"party": "sam", "scopes": [f"{'m' * 197}{i:03}" for i in range(50)]}
        )
        assert largest.status_code == 201, largest.text[:300]
        assert len(largest.json()["message"]) * MAX_PENDING < 32 * 2**20  # all pending ones, in memory
