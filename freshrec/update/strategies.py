"""Update strategies: how a trained model learns from each new window of events.

Every strategy has ``prime(events, log=None)`` (the events the model was trained on before
the first window) and ``step(model, batch) -> UpdateReport`` (learn, or not, from the next
window, in place). Given the :class:`~freshrec.log.EventLog` the events come from, a strategy
keeps cursors into it rather than copies of the events it may train on again (the history
of a full retrain, a replay buffer, windows gathered for a later update), as long as the
windows it is given are the log's next events (see :mod:`freshrec.update.replay`). The names
are those of the command line:

- ``frozen``: never updates; the baseline every other strategy must beat.
- ``full`` (:class:`FullRetrain`): ``fit`` from scratch on the history (all of it, or a
  sliding window of the latest events), every ``every`` windows.
- ``finetune`` (:class:`FineTune`): ``partial_fit`` on the new window from the current model
  (epochs and step size configurable).
- ``finetune-replay``: :class:`FineTune` with a
  :class:`~freshrec.update.replay.ReservoirReplay` sample of older events mixed in.
- ``finetune-ewc`` / ``finetune-distill``: :class:`FineTune` with
  :class:`~freshrec.update.forgetting.EWC` / :class:`~freshrec.update.forgetting.Distillation`.
- ``streaming`` (:class:`Streaming`): ``partial_fit`` on micro-batches as events arrive.
- ``hybrid`` (:class:`Hybrid`): streaming, plus a full retrain every few windows.
- ``on-drift`` (:class:`OnDrift`): a full retrain (or fine-tune) only when a drift detector
  fires on the model's own top-k misses.
- ``adaptive`` (:class:`~freshrec.update.adaptive.Adaptive`): a bandit chooses one of no-op,
  streaming, fine-tune with replay and full retrain per window, and rolls back a version
  that does worse on held-out events.

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.data.batch import as_batch
>>> from freshrec.models.bpr import BPR
>>> events = as_batch(checkerboard_events())
>>> model = BPR(n_factors=4, n_epochs=5).fit(events[:100])
>>> strategy = make_strategy("finetune-replay", {"epochs": 2})
>>> strategy.prime(events[:100])
>>> report = strategy.step(model, events[100:150])  # 50 new events, 50 replayed
>>> report.trained, report.n_events, model.n_events_
(True, 100, 150)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import Anchors, DistilsFromSelf, Observes, Rehearses
from freshrec.data.batch import EventBatch
from freshrec.log.log import EventLog
from freshrec.update.forgetting import EWC, Distillation, ForgettingControl
from freshrec.update.recency import RecencyChoice, choose_window
from freshrec.update.replay import EventHistory, ReservoirReplay

__all__ = [
    "STRATEGIES",
    "FineTune",
    "Frozen",
    "FullRetrain",
    "Hybrid",
    "IfModelHas",
    "OnDrift",
    "Streaming",
    "UpdateReport",
    "UpdateStrategy",
    "does_not_apply",
    "make_strategy",
]


@dataclass(frozen=True)
class IfModelHas:
    """A strategy's default setting for the models that have the parameter; a model without
    it goes without (:func:`overridden`), where a value given plainly is an error.

    Examples
    --------
    >>> from freshrec.models import BPR, MostPopular
    >>> bpr = BPR(n_epochs=100)
    >>> with overridden(bpr, n_epochs=IfModelHas(1)):
    ...     bpr.n_epochs
    1
    >>> with overridden(MostPopular(), n_epochs=IfModelHas(1)):  # no epochs: goes without
    ...     pass
    """

    value: int | float


@dataclass(frozen=True)
class UpdateReport:
    """What one :meth:`UpdateStrategy.step` did.

    Attributes
    ----------
    trained
        Whether the model changed.
    n_events
        Events trained on (new, replayed and, for a retrain, the whole history).
    seconds
        Wall time spent training.
    n_updates
        Calls that changed the model (micro-batches, retrains, fine-tunes).
    n_learned
        Events of the stream learned for the first time in this step.
    lag_s
        Mean time from those events' timestamps to the version that learned them (the
        latest timestamp the strategy had seen when it trained); ``None`` when no event was
        learned or the events have no timestamps.
    action
        What a strategy that chooses among actions did (``None`` for the others).

    Examples
    --------
    >>> UpdateReport(True, 100, 0.5, 1, 100, 3600.0).lag_s / 3600
    1.0
    """

    trained: bool
    n_events: int
    seconds: float
    n_updates: int
    n_learned: int
    lag_s: float | None
    action: str | None = None


@runtime_checkable
class UpdateStrategy(Protocol):
    """How a model keeps learning as windows of events arrive.

    Examples
    --------
    >>> isinstance(Frozen(), UpdateStrategy), isinstance(object(), UpdateStrategy)
    (True, False)
    """

    def prime(self, events: EventBatch, log: EventLog | None = None) -> None:
        """Take note of the events the model was trained on before the first window (the
        first events of ``log``, when given: the strategy then reads them from it)."""

    def step(self, model: RecommenderBase, batch: EventBatch) -> UpdateReport:
        """Learn (or not) from the next window ``batch``, in place."""


class _Tracked:
    """Shared bookkeeping: events not learned yet, their freshness, the time spent."""

    def __init__(self) -> None:
        self._pending: list[np.ndarray] = []  # timestamps of events not learned yet
        self._now: float | None = None

    def prime(self, events: EventBatch, log: EventLog | None = None) -> None:
        self._pending.clear()

    def _arrive(self, batch: EventBatch) -> None:
        if batch.timestamp is not None and len(batch):
            self._pending.append(np.asarray(batch.timestamp, np.float64))
            self._now = float(batch.timestamp.max())
        else:
            self._pending.append(np.full(len(batch), np.nan))

    def _learn_pending(self) -> tuple[int, float | None]:
        """Mark every pending event learned now; return their count and mean lag."""
        times = np.concatenate(self._pending) if self._pending else np.zeros(0)
        self._pending.clear()
        if not len(times) or self._now is None or np.isnan(times).all():
            return len(times), None
        return len(times), float(np.nanmean(self._now - times))


class Frozen(_Tracked):
    """Never update: the model's parameters stay as trained before the first window.

    A model that reads histories (:class:`~freshrec.capabilities.Observes`: the sequential
    ones) still sees each user's latest events: observing is not learning.

    Examples
    --------
    >>> Frozen().step(None, EventBatch.empty()).trained
    False
    """

    def step(self, model: RecommenderBase, batch: EventBatch) -> UpdateReport:
        _observe(model, batch)
        return UpdateReport(False, 0, 0.0, 0, 0, None)


class FullRetrain(_Tracked):
    """``fit`` from scratch on the retained history every ``every`` windows.

    Parameters
    ----------
    every
        Retrain after every ``every``-th window (1: after each one).
    window
        Retrain on the latest ``window`` events only (a sliding window); ``None``: on all;
        ``"auto"``: the window :func:`~freshrec.update.recency.choose_window` picks at the
        first retrain, on the primed events' tail as long as the events between two
        retrains (its seconds count in that retrain's report).
    offset
        Shifts the schedule: the first retrain follows window ``every - offset``.

    Attributes
    ----------
    choice
        With ``window="auto"``, the :class:`~freshrec.update.recency.RecencyChoice` once
        made (``None`` before).

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.data.batch import as_batch
    >>> from freshrec.models.popular import MostPopular
    >>> events = as_batch(checkerboard_events())
    >>> strategy = FullRetrain(every=2)
    >>> model = MostPopular().fit(events[:100])
    >>> strategy.prime(events[:100])
    >>> [strategy.step(model, events[i:i + 50]).trained for i in (100, 150)]
    [False, True]
    >>> model.n_events_ == len(events)  # refitted on everything
    True
    """

    def __init__(
        self, every: int = 1, window: int | Literal["auto"] | None = None, offset: int = 0
    ) -> None:
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if not 0 <= offset < every:
            raise ValueError(f"offset must be in [0, every), got {offset}")
        if isinstance(window, str) and window != "auto":
            raise ValueError(f"window must be a number of events, None or 'auto', got {window!r}")
        self.every = every
        self.offset = offset
        self.auto = window == "auto"
        self.history = EventHistory(None if window == "auto" else window)
        self.choice: RecencyChoice | None = None
        self._primed = 0
        self._windows = 0

    def prime(self, events: EventBatch, log: EventLog | None = None) -> None:
        super().prime(events, log)
        self.history = _history(events, log, None if self.auto else self.history.max_events)
        self.choice = None
        self._primed = len(self.history)
        self._windows = 0

    def step(self, model: RecommenderBase, batch: EventBatch) -> UpdateReport:
        self._arrive(batch)
        self.history.add(batch)
        self._windows += 1
        if (self._windows + self.offset) % self.every:
            _observe(model, batch)
            return UpdateReport(False, 0, 0.0, 0, 0, None)
        return self.retrain(model)

    def choose(self, model: RecommenderBase, tail: int) -> RecencyChoice:
        """Pick the sliding window now, on the primed events with their last ``tail`` held
        out (``window="auto"``; :meth:`retrain` does it when it has not been done).

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models.popular import MostPopular
        >>> strategy = FullRetrain(window="auto")
        >>> strategy.prime(checkerboard_events())
        >>> strategy.choose(MostPopular(), tail=50).window in (50, 100, None)
        True
        """
        if not self.auto:
            raise ValueError("choose() picks the window of FullRetrain(window='auto') only")
        self.choice = choose_window(model, self.history.events()[: self._primed], tail=tail)
        self.history.max_events = self.choice.window
        return self.choice

    def retrain(self, model: RecommenderBase) -> UpdateReport:
        """``fit`` ``model`` from scratch on the retained history now, off the schedule.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models.popular import MostPopular
        >>> strategy = FullRetrain(window=50)
        >>> strategy.history.add(checkerboard_events())
        >>> strategy.retrain(MostPopular()).n_events
        50
        """
        start = time.perf_counter()
        if self.auto and self.choice is None:
            self.choose(model, tail=max(len(self.history) - self._primed, 1))
        events = _latest(self.history.events(), self.history.max_events)
        model.fit(events)
        seconds = time.perf_counter() - start
        return UpdateReport(True, len(events), seconds, 1, *self._learn_pending())


class FineTune(_Tracked):
    """``partial_fit`` on each new window, warm-started from the current model.

    Parameters
    ----------
    epochs, lr
        The model's ``n_epochs`` and ``lr`` during the update (``None``: its own).
    replay
        A replay buffer: each update also rehearses ``replay_ratio * len(window)`` events
        drawn from it, then the window enters it. Needs a model that is
        :class:`~freshrec.capabilities.Rehearses`.
    replay_ratio
        Replayed events per new event.
    forgetting
        A :class:`~freshrec.update.forgetting.ForgettingControl` (EWC, distillation)
        attached for each update, with the previously learned window as "the past".
    every
        Update after every ``every``-th window, on the windows gathered since the last one.
    max_events
        Learn only the latest ``max_events`` of those (``None``: all), which bounds the cost
        of an update; the others are skipped.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.data.batch import as_batch
    >>> from freshrec.models.bpr import BPR
    >>> events = as_batch(checkerboard_events())
    >>> model = BPR(n_factors=4, n_epochs=5).fit(events[:100])
    >>> strategy = FineTune(epochs=1, replay=ReservoirReplay(capacity=40), replay_ratio=0.5)
    >>> strategy.prime(events[:100])
    >>> strategy.step(model, events[100:150]).n_events  # 50 new + 25 replayed
    75
    """

    def __init__(
        self,
        epochs: int | None = None,
        lr: float | None = None,
        replay: ReservoirReplay | None = None,
        replay_ratio: float = 1.0,
        forgetting: ForgettingControl | None = None,
        every: int = 1,
        max_events: int | None = None,
    ) -> None:
        super().__init__()
        if replay_ratio < 0:
            raise ValueError(f"replay_ratio must be >= 0, got {replay_ratio}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if max_events is not None and max_events < 1:
            raise ValueError(f"max_events must be >= 1 or None, got {max_events}")
        self.epochs = epochs
        self.lr = lr
        self.replay = replay
        self.replay_ratio = replay_ratio
        self.forgetting = forgetting
        self.every = every
        self.max_events = max_events
        self._previous = EventHistory()  # the window learned last
        self._gathered = EventHistory()  # windows since the last update
        self._n_gathered = 0

    def prime(self, events: EventBatch, log: EventLog | None = None) -> None:
        super().prime(events, log)
        self._previous = _history(events, log)
        self._gathered = _history(events, log)
        self._gathered.clear()  # on a log: the next window follows the primed events
        self._n_gathered = 0
        if self.replay is not None:
            if log is not None:
                self.replay.attach(log)
            self.replay.add(events)

    def step(self, model: RecommenderBase, batch: EventBatch) -> UpdateReport:
        self._gathered.add(batch)
        self._n_gathered += 1
        if self._n_gathered < self.every:  # the update will learn it: not observed now
            return UpdateReport(False, 0, 0.0, 0, 0, None)
        if self.replay is not None and not isinstance(model, Rehearses):
            raise ValueError(
                f"{type(model).__name__} cannot rehearse replayed events (it is not Rehearses); "
                "fine-tune it without replay"
            )
        batch = _latest(self._gathered.events(), self.max_events)
        self._gathered.clear()
        self._n_gathered = 0
        self._arrive(batch)
        replayed = None
        if self.replay is not None:
            replayed = self.replay.sample(int(round(self.replay_ratio * len(batch))))
        start = time.perf_counter()
        if self.forgetting is not None:
            self.forgetting.before_update(model, self._previous.events())
        try:
            with overridden(model, n_epochs=self.epochs, lr=self.lr):
                model.partial_fit(batch, replay=replayed)
        finally:
            if self.forgetting is not None:
                self.forgetting.after_update(model)
        seconds = time.perf_counter() - start
        self._previous.clear()
        self._previous.add(batch)
        if self.replay is not None:
            self.replay.add(batch)
        n_events = len(batch) + (len(replayed) if replayed is not None else 0)
        return UpdateReport(True, n_events, seconds, 1, *self._learn_pending())


class Streaming(_Tracked):
    """``partial_fit`` on micro-batches of ``micro_batch`` events, in the order given (a
    window read from the log: log order).

    Parameters
    ----------
    micro_batch
        Events per update.
    epochs, lr
        The model's ``n_epochs`` and ``lr`` during each update (``None``: its own). By
        default one epoch for a model that trains in epochs; a model without ``n_epochs``
        (counts, neighbourhoods) learns each event once.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.data.batch import as_batch
    >>> from freshrec.models.bpr import BPR
    >>> events = as_batch(checkerboard_events())
    >>> model = BPR(n_factors=4, n_epochs=5).fit(events[:100])
    >>> Streaming(micro_batch=20, epochs=1).step(model, events[100:150]).n_updates
    3
    """

    def __init__(
        self,
        micro_batch: int = 1000,
        epochs: int | IfModelHas | None = IfModelHas(1),
        lr: float | None = None,
    ) -> None:
        super().__init__()
        if micro_batch < 1:
            raise ValueError(f"micro_batch must be >= 1, got {micro_batch}")
        self.micro_batch = micro_batch
        self.epochs = epochs
        self.lr = lr

    def step(self, model: RecommenderBase, batch: EventBatch) -> UpdateReport:
        seconds, n_updates, n_learned, lag_total = 0.0, 0, 0, 0.0
        with overridden(model, n_epochs=self.epochs, lr=self.lr):
            for first in range(0, len(batch), self.micro_batch):  # in the order given
                part = batch[first : first + self.micro_batch]
                self._arrive(part)
                start = time.perf_counter()
                model.partial_fit(part)
                seconds += time.perf_counter() - start
                n_updates += 1
                count, lag = self._learn_pending()
                n_learned += count
                lag_total += (lag or 0.0) * count
        has_lag = batch.timestamp is not None and n_learned
        return UpdateReport(
            bool(n_updates),
            len(batch),
            seconds,
            n_updates,
            n_learned,
            lag_total / n_learned if has_lag else None,
        )


class OnDrift(_Tracked):
    """Update only when a drift detector fires on the model's own misses.

    Before each window is learned, the model ranks items for the window's positive events
    as it stands and each event counts 1 when its item misses the user's top-``k``
    (:func:`~freshrec.drift.signals.miss_stream`, nothing masked: users may come back to
    an item); a detector reads them, or the means of blocks of ``block`` of them. When it
    alarms during the window, the model is refitted from scratch on the history
    (``action="full"``) or fine-tuned on every event since its last update
    (``action="finetune"``), and a fresh detector starts; otherwise it learns nothing (with
    ``action="full"`` a sequential model still observes the window; with ``"finetune"`` it
    sees the backlog when it learns it). ``detector`` builds a detector (default:
    :class:`~freshrec.drift.detectors.HitRateDrop`, 5,000 events against the first 5,000
    after the last update, z above 3, ``block=1``; river's detectors, e.g. Page-Hinkley on
    increases, want blocks of about 50). The full retrain learns from the history's latest
    ``window`` events (``None``: all; ``"auto"``: chosen at the first alarm, as
    :class:`FullRetrain` does, on the primed events' tail as long as the first window).
    With ``burst`` > 1, an alarm
    starts ``burst`` updates, ``spacing`` windows apart, the first at once (a changed world
    takes more than one update to learn: with a sliding ``window``, a follow-up once the
    window holds only events after the change); ``max_events`` bounds a fine-tune to the
    latest events of its backlog.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.data.batch import as_batch
    >>> from freshrec.models.popular import MostPopular
    >>> events = as_batch(checkerboard_events())
    >>> model = MostPopular().fit(events[:100])
    >>> strategy = OnDrift(detector=lambda: _AlwaysAlarm())
    >>> strategy.prime(events[:100])
    >>> strategy.step(model, events[100:]).trained, model.n_events_ == len(events)
    (True, True)
    """

    def __init__(
        self,
        action: str = "full",
        detector: Callable[[], Any] | None = None,
        block: int = 1,
        k: int = 10,
        window: int | Literal["auto"] | None = None,
        burst: int = 1,
        spacing: int = 1,
        max_events: int | None = None,
    ) -> None:
        super().__init__()
        if action not in ("full", "finetune"):
            raise ValueError(f"action must be 'full' or 'finetune', got {action!r}")
        if burst < 1 or spacing < 1:
            raise ValueError(f"burst and spacing must be >= 1, got {burst} and {spacing}")
        self.action = action
        self.detector = detector or _hit_rate_drop
        self.block = block
        self.k = k
        self.full = FullRetrain(window=window)
        self.burst = burst
        self.spacing = spacing
        self.max_events = max_events
        self._watch = self.detector()
        self._backlog = EventHistory()  # windows since the last update
        self._left = 0  # updates still due in the current burst
        self._since = 0  # windows since the last alarm
        self._first_window = 0  # events in the first window: the tail of the window's choice
        self.alarms = 0

    def prime(self, events: EventBatch, log: EventLog | None = None) -> None:
        super().prime(events, log)
        self.full.prime(events, log)
        self._first_window = 0
        self._watch = self.detector()
        self._backlog = _history(events, log)
        self._backlog.clear()
        self._left = 0

    def step(self, model: RecommenderBase, batch: EventBatch) -> UpdateReport:
        from freshrec.drift.detectors import alarms
        from freshrec.drift.signals import miss_stream

        self.full.history.add(batch)
        self._backlog.add(batch)
        self._first_window = self._first_window or len(batch)
        misses = miss_stream(model, batch, self.k)
        if len(alarms(self._watch, misses, block=self.block)):
            self.alarms += 1
            self._left, self._since = self.burst, 0
            self._watch = self.detector()
        else:
            self._since += 1
        if not self._left or self._since % self.spacing:
            if self.action == "full":  # a fine-tune will learn the backlog: no double entry
                _observe(model, batch)
            return UpdateReport(False, 0, 0.0, 0, 0, None)
        self._left -= 1
        start = time.perf_counter()
        if self.action == "full":
            self._arrive(self._backlog.events())
            if self.full.auto and self.full.choice is None:
                self.full.choose(model, tail=self._first_window)
            n_events = self.full.retrain(model).n_events
        else:
            events = _latest(self._backlog.events(), self.max_events)
            self._arrive(events)
            model.partial_fit(events)
            n_events = len(events)
        seconds = time.perf_counter() - start
        self._backlog.clear()
        return UpdateReport(True, n_events, seconds, 1, *self._learn_pending())


class _AlwaysAlarm:
    """A detector that alarms on every value (for examples and tests)."""

    def update(self, x: float) -> None:
        pass

    @property
    def drift_detected(self) -> bool:
        return True


def _hit_rate_drop() -> Any:
    from freshrec.drift.detectors import HitRateDrop

    return HitRateDrop(reference=5000, window=5000, z_alarm=3.0)


def _page_hinkley() -> Any:
    from freshrec.drift.detectors import RiverDetector

    return RiverDetector("page-hinkley", threshold=1.0, delta=0.02, mode="up")


class Hybrid:
    """:class:`Streaming` on every window plus a :class:`FullRetrain` every ``every`` windows.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.data.batch import as_batch
    >>> from freshrec.models.bpr import BPR
    >>> events = as_batch(checkerboard_events())
    >>> model = BPR(n_factors=4, n_epochs=5).fit(events[:100])
    >>> strategy = Hybrid(Streaming(micro_batch=50), every=2)
    >>> strategy.prime(events[:100])
    >>> [strategy.step(model, events[i:i + 50]).n_updates for i in (100, 150)]
    [1, 2]
    """

    def __init__(
        self, streaming: Streaming | None = None, every: int = 5, window: int | None = None
    ) -> None:
        self.streaming = streaming or Streaming()
        self.retrain = FullRetrain(every=every, window=window)

    def prime(self, events: EventBatch, log: EventLog | None = None) -> None:
        self.streaming.prime(events, log)
        self.retrain.prime(events, log)

    def step(self, model: RecommenderBase, batch: EventBatch) -> UpdateReport:
        streamed = self.streaming.step(model, batch)
        retrained = self.retrain.step(model, batch)  # its lag is no news: streaming learned it
        return UpdateReport(
            True,
            streamed.n_events + retrained.n_events,
            streamed.seconds + retrained.seconds,
            streamed.n_updates + retrained.n_updates,
            streamed.n_learned,
            streamed.lag_s,
        )


def _history(
    events: EventBatch, log: EventLog | None, max_events: int | None = None
) -> EventHistory:
    """A history that holds ``events`` (cursors into ``log`` when they are its first
    events)."""
    history = EventHistory(max_events)
    if log is not None:
        history.attach(log)
    history.add(events)
    return history


def _latest(events: EventBatch, max_events: int | None) -> EventBatch:
    """The latest ``max_events`` of ``events`` (all of them for ``None``)."""
    if max_events is None or len(events) <= max_events:
        return events
    return events[len(events) - max_events :]


def _observe(model: RecommenderBase | None, batch: EventBatch) -> None:
    """Let a history-reading model see ``batch`` without learning from it."""
    if isinstance(model, Observes) and len(batch):
        model.observe(batch)


@contextmanager
def overridden(model: RecommenderBase, **params: Any) -> Iterator[None]:
    """Set the given hyperparameters (``None`` ones skipped, :class:`IfModelHas` ones
    skipped when the model has no such parameter) for the ``with`` block only.

    Examples
    --------
    >>> from freshrec.models.bpr import BPR
    >>> model = BPR(n_epochs=100)
    >>> with overridden(model, n_epochs=3, lr=None):
    ...     model.n_epochs
    3
    >>> model.n_epochs
    100
    """
    current = model.get_params()
    given = {
        name: value.value if isinstance(value, IfModelHas) else value
        for name, value in params.items()
        if value is not None and not (isinstance(value, IfModelHas) and name not in current)
    }
    unknown = sorted(set(given) - set(current))
    if unknown:
        raise ValueError(
            f"{type(model).__name__} has no parameter {', '.join(unknown)}: this setting of "
            "the update strategy does not apply to it; leave it unset for this model"
        )
    model.set_params(**given)
    try:
        yield
    finally:
        model.set_params(**{name: current[name] for name in given})


def _finetune_replay(
    capacity: int = 100_000, replay_ratio: float = 1.0, seed: int | None = 0, **params: Any
) -> FineTune:
    return FineTune(replay=ReservoirReplay(capacity, seed), replay_ratio=replay_ratio, **params)


def _finetune_ewc(strength: float = 1.0, **params: Any) -> FineTune:
    return FineTune(forgetting=EWC(strength), **params)


def _finetune_distill(weight: float = 1.0, **params: Any) -> FineTune:
    return FineTune(forgetting=Distillation(weight), **params)


def _hybrid(
    micro_batch: int = 1000, epochs: int | IfModelHas | None = IfModelHas(1), **params: Any
) -> Hybrid:
    return Hybrid(Streaming(micro_batch, epochs), **params)


def _adaptive(**params: Any) -> UpdateStrategy:
    from freshrec.update.adaptive import Adaptive  # it builds on this module

    return Adaptive(**params)


STRATEGIES: dict[str, Callable[..., UpdateStrategy]] = {
    "frozen": Frozen,
    "full": FullRetrain,
    "finetune": FineTune,
    "finetune-replay": _finetune_replay,
    "finetune-ewc": _finetune_ewc,
    "finetune-distill": _finetune_distill,
    "streaming": Streaming,
    "hybrid": _hybrid,
    "on-drift": OnDrift,
    "adaptive": _adaptive,
}


def does_not_apply(strategy: UpdateStrategy, model: RecommenderBase) -> str | None:
    """Why ``strategy`` cannot update ``model`` (``None``: it can), to say so before any
    work rather than at the first update that needs it.

    Examples
    --------
    >>> from freshrec.models import BPR, MostPopular
    >>> does_not_apply(make_strategy("finetune-replay"), MostPopular())
    'its replay needs a model that rehearses replayed events (Rehearses)'
    >>> does_not_apply(make_strategy("finetune-replay"), BPR()) is None
    True
    >>> does_not_apply(Streaming(epochs=3), MostPopular())
    'epochs: MostPopular has no n_epochs (it learns each event once)'
    """
    from freshrec.update.guard import Guarded  # it builds on this module

    if isinstance(strategy, Guarded):
        return does_not_apply(strategy.strategy, model)
    if isinstance(strategy, Hybrid):
        return does_not_apply(strategy.streaming, model)
    params = model.get_params()
    for setting, param in (("epochs", "n_epochs"), ("lr", "lr")):
        value = getattr(strategy, setting, None)
        if value is not None and not isinstance(value, IfModelHas) and param not in params:
            extra = " (it learns each event once)" if param == "n_epochs" else ""
            return f"{setting}: {type(model).__name__} has no {param}{extra}"
    if isinstance(strategy, FineTune):
        if strategy.replay is not None and not isinstance(model, Rehearses):
            return "its replay needs a model that rehearses replayed events (Rehearses)"
        if isinstance(strategy.forgetting, EWC) and not isinstance(model, Anchors):
            return "EWC needs a model that anchors its parameters (Anchors)"
        if isinstance(strategy.forgetting, Distillation) and not isinstance(model, DistilsFromSelf):
            return "distillation needs a model that distils from itself (DistilsFromSelf)"
    return None


def make_strategy(name: str, params: Mapping[str, Any] | None = None) -> UpdateStrategy:
    """The strategy called ``name`` on the command line, built with ``params``.

    Examples
    --------
    >>> make_strategy("full", {"every": 5}).every
    5
    >>> make_strategy("nightly")
    Traceback (most recent call last):
    ...
    ValueError: unknown update strategy 'nightly'; choose from frozen, full, finetune, \
finetune-replay, finetune-ewc, finetune-distill, streaming, hybrid, on-drift, adaptive
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown update strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    try:
        return STRATEGIES[name](**dict(params or {}))
    except TypeError as error:
        raise ValueError(f"bad parameters for update strategy {name!r}: {error}") from None
