"""Forgetting control: EWC anchors and self-distillation on BPR, and their use in FineTune."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from freshrec.data.batch import as_batch
from freshrec.data.synthetic import synthetic_stream
from freshrec.models import BPR, MostPopular
from freshrec.update.forgetting import EWC, Distillation
from freshrec.update.strategies import FineTune, make_strategy


@pytest.fixture(scope="module")
def split():
    events = as_batch(synthetic_stream(n_users=80, n_items=60, n_events=3000, seed=3).events)
    ordered = events.sort_by_time()
    return ordered[:2000], ordered[2000:]


@pytest.fixture(scope="module")
def trained(split):
    return BPR(n_factors=8, n_epochs=30, seed=0).fit(split[0])


def _triple_scores(model: BPR, triples: np.ndarray) -> np.ndarray:
    u, i, j = triples.T
    p = model.user_factors_[u]
    x = (p * (model.item_factors_[i] - model.item_factors_[j])).sum(1)
    return 1.0 / (1.0 + np.exp(-(x + model.item_bias_[i] - model.item_bias_[j])))


def test_fisher_is_zero_for_users_the_events_do_not_touch(trained, split):
    old = split[0]
    some_users = np.unique(old.user)[:10]
    info = trained.fisher(old.take(np.isin(old.user, some_users)))
    touched = trained.user_map_.encode(some_users)
    untouched = np.setdiff1d(np.arange(trained.n_users), touched)
    assert info["user_factors_"][touched].sum() > 0
    assert np.all(info["user_factors_"][untouched] == 0)


def test_strong_anchor_keeps_parameters_and_weak_one_lets_them_move(trained, split):
    def moved(strength: float) -> float:
        model = copy.deepcopy(trained)
        EWC(strength).before_update(model, split[0])
        model.set_params(n_epochs=5).partial_fit(split[1])
        n = trained.n_items
        return float(np.abs(model.item_factors_[:n] - trained.item_factors_).mean())

    assert moved(1e4) < 0.2 * moved(0.0)


def test_anchor_rejects_weights_of_the_wrong_shape(trained):
    model = copy.deepcopy(trained)
    weights = {k: np.ones((2, 2)) for k in ("user_factors_", "item_factors_", "item_bias_")}
    with pytest.raises(ValueError, match="expected"):
        model.anchor(weights)


def test_distillation_keeps_old_preferences_closer_to_the_teacher(trained, split):
    rng = np.random.default_rng(0)
    triples = np.column_stack(
        [rng.integers(trained.n_users, size=5000), *rng.integers(trained.n_items, size=(2, 5000))]
    )
    teacher = _triple_scores(trained, triples)

    def gap(weight: float) -> float:
        model = copy.deepcopy(trained)
        if weight:
            Distillation(weight).before_update(model, split[0])
        model.set_params(n_epochs=20).partial_fit(split[1])
        return float(np.abs(_triple_scores(model, triples) - teacher).mean())

    assert gap(2.0) < 0.8 * gap(0.0)


def test_finetune_attaches_the_control_only_during_the_update(trained, split):
    model = copy.deepcopy(trained)
    for name in ("finetune-ewc", "finetune-distill"):
        strategy = make_strategy(name, {"epochs": 2})
        strategy.prime(split[0])
        assert strategy.step(model, split[1]).trained
        assert not hasattr(model, "anchor_") and not hasattr(model, "teacher_")


def test_forgetting_control_needs_a_model_that_supports_it(split):
    strategy = FineTune(forgetting=EWC())
    strategy.prime(split[0])
    with pytest.raises(ValueError, match="does not support this forgetting control"):
        strategy.step(MostPopular().fit(split[0]), split[1])


def test_controls_reject_negative_strengths():
    with pytest.raises(ValueError, match="strength"):
        EWC(-1.0)
    with pytest.raises(ValueError, match="weight"):
        Distillation(-0.5)
