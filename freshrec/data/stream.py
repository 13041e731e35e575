"""Stream replay: an :class:`EventBatch` replayed in time order, in windows or micro-batches.

Time order is by timestamp with ties kept in file (row) order; a batch without timestamps
is replayed in row (arrival) order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from freshrec.data.batch import EventBatch

__all__ = [
    "LabelledWindow",
    "WarmStart",
    "Window",
    "iter_labelled",
    "iter_micro_batches",
    "iter_windows",
    "time_ordered",
    "warm_start_split",
]


@dataclass(frozen=True, eq=False)
class Window:
    """One window of a replayed stream.

    Parameters
    ----------
    index
        Position of the window in the replay, from 0.
    batch
        The window's events, in time order.
    start_time, end_time
        Timestamps of the window's first and last event (both inclusive), or ``None`` when
        the batch has no timestamps or the window is empty.

    Examples
    --------
    >>> batch = EventBatch(np.array([1, 2]), np.array([5, 6]), np.ones(2),
    ...                    timestamp=np.array([20.0, 10.0]))
    >>> window = next(iter_windows(batch, size=2))
    >>> window.index, window.start_time, window.end_time, window.batch.item.tolist()
    (0, 10.0, 20.0, [6, 5])
    """

    index: int
    batch: EventBatch
    start_time: float | None
    end_time: float | None


class WarmStart(NamedTuple):
    """The two parts of :func:`warm_start_split`: ``warm`` to fit on, ``rest`` to replay.

    Examples
    --------
    >>> batch = EventBatch(np.zeros(4, np.int64), np.arange(4), np.ones(4))
    >>> warm, rest = warm_start_split(batch, fraction=0.25)
    >>> len(warm), len(rest)
    (1, 3)
    """

    warm: EventBatch
    rest: EventBatch


def time_ordered(batch: EventBatch) -> EventBatch:
    """The events sorted by timestamp, ties kept in file order (row order if untimed).

    Examples
    --------
    >>> batch = EventBatch(np.array([1, 2, 3]), np.array([7, 8, 9]), np.ones(3),
    ...                    timestamp=np.array([2.0, 1.0, 2.0]))
    >>> time_ordered(batch).item.tolist()
    [8, 7, 9]
    """
    return batch.sort_by_time()


def iter_windows(
    batch: EventBatch,
    *,
    n_windows: int | None = None,
    size: int | None = None,
    span_s: float | None = None,
) -> Iterator[Window]:
    """Replay the events in time order as consecutive windows; give exactly one rule.

    Parameters
    ----------
    batch
        The events to replay.
    n_windows
        Cut into this many windows of equal event count; the first ``len(batch) % n_windows``
        windows hold one event more. Must not exceed ``len(batch)``.
    size
        Cut into windows of ``size`` events; the last one may be smaller.
    span_s
        Cut by time: window ``k`` holds the events with
        ``t0 + k * span_s <= timestamp < t0 + (k + 1) * span_s``, where ``t0`` is the first
        timestamp. Spans without events yield no window, so indices stay consecutive over
        the windows yielded. Needs timestamps.

    Examples
    --------
    >>> batch = EventBatch(np.zeros(5, np.int64), np.arange(5), np.ones(5),
    ...                    timestamp=np.array([0.0, 1.0, 2.0, 10.0, 11.0]))
    >>> [len(w.batch) for w in iter_windows(batch, n_windows=2)]
    [3, 2]
    >>> [w.batch.item.tolist() for w in iter_windows(batch, span_s=5.0)]
    [[0, 1, 2], [3, 4]]
    """
    ordered = time_ordered(batch)
    bounds = _bounds(ordered, n_windows, size, span_s)  # checked here, not at first next()
    return (
        _window(index, ordered.take(slice(int(start), int(stop))))
        for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
    )


def iter_micro_batches(batch: EventBatch, size: int) -> Iterator[EventBatch]:
    """Replay the events in time order as batches of ``size`` events (the last may be smaller).

    Examples
    --------
    >>> batch = EventBatch(np.zeros(5, np.int64), np.arange(5), np.ones(5))
    >>> [b.item.tolist() for b in iter_micro_batches(batch, 2)]
    [[0, 1], [2, 3], [4]]
    """
    return (window.batch for window in iter_windows(batch, size=size))


@dataclass(frozen=True, eq=False)
class LabelledWindow:
    """A window of a stream whose labels arrive late (see :func:`iter_labelled`).

    ``events``: the events that happened in the window (to serve, then score once their
    labels are in); ``labels``: the earlier or current events whose labels became known
    during the window (to learn from now).

    Examples
    --------
    >>> window = LabelledWindow(0, EventBatch.empty(), EventBatch.empty())
    >>> window.index, len(window.events), len(window.labels)
    (0, 0, 0)
    """

    index: int
    events: EventBatch
    labels: EventBatch


def iter_labelled(batch: EventBatch, *, size: int, delay_s: float) -> Iterator[LabelledWindow]:
    """Replay in windows of ``size`` events, each event's label known ``delay_s`` seconds later.

    Window ``k`` releases the labels of the events with ``timestamp + delay_s`` at or before
    the timestamp of its last event that no earlier window released, in time order; a last
    window with no events releases the labels still pending when the stream ends (so every
    label is released exactly once). ``delay_s=0`` releases each window's own labels.
    Needs timestamps.

    Examples
    --------
    >>> batch = EventBatch(np.zeros(4, np.int64), np.arange(4), np.ones(4),
    ...                    timestamp=np.array([0.0, 10.0, 20.0, 30.0]))
    >>> [(len(w.events), w.labels.item.tolist()) for w in iter_labelled(batch, size=2,
    ...                                                                  delay_s=15.0)]
    [(2, []), (2, [0, 1]), (0, [2, 3])]
    """
    if delay_s < 0:
        raise ValueError(f"delay_s must be >= 0, got {delay_s}")
    if batch.timestamp is None:
        raise ValueError("label delays need timestamps; this batch has none")
    ordered = time_ordered(batch)
    ready = np.asarray(ordered.timestamp, dtype=np.float64) + delay_s
    released = arrived = 0  # labels are released in time order: a prefix of ``ordered``
    index = -1
    for index, window in enumerate(iter_windows(ordered, size=size)):
        arrived += len(window.batch)
        now = float(window.end_time) if window.end_time is not None else -np.inf
        due = int(np.searchsorted(ready, now, side="right"))
        until = max(released, min(due, arrived))  # never an event of a later window
        yield LabelledWindow(index, window.batch, ordered.take(slice(released, until)))
        released = until
    if released < len(ordered):
        yield LabelledWindow(index + 1, EventBatch.empty(), ordered.take(slice(released, None)))


def warm_start_split(batch: EventBatch, fraction: float = 0.5) -> WarmStart:
    """The first ``floor(fraction * n)`` events in time order, and the rest.

    The cut is by event count, so events sharing the boundary timestamp may fall on both
    sides (in file order). The update arena fits on ``warm`` and replays ``rest``.

    Examples
    --------
    >>> batch = EventBatch(np.zeros(4, np.int64), np.arange(4), np.ones(4),
    ...                    timestamp=np.array([4.0, 3.0, 2.0, 1.0]))
    >>> warm, rest = warm_start_split(batch)
    >>> warm.item.tolist(), rest.item.tolist()
    ([3, 2], [1, 0])
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    ordered = time_ordered(batch)
    cut = int(np.floor(fraction * len(ordered)))
    return WarmStart(ordered.take(slice(0, cut)), ordered.take(slice(cut, None)))


def _bounds(
    ordered: EventBatch, n_windows: int | None, size: int | None, span_s: float | None
) -> np.ndarray:
    """Row bounds ``[0, ..., n]`` of the windows of a time-ordered batch."""
    if sum(rule is not None for rule in (n_windows, size, span_s)) != 1:
        raise ValueError("give exactly one of n_windows, size or span_s")
    n = len(ordered)
    if n_windows is not None:
        if not 1 <= n_windows <= max(n, 1):
            raise ValueError(f"n_windows must be in [1, {max(n, 1)}], got {n_windows}")
        sizes = np.full(n_windows, n // n_windows, dtype=np.int64)
        sizes[: n % n_windows] += 1
        return np.concatenate([[0], np.cumsum(sizes)])
    if size is not None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        return np.append(np.arange(0, n, size), n) if n else np.zeros(1, np.int64)
    if span_s is None or not span_s > 0:
        raise ValueError(f"span_s must be positive, got {span_s}")
    if ordered.timestamp is None:
        raise ValueError("span_s windows need timestamps; use n_windows or size instead")
    if n == 0:
        return np.zeros(1, np.int64)
    slot = np.floor((ordered.timestamp - ordered.timestamp[0]) / span_s).astype(np.int64)
    starts = np.flatnonzero(np.diff(slot)) + 1
    return np.concatenate([[0], starts, [n]])


def _window(index: int, batch: EventBatch) -> Window:
    if batch.timestamp is None or len(batch) == 0:
        return Window(index, batch, None, None)
    return Window(index, batch, float(batch.timestamp[0]), float(batch.timestamp[-1]))
