"""The guard: checks a candidate version against the stable one before it is promoted.

A candidate passes when

1. every learned parameter is finite;
2. its metric on held-out events (events neither version has learned) is not worse than the
   stable version's by more than ``margin`` (relative): NDCG@k of the held-out positives,
   each user's earlier items masked, for ranking models; RMSE of the held-out ratings for
   models that predict ratings (:class:`~freshrec.capabilities.PredictsRatings`);
3. its top-k lists changed little enough: the mean share of a sample of users' top-k items
   that differ from the stable version's (churn) is at most ``max_churn``.

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.data.batch import as_batch
>>> from freshrec.models import MostPopular
>>> events = as_batch(checkerboard_events())
>>> stable = MostPopular().fit(events[:150])
>>> candidate = MostPopular().fit(events[:200])
>>> verdict = Guard().check(candidate, stable, events[200:], seen=events[:200])
>>> verdict.passed, sorted(verdict.metrics)
(True, ['candidate_ndcg@10', 'churn@10', 'n_held_out', 'stable_ndcg@10'])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import PredictsRatings
from freshrec.data.batch import EventBatch
from freshrec.errors import DivergedError
from freshrec.evaluation.arena import churn, top_item_lists
from freshrec.evaluation.protocols import evaluate_ranking, evaluate_rating

__all__ = ["Guard", "GuardVerdict"]


@dataclass(frozen=True)
class GuardVerdict:
    """What the guard decided about a candidate, and why.

    Examples
    --------
    >>> GuardVerdict(False, "parameters are not finite").passed
    False
    """

    passed: bool
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Guard:
    """The checks a candidate must pass to be promoted (see the module docstring).

    Parameters
    ----------
    margin
        Largest relative loss of the metric against the stable version (0.02: NDCG may
        drop, or RMSE rise, by 2%).
    max_churn
        Largest mean share of changed top-k items over ``churn_users`` sampled users.
    k
        Cut-off of NDCG and of the churn lists.
    churn_users
        Users sampled (seeded) from those both versions know, for the churn.
    seed
        Seed of that sample.
    max_user_events
        The learner learns at most this many events of one user per candidate window
        (``None``: no cap), so a burst from a few accounts reaches no candidate whole.

    Examples
    --------
    A candidate whose parameters diverged is never promoted:

    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models import BPR
    >>> candidate = BPR(n_factors=4, n_epochs=2, seed=0).fit(checkerboard_events())
    >>> candidate.item_factors_[0, 0] = float("nan")
    >>> Guard().check(candidate, None, EventBatch.empty(), EventBatch.empty()).reason[:26]
    'parameters are not finite:'
    >>> Guard(margin=-1)
    Traceback (most recent call last):
    ...
    ValueError: margin must be >= 0 and max_churn in [0, 1], got -1, 0.95
    """

    margin: float = 0.02
    max_churn: float = 0.95
    k: int = 10
    churn_users: int = 500
    seed: int = 0
    max_user_events: int | None = None

    def __post_init__(self) -> None:
        if self.max_user_events is not None and self.max_user_events < 1:
            raise ValueError(f"max_user_events must be >= 1 or None, got {self.max_user_events}")
        if self.margin < 0 or not 0 <= self.max_churn <= 1:
            raise ValueError(
                f"margin must be >= 0 and max_churn in [0, 1], got {self.margin}, {self.max_churn}"
            )

    def check(
        self,
        candidate: RecommenderBase,
        stable: RecommenderBase | None,
        held_out: EventBatch,
        seen: EventBatch,
    ) -> GuardVerdict:
        """Check ``candidate`` against ``stable`` (``None``: no stable version yet) on the
        events ``held_out``, masking each user's items in ``seen`` for ranking."""
        try:
            candidate._check_finite()
        except DivergedError as err:
            return GuardVerdict(False, f"parameters are not finite: {err}")
        if stable is None:
            return GuardVerdict(True, "first version: parameters finite")
        quality = self.compare(candidate, stable, held_out, seen)
        metrics = dict(quality.metrics)
        both = [u for u in candidate.user_map_.ids if u is not None and u in stable.user_map_]
        picked = np.random.default_rng(self.seed).permutation(len(both))[: self.churn_users]
        sample = np.array([both[i] for i in np.sort(picked)])
        changed = churn(
            top_item_lists(stable, sample, self.k), top_item_lists(candidate, sample, self.k)
        )
        metrics[f"churn@{self.k}"] = changed
        if not quality.passed:
            return GuardVerdict(False, quality.reason, metrics)
        if changed > self.max_churn:
            return GuardVerdict(
                False, f"churn@{self.k} {changed:.3f} above {self.max_churn:.3f}", metrics
            )
        return GuardVerdict(True, quality.reason, metrics)

    def compare(
        self,
        model: RecommenderBase,
        reference: RecommenderBase,
        held_out: EventBatch,
        seen: EventBatch,
    ) -> GuardVerdict:
        """Whether ``model``'s metric on ``held_out`` is within ``margin`` of
        ``reference``'s (the quality half of :meth:`check`; also how a promoted version is
        checked against the one it replaced, on the events served since).

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.data.batch import as_batch
        >>> from freshrec.models import MostPopular
        >>> events = as_batch(checkerboard_events())
        >>> good = MostPopular().fit(events[:150])
        >>> Guard().compare(good, good, events[150:], events[:150]).passed
        True
        """
        metrics: dict[str, float] = {"n_held_out": float(len(held_out))}
        if isinstance(model, PredictsRatings):  # lower is better
            name, better = "rmse", "lower"
            new = evaluate_rating(model, held_out)["rmse"]
            old = evaluate_rating(reference, held_out)["rmse"]
            worse = new > old * (1 + self.margin)
        else:
            name, better = f"ndcg@{self.k}", "higher"
            targets = held_out.positives(float(model.threshold))
            new = _ndcg(model, seen, targets, self.k)
            old = _ndcg(reference, seen, targets, self.k)
            worse = new < old * (1 - self.margin)
        metrics[f"candidate_{name}"], metrics[f"stable_{name}"] = new, old
        if worse:
            reason = (
                f"{name} {new:.4f} against the stable version's {old:.4f} ({better} is better; "
                f"margin {self.margin:.0%})"
            )
            return GuardVerdict(False, reason, metrics)
        return GuardVerdict(True, f"{name} {new:.4f} against {old:.4f}", metrics)


def _ndcg(model: RecommenderBase, seen: EventBatch, targets: EventBatch, k: int) -> float:
    if not len(targets):
        return float("nan")
    return float(evaluate_ranking(model, seen, targets, k=k, metrics=("ndcg",))[f"ndcg@{k}"])
