"""Full retraining's recency option: the window chosen on the warm start's tail, once."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data.batch import EventBatch
from freshrec.drift.detectors import HitRateDrop, alarms
from freshrec.models import MostPopular
from freshrec.update.recency import choose_window
from freshrec.update.strategies import FullRetrain, OnDrift


def _turnover(n_old: int = 3000, n_new: int = 400, seed: int = 0) -> EventBatch:
    """Old events on items 0-9; then the catalogue turns over to items 10-14."""
    rng = np.random.default_rng(seed)
    users = np.arange(n_old + n_new)  # one event per user: nothing masked
    items = np.r_[rng.integers(0, 10, n_old), rng.integers(10, 15, n_new)]
    return EventBatch(
        users, items, np.ones(len(users)), timestamp=np.arange(len(users), dtype=float)
    )


def test_a_turned_over_catalogue_gets_a_short_window() -> None:
    events = _turnover()
    choice = choose_window(MostPopular(), events, tail=200, k=3)
    assert choice.window in (200, 400)  # 400: half new events, ties go to the larger window
    assert choice.tried[choice.window] > 0.5 and choice.tried[800] == 0.0  # old items win
    assert choice.seconds >= 0.0


def test_a_stable_stream_keeps_all_its_history() -> None:
    rng = np.random.default_rng(1)
    items = rng.choice(20, 4000, p=np.r_[np.full(5, 0.15), np.full(15, 0.25 / 15)])
    events = EventBatch(np.arange(4000), items, np.ones(4000))
    choice = choose_window(MostPopular(), events, tail=200, k=5)
    assert choice.window is None or choice.tried[choice.window] == choice.tried[None]


def test_the_search_stops_once_larger_windows_keep_losing() -> None:
    events = _turnover(n_old=20_000, n_new=400)
    choice = choose_window(MostPopular(), events, tail=200, k=3, patience=2)
    # the best (400) and two losers after it; 1600, ..., 12800 and all are never fitted
    assert list(choice.tried) == [200, 400, 800, 1600]


def test_full_retrain_chooses_once_then_slides() -> None:
    events = _turnover(n_new=800)
    warm, windows = events[:3400], [events[3400:3600], events[3600:3800]]
    model = MostPopular().fit(warm)
    strategy = FullRetrain(window="auto")
    strategy.prime(warm)
    first = strategy.step(model, windows[0])
    chosen = strategy.choice
    assert chosen is not None and chosen.window in (200, 400)  # held out: warm[-200:]
    assert first.n_events == model.n_events_ == chosen.window  # the latest events only
    strategy.step(model, windows[1])
    assert strategy.choice is chosen and model.n_events_ == chosen.window
    with pytest.raises(ValueError, match="auto"):
        FullRetrain(window="recent")  # type: ignore[arg-type]


def test_on_drift_by_default_alarms_on_a_relative_fall_of_rare_hits() -> None:
    rng = np.random.default_rng(0)
    quiet = (rng.random(20_000) > 0.02).astype(float)  # 2% hits, steady
    assert len(alarms(HitRateDrop(), quiet)) == 0
    falling = np.r_[quiet[:10_000], (rng.random(10_000) > 0.008).astype(float)]
    found = alarms(HitRateDrop(), falling)
    assert len(found) and 10_000 <= found[0] < 15_000
    strategy = OnDrift()
    assert isinstance(strategy._watch, HitRateDrop) and strategy.block == 1


def test_the_arena_records_the_window_each_run_chose() -> None:
    from freshrec.data.synthetic import synthetic_stream
    from freshrec.jobs.arena import run_arena_job

    data = synthetic_stream(n_users=60, n_items=40, n_events=2000, seed=0)
    results, _ = run_arena_job(
        data,
        "popular",
        ["full", "on-drift"],
        n_windows=2,
        seeds=(0,),
        overrides={"full": {"window": "auto"}},
    )
    chosen = results.params["settled_by_seed"]["0"]
    assert set(chosen) == {"full"}  # on-drift retrains on all history: nothing to choose
    assert chosen["full"]["window"] in (500, 1000, "all") and chosen["full"]["tried"]
