"""The service's recent past for the dashboard: one :class:`Sample` a second for ten minutes.

Each request's latency goes to :meth:`History.observe` (from the app's timing middleware);
a background thread calls :meth:`History.sample` every ``interval_s``, which turns the
latencies observed since the last sample into a rate and p50/p99, and keeps them with the
gauges read then (lags, serving version) in a ring buffer of ``capacity`` samples. Latencies
of one interval are kept in a reservoir of at most ``reservoir`` values, so memory stays
bounded whatever the traffic, and whether or not the thread runs.

Examples
--------
>>> history = History(capacity=3)
>>> for seconds in (0.001, 0.002, 0.003):
...     history.observe(seconds)
>>> sample = history.sample(Gauges(learner_lag=None, user_state_lag=5, version="v000001"))
>>> sample.requests, sample.p50_s, sample.gauges.user_state_lag
(3, 0.002, 5)
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Gauges", "History", "Sample"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gauges:
    """What the service reports at one moment, read when a sample is taken.

    Examples
    --------
    >>> Gauges(learner_lag=12, user_state_lag=0, version="v000002").learner_lag
    12
    """

    learner_lag: int | None  # events the learner has not learned (None: not known here)
    user_state_lag: int | None  # events not yet folded into the users' state
    version: str | None  # the version serving (None: none yet)


@dataclass(frozen=True)
class Sample:
    """One interval of the service's history.

    Examples
    --------
    >>> sample = Sample(0.0, 10, 10.0, 0.002, 0.008, Gauges(None, 0, "v000001"))
    >>> sample.rate, sample.gauges.version
    (10.0, 'v000001')
    """

    time: float  # when the interval ended (Unix seconds)
    requests: int  # requests answered in the interval
    rate: float  # requests per second over the interval
    p50_s: float | None  # median latency of the interval's requests (None: no requests)
    p99_s: float | None
    gauges: Gauges  # read at the end of the interval


class History:
    """The latest ``capacity`` samples, one every ``interval_s`` while :meth:`start`-ed.

    Parameters
    ----------
    capacity
        Samples kept (the oldest go first).
    interval_s
        Seconds between samples taken by the background thread.
    reservoir
        Latencies kept per interval for its percentiles (a uniform sample of them beyond).
    seed
        Seeds the reservoir's choices.

    Examples
    --------
    >>> history = History(capacity=2)
    >>> for _ in range(3):
    ...     _ = history.sample(Gauges(None, 0, None))
    >>> len(history.samples())
    2
    """

    def __init__(
        self, capacity: int = 600, interval_s: float = 1.0, reservoir: int = 4096, seed: int = 0
    ) -> None:
        if capacity < 1 or reservoir < 1 or interval_s <= 0:
            raise ValueError("capacity and reservoir must be >= 1 and interval_s > 0")
        self.capacity = capacity
        self.interval_s = interval_s
        self.reservoir = reservoir
        self._samples: deque[Sample] = deque(maxlen=capacity)
        self._latencies: list[float] = []
        self._observed = 0  # latencies observed in this interval (kept or not)
        self._since = time.monotonic()  # when this interval began
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def observe(self, seconds: float) -> None:
        """Count one request answered in ``seconds``.

        Examples
        --------
        >>> history = History(reservoir=2)
        >>> for seconds in (0.1, 0.2, 0.3):
        ...     history.observe(seconds)
        >>> history.sample(Gauges(None, None, None)).requests
        3
        """
        with self._lock:
            self._observed += 1
            if len(self._latencies) < self.reservoir:
                self._latencies.append(seconds)
                return
            slot = self._random.randrange(self._observed)
            if slot < self.reservoir:
                self._latencies[slot] = seconds

    def sample(self, gauges: Gauges) -> Sample:
        """End the interval: keep and return its sample, with ``gauges`` read now.

        Examples
        --------
        >>> history = History()
        >>> history.observe(0.004)
        >>> first = history.sample(Gauges(None, 0, "v000001"))
        >>> second = history.sample(Gauges(None, 0, "v000001"))
        >>> first.requests, first.p99_s, second.requests, second.p99_s
        (1, 0.004, 0, None)
        """
        now = time.monotonic()
        with self._lock:
            latencies, observed, since = self._latencies, self._observed, self._since
            self._latencies, self._observed, self._since = [], 0, now
        p50, p99 = np.percentile(latencies, [50, 99]).tolist() if latencies else (None, None)
        rate = observed / max(now - since, 1e-9)
        sample = Sample(time.time(), observed, rate, p50, p99, gauges)
        self._samples.append(sample)
        return sample

    def samples(self) -> list[Sample]:
        """The samples kept, oldest first.

        Examples
        --------
        >>> History().samples()
        []
        """
        return list(self._samples)

    def start(self, read: Callable[[], Gauges]) -> None:
        """Take a sample every :attr:`interval_s` in a background thread, with the gauges
        ``read`` gives (a failing read is logged and that sample skipped).

        Examples
        --------
        >>> history = History(interval_s=0.01)
        >>> history.start(lambda: Gauges(None, 0, None))
        >>> time.sleep(0.1)
        >>> history.stop()
        >>> len(history.samples()) > 0
        True
        """
        if self._thread is not None:
            return
        self._stop.clear()
        with self._lock:
            self._latencies, self._observed, self._since = [], 0, time.monotonic()
        self._thread = threading.Thread(
            target=self._follow, args=(read,), name="freshrec-history", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread.

        Examples
        --------
        >>> History().stop()
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _follow(self, read: Callable[[], Gauges]) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                gauges = read()
            except Exception:  # keep sampling; the next interval tries again
                logger.exception("the dashboard's history could not read the gauges")
                continue
            self.sample(gauges)
