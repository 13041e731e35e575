"""Id lifecycle: admission, LRU/LFU/TTL eviction under a row budget, and reuse of freed rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import checkerboard_events
from freshrec.data.batch import EventBatch
from freshrec.models import BPR, MostPopular
from freshrec.models.neumf import NeuMF
from freshrec.update.ids import IdLifecycle, IdPolicy


def _events(users, items, times=None) -> EventBatch:
    users, items = np.asarray(users), np.asarray(items)
    times = np.arange(len(users), dtype=float) if times is None else np.asarray(times, float)
    return EventBatch(users, items, np.ones(len(users)), timestamp=times)


def _neumf() -> NeuMF:
    return NeuMF(n_factors=4, hidden=(8,), n_epochs=1, batch_size=32, lr=0.01)


def _adam_rows(model: NeuMF, table: str) -> dict[str, torch.Tensor]:
    weight = model.module_.get_submodule(table).weight
    state = model.optimizer_.state[weight]
    return {k: v.clone() for k, v in state.items() if k != "step"} | {"weight": weight.clone()}


def test_a_stream_of_ten_times_the_budget_stays_within_it():
    rng = np.random.default_rng(0)
    budget, n_items = 50, 500  # 10x more distinct items than rows
    model = _neumf()
    lifecycle = IdLifecycle(items=IdPolicy(budget=budget))
    evicted = 0
    for step in range(25):
        items = rng.integers(0, n_items, size=80)
        items[:20] = np.arange(step * 20, step * 20 + 20)  # every item shows up at least once
        report = lifecycle.partial_fit(model, _events(rng.integers(0, 30, size=80), items))
        evicted += report.evicted["item"]
        assert model.item_map_.n_active <= budget and len(model.item_map_) <= budget
        assert model.module_.item_gmf.num_embeddings <= budget
    assert evicted > 300  # most items came and went
    assert len(set(model.item_map_.ids) - {None}) == model.item_map_.n_active


def test_evicted_rows_are_reused_and_survivors_keep_their_optimizer_state():
    model = _neumf().fit(checkerboard_events())
    before = _adam_rows(model, "item_gmf")
    assert before["exp_avg_sq"].abs().sum() > 0  # trained: there is state to keep
    _, freed = model.evict(items=["i1", "i4"])
    users, new = model.add_ids(items=["n1", "n2"])
    assert sorted(new.tolist()) == sorted(freed.tolist())  # the freed rows, reused
    assert model.n_items == len(before["weight"])  # the table did not grow
    after = _adam_rows(model, "item_gmf")
    survivors = np.setdiff1d(np.arange(model.n_items), new)
    for key in ("weight", "exp_avg", "exp_avg_sq"):
        assert torch.equal(after[key][survivors], before[key][survivors]), key
    assert after["exp_avg"][new].abs().sum() == 0 and after["exp_avg_sq"][new].abs().sum() == 0
    assert not torch.equal(after["weight"][new], before["weight"][new])  # fresh rows
    model.partial_fit(_events(["u0", "u1"], ["n1", "n2"]))  # and they train
    assert _adam_rows(model, "item_gmf")["exp_avg_sq"][new].abs().sum() > 0


def test_evict_forgets_the_events_and_counts_of_the_ids():
    model = BPR(n_factors=4, n_epochs=2).fit(checkerboard_events())
    (row,) = model.item_map_.encode(["i3"])
    model.evict(items=["i3"])
    _, items, _ = model.history().arrays()
    assert row not in items and model.item_counts_[row] == 0
    ranked = [s.item for s in model.recommend("u0", k=model.n_items)]
    assert "i3" not in ranked and None not in ranked
    assert row not in model.recommend_batch(model.user_map_.encode(["u0"]), model.n_items)


def test_reused_slots_in_partial_fit_start_fresh():
    model = BPR(n_factors=4, n_epochs=1).fit(checkerboard_events())
    _, (row,) = model.evict(items=["i2"])
    model.item_factors_[row] = 7.0  # stale values must not leak to the next occupant
    model.partial_fit(_events(["u0"], ["newcomer"]))
    assert model.item_map_.encode(["newcomer"]).tolist() == [row]
    assert np.abs(model.item_factors_[row]).max() < 1.0


@pytest.mark.parametrize("init", ["zero", "mean"])
def test_add_ids_initialises_rows_as_asked(init):
    model = BPR(n_factors=4, n_epochs=3).fit(checkerboard_events())
    known = model.item_factors_.copy()
    _, (row,) = model.add_ids(items=["fresh"], init=init)
    expected = np.zeros(4) if init == "zero" else known.mean(0)
    assert np.allclose(model.item_factors_[row], expected, atol=1e-6)


def test_lru_evicts_the_least_recently_seen_and_lfu_the_least_frequent():
    def run(eviction: str) -> set:
        model = BPR(n_factors=4, n_epochs=1)
        lifecycle = IdLifecycle(items=IdPolicy(budget=3, eviction=eviction))
        # a: seen 3 times early; b: once, late; c: twice
        lifecycle.partial_fit(model, _events(["u"] * 6, ["a", "a", "a", "c", "c", "b"]))
        lifecycle.partial_fit(model, _events(["u"], ["d"], times=[10.0]))
        return set(model.item_map_.ids) - {None}

    assert run("lru") == {"c", "b", "d"}  # a was seen least recently
    assert run("lfu") == {"a", "c", "d"}  # b was seen least often


def test_ttl_evicts_idle_ids_within_budget():
    model = BPR(n_factors=4, n_epochs=1)
    lifecycle = IdLifecycle(items=IdPolicy(ttl_s=5.0))
    lifecycle.partial_fit(model, _events(["u", "u"], ["old", "new"], times=[0.0, 4.0]))
    report = lifecycle.partial_fit(model, _events(["u"], ["new"], times=[8.0]))
    assert report.evicted["item"] == 1 and "old" not in model.item_map_


def test_min_count_admits_on_the_nth_event():
    model = BPR(n_factors=4, n_epochs=1)
    lifecycle = IdLifecycle(items=IdPolicy(min_count=2))
    first = lifecycle.partial_fit(model, _events(["u", "v"], ["x", "y"]))
    assert first.learned == 0 and first.dropped == 2 and not model.is_fitted
    second = lifecycle.partial_fit(model, _events(["u", "u"], ["x", "z"]))
    assert second.learned == 1 and "x" in model.item_map_ and "z" not in model.item_map_


def test_admission_probability_admits_a_share_of_new_ids():
    model = BPR(n_factors=4, n_epochs=1)
    lifecycle = IdLifecycle(items=IdPolicy(admit_probability=0.3), seed=1)
    n = 2000
    lifecycle.partial_fit(model, _events(np.zeros(n, int), np.arange(n)))
    assert 0.25 < model.item_map_.n_active / n < 0.35


def test_lifecycle_needs_a_model_that_evicts():
    lifecycle = IdLifecycle(items=IdPolicy(budget=2))
    with pytest.raises(ValueError, match="MostPopular does not support evicting"):
        lifecycle.partial_fit(MostPopular(), _events(["u", "u"], ["a", "b"]))


def test_policies_validate_their_settings():
    for bad in ({"budget": 0}, {"ttl_s": 0.0}, {"min_count": 0}, {"admit_probability": 0.0}):
        with pytest.raises(ValueError):
            IdPolicy(**bad)


def test_admitted_items_can_start_from_their_content():
    model = BPR(n_factors=4, n_epochs=1).fit(checkerboard_events())
    content = {"fresh": np.array([1.0, 2.0, 3.0, 4.0])}
    seen: list = []

    def vectors(fitted, ids):
        seen.append(list(ids))
        return np.stack([content[i] for i in ids])

    lifecycle = IdLifecycle(item_vectors=vectors)
    lifecycle.partial_fit(model.set_params(n_epochs=0), _events(["u0"], ["fresh"]))
    assert seen == [["fresh"]]
    row = model.item_map_.encode_one("fresh")
    assert np.allclose(model.item_factors_[row], content["fresh"])
