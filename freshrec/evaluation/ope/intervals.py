"""Bootstrap intervals over logged rounds, and :func:`estimate`: several estimators at once.

:func:`bootstrap_interval` resamples rounds with replacement and recomputes the estimate on
each resample: for the ratio estimators (SNIPS, replay) the ratio of the resampled means,
not the mean of per-round shares normalised once on the full sample (obp's
``estimate_interval`` does the latter). The interval is the ``alpha / 2`` and
``1 - alpha / 2`` percentiles of the resampled estimates (percentile bootstrap, as obp's).

Examples
--------
>>> import numpy as np
>>> from freshrec.data.synthetic_bandit import SyntheticBanditProblem
>>> problem = SyntheticBanditProblem(seed=0)
>>> feedback = problem.log(2000, seed=1)
>>> target = problem.action_dist(feedback.context, "near")
>>> found = estimate(feedback, target, methods=("ips", "snips"), n_bootstrap=200)
>>> sorted(found), found["ips"].low < found["ips"].value < found["ips"].high
(['ips', 'snips'], True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from freshrec.data.logged import LoggedFeedback
from freshrec.evaluation.ope.estimators import (
    RoundTerms,
    check_action_dist,
    dm_terms,
    dr_terms,
    ips_terms,
    snips_terms,
    switch_dr_terms,
)
from freshrec.evaluation.ope.replay import replay_terms

__all__ = ["DEFAULT_METHODS", "METHODS", "Estimate", "bootstrap_interval", "estimate"]

TermsFunction = Callable[[LoggedFeedback, np.ndarray, np.ndarray | None], RoundTerms]

METHODS = ("ips", "snips", "dm", "dr", "switch-dr", "replay")
"""The estimators :func:`estimate` knows by name."""

DEFAULT_METHODS = ("ips", "snips", "dm", "dr", "switch-dr")

_CHUNK = 1 << 22  # resampled round indices drawn at once (32 MiB of int64)


@dataclass(frozen=True)
class Estimate:
    """A policy value estimate and its bootstrap interval ``[low, high]``.

    Examples
    --------
    >>> Estimate(0.51, 0.48, 0.55).high
    0.55
    """

    value: float
    low: float
    high: float


def bootstrap_interval(
    terms: RoundTerms | np.ndarray,
    *,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> tuple[float, float]:
    """The ``1 - alpha`` percentile-bootstrap interval of an estimate from its per-round terms.

    ``terms`` is an estimator's :class:`RoundTerms` (a ``*_terms`` function's result) or a
    1-D array of per-round contributions whose mean is the estimate. Each of the
    ``n_bootstrap`` resamples draws ``n_rounds`` rounds with replacement and recomputes
    the estimate (the ratio, for SNIPS and replay); resamples where a ratio is undefined
    (no matched round) are left out.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> low, high = bootstrap_interval(rng.normal(1.0, 1.0, size=10_000))
    >>> bool(low < 1.0 < high), round(high - low, 2)  # about 2 * 1.96 / sqrt(10_000)
    (True, 0.04)
    """
    if not isinstance(terms, RoundTerms):
        terms = RoundTerms(np.asarray(terms, dtype=np.float64))
    n = len(terms.numerator)
    if n == 0:
        raise ValueError("no rounds to resample")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK // n)
    values = np.concatenate(
        [
            terms.resampled(rng.integers(0, n, size=(min(per_chunk, n_bootstrap - start), n)))
            for start in range(0, n_bootstrap, per_chunk)
        ]
    )
    low, high = np.nanpercentile(values, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return float(low), float(high)


def estimate(
    feedback: LoggedFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None = None,
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    clip: float = np.inf,
    tau: float = np.inf,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> dict[str, Estimate]:
    """The policy value of ``action_dist`` by each of ``methods``, with bootstrap intervals.

    ``methods`` are names from :data:`METHODS`; ``dm``, ``dr`` and ``switch-dr`` need
    ``estimated_rewards`` (e.g. :func:`~freshrec.evaluation.ope.fit_reward_model`). ``clip``
    caps the importance weights of IPS and DR, ``tau`` is Switch-DR's threshold (both
    ``inf`` by default, as in obp: with ``tau = inf`` Switch-DR is DR). Every method's
    bootstrap uses the same ``seed``, hence the same resamples.

    Examples
    --------
    >>> from freshrec.data.logged import LoggedFeedback
    >>> rng = np.random.default_rng(0)
    >>> feedback = LoggedFeedback(
    ...     rng.integers(0, 2, 500), rng.binomial(1, 0.3, 500).astype(float), np.full(500, 0.5), 2
    ... )
    >>> uniform = np.full((500, 2, 1), 0.5)
    >>> found = estimate(feedback, uniform, np.full((500, 2, 1), 0.3), methods=("ips", "dm"))
    >>> found["dm"]
    Estimate(value=0.3, low=0.3, high=0.3)
    >>> bool(found["ips"].value == feedback.rewards.mean())
    True
    """
    unknown = [name for name in methods if name not in METHODS]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    check_action_dist(feedback, action_dist, estimated_rewards)
    terms_of: dict[str, TermsFunction] = {
        "ips": partial(ips_terms, clip=clip),
        "snips": snips_terms,
        "dm": dm_terms,
        "dr": partial(dr_terms, clip=clip),
        "switch-dr": partial(switch_dr_terms, tau=tau),
        "replay": replay_terms,
    }
    found = {}
    for name in methods:
        terms = terms_of[name](feedback, action_dist, estimated_rewards)
        low, high = bootstrap_interval(terms, n_bootstrap=n_bootstrap, alpha=alpha, seed=seed)
        found[name] = Estimate(terms.value, low, high)
    return found
