"""Synthetic logged bandit data whose policies' values are known, to check off-policy estimators.

A :class:`SyntheticBanditProblem` fixes, from its ``seed``:

- contexts ``x ~ N(0, I_dim)``;
- action features ``e_a ~ N(0, I_dim)`` and the expected reward
  ``q(x, a) = sigmoid(g(x, a))``, ``g(x, a) = 1.5 (x^T M e_a / dim + b_a)`` with ``M`` a random
  ``dim x dim`` matrix (entries ``N(0, 1)``) and ``b_a ~ N(0, 0.5²)``; the observed reward is
  ``Bernoulli(q(x, a))`` (so its noise variance is ``q (1 - q)``);
- a softmax logging policy ``pi_b(a | x) ∝ exp(beta_logging f(x, a))`` with
  ``f(x, a) = g(x, a) / 2 + x^T M' e_a / dim`` (``M'`` another random matrix): it leans
  towards good actions without knowing them;
- two target policies on the geometric path from ``pi_b`` to the greedy-ish
  ``pi* ∝ exp(3 g(x, a))``: ``log pi_t = (1 - t) log pi_b + t log pi* + const``. The mean
  KL(pi_t || pi_b) over contexts grows with ``t``, and bisection on ``t`` (over 20,000
  contexts) sets it to ``kl_near`` (0.1) for ``"near"`` and ``kl_far`` (1.0) for ``"far"``.

The policy values come from the expected rewards, not from sampled ones:
:meth:`~SyntheticBanditProblem.true_value` averages ``sum_a pi(a | x) q(x, a)`` over a fixed
sample of a million contexts (its Monte Carlo error is about 1e-4).

Examples
--------
>>> problem = SyntheticBanditProblem(n_actions=10, dim=5, seed=0)
>>> feedback = problem.log(1000, seed=1)
>>> feedback.n_rounds, feedback.n_actions, feedback.context.shape
(1000, 10, (1000, 5))
>>> problem.action_dist(feedback.context, "far").shape
(1000, 10, 1)
>>> bool(problem.true_value("far") > problem.true_value("near") > problem.true_value("logging"))
True
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np

from freshrec.data.logged import LoggedFeedback

__all__ = ["PolicyName", "SyntheticBanditProblem"]

PolicyName = Literal["logging", "near", "far"]

_REWARD_SCALE = 1.5  # spread of the reward logits g(x, a)
_BIAS_SCALE = 0.5  # spread of the per-action reward offsets b_a
_GREEDY_BETA = 3.0  # inverse temperature of pi*, the end of the target path
_N_TUNING = 20_000  # contexts the bisection on the KL reads
_CHUNK = 100_000  # contexts per step of the large averages
_TUNING_STREAM, _VALUE_STREAM = 1, 2  # seed streams of the tuning and evaluation contexts


class SyntheticBanditProblem:
    """A contextual bandit with a known reward function, a logging policy and two targets.

    See the module doc for the model. ``n_actions`` actions, ``dim`` context features,
    ``beta_logging`` the logging policy's inverse temperature, ``kl_near`` and ``kl_far``
    the mean KL(target || logging) the targets are tuned to, ``seed`` fixes everything.

    Attributes
    ----------
    mix_
        The path parameter ``t`` of each target (``"logging"`` is ``t = 0``).

    Examples
    --------
    >>> problem = SyntheticBanditProblem(seed=0)
    >>> contexts = problem.sample_contexts(3, np.random.default_rng(0))
    >>> problem.logging_policy(contexts).sum(axis=1).round(6).tolist()
    [1.0, 1.0, 1.0]
    >>> abs(problem.kl("near", n_contexts=100_000) - 0.1) < 0.01
    True
    """

    def __init__(
        self,
        n_actions: int = 10,
        dim: int = 5,
        beta_logging: float = 0.5,
        kl_near: float = 0.1,
        kl_far: float = 1.0,
        seed: int = 0,
    ) -> None:
        if n_actions < 2 or dim < 1:
            raise ValueError(f"need n_actions >= 2 and dim >= 1, got {n_actions}, {dim}")
        if not (kl_near > 0 and kl_far > 0):
            raise ValueError(f"kl_near and kl_far must be positive, got {kl_near}, {kl_far}")
        self.n_actions = n_actions
        self.dim = dim
        self.beta_logging = beta_logging
        self.kl_near = kl_near
        self.kl_far = kl_far
        self.seed = seed
        rng = np.random.default_rng(seed)
        self._features = rng.normal(size=(n_actions, dim))
        self._reward_map = rng.normal(size=(dim, dim)) @ self._features.T / dim
        self._logging_map = rng.normal(size=(dim, dim)) @ self._features.T / dim
        self._bias = rng.normal(0.0, _BIAS_SCALE, size=n_actions)
        tuning = self.sample_contexts(_N_TUNING, np.random.default_rng([seed, _TUNING_STREAM]))
        self.mix_: dict[PolicyName, float] = {
            "logging": 0.0,
            "near": self._tune(tuning, kl_near),
            "far": self._tune(tuning, kl_far),
        }

    # -- the model -------------------------------------------------------------------
    def sample_contexts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` contexts ``x ~ N(0, I_dim)``, shape (n, dim)."""
        return rng.normal(size=(n, self.dim))

    def expected_rewards(self, contexts: np.ndarray) -> np.ndarray:
        """``q(x, a)`` in obp's shape for q̂, (n, n_actions, 1)."""
        return _sigmoid(self._reward_logits(contexts))[:, :, None]

    def logging_policy(self, contexts: np.ndarray) -> np.ndarray:
        """``pi_b(a | x)``, shape (n, n_actions)."""
        policy: np.ndarray = np.exp(self._log_logging(contexts))
        return policy

    def target_policy(self, contexts: np.ndarray, which: PolicyName = "near") -> np.ndarray:
        """``pi(a | x)`` of ``which`` (``"near"``, ``"far"`` or ``"logging"``), shape
        (n, n_actions)."""
        policy: np.ndarray = np.exp(self._log_policy(contexts, which))
        return policy

    def action_dist(self, contexts: np.ndarray, which: PolicyName = "near") -> np.ndarray:
        """:meth:`target_policy` in obp's ``action_dist`` shape, (n, n_actions, 1)."""
        return self.target_policy(contexts, which)[:, :, None]

    # -- data and truths ---------------------------------------------------------------
    def log(self, n_rounds: int, seed: int | None = None) -> LoggedFeedback:
        """``n_rounds`` rounds of the logging policy: fresh contexts (kept in ``context``),
        sampled actions, their propensities and Bernoulli rewards."""
        rng = np.random.default_rng(seed)
        contexts = self.sample_contexts(n_rounds, rng)
        policy = self.logging_policy(contexts)
        draws = rng.random((n_rounds, 1))
        actions = np.minimum((policy.cumsum(axis=1) < draws).sum(axis=1), self.n_actions - 1)
        rows = np.arange(n_rounds)
        rewards = rng.binomial(1, self.expected_rewards(contexts)[rows, actions, 0])
        return LoggedFeedback(
            actions=actions,
            rewards=rewards.astype(np.float64),
            propensities=policy[rows, actions],
            n_actions=self.n_actions,
            context=contexts,
        )

    def true_value(self, which: PolicyName, n_contexts: int = 1_000_000) -> float:
        """The value ``E_x[sum_a pi(a | x) q(x, a)]`` of ``which``, averaged over a fixed
        sample of ``n_contexts`` contexts (from ``seed``; not the logged ones)."""
        total = 0.0
        for contexts in self._value_contexts(n_contexts):
            q = self.expected_rewards(contexts)[:, :, 0]
            total += float((self.target_policy(contexts, which) * q).sum())
        return total / n_contexts

    def kl(self, which: PolicyName, n_contexts: int = 1_000_000) -> float:
        """The mean KL(pi_which || pi_b) over the contexts of :meth:`true_value`."""
        total = 0.0
        for contexts in self._value_contexts(n_contexts):
            log_target = self._log_policy(contexts, which)
            total += float(_kl_rows(log_target, self._log_logging(contexts)).sum())
        return total / n_contexts

    def __repr__(self) -> str:
        return (
            f"SyntheticBanditProblem(n_actions={self.n_actions}, dim={self.dim}, "
            f"beta_logging={self.beta_logging}, kl_near={self.kl_near}, kl_far={self.kl_far}, "
            f"seed={self.seed})"
        )

    # -- internals ---------------------------------------------------------------------
    def _reward_logits(self, contexts: np.ndarray) -> np.ndarray:
        logits: np.ndarray = contexts @ self._reward_map + self._bias
        return _REWARD_SCALE * logits

    def _log_logging(self, contexts: np.ndarray) -> np.ndarray:
        preference = self._reward_logits(contexts) / 2.0 + contexts @ self._logging_map
        return _log_softmax(self.beta_logging * preference)

    def _log_policy(self, contexts: np.ndarray, which: PolicyName) -> np.ndarray:
        if which not in self.mix_:
            raise ValueError(f"which must be one of {sorted(self.mix_)}, got {which!r}")
        log_logging = self._log_logging(contexts)
        if which == "logging":  # pi_b itself, so that its importance weights are exactly 1
            return log_logging
        return _path(log_logging, self._log_greedy(contexts), self.mix_[which])

    def _log_greedy(self, contexts: np.ndarray) -> np.ndarray:
        return _log_softmax(_GREEDY_BETA * self._reward_logits(contexts))

    def _tune(self, contexts: np.ndarray, target: float) -> float:
        """The ``t`` whose mean KL over ``contexts`` is within 1e-4 (relative) of ``target``,
        by bisection: the KL grows with ``t`` along this exponential-family path."""
        log_logging, log_greedy = self._log_logging(contexts), self._log_greedy(contexts)

        def mean_kl(t: float) -> float:
            return float(_kl_on_path(log_logging, log_greedy, t).mean())

        low, high = 0.0, 1.0
        while mean_kl(high) < target:
            low, high = high, 2.0 * high
            if high > 1e3:
                raise ValueError(f"no target policy on the path reaches a KL of {target}")
        middle = (low + high) / 2.0
        for _ in range(100):
            found = mean_kl(middle)
            if abs(found - target) <= 1e-4 * target:
                break
            low, high = (middle, high) if found < target else (low, middle)
            middle = (low + high) / 2.0
        return middle

    def _value_contexts(self, n_contexts: int) -> Iterator[np.ndarray]:
        if n_contexts < 1:
            raise ValueError(f"n_contexts must be >= 1, got {n_contexts}")
        rng = np.random.default_rng([self.seed, _VALUE_STREAM])
        for start in range(0, n_contexts, _CHUNK):
            yield self.sample_contexts(min(_CHUNK, n_contexts - start), rng)


def _path(log_logging: np.ndarray, log_greedy: np.ndarray, t: float) -> np.ndarray:
    """``log pi_t``: ``(1 - t) log pi_b + t log pi*``, normalised."""
    return _log_softmax((1.0 - t) * log_logging + t * log_greedy)


def _kl_on_path(log_logging: np.ndarray, log_greedy: np.ndarray, t: float) -> np.ndarray:
    """KL(pi_t || pi_b) per context."""
    log_target = _path(log_logging, log_greedy, t)
    return _kl_rows(log_target, log_logging)


def _kl_rows(log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """KL(p || q) of each row, from log probabilities."""
    divergence: np.ndarray = (np.exp(log_p) * (log_p - log_q)).sum(axis=1)
    return divergence


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return log_probabilities


def _sigmoid(x: np.ndarray) -> np.ndarray:
    denominator: np.ndarray = 1.0 + np.exp(-x)
    return 1.0 / denominator
