"""A single interaction event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from freshrec.typing import ItemId, UserId

__all__ = ["Event"]


@dataclass(frozen=True, slots=True)
class Event:
    """One interaction of a user with an item.

    Parameters
    ----------
    user, item
        External ids (``int`` or ``str``). Internal indices live in an :class:`IdMap`.
    value
        The rating for explicit models; for implicit models an event is a positive when
        ``value >= threshold``. Logged impressions that were not clicked carry ``0``.
    timestamp
        Seconds since the epoch; ``None`` means arrival order.
    context
        Numeric and categorical features of the event (device, position, ...).
    propensity
        Probability that the logging policy showed this item; enables off-policy estimates.
    event_id
        Unique id, used to deduplicate events that arrive twice.

    Examples
    --------
    >>> Event("ann", "matrix", 5.0, timestamp=874965758.0)
    Event(user='ann', item='matrix', value=5.0, timestamp=874965758.0, context=None,
          propensity=None, event_id=None)
    """

    user: UserId
    item: ItemId
    value: float = 1.0
    timestamp: float | None = None
    context: Mapping[str, float | str] | None = None
    propensity: float | None = None
    event_id: str | int | None = None
