"""Attack: anyone who can write a home swaps a party's card.json for another key's card — a
self-consistent card (its signature holds) that names another address and age key. Before the
fix `party list/show/export` showed and exported it as the party's own; others would then seal
data for the attacker's key."""

from __future__ import annotations

import shutil

import pytest
from core_cli import cli, refused

from eotrust.errors import IntegrityError
from eotrust.party import Role, create_party, export_card
from eotrust.settings import Settings


def _swap(settings: Settings) -> None:
    create_party(settings, "alice", Role.DATA_OWNER)
    create_party(settings, "mallory", Role.DATA_OWNER)
    parties = settings.parties_dir
    # mallory's genuine card, re-signed under the name alice by mallory's key
    from eotrust.party import load_party
    from eotrust.party.card import PartyCard

    mallory = load_party(settings, "mallory")
    forged = PartyCard.sign(mallory.account, "alice", Role.DATA_OWNER, mallory.age_recipient)
    (parties / "alice" / "card.json").write_text(forged.to_json())
    shutil.rmtree(parties / "mallory")


def test_card_from_another_key_is_refused(settings: Settings) -> None:
    _swap(settings)
    with pytest.raises(IntegrityError, match="keystore"):
        export_card(settings, "alice")
    for args in (("party", "show", "alice"), ("party", "export", "alice"), ("party", "list")):
        exc = refused(cli(settings.home, *args))
        assert "alice" in exc.message


def test_card_under_another_name_is_refused(settings: Settings) -> None:
    create_party(settings, "bob", Role.SUBMITTER)
    shutil.copytree(settings.parties_dir / "bob", settings.parties_dir / "carol")
    refused(cli(settings.home, "party", "show", "carol"))
