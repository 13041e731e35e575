"""The guard: checks a candidate version against the stable one before it is promoted.

A candidate passes when

1. every learned parameter is finite;
2. it is not worse than the stable version on held-out events (events neither version has
   learned). For ranking models: it does not lose significantly more of the held-out
   positives' top-k hits (each user's earlier items masked) than it gains (a one-sided sign
   test on the events whose hit changed, ``z`` standard errors) *and* more than ``margin``
   of them (relative); NDCG@k of both is reported. For models that predict ratings
   (:class:`~freshrec.capabilities.PredictsRatings`): its squared errors are not
   significantly larger (a paired test, ``z`` standard errors) *and* its RMSE is not more
   than ``margin`` above the stable version's;
3. its top-k lists changed little enough: the mean share of a sample of users' top-k items
   that differ from the stable version's (churn) is at most ``max_churn``; and no item that
   rose into ``max_item_share_rise`` more of those lists than the stable version's owes it
   to single-minded accounts: when the events the candidate learned since the stable version
   can be read (``learned``), more than half of that item's positives among them coming from
   users for whom it is most of what they did rejects it (a burst of accounts that each
   push one item; a film that many people watch among others passes);
4. with an off-policy gate (``ope``, :class:`~freshrec.live.ope_gate.OffPolicyGate`) and the
   exploring decisions logged since the candidate was cut (``rounds``): its softmax policy's
   doubly robust value on them is not worse than the stable version's.

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.data.batch import as_batch
>>> from freshrec.models import MostPopular
>>> events = as_batch(checkerboard_events())
>>> stable = MostPopular().fit(events[:150])
>>> candidate = MostPopular().fit(events[:200])
>>> verdict = Guard().check(candidate, stable, events[200:], seen=events[:200])
>>> verdict.passed, verdict.metrics["churn@10"] <= 1
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import PredictsRatings
from freshrec.data.batch import EventBatch
from freshrec.drift.signals import miss_stream
from freshrec.errors import DivergedError
from freshrec.evaluation.arena import churn, top_item_lists
from freshrec.evaluation.protocols import evaluate_ranking, predicted_ratings

if TYPE_CHECKING:  # the gate's module imports GuardVerdict from this one
    from freshrec.live.decisions import LoggedRounds
    from freshrec.live.ope_gate import OffPolicyGate

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
    pushers: tuple[Any, ...] = ()  # accounts that pushed an item (a rejection's suspects)


@dataclass(frozen=True)
class Guard:
    """The checks a candidate must pass to be promoted (see the module docstring).

    Parameters
    ----------
    margin
        Largest relative loss against the stable version (0.02: hits may drop, or RMSE
        rise, by 2%).
    z
        Standard errors of the sign test on changed hits (ranking models).
    max_churn
        Largest mean share of changed top-k items over ``churn_users`` sampled users.
    k
        Cut-off of NDCG and of the churn lists.
    churn_users
        Users sampled (seeded) from those both versions know, for the churn and the item
        shares.
    max_item_share_rise
        A rise of one item's share of the sampled users' top-k lists (0.25: 25 percentage
        points) above which the guard asks who pushed it.
    seed
        Seed of that sample.
    max_user_events
        The learner learns at most this many events of one user per candidate window
        (``None``: no cap), so a burst from a few accounts reaches no candidate whole.
    ope
        The off-policy gate on logged exploring decisions (``None``: none); a learner with
        a :class:`~freshrec.live.decisions.DecisionLog` gives it the rounds.

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
    z: float = 2.0
    max_churn: float = 0.95
    max_item_share_rise: float = 0.25
    k: int = 10
    churn_users: int = 500
    seed: int = 0
    max_user_events: int | None = None
    ope: OffPolicyGate | None = None

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
        learned: Callable[[], EventBatch] | None = None,
        rounds: LoggedRounds | None = None,
    ) -> GuardVerdict:
        """Check ``candidate`` against ``stable`` (``None``: no stable version yet) on the
        events ``held_out``, masking each user's items in ``seen`` for ranking; ``learned``:
        returns the events the candidate learned since the stable version (for the
        pushed-item check, called only when an item's share of the lists rose); ``rounds``:
        the logged exploring decisions for the off-policy gate (``None``: none logged)."""
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
        before = top_item_lists(stable, sample, self.k)
        after = top_item_lists(candidate, sample, self.k)
        changed = churn(before, after)
        metrics[f"churn@{self.k}"] = changed
        rises = _share_rises(before, after)
        metrics["item_share_rise"] = rises[0][1] if rises else 0.0
        if not quality.passed:
            return GuardVerdict(False, quality.reason, metrics)
        if changed > self.max_churn:
            return GuardVerdict(
                False, f"churn@{self.k} {changed:.3f} above {self.max_churn:.3f}", metrics
            )
        risen = [(item, rise) for item, rise in rises if rise > self.max_item_share_rise]
        if risen and learned is not None:
            positives = learned().positives(float(candidate.threshold))
            metrics["item_share_rise_from_single_item_users"] = 0.0
            rose_by = dict(risen)
            for item, pushed, pushers in _pushed(positives, list(rose_by)):
                metrics["item_share_rise_from_single_item_users"] = max(
                    pushed, metrics["item_share_rise_from_single_item_users"]
                )
                if pushed <= 0.5:
                    continue
                rise = rose_by[item]
                return GuardVerdict(
                    False,
                    f"item {_plain(item)!r} is in {rise:.0%} more of {len(sample)} users' "
                    f"top-{self.k} lists than in the stable version's, and {pushed:.0%} of its "
                    f"new positives come from {len(pushers)} accounts whose events since then "
                    "are mostly on it",
                    metrics,
                    pushers,
                )
        if self.ope is None:
            return GuardVerdict(True, quality.reason, metrics)
        off_policy = self.ope.check(candidate, stable, rounds)
        metrics.update(off_policy.metrics)
        if not off_policy.passed:
            return GuardVerdict(False, off_policy.reason, metrics)
        return GuardVerdict(True, f"{quality.reason}; {off_policy.reason}", metrics)

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
            actual, predicted = predicted_ratings(model, held_out)
            before = predicted_ratings(reference, held_out)[1]
            new_errors, old_errors = (actual - predicted) ** 2, (actual - before) ** 2
            new, old = float(np.sqrt(new_errors.mean())), float(np.sqrt(old_errors.mean()))
            metrics["candidate_rmse"], metrics["stable_rmse"] = new, old
            worse = new_errors - old_errors
            spread = worse.std(ddof=1) / math.sqrt(len(worse)) if len(worse) > 1 else math.inf
            if worse.mean() > self.z * spread and new > old * (1 + self.margin):
                reason = (
                    f"rmse {new:.4f} against {old:.4f} of the version it would replace on "
                    f"{len(worse):,} held-out events (lower is better; margin {self.margin:.0%})"
                )
                return GuardVerdict(False, reason, metrics)
            return GuardVerdict(True, f"rmse {new:.4f} against {old:.4f}", metrics)
        targets = held_out.positives(float(model.threshold))
        name = f"ndcg@{self.k}"
        metrics[f"candidate_{name}"] = _ndcg(model, seen, targets, self.k)
        metrics[f"stable_{name}"] = _ndcg(reference, seen, targets, self.k)
        hits_new = miss_stream(model, targets, self.k, seen=seen) == 0
        hits_old = miss_stream(reference, targets, self.k, seen=seen) == 0
        lost, gained = int((hits_old & ~hits_new).sum()), int((hits_new & ~hits_old).sum())
        metrics.update({"hits_lost": float(lost), "hits_gained": float(gained)})
        significant = lost - gained > self.z * math.sqrt(lost + gained)
        if significant and lost - gained > self.margin * max(int(hits_old.sum()), 1):
            reason = (
                f"{lost} held-out top-{self.k} hits lost and {gained} gained against the "
                f"version it would replace ({name} {metrics[f'candidate_{name}']:.4f} against "
                f"{metrics[f'stable_{name}']:.4f})"
            )
            return GuardVerdict(False, reason, metrics)
        return GuardVerdict(
            True,
            f"{name} {metrics[f'candidate_{name}']:.4f} against "
            f"{metrics[f'stable_{name}']:.4f} (hits: {gained} gained, {lost} lost)",
            metrics,
        )


def _pushed(
    positives: EventBatch, items: list[Any]
) -> Iterator[tuple[Any, float, tuple[Any, ...]]]:
    """For each of ``items``: the share of its events in ``positives`` whose user has it in
    more than half of their events there (accounts that exist to push it, not people who
    also like it), and those users."""
    if positives.user_idx is not None:  # read from the log: its indices name the users
        rows = positives.user_idx
    else:  # ids of mixed types cannot be sorted: group them as text
        rows = np.unique(positives.user.astype(str), return_inverse=True)[1].ravel()
    totals = np.bincount(rows)
    first_row = np.full(len(totals), -1, np.int64)
    first_row[rows[::-1]] = np.arange(len(rows))[::-1]  # a user's first event, for the id
    for item in items:
        on_item = positives.item == item
        if not on_item.any():
            yield item, 0.0, ()
            continue
        on = np.bincount(rows, weights=on_item, minlength=len(totals))
        single_minded = (on > 0.5 * totals) & (on > 0)
        users = tuple(_plain(positives.user[first_row[r]]) for r in np.flatnonzero(single_minded))
        yield item, float(on[single_minded].sum() / on.sum()), users


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _share_rises(before: np.ndarray, after: np.ndarray) -> list[tuple[Any, float]]:
    """Each item's rise in share of the lists (rows) from ``before`` to ``after``, largest
    first (an item is in a top-k list once at most)."""
    if not len(after):
        return []
    items, counts = np.unique(after, return_counts=True)
    kept, times = np.unique(before, return_counts=True)
    earlier = dict(zip(kept.tolist(), times.tolist(), strict=True))
    had = np.array([earlier.get(item, 0) for item in items.tolist()])
    rise = (counts - had) / len(after)
    order = np.argsort(-rise, kind="stable")
    return [(items[i], float(rise[i])) for i in order if rise[i] > 0]


def _ndcg(model: RecommenderBase, seen: EventBatch, targets: EventBatch, k: int) -> float:
    if not len(targets):
        return float("nan")
    return float(evaluate_ranking(model, seen, targets, k=k, metrics=("ndcg",))[f"ndcg@{k}"])
