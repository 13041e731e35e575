"""Online boosting of Hoeffding trees (river) for clicks: learns, predicts, matches FTRL's API."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data.batch import EventBatch
from freshrec.evaluation.metrics import auc
from freshrec.models.online_boosting import OnlineBoosting


def _clicks(n: int, seed: int = 0) -> tuple[EventBatch, np.ndarray]:
    rng = np.random.default_rng(seed)
    shown, slot = rng.integers(0, 6, n), rng.integers(1, 4, n)
    clicks = (rng.random(n) < np.where((shown < 2) & (slot == 1), 0.7, 0.05)).astype(float)
    return EventBatch(np.zeros(n, int), shown, clicks, context={"slot": slot}), clicks


def test_learn_predict_is_test_then_train() -> None:
    events, clicks = _clicks(6000)
    model = OnlineBoosting(fields=("item", "context.slot"), n_models=3, grace_period=50)
    predicted = model.learn_predict(events)
    assert predicted.shape == (6000,) and np.all((predicted >= 0) & (predicted <= 1))
    assert predicted[0] == 0.0  # nothing learned before the first event
    assert auc(clicks[3000:], predicted[3000:]) > 0.75


def test_predict_proba_does_not_learn() -> None:
    events, _ = _clicks(2000)
    model = OnlineBoosting(fields=("item", "context.slot"), n_models=2).partial_fit(events)
    first = model.predict_proba(events[:100])
    np.testing.assert_array_equal(model.predict_proba(events[:100]), first)


def test_unknown_fields_are_named() -> None:
    events, _ = _clicks(10)
    with pytest.raises(ValueError, match="unknown field 'context.page'"):
        OnlineBoosting(fields=("context.page",)).learn_predict(events)
