"""How much recent history a full retrain should learn from, chosen on the known events' tail.

Where the catalogue turns over (Amazon Beauty: a quarter of the second half's events are on
items the first half never saw), a model refitted on the latest events beats one refitted
on all of them. :func:`choose_window` picks the sliding window once, as a user would with a
validation split: it holds out the last ``tail`` known events (as many as arrive between two
retrains), refits a clone of the model on the latest ``m * tail`` events before them for
``m`` = 1, 2, 4, ... and on all of them, and keeps the window whose clone hits the most
held-out events in its top-``k`` (each user's earlier items masked, as the arena does).

Examples
--------
>>> from freshrec.data.synthetic import synthetic_stream
>>> from freshrec.models.popular import MostPopular
>>> events = synthetic_stream(n_users=50, n_items=40, n_events=2000, seed=0).events
>>> choice = choose_window(MostPopular(), events, tail=200)
>>> choice.window in choice.tried
True
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.data.batch import EventBatch

__all__ = ["RecencyChoice", "choose_window"]


@dataclass(frozen=True)
class RecencyChoice:
    """The window :func:`choose_window` picked and what it measured.

    Attributes
    ----------
    window
        The latest events to retrain on (``None``: all of them).
    tried
        Hit rate on the held-out tail for each window tried (``None``: all events).
    seconds
        Wall time the choice took (fits and scoring).

    Examples
    --------
    >>> RecencyChoice(5000, {5000: 0.02, None: 0.01}, 1.5).window
    5000
    """

    window: int | None
    tried: dict[int | None, float] = field(default_factory=dict)
    seconds: float = 0.0


def choose_window(
    model: RecommenderBase,
    events: EventBatch,
    *,
    tail: int,
    k: int = 10,
    patience: int = 2,
) -> RecencyChoice:
    """The sliding window (in events) a retrain of ``model`` should learn from.

    ``events`` are the known events in time order; the last ``tail`` of them are held out.
    Windows double from ``tail`` until they cover all earlier events; the search stops once
    ``patience`` windows in a row scored below the best so far (the score falls as stale
    events dilute the recent ones). Ties go to the larger window. ``model`` is not changed:
    clones of it are fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from freshrec.models.popular import MostPopular
    >>> old = EventBatch(np.arange(300) % 30, np.repeat([0, 1, 2], 100), np.ones(300))
    >>> new = EventBatch(np.arange(200) + 30, np.tile([3, 4], 100), np.ones(200))
    >>> choice = choose_window(MostPopular(), EventBatch.concat([old, new]), tail=100, k=1)
    >>> choice.window, choice.tried
    (100, {100: 0.5, 200: 0.0, None: 0.0})
    """
    from freshrec.drift.signals import miss_stream

    if tail < 1:
        raise ValueError(f"tail must be >= 1, got {tail}")
    start = time.perf_counter()
    before, held = events[: max(len(events) - tail, 0)], events[max(len(events) - tail, 0) :]
    if not len(before) or not len(held):
        return RecencyChoice(None, {}, time.perf_counter() - start)
    seen = before.take(np.isin(before.user, np.unique(held.user)))
    sizes: list[int | None] = []
    doubling = tail
    while doubling < len(before):
        sizes.append(doubling)
        doubling *= 2
    sizes.append(None)
    tried: dict[int | None, float] = {}
    best, best_score, worse = sizes[0], -np.inf, 0
    for size in sizes:
        train = before if size is None else before[len(before) - size :]
        misses = miss_stream(model.clone().fit(train), held, k, seen=seen)
        tried[size] = float(1.0 - misses.mean()) if len(misses) else 0.0
        if tried[size] >= best_score:
            best, best_score, worse = size, tried[size], 0
        else:
            worse += 1
            if worse >= patience:
                break
    return RecencyChoice(best, tried, time.perf_counter() - start)
