"""A held-out check that rejects a harmful update: for any strategy, and for the adaptive one.

Each window's last ``share`` (in time order) is held out and learned with the next window.
Before and after the update the model ranks items for the held-out events (each user's
earlier items masked); if the update lost significantly more held-out hits than it gained
(a one-sided sign test on the events whose hit changed, ``z`` standard errors), the previous
version is put back: a snapshot of what the model had learned (the attributes
:meth:`~freshrec.base.Estimator.reset` drops). :class:`Guarded` wraps a strategy this way;
the arena wraps every strategy of a sequential model in it by default (a few epochs on one
window can pull SASRec's item table toward that window and away from what it knew).

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.data.batch import as_batch
>>> from freshrec.models.bpr import BPR
>>> from freshrec.update.strategies import FineTune
>>> events = as_batch(checkerboard_events())
>>> model = BPR(n_factors=4, n_epochs=5).fit(events[:100])
>>> guarded = Guarded(FineTune())
>>> guarded.prime(events[:100])
>>> report = guarded.step(model, events[100:150])
>>> guarded.checked, report.action in ("kept", "rejected")
(1, True)
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.data.batch import EventBatch
from freshrec.log.log import EventLog
from freshrec.update.replay import EventHistory
from freshrec.update.strategies import (
    FullRetrain,
    UpdateReport,
    UpdateStrategy,
    _observe,
)

__all__ = ["Guarded", "HeldOutCheck", "HeldOutTest", "Verdict"]


@dataclass(frozen=True)
class HeldOutCheck:
    """How an update is measured on held-out events and when it is rolled back.

    Attributes
    ----------
    share
        Share of each window held out (in time order, its end); learned with the next one
        (by :class:`~freshrec.update.adaptive.Adaptive`, at once when the update passed).
    k
        Cut-off of the hit test.
    exclude_seen
        Mask the items each user took before the held-out event (as the arena does; turn it
        off for streams where users come back to items).
    z
        Standard errors of lost-minus-gained hits that trigger a rollback.

    Examples
    --------
    >>> HeldOutCheck(share=0.2).k
    10
    """

    share: float = 0.1
    k: int = 10
    exclude_seen: bool = True
    z: float = 1.64

    def __post_init__(self) -> None:
        if not 0.0 < self.share < 1.0:
            raise ValueError(f"the held-out share must be in (0, 1), got {self.share}")


@dataclass(frozen=True)
class Verdict:
    """What an update did to the held-out hits.

    Attributes
    ----------
    gain
        ``(gained - lost) / hits before`` (relative change of the hits).
    harmful
        Lost significantly more hits than it gained: roll it back.

    Examples
    --------
    >>> Verdict(gain=-0.5, harmful=True).harmful
    True
    """

    gain: float
    harmful: bool


class HeldOutTest:
    """Splits windows into what is learned and what is held out, and judges updates.

    Examples
    --------
    >>> import numpy as np
    >>> test = HeldOutTest(HeldOutCheck(share=0.2))
    >>> test.prime(EventBatch.empty())
    >>> learn, held = test.split(EventBatch(np.arange(10), np.arange(10), np.ones(10)))
    >>> len(learn), len(held)
    (8, 2)
    >>> test.judge(np.array([True, True]), np.array([False, False])).gain
    -1.0
    """

    def __init__(self, check: HeldOutCheck | None = None) -> None:
        self.check = check or HeldOutCheck()
        self._held = EventBatch.empty()
        self._known = EventHistory()  # every event learned or held: their items get masked
        self._mask: tuple[EventBatch, EventBatch] | None = None  # held-out part, its mask

    def prime(self, events: EventBatch, log: EventLog | None = None) -> None:
        self._known = EventHistory()
        if log is not None:
            self._known.attach(log)
        self._known.add(events)
        self._held = EventBatch.empty()
        self._mask = None

    def split(self, batch: EventBatch) -> tuple[EventBatch, EventBatch]:
        """The events to learn now (the previous held-out part and the start of ``batch``)
        and the held-out end of ``batch`` (learned next time)."""
        cut = len(batch) - max(1, int(round(self.check.share * len(batch)))) if len(batch) else 0
        learn = EventBatch.concat([self._held, batch[:cut]])
        self._held = batch[cut:]
        self._known.add(learn)
        return learn, self._held

    def release(self) -> EventBatch:
        """The held-out part, handed over to be learned now (the next :meth:`split` will
        not return it again)."""
        held, self._held = self._held, EventBatch.empty()
        self._known.add(held)
        return held

    def hits(self, model: RecommenderBase, held: EventBatch) -> np.ndarray:
        """Per positive held-out event: whether its item is in the user's top-k, the items
        of the user's earlier events masked."""
        from freshrec.drift.signals import miss_stream

        seen = self._seen(held) if self.check.exclude_seen else None
        hits: np.ndarray = miss_stream(model, held, self.check.k, seen=seen) == 0.0
        return hits

    def _seen(self, held: EventBatch) -> EventBatch:
        """The earlier events of ``held``'s users, gathered once for the test before an
        update and the test after it (the same ``held``)."""
        if self._mask is None or self._mask[0] is not held:
            events = self._known.events()
            self._mask = (held, events.take(np.isin(events.user, np.unique(held.user))))
        return self._mask[1]

    def judge(self, before: np.ndarray, after: np.ndarray) -> Verdict:
        """The :class:`Verdict` on an update, from the hits before and after it."""
        lost = int((before & ~after).sum())
        gained = int((after & ~before).sum())
        gain = (gained - lost) / max(int(before.sum()), 1)
        return Verdict(gain, lost - gained > self.check.z * math.sqrt(lost + gained))


class Guarded:
    """Run ``strategy`` on each window but its held-out end; undo an update that hurt.

    ``checked`` counts the updates judged, ``rejected`` those rolled back. The reports'
    ``action`` says ``"kept"``, ``"rejected"`` or, when the strategy did not train,
    ``None``. A rejected update's events stay unlearned (a sequential model still observes
    them); every second of the check counts in the report.

    Examples
    --------
    >>> from freshrec.update.strategies import Streaming
    >>> guarded = Guarded(Streaming(), HeldOutCheck(share=0.2, z=3.0))
    >>> guarded.rejected, guarded.check.z
    (0, 3.0)
    """

    def __init__(self, strategy: UpdateStrategy, check: HeldOutCheck | None = None) -> None:
        self.strategy = strategy
        self.check = check or HeldOutCheck()
        self.test = HeldOutTest(self.check)
        self.checked = 0
        self.rejected = 0

    def prime(self, events: EventBatch, log: EventLog | None = None) -> None:
        self.strategy.prime(events, log)
        self.test.prime(events, log)
        self.checked = self.rejected = 0

    def step(self, model: RecommenderBase, batch: EventBatch) -> UpdateReport:
        start = time.perf_counter()
        learn, held = self.test.split(batch)
        before = self.test.hits(model, held)
        snapshot = learned_state(model, deep=not isinstance(self.strategy, FullRetrain))
        report = self.strategy.step(model, learn)
        if not report.trained:
            return _timed(report, start)
        self.checked += 1
        verdict = self.test.judge(before, self.test.hits(model, held))
        if not verdict.harmful:
            return _timed(report, start, action="kept")
        self.rejected += 1
        restore_state(model, snapshot)
        _observe(model, learn)
        return UpdateReport(
            False, report.n_events, time.perf_counter() - start, 0, 0, None, action="rejected"
        )


def _timed(report: UpdateReport, start: float, action: str | None = None) -> UpdateReport:
    """``report`` with the check's seconds counted (and ``action`` when given)."""
    return replace(report, seconds=time.perf_counter() - start, action=action or report.action)


def learned_state(model: RecommenderBase, *, deep: bool = True) -> dict[str, Any]:
    """What ``model`` learned: the attributes that ``reset`` drops, copied deeply unless the
    update refits from scratch (``fit`` resets first: it replaces those objects and leaves
    them unchanged).

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.popular import MostPopular
    >>> model = MostPopular().fit(checkerboard_events())
    >>> state = learned_state(model)
    >>> _ = model.partial_fit(checkerboard_events())
    >>> restore_state(model, state); model.n_events_ == len(checkerboard_events())
    True
    """
    learned = {
        name: value
        for name, value in vars(model).items()
        if name.endswith("_") and not name.startswith("__")
    }
    return copy.deepcopy(learned) if deep else learned


def restore_state(model: RecommenderBase, learned: dict[str, Any]) -> None:
    """Put back what ``model`` had learned when :func:`learned_state` took ``learned``."""
    model.reset()
    for name, value in learned.items():
        setattr(model, name, value)
