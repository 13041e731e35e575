"""The popularity prior of factor models: what it adds, its inner-product form, its choice."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data.batch import EventBatch
from freshrec.data.synthetic import synthetic_stream
from freshrec.jobs.arena import run_arena_job
from freshrec.models import ALS, BPR, MostPopular
from freshrec.models.caser import Caser
from freshrec.models.gru4rec import GRU4Rec
from freshrec.models.prior import GRID, choose_popularity_prior
from freshrec.models.sasrec import SASRec


def _events() -> EventBatch:
    return synthetic_stream(n_users=80, n_items=60, n_events=3000, seed=0).events


@pytest.mark.parametrize("cls", [BPR, ALS])
def test_the_prior_weighs_less_as_a_user_s_history_grows(cls) -> None:
    events = _events()
    plain = cls(n_factors=8, seed=0).fit(events)
    blended = cls(n_factors=8, seed=0, popularity_prior=2.0).fit(events)
    users = np.arange(plain.n_users)
    added = blended.score_batch(users) - plain.score_batch(users)
    lengths = np.diff(plain.positives_csr().indptr)
    expected = np.outer(2.0 / (1.0 + lengths), np.log1p(plain.item_counts_))
    np.testing.assert_allclose(added, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [BPR, ALS])
def test_the_scores_stay_inner_products_of_keys_and_queries(cls) -> None:
    model = cls(n_factors=8, seed=0, popularity_prior=0.5).fit(_events())
    users = np.array([0, 3, 7])
    products = model.user_queries(users) @ model.item_keys().T
    np.testing.assert_allclose(products, model.score_batch(users), rtol=1e-4, atol=1e-4)


def test_the_prior_is_recounted_after_learning() -> None:
    events = _events()
    model = BPR(n_factors=8, n_epochs=2, popularity_prior=1.0).fit(events[:2000])
    user = model.user_map_.encode_one(events.user[0])
    (before,), _ = model.prior_columns(np.array([user]))
    new_items = np.array([f"new{i}" for i in range(5)], dtype=object)
    model.partial_fit(EventBatch(np.full(5, events.user[0]), new_items, np.ones(5)))
    (after,), items = model.prior_columns(np.array([user]))
    assert 1.0 / after == pytest.approx(1.0 / before + 5)  # five more events in its history
    assert len(items) == model.n_items


def test_the_weight_is_chosen_on_held_out_events() -> None:
    choice = choose_popularity_prior(BPR(n_factors=8, n_epochs=5, seed=0), _events())
    assert choice.weight in GRID and set(choice.tried) == set(GRID)
    assert choice.tried[choice.weight] == max(choice.tried.values())
    with pytest.raises(ValueError, match="popularity_prior"):
        choose_popularity_prior(MostPopular(), _events())


def test_the_arena_chooses_the_prior_per_seed() -> None:
    data = synthetic_stream(n_users=80, n_items=60, n_events=3000, seed=0)
    results, _ = run_arena_job(
        data,
        "bpr",
        ["frozen"],
        n_windows=2,
        seeds=(0, 1),
        overrides={"bpr": {"popularity_prior": "auto", "n_epochs": 3}},
    )
    chosen = results.params["popularity_prior_by_seed"]
    assert set(chosen) == {"0", "1"} and all(c["weight"] in GRID for c in chosen.values())


@pytest.mark.parametrize("cls", [SASRec, GRU4Rec, Caser])
def test_sequential_models_add_the_prior_by_sequence_length(cls) -> None:
    events = _events()
    settings = {"dim": 8, "max_len": 6, "n_epochs": 1, "seed": 0}
    plain = cls(**settings).fit(events)
    blended = cls(**settings, popularity_prior=3.0).fit(events)
    users = np.arange(plain.n_users)
    added = blended.score_batch(users) - plain.score_batch(users)
    lengths = np.array([len(plain.user_sequence(u)) for u in plain.user_map_.decode(users)])
    expected = np.outer(3.0 / (1.0 + lengths), np.log1p(plain.item_counts_))
    np.testing.assert_allclose(added, expected, rtol=1e-4, atol=1e-4)


def test_an_observed_item_lengthens_the_sequence_the_prior_reads() -> None:
    events = _events()
    model = SASRec(dim=8, max_len=6, n_epochs=1, seed=0, popularity_prior=1.0).fit(events)
    user = model.user_map_.encode_one(events.user[0])
    before = model.history_lengths()[user]
    model.observe(EventBatch(np.array([events.user[0]]), np.array([events.item[1]]), np.ones(1)))
    assert model.history_lengths()[user] == before + 1


def test_the_weight_of_a_sequential_model_is_chosen_on_held_out_events() -> None:
    choice = choose_popularity_prior(SASRec(dim=8, max_len=6, n_epochs=2, seed=0), _events())
    assert choice.weight in GRID and choice.tried[choice.weight] == max(choice.tried.values())


def test_the_arena_chooses_a_sequential_model_s_prior_unless_told() -> None:
    data = synthetic_stream(n_users=40, n_items=30, n_events=1200, seed=0)
    settings = {"gru4rec": {"n_epochs": 1, "dim": 8}}
    results, _ = run_arena_job(data, "gru4rec", ["frozen"], n_windows=2, overrides=settings)
    assert results.params["popularity_prior_by_seed"]["0"]["weight"] in GRID
    off = {"gru4rec": {**settings["gru4rec"], "popularity_prior": 0.0}}
    results, _ = run_arena_job(data, "gru4rec", ["frozen"], n_windows=2, overrides=off)
    assert "popularity_prior_by_seed" not in results.params
    assert results.params["gru4rec"]["popularity_prior"] == 0.0
