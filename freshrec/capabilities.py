"""Capabilities a model declares by having the methods: small ``typing.Protocol`` classes.

Callers test ``isinstance(model, LearnsOne)`` instead of probing attributes by name, and
:mod:`freshrec.checks` checks each capability a model has.

Examples
--------
>>> from freshrec.models import BiasedMF, MostPopular
>>> isinstance(BiasedMF(), LearnsOne), isinstance(MostPopular(), LearnsOne)
(True, False)
>>> isinstance(BiasedMF(), LearnsPredict), isinstance(BiasedMF(), LearnsRank)
(True, False)
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from freshrec.data.batch import Events
from freshrec.typing import ItemId, UserId

__all__ = ["LearnsOne", "LearnsPredict", "LearnsRank"]


@runtime_checkable
class LearnsOne(Protocol):
    """Learns one event at a time, as ``partial_fit([event])`` with one epoch would.

    Examples
    --------
    >>> from freshrec.models import BiasedMF
    >>> from freshrec.data import Event
    >>> model = BiasedMF(n_factors=2).fit([Event("ann", "a", 4.0)])
    >>> model.learn_one("ann", "b", 3.0); model.n_items
    2
    """

    def learn_one(self, user: UserId, item: ItemId, value: float) -> None:
        """Learn from one event (new users and items are added)."""


@runtime_checkable
class LearnsPredict(Protocol):
    """Test-then-train per event: predict each event's value, then learn it, in order.

    Examples
    --------
    >>> from freshrec.models import BiasedMF
    >>> from freshrec.data import Event
    >>> BiasedMF(n_factors=2).learn_predict([Event("ann", "a", 4.0)]).shape
    (1,)
    """

    def learn_predict(self, events: Events) -> np.ndarray:
        """The prediction made for each event before learning it."""


@runtime_checkable
class LearnsRank(Protocol):
    """Test-then-train per event for ranking: rank each event's item, then learn it, in order.

    Examples
    --------
    >>> from freshrec.models import BPR
    >>> from freshrec.data import Event
    >>> BPR(n_factors=2).fit([Event("ann", "a")]).learn_rank([Event("ann", "b")]).shape
    (1,)
    """

    def learn_rank(self, events: Events, *, steps: int = 1) -> np.ndarray:
        """The rank of each event's item before learning it (``steps`` updates per event)."""
