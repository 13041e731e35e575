"""Any freshrec recommender as a policy: a softmax over its scores, with a floor.

:class:`ScorePolicy` turns a model's scores for the candidates into the distribution

    ``p = (1 - n * floor) * softmax(scores / temperature) + floor``

over ``n`` candidates: a low ``temperature`` is nearly the model's ranking, a high one nearly
uniform, and every candidate keeps at least ``floor``, so a log collected with the policy
supports the off-policy evaluation of any other (IPS weights at most ``1 / floor``).

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.models import MostPopular
>>> model = MostPopular().fit(checkerboard_events())
>>> policy = ScorePolicy(model, temperature=1.0, floor=0.05)
>>> decision = policy.select([0, 1, 2, 3], k=2, context=0)  # context: the user
>>> len(set(decision.items)), bool(policy.probabilities([0, 1, 2, 3], 0).min() >= 0.05)
(2, True)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from freshrec.bandits.policy import N_DRAWS, Policy, softmax
from freshrec.data.batch import ids_array
from freshrec.typing import ItemId, UserId

__all__ = ["ScorePolicy", "Scorer"]


@runtime_checkable
class Scorer(Protocol):
    """What :class:`ScorePolicy` needs of a model: scores of items for a user, like
    :meth:`freshrec.base.RecommenderBase.score`.

    Examples
    --------
    >>> from freshrec.models import MostPopular
    >>> isinstance(MostPopular(), Scorer)
    True
    """

    def score(self, user: UserId, items: Sequence[ItemId] | np.ndarray) -> np.ndarray: ...


class ScorePolicy(Policy):
    """A recommender's scores as a policy: ``(1 - n * floor) * softmax(scores / temperature)
    + floor`` over ``n`` candidates.

    ``context`` is the user whose scores are read (any id the model knows, or an unknown one:
    the model's fallback scores it). :meth:`update` learns nothing: the model learns from the
    event log, through its own ``partial_fit`` or update strategy, and the policy reads its
    current scores at every decision.

    Parameters
    ----------
    model
        Anything with ``score(user, items) -> np.ndarray`` (:class:`Scorer`), e.g. a fitted
        freshrec recommender.
    temperature
        The softmax temperature (> 0), in score units.
    floor
        The least probability of every candidate, in [0, 1]; ``floor * n`` must not exceed 1
        for ``n`` candidates (a ``ValueError`` otherwise).
    n_draws
        Monte Carlo draws for slate propensities.
    seed
        Seed of the policy's random generators.

    Examples
    --------
    >>> class Fixed:
    ...     def score(self, user, items):
    ...         return np.array([{"a": 2.0, "b": 1.0, "c": 0.0}[i] for i in items])
    >>> policy = ScorePolicy(Fixed(), temperature=1.0, floor=0.1)
    >>> policy.probabilities(["a", "b", "c"], context="ann").round(3).tolist()
    [0.566, 0.271, 0.163]
    >>> policy.probabilities(list("abcdefghijk"), context="ann")
    Traceback (most recent call last):
    ...
    ValueError: floor * n_candidates must be <= 1, got 0.1 * 11
    """

    def __init__(
        self,
        model: Scorer,
        temperature: float = 1.0,
        floor: float = 0.0,
        n_draws: int = N_DRAWS,
        seed: int | None = 0,
    ) -> None:
        if temperature <= 0.0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= floor <= 1.0:
            raise ValueError(f"floor must be in [0, 1], got {floor}")
        self.model = model
        self.temperature = temperature
        self.floor = floor
        super().__init__(n_draws=n_draws, seed=seed)

    def _start(self) -> None:
        """Nothing to learn: the state is the model's."""

    def _probabilities(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        n = len(arms)
        if self.floor * n > 1.0 + 1e-12:
            raise ValueError(f"floor * n_candidates must be <= 1, got {self.floor} * {n}")
        if context is None:
            raise ValueError("ScorePolicy needs the user as context")
        user = context.item() if isinstance(context, np.generic) else context
        scores = np.asarray(self.model.score(user, ids_array(arms)), dtype=np.float64)
        if scores.shape != (n,) or not np.isfinite(scores).all():
            raise ValueError(f"the model must give {n} finite scores, got {scores}")
        return (1.0 - n * self.floor) * softmax(scores, self.temperature) + self.floor

    def update(self, arm: Hashable, reward: float, context: Any = None) -> None:
        """Nothing: the model learns from the event log, not from the policy."""
