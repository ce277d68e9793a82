"""Property: random moves by random parties on a federated task agree with a plain Python model
of its rules (who may act, once per round, aggregate only when every update is in, refused ⊆
submitted, quorum, Finished after the last round, nothing after the end)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_helpers import CID_A, CID_B, recipient

from eotrust.ledger import Chain, ContractRevertError
from eotrust.ledger.federated import FederatedFactoryClient

PEOPLE = [Account.from_key(bytes([0x70 + i]) * 32) for i in range(5)]  # 0 submitter, 1 aggregator, 2-4 participants
AGG, PARTS = PEOPLE[1], PEOPLE[2:]


@dataclass
class Model:
    rounds: int
    quorum: int
    state: str = "Running"
    round: int = 0
    submitted: set[int] = field(default_factory=set)

    def submit(self, who: int, rnd: int) -> str | None:
        if who < 2:
            return "NotParticipant"
        if self.state != "Running":
            return "NotRunning"
        if rnd != self.round:
            return "WrongRound"
        if who - 2 in self.submitted:
            return "AlreadySubmitted"
        self.submitted.add(who - 2)
        return None

    def publish(self, who: int, rnd: int, refused: set[int]) -> str | None:
        if who != 1:
            return "NotAggregator"
        if self.state != "Running":
            return "NotRunning"
        if rnd != self.round:
            return "WrongRound"
        if not refused <= self.submitted:
            return "RefusedNotSubmitted"
        if len(self.submitted) < 3:
            return "RoundStillOpen"
        if len(self.submitted - refused) < self.quorum:
            return "QuorumNotReached"
        self.submitted = set()
        if self.round + 1 == self.rounds:
            self.state = "Finished"
        else:
            self.round += 1
        return None

    def fail(self, who: int) -> str | None:
        if who not in (0, 1):
            return "NotAggregator"
        if self.state != "Running":
            return "NotRunning"
        self.state = "Failed"
        return None


move = st.tuples(
    st.sampled_from(["submit", "submit", "submit", "publish", "publish", "fail"]),
    st.integers(0, 4),  # who
    st.integers(0, 2),  # round offset: usually the current one
    st.sets(st.integers(0, 2), max_size=2),  # refused
)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(rounds=st.integers(1, 2), quorum=st.integers(1, 3), moves=st.lists(move, min_size=4, max_size=10))
def test_the_contract_agrees_with_the_model(
    chain: Chain, rounds: int, quorum: int, moves: list[tuple[str, int, int, set[int]]]
) -> None:
    factory = FederatedFactoryClient(chain)
    task = factory.create(
        PEOPLE[0],
        aggregator=AGG.address,
        aggregator_recipient=recipient(),
        auditor_recipient=recipient(),
        plan_cid=CID_A,
        model_cid=CID_B,
        participants=[p.address for p in PARTS],
        rounds=rounds,
        quorum=quorum,
        round_seconds=3600,
    )
    model = Model(rounds, quorum)
    for action, who, offset, refused in moves:
        # steer towards progress: a stray actor or round now and then, the right ones mostly
        rnd = model.round + (1 if offset == 2 else 0)
        call: Callable[[], object]
        if action == "submit":
            expected, call = model.submit(who, rnd), lambda: task.submit_update(PEOPLE[who], rnd, CID_A, 5)
        elif action == "publish":
            expected = model.publish(who if offset else 1, rnd, refused)
            call = lambda: task.publish_aggregate(PEOPLE[who if offset else 1], rnd, CID_B, refused=sorted(refused))  # noqa: E731
        else:
            expected, call = model.fail(who), lambda: task.fail(PEOPLE[who], CID_A)
        try:
            call()
            got = None
        except ContractRevertError as exc:
            got = exc.error_name
        assert got == expected, (action, who, rnd, refused)
        s = task.status()
        assert (s.state.value, s.submitted) == (model.state, sorted(model.submitted))
        assert s.round == (model.rounds if model.state == "Finished" else model.round)
