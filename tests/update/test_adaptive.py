"""The adaptive controller: its bandit, its cost penalty, its rollback, and the arena name."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from freshrec.data.batch import EventBatch, as_batch
from freshrec.data.synthetic import synthetic_stream
from freshrec.jobs.arena import run_arena_job
from freshrec.models import BPR, MostPopular
from freshrec.update.adaptive import Adaptive, HeldOutCheck, UpdateBandit
from freshrec.update.guard import Guarded, HeldOutTest
from freshrec.update.strategies import FineTune, FullRetrain, Streaming, make_strategy


def _events(users: list[str], items: list[str], start: float = 0.0) -> EventBatch:
    n = len(users)
    return EventBatch(
        np.array(users, dtype=object),
        np.array(items, dtype=object),
        np.ones(n),
        timestamp=start + np.arange(n, dtype=np.float64),
    )


class _NeverAlarms:
    drift_detected = False

    def update(self, x: float) -> None:
        pass


def test_bandit_prefers_cheap_gains_and_forgets_old_rewards() -> None:
    bandit = UpdateBandit(["noop", "a", "b"], prior_gain=0.0, exploration=0.0, discount=0.5)
    costs = {"noop": 0.0, "a": 0.1, "b": 0.1}
    bandit.update("calm", "a", 0.5)
    bandit.update("calm", "b", 0.3)
    assert bandit.choose("calm", costs) == "a"
    for _ in range(4):  # a's good reward fades under discounting once b keeps doing well
        bandit.update("calm", "b", 0.3)
    bandit.update("calm", "a", -0.2)
    assert bandit.choose("calm", costs) == "b"
    assert bandit.choose("drift", costs) == "noop"  # a context of its own, nothing tried
    with pytest.raises(ValueError, match="discount"):
        UpdateBandit(["noop"], discount=0.0)


def test_a_harmful_update_is_rolled_back_in_place() -> None:
    prime = _events([f"old{i}" for i in range(30)], ["b"] * 30)
    model = MostPopular().fit(prime)
    # the learned part makes "a" the most popular item; the held-out users all take "b"
    window = _events([f"new{i}" for i in range(50)], ["a"] * 40 + ["b"] * 10, start=100.0)
    controller = Adaptive(
        ["streaming"], cost_weight=0.0, check=HeldOutCheck(share=0.2, k=1), detector=_NeverAlarms
    )
    controller.prime(prime)
    report = controller.step(model, window)
    entry = controller.log[-1]
    assert entry["action"] == "streaming" and entry["rolled_back"]
    assert entry["gain"] == -1.0  # every held-out hit lost
    assert not report.trained
    assert model.n_events_ == 30 and model.recommend("anyone", k=1)[0].item == "b"


def test_a_helpful_update_is_kept() -> None:
    prime = _events([f"old{i}" for i in range(30)], ["b"] * 30)
    model = MostPopular().fit(prime)
    window = _events([f"new{i}" for i in range(50)], ["a"] * 50, start=100.0)
    controller = Adaptive(
        ["streaming"], cost_weight=0.0, check=HeldOutCheck(share=0.2, k=1), detector=_NeverAlarms
    )
    controller.prime(prime)
    report = controller.step(model, window)
    assert report.trained and not controller.log[-1]["rolled_back"]
    assert controller.log[-1]["gain"] > 0
    assert model.n_events_ == 30 + 40 + 10  # the held-out 10 learned once the check passed


@pytest.fixture()
def warm_bpr() -> tuple[BPR, EventBatch, list[EventBatch]]:
    """BPR fitted on the first half of a synthetic stream, and the rest in three windows."""
    stream = as_batch(synthetic_stream(n_users=60, n_items=50, n_events=2400, seed=1).events)
    ordered = stream.sort_by_time()
    windows = [ordered[start : start + 400] for start in range(1200, 2400, 400)]
    return BPR(n_factors=8, n_epochs=5, seed=0).fit(ordered[:1200]), ordered[:1200], windows


def test_expensive_actions_are_not_taken_when_their_cost_outweighs_any_gain(warm_bpr) -> None:
    model, warm, windows = warm_bpr
    controller = Adaptive(cost_weight=100.0, detector=_NeverAlarms)
    controller.prime(warm)
    for window in windows:
        report = controller.step(model, window)
        assert not report.trained
    assert {entry["action"] for entry in controller.log} == {"noop"}
    assert model.n_events_ == 1200


def test_cheap_updates_are_learned_and_counted(warm_bpr) -> None:
    model, warm, windows = warm_bpr
    controller = Adaptive(cost_weight=0.01, detector=_NeverAlarms)
    controller.prime(warm)
    reports = [controller.step(model, window) for window in windows]
    assert controller.log[0]["action"] == "streaming"  # the cheapest untried action
    assert all(r.seconds > 0 for r in reports)
    assert any(r.trained for r in reports) and model.n_events_ != 1200
    # the full action's sliding window was chosen at the first window, on the warm start's tail
    assert controller.full.choice is not None and controller.full.choice.tried


def test_an_action_judged_on_one_bad_measurement_is_tried_again() -> None:
    bandit = UpdateBandit(["noop", "a"], prior_gain=0.0, exploration=0.02, discount=0.9)
    costs = {"noop": 0.0, "a": 0.01}
    bandit.update("calm", "a", -0.05)
    waited = 0
    while bandit.choose("calm", costs) == "noop" and waited < 50:
        bandit.update("calm", "noop", 0.0)
        waited += 1
    assert 0 < waited < 50  # idle rounds fade the estimate until the bonus repays a retry


def test_an_untried_action_is_tried_when_the_best_gain_so_far_would_repay_it() -> None:
    bandit = UpdateBandit(["noop", "a", "b", "c"], prior_gain=0.0, exploration=0.0)
    costs = {"noop": 0.0, "a": 0.01, "b": 0.5, "c": 2.0}
    bandit.update("calm", "a", 1.0)
    assert bandit.choose("calm", costs) == "b"  # a gain like a's would repay it
    bandit.update("calm", "b", 0.2)
    assert bandit.choose("calm", costs) == "a"  # c costs more than any gain seen: not tried


def test_a_rollback_restores_exactly_what_the_model_had_learned(warm_bpr) -> None:
    model, warm, windows = warm_bpr
    before = copy.deepcopy(model)
    controller = Adaptive(
        ["full"], cost_weight=0.0, check=HeldOutCheck(z=-100.0), detector=_NeverAlarms
    )
    controller.prime(warm)
    assert not controller.step(model, windows[0]).trained and controller.log[-1]["rolled_back"]
    users = np.arange(model.n_users)
    assert np.array_equal(model.score_batch(users), before.score_batch(users))
    assert (model.n_events_, model.n_items) == (before.n_events_, before.n_items)
    assert model.rng_.random() == before.rng_.random()  # the RNG is put back too
    assert model.get_params() == before.get_params()


def test_the_actions_are_the_update_strategies_and_every_window_joins_them(warm_bpr) -> None:
    model, warm, windows = warm_bpr
    controller = Adaptive(["finetune-replay"], cost_weight=0.0, detector=_NeverAlarms)
    assert isinstance(controller.streaming, Streaming)
    assert isinstance(controller.finetune, FineTune) and isinstance(controller.full, FullRetrain)
    controller.prime(warm)
    for window in windows:
        controller.step(model, window)
    # the held-out tenth is learned once the update passed; after a rollback it waits
    learned = len(warm) + 3 * 400 - (40 if controller.log[-1]["rolled_back"] else 0)
    assert controller.finetune.replay is not None
    assert controller.finetune.replay.n_seen == len(controller.full.history) == learned


def test_unknown_actions_and_bad_held_out_shares_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown actions"):
        Adaptive(["nightly"])
    with pytest.raises(ValueError, match="share"):
        HeldOutCheck(share=1.0)


def test_arena_runs_the_adaptive_strategy_by_name() -> None:
    assert isinstance(make_strategy("adaptive", {"cost_weight": 0.1}), Adaptive)
    data = synthetic_stream(n_users=80, n_items=60, n_events=3000, seed=0)
    results, runs = run_arena_job(
        data,
        "bpr",
        ["adaptive", "frozen"],
        n_windows=3,
        overrides={"bpr": {"n_epochs": 3}, "adaptive": {"cost_weight": 0.01}},
    )
    assert {r.strategy for r in runs[0].windows} == {"adaptive", "frozen"}
    assert results.row("adaptive", "ndcg@10").value >= 0.0


def test_the_hit_test_masks_what_each_user_took_before() -> None:
    prime = _events(["x", "y", "u", "z"], ["a", "a", "a", "b"])
    model = MostPopular().fit(prime)
    held = _events(["u", "v"], ["b", "b"], start=10.0)
    masked, unmasked = (
        HeldOutTest(HeldOutCheck(k=1)),
        HeldOutTest(HeldOutCheck(k=1, exclude_seen=False)),
    )
    for test in (masked, unmasked):
        test.prime(prime)
    assert masked.hits(model, held).tolist() == [True, False]  # only u had "a"
    assert unmasked.hits(model, held).tolist() == [False, False]


def test_a_guarded_strategy_rejects_a_harmful_update_and_keeps_a_helpful_one() -> None:
    prime = _events([f"old{i}" for i in range(30)], ["b"] * 30)
    harmful = _events([f"new{i}" for i in range(50)], ["a"] * 40 + ["b"] * 10, start=100.0)
    model = MostPopular().fit(prime)
    guarded = Guarded(FullRetrain(window=40), HeldOutCheck(share=0.2, k=1))
    guarded.prime(prime)
    report = guarded.step(model, harmful)
    assert report.action == "rejected" and not report.trained and report.seconds > 0
    assert model.recommend("anyone", k=1)[0].item == "b" and model.n_events_ == 30
    helpful = _events([f"next{i}" for i in range(50)], ["a"] * 50, start=200.0)
    assert guarded.step(model, helpful).action == "kept"
    assert (guarded.checked, guarded.rejected) == (2, 1)


def test_the_arena_guards_sequential_models_by_default() -> None:
    data = synthetic_stream(n_users=40, n_items=30, n_events=1200, seed=0)
    settings = {"gru4rec": {"n_epochs": 1, "dim": 8}, "finetune": {"epochs": 1}}
    _, runs = run_arena_job(
        data, "gru4rec", ["frozen", "finetune"], n_windows=2, overrides=settings
    )
    actions = {r.action for r in runs[0].windows if r.strategy == "finetune"}
    assert actions <= {"kept", "rejected"} and actions
    _, runs = run_arena_job(
        data,
        "gru4rec",
        ["finetune"],
        n_windows=2,
        overrides={**settings, "finetune": {"epochs": 1, "guard": False}},
    )
    assert {r.action for r in runs[0].windows} == {None}
    with pytest.raises(ValueError, match="guard"):
        run_arena_job(data, "bpr", ["finetune"], overrides={"finetune": {"guard": "maybe"}})
