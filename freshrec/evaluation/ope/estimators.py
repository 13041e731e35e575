"""IPS, SNIPS, DM, DR and Switch-DR: Open Bandit Pipeline's formulas, one function each.

Every estimator reads the logged rounds (:class:`~freshrec.data.logged.LoggedFeedback`),
the evaluation policy's ``action_dist`` of shape (n_rounds, n_actions, len_list) (its
probability of each action at each slot, given the round's context) and, for the model-based
ones, a reward model's ``estimated_rewards`` q̂(x, a, slot) of the same shape. Round ``i``
reads the entries at ``[i, :, positions[i]]``. With ``w_i = pi_e(a_i | x_i) / pi_b_i``
(``pi_b_i``: the logged propensity) and ``q̂_i(pi_e) = sum_a pi_e(a | x_i) q̂(x_i, a)``:

- IPS: ``mean(w_i r_i)``; with ``clip`` (obp's ``lambda_``) ``w_i`` becomes ``min(w_i, clip)``.
- SNIPS: ``mean(w_i r_i) / mean(w_i)``.
- DM: ``mean(q̂_i(pi_e))``.
- DR: ``mean(q̂_i(pi_e) + w_i (r_i - q̂(x_i, a_i)))``, ``w_i`` clipped as in IPS.
- Switch-DR (Wang, Agarwal & Dudík, 2017): ``mean(q̂_i(pi_e) + w_i (r_i - q̂(x_i, a_i))
  1{w_i <= tau})``: rounds whose weight exceeds ``tau`` keep only the model's term.

Each ``*_terms`` function returns the per-round contributions (:class:`RoundTerms`) that the
bootstrap resamples; the function of the same name without ``_terms`` returns the estimate.
Like obp's ``np.average``, ``q̂_i(pi_e)`` divides by ``sum_a pi_e(a | x_i)``.

Examples
--------
>>> import numpy as np
>>> from freshrec.data.logged import LoggedFeedback
>>> feedback = LoggedFeedback(np.array([0, 1]), np.array([1.0, 0.0]), np.array([0.5, 0.5]), 2)
>>> target = np.array([[[0.8], [0.2]], [[0.8], [0.2]]])
>>> ips(feedback, target)  # (1.0 * 0.8 / 0.5 + 0.0 * 0.2 / 0.5) / 2
0.8
>>> snips(feedback, target)  # 1.6 / (1.6 + 0.4)
0.8
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from freshrec.data.logged import LoggedFeedback

__all__ = [
    "RoundTerms",
    "check_action_dist",
    "dm",
    "dm_terms",
    "dr",
    "dr_terms",
    "importance_weights",
    "ips",
    "ips_terms",
    "snips",
    "snips_terms",
    "switch_dr",
    "switch_dr_terms",
]

SUM_TOLERANCE = 1e-6
"""How far from 1 an action distribution's sum over actions may be."""


@dataclass(frozen=True, eq=False)
class RoundTerms:
    """Per-round contributions of an estimator: its value is ``mean(numerator)`` divided by
    ``mean(denominator)`` (by 1 when ``denominator`` is ``None``).

    Self-normalised estimators (SNIPS, replay) are ratios of two means, so a bootstrap must
    recompute the ratio on each resample: :func:`~freshrec.evaluation.ope.bootstrap_interval`
    does.

    Examples
    --------
    >>> import numpy as np
    >>> terms = RoundTerms(np.array([2.0, 0.0, 1.0]), np.array([2.0, 1.0, 1.0]))
    >>> terms.value  # 3 / 4
    0.75
    >>> terms.per_round().tolist()  # obp's round rewards: numerator / mean(denominator)
    [1.5, 0.0, 0.75]
    """

    numerator: np.ndarray
    denominator: np.ndarray | None = None

    @property
    def value(self) -> float:
        """The estimate: ``mean(numerator) / mean(denominator)``."""
        value = float(np.mean(self.numerator))
        if self.denominator is None:
            return value
        return value / float(np.mean(self.denominator))

    def per_round(self) -> np.ndarray:
        """Round ``i``'s share, ``numerator[i] / mean(denominator)``; their mean is
        :attr:`value` (obp's ``_estimate_round_rewards``)."""
        if self.denominator is None:
            return self.numerator
        share: np.ndarray = self.numerator / np.mean(self.denominator)
        return share

    def resampled(self, index: np.ndarray) -> np.ndarray:
        """The estimate on each row of ``index`` (shape (n_resamples, m), round indices)."""
        value: np.ndarray = self.numerator[index].mean(axis=1)
        if self.denominator is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                value = value / self.denominator[index].mean(axis=1)
        return value


def check_action_dist(
    feedback: LoggedFeedback, action_dist: np.ndarray, estimated_rewards: np.ndarray | None = None
) -> None:
    """Raise a ``ValueError`` unless ``action_dist`` (and ``estimated_rewards``) fit ``feedback``.

    ``action_dist`` must have shape (n_rounds, n_actions, len_list), be finite and
    non-negative, and sum to 1 over actions at every (round, slot) within
    :data:`SUM_TOLERANCE`; ``estimated_rewards`` must have the same shape and be finite.

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0]), np.array([1.0]), np.array([0.5]), 2)
    >>> check_action_dist(feedback, np.array([[[0.5], [0.5]]]))
    >>> check_action_dist(feedback, np.array([[[0.5], [0.6]]]))
    Traceback (most recent call last):
        ...
    ValueError: action_dist[0, :, 0] sums to 1.1, not 1
    """
    expected = (feedback.n_rounds, feedback.n_actions, feedback.len_list)
    _check_array("action_dist", action_dist, expected)
    if (action_dist < 0).any():
        where = ", ".join(str(int(i)) for i in np.argwhere(action_dist < 0)[0])
        raise ValueError(f"action_dist[{where}] is negative")
    sums = action_dist.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        row, slot = (int(i) for i in np.argwhere(off)[0])
        raise ValueError(f"action_dist[{row}, :, {slot}] sums to {sums[row, slot]:.6g}, not 1")
    if estimated_rewards is not None:
        _check_array("estimated_rewards", estimated_rewards, expected)


def importance_weights(feedback: LoggedFeedback, action_dist: np.ndarray) -> np.ndarray:
    """``w_i = pi_e(a_i | x_i, slot_i) / pi_b_i``, shape (n_rounds,).

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([1]), np.array([1.0]), np.array([0.25]), 2)
    >>> importance_weights(feedback, np.array([[[0.5], [0.5]]])).tolist()
    [2.0]
    """
    check_action_dist(feedback, action_dist)
    rows = np.arange(feedback.n_rounds)
    weights: np.ndarray = action_dist[rows, feedback.actions, feedback.positions]
    weights = weights / feedback.propensities
    return weights


def ips_terms(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
    *,
    clip: float = np.inf,
) -> RoundTerms:
    """Per-round terms of :func:`ips`: ``min(w_i, clip) r_i`` (``estimated_rewards`` unused).

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0, 1]), np.array([1.0, 1.0]), np.array([0.5, 0.5]), 2)
    >>> target = np.array([[[0.8], [0.2]], [[0.8], [0.2]]])
    >>> ips_terms(feedback, target, clip=1.0).numerator.tolist()
    [1.0, 0.4]
    """
    return RoundTerms(_clipped(importance_weights(feedback, action_dist), clip) * feedback.rewards)


def ips(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
    *,
    clip: float = np.inf,
) -> float:
    """Inverse probability weighting (obp's ``InverseProbabilityWeighting``):
    ``mean(min(w_i, clip) r_i)``.

    Unbiased when the logging propensities are right and the logging policy gives every
    action the target plays a positive probability (no clipping); its variance grows with
    the weights, that is with the distance between the two policies.

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0, 1]), np.array([1.0, 1.0]), np.array([0.5, 0.5]), 2)
    >>> target = np.array([[[1.0], [0.0]], [[1.0], [0.0]]])
    >>> ips(feedback, target)  # (1.0 * 2 + 1.0 * 0) / 2
    1.0
    """
    return ips_terms(feedback, action_dist, clip=clip).value


def snips_terms(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
) -> RoundTerms:
    """Per-round terms of :func:`snips`: numerators ``w_i r_i``, denominators ``w_i``.

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0, 1]), np.array([1.0, 1.0]), np.array([0.5, 0.5]), 2)
    >>> snips_terms(feedback, np.array([[[0.8], [0.2]], [[0.8], [0.2]]])).denominator.tolist()
    [1.6, 0.4]
    """
    weights = importance_weights(feedback, action_dist)
    return RoundTerms(weights * feedback.rewards, weights)


def snips(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
) -> float:
    """Self-normalised IPS (obp's ``SelfNormalizedInverseProbabilityWeighting``):
    ``mean(w_i r_i) / mean(w_i)``.

    Biased for a finite sample but consistent, and bounded by the rewards' range; it equals
    :func:`ips` whenever the weights average exactly 1.

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0, 1]), np.array([1.0, 1.0]), np.array([0.5, 0.5]), 2)
    >>> snips(feedback, np.array([[[1.0], [0.0]], [[1.0], [0.0]]]))  # 2 / 2
    1.0
    """
    return snips_terms(feedback, action_dist).value


def dm_terms(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
) -> RoundTerms:
    """Per-round terms of :func:`dm`: ``q̂_i(pi_e) = sum_a pi_e(a | x_i) q̂(x_i, a)``.

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0]), np.array([1.0]), np.array([0.5]), 2)
    >>> dm_terms(feedback, np.array([[[0.5], [0.5]]]), np.array([[[0.2], [0.6]]])).numerator
    array([0.4])
    """
    q_hat = _required("dm", estimated_rewards)
    check_action_dist(feedback, action_dist, q_hat)
    return RoundTerms(_model_term(feedback, action_dist, q_hat))


def dm(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
) -> float:
    """Direct method (obp's ``DirectMethod``): ``mean(sum_a pi_e(a | x_i) q̂(x_i, a))``.

    It reads no logged reward: as good as the reward model, biased where that is wrong, and
    with a small variance.

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0, 1]), np.array([1.0, 0.0]), np.array([0.5, 0.5]), 2)
    >>> target = np.array([[[0.5], [0.5]], [[1.0], [0.0]]])
    >>> q_hat = np.array([[[0.2], [0.6]], [[0.3], [0.9]]])
    >>> round(dm(feedback, target, q_hat), 6)  # (0.5 * 0.2 + 0.5 * 0.6 + 0.3) / 2
    0.35
    """
    return dm_terms(feedback, action_dist, estimated_rewards).value


def dr_terms(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
    *,
    clip: float = np.inf,
) -> RoundTerms:
    """Per-round terms of :func:`dr`: ``q̂_i(pi_e) + min(w_i, clip) (r_i - q̂(x_i, a_i))``.

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0]), np.array([1.0]), np.array([0.5]), 2)
    >>> dr_terms(feedback, np.array([[[0.5], [0.5]]]), np.array([[[0.2], [0.6]]])).numerator
    array([1.2])
    """
    q_hat = _required("dr", estimated_rewards)
    weights = _clipped(importance_weights(feedback, action_dist), clip)
    return RoundTerms(_doubly_robust(feedback, action_dist, q_hat, weights))


def dr(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
    *,
    clip: float = np.inf,
) -> float:
    """Doubly robust (obp's ``DoublyRobust``, Dudík et al., 2014):
    ``mean(q̂_i(pi_e) + w_i (r_i - q̂(x_i, a_i)))``, ``w_i`` clipped at ``clip``.

    Unbiased when the propensities are right (unclipped), whatever the reward model; the
    better the model, the smaller the variance. With ``q̂ = 0`` it is :func:`ips`.

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0, 1]), np.array([1.0, 0.0]), np.array([0.5, 0.5]), 2)
    >>> target = np.array([[[1.0], [0.0]], [[1.0], [0.0]]])
    >>> q_hat = np.array([[[0.5], [0.5]], [[0.5], [0.5]]])
    >>> dr(feedback, target, q_hat)  # (0.5 + 2 * (1.0 - 0.5) + 0.5 + 0) / 2
    1.0
    """
    return dr_terms(feedback, action_dist, estimated_rewards, clip=clip).value


def switch_dr_terms(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
    *,
    tau: float = np.inf,
) -> RoundTerms:
    """Per-round terms of :func:`switch_dr`:
    ``q̂_i(pi_e) + w_i (r_i - q̂(x_i, a_i)) 1{w_i <= tau}``.

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0]), np.array([1.0]), np.array([0.5]), 2)
    >>> target, q_hat = np.array([[[0.5], [0.5]]]), np.array([[[0.2], [0.6]]])
    >>> switch_dr_terms(feedback, target, q_hat, tau=0.5).numerator  # w = 1 > 0.5: DM only
    array([0.4])
    """
    q_hat = _required("switch-dr", estimated_rewards)
    if np.isnan(tau) or tau < 0:
        raise ValueError(f"tau must be >= 0, got {tau}")
    weights = importance_weights(feedback, action_dist)
    kept = np.where(weights <= tau, weights, 0.0)
    return RoundTerms(_doubly_robust(feedback, action_dist, q_hat, kept))


def switch_dr(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
    *,
    tau: float = np.inf,
) -> float:
    """Switch doubly robust (obp's ``SwitchDoublyRobust``, its ``lambda_`` is ``tau``):
    ``mean(q̂_i(pi_e) + w_i (r_i - q̂(x_i, a_i)) 1{w_i <= tau})``.

    Where the weight is larger than ``tau`` the round falls back on the model alone (DM),
    trading some bias for less variance. ``tau = inf`` (obp's default) gives :func:`dr`,
    ``tau = 0`` gives :func:`dm`; pick ``tau`` from the weights (e.g. a high quantile of
    :func:`importance_weights`).

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> feedback = LoggedFeedback(np.array([0, 1]), np.array([1.0, 0.0]), np.array([0.5, 0.5]), 2)
    >>> target = np.array([[[1.0], [0.0]], [[1.0], [0.0]]])
    >>> q_hat = np.array([[[0.5], [0.5]], [[0.5], [0.5]]])
    >>> switch_dr(feedback, target, q_hat, tau=1.0)  # w = 2 in round 0: switched off
    0.5
    """
    return switch_dr_terms(feedback, action_dist, estimated_rewards, tau=tau).value


def _doubly_robust(
    feedback: LoggedFeedback, action_dist: np.ndarray, q_hat: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    check_action_dist(feedback, action_dist, q_hat)
    rows = np.arange(feedback.n_rounds)
    factual = q_hat[rows, feedback.actions, feedback.positions]
    terms: np.ndarray = _model_term(feedback, action_dist, q_hat)
    terms = terms + weights * (feedback.rewards - factual)
    return terms


def _model_term(feedback: LoggedFeedback, action_dist: np.ndarray, q_hat: np.ndarray) -> np.ndarray:
    """``sum_a pi_e q̂ / sum_a pi_e`` at each round's slot (obp's ``np.average``)."""
    rows = np.arange(feedback.n_rounds)
    pi_e: np.ndarray = action_dist[rows, :, feedback.positions]
    terms: np.ndarray = (pi_e * q_hat[rows, :, feedback.positions]).sum(axis=1)
    terms = terms / pi_e.sum(axis=1)
    return terms


def _clipped(weights: np.ndarray, clip: float) -> np.ndarray:
    if np.isnan(clip) or clip < 0:
        raise ValueError(f"clip must be >= 0, got {clip}")
    clipped: np.ndarray = np.minimum(weights, clip)
    return clipped


def _required(method: str, estimated_rewards: np.ndarray | None) -> np.ndarray:
    if estimated_rewards is None:
        raise ValueError(
            f"{method} needs estimated_rewards (q̂ of shape (n_rounds, n_actions, len_list)), "
            "e.g. from fit_reward_model"
        )
    return estimated_rewards


def _check_array(name: str, values: np.ndarray, expected: tuple[int, int, int]) -> None:
    if not isinstance(values, np.ndarray) or values.shape != expected:
        shape = getattr(values, "shape", type(values).__name__)
        raise ValueError(
            f"{name} has shape {shape}, expected (n_rounds, n_actions, len_list) = {expected}"
        )
    if not np.isfinite(values).all():
        where = ", ".join(str(int(i)) for i in np.argwhere(~np.isfinite(values))[0])
        raise ValueError(f"{name}[{where}] is not finite")
