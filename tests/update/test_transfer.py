"""Transfer: per-user subsampling and fine-tuning a target model from a source model."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data.batch import EventBatch
from freshrec.models import BPR, MostPopular
from freshrec.update.transfer import fine_tune_from, subsample_per_user


def _events(n_users: int, n_items: int, n: int, seed: int) -> EventBatch:
    rng = np.random.default_rng(seed)
    return EventBatch(rng.integers(0, n_users, n), rng.integers(0, n_items, n), np.ones(n))


def test_subsample_keeps_the_expected_share_of_every_user():
    batch = EventBatch(np.repeat(np.arange(200), 20), np.arange(4000), np.ones(4000))
    kept = subsample_per_user(batch, 0.25, seed=1)
    per_user = np.bincount(kept.user, minlength=200)
    assert np.all(per_user == 5)  # 0.25 * 20 is whole: no rounding
    assert np.all(np.diff(kept.item) > 0)  # row order kept
    sparse = subsample_per_user(batch, 0.01, seed=1)  # 0.2 expected per user
    assert 20 < len(sparse) < 60 and len(np.unique(sparse.user)) == len(sparse)


def test_subsample_is_seeded_and_checks_the_fraction():
    batch = _events(30, 50, 600, seed=0)
    assert subsample_per_user(batch, 0.3, seed=4).item.tolist() == (
        subsample_per_user(batch, 0.3, seed=4).item.tolist()
    )
    with pytest.raises(ValueError, match="fraction"):
        subsample_per_user(batch, 0.0)


def test_fine_tune_from_starts_shared_users_at_their_source_vectors():
    source = BPR(n_factors=8, n_epochs=20, seed=0).fit(_events(40, 60, 1200, seed=1))
    target_events = _events(20, 30, 300, seed=2)  # users 0..19 only; items of another domain
    target = fine_tune_from(source, BPR(n_factors=8, n_epochs=10, seed=0), target_events)
    # users 20..39 have no target event: they keep their source vectors exactly
    for user in range(20, 40):
        got = target.user_factors_[target.user_map_.encode_one(user)]
        assert np.array_equal(got, source.user_factors_[source.user_map_.encode_one(user)])
    # users with target events moved away from their starting point
    active = target.user_factors_[target.user_map_.encode([0, 1, 2])]
    assert not np.allclose(active, source.user_factors_[source.user_map_.encode([0, 1, 2])])
    assert target.n_events_ == len(target_events) and target.n_epochs == 10


def test_fine_tune_from_needs_a_target_that_rehearses():
    source = BPR(n_factors=4, n_epochs=1).fit(_events(5, 5, 20, seed=0))
    with pytest.raises(ValueError, match="cannot be fine-tuned"):
        fine_tune_from(source, MostPopular(), _events(5, 5, 20, seed=1))
