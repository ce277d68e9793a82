"""eotrust.party: who is who. A party is an Ethereum account (keystore JSON) plus an age
identity, both encrypted with one passphrase, and a public card binding the two, signed by
the account (EIP-191)."""

from eotrust.party.card import PartyCard, load_card
from eotrust.party.party import (
    Party,
    create_party,
    export_age_identity,
    export_card,
    list_cards,
    load_party,
    save_card,
)
from eotrust.party.role import Role

__all__ = [
    "Party",
    "PartyCard",
    "Role",
    "create_party",
    "export_age_identity",
    "export_card",
    "list_cards",
    "load_card",
    "load_party",
    "save_card",
]
