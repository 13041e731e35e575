"""The retained history (all or a sliding window) and the reservoir replay buffer."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data.batch import EventBatch
from freshrec.update.replay import EventHistory, ReservoirReplay


def _batch(items: np.ndarray) -> EventBatch:
    items = np.asarray(items, dtype=np.int64)
    return EventBatch(items % 7, items, np.ones(len(items)), timestamp=items.astype(float))


def test_history_keeps_everything_by_default():
    history = EventHistory()
    for start in range(0, 30, 10):
        history.add(_batch(np.arange(start, start + 10)))
    assert len(history) == 30
    assert history.events().item.tolist() == list(range(30))


def test_sliding_window_keeps_the_latest_events_in_order():
    history = EventHistory(max_events=25)
    for start in range(0, 40, 10):
        history.add(_batch(np.arange(start, start + 10)))
    assert len(history) == 25
    assert history.events().item.tolist() == list(range(15, 40))


def test_history_rejects_an_empty_window():
    with pytest.raises(ValueError, match="max_events"):
        EventHistory(max_events=0)


def test_reservoir_fills_then_stays_at_capacity():
    buffer = ReservoirReplay(capacity=50, seed=0)
    buffer.add(_batch(np.arange(30)))
    assert len(buffer) == 30 and buffer.events().item.tolist() == list(range(30))
    buffer.add(_batch(np.arange(30, 500)))
    assert len(buffer) == 50 and buffer.n_seen == 500
    kept = buffer.events().item
    assert len(np.unique(kept)) == 50 and set(kept) <= set(range(500))


def test_reservoir_is_a_uniform_sample_of_everything_seen():
    # each of 2,000 events should be kept with probability 200 / 2000 = 0.1, whatever its
    # position and however the stream was chunked: count how often each decile is kept
    kept = np.zeros(10)
    for seed in range(200):
        buffer = ReservoirReplay(capacity=200, seed=seed)
        for start in range(0, 2000, 137):  # uneven chunks
            buffer.add(_batch(np.arange(start, min(start + 137, 2000))))
        kept += np.bincount(buffer.events().item // 200, minlength=10)
    share = kept / kept.sum()
    assert np.abs(share - 0.1).max() < 0.01, share


def test_reservoir_sample_is_without_replacement_and_seeded():
    def draw(seed: int) -> list[int]:
        buffer = ReservoirReplay(capacity=100, seed=seed)
        buffer.add(_batch(np.arange(1000)))
        return buffer.sample(40).item.tolist()

    first = draw(3)
    assert len(set(first)) == 40
    assert draw(3) == first and draw(4) != first
    buffer = ReservoirReplay(capacity=100)
    buffer.add(_batch(np.arange(10)))
    assert len(buffer.sample(40)) == 10  # all there is


def test_reservoir_keeps_the_columns_of_the_events():
    buffer = ReservoirReplay(capacity=5, seed=0)
    buffer.add(_batch(np.arange(20)))
    events = buffer.events()
    assert np.array_equal(events.user, events.item % 7)
    assert np.array_equal(events.timestamp, events.item.astype(float))


def test_reservoir_rejects_no_capacity():
    with pytest.raises(ValueError, match="capacity"):
        ReservoirReplay(capacity=0)
