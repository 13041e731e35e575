"""Stream replay: time order with ties in file order, windows that cover every event once."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data import EventBatch
from freshrec.data.stream import (
    iter_micro_batches,
    iter_windows,
    time_ordered,
    warm_start_split,
)


def events(n: int = 103, seed: int = 0, *, timed: bool = True) -> EventBatch:
    """Shuffled timestamps with many ties; ``event_id`` is the row, to check the order."""
    rng = np.random.default_rng(seed)
    times = rng.integers(0, 40, size=n).astype(float) * 10.0 if timed else None
    return EventBatch(
        rng.integers(0, 7, size=n),
        rng.integers(0, 9, size=n),
        np.ones(n),
        timestamp=times,
        event_id=np.arange(n),
    )


def expected_order(batch: EventBatch) -> list[int]:
    """Rows by timestamp, ties by row (file) order."""
    return np.lexsort((np.arange(len(batch)), batch.timestamp)).tolist()


def test_time_ordered_keeps_ties_in_file_order() -> None:
    batch = events()
    assert time_ordered(batch).event_id.tolist() == expected_order(batch)


def test_time_ordered_without_timestamps_keeps_rows() -> None:
    batch = events(timed=False)
    assert time_ordered(batch).event_id.tolist() == list(range(len(batch)))


@pytest.mark.parametrize("n_windows", [1, 4, 10, 103])
def test_equal_count_windows(n_windows: int) -> None:
    batch = events()
    windows = list(iter_windows(batch, n_windows=n_windows))
    assert [w.index for w in windows] == list(range(n_windows))
    sizes = [len(w.batch) for w in windows]
    assert max(sizes) - min(sizes) <= 1
    replay = np.concatenate([w.batch.event_id for w in windows])
    assert replay.tolist() == expected_order(batch)  # in time order, every event once
    for w in windows:
        assert w.start_time == w.batch.timestamp[0] and w.end_time == w.batch.timestamp[-1]
    for before, after in zip(windows[:-1], windows[1:], strict=True):
        assert before.end_time <= after.start_time


def test_fixed_size_windows() -> None:
    batch = events()
    sizes = [len(w.batch) for w in iter_windows(batch, size=25)]
    assert sizes == [25, 25, 25, 25, 3]


@pytest.mark.parametrize("span_s", [10.0, 35.0, 100.0, 1000.0])
def test_span_windows(span_s: float) -> None:
    batch = events()
    windows = list(iter_windows(batch, span_s=span_s))
    t0 = batch.timestamp.min()
    replay = np.concatenate([w.batch.event_id for w in windows])
    assert replay.tolist() == expected_order(batch)
    slots = [np.unique(np.floor((w.batch.timestamp - t0) / span_s)) for w in windows]
    assert all(len(s) == 1 for s in slots)  # a window never straddles two spans
    assert len({float(s[0]) for s in slots}) == len(windows)
    assert all(w.end_time - w.start_time < span_s for w in windows)


def test_span_windows_skip_empty_spans() -> None:
    batch = EventBatch(
        np.zeros(4, np.int64), np.arange(4), np.ones(4), timestamp=np.array([0.0, 1.0, 50.0, 51.0])
    )
    windows = list(iter_windows(batch, span_s=10.0))
    assert [w.index for w in windows] == [0, 1]
    assert [(w.start_time, w.end_time) for w in windows] == [(0.0, 1.0), (50.0, 51.0)]


def test_untimed_windows_have_no_times() -> None:
    window = next(iter_windows(events(timed=False), n_windows=3))
    assert window.start_time is None and window.end_time is None
    assert window.batch.event_id.tolist() == list(range(35))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"n_windows": 2, "size": 3},
        {"n_windows": 0},
        {"n_windows": 104},
        {"size": 0},
        {"span_s": 0.0},
    ],
)
def test_iter_windows_rejects_bad_rules_at_call(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        iter_windows(events(), **kwargs)  # raised before the first window is asked for


def test_span_windows_need_timestamps() -> None:
    with pytest.raises(ValueError, match="timestamps"):
        iter_windows(events(timed=False), span_s=5.0)


def test_micro_batches_replay_in_time_order() -> None:
    batch = events()
    batches = list(iter_micro_batches(batch, 10))
    assert [len(b) for b in batches] == [10] * 10 + [3]
    assert np.concatenate([b.event_id for b in batches]).tolist() == expected_order(batch)


@pytest.mark.parametrize(("fraction", "n_warm"), [(0.0, 0), (0.3, 30), (0.5, 51), (1.0, 103)])
def test_warm_start_split(fraction: float, n_warm: int) -> None:
    batch = events()
    warm, rest = warm_start_split(batch, fraction)
    assert len(warm) == n_warm and len(rest) == len(batch) - n_warm
    replay = np.concatenate([warm.event_id, rest.event_id]).tolist()
    assert replay == expected_order(batch)


def test_warm_start_split_rejects_bad_fraction() -> None:
    with pytest.raises(ValueError, match="fraction"):
        warm_start_split(events(), 1.5)


def test_replay_never_mutates_the_input() -> None:
    batch = events()
    before = batch.timestamp.copy()
    list(iter_windows(batch, n_windows=3))
    warm_start_split(batch)
    assert np.array_equal(batch.timestamp, before)
    assert batch.event_id.tolist() == list(range(len(batch)))


# -- labels that arrive late ---------------------------------------------------------------


def test_every_label_is_released_once_and_never_before_its_event() -> None:
    from freshrec.data.stream import iter_labelled

    rng = np.random.default_rng(0)
    times = np.sort(rng.integers(0, 500, 300)).astype(float)  # ties across windows
    batch = EventBatch(np.zeros(300, np.int64), np.arange(300), np.ones(300), timestamp=times)
    for delay in (0.0, 7.0, 1000.0):
        windows = list(iter_labelled(batch, size=32, delay_s=delay))
        released = np.concatenate([w.labels.item for w in windows])
        assert sorted(released.tolist()) == list(range(300))
        happened = 0
        for window in windows:
            happened += len(window.events)
            assert np.all(window.labels.item < happened)  # items are row numbers here
            if len(window.events) and len(window.labels):
                now = window.events.timestamp.max()
                assert np.all(window.labels.timestamp + delay <= now)
    zero = list(iter_labelled(batch, size=32, delay_s=0.0))
    assert all(len(w.labels) == len(w.events) for w in zero[:-1] if len(w.events))


def test_label_delay_needs_timestamps_and_a_non_negative_delay() -> None:
    from freshrec.data.stream import iter_labelled

    batch = EventBatch(np.zeros(3, np.int64), np.arange(3), np.ones(3))
    with pytest.raises(ValueError, match="timestamps"):
        list(iter_labelled(batch, size=2, delay_s=1.0))
    timed = EventBatch(np.zeros(3, np.int64), np.arange(3), np.ones(3), timestamp=np.ones(3))
    with pytest.raises(ValueError, match="delay_s"):
        list(iter_labelled(timed, size=2, delay_s=-1.0))
