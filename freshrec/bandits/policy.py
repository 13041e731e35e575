"""The Policy base class: every decision comes with the probabilities it was drawn from.

A :class:`Policy` chooses among the ``candidates`` it is given (arms come and go: an arm never
seen before starts at the policy's prior, an arm left out is simply not offered) and learns
from one reward at a time (:meth:`Policy.update`). :meth:`Policy.probabilities` says how likely
each candidate is to be chosen; :meth:`Policy.select` draws a :class:`Decision` from exactly
that distribution, so the propensity it reports for the chosen arm is the probability with
which the policy chose it: what off-policy estimators (IPS, SNIPS, doubly robust) divide by.

**Monte Carlo.** Where the distribution has no closed form (Thompson sampling: the chance
that an arm's posterior draw is the largest), a policy estimates it from ``n_draws``
posterior draws: the share of draws each arm wins. :meth:`Policy.select` then picks one of
those draws at random (itself a draw from the posterior, so the choice is Thompson sampling
exactly) and reports the winner's share: the exact probability of the choice given the draws.
The standard error of a share ``p`` is ``sqrt(p * (1 - p) / n_draws)``.

**Randomness.** Each policy holds two generators spawned from its ``seed``: ``rng_`` for
:meth:`Policy.select` (its draws and its Monte Carlo estimates) and ``estimate_rng_`` for
:meth:`Policy.probabilities`, so asking for probabilities never changes the decisions a seed
gives. ``reset()`` (and ``clone()``) start both again.

**Slates.** ``select(..., k=3)`` draws ``k`` distinct arms by Plackett-Luce on the
probabilities (:mod:`freshrec.bandits.slates`).

Examples
--------
>>> from freshrec.bandits import EpsilonGreedy
>>> policy = EpsilonGreedy(epsilon=0.2)
>>> policy.update("b", 1.0)
>>> policy.probabilities(["a", "b"]).tolist()
[0.1, 0.9]
>>> decision = policy.select(["a", "b"])
>>> decision.items, decision.propensities.tolist()
(('b',), [0.9])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from freshrec.bandits.slates import draw_slate
from freshrec.base import Estimator

__all__ = ["Decision", "Policy", "action_distribution", "argmax_distribution", "softmax"]

N_DRAWS = 10_000  # default Monte Carlo draws: a standard error of at most 0.005 per probability


@dataclass(frozen=True, eq=False)
class Decision:
    """What a policy chose, and how likely it was to choose it.

    Parameters
    ----------
    items
        The chosen arms (item ids) in slate order (one for a single choice).
    propensities
        ``float``, one per chosen position: the probability that the policy put this arm at
        this position (the marginal per-position propensity), always in (0, 1].
    distribution
        ``float``, shape (n_candidates,): the probability of each candidate at the first
        position, in the order the candidates were passed; sums to 1.

    Examples
    --------
    >>> decision = Decision(("b",), np.array([0.75]), np.array([0.25, 0.75]))
    >>> decision.items[0], float(decision.propensities[0])
    ('b', 0.75)
    >>> Decision(("b",), np.array([0.0]), np.array([1.0, 0.0]))
    Traceback (most recent call last):
    ...
    ValueError: propensities must be in (0, 1], got [0.]
    """

    items: tuple[Hashable, ...]
    propensities: np.ndarray
    distribution: np.ndarray

    def __post_init__(self) -> None:
        propensities = np.asarray(self.propensities, dtype=np.float64)
        distribution = np.asarray(self.distribution, dtype=np.float64)
        if propensities.shape != (len(self.items),):
            raise ValueError(
                f"propensities must have one entry per arm ({len(self.items)}), "
                f"got shape {propensities.shape}"
            )
        if not ((propensities > 0.0) & (propensities <= 1.0)).all():
            raise ValueError(f"propensities must be in (0, 1], got {propensities}")
        if distribution.ndim != 1 or len(distribution) < len(self.items):
            raise ValueError(
                f"distribution must have one entry per candidate, got shape {distribution.shape}"
            )
        if (distribution < 0.0).any() or abs(distribution.sum() - 1.0) > 1e-9:
            raise ValueError(f"distribution must be non-negative and sum to 1, got {distribution}")
        object.__setattr__(self, "propensities", propensities)
        object.__setattr__(self, "distribution", distribution)


class Policy(Estimator, ABC):
    """A bandit policy: a distribution over the candidates, and learning from rewards.

    A subclass stores its hyperparameters, then calls ``super().__init__(n_draws=...,
    seed=...)``, which validates those two and calls :meth:`reset`. It implements:

    - ``_start()``: create the learned state (attributes ending with ``_``) at the prior;
    - ``_probabilities(arms, context, rng)``: the (possibly unnormalised, non-negative)
      probability of each arm in ``arms``; a Monte Carlo estimate draws from ``rng``;
    - :meth:`update`.

    ``context`` is whatever the policy reads: ignored by the non-contextual policies, a
    feature vector (or one row per candidate) for the linear ones, the user for
    :class:`~freshrec.bandits.scored.ScorePolicy`.

    Examples
    --------
    A policy that always prefers the first candidate three to one:

    >>> class FirstFavoured(Policy):
    ...     def __init__(self, n_draws: int = 1000, seed: int | None = 0) -> None:
    ...         super().__init__(n_draws=n_draws, seed=seed)
    ...     def _start(self): pass
    ...     def _probabilities(self, arms, context, rng):
    ...         return np.r_[3.0, np.ones(len(arms) - 1)]
    ...     def update(self, arm, reward, context=None): pass
    >>> FirstFavoured().probabilities(["x", "y"]).tolist()
    [0.75, 0.25]
    >>> FirstFavoured().select(["x", "y"], k=3)
    Traceback (most recent call last):
    ...
    ValueError: k must be between 1 and the number of candidates (2), got 3
    """

    n_draws: int
    seed: int | None

    def __init__(self, *, n_draws: int, seed: int | None) -> None:
        if n_draws < 1:
            raise ValueError(f"n_draws must be >= 1, got {n_draws}")
        self.n_draws = n_draws
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        """Forget everything learned and restart both random generators from ``seed``."""
        super().reset()
        decide_seed, estimate_seed = np.random.SeedSequence(self.seed).spawn(2)
        self.rng_ = np.random.default_rng(decide_seed)
        self.estimate_rng_ = np.random.default_rng(estimate_seed)
        self._start()

    @abstractmethod
    def _start(self) -> None:
        """Create the learned state at the prior."""

    @abstractmethod
    def _probabilities(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        """Non-negative weights of ``arms`` (not all zero), proportional to their chances."""

    @abstractmethod
    def update(self, arm: Hashable, reward: float, context: Any = None) -> None:
        """Learn from ``reward``, observed after choosing ``arm`` in ``context``."""

    def probabilities(self, candidates: Sequence[Hashable], context: Any = None) -> np.ndarray:
        """The probability of choosing each candidate (single choice), shape (n,), sums to 1.

        Monte Carlo estimates draw from ``estimate_rng_``, so the decisions are unchanged.
        """
        return self._distribution(_arms(candidates), context, self.estimate_rng_)

    def select(self, candidates: Sequence[Hashable], k: int = 1, context: Any = None) -> Decision:
        """Draw one arm (or a slate of ``k`` distinct arms) with its propensities.

        For ``k = 1`` the arm is drawn from :meth:`probabilities`' distribution and its
        propensity is its entry there. For ``k > 1`` the slate is drawn by
        :func:`~freshrec.bandits.slates.draw_slate` (Plackett-Luce on that distribution, the
        per-position propensities estimated from ``n_draws`` slates).
        """
        arms = _arms(candidates)
        if not 1 <= k <= len(arms):
            raise ValueError(
                f"k must be between 1 and the number of candidates ({len(arms)}), got {k}"
            )
        distribution = self._distribution(arms, context, self.rng_)
        if k == 1:
            chosen = np.array([self.rng_.choice(len(arms), p=distribution)])
            propensities = distribution[chosen]
            shown = propensities
        else:
            chosen, marginals = draw_slate(distribution, k, self.n_draws, self.rng_)
            propensities = marginals[np.arange(k), chosen]
            shown = marginals[:, chosen].sum(axis=0)
        self._decided(arms, chosen, shown)
        return Decision(tuple(arms[i] for i in chosen), propensities, distribution)

    def _decided(self, arms: list[Hashable], chosen: np.ndarray, shown: np.ndarray) -> None:
        """Called by :meth:`select` with the positions of the chosen arms in ``arms`` and the
        probability that each was shown at all (a policy that learns from its own
        propensities records them here; the others need nothing)."""

    def _distribution(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        weights = np.asarray(self._probabilities(arms, context, rng), dtype=np.float64)
        total = float(weights.sum())
        if weights.shape != (len(arms),) or not np.isfinite(total) or (weights < 0).any():
            raise ValueError(f"{type(self).__name__} gave invalid probabilities {weights}")
        if total <= 0.0:
            raise ValueError(f"{type(self).__name__} gave probabilities that are all zero")
        return weights / total


def _arms(candidates: Sequence[Hashable]) -> list[Hashable]:
    """``candidates`` as a list of plain ids, checked non-empty and free of duplicates."""
    arms = [a.item() if isinstance(a, np.generic) else a for a in candidates]
    if not arms:
        raise ValueError("candidates is empty: a policy needs at least one arm to choose")
    if len(set(arms)) != len(arms):
        twice = [arm for arm, count in Counter(arms).items() if count > 1]
        raise ValueError(f"candidates has duplicates: {twice}")
    return arms


def argmax_distribution(scores: np.ndarray) -> np.ndarray:
    """The probability that each column holds the largest score, ties split evenly.

    ``scores`` of shape (n,) gives the exact distribution of a greedy choice with uniform
    tie-breaking; of shape (n_draws, n) (one row per Monte Carlo draw) the share of draws each
    column wins.

    Examples
    --------
    >>> argmax_distribution(np.array([1.0, 3.0, 3.0])).tolist()
    [0.0, 0.5, 0.5]
    >>> argmax_distribution(np.array([[1.0, 2.0], [4.0, 3.0], [0.0, 5.0], [2.0, 2.0]])).tolist()
    [0.375, 0.625]
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    best = scores == scores.max(axis=1, keepdims=True)
    return (best / best.sum(axis=1, keepdims=True)).mean(axis=0)  # type: ignore[no-any-return]


def softmax(values: np.ndarray, temperature: float) -> np.ndarray:
    """The Boltzmann distribution ``exp(values / temperature)``, normalised (stable).

    Examples
    --------
    >>> softmax(np.array([0.0, np.log(3.0)]), temperature=1.0).round(3).tolist()
    [0.25, 0.75]
    >>> softmax(np.array([1000.0, 0.0]), temperature=0.01).tolist()
    [1.0, 0.0]
    """
    if temperature <= 0.0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(values, dtype=np.float64) / temperature
    e = np.exp(z - z.max())
    return e / e.sum()  # type: ignore[no-any-return]


def action_distribution(
    policy: Policy,
    candidates: Sequence[Hashable],
    contexts: np.ndarray | Sequence[Any] | None = None,
    n_rounds: int | None = None,
) -> np.ndarray:
    """The policy's distribution over a fixed action set, one row per round.

    Row ``t`` is ``policy.probabilities(candidates, contexts[t])`` (``None`` contexts:
    ``n_rounds`` rows for a non-contextual policy). The policy does not learn in between: this
    is the policy as it stands, scored on logged rounds for off-policy evaluation. Rows of a
    Monte Carlo policy carry independent estimation noise, which averages out over rounds.

    Returns a ``float`` array of shape (n_rounds, len(candidates)).

    Examples
    --------
    >>> from freshrec.bandits import EpsilonGreedy
    >>> policy = EpsilonGreedy(epsilon=0.5)
    >>> policy.update("b", 1.0)
    >>> action_distribution(policy, ["a", "b"], n_rounds=2).tolist()
    [[0.25, 0.75], [0.25, 0.75]]
    """
    if contexts is None:
        if n_rounds is None or n_rounds < 0:
            raise ValueError(f"n_rounds must be >= 0 when contexts is None, got {n_rounds}")
        rows = [policy.probabilities(candidates) for _ in range(n_rounds)]
    else:
        if n_rounds is not None and n_rounds != len(contexts):
            raise ValueError(f"n_rounds ({n_rounds}) must equal len(contexts) ({len(contexts)})")
        rows = [policy.probabilities(candidates, context) for context in contexts]
    if not rows:
        return np.empty((0, len(candidates)))
    return np.vstack(rows)
