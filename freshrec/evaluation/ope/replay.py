"""The replay method (Li, Chu, Langford & Wang, WSDM 2011): keep the rounds where a
deterministic target agrees with the log.

For a target that plays one action per round, the estimate is the mean logged reward over
the rounds whose logged action is the target's:

    ``V = sum_i 1{pi_e(x_i) = a_i} r_i / sum_i 1{pi_e(x_i) = a_i}``

(obp's ``ReplayMethod``). It is unbiased only when the log was collected by the uniformly
random policy: with any other logging policy the matched rounds over-represent the actions
the logger liked. :func:`replay` warns when the logged propensities are not all equal; with
a ``candidates`` mask the caller must make sure each round was uniform over its candidates.

Examples
--------
>>> import numpy as np
>>> from freshrec.data.logged import LoggedFeedback
>>> feedback = LoggedFeedback(
...     np.array([0, 1, 1, 0]), np.array([1.0, 0.0, 1.0, 0.0]), np.full(4, 0.5), n_actions=2
... )
>>> replay(feedback, deterministic_policy(np.array([0, 1, 1, 1]), n_actions=2))  # rounds 0-2
ReplayEstimate(value=0.6666666666666666, n_matched=3)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from freshrec.data.logged import LoggedFeedback
from freshrec.evaluation.ope.estimators import RoundTerms, check_action_dist

__all__ = ["ReplayEstimate", "deterministic_policy", "replay", "replay_terms"]


@dataclass(frozen=True)
class ReplayEstimate:
    """The replay estimate and the number of logged rounds it rests on.

    ``value`` is ``nan`` when no round matched.

    Examples
    --------
    >>> ReplayEstimate(0.5, 12).n_matched
    12
    """

    value: float
    n_matched: int


def deterministic_policy(actions: np.ndarray, n_actions: int) -> np.ndarray:
    """The ``action_dist`` of a policy that plays ``actions``: shape (n_rounds,) for one slot
    or (n_rounds, len_list), to shape (n_rounds, n_actions, len_list), ones at the actions.

    Examples
    --------
    >>> deterministic_policy(np.array([1, 0]), n_actions=2)[:, :, 0].tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    chosen = np.asarray(actions)
    if chosen.ndim == 1:
        chosen = chosen[:, None]
    if chosen.ndim != 2 or chosen.dtype.kind not in "iu":
        raise ValueError(
            f"actions must be integers of shape (n_rounds,) or (n_rounds, len_list), "
            f"got {chosen.dtype} {chosen.shape}"
        )
    if chosen.size and (chosen.min() < 0 or chosen.max() >= n_actions):
        raise ValueError(f"actions must be in [0, {n_actions})")
    n_rounds, len_list = chosen.shape
    dist = np.zeros((n_rounds, n_actions, len_list))
    rows, slots = np.meshgrid(np.arange(n_rounds), np.arange(len_list), indexing="ij")
    dist[rows, chosen, slots] = 1.0
    return dist


def replay_terms(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
) -> RoundTerms:
    """Per-round terms of :func:`replay`: numerators ``1{match_i} r_i``, denominators
    ``1{match_i}`` (``estimated_rewards`` unused).

    ``action_dist`` must be deterministic (only zeros and ones) at each round's slot.

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0, 1]), np.array([1.0, 1.0]), np.full(2, 0.5), 2)
    >>> replay_terms(feedback, deterministic_policy(np.array([0, 0]), 2)).denominator.tolist()
    [1.0, 0.0]
    """
    check_action_dist(feedback, action_dist)
    rows = np.arange(feedback.n_rounds)
    at_slot = action_dist[rows, :, feedback.positions]
    random = (at_slot != 0.0) & (at_slot != 1.0)
    if random.any():
        row = int(np.argwhere(random)[0, 0])
        raise ValueError(
            f"action_dist[{row}, :, {feedback.positions[row]}] is not deterministic: the "
            "replay method needs a target that plays one action per round"
        )
    _warn_unless_uniform(feedback)
    matched = (at_slot[rows, feedback.actions] == 1.0).astype(np.float64)
    return RoundTerms(matched * feedback.rewards, matched)


def replay(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
) -> ReplayEstimate:
    """The replay method: the mean reward of the rounds where the target's action is the
    logged one, and how many rounds those are.

    ``action_dist`` is the target's, deterministic at each round's slot: build it from the
    target's chosen actions with :func:`deterministic_policy`. Valid for uniformly random
    logs only (a ``UserWarning`` says when the propensities differ). Where no round matches,
    the value is ``nan`` (obp returns 0.0).

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0, 1]), np.array([1.0, 0.0]), np.full(2, 0.5), 2)
    >>> replay(feedback, deterministic_policy(np.array([0, 0]), n_actions=2))
    ReplayEstimate(value=1.0, n_matched=1)
    """
    terms = replay_terms(feedback, action_dist)
    assert terms.denominator is not None
    n_matched = int(terms.denominator.sum())
    value = terms.value if n_matched else float("nan")
    return ReplayEstimate(value, n_matched)


def _warn_unless_uniform(feedback: LoggedFeedback) -> None:
    propensities = feedback.propensities
    if propensities.size and np.ptp(propensities) > 1e-9 * propensities.max():
        warnings.warn(
            "the logged propensities differ, so the log is not uniformly random: the replay "
            "method is biased on it (use ips, snips or dr)",
            UserWarning,
            stacklevel=3,
        )
