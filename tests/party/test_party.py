"""Parties: keystores encrypted at rest, signed cards anyone can check, clear errors."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from eth_account import Account

from eotrust.crypto import decrypt_stream, encrypt_stream
from eotrust.errors import IntegrityError, InvalidInputError, NotFoundError, PartyError
from eotrust.party import PartyCard, Role, create_party, export_card, list_cards, load_card, load_party, save_card
from eotrust.settings import Settings, load_settings


def test_create_and_load(settings: Settings) -> None:
    party = create_party(settings, "alice", "data-owner")
    assert party.role is Role.DATA_OWNER and party.card.name == "alice"
    assert party.card.address == party.account.address == party.address
    assert party.age_identity.startswith("AGE-SECRET-KEY-1") and party.age_recipient.startswith("age1")
    again = load_party(settings, "alice")
    assert again.account.key == party.account.key
    assert again.age_identity == party.age_identity
    assert again.card == party.card
    assert "SECRET" not in repr(again) and again.account.key.hex() not in repr(again)


def test_the_keys_work(settings: Settings) -> None:
    import io

    party = create_party(settings, "bob", Role.PLATFORM_OWNER)
    ct, out = io.BytesIO(), io.BytesIO()
    encrypt_stream(io.BytesIO(b"for bob"), ct, [party.card.age_recipient])
    decrypt_stream(io.BytesIO(ct.getvalue()), out, load_party(settings, "bob").age_identity)
    assert out.getvalue() == b"for bob"


def test_no_secret_on_disk_in_clear(settings: Settings) -> None:
    party = create_party(settings, "carol", "submitter")
    files = list((settings.parties_dir / "carol").iterdir())
    assert sorted(f.name for f in files) == ["age-identity.json", "card.json", "keystore.json"]
    on_disk = b"".join(f.read_bytes() for f in files)
    assert party.age_identity.encode() not in on_disk and party.age_identity.lower().encode() not in on_disk
    assert party.account.key.hex().encode() not in on_disk
    keystore = json.loads((settings.parties_dir / "carol" / "keystore.json").read_text())
    assert keystore["crypto"]["kdf"] == "scrypt" and keystore["crypto"]["kdfparams"]["n"] == settings.keystore_scrypt_n
    assert Account.decrypt(keystore, "test-passphrase") == party.account.key  # a standard keystore v3
    assert (settings.parties_dir / "carol" / "keystore.json").stat().st_mode & 0o077 == 0


def test_passphrase_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EOTRUST_PASSPHRASE")
    settings = load_settings(home=tmp_path / "h")
    with pytest.raises(PartyError, match="no passphrase"):
        create_party(settings, "dave", "submitter")
    create_party(settings, "dave", "submitter", passphrase="given")
    with pytest.raises(PartyError, match="wrong passphrase"):
        load_party(settings, "dave", passphrase="other")
    monkeypatch.setenv("EOTRUST_PASSPHRASE", "given")
    assert load_party(settings, "dave").name == "dave"
    with_setting = load_settings(home=tmp_path / "h", passphrase="given")
    assert load_party(with_setting, "dave").name == "dave"


def test_wrong_passphrase_is_clear(settings: Settings) -> None:
    create_party(settings, "erin", "algorithm-owner")
    with pytest.raises(PartyError, match="wrong passphrase for party 'erin'"):
        load_party(settings, "erin", passphrase="nope")


def test_existing_party_is_not_overwritten(settings: Settings) -> None:
    first = create_party(settings, "frank", "submitter")
    with pytest.raises(PartyError, match="already exists"):
        create_party(settings, "frank", "data-owner")
    assert load_party(settings, "frank").address == first.address


def _create(home: str, results: multiprocessing.Queue[str]) -> None:
    settings = load_settings(home=Path(home), passphrase="pw", keystore_scrypt_n=1024)
    try:
        create_party(settings, "racer", "submitter")
        results.put("created")
    except PartyError:
        results.put("refused")


def test_concurrent_creation_makes_one_party(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_create, args=(str(tmp_path / "h"), results)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes.count("created") == 1
    settings = load_settings(home=tmp_path / "h", passphrase="pw")
    assert [c.name for c in list_cards(settings)] == ["racer"]
    load_party(settings, "racer")


@pytest.mark.parametrize("name", ["", "../escape", "a b", "-dash", "x" * 65])
def test_bad_names(settings: Settings, name: str) -> None:
    with pytest.raises(PartyError, match="invalid party name"):
        create_party(settings, name, "submitter")


def test_bad_role(settings: Settings) -> None:
    with pytest.raises(InvalidInputError, match="choose one of submitter, data-owner"):
        create_party(settings, "gina", "king")
    assert Role.parse("DATA_OWNER") is Role.DATA_OWNER


def test_missing_party(settings: Settings) -> None:
    with pytest.raises(NotFoundError, match="party create"):
        load_party(settings, "nobody")


def test_list_and_export(settings: Settings, tmp_path: Path) -> None:
    create_party(settings, "b-party", "submitter")
    create_party(settings, "a-party", "data-owner")
    assert [c.name for c in list_cards(settings)] == ["a-party", "b-party"]
    path = save_card(export_card(settings, "a-party"), tmp_path / "a.card.json")
    assert load_card(path).verify() == export_card(settings, "a-party")


@pytest.mark.parametrize(
    "field,value",
    [("name", "mallory"), ("role", "platform-owner"), ("age_recipient", None), ("address", None)],
)
def test_any_altered_card_field_fails_verification(settings: Settings, field: str, value: str | None) -> None:
    card = create_party(settings, "henry", "data-owner").card
    other = create_party(settings, "ivan", "submitter").card
    if value is None:
        value = getattr(other, field)
    forged = card.model_copy(update={field: Role.parse(value) if field == "role" else value})
    with pytest.raises(IntegrityError):
        forged.verify()
    card.verify()


def test_a_card_signed_by_another_key_fails(settings: Settings) -> None:
    card = create_party(settings, "judy", "submitter").card
    thief = Account.create()
    forged = PartyCard.sign(thief, card.name, card.role, card.age_recipient).model_copy(
        update={"address": card.address}
    )
    with pytest.raises(IntegrityError, match="not signed by"):
        forged.verify()


def test_garbage_cards(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_card(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"name": "x"}')
    with pytest.raises(InvalidInputError, match="not a party card"):
        load_card(tmp_path / "bad.json")
    (tmp_path / "sig.json").write_text(
        json.dumps(
            {
                "name": "x",
                "role": "submitter",
                "address": "0x" + "11" * 20,
                "age_recipient": "age1x",
                "signature": "0x00",
            }
        )
    )
    with pytest.raises(IntegrityError):
        load_card(tmp_path / "sig.json").verify()


def test_tampered_keystore_is_detected(settings: Settings) -> None:
    create_party(settings, "kate", "submitter")
    create_party(settings, "leo", "submitter")
    kate, leo = settings.parties_dir / "kate", settings.parties_dir / "leo"
    (kate / "age-identity.json").unlink()
    (kate / "age-identity.json").write_bytes((leo / "age-identity.json").read_bytes())
    with pytest.raises(IntegrityError, match="do not match its card"):
        load_party(settings, "kate")
