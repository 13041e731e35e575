"""Shared pieces of the bandit tests: a policy of every kind, simulated bandits."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from freshrec.bandits import (
    UCB1,
    BernoulliTS,
    EpsilonGreedy,
    Exp3,
    GaussianTS,
    HybridLinUCB,
    LinearTS,
    LinUCB,
    NeuralLinear,
    Policy,
    ScorePolicy,
    Softmax,
)

DIM = 3  # context features of the contextual policies


class ArmScores:
    """A stand-in recommender: item ``i`` scores ``sin(crc32(str(i)) + user)`` for a user."""

    def score(self, user: Hashable, items: Sequence[Hashable] | np.ndarray) -> np.ndarray:
        return np.sin([zlib.crc32(str(item).encode()) + float(user) for item in items])


# name -> (factory taking n_draws, what its context is: None, "features" or "user")
POLICIES: dict[str, tuple[Callable[[int], Policy], str | None]] = {
    "epsilon-greedy": (lambda n: EpsilonGreedy(epsilon=0.2, n_draws=n), None),
    "epsilon-decay": (lambda n: EpsilonGreedy(epsilon=0.5, decay=True, n_draws=n), None),
    "greedy": (lambda n: EpsilonGreedy(epsilon=0.0, n_draws=n), None),
    "ucb1": (lambda n: UCB1(n_draws=n), None),
    "bernoulli-ts": (lambda n: BernoulliTS(n_draws=n), None),
    "gaussian-ts": (lambda n: GaussianTS(noise_var=0.25, n_draws=n), None),
    "exp3": (lambda n: Exp3(gamma=0.2, n_draws=n), None),
    "softmax": (lambda n: Softmax(temperature=0.1, n_draws=n), None),
    "linucb": (lambda n: LinUCB(alpha=0.5, n_draws=n), "features"),
    "hybrid-linucb": (lambda n: HybridLinUCB(alpha=0.5, n_draws=n), "features"),
    "linear-ts": (lambda n: LinearTS(v=0.3, n_draws=n), "features"),
    "neural-linear": (lambda n: NeuralLinear(np.tanh, n_draws=n), "features"),
    "score": (lambda n: ScorePolicy(ArmScores(), temperature=0.5, floor=0.02, n_draws=n), "user"),
}


def make_context(kind: str | None, n: int, rng: np.random.Generator, per_arm: bool) -> object:
    """A context of ``kind`` for ``n`` candidates: a shared vector, one row per arm, a user."""
    if kind == "features":
        return rng.normal(size=(n, DIM) if per_arm else DIM)
    if kind == "user":
        return int(rng.integers(10))
    return None


def arm_row(context: object, position: int) -> object:
    """What ``update`` takes for the candidate at ``position``: its own row of the context."""
    if isinstance(context, np.ndarray) and context.ndim == 2:
        return context[position]
    return context


def play_bernoulli(policy: Policy, means: Sequence[float], rounds: int, seed: int) -> np.ndarray:
    """Rewards of ``policy`` on a Bernoulli bandit with arms ``0 .. len(means) - 1``."""
    rng = np.random.default_rng(seed)
    arms = list(range(len(means)))
    rewards = np.empty(rounds)
    for t in range(rounds):
        arm = policy.select(arms).items[0]
        rewards[t] = float(rng.random() < means[arm])
        policy.update(arm, rewards[t])
    return rewards


def standard_error(p: np.ndarray, n: float) -> np.ndarray:
    """The standard error of shares ``p`` estimated from ``n`` draws."""
    return np.sqrt(p * (1.0 - p) / n)
