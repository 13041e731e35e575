"""The off-policy gate: a candidate's policy, valued on logged exploring decisions, must not be
worse than the stable version's.

Each version is turned into the policy an exploring request would get from it,
:class:`~freshrec.bandits.ScorePolicy` (``temperature``, ``floor``), and valued on the same
logged rounds (:class:`~freshrec.live.decisions.LoggedRounds`: first positions, exact
propensities) by the doubly robust estimator (:func:`freshrec.evaluation.ope.dr_terms`) with
a constant reward model: q̂ = the logged rounds' mean reward for every item. With that q̂, DR
is ``q̂ + mean(w_i (r_i - q̂))``: IPS recentred on the mean reward, unbiased when the logged
propensities are right, with less variance than IPS when the rewards are far from 0.

The candidate fails when its value is below the stable version's by more than ``margin``
(relative) *and* by more than ``z`` standard errors of the paired per-round difference, so
noise alone does not hold a version back. With fewer than ``min_rounds`` rounds it passes
and says so.

Examples
--------
>>> from freshrec.data.logged import LoggedFeedback
>>> from freshrec.live.decisions import LoggedRounds
>>> class Fixed:
...     def __init__(self, best): self.best = best
...     def score(self, user, items): return np.array([5.0 * (i == self.best) for i in items])
>>> n = 300  # a uniform logging policy over ("a", "b"); "a" is always clicked, "b" never
>>> actions = np.arange(n) % 2
>>> feedback = LoggedFeedback(actions, 1.0 - actions, np.full(n, 0.5), 2)
>>> rounds = LoggedRounds(feedback, ("ann",) * n, (("a", "b"),) * n)
>>> gate = OffPolicyGate(min_rounds=100)
>>> gate.check(Fixed("b"), Fixed("a"), rounds).passed
False
>>> verdict = gate.check(Fixed("a"), Fixed("b"), rounds)
>>> found = verdict.metrics
>>> verdict.passed, round(found["candidate_dr"], 3), round(found["stable_dr"], 3)
(True, 0.993, 0.007)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from freshrec.bandits.scored import ScorePolicy, Scorer
from freshrec.evaluation.ope import dr_terms
from freshrec.live.decisions import REWARD_WINDOW_S, LoggedRounds
from freshrec.live.guard import GuardVerdict

__all__ = ["OffPolicyGate"]


@dataclass(frozen=True)
class OffPolicyGate:
    """Holds back a candidate whose softmax policy is worth less than the stable version's
    on the logged exploring decisions (module docstring).

    Parameters
    ----------
    temperature, floor
        Of the :class:`~freshrec.bandits.ScorePolicy` each version is valued as: those the
        service explores with compare what exploring requests would get; a low temperature
        compares nearly greedy answers.
    margin
        Largest relative loss of value allowed (0.02: 2% of the stable version's).
    z
        Standard errors of the paired difference the loss must also exceed.
    min_rounds
        Fewer logged rounds than this: the check passes, saying so.
    reward_window_s
        Seconds after a decision within which a positive event on its item is its reward
        (default 30 minutes).

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models import MostPopular
    >>> model = MostPopular().fit(checkerboard_events())
    >>> OffPolicyGate().check(model, model, None).reason
    'off-policy check skipped: 0 logged rounds, fewer than min_rounds (200)'
    >>> OffPolicyGate(min_rounds=0)
    Traceback (most recent call last):
    ...
    ValueError: min_rounds must be >= 1, got 0
    """

    temperature: float = 1.0
    floor: float = 0.0
    margin: float = 0.02
    z: float = 2.0
    min_rounds: int = 200
    reward_window_s: float = REWARD_WINDOW_S

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0 <= self.floor <= 1:
            raise ValueError(f"floor must be in [0, 1], got {self.floor}")
        if self.margin < 0 or self.z < 0:
            raise ValueError(f"margin and z must be >= 0, got {self.margin}, {self.z}")
        if self.min_rounds < 1:
            raise ValueError(f"min_rounds must be >= 1, got {self.min_rounds}")
        if self.reward_window_s < 0:
            raise ValueError(f"reward_window_s must be >= 0, got {self.reward_window_s}")

    def check(self, candidate: Scorer, stable: Scorer, rounds: LoggedRounds | None) -> GuardVerdict:
        """Whether ``candidate``'s policy is not worse than ``stable``'s on ``rounds``
        (``None``: no decision log, no rounds); both estimates are in the metrics."""
        n = 0 if rounds is None else rounds.n_rounds
        metrics = {"ope_rounds": float(n)}
        if rounds is None or n < self.min_rounds:
            reason = (
                f"off-policy check skipped: {n} logged rounds, fewer than min_rounds "
                f"({self.min_rounds})"
            )
            return GuardVerdict(True, reason, metrics)
        mean_reward = float(rounds.feedback.rewards.mean())
        new = self._terms(candidate, rounds, mean_reward)
        old = self._terms(stable, rounds, mean_reward)
        value, reference = float(new.mean()), float(old.mean())
        spread = float(np.std(new - old, ddof=1)) / math.sqrt(n) if n > 1 else math.inf
        metrics.update(
            {
                "candidate_dr": value,
                "stable_dr": reference,
                "ope_difference_se": spread,
                "ope_mean_reward": mean_reward,
            }
        )
        loss = reference - value
        figures = f"off-policy value {value:.4f} against {reference:.4f}"
        if loss > self.margin * abs(reference) and loss > self.z * spread:
            reason = (
                f"{figures} of the version it would replace on {n:,} logged rounds (doubly "
                f"robust; lower by more than {self.margin:.0%} and {self.z:g} standard errors)"
            )
            return GuardVerdict(False, reason, metrics)
        return GuardVerdict(True, f"{figures} on {n:,} logged rounds", metrics)

    def _terms(self, model: Scorer, rounds: LoggedRounds, mean_reward: float) -> np.ndarray:
        """Per-round doubly robust terms of ``model``'s policy, q̂ = ``mean_reward``."""
        policy = ScorePolicy(model, self.temperature, self.floor)
        target = rounds.action_dist(policy)
        terms = dr_terms(rounds.feedback, target, np.full(target.shape, mean_reward))
        return terms.numerator
