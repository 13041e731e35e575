"""Contextual policies on feature vectors: LinUCB, hybrid LinUCB, linear and neural-linear TS.

**Context.** ``select`` and ``probabilities`` take either a vector of shape (d,), the same
features for every candidate (the user, the moment), or an array of shape (n_candidates, d),
one feature row per candidate in candidate order (user features joined with, or crossed with,
the item's). ``update(arm, reward, context)`` takes the row the chosen arm was scored on,
shape (d,). ``d`` is fixed by the first context a policy sees.

**Models.** :class:`LinUCB`, :class:`LinearTS` and :class:`NeuralLinear` keep one ridge
regression per arm ("disjoint" models, Li et al., 2010): with ``A_a = l2 * I + sum x x^T``
and ``b_a = sum r x`` over the arm's rewards, ``theta_a = A_a^-1 b_a``. ``A_a^-1`` is kept
up to date by Sherman-Morrison rank-one updates (``O(d^2)`` per reward, no inversion). An arm
never rewarded is at the prior ``theta_a = 0``, ``A_a = l2 * I``. With ``shared=True`` they
keep one regression for all arms instead (Chu et al., 2011: the arms differ by their feature
rows only), which is what a catalogue of many items, each shown rarely, needs: give one row
per candidate, such as the user's features crossed with the item's. :class:`HybridLinUCB` adds
parameters shared by every arm, so what one arm teaches carries to the others, new ones
included.

- :class:`LinUCB`: the largest ``x^T theta_a + alpha * sqrt(x^T A_a^-1 x)``; deterministic but
  for ties (split evenly).
- :class:`HybridLinUCB`: Li et al.'s Algorithm 2 with the candidate's row as both the shared
  and the arm's own features.
- :class:`LinearTS` (Agrawal & Goyal, 2013): Thompson sampling from ``theta_a ~
  N(theta_a, v^2 A_a^-1)``. An arm's sampled score ``x^T theta_a`` is then normal with mean
  ``x^T theta_a`` and variance ``v^2 x^T A_a^-1 x``, independently across arms, so a draw of
  the scores needs no ``d``-dimensional sample; probabilities are estimated from ``n_draws``
  draws (see :mod:`freshrec.bandits.policy`).
- :class:`NeuralLinear` (Riquelme et al., 2018): Bayesian linear regression with a
  normal-inverse-gamma prior on the embeddings of a deep model, and Thompson sampling.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> policy = LinUCB(alpha=0.5)
>>> for _ in range(300):
...     x = rng.normal(size=2)
...     arm = policy.select(["left", "right"], context=x).items[0]
...     policy.update(arm, x[0] if arm == "left" else x[1], x)
>>> policy.probabilities(["left", "right"], np.array([1.0, -1.0])).tolist()
[1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from freshrec.bandits.policy import N_DRAWS, Policy, argmax_distribution

if TYPE_CHECKING:
    import torch

__all__ = ["HybridLinUCB", "LinUCB", "LinearTS", "NeuralLinear"]

_ALL_ARMS = "(all arms)"  # the key of the one regression of a shared model


class _Ridge:
    """One arm's regression: ``A^-1`` (``inv``) by Sherman-Morrison, ``sum r x`` (``xy``),
    ``sum r^2`` (``yy``) and the number of rewards (``n``)."""

    def __init__(self, d: int, l2: float) -> None:
        self.inv = np.eye(d) / l2
        self.xy = np.zeros(d)
        self.yy = 0.0
        self.n = 0

    def add(self, x: np.ndarray, reward: float) -> None:
        ax = self.inv @ x
        self.inv -= np.outer(ax, ax) / (1.0 + x @ ax)
        self.inv = (self.inv + self.inv.T) / 2.0  # keep it symmetric against round-off
        self.xy += reward * x
        self.yy += reward * reward
        self.n += 1

    @property
    def theta(self) -> np.ndarray:
        return self.inv @ self.xy

    def spread(self, x: np.ndarray) -> float:
        """``x^T A^-1 x``: the variance of the score of ``x`` in units of the noise."""
        return max(float(x @ self.inv @ x), 0.0)


class _Disjoint(Policy):
    """One :class:`_Ridge` per arm (``models_``), or one for all arms with ``shared``, on the
    rows of the context (``dim_``: their width, fixed by the first context seen)."""

    l2: float
    shared: bool = False

    def _start(self) -> None:
        self.models_: dict[Hashable, _Ridge] = {}
        self.dim_: int | None = None

    def _check_l2(self) -> None:
        if self.l2 <= 0.0:
            raise ValueError(f"l2 must be > 0, got {self.l2}")

    def _rows(self, context: Any, n: int) -> np.ndarray:
        """``context`` as (n, d) rows: one vector repeated, or one row per candidate."""
        if context is None:
            raise ValueError(f"{type(self).__name__} needs a context: a vector or one row per arm")
        rows = np.asarray(context, dtype=np.float64)
        if rows.ndim == 1:
            rows = np.broadcast_to(rows, (n, len(rows)))
        if rows.ndim != 2 or len(rows) != n:
            raise ValueError(
                f"context must have shape (d,) or (n_candidates={n}, d), got {np.shape(context)}"
            )
        if self.dim_ is None:
            self.dim_ = rows.shape[1]
        if rows.shape[1] != self.dim_:
            raise ValueError(f"context has {rows.shape[1]} features; the policy has {self.dim_}")
        if not np.isfinite(rows).all():
            raise ValueError("context must be finite")
        return rows

    def _row(self, context: Any) -> np.ndarray:
        """The one row an update reads, shape (d,)."""
        if np.ndim(context) != 1:
            raise ValueError(
                f"update takes the chosen arm's row as context, shape (d,), got {np.shape(context)}"
            )
        return self._rows(context, 1).reshape(-1)

    def _features(self, rows: np.ndarray) -> np.ndarray:
        """What the regressions read from the context rows (the rows themselves)."""
        return rows

    def _key(self, arm: Hashable) -> Hashable:
        """Where the arm's regression is kept: under the arm, or one key for all."""
        return _ALL_ARMS if self.shared else arm

    def _model(self, arm: Hashable, d: int) -> _Ridge:
        """The arm's regression, or the prior for an arm never rewarded (not stored)."""
        model = self.models_.get(self._key(arm))
        return _Ridge(d, self.l2) if model is None else model

    def _scores(
        self, arms: list[Hashable], context: Any
    ) -> tuple[np.ndarray, np.ndarray, list[_Ridge]]:
        """Per candidate: the mean score, ``x^T A^-1 x``, and its regression."""
        features = self._features(self._rows(context, len(arms)))
        models = [self._model(arm, features.shape[1]) for arm in arms]
        means = np.array([x @ m.theta for x, m in zip(features, models, strict=True)])
        spreads = np.array([m.spread(x) for x, m in zip(features, models, strict=True)])
        return means, spreads, models

    def update(self, arm: Hashable, reward: float, context: Any = None) -> None:
        if not np.isfinite(reward):
            raise ValueError(f"reward must be finite, got {reward}")
        x = self._features(self._row(context)[None, :])[0]
        key = self._key(arm)
        if key not in self.models_:
            self.models_[key] = _Ridge(len(x), self.l2)
        self.models_[key].add(x, float(reward))

    def _shared_draws(
        self, features: np.ndarray, scale: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Scores of the rows ``features`` under ``n_draws`` draws of the one shared weight
        vector, ``theta + scale * L z`` (``L L^T = A^-1``, one ``scale`` per draw), shape
        (n_draws, n_candidates): the arms' scores move together, as their weights are one."""
        model = self._model(None, features.shape[1])
        lower = np.linalg.cholesky(model.inv + 1e-12 * np.eye(len(model.inv)))
        z = rng.standard_normal((self.n_draws, len(model.inv)))
        weights = model.theta + scale[:, None] * (z @ lower.T)
        scores: np.ndarray = weights @ features.T
        return scores


class LinUCB(_Disjoint):
    """Disjoint LinUCB (Li et al., 2010): the largest upper confidence bound of a ridge score.

    An arm's bound is ``x^T theta_a + alpha * sqrt(x^T A_a^-1 x)``; the candidate with the
    largest is chosen (propensity 1, or ``1 / m`` among ``m`` tied).

    Parameters
    ----------
    alpha
        Width of the confidence bound (>= 0).
    l2
        Ridge penalty: the prior precision of every arm's weights (> 0).
    shared
        One regression for all arms (the arms differ by their rows) instead of one per arm.
    n_draws
        Monte Carlo draws for slate propensities.
    seed
        Seed of the policy's random generators.

    Examples
    --------
    >>> policy = LinUCB(alpha=1.0)
    >>> policy.update("a", 0.0, np.array([1.0, 0.0]))  # "a" paid nothing: its bound shrinks
    >>> policy.probabilities(["a", "b"], np.array([1.0, 0.0])).tolist()  # 0 + 0.71 < 0 + 1
    [0.0, 1.0]
    >>> policy.probabilities(["a", "b"], np.array([[1.0, 0.0], [0.1, 0.0]])).tolist()
    [1.0, 0.0]
    """

    def __init__(
        self,
        alpha: float = 1.0,
        l2: float = 1.0,
        shared: bool = False,
        n_draws: int = N_DRAWS,
        seed: int | None = 0,
    ) -> None:
        if alpha < 0.0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.alpha = alpha
        self.l2 = l2
        self.shared = shared
        self._check_l2()
        super().__init__(n_draws=n_draws, seed=seed)

    def _probabilities(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        means, spreads, _ = self._scores(arms, context)
        return argmax_distribution(means + self.alpha * np.sqrt(spreads))


class LinearTS(_Disjoint):
    """Linear Thompson sampling (Agrawal & Goyal, 2013) with one ridge regression per arm.

    A draw scores arm ``a`` with ``N(x^T theta_a, v^2 x^T A_a^-1 x)`` (the score of a draw of
    its weights); the probability of an arm is the share of ``n_draws`` draws it wins.

    Parameters
    ----------
    v
        Scale of the posterior's standard deviation (> 0), about the rewards' noise level.
    l2
        Ridge penalty: the prior precision of every arm's weights (> 0).
    shared
        One regression for all arms (the arms differ by their rows) instead of one per arm;
        a draw then samples the one weight vector, so the arms' scores move together.
    n_draws
        Monte Carlo draws per probability estimate.
    seed
        Seed of the policy's random generators.

    Examples
    --------
    >>> policy = LinearTS(v=0.1)
    >>> for _ in range(10):
    ...     policy.update("a", 1.0, np.array([1.0]))
    >>> policy.probabilities(["a", "b"], np.array([1.0])).round(2).tolist()
    [1.0, 0.0]
    """

    def __init__(
        self,
        v: float = 1.0,
        l2: float = 1.0,
        shared: bool = False,
        n_draws: int = N_DRAWS,
        seed: int | None = 0,
    ) -> None:
        if v <= 0.0:
            raise ValueError(f"v must be > 0, got {v}")
        self.v = v
        self.l2 = l2
        self.shared = shared
        self._check_l2()
        super().__init__(n_draws=n_draws, seed=seed)

    def _probabilities(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        if self.shared:
            rows = self._rows(context, len(arms))
            return argmax_distribution(self._shared_draws(rows, np.full(self.n_draws, self.v), rng))
        means, spreads, _ = self._scores(arms, context)
        noise = rng.standard_normal((self.n_draws, len(arms)))
        return argmax_distribution(means + self.v * np.sqrt(spreads) * noise)


class NeuralLinear(_Disjoint):
    """Thompson sampling with a Bayesian linear head on a deep model's embeddings.

    ``embed`` maps context rows (n, d) to embeddings (n, m): a function on numpy arrays, or a
    ``torch.nn.Module`` (called as it is, under ``torch.no_grad``, in its parameters' dtype
    and device: put it in ``eval()`` mode first). It is not trained here: train the network
    elsewhere (e.g. on logged rewards) and hand it over. Each arm has a Bayesian linear
    regression on the embeddings ``phi`` with a normal-inverse-gamma prior: noise variance
    ``s2 ~ InvGamma(a0, b0)``, weights ``w ~ N(0, s2 / l2 * I)``. Its posterior after ``n``
    rewards has ``A = l2 * I + sum phi phi^T``, ``mu = A^-1 sum r phi``, ``a = a0 + n / 2``
    and ``b = b0 + (sum r^2 - mu^T A mu) / 2``. A draw takes ``s2 ~ InvGamma(a, b)``, then
    scores the arm with ``N(phi^T mu, s2 phi^T A^-1 phi)``; probabilities are the shares of
    ``n_draws`` draws.

    Parameters
    ----------
    embed
        The deep model: context rows (n, d) to embeddings (n, m).
    l2
        Prior precision of the weights, relative to the noise (> 0).
    a0, b0
        Shape and scale of the inverse-gamma prior on the noise variance (> 0; its mean is
        ``b0 / (a0 - 1)`` for ``a0 > 1``).
    shared
        One regression for all arms (the arms differ by their rows) instead of one per arm.
    n_draws
        Monte Carlo draws per probability estimate.
    seed
        Seed of the policy's random generators.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh())
    >>> _ = torch.manual_seed(0)
    >>> policy = NeuralLinear(net.eval())
    >>> for _ in range(30):
    ...     policy.update("a", 1.0, np.array([1.0, 0.0]))
    ...     policy.update("b", 0.0, np.array([1.0, 0.0]))
    >>> bool(policy.probabilities(["a", "b"], np.array([1.0, 0.0]))[0] > 0.99)
    True
    >>> NeuralLinear(lambda rows: rows**2).probabilities(["a", "b"], np.ones(3)).shape
    (2,)
    """

    def __init__(
        self,
        embed: Callable[[np.ndarray], np.ndarray] | torch.nn.Module,
        l2: float = 1.0,
        a0: float = 2.0,
        b0: float = 1.0,
        shared: bool = False,
        n_draws: int = N_DRAWS,
        seed: int | None = 0,
    ) -> None:
        if a0 <= 0.0 or b0 <= 0.0:
            raise ValueError(f"a0 and b0 must be > 0, got a0={a0}, b0={b0}")
        self.embed = embed
        self.l2 = l2
        self.a0 = a0
        self.b0 = b0
        self.shared = shared
        self._check_l2()
        super().__init__(n_draws=n_draws, seed=seed)

    def _features(self, rows: np.ndarray) -> np.ndarray:
        import torch  # here, not at the top: importing torch takes seconds

        if isinstance(self.embed, torch.nn.Module):
            parameter = next(self.embed.parameters(), None)
            dtype = torch.float32 if parameter is None else parameter.dtype
            device = None if parameter is None else parameter.device
            with torch.no_grad():
                inputs = torch.tensor(rows, dtype=dtype, device=device)
                embedded = self.embed(inputs).cpu().numpy()
        else:
            embedded = self.embed(np.array(rows))  # a copy the function may write to
        features = np.asarray(embedded, dtype=np.float64)
        if features.ndim != 2 or len(features) != len(rows) or not np.isfinite(features).all():
            raise ValueError(
                f"embed must map {len(rows)} rows to finite embeddings of shape "
                f"({len(rows)}, m), got {features.shape}"
            )
        return features

    def _probabilities(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        means, spreads, models = self._scores(arms, context)
        shape = np.array([self.a0 + m.n / 2.0 for m in models])
        # b >= b0 in exact arithmetic (a residual plus a penalty); the max guards round-off
        scale = np.array([max(self.b0 + (m.yy - m.theta @ m.xy) / 2.0, self.b0) for m in models])
        if self.shared:  # one noise variance per draw, then one weight vector
            noise_sd = np.sqrt(scale[0] / rng.gamma(shape[0], size=self.n_draws))
            features = self._features(self._rows(context, len(arms)))
            return argmax_distribution(self._shared_draws(features, noise_sd, rng))
        noise_var = scale / rng.gamma(shape, size=(self.n_draws, len(arms)))
        noise = rng.standard_normal((self.n_draws, len(arms)))
        return argmax_distribution(means + np.sqrt(noise_var * spreads) * noise)


class HybridLinUCB(_Disjoint):
    """Hybrid LinUCB (Li et al., 2010, Algorithm 2): shared weights plus each arm's own.

    The expected reward of candidate ``a`` with row ``x`` is ``x^T beta + x^T theta_a``:
    ``beta`` is learned from every arm's rewards (so a new arm starts from what the others
    taught, not from zero), ``theta_a`` from the arm's own. Give one row per candidate (the
    user's features crossed with the item's, for example): a shared vector would move every
    arm's score by the same ``x^T beta``. The bound adds ``alpha * sqrt(s)`` with
    ``s = (x - u)^T A_0^-1 (x - u) + x^T A_a^-1 x``, ``u = B_a^T A_a^-1 x`` (the paper's
    ``s_{t,a}`` with ``z = x``, rearranged). ``A_0`` is solved by Cholesky, ``A_a^-1`` kept by
    Sherman-Morrison.

    Parameters
    ----------
    alpha
        Width of the confidence bound (>= 0).
    l2
        Ridge penalty of the shared and the per-arm weights (> 0).
    n_draws
        Monte Carlo draws for slate propensities.
    seed
        Seed of the policy's random generators.

    Examples
    --------
    Arm "a" teaches the shared weights that the first feature pays; new arm "c", with that
    feature, is preferred to new arm "b" without it:

    >>> policy = HybridLinUCB(alpha=0.1)
    >>> for _ in range(20):
    ...     policy.update("a", 1.0, np.array([1.0, 0.0]))
    >>> rows = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> policy.probabilities(["b", "c"], rows).tolist()
    [0.0, 1.0]
    """

    def __init__(
        self, alpha: float = 1.0, l2: float = 1.0, n_draws: int = N_DRAWS, seed: int | None = 0
    ) -> None:
        if alpha < 0.0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.alpha = alpha
        self.l2 = l2
        self._check_l2()
        super().__init__(n_draws=n_draws, seed=seed)

    def _start(self) -> None:
        super()._start()
        self.shared_: tuple[np.ndarray, np.ndarray] | None = None  # A_0, b_0
        self.cross_: dict[Hashable, np.ndarray] = {}  # B_a = sum x z^T

    def _shared(self, d: int) -> tuple[np.ndarray, np.ndarray]:
        """``A_0`` and ``b_0``, copies: at the prior before the first reward."""
        if self.shared_ is None:
            return self.l2 * np.eye(d), np.zeros(d)
        return self.shared_[0].copy(), self.shared_[1].copy()

    def _probabilities(
        self, arms: list[Hashable], context: Any, rng: np.random.Generator
    ) -> np.ndarray:
        rows = self._rows(context, len(arms))
        d = rows.shape[1]
        a0, b0 = self._shared(d)
        factor = cho_factor(a0)
        beta = cho_solve(factor, b0)
        bounds = np.empty(len(arms))
        for i, (arm, x) in enumerate(zip(arms, rows, strict=True)):
            model = self._model(arm, d)
            cross = self.cross_.get(arm, np.zeros((d, d)))
            theta = model.inv @ (model.xy - cross @ beta)
            u = cross.T @ (model.inv @ x)
            spread = (x - u) @ cho_solve(factor, x - u) + model.spread(x)
            bounds[i] = x @ beta + x @ theta + self.alpha * np.sqrt(max(spread, 0.0))
        return argmax_distribution(bounds)

    def update(self, arm: Hashable, reward: float, context: Any = None) -> None:
        if not np.isfinite(reward):
            raise ValueError(f"reward must be finite, got {reward}")
        x = self._row(context)
        d = len(x)
        a0, b0 = self._shared(d)
        model = self.models_.setdefault(arm, _Ridge(d, self.l2))
        cross = self.cross_.setdefault(arm, np.zeros((d, d)))
        projected = cross.T @ model.inv
        a0 += projected @ cross
        b0 += projected @ model.xy
        model.add(x, float(reward))
        cross += np.outer(x, x)
        projected = cross.T @ model.inv
        a0 += np.outer(x, x) - projected @ cross
        b0 += reward * x - projected @ model.xy
        self.shared_ = ((a0 + a0.T) / 2.0, b0)
