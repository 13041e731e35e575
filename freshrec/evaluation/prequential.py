"""Prequential (test-then-train) evaluation over a stream, and the online-learning measures.

Protocol (:func:`run_prequential`):

1. Events in time order (ties in file order). The last ``holdout_fraction`` of them is a
   held-out later slice; the rest is the stream, cut into windows of ``window`` events.
2. For each window, first the model is tested on it as it stands, then it learns it (with
   ``delay`` > 0, it learns the window that came ``delay`` windows earlier: labels arrive
   late). Rating models (:class:`~freshrec.capabilities.PredictsRatings`) are scored by RMSE
   of each event's prediction; with a compiled ``learn_predict`` (BiasedMF) and no delay,
   each event is predicted then learned one at a time inside the window. Ranking models are
   scored by NDCG@k: each user of the window ranks all items, the items they interacted with
   before masked, against their new positive items in the window; with a compiled
   ``learn_rank`` (online BPR) and no delay, by hit@k instead, each positive event ranked then
   learned one at a time (the user's earlier items masked).
3. After the stream, the model is tested on the held-out slice without learning.

Measures: the *windowed* metric of each window; the *fading* metric (exponentially weighted
over windows, factor ``fading``); **convergence** (the events seen when the windowed metric
enters, for good, a band of 1% around its final value; none when only the last window lies
in it: the stream never settled); **generalization** (held-out metric
minus the prequential metric of the last ``tail`` windows: how much the running estimate
flatters the model); **stability** (variance of the windowed metric over the second half of
the stream, and churn@k: the share of a fixed sample of users' top-k lists that changed from
one window to the next, recorded at the later window).

Examples
--------
>>> from freshrec.data.synthetic import synthetic_stream
>>> from freshrec.models.biased_mf import BiasedMF
>>> events = synthetic_stream(n_users=60, n_items=40, n_events=2000).events
>>> result = run_prequential(BiasedMF(n_epochs=1, shuffle=False), events, window=200)
>>> result.metric, len(result.windowed), int(result.positions[-1])
('rmse', 9, 1800)
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import LearnsPredict, LearnsRank, PredictsRatings
from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.data.stream import iter_labelled, time_ordered
from freshrec.evaluation.arena import churn, top_item_lists
from freshrec.evaluation.protocols import evaluate_ranking
from freshrec.log import EventLog, open_log

__all__ = ["PrequentialResult", "PrequentialSummary", "convergence_events", "run_prequential"]


@dataclass(frozen=True)
class PrequentialSummary:
    """The headline figures of one prequential run (see the module doc).

    Attributes
    ----------
    prequential, prequential_recent
        Mean windowed metric over the stream, and over its last windows.
    fading_final
        The exponentially faded metric at the end of the stream.
    holdout, generalization_gap
        The metric on the held-out later slice, and that minus ``prequential_recent``.
    convergence_events
        Events seen when the windowed metric settled for good (``None``: it never did).
    windowed_variance
        Variance of the windowed metric over the second half of the stream.
    churn_mean
        Mean share of the sampled users' top-k lists changed per window.

    Examples
    --------
    >>> summary = PrequentialSummary(0.9, 0.85, 0.86, 0.95, 0.1, None, 0.0, 0.2)
    >>> summary.figures()["convergence_events"]
    nan
    """

    prequential: float
    prequential_recent: float
    fading_final: float
    holdout: float
    generalization_gap: float
    convergence_events: int | None
    windowed_variance: float
    churn_mean: float

    def figures(self) -> dict[str, float]:
        """Every figure by name, in the order above (``nan`` for no convergence)."""
        events = self.convergence_events
        return {
            "prequential": self.prequential,
            "prequential_recent": self.prequential_recent,
            "fading_final": self.fading_final,
            "holdout": self.holdout,
            "generalization_gap": self.generalization_gap,
            "convergence_events": float("nan") if events is None else float(events),
            "windowed_variance": self.windowed_variance,
            "churn_mean": self.churn_mean,
        }


@dataclass
class PrequentialResult:
    """Everything one prequential run measured (see the module doc).

    Examples
    --------
    >>> result = PrequentialResult("rmse", np.array([100, 200]), np.array([1.0, 0.9]),
    ...                            np.array([1.0, 0.93]), holdout=0.95)
    >>> result.summary().windowed_variance
    0.0
    """

    metric: str
    positions: np.ndarray
    windowed: np.ndarray
    fading: np.ndarray
    holdout: float = float("nan")
    churn: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per window; nan: none
    tail: int = 5
    lower_is_better: bool = True

    def summary(self) -> PrequentialSummary:
        """The headline figures: overall, convergence, generalization, stability."""
        n = len(self.windowed)
        tail = self.windowed[-min(self.tail, n) :] if n else self.windowed
        recent = float(np.nanmean(tail)) if len(tail) else float("nan")
        second_half = self.windowed[n // 2 :]
        return PrequentialSummary(
            prequential=float(np.nanmean(self.windowed)) if n else float("nan"),
            prequential_recent=recent,
            fading_final=float(self.fading[-1]) if n else float("nan"),
            holdout=self.holdout,
            generalization_gap=self.holdout - recent,
            convergence_events=convergence_events(self.positions, self.windowed),
            windowed_variance=float(np.nanvar(second_half)) if len(second_half) else 0.0,
            churn_mean=(
                float(np.nanmean(self.churn)) if np.isfinite(self.churn).any() else float("nan")
            ),
        )


def convergence_events(
    positions: np.ndarray, windowed: np.ndarray, band: float = 0.01
) -> int | None:
    """Events seen when the windowed metric enters, for good, ``band`` around its final value.

    ``None`` when it never settles: the last window lies in its own band by definition, so
    at least the window before it must lie there too (nor is a stream of one window, or one
    that ends on ``nan``, said to converge).

    Examples
    --------
    >>> convergence_events(np.array([10, 20, 30, 40]), np.array([2.0, 1.2, 1.005, 1.0]))
    30
    >>> convergence_events(np.array([10, 20, 30, 40]), np.array([2.0, 1.2, 1.1, 1.0])) is None
    True
    """
    values = np.asarray(windowed, dtype=float)
    if not len(values) or not np.isfinite(values[-1]):
        return None
    inside = np.abs(values - values[-1]) <= band * abs(values[-1])
    outside = np.flatnonzero(~inside)
    first = 0 if not len(outside) else int(outside[-1]) + 1
    return int(positions[first]) if first < len(values) - 1 else None


def run_prequential(
    model: RecommenderBase,
    events: Events,
    *,
    window: int = 1000,
    holdout_fraction: float = 0.1,
    delay: int = 0,
    label_delay_s: float | None = None,
    fading: float = 0.9,
    k: int = 10,
    n_churn_users: int = 500,
    tail: int = 5,
    seed: int = 0,
    on_window: Callable[[int, int], None] | None = None,
) -> PrequentialResult:
    """Test then train ``model`` on each window of the stream (module doc); return the measures.

    ``label_delay_s`` (instead of ``delay``) makes each event's label known that many
    seconds after its timestamp: each window learns the labels released during it
    (:func:`~freshrec.data.stream.iter_labelled`); labels still pending when the stream
    ends are not learned. ``on_window(done, total)`` is called after each window (for a
    progress bar).

    Examples
    --------
    >>> from freshrec.data.synthetic import synthetic_stream
    >>> from freshrec.models.popular import MostPopular
    >>> events = synthetic_stream(n_users=50, n_items=30, n_events=1000).events
    >>> run_prequential(MostPopular(), events, window=300).metric
    'ndcg@10'
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    if delay < 0:
        raise ValueError(f"delay must be >= 0, got {delay}")
    ordered = time_ordered(as_batch(events))
    cut = len(ordered) - int(round(holdout_fraction * len(ordered)))
    stream, held_out = ordered.take(slice(0, cut)), ordered.take(slice(cut, None))
    if len(stream) < window:
        raise ValueError(f"{len(stream)} stream events are fewer than one window of {window}")
    if label_delay_s is not None and delay:
        raise ValueError("give delay (windows) or label_delay_s (seconds), not both")
    rating = isinstance(model, PredictsRatings)
    immediate = delay == 0 and label_delay_s is None
    predicts = model if rating and immediate and isinstance(model, LearnsPredict) else None
    ranks = model if not rating and immediate and isinstance(model, LearnsRank) else None
    parts, learned = _schedule(stream, window, delay, label_delay_s)
    rng = np.random.default_rng(seed)
    positions, windowed, churns = [], [], []
    log = open_log("memory://")  # the stream so far: what users have seen
    lists = None
    for number, (part, labels) in enumerate(zip(parts, learned, strict=True)):
        if predicts is not None:
            windowed.append(_rmse(predicts.learn_predict(part), part.value))
        elif ranks is not None:
            windowed.append(_hit_rate(ranks.learn_rank(part), k))
        else:
            windowed.append(_test(model, part, log, rating, k))
            if len(labels):
                model.partial_fit(labels)
        log.append(part)
        positions.append(len(log))
        change = float("nan")
        if model.is_fitted:
            if lists is None:
                users = np.unique(log.users.decode(np.arange(len(log.users))))
                sample = rng.permutation(users)[:n_churn_users]
            current = top_item_lists(model, sample, k)
            if lists is not None:
                change = churn(lists, current)
            lists = current
        churns.append(change)
        if on_window:
            on_window(number + 1, len(parts))
    if not len(held_out):
        holdout = float("nan")
    elif ranks is not None:  # ranked one by one with the parameters frozen, on a copy
        frozen: Any = copy.deepcopy(model)
        holdout = _hit_rate(frozen.learn_rank(held_out, steps=0), k)
    else:
        holdout = _test(model, held_out, log, rating, k)
    values = np.asarray(windowed, dtype=float)
    return PrequentialResult(
        metric="rmse" if rating else (f"hit@{k}" if ranks is not None else f"ndcg@{k}"),
        positions=np.asarray(positions),
        windowed=values,
        fading=_fading(values, fading),
        holdout=holdout,
        churn=np.asarray(churns, dtype=float),
        tail=tail,
        lower_is_better=rating,
    )


def _schedule(
    stream: EventBatch, window: int, delay: int, label_delay_s: float | None
) -> tuple[list[EventBatch], list[EventBatch]]:
    """The windows to test, and what is learned after each (late labels)."""
    if label_delay_s is not None:
        labelled = list(iter_labelled(stream, size=window, delay_s=label_delay_s))
        kept = [w for w in labelled if len(w.events)]  # the last, label-only one is dropped
        return [w.events for w in kept], [w.labels for w in kept]
    parts = [
        stream.take(slice(s, min(s + window, len(stream)))) for s in range(0, len(stream), window)
    ]
    learned = [parts[i - delay] if i >= delay else EventBatch.empty() for i in range(len(parts))]
    return parts, learned


def _test(model: RecommenderBase, part: EventBatch, log: EventLog, rating: bool, k: int) -> float:
    """The model's metric on ``part`` as it stands (nan before it has learned anything),
    masking what its users have seen in ``log``."""
    if not model.is_fitted or not len(part):
        return float("nan")
    if rating:
        predictions = np.concatenate(
            [model.score(user, [item]) for user, item in zip(part.user, part.item, strict=True)]
        )
        return _rmse(predictions, part.value)
    positives = part.positives(model.threshold)
    if not len(positives):
        return float("nan")
    history = log.events_of(positives.user)
    result = evaluate_ranking(model, history, positives, k=k, metrics=("ndcg",))
    return float(result[f"ndcg@{k}"])


def _hit_rate(ranks: np.ndarray, k: int) -> float:
    """Share of the ranked events (rank >= 0) whose item was in the top ``k``."""
    ranked = ranks[ranks >= 0]
    return float(np.mean(ranked < k)) if len(ranked) else float("nan")


def _rmse(predictions: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(predictions) - np.asarray(truth)) ** 2)))


def _fading(values: np.ndarray, factor: float) -> np.ndarray:
    """Exponentially weighted mean of the windowed values (nan windows skipped)."""
    out = np.full(len(values), np.nan)
    total = weight = 0.0
    for index, value in enumerate(values):
        if np.isfinite(value):
            total, weight = factor * total + value, factor * weight + 1.0
        if weight:
            out[index] = total / weight
    return out
