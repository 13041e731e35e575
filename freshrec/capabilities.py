"""Capabilities a model declares by having the methods: small ``typing.Protocol`` classes.

Callers test ``isinstance(model, LearnsOne)`` instead of probing attributes by name, and
:mod:`freshrec.checks` checks each capability a model has.

Examples
--------
>>> from freshrec.models import BiasedMF, MostPopular
>>> isinstance(BiasedMF(), LearnsOne), isinstance(MostPopular(), LearnsOne)
(True, False)
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from freshrec.typing import ItemId, UserId

__all__ = ["LearnsOne"]


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
