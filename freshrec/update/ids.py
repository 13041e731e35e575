"""Id lifecycle: which new ids get a row (admission) and which rows are taken back (eviction).

An embedding table cannot grow forever on an open stream of users and items. An
:class:`IdPolicy` per side bounds it:

- **admission**: an unknown id gets a row once it was seen ``min_count`` times, and then
  only with probability ``admit_probability`` per event (seeded); events whose user or item
  is not admitted are not learned (the model serves them by its fallback);
- **eviction**: with a ``budget`` of rows, admitting past it first evicts the active ids
  that are not in the current batch, least recently seen first (``"lru"``), least often
  seen first (``"lfu"``); with ``ttl_s``, ids idle for longer are evicted whatever the
  budget;
- **reuse**: evicted rows are reused by the next admitted ids and start fresh (``init``:
  the model's initialisation, zero, or the mean of the active rows; or from content through
  ``item_vectors``), with an empty optimizer state; surviving rows and their optimizer state
  are untouched.

:class:`IdLifecycle` applies the two policies around ``partial_fit``. The model must support
``evict``/``add_ids`` (BPR, NeuMF).

Examples
--------
>>> from freshrec.data.batch import EventBatch
>>> from freshrec.models.bpr import BPR
>>> events = EventBatch(np.arange(40) % 20, np.arange(40), np.ones(40),
...                     timestamp=np.arange(40.0))
>>> lifecycle = IdLifecycle(items=IdPolicy(budget=10))
>>> model = BPR(n_factors=4, n_epochs=1)
>>> for start in range(0, 40, 8):
...     report = lifecycle.partial_fit(model, events[start:start + 8])
>>> model.item_map_.n_active, len(model.item_map_)  # 40 items seen, 10 rows
(10, 10)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import GrowsAndEvicts
from freshrec.data.batch import Events, as_batch
from freshrec.data.idmap import IdMap
from freshrec.typing import RowInit
from freshrec.update.item_init import set_item_rows

__all__ = ["EVICTIONS", "IdLifecycle", "IdPolicy", "LifecycleReport"]

EVICTIONS = ("lru", "lfu")


@dataclass(frozen=True)
class IdPolicy:
    """Admission and eviction rules for one side (users or items).

    Examples
    --------
    >>> IdPolicy(budget=1000, eviction="lfu", min_count=2).eviction
    'lfu'
    >>> IdPolicy(eviction="fifo")
    Traceback (most recent call last):
    ...
    ValueError: eviction must be one of ('lru', 'lfu'), got 'fifo'
    """

    budget: int | None = None
    eviction: str = "lru"
    ttl_s: float | None = None
    min_count: int = 1
    admit_probability: float = 1.0
    init: RowInit = "normal"

    def __post_init__(self) -> None:
        if self.budget is not None and self.budget < 1:
            raise ValueError(f"budget must be >= 1 or None, got {self.budget}")
        if self.eviction not in EVICTIONS:
            raise ValueError(f"eviction must be one of {EVICTIONS}, got {self.eviction!r}")
        if self.ttl_s is not None and not self.ttl_s > 0:
            raise ValueError(f"ttl_s must be positive or None, got {self.ttl_s}")
        if self.min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {self.min_count}")
        if not 0.0 < self.admit_probability <= 1.0:
            raise ValueError(f"admit_probability must be in (0, 1], got {self.admit_probability}")


@dataclass
class LifecycleReport:
    """What one :meth:`IdLifecycle.partial_fit` did.

    Examples
    --------
    >>> LifecycleReport(learned=90, dropped=10).learned
    90
    """

    learned: int = 0
    dropped: int = 0
    admitted: dict[str, int] = field(default_factory=lambda: {"user": 0, "item": 0})
    evicted: dict[str, int] = field(default_factory=lambda: {"user": 0, "item": 0})


class _Side:
    """The bookkeeping of one side: pending counts, last-seen times and frequencies."""

    def __init__(self, policy: IdPolicy) -> None:
        self.policy = policy
        self.pending: Counter[Any] = Counter()  # unknown ids: events seen so far
        self.last_seen: dict[Any, float] = {}
        self.count: Counter[Any] = Counter()

    def admit(
        self, ids: np.ndarray, id_map: IdMap, rng: np.random.Generator
    ) -> tuple[np.ndarray, list[Any]]:
        """Per event, whether its id has (or now gets) a row; and the newly admitted ids."""
        keys = ids.tolist()
        allowed = np.zeros(len(keys), dtype=bool)
        admitted: list[Any] = []
        chosen: set[Any] = set()
        draws = rng.random(len(keys))
        for row, key in enumerate(keys):
            if key in id_map or key in chosen:
                allowed[row] = True
                continue
            self.pending[key] += 1
            if self.pending[key] >= self.policy.min_count and (
                draws[row] < self.policy.admit_probability
            ):
                del self.pending[key]
                chosen.add(key)
                admitted.append(key)
                allowed[row] = True
        return allowed, admitted

    def to_evict(self, id_map: IdMap, n_new: int, now: float, protected: set[Any]) -> list[Any]:
        """Active ids to evict before ``n_new`` ids join: expired ones, then over budget."""
        active = [key for key in id_map.ids if key is not None]
        out: list[Any] = []
        if self.policy.ttl_s is not None:
            out = [k for k in active if now - self.last_seen.get(k, now) > self.policy.ttl_s]
        budget = self.policy.budget
        excess = len(active) - len(out) + n_new - budget if budget is not None else 0
        if excess > 0:
            gone = set(out)
            candidates = [k for k in active if k not in gone and k not in protected]
            if self.policy.eviction == "lru":
                candidates.sort(key=lambda k: self.last_seen.get(k, -np.inf))
            else:
                candidates.sort(key=lambda k: (self.count.get(k, 0), self.last_seen.get(k, 0)))
            out += candidates[:excess]
        return out

    def forget(self, keys: list[Any]) -> None:
        for key in keys:
            self.last_seen.pop(key, None)
            self.count.pop(key, None)

    def seen(self, keys: np.ndarray, times: np.ndarray) -> None:
        for key, when in zip(keys.tolist(), times.tolist(), strict=True):
            self.last_seen[key] = max(when, self.last_seen.get(key, when))
            self.count[key] += 1


class IdLifecycle:
    """Admit, evict and reuse id rows around a model's ``partial_fit``.

    The model must be :class:`~freshrec.capabilities.GrowsAndEvicts` (BPR, NeuMF).

    Parameters
    ----------
    users, items
        The policy of each side; ``None`` admits every id and never evicts.
    seed
        Seed of the admission draws.
    item_vectors
        Content initialisation of admitted items: ``item_vectors(model, ids)`` returns their
        rows (e.g. a :class:`~freshrec.update.item_init.ContentProjection` of their text
        embeddings), written with :func:`~freshrec.update.item_init.set_item_rows` before
        the model learns; the items' ``init`` applies first.

    Examples
    --------
    >>> from freshrec.data.batch import EventBatch
    >>> from freshrec.models.bpr import BPR
    >>> model, lifecycle = BPR(n_factors=4, n_epochs=1), IdLifecycle(items=IdPolicy(min_count=2))
    >>> batch = EventBatch(np.array([1, 2, 2]), np.array(["a", "b", "a"]), np.ones(3))
    >>> report = lifecycle.partial_fit(model, batch)
    >>> report.learned, report.dropped  # "a" is admitted at its second event
    (1, 2)

    Notes
    -----
    Each batch is processed as one step: admission per event in order; then, per side,
    the ids idle past ``ttl_s`` and (over the budget) the LRU/LFU ids not in the batch are
    evicted; then the admitted ids get rows (reused first, initialised by the side's
    ``init``) and the model learns the admitted events. The batch that first fits the
    model gives its rows the model's own initialisation. When a batch alone holds more
    new ids than the budget allows, the last ones admitted are dropped with their events.
    Time is the events' timestamps (their row order when there are none).
    """

    def __init__(
        self,
        users: IdPolicy | None = None,
        items: IdPolicy | None = None,
        seed: int | None = 0,
        item_vectors: Callable[[RecommenderBase, np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.sides = {"user": _Side(users or IdPolicy()), "item": _Side(items or IdPolicy())}
        self.rng = np.random.default_rng(seed)
        self.item_vectors = item_vectors
        self._clock = 0.0

    def partial_fit(self, model: RecommenderBase, events: Events) -> LifecycleReport:
        """Admit, evict, add rows, then ``model.partial_fit`` the admitted events."""
        if not isinstance(model, GrowsAndEvicts):
            raise ValueError(
                f"{type(model).__name__} does not support evicting or adding ids (it is not "
                "GrowsAndEvicts); manage its ids with a model that is (BPR, NeuMF)"
            )
        batch = as_batch(events)
        times = (
            np.asarray(batch.timestamp, np.float64)
            if batch.timestamp is not None
            else self._clock + np.arange(len(batch), dtype=np.float64)
        )
        self._clock = float(times.max()) + 1.0 if len(times) else self._clock
        report = LifecycleReport()
        fitted = model.is_fitted
        maps = {
            "user": model.user_map_ if fitted else IdMap(),
            "item": model.item_map_ if fitted else IdMap(),
        }
        columns = {"user": batch.user, "item": batch.item}
        keep = np.ones(len(batch), dtype=bool)
        new: dict[str, list[Any]] = {}
        for name, side in self.sides.items():
            allowed, admitted = side.admit(columns[name], maps[name], self.rng)
            keep &= allowed
            new[name] = admitted
        now = float(times.max()) if len(times) else self._clock
        evicted: dict[str, list[Any]] = {}
        for name, side in self.sides.items():
            protected = set(columns[name][keep].tolist())
            evicted[name] = side.to_evict(maps[name], len(new[name]), now, protected)
            room = _room(side.policy, maps[name], len(evicted[name]))
            if room < len(new[name]):  # the batch alone overflows the budget
                dropped = new[name][room:]
                new[name] = new[name][:room]
                keep &= ~np.isin(columns[name], np.asarray(dropped, dtype=columns[name].dtype))
            side.forget(evicted[name])
        if fitted:
            model.evict(users=evicted["user"], items=evicted["item"])
            model.add_ids(users=new["user"], init=self.sides["user"].policy.init)
            _, item_rows = model.add_ids(items=new["item"], init=self.sides["item"].policy.init)
            if self.item_vectors is not None and len(item_rows):
                ids = np.asarray(new["item"], dtype=object)
                set_item_rows(model, item_rows, self.item_vectors(model, ids))
        kept_batch = batch.take(keep)
        if len(kept_batch):
            model.partial_fit(kept_batch)
        for name, side in self.sides.items():
            side.seen(columns[name][keep], times[keep])
            report.admitted[name] = len(new[name])
            report.evicted[name] = len(evicted[name])
        report.learned, report.dropped = int(keep.sum()), int((~keep).sum())
        return report


def _room(policy: IdPolicy, id_map: IdMap, n_evicted: int) -> int:
    """How many new ids fit after ``n_evicted`` evictions (unbounded without a budget)."""
    if policy.budget is None:
        return 1 << 62
    return max(0, policy.budget - (id_map.n_active - n_evicted))
