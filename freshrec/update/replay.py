"""What an update trains on: the retained history (all or a sliding window) and a replay buffer.

- :class:`EventHistory` keeps every event it was given, or only the latest ``max_events``
  (a sliding window); a full retrain trains on it.
- :class:`ReservoirReplay` keeps a uniform sample of every event it was given (reservoir
  sampling), from which a fine-tune mixes old events into each update.

Both can follow an :class:`~freshrec.log.EventLog` (``attach``): while every batch they are
given is the log's next events (the same event ids, in order, as the arena and a learner
read them), they hold cursors and positions into the log instead of the events, and read
the events back from it. A batch that does not follow the log ends that: from then on they
keep copies, as without a log.
"""

from __future__ import annotations

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.log.cursor import Cursor
from freshrec.log.log import EventLog

__all__ = ["EventHistory", "ReservoirReplay"]


class EventHistory:
    """Events in arrival order: all of them, or the latest ``max_events`` (a sliding window).

    On a log (:meth:`attach`) the history is the span between two cursors.

    Examples
    --------
    >>> history = EventHistory(max_events=3)
    >>> history.add(EventBatch(np.zeros(2, np.int64), np.array([1, 2]), np.ones(2)))
    >>> history.add(EventBatch(np.zeros(2, np.int64), np.array([3, 4]), np.ones(2)))
    >>> history.events().item.tolist()
    [2, 3, 4]

    On a log, it holds two cursors:

    >>> from freshrec.log import open_log
    >>> log = open_log("memory://")
    >>> _ = log.append(EventBatch(np.zeros(4, np.int64), np.arange(4), np.ones(4)))
    >>> history = EventHistory(max_events=3)
    >>> history.attach(log)
    >>> history.add(log.window(Cursor.START))
    >>> history.on_log, history.events().item.tolist()
    (True, [1, 2, 3])
    """

    def __init__(self, max_events: int | None = None) -> None:
        if max_events is not None and max_events < 1:
            raise ValueError(f"max_events must be >= 1 or None, got {max_events}")
        self.max_events = max_events
        self._parts: list[EventBatch] = []
        self._log: EventLog | None = None
        self._start = self._end = Cursor.START
        self._n_on_log = 0

    def attach(self, log: EventLog, after: Cursor = Cursor.START) -> None:
        """Empty the history and follow ``log`` from ``after`` on."""
        self._parts = []
        self._log, self._start, self._end, self._n_on_log = log, after, after, 0

    @property
    def on_log(self) -> bool:
        """Whether the history is held as cursors into a log."""
        return self._log is not None

    @property
    def end(self) -> Cursor | None:
        """On a log, the cursor after the latest event added (``None`` off a log)."""
        return self._end if self._log is not None else None

    def __len__(self) -> int:
        return self._n_on_log + sum(len(part) for part in self._parts)

    def add(self, batch: EventBatch) -> None:
        """Append ``batch``; with a window, drop what falls out of it."""
        if not len(batch):
            return
        if self._log is not None:
            through = self._log.follows(self._end, batch)
            if through is not None:
                self._end, self._n_on_log = through, self._n_on_log + len(batch)
                if self.max_events is not None and self._n_on_log > self.max_events:
                    kept_from = self._log.position(self._end) - self.max_events
                    self._start, self._n_on_log = self._log.cursor_at(kept_from), self.max_events
                return
            self._parts = [self.events()] if self._n_on_log else []  # off the log from here
            self._log, self._n_on_log = None, 0
        self._parts.append(batch)
        if self.max_events is not None and len(self) > self.max_events:
            whole = EventBatch.concat(self._parts)
            self._parts = [whole.take(slice(len(whole) - self.max_events, None))]

    def events(self) -> EventBatch:
        """The retained events as one batch, oldest first."""
        if self._log is not None:
            if not self._n_on_log:
                return EventBatch.empty()
            return self._log.window(self._start, self._end)
        if len(self._parts) != 1:
            self._parts = [EventBatch.concat(self._parts)]
        return self._parts[0]

    def clear(self) -> None:
        """Forget every event; on a log, the next batch follows the latest one added."""
        self._parts = []
        self._start, self._n_on_log = self._end, 0


class ReservoirReplay:
    """A uniform random sample of at most ``capacity`` of all events added (Algorithm R).

    After ``n`` events were added, each of them is in the buffer with probability
    ``min(1, capacity / n)``: old and recent events alike, so a fine-tune that mixes a
    sample into its update keeps rehearsing the past. Seeded, so a replay is reproducible.
    On a log (:meth:`attach`) the buffer holds the sampled events' positions in the log,
    and the same seed samples the same events.

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
        self._log: EventLog | None = None
        self._positions = np.zeros(0, np.int64)  # on a log: the kept events' positions
        self._end = Cursor.START

    def attach(self, log: EventLog, after: Cursor = Cursor.START) -> None:
        """Follow ``log`` from ``after`` on (an empty buffer only; a filled one keeps copies).

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.zeros(50, np.int64), np.arange(50), np.ones(50)))
        >>> buffer = ReservoirReplay(capacity=10)
        >>> buffer.attach(log)
        >>> buffer.add(log.window(Cursor.START))
        >>> buffer.on_log, len(buffer), len(buffer.sample(4))
        (True, 10, 4)
        """
        if self.n_seen:
            return
        self._log, self._end = log, after
        self._positions = np.zeros(0, np.int64)

    @property
    def on_log(self) -> bool:
        """Whether the buffer holds positions in a log rather than copies of events."""
        return self._log is not None

    def __len__(self) -> int:
        return len(self._positions) if self._log is not None else len(self._buffer)

    def add(self, batch: EventBatch) -> None:
        """Offer every event of ``batch``, in order, to the reservoir."""
        n = len(batch)
        if not n:
            return
        source = self._admit(n)  # row of concat([kept, batch]) that fills each slot
        if self._log is not None:
            through = self._log.follows(self._end, batch)
            if through is not None:
                first = self._log.position(self._end)
                self._positions = np.concatenate([self._positions, first + np.arange(n)])[source]
                self._end = through
                return
            self._buffer = self._log.take(self._positions)  # off the log from here
            self._log, self._positions = None, np.zeros(0, np.int64)
        self._buffer = EventBatch.concat([self._buffer, batch]).take(source)

    def _admit(self, n: int) -> np.ndarray:
        """Draw which of ``n`` new events enter which slots; the rows of ``concat([kept,
        new])`` that fill the buffer afterwards."""
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
        old = len(self)
        size = max(old, int(slot.max()) + 1) if len(slot) else old
        source = np.arange(size)
        source[slot] = old + rows
        return source

    def events(self) -> EventBatch:
        """Every event in the buffer (slot order)."""
        return self._log.take(self._positions) if self._log is not None else self._buffer

    def sample(self, n: int) -> EventBatch:
        """``n`` events drawn without replacement (all of them when the buffer is smaller)."""
        if n >= len(self):
            return self.events()
        rows = np.sort(self.rng.choice(len(self), n, replace=False))
        if self._log is not None:
            return self._log.take(self._positions[rows])
        return self._buffer.take(rows)
