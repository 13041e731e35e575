"""Plackett-Luce slates: ``k`` distinct arms from a single-choice distribution.

A single-choice policy becomes a slate policy by **Plackett-Luce** sampling on its
probabilities ``p``: the first position is drawn from ``p``, each next one from the arms not
yet placed, in proportion to their ``p`` (sampling without replacement). Arms of probability 0
(a greedy policy's losers) come only after every arm of positive probability, in uniformly
random order, so a deterministic policy still fills a slate: its best arm first, then the rest
at random. :func:`plackett_luce` samples with the Gumbel-top-k trick (Yellott, 1977; Kool et
al., 2019): the order of ``log p_i + G_i``, ``G_i`` standard Gumbel, is a Plackett-Luce order.

**Propensities.** The probability that an arm lands at position ``j`` (its marginal
per-position propensity) has no closed form beyond ``j = 1`` (a sum over every arrangement of
the positions before). :func:`draw_slate` samples ``n_draws`` slates, reads the per-position
shares off them (:func:`position_marginals`), and returns one of those slates picked at
random: itself a Plackett-Luce slate, whose every propensity is the exact probability of its
arm at its position given the draws, so never 0. The standard error of a share ``q`` is
``sqrt(q * (1 - q) / n_draws)``.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> slate, marginals = draw_slate(np.array([0.6, 0.3, 0.1, 0.0]), 2, 10_000, rng)
>>> marginals.sum(axis=1).tolist()  # each position holds one arm
[1.0, 1.0]
>>> propensities = marginals[[0, 1], slate]
>>> len(set(slate.tolist())), bool((propensities > 0).all())
(2, True)
"""

from __future__ import annotations

import numpy as np

__all__ = ["draw_slate", "plackett_luce", "position_marginals"]


def plackett_luce(
    weights: np.ndarray, k: int, rng: np.random.Generator, *, size: int | None = None
) -> np.ndarray:
    """Draw an order of ``k`` distinct indices of ``weights`` by Plackett-Luce.

    ``weights`` are non-negative (not necessarily normalised); zero-weight indices follow
    all positive ones, uniformly shuffled. Returns shape (k,), or (size, k) for ``size``
    independent orders.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> plackett_luce(np.array([0.0, 1.0, 0.0]), 1, rng).tolist()
    [1]
    >>> orders = plackett_luce(np.array([3.0, 1.0]), 2, rng, size=10_000)
    >>> round(float((orders[:, 0] == 0).mean()), 2)
    0.75
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(f"weights must be a 1-D array of finite values >= 0, got {weights}")
    n = len(weights)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and len(weights) ({n}), got {k}")
    keys = rng.gumbel(size=(1 if size is None else size, n))
    positive = weights > 0
    if positive.any():
        log_weights = np.log(weights[positive])
        if not positive.all():  # push every zero-weight key below every positive one
            keys[:, ~positive] -= keys.max() - keys.min() - log_weights.min() + 1.0
        keys[:, positive] += log_weights
    top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), axis=1), 1)
    return order[0] if size is None else order


def position_marginals(orders: np.ndarray, n: int) -> np.ndarray:
    """The share of ``orders`` (shape (n_draws, k)) placing each of ``n`` indices at each
    position: shape (k, n), every row sums to 1.

    Examples
    --------
    >>> position_marginals(np.array([[0, 1], [1, 0], [0, 2], [0, 1]]), 3).tolist()
    [[0.75, 0.25, 0.0], [0.25, 0.5, 0.25]]
    """
    orders = np.asarray(orders, dtype=np.int64)
    counts = np.stack([np.bincount(column, minlength=n) for column in orders.T])
    return counts / len(orders)


def draw_slate(
    distribution: np.ndarray, k: int, n_draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A Plackett-Luce slate of ``k`` indices and the per-position marginals it was drawn from.

    Samples ``n_draws`` slates, returns one of them chosen uniformly (the indices, shape (k,))
    and their :func:`position_marginals` (shape (k, len(distribution))): the slate's
    propensities are ``marginals[range(k), slate]``.

    Examples
    --------
    >>> slate, marginals = draw_slate(np.array([1.0, 0.0, 0.0]), 2, 1000, np.random.default_rng(0))
    >>> int(slate[0]), marginals[0].tolist(), float(marginals[1].sum())
    (0, [1.0, 0.0, 0.0], 1.0)
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    orders = plackett_luce(distribution, k, rng, size=n_draws)
    return orders[rng.integers(n_draws)], position_marginals(orders, len(distribution))
