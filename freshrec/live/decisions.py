"""The decision log: what exploring answers served, kept apart from what users did.

An exploring answer (``POST /v1/recommendations`` with ``explore: true``) is a
:class:`ServedDecision`: the user, the served items in slate order with their per-position
propensities, the exact probability of the first item at the first position, the pool of
candidates the policy chose among, the model version, the recommendation id and the time.

:class:`DecisionLog` keeps them in an :class:`~freshrec.log.EventLog` of their own, never in
the event log the models learn from: everything that reads that log takes its events for what
users did (the seen items a recommendation leaves out, what the learner learns, the guard's
held-out events), so an impression there would become a seen item or a negative example.
Each decision is one event of the decision log: its user, its first item, ``value`` 0, the
first item's exact propensity, ``event_id`` the recommendation id, and the rest (``items``,
``propensities``, ``pool`` as JSON, ``model_version``) in the event's context.

**Rounds for off-policy evaluation** (:meth:`DecisionLog.rounds`): one round per decision, its
first position only. The first item's propensity is the exact softmax probability (the
policy's ``distribution``); later positions' are Monte Carlo estimates of a slate's marginals.
A round's reward is 1 when the same user has a positive event (``value >= threshold``) on the
item among the ``outcomes`` (events of the main log) within ``reward_window_s`` after it was
served, else 0.

Examples
--------
>>> from freshrec.data import EventBatch
>>> from freshrec.log import open_log
>>> decisions = DecisionLog(open_log("memory://"))
>>> decisions.record(ServedDecision("r1", "ann", ("b",), np.array([0.5]), 0.5, ("a", "b"),
...                                 "v000001", timestamp=100.0))
True
>>> clicks = EventBatch(np.array(["ann"], object), np.array(["b"], object), np.ones(1),
...                     timestamp=[130.0])
>>> rounds = decisions.rounds(clicks, threshold=1.0, reward_window_s=60.0, end_s=160.0)
>>> rounds.feedback.actions.tolist(), rounds.feedback.rewards.tolist()
([1], [1.0])
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from freshrec.bandits.policy import Decision, Policy
from freshrec.data.batch import EventBatch, ids_array
from freshrec.data.logged import LoggedFeedback
from freshrec.log import EventLog, open_log

__all__ = [
    "REWARD_WINDOW_S",
    "DecisionLog",
    "LoggedRounds",
    "ServedDecision",
    "decision_log_url",
]

REWARD_WINDOW_S = 1800.0
"""Default seconds after a decision within which a positive event on its item is its reward."""

_REDIS_PREFIX = "freshrec:log"  # the Redis log's default key prefix


@dataclass(frozen=True, eq=False)
class ServedDecision:
    """One exploring answer, as served.

    Parameters
    ----------
    recommendation_id
        The answer's id (the decision log's ``event_id``: recorded once).
    user
        Who it was for.
    items
        The served items, in slate order.
    propensities
        ``float``, one per served item: the policy's probability of that item at that
        position, as the answer carried it (exact at the first position for ``k = 1``,
        Monte Carlo estimates for a slate).
    first_propensity
        The exact probability of ``items[0]`` at the first position (the policy's
        distribution over ``pool``), in (0, 1].
    pool
        The candidates the policy chose among, in the order it was given them.
    model_version
        The version whose scores the policy read.
    timestamp
        When it was served (seconds since the epoch).

    Examples
    --------
    >>> ServedDecision("r1", "ann", ("c",), np.array([0.2]), 0.2, ("a", "b"), "v000001", 0.0)
    Traceback (most recent call last):
    ...
    ValueError: items: 'c' is not in the pool
    """

    recommendation_id: str
    user: Any
    items: tuple[Any, ...]
    propensities: np.ndarray
    first_propensity: float
    pool: tuple[Any, ...]
    model_version: str
    timestamp: float

    def __post_init__(self) -> None:
        propensities = np.asarray(self.propensities, dtype=np.float64)
        items, pool = tuple(map(_plain, self.items)), tuple(map(_plain, self.pool))
        if not self.recommendation_id:
            raise ValueError("recommendation_id: empty")
        if not items or len(set(items)) != len(items):
            raise ValueError(f"items: must be distinct and not empty, got {items}")
        offered = set(pool)
        outside = [item for item in items if item not in offered]
        if outside:
            raise ValueError(f"items: {outside[0]!r} is not in the pool")
        if propensities.shape != (len(self.items),):
            raise ValueError(
                f"propensities: one per item ({len(self.items)}), got shape {propensities.shape}"
            )
        for name, values in (
            ("propensities", propensities),
            ("first_propensity", np.array([self.first_propensity])),
        ):
            if not ((values > 0.0) & (values <= 1.0)).all():
                raise ValueError(f"{name}: must be in (0, 1], got {values.tolist()}")
        if not math.isfinite(self.timestamp):
            raise ValueError(f"timestamp: not finite: {self.timestamp}")
        object.__setattr__(self, "user", _plain(self.user))
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "pool", pool)
        object.__setattr__(self, "propensities", propensities)
        object.__setattr__(self, "first_propensity", float(self.first_propensity))

    @classmethod
    def from_decision(
        cls,
        decision: Decision,
        pool: Sequence[Any],
        *,
        recommendation_id: str,
        user: Any,
        model_version: str,
        timestamp: float,
    ) -> ServedDecision:
        """The record of ``decision``, which a policy drew from ``pool`` (in that order): its
        first item's exact propensity is its entry in ``decision.distribution``.

        Examples
        --------
        >>> from freshrec.bandits import Decision
        >>> decision = Decision(("b", "a"), np.array([0.75, 0.74]), np.array([0.25, 0.75]))
        >>> served = ServedDecision.from_decision(decision, ["a", "b"], recommendation_id="r1",
        ...                                       user="ann", model_version="v1", timestamp=0.0)
        >>> served.first_propensity, served.propensities.tolist()
        (0.75, [0.75, 0.74])
        """
        plain = tuple(map(_plain, pool))
        first = float(decision.distribution[plain.index(_plain(decision.items[0]))])
        return cls(
            recommendation_id,
            user,
            decision.items,
            decision.propensities,
            first,
            plain,
            model_version,
            timestamp,
        )


@dataclass(frozen=True, eq=False)
class LoggedRounds:
    """Logged decisions as off-policy rounds: action ``j`` of round ``i`` is ``pools[i][j]``.

    ``feedback`` holds, per round, the index of the first served item in its pool, its reward
    and its exact propensity; ``n_actions`` is the largest pool, and ``feedback.candidates``
    marks each round's pool (a smaller pool's last columns are not actions of that round).

    Parameters
    ----------
    feedback
        The rounds (first positions only, ``len_list`` 1).
    users
        Each round's user: the context of a policy that scores for a user.
    pools
        Each round's pool, in the order the logging policy was given it.

    Examples
    --------
    >>> from freshrec.bandits import Softmax
    >>> feedback = LoggedFeedback(np.array([0]), np.array([1.0]), np.array([0.5]), 2)
    >>> rounds = LoggedRounds(feedback, ("ann",), (("a", "b"),))
    >>> rounds.action_dist(Softmax()).tolist()
    [[[0.5], [0.5]]]
    """

    feedback: LoggedFeedback
    users: tuple[Any, ...]
    pools: tuple[tuple[Any, ...], ...]

    def __post_init__(self) -> None:
        n = self.feedback.n_rounds
        if len(self.users) != n or len(self.pools) != n:
            raise ValueError(
                f"users ({len(self.users)}) and pools ({len(self.pools)}) must have one entry "
                f"per round ({n})"
            )

    @property
    def n_rounds(self) -> int:
        """Number of rounds."""
        return self.feedback.n_rounds

    def action_dist(self, policy: Policy) -> np.ndarray:
        """``policy``'s first-position distribution over each round's pool, its user as the
        context, in obp's shape (n_rounds, n_actions, 1); zero beyond a round's pool."""
        table = np.zeros((self.n_rounds, self.feedback.n_actions, 1))
        for i, (user, pool) in enumerate(zip(self.users, self.pools, strict=True)):
            table[i, : len(pool), 0] = policy.probabilities(list(pool), context=user)
        return table


class DecisionLog:
    """Exploring decisions, recorded as served and read back as rounds (module docstring).

    Parameters
    ----------
    log
        The event log that holds them: a log of their own, never the one models learn from
        (:meth:`beside` opens one next to it).

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> decisions = DecisionLog.beside(f"sqlite:///{folder}/events.db")
    >>> decisions.log.backend.path.name
    'events.decisions.db'
    >>> decisions.close()
    """

    def __init__(self, log: EventLog) -> None:
        self.log = log

    @classmethod
    def beside(cls, log_url: str) -> DecisionLog:
        """The decision log that goes with the event log at ``log_url``, at
        :func:`decision_log_url`.

        Examples
        --------
        >>> DecisionLog.beside("memory://").log.backend
        MemoryBackend(n_events=0)
        """
        return cls(open_log(decision_log_url(log_url)))

    def record(self, decision: ServedDecision) -> bool:
        """Append ``decision``; ``False`` when its recommendation id is already recorded.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> decisions = DecisionLog(open_log("memory://"))
        >>> served = ServedDecision("r1", 7, (2,), np.array([1.0]), 1.0, (2,), "v000001", 5.0)
        >>> decisions.record(served), decisions.record(served), len(decisions)
        (True, False, 1)
        """
        context = {
            "model_version": decision.model_version,
            "items": json.dumps(list(decision.items)),
            "propensities": json.dumps(decision.propensities.tolist()),
            "pool": json.dumps(list(decision.pool)),
        }
        event = EventBatch(
            ids_array([decision.user]),
            ids_array([decision.items[0]]),
            np.zeros(1),
            timestamp=np.array([decision.timestamp]),
            propensity=np.array([decision.first_propensity]),
            event_id=np.array([decision.recommendation_id], dtype=object),
            context={key: np.array([value], dtype=object) for key, value in context.items()},
        )
        result = self.log.append(event)
        if result.rejections:
            rejection = result.rejections[0]
            raise ValueError(f"decision not recorded: {rejection.field}: {rejection.reason}")
        return result.accepted == 1

    def decisions(
        self, start_s: float = -math.inf, end_s: float = math.inf
    ) -> list[ServedDecision]:
        """The decisions served at ``start_s <= timestamp < end_s``, in the order recorded.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> decisions = DecisionLog(open_log("memory://"))
        >>> for t in (1.0, 2.0):
        ...     _ = decisions.record(ServedDecision(f"r{t:g}", "ann", ("a",), np.array([1.0]),
        ...                                         1.0, ("a",), "v000001", t))
        >>> [d.recommendation_id for d in decisions.decisions(start_s=1.5)]
        ['r2']
        """
        events = self.log.window_by_time(start_s, end_s)
        if not len(events):
            return []
        context = events.context or {}
        columns = zip(
            events.event_id.tolist() if events.event_id is not None else [],
            events.user.tolist(),
            context["items"].tolist(),
            context["propensities"].tolist(),
            events.propensity.tolist() if events.propensity is not None else [],
            context["pool"].tolist(),
            context["model_version"].tolist(),
            events.timestamp.tolist() if events.timestamp is not None else [],
            strict=True,
        )
        return [
            ServedDecision(
                str(rid),
                user,
                tuple(json.loads(items)),
                np.array(json.loads(shown)),
                first,
                tuple(json.loads(pool)),
                str(version),
                time,
            )
            for rid, user, items, shown, first, pool, version, time in columns
        ]

    def rounds(
        self,
        outcomes: EventBatch,
        *,
        threshold: float,
        reward_window_s: float = REWARD_WINDOW_S,
        start_s: float = -math.inf,
        end_s: float | None = None,
    ) -> LoggedRounds:
        """The decisions served from ``start_s`` whose reward window closed by ``end_s``
        (``timestamp + reward_window_s <= end_s``; default: the latest of ``outcomes``), as
        off-policy rounds, rewards joined from ``outcomes`` (events of the main log, with
        timestamps): 1 when the decision's user has an event with ``value >= threshold`` on
        its first item at ``timestamp <= t <= timestamp + reward_window_s``, else 0.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> decisions = DecisionLog(open_log("memory://"))
        >>> _ = decisions.record(ServedDecision("r1", "ann", ("a",), np.array([0.5]), 0.5,
        ...                                     ("a", "b"), "v000001", 10.0))
        >>> late = EventBatch(np.array(["ann"], object), np.array(["a"], object), np.ones(1),
        ...                   timestamp=[100.0])
        >>> decisions.rounds(late, threshold=1.0, reward_window_s=60.0).feedback.rewards.tolist()
        [0.0]
        """
        if reward_window_s < 0:
            raise ValueError(f"reward_window_s must be >= 0, got {reward_window_s}")
        if outcomes.timestamp is None:
            raise ValueError("outcomes: the events need timestamps to be joined to decisions")
        if end_s is None:
            end_s = float(outcomes.timestamp.max()) if len(outcomes) else -math.inf
        closed = self.decisions(start_s, math.nextafter(end_s - reward_window_s, math.inf))
        pools = tuple(d.pool for d in closed)
        n_actions = max((len(pool) for pool in pools), default=1)
        candidates = np.zeros((len(closed), n_actions), dtype=bool)
        for i, pool in enumerate(pools):
            candidates[i, : len(pool)] = True
        feedback = LoggedFeedback(
            actions=np.array([d.pool.index(d.items[0]) for d in closed], dtype=np.int64),
            rewards=_rewards(closed, outcomes, threshold, reward_window_s),
            propensities=np.array([d.first_propensity for d in closed], dtype=np.float64),
            n_actions=n_actions,
            candidates=candidates,
        )
        return LoggedRounds(feedback, tuple(d.user for d in closed), pools)

    def __len__(self) -> int:
        """Number of decisions recorded."""
        return len(self.log)

    def close(self) -> None:
        """Close the underlying log (what it stored stays)."""
        self.log.close()


def _rewards(
    decisions: list[ServedDecision], outcomes: EventBatch, threshold: float, window_s: float
) -> np.ndarray:
    """1.0 for each decision whose user has a positive outcome on its first item within
    ``window_s`` after it was served, else 0.0."""
    positives = outcomes.take(outcomes.value >= threshold)
    times: dict[tuple[Any, Any], list[float]] = {}
    stamps = positives.timestamp if positives.timestamp is not None else np.zeros(0)
    for user, item, t in zip(
        positives.user.tolist(), positives.item.tolist(), stamps.tolist(), strict=True
    ):
        times.setdefault((user, item), []).append(t)
    for found in times.values():
        found.sort()
    rewards = np.zeros(len(decisions))
    for i, decision in enumerate(decisions):
        found = times.get((decision.user, decision.items[0]), [])
        first = bisect.bisect_left(found, decision.timestamp)
        rewards[i] = float(first < len(found) and found[first] <= decision.timestamp + window_s)
    return rewards


def decision_log_url(log_url: str) -> str:
    """Where the decisions of a service over the event log at ``log_url`` go: a SQLite file
    beside it (``events.db``: ``events.decisions.db``), the Redis log's key prefix plus
    ``:decisions`` (``freshrec:log:decisions`` by default), a new in-memory log for
    ``memory://``.

    Examples
    --------
    >>> decision_log_url("sqlite:///data/events.db")
    'sqlite:///data/events.decisions.db'
    >>> decision_log_url("redis://127.0.0.1:6379/0?prefix=shop")
    'redis://127.0.0.1:6379/0?prefix=shop%3Adecisions'
    """
    scheme, sep, rest = log_url.partition("://")
    if scheme == "sqlite" and sep and rest.startswith("/") and rest != "/":
        path = Path(rest[1:])
        return f"sqlite:///{path.with_name(f'{path.stem}.decisions{path.suffix}')}"
    if scheme in ("redis", "rediss"):
        split = urlsplit(log_url)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        query["prefix"] = f"{query.get('prefix', _REDIS_PREFIX)}:decisions"
        return urlunsplit(split._replace(query=urlencode(query)))
    return log_url  # memory:// (a new log of its own) or a URL open_log refuses with a reason


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
