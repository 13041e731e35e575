"""What an update trains on: the retained history (all or a sliding window) and a replay buffer.

- :class:`EventHistory` keeps every event it was given, or only the latest ``max_events``
  (a sliding window); a full retrain trains on it.
- :class:`ReservoirReplay` keeps a uniform sample of every event it was given (reservoir
  sampling), from which a fine-tune mixes old events into each update.
"""

from __future__ import annotations

import numpy as np

from freshrec.data.batch import EventBatch

__all__ = ["EventHistory", "ReservoirReplay"]


class EventHistory:
    """Events in arrival order: all of them, or the latest ``max_events`` (a sliding window).

    Examples
    --------
    >>> history = EventHistory(max_events=3)
    >>> history.add(EventBatch(np.zeros(2, np.int64), np.array([1, 2]), np.ones(2)))
    >>> history.add(EventBatch(np.zeros(2, np.int64), np.array([3, 4]), np.ones(2)))
    >>> history.events().item.tolist()
    [2, 3, 4]
    """

    def __init__(self, max_events: int | None = None) -> None:
        if max_events is not None and max_events < 1:
            raise ValueError(f"max_events must be >= 1 or None, got {max_events}")
        self.max_events = max_events
        self._parts: list[EventBatch] = []

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts)

    def add(self, batch: EventBatch) -> None:
        """Append ``batch``; with a window, drop what falls out of it."""
        self._parts.append(batch)
        if self.max_events is not None and len(self) > self.max_events:
            whole = EventBatch.concat(self._parts)
            self._parts = [whole.take(slice(len(whole) - self.max_events, None))]

    def events(self) -> EventBatch:
        """The retained events as one batch, oldest first."""
        if len(self._parts) != 1:
            self._parts = [EventBatch.concat(self._parts)]
        return self._parts[0]


class ReservoirReplay:
    """A uniform random sample of at most ``capacity`` of all events added (Algorithm R).

    After ``n`` events were added, each of them is in the buffer with probability
    ``min(1, capacity / n)``: old and recent events alike, so a fine-tune that mixes a
    sample into its update keeps rehearsing the past. Seeded, so a replay is reproducible.

    Parameters
    ----------
    capacity
        Most events kept.
    seed
        Seed of the buffer's RNG (which events stay, and :meth:`sample`).

    Examples
    --------
    >>> buffer = ReservoirReplay(capacity=100, seed=0)
    >>> buffer.add(EventBatch(np.zeros(1000, np.int64), np.arange(1000), np.ones(1000)))
    >>> len(buffer), buffer.n_seen
    (100, 1000)
    >>> int(buffer.events().item.mean()) in range(350, 650)  # spread over all 1000
    True
    >>> len(buffer.sample(10))
    10
    """

    def __init__(self, capacity: int = 100_000, seed: int | None = 0) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.rng = np.random.default_rng(seed)
        self.n_seen = 0
        self._buffer = EventBatch.empty()

    def __len__(self) -> int:
        return len(self._buffer)

    def add(self, batch: EventBatch) -> None:
        """Offer every event of ``batch``, in order, to the reservoir."""
        n = len(batch)
        if not n:
            return
        # event t (0-based over everything seen) takes slot t while the buffer fills, then
        # a uniform slot in [0, t] that replaces a kept event when it is < capacity
        position = self.n_seen + np.arange(n)
        slot = np.where(
            position < self.capacity,
            position,
            (self.rng.random(n) * (position + 1)).astype(np.int64),
        )
        self.n_seen += n
        enters = slot < self.capacity
        slot, rows = slot[enters], np.flatnonzero(enters)
        last = len(slot) - 1 - np.unique(slot[::-1], return_index=True)[1]  # last write wins
        slot, rows = slot[last], rows[last]
        old = len(self._buffer)
        size = max(old, int(slot.max()) + 1) if len(slot) else old
        source = np.arange(size)  # row of concat([buffer, batch]) that fills each slot
        source[slot] = old + rows
        self._buffer = EventBatch.concat([self._buffer, batch]).take(source)

    def events(self) -> EventBatch:
        """Every event in the buffer (slot order)."""
        return self._buffer

    def sample(self, n: int) -> EventBatch:
        """``n`` events drawn without replacement (all of them when the buffer is smaller)."""
        if n >= len(self._buffer):
            return self._buffer
        return self._buffer.take(np.sort(self.rng.choice(len(self._buffer), n, replace=False)))
