"""A paid task with several parties on anvil (a real JSON-RPC node): every party's ether
balance, fees included, ends exactly where the quote, the usage and the refund say."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from anvil_node import anvil
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from ledger_helpers import CID_A, CID_B, recipient

from eotrust.ledger import Chain, ContractRevertError, TaskFactoryClient, TaskState, TxResult
from eotrust.ledger.escrow import EscrowClient, SignedQuote
from eotrust.settings import load_settings

pytestmark = [pytest.mark.server]
ETHER = 10**18


def _fee(chain: Chain, tx_hash: str) -> int:
    receipt = chain.w3.eth.get_transaction_receipt(HexStr(tx_hash))
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def test_paid_task_on_anvil_with_real_balances(tmp_path: Path) -> None:
    sub, app, plat, d0, d1, d2 = (Account.from_key(bytes([0x90 + i]) * 32) for i in range(6))
    with anvil() as url:
        chain = Chain.from_settings(load_settings(home=tmp_path / "home", chain_url=url))
        for party in (sub, app, plat, d0, d1, d2):
            chain.fund(party.address, 5 * ETHER)
        fees = {a.address: 0 for a in (sub, app, plat, d0, d1, d2)}  # every fee from `start` on

        def paid(account: LocalAccount, tx: TxResult | None) -> None:
            assert tx is not None  # the call just made sent one
            fees[account.address] += _fee(chain, tx.tx_hash)

        factory = TaskFactoryClient(chain)
        task = factory.create_task(
            sub,
            results_recipient=recipient(),
            application_id=CID_A,
            application_owner=app.address,
            platform_id="platform",
            platform_owner=plat.address,
            paid=True,
        )
        task.add_requests(sub, [("d0", d0.address), ("d1", d1.address), ("d2", d2.address)])
        start = {a: chain.balance(a) for a in fees}

        escrow = EscrowClient(chain)
        payees = [plat.address, app.address, d0.address, d1.address, d2.address]
        maxima = [ETHER // 2, ETHER // 4, ETHER // 10, ETHER // 10, ETHER // 20]
        quote = escrow.quote(
            task=task,
            submitter=sub.address,
            platform=plat.address,
            payees=payees,
            maxima=maxima,
            fail_fee=ETHER // 100,
            valid_until=chain.latest_timestamp() + 600,
            deadline=chain.latest_timestamp() + 1200,
            quote_cid=CID_B,
        )
        assert escrow.digest_on_chain(quote) == quote.digest()
        with pytest.raises(ContractRevertError) as info:  # tampered: more for the platform
            forged = dataclasses.replace(quote, maxima=(ETHER, *maxima[1:]), total=quote.total + ETHER // 2)
            escrow.fund(task, SignedQuote(forged, quote.sign(plat).signature), sender=sub)
        assert info.value.error_name == "BadSignature"
        escrow.fund(task, quote.sign(plat), sender=sub)
        paid(sub, escrow.last_transaction)
        assert chain.balance(escrow.address) == quote.total

        task.ack_application(app)
        paid(app, task.last_transaction)
        task.ack_platform(plat, recipient())
        paid(plat, task.last_transaction)
        for i, d in enumerate((d0, d1, d2)):
            task.ack_request(d, i, CID_B)
            paid(d, task.last_transaction)
        task.start(plat)
        paid(plat, task.last_transaction)
        task.add_result(plat, CID_A)
        paid(plat, task.last_transaction)
        used = {
            plat.address: ETHER * 3 // 10,
            app.address: ETHER // 4,
            d0.address: ETHER // 10,
            d1.address: ETHER // 20,
        }
        escrow.settle(task, CID_A, used, sender=plat)  # d2's data went unused: 0
        paid(plat, escrow.last_transaction)
        assert task.state() is TaskState.Finished
        refund = quote.total - sum(used.values())

        for account in (sub, app, plat, d0, d1):
            escrow.withdraw(account)
            paid(account, escrow.last_transaction)
        with pytest.raises(ContractRevertError) as info:
            escrow.withdraw(d2)
        assert info.value.error_name == "NothingOwed"

        gained = {sub.address: refund - quote.total, **used, d2.address: 0}
        for address, before in start.items():
            assert chain.balance(address) == before + gained[address] - fees[address], address
        assert chain.balance(escrow.address) == 0
        events = [e.name for e in escrow.events(task)]
        assert events == ["Funded", "Settled"]
