"""Strategies given the log their windows come from keep cursors, not copies, and learn the same."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from freshrec.data.batch import EventBatch, as_batch
from freshrec.data.synthetic import synthetic_stream
from freshrec.log import Cursor, open_log
from freshrec.log.log import EventLog
from freshrec.models import BPR
from freshrec.update.replay import EventHistory, ReservoirReplay
from freshrec.update.strategies import STRATEGIES, FineTune, OnDrift, make_strategy


@pytest.fixture(scope="module")
def stream() -> EventBatch:
    events = synthetic_stream(n_users=60, n_items=50, n_events=1600, seed=3).events
    batch = as_batch(events).sort_by_time()
    return EventBatch(
        batch.user, batch.item, batch.value, timestamp=batch.timestamp, event_id=np.arange(1600)
    )


def _on_log(stream: EventBatch) -> tuple[EventLog, EventBatch, list[EventBatch]]:
    """A log holding ``stream``; the warm events and three windows read back from it."""
    log = open_log("memory://")
    log.append(stream)
    cursors = log.read(max_events=len(stream)).cursors
    warm = log.window(Cursor.START, cursors[799])
    windows = [log.window(cursors[i - 1], cursors[i + 399]) for i in (800, 1200)]
    return log, warm, windows


def _settings(name: str) -> dict[str, object]:
    return {"on-drift": {"action": "finetune"}}.get(name, {})


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_strategy_on_the_log_learns_exactly_what_it_learns_from_copies(stream, name):
    log, warm, windows = _on_log(stream)
    from_copies = BPR(n_factors=4, n_epochs=2, seed=0).fit(warm)
    on_log = BPR(n_factors=4, n_epochs=2, seed=0).learn_from_log(log, max_events=800)
    assert np.array_equal(from_copies.item_factors_, on_log.item_factors_)
    plain, following = (make_strategy(name, _settings(name)) for _ in range(2))
    plain.prime(warm)
    following.prime(warm, log)
    for window in windows:
        plain.step(from_copies, window)
        following.step(on_log, window)
        assert np.array_equal(from_copies.item_factors_, on_log.item_factors_), name
        assert np.array_equal(from_copies.user_factors_, on_log.user_factors_), name


def test_retained_events_are_cursors_into_the_log(stream):
    log, warm, windows = _on_log(stream)
    model = BPR(n_factors=4, n_epochs=1, seed=0).learn_from_log(log, max_events=800)
    for name in ("full", "finetune-replay", "on-drift", "adaptive"):
        strategy = make_strategy(name, _settings(name))
        strategy.prime(warm, log)
        for window in windows:
            strategy.step(copy.deepcopy(model), window)
        histories = [getattr(strategy, a, None) for a in ("history", "_backlog", "_gathered")]
        histories.append(getattr(getattr(strategy, "full", None), "history", None))
        for history in [h for h in histories if isinstance(h, EventHistory)]:
            assert history.on_log, name
        replay = getattr(strategy, "replay", None) or getattr(strategy, "_replay", None)
        if replay is not None:
            assert replay.on_log and len(replay), name
    on_drift = OnDrift(action="full")
    on_drift.prime(warm, log)
    on_drift.step(copy.deepcopy(model), windows[0])
    history = on_drift.full.history
    assert history.on_log and history.events().event_id.tolist() == list(range(1200))


def test_a_window_that_does_not_follow_the_log_falls_back_to_copies(stream):
    log, warm, windows = _on_log(stream)
    history = EventHistory(max_events=1000)
    history.attach(log)
    history.add(warm)
    assert history.on_log and len(history) == 800
    history.add(windows[1])  # skips windows[0]: not the log's next events
    assert not history.on_log
    assert history.events().event_id.tolist() == list(range(200, 800)) + list(range(1200, 1600))


def test_a_sliding_window_on_the_log_keeps_the_latest_events(stream):
    log, warm, windows = _on_log(stream)
    history = EventHistory(max_events=500)
    history.attach(log)
    for batch in (warm, *windows):
        history.add(batch)
        assert history.on_log
    assert history.events().event_id.tolist() == list(range(1100, 1600))


def test_reservoir_on_the_log_samples_the_same_events_as_on_copies(stream):
    log, warm, windows = _on_log(stream)
    copies, positions = ReservoirReplay(capacity=300, seed=5), ReservoirReplay(capacity=300, seed=5)
    positions.attach(log)
    for batch in (warm, *windows):
        copies.add(batch)
        positions.add(batch)
    assert positions.on_log and not copies.on_log
    drawn = [(copies.events(), positions.events()), (copies.sample(50), positions.sample(50))]
    for drawn_a, drawn_b in drawn:
        assert drawn_a.user.tolist() == drawn_b.user.tolist()
        assert drawn_a.item.tolist() == drawn_b.item.tolist()
        assert np.array_equal(drawn_a.value, drawn_b.value)


def test_a_reservoir_falls_back_to_copies_and_keeps_its_sample(stream):
    log, warm, windows = _on_log(stream)
    buffer = ReservoirReplay(capacity=100, seed=1)
    buffer.attach(log)
    buffer.add(warm)
    kept = buffer.events().item.tolist()
    buffer.add(windows[1])  # not the log's next events
    assert not buffer.on_log and len(buffer) == 100 and buffer.n_seen == 1200
    assert set(buffer.events().item.tolist()) <= set(kept) | set(windows[1].item.tolist())


def test_fine_tune_gathers_windows_on_the_log_until_it_updates(stream):
    log, warm, windows = _on_log(stream)
    model = BPR(n_factors=4, n_epochs=1, seed=0).learn_from_log(log, max_events=800)
    strategy = FineTune(every=2)
    strategy.prime(warm, log)
    assert not strategy.step(model, windows[0]).trained
    report = strategy.step(model, windows[1])
    assert report.trained and report.n_events == 800
    assert model.cursor_ == str(log.head())  # learned through the cursor: no copy kept
