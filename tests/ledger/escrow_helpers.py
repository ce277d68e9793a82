"""Helpers shared by the escrow tests: paid tasks, quotes, and the attacking payee contract
(contracts/test/ReentrantPayee.sol, compiled into tests/ledger/artifacts by eotrust.ledger.build)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from ledger_helpers import CID_A, CID_B, Parties, recipient

from eotrust.ledger import Chain, TaskClient, TaskFactoryClient
from eotrust.ledger.abi import Artifact, ContractAbi
from eotrust.ledger.escrow import EscrowClient, Quote

_ARTIFACT = json.loads((Path(__file__).resolve().parent / "artifacts" / "ReentrantPayee.json").read_text())
PAYEE_CONTRACT = Artifact(
    name="ReentrantPayee",
    abi=_ARTIFACT["abi"],
    bytecode=bytes.fromhex(_ARTIFACT["bytecode"][2:]),
    deployed_bytecode=bytes.fromhex(_ARTIFACT["deployedBytecode"][2:]),
)
PAYEE_ABI = ContractAbi(PAYEE_CONTRACT)


def deploy_payee(chain: Chain, account: LocalAccount, escrow: str, *, depth: int = 3, refuse: bool = False) -> str:
    """A payee contract that re-enters ``withdraw`` up to ``depth`` times (or refuses payment)."""
    args = abi_encode(["address", "uint256", "bool"], [escrow, depth, refuse])
    result = chain.deploy(account, PAYEE_CONTRACT.bytecode + args, action="deploy the attacking payee")
    assert result.contract_address is not None
    return result.contract_address


def payee_read(chain: Chain, payee: str, name: str) -> int:
    data = chain.call(payee, PAYEE_ABI.encode_call(name), action=f"read {name}")
    return int(PAYEE_ABI.decode_output(name, data)[0])


def payee_collect(chain: Chain, account: LocalAccount, payee: str) -> None:
    """Make the payee contract call ``withdraw`` (sent by ``account``)."""
    chain.transact(account, to=payee, data=PAYEE_ABI.encode_call("collect"), action="make the payee withdraw")


def paid_task(factory: TaskFactoryClient, p: Parties, requests: int = 2) -> TaskClient:
    task = factory.create_task(
        p.submitter,
        results_recipient=recipient(),
        application_id=CID_A,
        application_owner=p.app.address,
        platform_id="platform-record",
        platform_owner=p.platform.address,
        paid=True,
    )
    if requests:
        task.add_requests(p.submitter, [(f"dataset-{i}", p.data[i].address) for i in range(requests)])
    return task


def quote_for(
    escrow: EscrowClient,
    task: TaskClient,
    p: Parties,
    *,
    payees: Sequence[str] | None = None,
    maxima: Sequence[int] | None = None,
    minima: Sequence[int] = (),
    fail_fee: int = 7,
    valid_for: int = 3600,
    run_for: int = 3600,
) -> Quote:
    """A quote paying the platform, the application owner and two data owners (by default)."""
    payees = (
        list(payees)
        if payees is not None
        else [p.platform.address, p.app.address, p.data[0].address, p.data[1].address]
    )
    maxima = list(maxima) if maxima is not None else [400, 200, 100, 100][: len(payees)]
    return escrow.quote(
        task=task,
        submitter=p.submitter.address,
        platform=p.platform.address,
        payees=payees,
        maxima=maxima,
        minima=minima,
        fail_fee=fail_fee,
        valid_until=escrow.chain.latest_timestamp() + valid_for,
        deadline=escrow.chain.latest_timestamp() + valid_for + run_for,
        quote_cid=CID_B,
    )


def funded_task(
    escrow: EscrowClient,
    factory: TaskFactoryClient,
    p: Parties,
    *,
    minima: Sequence[int] = (),
    fail_fee: int = 7,
) -> tuple[TaskClient, Quote]:
    """A paid task (two requests) funded by the submitter on :func:`quote_for`'s quote."""
    task = paid_task(factory, p)
    quote = quote_for(escrow, task, p, minima=minima, fail_fee=fail_fee)
    escrow.fund(task, quote.sign(p.platform), sender=p.submitter)
    return task, quote


def run_funded(task: TaskClient, p: Parties, until: str, requests: int = 2) -> None:
    """Move a funded (RequestsLocked) task on: "Nacked", "Started" (Running, no result), "Running"
    (with a result), "Failed"."""
    if until == "Nacked":
        task.nack_application(p.app)
        return
    task.ack_application(p.app)
    task.ack_platform(p.platform, recipient())
    for i in range(requests):
        task.ack_request(p.data[i], i, CID_B)
    task.start(p.platform)
    if until == "Started":
        return
    if until == "Failed":
        task.fail(p.platform, CID_A)
        return
    task.add_result(p.platform, CID_A)
    assert until == "Running", until
