"""Bandit policies whose every decision carries the probabilities it was drawn from.

- :mod:`.policy`: the :class:`~freshrec.bandits.policy.Policy` base class, the
  :class:`~freshrec.bandits.policy.Decision` it returns, and
  :func:`~freshrec.bandits.policy.action_distribution` for off-policy evaluation;
- :mod:`.classic`: non-contextual policies: epsilon-greedy, UCB1, Bernoulli and Gaussian
  Thompson sampling, Exp3, softmax;
- :mod:`.linear`: contextual policies on feature vectors: LinUCB (disjoint and hybrid),
  linear Thompson sampling, and a Bayesian linear head on a deep model's embeddings;
- :mod:`.slates`: Plackett-Luce slates and their per-position propensities;
- :mod:`.scored`: any freshrec recommender as a policy, by a softmax over its scores.
"""

from __future__ import annotations

from freshrec.bandits.classic import UCB1, BernoulliTS, EpsilonGreedy, Exp3, GaussianTS, Softmax
from freshrec.bandits.linear import HybridLinUCB, LinearTS, LinUCB, NeuralLinear
from freshrec.bandits.policy import (
    Decision,
    Policy,
    action_distribution,
    argmax_distribution,
    softmax,
)
from freshrec.bandits.scored import ScorePolicy
from freshrec.bandits.slates import draw_slate, plackett_luce, position_marginals

__all__ = [
    "UCB1",
    "BernoulliTS",
    "Decision",
    "EpsilonGreedy",
    "Exp3",
    "GaussianTS",
    "HybridLinUCB",
    "LinUCB",
    "LinearTS",
    "NeuralLinear",
    "Policy",
    "ScorePolicy",
    "Softmax",
    "action_distribution",
    "argmax_distribution",
    "draw_slate",
    "plackett_luce",
    "position_marginals",
    "softmax",
]
