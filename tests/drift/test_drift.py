"""Drifting synthetic streams (ground truth), river detector adapters, signals and scoring."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data.drifting import Drift, drifting_stream
from freshrec.drift import (
    RiverDetector,
    alarms,
    error_stream,
    new_id_rate,
    popularity_shift,
    score_alarms,
)
from freshrec.models import BiasedMF, MostPopular


def test_abrupt_drift_redraws_the_chosen_users_tastes():
    drift = Drift("abrupt", at=20_000, share=0.5)
    stream = drifting_stream(n_users=200, n_items=100, n_events=40_000, drifts=[drift], seed=1)
    (affected,) = stream.affected_users
    assert len(affected) == 100
    model = BiasedMF(n_factors=8, lr=0.05, bias_lr=0.025, l2=0.0, l2_latent=0.0, seed=0)
    errors = error_stream(model, stream.events)
    hit = np.isin(stream.events.user, affected)
    before, after = slice(15_000, 20_000), slice(20_000, 22_000)
    # the affected users' error jumps at the drift; the others' does not
    assert errors[after][hit[after]].mean() > errors[before][hit[before]].mean() + 0.15
    assert errors[after][~hit[after]].mean() < errors[before][~hit[before]].mean() + 0.05


def test_gradual_drift_moves_tastes_over_its_span():
    def mean_error(kind: str, span: int) -> float:
        stream = drifting_stream(
            n_users=200, n_items=100, n_events=40_000, drifts=[Drift(kind, 20_000, 1.0, span)]
        )
        model = BiasedMF(n_factors=8, lr=0.05, bias_lr=0.025, l2=0.0, l2_latent=0.0)
        return float(error_stream(model, stream.events)[20_000:21_000].mean())

    assert mean_error("gradual", 10_000) < mean_error("abrupt", 0) - 0.1


def test_popularity_drift_changes_what_is_picked():
    quiet = drifting_stream(n_events=20_000, seed=2)
    shifted = drifting_stream(n_events=20_000, drifts=[Drift("popularity", 10_000)], seed=2)
    assert popularity_shift(quiet.events, 10_000)[1] < 0.2
    assert popularity_shift(shifted.events, 10_000)[1] > 0.5
    assert shifted.affected_users[0].size == 0


def test_streams_are_seeded_and_checked():
    a = drifting_stream(n_events=500, seed=3).events
    b = drifting_stream(n_events=500, seed=3).events
    assert np.array_equal(a.item, b.item) and np.array_equal(a.value, b.value)
    with pytest.raises(ValueError, match="past the"):
        drifting_stream(n_events=100, drifts=[Drift("abrupt", 200)])
    with pytest.raises(ValueError, match="kind"):
        Drift("sudden", 10)
    with pytest.raises(ValueError, match="share"):
        Drift("abrupt", 10, share=0.0)


def test_detectors_find_a_mean_shift_and_stay_quiet_without_one():
    rng = np.random.default_rng(0)
    quiet = rng.normal(0.6, 0.5, 40_000)
    shifted = np.r_[quiet[:20_000], rng.normal(0.85, 0.5, 20_000)]
    for name, params in (("adwin", {}), ("page-hinkley", {"threshold": 1.0, "delta": 0.02})):
        detector_params = {**params, "mode": "up"} if name == "page-hinkley" else params
        block = 50 if name == "page-hinkley" else 1
        found = alarms(RiverDetector(name, **detector_params), shifted, block=block)
        assert len(found) and 20_000 <= found[0] < 21_000, (name, found[:3])
    calm = alarms(
        RiverDetector("page-hinkley", threshold=1.0, delta=0.02, mode="up"), quiet, block=50
    )
    assert len(calm) == 0


def test_scoring_attributes_first_alarms_and_counts_the_rest():
    score = score_alarms(np.array([10, 1005, 1010, 3000]), [1000, 2000], n_events=4000)
    assert score.delays == (5, 1000)
    assert score.false_alarms == 2  # 10 (before any drift) and 1010 (already detected)
    missed = score_alarms(np.array([]), [1000], n_events=2000)
    assert missed.delays == (None,) and missed.false_alarms == 0


def test_signals_check_their_inputs():
    with pytest.raises(ValueError, match="unknown detector"):
        RiverDetector("cusum")
    with pytest.raises(ValueError, match="learn_predict"):
        error_stream(MostPopular(), drifting_stream(n_events=10).events)
    with pytest.raises(ValueError, match="block"):
        alarms(RiverDetector("adwin"), np.zeros(3), block=0)
    events = drifting_stream(n_users=50, n_events=2000).events
    rates = new_id_rate(events, 500)
    assert rates[0] > rates[-1] and np.all((rates >= 0) & (rates <= 1))


def test_miss_stream_counts_items_outside_the_top_k():
    from freshrec.data.batch import EventBatch
    from freshrec.drift import miss_stream

    # item 1 is the most popular, then 2; user 9 has seen 1, so its top-1 is 2
    train = EventBatch(np.array([1, 2, 3, 9, 4]), np.array([1, 1, 1, 1, 2]), np.ones(5))
    model = MostPopular().fit(train)
    probe = EventBatch(np.array([9, 9, 5, 5]), np.array([2, 3, 1, 99]), np.ones(4))
    assert miss_stream(model, probe, k=1, exclude_seen=True).tolist() == [0.0, 1.0, 0.0, 1.0]
    assert miss_stream(model, probe, k=1).tolist() == [1.0, 1.0, 0.0, 1.0]  # 9's top-1 is 1
