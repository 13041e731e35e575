"""LoggedFeedback: the rounds a logging policy played, validated once, for off-policy evaluation.

Each round ``i`` holds the action the logging policy chose (``actions[i]``, an index into
``0 .. n_actions - 1``), the reward it earned, and the probability ``propensities[i]`` with
which the logging policy chose that action at that position. The arrays follow Open Bandit
Pipeline's ``bandit_feedback`` (``action``, ``reward``, ``pscore``, ``position``, ``context``),
as a frozen dataclass instead of a dict, so the estimators of :mod:`freshrec.evaluation.ope`
read them without checking them again.

Examples
--------
>>> import numpy as np
>>> feedback = LoggedFeedback(
...     actions=np.array([0, 2, 1]),
...     rewards=np.array([1.0, 0.0, 1.0]),
...     propensities=np.array([0.5, 0.25, 0.25]),
...     n_actions=3,
... )
>>> feedback.n_rounds, feedback.positions.tolist()
(3, [0, 0, 0])
>>> LoggedFeedback(np.array([3]), np.array([1.0]), np.array([0.5]), n_actions=3)
Traceback (most recent call last):
    ...
ValueError: actions[0] = 3 is not an action index in [0, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from freshrec.data.batch import Events, as_batch
from freshrec.typing import ItemId

__all__ = ["LoggedFeedback"]


def _no_positions() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class LoggedFeedback:
    """Logged bandit feedback: one row per round, checked at construction.

    Errors name the field and its first bad row.

    Parameters
    ----------
    actions
        Integer action indices in ``[0, n_actions)``, shape (n_rounds,).
    rewards
        Finite rewards, shape (n_rounds,).
    propensities
        The logging policy's probability of the logged action at the logged position, each in
        ``(0, 1]``, shape (n_rounds,).
    n_actions
        Number of actions.
    positions
        0-based slot of each round in a list of ``len_list`` slots, shape (n_rounds,). Left
        out (or empty), every round is at slot 0.
    len_list
        Number of slots.
    context
        Finite context features, shape (n_rounds, dim), or ``None``.
    candidates
        Boolean mask of the actions offered in each round, shape (n_rounds, n_actions), or
        ``None`` (all actions in every round); each logged action must be among its round's.

    Examples
    --------
    >>> import numpy as np
    >>> feedback = LoggedFeedback(
    ...     actions=np.array([1, 0]),
    ...     rewards=np.array([0.0, 1.0]),
    ...     propensities=np.array([0.5, 1.0]),
    ...     n_actions=2,
    ...     positions=np.array([0, 1]),
    ...     len_list=2,
    ...     candidates=np.array([[True, True], [True, False]]),
    ... )
    >>> feedback.n_rounds
    2
    >>> LoggedFeedback(np.array([0]), np.array([1.0]), np.array([0.0]), n_actions=2)
    Traceback (most recent call last):
        ...
    ValueError: propensities[0] = 0.0 is not in (0, 1]
    """

    actions: np.ndarray
    rewards: np.ndarray
    propensities: np.ndarray
    n_actions: int
    positions: np.ndarray = field(default_factory=_no_positions)
    len_list: int = 1
    context: np.ndarray | None = None
    candidates: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name, value in (("n_actions", self.n_actions), ("len_list", self.len_list)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        actions = _integers("actions", self.actions)
        n = len(actions)
        rewards = _finite("rewards", self.rewards, n)
        propensities = _finite("propensities", self.propensities, n)
        _check_rows(
            "propensities", propensities, (propensities <= 0) | (propensities > 1), "in (0, 1]"
        )
        _check_rows(
            "actions",
            actions,
            (actions < 0) | (actions >= self.n_actions),
            f"an action index in [0, {self.n_actions})",
        )
        positions = np.asarray(self.positions)
        positions = (
            np.zeros(n, np.int64) if positions.size == 0 else _integers("positions", positions)
        )
        _check_length("positions", positions, n)
        _check_rows(
            "positions",
            positions,
            (positions < 0) | (positions >= self.len_list),
            f"a slot in [0, {self.len_list})",
        )
        object.__setattr__(self, "actions", actions)
        object.__setattr__(self, "rewards", rewards)
        object.__setattr__(self, "propensities", propensities)
        object.__setattr__(self, "positions", positions)
        if self.context is not None:
            context = _finite("context", self.context, n, ndim=2)
            object.__setattr__(self, "context", context)
        if self.candidates is not None:
            object.__setattr__(self, "candidates", self._checked_candidates(n))

    def _checked_candidates(self, n: int) -> np.ndarray:
        candidates = np.asarray(self.candidates)
        if candidates.dtype != np.bool_:
            raise ValueError(f"candidates must be a boolean mask, got dtype {candidates.dtype}")
        if candidates.shape != (n, self.n_actions):
            raise ValueError(
                f"candidates has shape {candidates.shape}, expected (n_rounds, n_actions) = "
                f"{(n, self.n_actions)}"
            )
        offered = candidates[np.arange(n), self.actions]
        if not offered.all():
            row = int(np.flatnonzero(~offered)[0])
            raise ValueError(
                f"actions[{row}] = {self.actions[row]} is not among the candidates of round {row}"
            )
        return candidates

    @property
    def n_rounds(self) -> int:
        """Number of logged rounds."""
        return len(self.actions)

    @classmethod
    def from_events(
        cls,
        events: Events,
        items: Sequence[ItemId],
        *,
        context_keys: Sequence[str] = (),
        position_key: str = "position",
        first_position: int = 1,
        len_list: int | None = None,
    ) -> LoggedFeedback:
        """Logged feedback from events that carry propensities (e.g. the Open Bandit Dataset).

        Action ``j`` is ``items[j]``; each event's ``value`` is its reward. When the events'
        context has ``position_key`` (the Open Bandit loader's ``position``, 1 to 3), the slot
        is that value minus ``first_position``; otherwise every round is at slot 0.
        ``len_list`` defaults to the largest slot plus one. ``context_keys`` name numeric
        context columns stacked, in that order, into ``context``.

        Examples
        --------
        >>> from freshrec.data import Event
        >>> events = [
        ...     Event(0, "b", 1.0, context={"position": 2, "age": 30.0}, propensity=0.5),
        ...     Event(1, "a", 0.0, context={"position": 1, "age": 20.0}, propensity=0.5),
        ... ]
        >>> feedback = LoggedFeedback.from_events(events, ["a", "b"], context_keys=["age"])
        >>> feedback.actions.tolist(), feedback.positions.tolist(), feedback.len_list
        ([1, 0], [1, 0], 2)
        >>> feedback.context.tolist()
        [[30.0], [20.0]]
        """
        batch = as_batch(events)
        if batch.propensity is None:
            raise ValueError("the events carry no propensities: off-policy evaluation needs them")
        index = {item: j for j, item in enumerate(items)}
        actions = np.empty(len(batch), dtype=np.int64)
        for row, item in enumerate(batch.item.tolist()):
            if item not in index:
                raise ValueError(f"event {row}: item {item!r} is not in the item list")
            actions[row] = index[item]
        columns = dict(batch.context or {})
        positions = np.zeros(len(batch), dtype=np.int64)
        if position_key in columns:
            slots = _numeric(columns[position_key], position_key) - first_position
            if not np.array_equal(slots, np.round(slots)):
                row = int(np.flatnonzero(slots != np.round(slots))[0])
                raise ValueError(f"event {row}: {position_key!r} is not an integer")
            positions = slots.astype(np.int64)
        context = None
        if context_keys:
            missing = [key for key in context_keys if key not in columns]
            if missing:
                raise ValueError(f"the events' context has no column {missing[0]!r}")
            context = np.column_stack([_numeric(columns[key], key) for key in context_keys])
        return cls(
            actions=actions,
            rewards=batch.value.astype(np.float64),
            propensities=batch.propensity,
            n_actions=len(items),
            positions=positions,
            len_list=len_list if len_list is not None else int(positions.max(initial=0)) + 1,
            context=context,
        )


def _integers(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _finite(name: str, values: np.ndarray, n: int, ndim: int = 1) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {array.shape}")
    _check_length(name, array, n)
    bad = ~np.isfinite(array)
    if bad.any():
        where = ", ".join(str(int(i)) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}[{where}] = {array[bad][0]} is not finite")
    return array


def _check_length(name: str, values: np.ndarray, n: int) -> None:
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} rows, actions has {n}")


def _check_rows(name: str, values: np.ndarray, bad: np.ndarray, should_be: str) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{row}] = {values[row]} is not {should_be}")


def _numeric(column: np.ndarray, name: str) -> np.ndarray:
    if column.dtype == object:
        raise ValueError(f"context column {name!r} is not numeric")
    return np.asarray(column, dtype=np.float64)
