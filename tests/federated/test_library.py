"""The federated library without a chain: weights bytes, deterministic aggregation, update
checks (the attacks: NaN, infinity, wrong shape, dtype, names, header, bytes), DP and ε."""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from typing import TYPE_CHECKING, NoReturn

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eotrust.errors import InvalidInputError
from eotrust.federated.aggregate import WeightedDelta, apply_average
from eotrust.federated.plan import PrivacyConfig
from eotrust.federated.privacy import epsilon, privatise
from eotrust.federated.update import GarbageUpdateError, Update, check_update
from eotrust.federated.weights import decode, encode, l2_norm
from eotrust.limits import json_loads

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

TASK = "0x" + "ab" * 20


def model(seed: int = 0) -> OrderedDict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return OrderedDict(
        w=rng.normal(size=(4, 3)).astype(np.float32),
        b=rng.normal(size=3).astype(np.float32),
        n=np.array(7, dtype=np.int64),
    )


def delta(seed: int) -> OrderedDict[str, np.ndarray]:
    m = model(seed)
    return OrderedDict((k, v) for k, v in m.items() if v.dtype.kind == "f")


def test_weights_round_trip_and_are_deterministic() -> None:
    m = model()
    assert encode(decode(encode(m))) == encode(m)
    assert all(np.array_equal(a, b) for a, b in zip(decode(encode(m)).values(), m.values()))


def test_malformed_weights_are_refused() -> None:
    data = encode(model())
    for bad in (b"", data[:-1], data + b"\0", b"x" + data[1:], data[:30]):
        with pytest.raises(InvalidInputError):
            decode(bad)


@settings(max_examples=15, deadline=None)
@given(samples=st.lists(st.integers(1, 10_000), min_size=1, max_size=5), seed=st.integers(0, 1000))
def test_aggregation_is_a_function_of_its_inputs_not_their_order(samples: list[int], seed: int) -> None:
    g = model(seed)
    updates = [WeightedDelta(i, s, delta(seed + i + 1)) for i, s in enumerate(samples)]
    shuffled = updates[:]
    random.Random(seed).shuffle(shuffled)
    a, b = apply_average(g, updates), apply_average(g, shuffled)
    assert encode(a) == encode(b)
    total = sum(samples)
    expected = g["w"].astype(np.float64) + sum(
        s / total * u.delta["w"].astype(np.float64) for s, u in zip(samples, updates)
    )
    assert np.array_equal(a["w"], expected.astype(np.float32))
    assert a["n"] == g["n"]  # counters stay as in the global model


def test_aggregation_refuses_nothing_and_duplicates() -> None:
    with pytest.raises(InvalidInputError):
        apply_average(model(), [])
    with pytest.raises(InvalidInputError):
        apply_average(model(), [WeightedDelta(0, 1, delta(1)), WeightedDelta(0, 2, delta(2))])


def _check(d: OrderedDict[str, np.ndarray], **header: object) -> None:
    fields = {"task": TASK, "round": 0, "index": 1, "samples": 10} | header
    u = Update.from_bytes(Update(fields["task"], fields["round"], fields["index"], fields["samples"], d).to_bytes())  # type: ignore[arg-type]
    check_update(u, model(), task=TASK, round_=0, index=1, samples=10)


def test_a_sound_update_passes() -> None:
    _check(delta(3))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.__setitem__("w", np.full((4, 3), np.nan, np.float32)), "NaN"),
        (lambda d: d.__setitem__("b", np.array([0, np.inf, 0], np.float32)), "NaN or infinite"),
        (lambda d: d.__setitem__("w", np.zeros((3, 4), np.float32)), "model's is float32"),
        (lambda d: d.__setitem__("w", np.zeros((4, 3), np.float64)), "model's is float32"),
        (lambda d: d.pop("b"), "tensors"),
        (lambda d: d.__setitem__("extra", np.zeros(1, np.float32)), "tensors"),
    ],
)
def test_garbage_updates_are_refused(change: Callable[[OrderedDict[str, np.ndarray]], object], match: str) -> None:
    d = delta(3)
    change(d)
    with pytest.raises(GarbageUpdateError, match=match):
        _check(d)


def _layers(n: int) -> OrderedDict[str, np.ndarray]:
    return OrderedDict((f"layer{i}", np.full(2, i, np.float32)) for i in range(n))


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda d: d.__setitem__("extra", np.zeros(2, np.float32)), "extra 'extra'"),
        (lambda d: d.pop("layer4"), "missing 'layer4'"),
        (
            lambda d: (d.pop("layer4"), d.__setitem__("layer4\nforged line", np.zeros(2, np.float32))),
            r"extra 'layer4\nforged line'; missing 'layer4'",
        ),
        (lambda d: d.move_to_end("layer0"), "the same names in another order (#0 is 'layer1', the model's 'layer0')"),
    ],
)
def test_an_update_whose_tensors_are_not_the_models_is_refused_naming_them(
    change: Callable[[OrderedDict[str, np.ndarray]], object], said: str
) -> None:
    """Before (an audit), an update with one tensor more than a model of five was refused with
    "the update's tensors ['layer0', 'layer1', 'layer2', 'layer3']… are not the model's
    ['layer0', 'layer1', 'layer2', 'layer3']…": the same names twice, the extra one never said.
    The extra and missing names are now said (quoted: a name is the participant's, and the
    refusal stays one line), or that the order differs."""
    d = _layers(5)
    change(d)
    u = Update.from_bytes(Update(TASK, 0, 1, 10, d).to_bytes())
    with pytest.raises(GarbageUpdateError) as refused:
        check_update(u, _layers(5), task=TASK, round_=0, index=1, samples=10)
    assert refused.value.message == f"the update's tensors are not the model's: {said}"
    assert "\n" not in refused.value.message


def test_a_model_whose_tensors_are_not_the_plans_is_refused_naming_them() -> None:
    from eotrust.federated.weights import check_like

    bigger = _layers(5)
    bigger["extra"] = np.zeros(2, np.float32)
    with pytest.raises(InvalidInputError) as refused:
        check_like(bigger, _layers(5), "global model X")
    assert refused.value.message == "global model X is not the plan's model: tensor names differ (extra 'extra')"


@pytest.mark.parametrize("header", [{"round": 1}, {"index": 2}, {"samples": 11}, {"task": "0x" + "cd" * 20}])
def test_an_update_replayed_from_another_round_task_or_participant_is_refused(header: dict[str, object]) -> None:
    with pytest.raises(GarbageUpdateError, match="the ledger says"):
        _check(delta(3), **header)


def test_bytes_that_are_not_an_update_are_refused() -> None:
    good = Update(TASK, 0, 1, 10, delta(3)).to_bytes()
    for bad in (b"", b"garbage", good[:40], good[:-3]):
        with pytest.raises(GarbageUpdateError):
            Update.from_bytes(bad)


def test_privacy_clips_then_adds_noise_and_reports_epsilon() -> None:
    big = OrderedDict((k, v * 100) for k, v in delta(5).items())
    cfg = PrivacyConfig.model_construct(
        clip=1.0, noise_multiplier=1e-6, delta=1e-5
    )  # clipping alone: below the plan's bounds
    assert l2_norm(privatise(big, cfg, np.random.default_rng(0))) == pytest.approx(1.0, rel=1e-3)
    noisy = privatise(big, PrivacyConfig(clip=1.0, noise_multiplier=2.0), np.random.default_rng(0))
    assert l2_norm(noisy) > 2.0  # the noise dominates a clipped update
    e1 = epsilon(PrivacyConfig(clip=1.0, noise_multiplier=1.0), 3)
    assert (
        epsilon(PrivacyConfig(clip=1.0, noise_multiplier=2.0), 3)
        < e1
        < epsilon(PrivacyConfig(clip=1.0, noise_multiplier=1.0), 10)
    )
    assert 0 < e1 < 50


def test_a_plan_with_numbers_that_are_not_numbers_is_refused() -> None:
    """A plan is written by one party and followed by every participant's node: JSON's
    ``Infinity`` and ``NaN`` (which Python's and pydantic's parsers accept) parsed, and a clip
    of Infinity made every participant's update pure noise of infinite scale."""
    from eotrust.federated.plan import FederatedPlan

    good = json_loads(FederatedPlan(classes=["a", "b"], class_codes=[1, 2], timesteps=3).canonical())
    assert FederatedPlan.parse(json.dumps(good).encode()).learning_rate == 0.005
    for change in (
        {"learning_rate": "Infinity"},
        {"mu": "NaN"},
        {"privacy": {"clip": "Infinity", "noise_multiplier": 1.0}},
        {"privacy": {"clip": 1.0, "noise_multiplier": "NaN"}},
        {"params": {**good["params"], "dropout": "NaN"}},
    ):
        text = json.dumps(good | change).replace('"Infinity"', "Infinity").replace('"NaN"', "NaN")
        with pytest.raises(InvalidInputError, match="the federated plan is not valid"):
            FederatedPlan.parse(text.encode())


def test_an_oversized_sealed_update_is_refused_before_it_is_decrypted(tmp_path: Path) -> None:
    """Attack: a participant submits a huge object as its update (the aggregator decrypted it
    to disk and read it whole). Nothing larger than a sound sealed update of the model is opened."""
    from eotrust.crypto.envelope import seal_to_store
    from eotrust.crypto.keys import generate_identity
    from eotrust.federated.update import open_update, seal_update, sealed_update_bound
    from eotrust.store.local import LocalStore

    store = LocalStore(tmp_path / "store")
    identity, recipient = generate_identity()
    g = model()
    sound = seal_update(store, Update(TASK, 0, 1, 10, delta(1)), [recipient])
    assert store.size(sound) <= sealed_update_bound(g)
    assert open_update(store, sound, identity, like=g).samples == 10
    huge = tmp_path / "huge.bin"
    huge.write_bytes(bytes(sealed_update_bound(g) + 1))  # an honest-looking size just over the bound
    cid = seal_to_store(store, huge, [recipient]).cid
    with pytest.raises(GarbageUpdateError, match=r"bytes; a sealed update of this model is at most \d+"):
        open_update(store, cid, identity, like=g)
    with pytest.raises(GarbageUpdateError, match="cannot open update"):
        open_update(store, "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX", identity, like=g)


def test_an_update_the_store_cannot_give_is_not_garbage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An update not in the store (yet) is UpdateNotStoredError (the aggregator waits for it
    until the deadline); a store that cannot be reached raises its own error. Before (an audit),
    both were garbage, and the aggregator refused a sound update for a store outage."""
    from eotrust.crypto.keys import generate_identity
    from eotrust.errors import BackendUnavailableError
    from eotrust.federated.update import UpdateNotStoredError, open_update, seal_update
    from eotrust.store.local import LocalStore

    store = LocalStore(tmp_path / "store")
    identity, recipient = generate_identity()
    with pytest.raises(UpdateNotStoredError, match="cannot open update"):
        open_update(store, "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX", identity, like=model())
    sound = seal_update(store, Update(TASK, 0, 1, 10, delta(1)), [recipient])

    def down(*args: object) -> NoReturn:
        raise BackendUnavailableError("the IPFS node at http://127.0.0.1:5001 cannot be reached")

    for method in ("size", "open"):
        with monkeypatch.context() as m:
            m.setattr(LocalStore, method, down)
            with pytest.raises(BackendUnavailableError):
                open_update(store, sound, identity, like=None if method == "open" else model())


def test_updates_are_sealed_and_opened_without_plaintext_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A participant's model update is derived from its private pixels: the aggregator opened
    each one by decrypting it into a file in TMPDIR (and the participant sealed it from one),
    which a node killed meanwhile left there. Both now stay in memory: no temporary file or
    directory is made."""
    import tempfile

    from eotrust.crypto.keys import generate_identity
    from eotrust.federated.update import open_update, seal_update
    from eotrust.store.local import LocalStore

    store = LocalStore(tmp_path / "store")
    identity, recipient = generate_identity()

    def no_temporary(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("an update's plaintext went to a temporary file")

    for name in ("TemporaryDirectory", "NamedTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, no_temporary)
    update = Update(TASK, 0, 1, 10, delta(1))
    sealed = seal_update(store, update, [recipient])
    opened = open_update(store, sealed, identity, like=model())
    assert opened.samples == 10 and all(np.array_equal(opened.delta[k], update.delta[k]) for k in update.delta)


def test_a_participant_reads_no_model_larger_than_its_plans_nor_a_huge_plan(tmp_path: Path) -> None:
    """Attack: the aggregator publishes a huge object as the next global model, or the submitter
    names one as the plan; a participant read either whole into memory."""
    from fed_world import tiny_plan

    from eotrust.federated.roles import MAX_PLAN_BYTES, read_model, read_plan
    from eotrust.store.local import LocalStore

    store = LocalStore(tmp_path / "store")
    plan = tiny_plan()
    plan_cid = store.put_bytes(plan.canonical())
    assert read_plan(store, plan_cid) == plan
    sound = store.put_bytes(encode(plan.initial_weights()))
    model_bytes = len(encode(plan.initial_weights()))  # every round's model is this size
    assert store.size(sound) == model_bytes
    assert set(read_model(store, sound, like=plan.initial_weights())) == set(plan.initial_weights())
    huge = store.put_bytes(bytes(model_bytes + 1))
    with pytest.raises(InvalidInputError, match=r"the global model .* bytes; at most \d+ are read"):
        read_model(store, huge, like=plan.initial_weights())
    with pytest.raises(InvalidInputError, match=r"the plan .* bytes; at most \d+ are read"):
        read_plan(store, store.put_bytes(bytes(MAX_PLAN_BYTES + 1)))


def test_one_federated_node_per_party_role_and_home(tmp_path: Path) -> None:
    """Two aggregators (or participants) of one party on one home would both aggregate (train),
    seal and journal the same round, and one of them fail at the ledger; the second is refused
    in one line naming the first one's pid. Another role of the party is not held back."""
    import os

    from eotrust.backends import Backends
    from eotrust.errors import StateError
    from eotrust.federated.data import PixelSet
    from eotrust.nodes.federated import FederatedNode
    from eotrust.party import Role, create_party
    from eotrust.settings import load_settings

    settings = load_settings(home=tmp_path / "home")
    party = create_party(settings, "hpc", Role.PLATFORM_OWNER)
    backends = Backends(settings)
    first, second = FederatedNode(backends, party, "aggregator"), FederatedNode(backends, party, "aggregator")
    with first.exclusive(), first.exclusive():  # re-entrant for the node that holds it
        with pytest.raises(StateError, match=rf"aggregator of 'hpc' already runs on this home \(pid {os.getpid()}\)"):
            second.step_all()
        with pytest.raises(StateError, match="already runs"):
            second.run()
        empty = PixelSet(np.zeros((0, 1, 3), np.float32), np.zeros(0, np.int64))
        with FederatedNode(backends, party, "participant", data=empty).exclusive():
            pass  # a participant of the same party is another node
    with second.exclusive():
        pass  # the first let go
