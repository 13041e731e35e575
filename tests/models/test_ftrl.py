"""FTRL-Proximal logistic regression / factorization machine over hashed fields."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data.batch import EventBatch
from freshrec.data.dataset import SideTable
from freshrec.evaluation.metrics import auc
from freshrec.models.ftrl import FTRLFM, FeatureHasher


def _clicks(n: int = 6000, seed: int = 0) -> EventBatch:
    """Clicks that depend on the (user, item-category) pair only: a factor problem."""
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, 40, n), rng.integers(0, 30, n)
    taste = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 3))
    rate = 1 / (1 + np.exp(-(taste[users, items % 3] * 1.5 - 1.5)))
    return EventBatch(users, items, (rng.random(n) < rate).astype(float))


def _items() -> SideTable:
    ids = np.arange(30)
    return SideTable(ids, {"genre": np.array([f"g{i % 3}" for i in ids], dtype=object)})


def test_factors_learn_the_interaction_that_linear_terms_cannot():
    events, items = _clicks(), _items()
    fields = ("user", "item.genre")
    linear = FTRLFM(fields=fields, n_factors=0).learn_predict(events, items)
    factored = FTRLFM(fields=fields, n_factors=4, seed=1).learn_predict(events, items)
    late = slice(3000, None)
    labels = events.value[late]
    assert auc(labels, factored[late]) > auc(labels, linear[late]) + 0.03
    assert auc(labels, factored[late]) > 0.7


def test_predict_proba_does_not_learn():
    events, items = _clicks(2000), _items()
    model = FTRLFM(fields=("user", "item.genre")).partial_fit(events[:1000], items)
    before = model.predict_proba(events[1000:], items)
    again = model.predict_proba(events[1000:], items)
    assert np.array_equal(before, again)
    assert np.all((before > 0) & (before < 1))


def test_l1_keeps_rare_features_at_exactly_zero():
    events = _clicks(3000)
    model = FTRLFM(fields=("user", "item"), n_factors=0, l1=50.0).partial_fit(events)
    weights = np.where(np.abs(model.z_) <= 50.0, 0.0, 1.0)
    assert weights.sum() < 0.5 * (model.n_ > 0).sum()


def test_hasher_separates_fields_and_reads_side_tables():
    batch = EventBatch(np.array([7, 7]), np.array([7, 8]), np.ones(2))
    codes = FeatureHasher(("user", "item", "item.genre"), n_bits=16, items=_items())(batch)
    assert codes[0, 0] != codes[0, 1]  # the same value 7 in two fields, two buckets
    assert codes[0, 2] != codes[1, 2]  # items 7 and 8 have other genres
    with pytest.raises(ValueError, match="unknown field"):
        FeatureHasher(("item.price",), items=_items())(batch)


def test_pairs_must_name_known_fields():
    with pytest.raises(ValueError, match="names a field"):
        FTRLFM(fields=("user", "item"), pairs=("user*brand",)).learn_predict(_clicks(50))
