"""The stream and settings the learner tests share."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.base import RecommenderBase
from freshrec.data.batch import EventBatch, as_batch
from freshrec.data.synthetic import synthetic_stream

SETTINGS = {"micro_batch": 100, "candidate_every": 2000, "guard_events": 500}


@pytest.fixture(scope="module")
def stream() -> EventBatch:
    batch = as_batch(synthetic_stream(n_users=120, n_items=80, n_events=6000, seed=2).events)
    batch = batch.sort_by_time()
    return EventBatch(
        batch.user, batch.item, batch.value, timestamp=batch.timestamp, event_id=np.arange(6000)
    )


def scores(model: RecommenderBase) -> np.ndarray:
    """Every known user's scores of every item."""
    return model.score_batch(np.arange(model.n_users))
