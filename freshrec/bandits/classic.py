"""Non-contextual bandit policies: epsilon-greedy, UCB1, Thompson sampling, Exp3, softmax.

Every policy here ignores ``context`` and keeps one small record per arm, created at the
prior the first time the arm is offered or rewarded, so the arms may change from one decision
to the next.

- :class:`EpsilonGreedy`: the best mean with probability ``1 - epsilon`` (ties split evenly),
  otherwise any candidate uniformly; optionally decaying.
- :class:`UCB1` (Auer et al., 2002): the largest upper confidence bound; deterministic.
- :class:`BernoulliTS`, :class:`GaussianTS`: Thompson sampling with conjugate posteriors;
  propensities estimated by Monte Carlo (see :mod:`freshrec.bandits.policy`).
- :class:`Exp3` (Auer et al., 2002): exponential weights for adversarial rewards in [0, 1].
- :class:`Softmax`: the Boltzmann distribution over the mean rewards.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> means = {"a": 0.2, "b": 0.8}
>>> policy = BernoulliTS(n_draws=1000)
>>> for _ in range(200):
...     arm = policy.select(["a", "b"]).items[0]
...     policy.update(arm, float(rng.random() < means[arm]))
>>> bool(policy.probabilities(["a", "b"])[1] > 0.95)
True
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import numpy as np

from freshrec.bandits.policy import N_DRAWS, Policy, argmax_distribution, softmax

__all__ = ["BernoulliTS", "EpsilonGreedy", "Exp3", "GaussianTS", "Softmax", "UCB1"]


class _RewardSums(Policy):
    """The number of rewards and their sum per arm (``counts_``, ``sums_``) and in all
    (``n_updates_``): the state every policy of this module but :class:`Exp3` learns from."""

    def _start(self) -> None:
        self.counts_: dict[Hashable, int] = {}
        self.sums_: dict[Hashable, float] = {}
        self.n_updates_ = 0

    def update(self, arm: Hashable, reward: float, context: Any = None) -> None:
        self._check_reward(reward)
        self.counts_[arm] = self.counts_.get(arm, 0) + 1
        self.sums_[arm] = self.sums_.get(arm, 0.0) + float(reward)
        self.n_updates_ += 1

    def _check_reward(self, reward: float) -> None:
        if not math.isfinite(reward):
            raise ValueError(f"reward must be finite, got {reward}")

    def _sums(self, arms: list[Hashable]) -> tuple[np.ndarray, np.ndarray]:
        """Counts and reward sums of ``arms`` (0 for an arm never rewarded)."""
        counts = np.array([self.counts_.get(arm, 0) for arm in arms], dtype=np.float64)
        sums = np.array([self.sums_.get(arm, 0.0) for arm in arms], dtype=np.float64)
        return counts, sums

    def _means(self, arms: list[Hashable], prior_mean: float) -> np.ndarray:
        """Mean reward of ``arms``; ``prior_mean`` for an arm never rewarded."""
        counts, sums = self._sums(arms)
        return np.where(counts > 0, sums / np.maximum(counts, 1.0), prior_mean)


class EpsilonGreedy(_RewardSums):
    """The best mean reward, except with probability ``epsilon``: a uniform candidate.

    The probability of a candidate is ``epsilon_t / n`` plus, for each of the ``m`` candidates
    tied at the best mean, ``(1 - epsilon_t) / m``. With ``decay`` the exploration rate follows
    the ``1 / t`` schedule of Auer et al. (2002): ``epsilon_t = epsilon * min(1, n / t)`` for
    ``n`` candidates at round ``t`` (the number of rewards learned plus one), so every arm is
    explored at the full rate for the first ``n`` rounds; without it ``epsilon_t = epsilon``,
    which keeps tracking arms whose rewards drift.

    Parameters
    ----------
    epsilon
        Exploration rate in [0, 1].
    decay
        Whether ``epsilon`` decays as ``1 / t``.
    prior_mean
        The mean reward assumed for an arm never rewarded (above the rewards' range: every
        new arm is tried first, optimism in the face of uncertainty).
    n_draws
        Monte Carlo draws for slate propensities.
    seed
        Seed of the policy's random generators.

    Examples
    --------
    >>> policy = EpsilonGreedy(epsilon=0.3)
    >>> policy.update("a", 1.0); policy.update("b", 1.0); policy.update("c", 0.0)
    >>> policy.probabilities(["a", "b", "c"]).tolist()
    [0.45, 0.45, 0.1]
    >>> EpsilonGreedy(epsilon=0.3, decay=True).epsilon_at(n_candidates=3, t=30)
    0.03
    """

    def __init__(
        self,
        epsilon: float = 0.1,
        decay: bool = False,
        prior_mean: float = 0.0,
        n_draws: int = N_DRAWS,
        seed: int | None = 0,
    ) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = epsilon
        self.decay = decay
        self.prior_mean = prior_mean
        super().__init__(n_draws=n_draws, seed=seed)

    def epsilon_at(self, n_candidates: int, t: int) -> float:
        """The exploration rate at round ``t`` (from 1) among ``n_candidates``."""
        return self.epsilon * min(1.0, n_candidates / t) if self.decay else self.epsilon

    def _probabilities(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        epsilon = self.epsilon_at(len(arms), self.n_updates_ + 1)
        greedy = argmax_distribution(self._means(arms, self.prior_mean))
        return epsilon / len(arms) + (1.0 - epsilon) * greedy


class UCB1(_RewardSums):
    """The arm with the largest ``mean + sqrt(2 ln t / n_a)`` (Auer et al., 2002).

    ``t`` is the number of rewards learned, ``n_a`` the arm's. Candidates never rewarded come
    first (the prior: an infinite bound). The choice is deterministic but for ties, which are
    split evenly: the propensity is ``1 / (number of tied candidates)``. Rewards are assumed
    in [0, 1] (the bonus is scaled for that range).

    Parameters
    ----------
    n_draws
        Monte Carlo draws for slate propensities.
    seed
        Seed of the policy's random generators.

    Examples
    --------
    >>> policy = UCB1()
    >>> policy.probabilities(["a", "b"]).tolist()  # both untried
    [0.5, 0.5]
    >>> policy.update("a", 1.0)
    >>> policy.probabilities(["a", "b"]).tolist()  # "b" untried
    [0.0, 1.0]
    """

    def __init__(self, n_draws: int = N_DRAWS, seed: int | None = 0) -> None:
        super().__init__(n_draws=n_draws, seed=seed)

    def _probabilities(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        counts, sums = self._sums(arms)
        untried = counts == 0
        if untried.any():
            return np.asarray(untried, dtype=np.float64)
        bounds = sums / counts + np.sqrt(2.0 * math.log(self.n_updates_) / counts)
        return argmax_distribution(bounds)


class BernoulliTS(_RewardSums):
    """Thompson sampling with a Beta(``alpha``, ``beta``) prior per arm.

    A reward ``r`` in [0, 1] adds ``r`` to the arm's successes and ``1 - r`` to its failures
    (a click is 1, no click 0). The probability of an arm is the chance that its draw from
    Beta(``alpha`` + successes, ``beta`` + failures) is the largest, estimated from
    ``n_draws`` draws of every candidate's posterior.

    Parameters
    ----------
    alpha, beta
        The prior's pseudo-counts of successes and failures (> 0).
    n_draws
        Monte Carlo draws per probability estimate.
    seed
        Seed of the policy's random generators.

    Examples
    --------
    >>> policy = BernoulliTS(alpha=1.0, beta=1.0)
    >>> policy.probabilities(["a", "b"]).round(1).tolist()  # both at the prior
    [0.5, 0.5]
    >>> for _ in range(5):
    ...     policy.update("a", 1.0)
    >>> p = policy.probabilities(["a", "b"])[0]  # P(Beta(6, 1) > Beta(1, 1)) = 6 / 7
    >>> bool(abs(p - 6 / 7) < 5 * np.sqrt(p * (1 - p) / policy.n_draws))
    True
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 1.0,
        n_draws: int = N_DRAWS,
        seed: int | None = 0,
    ) -> None:
        if alpha <= 0.0 or beta <= 0.0:
            raise ValueError(f"alpha and beta must be > 0, got alpha={alpha}, beta={beta}")
        self.alpha = alpha
        self.beta = beta
        super().__init__(n_draws=n_draws, seed=seed)

    def _check_reward(self, reward: float) -> None:
        if not 0.0 <= reward <= 1.0:
            raise ValueError(f"reward must be in [0, 1] for BernoulliTS, got {reward}")

    def _probabilities(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        counts, sums = self._sums(arms)
        draws = rng.beta(self.alpha + sums, self.beta + counts - sums, (self.n_draws, len(arms)))
        return argmax_distribution(draws)


class GaussianTS(_RewardSums):
    """Thompson sampling with a Gaussian prior on each arm's mean and Gaussian rewards.

    With prior N(``prior_mean``, ``prior_var``) and reward noise variance ``noise_var``, an
    arm with ``n`` rewards summing to ``s`` has posterior precision
    ``1 / prior_var + n / noise_var`` and mean ``(prior_mean / prior_var + s / noise_var) /
    precision``. Probabilities are estimated from ``n_draws`` posterior draws.

    Parameters
    ----------
    prior_mean, prior_var
        The prior of an arm's mean reward (``prior_var`` > 0).
    noise_var
        The variance of a reward around its arm's mean (> 0).
    n_draws
        Monte Carlo draws per probability estimate.
    seed
        Seed of the policy's random generators.

    Examples
    --------
    >>> policy = GaussianTS(prior_mean=0.0, prior_var=1.0, noise_var=1.0)
    >>> for _ in range(20):
    ...     policy.update("a", 1.0)
    >>> float(policy.probabilities(["a", "b"])[0]) > 0.75  # N(0.95, 0.05) vs the prior N(0, 1)
    True
    """

    def __init__(
        self,
        prior_mean: float = 0.0,
        prior_var: float = 1.0,
        noise_var: float = 1.0,
        n_draws: int = N_DRAWS,
        seed: int | None = 0,
    ) -> None:
        if prior_var <= 0.0 or noise_var <= 0.0:
            raise ValueError(
                f"prior_var and noise_var must be > 0, got prior_var={prior_var}, "
                f"noise_var={noise_var}"
            )
        self.prior_mean = prior_mean
        self.prior_var = prior_var
        self.noise_var = noise_var
        super().__init__(n_draws=n_draws, seed=seed)

    def _probabilities(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        counts, sums = self._sums(arms)
        precision = 1.0 / self.prior_var + counts / self.noise_var
        mean = (self.prior_mean / self.prior_var + sums / self.noise_var) / precision
        noise = rng.standard_normal((self.n_draws, len(arms)))
        return argmax_distribution(mean + noise / np.sqrt(precision))


class Exp3(Policy):
    """Exponential weights for exploration and exploitation (Auer et al., 2002).

    Among ``n`` candidates, arm ``a`` has probability ``(1 - gamma) * softmax(gamma * G / n)_a
    + gamma / n``, where ``G_a`` is its estimated gain: the sum of its importance-weighted
    rewards ``r / q``, ``q`` the probability with which :meth:`select` had shown the arm (its
    propensity for one choice; for a slate, the sum of its per-position propensities). Rewards
    must lie in [0, 1], and :meth:`update` takes only arms that :meth:`select` chose, with the
    ``q`` of the latest decision that chose them: give the feedback of a decision before the
    same arm is chosen again.

    **Arms that come and go.** An arm enters, the first time :meth:`select` offers it, with the
    mean gain of the arms already known among the candidates (0 when there are none): as an
    average arm rather than one that missed every round before it existed. An arm left out
    keeps its gain until it is offered again.

    Parameters
    ----------
    gamma
        Exploration share and learning rate, in (0, 1].
    n_draws
        Monte Carlo draws for slate propensities.
    seed
        Seed of the policy's random generators.

    Examples
    --------
    >>> policy = Exp3(gamma=0.5)
    >>> decision = policy.select(["a", "b"])
    >>> decision.items, decision.propensities.tolist()
    (('b',), [0.5])
    >>> policy.update("b", 1.0)  # gain 1 / 0.5 = 2
    >>> policy.probabilities(["a", "b"]).round(3).tolist()
    [0.439, 0.561]
    """

    def __init__(self, gamma: float = 0.1, n_draws: int = N_DRAWS, seed: int | None = 0) -> None:
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        self.gamma = gamma
        super().__init__(n_draws=n_draws, seed=seed)

    def _start(self) -> None:
        self.gains_: dict[Hashable, float] = {}
        self.shown_: dict[Hashable, float] = {}  # arm -> q of the latest decision choosing it

    def _gains(self, arms: list[Hashable]) -> np.ndarray:
        """Gains of ``arms``; one not yet known at the mean of the known ones."""
        known = [self.gains_[arm] for arm in arms if arm in self.gains_]
        start = float(np.mean(known)) if known else 0.0
        return np.array([self.gains_.get(arm, start) for arm in arms])

    def _probabilities(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        n = len(arms)
        weights = softmax(self._gains(arms), temperature=n / self.gamma)
        return (1.0 - self.gamma) * weights + self.gamma / n

    def _decided(self, arms: list[Hashable], chosen: np.ndarray, shown: np.ndarray) -> None:
        for arm, gain in zip(arms, self._gains(arms).tolist(), strict=True):
            self.gains_.setdefault(arm, gain)
        for i, q in zip(chosen.tolist(), shown.tolist(), strict=True):
            self.shown_[arms[i]] = q

    def update(self, arm: Hashable, reward: float, context: Any = None) -> None:
        if not 0.0 <= reward <= 1.0:
            raise ValueError(f"reward must be in [0, 1] for Exp3, got {reward}")
        if arm not in self.shown_:
            raise ValueError(f"arm {arm!r} was never chosen by select: Exp3 needs its propensity")
        self.gains_[arm] += reward / self.shown_[arm]


class Softmax(_RewardSums):
    """Boltzmann exploration: probabilities proportional to ``exp(mean reward / temperature)``.

    A low ``temperature`` is nearly greedy, a high one nearly uniform; every candidate keeps a
    positive probability.

    Parameters
    ----------
    temperature
        The spread of the distribution (> 0), in reward units.
    prior_mean
        The mean reward assumed for an arm never rewarded.
    n_draws
        Monte Carlo draws for slate propensities.
    seed
        Seed of the policy's random generators.

    Examples
    --------
    >>> policy = Softmax(temperature=1.0)
    >>> policy.update("a", float(np.log(3.0)))
    >>> policy.probabilities(["a", "b"]).round(3).tolist()
    [0.75, 0.25]
    """

    def __init__(
        self,
        temperature: float = 0.1,
        prior_mean: float = 0.0,
        n_draws: int = N_DRAWS,
        seed: int | None = 0,
    ) -> None:
        if temperature <= 0.0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.prior_mean = prior_mean
        super().__init__(n_draws=n_draws, seed=seed)

    def _probabilities(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        return softmax(self._means(arms, self.prior_mean), self.temperature)
