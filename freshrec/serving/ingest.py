"""Events as they come over HTTP: each JSON object checked on its own, so one malformed event
is rejected with a reason and the valid ones around it are kept.

The log checks values (finite numbers, ids, propensities in (0, 1]); this module checks what
JSON can get wrong before that (an object, known fields, types) and what only a service
should refuse: timestamps far in the future and users sending faster than their rate.

Examples
--------
>>> parsed = parse_events([{"event_id": 1, "user": "ann", "item": 7},
...                        {"event_id": 2, "user": "bob", "item": True}], now=1000.0)
>>> [e.user for e in parsed.events], parsed.rejections[0].field, parsed.rejections[0].reason
(['ann'], 'item', 'must be a string or an integer, not bool')
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from freshrec.data.events import Event
from freshrec.log.results import Rejection

__all__ = ["FIELDS", "ParsedEvents", "UserRateLimit", "parse_events"]

FIELDS = ("event_id", "user", "item", "value", "timestamp", "context", "propensity")
_REQUIRED = ("event_id", "user", "item")
_MAX_ID_CHARS = 256


@dataclass
class ParsedEvents:
    """Well-formed events with their place in the request, and rejections for the others.

    Examples
    --------
    >>> parsed = parse_events([{"event_id": 1, "user": 1, "item": 2, "propensity": 0.5},
    ...                        {"event_id": 2, "user": 1, "item": 3}], now=0.0)
    >>> [index for _, index in parsed.runs()]
    [[0], [1]]
    """

    events: list[Event] = field(default_factory=list)
    index: list[int] = field(default_factory=list)  # each event's place in the request
    rejections: list[Rejection] = field(default_factory=list)

    def runs(self) -> Iterator[tuple[list[Event], list[int]]]:
        """The events in order, cut where the presence of a propensity changes (a batch
        carries a column for all its events or for none)."""
        start = 0
        for end in range(1, len(self.events) + 1):
            if end == len(self.events) or (self.events[end].propensity is None) != (
                self.events[start].propensity is None
            ):
                yield self.events[start:end], self.index[start:end]
                start = end


def parse_events(
    raw: Sequence[Any], *, now: float | None = None, max_future_s: float = 86_400.0
) -> ParsedEvents:
    """Check each of ``raw`` (decoded JSON); events without a ``timestamp`` are stamped
    ``now`` (arrival time).

    Examples
    --------
    >>> parse_events([{"event_id": "e", "user": "u", "item": "i"}], now=5.0).events[0].timestamp
    5.0
    >>> parse_events([{"event_id": "e", "user": "u"}]).rejections[0].reason
    'missing'
    """
    now = time.time() if now is None else now
    parsed = ParsedEvents()
    for i, item in enumerate(raw):
        event_id = item.get("event_id") if isinstance(item, dict) else None
        problem = _problem(item, now, max_future_s)
        if problem is not None:
            name, reason = problem
            plain_id = event_id if _is_id(event_id) and _fits(event_id) else None
            parsed.rejections.append(Rejection(i, plain_id, name, reason))
            continue
        parsed.events.append(
            Event(
                item["user"],
                item["item"],
                float(item.get("value", 1.0)),
                timestamp=float(item["timestamp"]) if item.get("timestamp") is not None else now,
                context=item.get("context") or None,
                propensity=(
                    float(item["propensity"]) if item.get("propensity") is not None else None
                ),
                event_id=item["event_id"],
            )
        )
        parsed.index.append(i)
    return parsed


def _is_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _fits(value: Any) -> bool:
    """Whether an id is text or an integer of 64 bits (what the log stores)."""
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _problem(item: Any, now: float, max_future_s: float) -> tuple[str, str] | None:
    """The first field of ``item`` that is wrong, and why (``None``: well-formed)."""
    if not isinstance(item, dict):
        return "event", f"must be an object, not {type(item).__name__}"
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        return unknown[0], f"unknown field; an event has {', '.join(FIELDS)}"
    for name in _REQUIRED:
        value = item.get(name)
        if value is None:
            return name, "missing"
        if not _is_id(value):
            return name, f"must be a string or an integer, not {type(value).__name__}"
        if isinstance(value, str) and len(value) > _MAX_ID_CHARS:
            return name, f"longer than {_MAX_ID_CHARS} characters"
        if not _fits(value):
            return name, "an integer id must fit in 64 bits"
    if "value" in item and item["value"] is None:
        return "value", "must be a number, not null"
    for name in ("value", "timestamp", "propensity"):
        value = item.get(name)
        if value is not None and not _is_number(value):
            return name, f"must be a number, not {type(value).__name__}"
        if isinstance(value, int) and abs(value) > 2**53:
            return name, f"{value} is too large"
    timestamp = item.get("timestamp")
    if timestamp is not None and math.isfinite(timestamp) and timestamp > now + max_future_s:
        return "timestamp", f"{timestamp} is more than {max_future_s:g} s in the future"
    context = item.get("context")
    if context is not None:
        if not isinstance(context, dict):
            return "context", f"must be an object, not {type(context).__name__}"
        for key, value in context.items():
            if not (_is_number(value) or isinstance(value, str)):
                return f"context.{key}", f"must be a number or a string, not {type(value).__name__}"
            if isinstance(value, int) and abs(value) > 2**53:
                return f"context.{key}", f"{value} is too large"
            if isinstance(value, float) and not math.isfinite(value):  # NaN marks "absent"
                return f"context.{key}", f"not finite: {value}"
    return None


class UserRateLimit:
    """A token bucket per user: ``per_s`` events a second, ``burst`` at once.

    Examples
    --------
    >>> limit = UserRateLimit(per_s=1.0, burst=2)
    >>> [limit.allow("ann", now=0.0) for _ in range(3)], limit.allow("ann", now=1.0)
    ([True, True, False], True)
    """

    def __init__(self, per_s: float, burst: int) -> None:
        self.per_s = per_s
        self.burst = burst
        self._buckets: dict[Any, tuple[float, float]] = {}  # user -> (tokens, when)
        self._lock = threading.Lock()

    def allow(self, user: Any, now: float | None = None) -> bool:
        """Take one token of ``user``'s bucket; ``False`` when it is empty."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, when = self._buckets.get(user, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - when) * self.per_s)
            allowed = tokens >= 1.0
            self._buckets[user] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > 100_000:  # forget full buckets: they hold no state
                self._buckets = {
                    u: (t, w) for u, (t, w) in self._buckets.items() if t < self.burst - 1
                }
            return allowed
