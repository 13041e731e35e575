"""A cross-fitted ridge reward model q̂(x, a, slot) for the direct method and doubly robust.

For each action ``a`` a ridge regression on ``z = [1, x, one-hot(slot)]`` (the first slot
left out of the one-hot) fits the rewards of the rounds that logged ``a``, around the mean
reward ``r̄`` of all of them:

    ``q̂(x, a, slot) = r̄ + z(x, slot) · W_a``,  ``W_a = argmin |Z_a W - (r_a - r̄)|² + l2 |W|²``

so an action seen in few rounds is shrunk towards ``r̄``, and without context the model is
a shrunk per-(action, slot) mean. Predictions are clipped to the range of the training
rewards. Cross-fitting: the rounds are split into ``n_folds`` random folds and each fold's
q̂ comes from a model fitted on the other folds, so DR's correction term does not reuse the
rewards the model was fitted on (``n_folds = 1``: one model fitted and read on all rounds).

Examples
--------
>>> import numpy as np
>>> from freshrec.data.logged import LoggedFeedback
>>> feedback = LoggedFeedback(
...     np.array([0, 0, 1, 1]), np.array([1.0, 1.0, 0.0, 0.0]), np.full(4, 0.5), 2
... )
>>> fit_reward_model(feedback, n_folds=1, l2=0.0)[0, :, 0].tolist()
[1.0, 0.0]
"""

from __future__ import annotations

import numpy as np

from freshrec.data.logged import LoggedFeedback

__all__ = ["fit_reward_model"]


def fit_reward_model(
    feedback: LoggedFeedback, *, n_folds: int = 5, l2: float = 1.0, seed: int | None = 0
) -> np.ndarray:
    """Cross-fitted q̂ for every round, action and slot, shape (n_rounds, n_actions, len_list).

    Per-action ridge regressions on the context and slot (module doc), ``n_folds``-fold
    cross-fitting with folds drawn from ``seed``.

    Examples
    --------
    >>> from freshrec.data.synthetic_bandit import SyntheticBanditProblem
    >>> problem = SyntheticBanditProblem(seed=0)
    >>> feedback = problem.log(5000, seed=1)
    >>> q_hat = fit_reward_model(feedback)
    >>> q_hat.shape
    (5000, 10, 1)
    >>> error = np.abs(q_hat - problem.expected_rewards(feedback.context)).mean()
    >>> bool(error < 0.1)
    True
    """
    n = feedback.n_rounds
    if n == 0:
        raise ValueError("no rounds to fit a reward model on")
    if not 1 <= n_folds <= n:
        raise ValueError(f"n_folds must be in [1, n_rounds = {n}], got {n_folds}")
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    context = feedback.context if feedback.context is not None else np.zeros((n, 0))
    design = np.column_stack([np.ones(n), context])
    fold = np.random.default_rng(seed).permutation(n) % n_folds
    q_hat = np.empty((n, feedback.n_actions, feedback.len_list))
    for k in range(n_folds):
        test = fold == k
        train = ~test if n_folds > 1 else test
        q_hat[test] = _fit_predict(feedback, design, train, design[test], l2)
    return q_hat


def _fit_predict(
    feedback: LoggedFeedback, design: np.ndarray, train: np.ndarray, test: np.ndarray, l2: float
) -> np.ndarray:
    """Fit on the rows ``train`` of ``design``; q̂ for the rows ``test``, every action, slot."""
    rewards = feedback.rewards[train]
    slots = np.eye(feedback.len_list)[feedback.positions[train], 1:]
    features = np.column_stack([design[train], slots])
    actions = feedback.actions[train]
    mean = float(rewards.mean())
    n_context = design.shape[1]
    q_hat = np.full((len(test), feedback.n_actions, feedback.len_list), mean)
    for action in np.unique(actions):
        rows = actions == action
        z = features[rows]
        gram = z.T @ z + l2 * np.eye(z.shape[1])
        weights = np.linalg.lstsq(gram, z.T @ (rewards[rows] - mean), rcond=None)[0]
        slot_effect = np.r_[0.0, weights[n_context:]]
        q_hat[:, action, :] += (test @ weights[:n_context])[:, None] + slot_effect[None, :]
    clipped: np.ndarray = np.clip(q_hat, rewards.min(), rewards.max())
    return clipped
