"""The update arena: update strategies side by side over the time windows of one stream.

Protocol (:func:`run_arena`), for one seed:

1. The events are ordered by timestamp (ties in file order). The first ``warm_fraction`` of
   them by count are the warm start; a random ``probe_fraction`` of those is held out as the
   *probe* (never learned by anyone) and one model is fitted on the rest, then copied to
   every strategy. The remaining events are cut into ``n_windows`` windows of equal count.
2. For each window, before any strategy sees it, each strategy's current model ranks all
   items for every user active in the window, masking the items that user interacted with
   before the window (probe included). The targets are the user's positive events in the
   window on items not interacted with before; Recall@k and NDCG@k are averaged over the
   users with a target. Users new in the window count (the model's fallback serves them);
   the same metrics are reported per cohort of users: *warm* (in the warm start), *earlier*
   (first seen in an earlier window), *new* (first seen in this window), and over
   *returning* users (warm and earlier: an event before the window). ``new_item_share`` is
   the share of the window's targets on items the warm start never saw.
3. Then each strategy learns from the window (:class:`~freshrec.update.strategies.
   UpdateStrategy`); compute is the training wall time of that step.

Measures per window and strategy, besides the metrics: ``compute_s``; ``churn@k`` (the
share of a fixed sample of warm-start users' top-k lists that the update replaced: 1 -
overlap / k); ``probe_ndcg@k`` and ``forgetting`` (the probe's NDCG@k after the warm start
minus its NDCG@k now, with the probe users' warm-start items masked: how much of the past
the model lost; negative when it got better); ``lag_h`` (freshness: mean hours from an
event to the version that learned it); ``model_mb`` (megabytes of the learned arrays).

Examples
--------
>>> from freshrec.data.synthetic import synthetic_stream
>>> from freshrec.models.bpr import BPR
>>> from freshrec.update.strategies import make_strategy
>>> events = synthetic_stream(n_users=80, n_items=60, n_events=3000, seed=0).events
>>> names = ["frozen", "finetune"]
>>> run = run_arena(events, BPR(n_factors=8, n_epochs=5), {n: make_strategy(n) for n in names},
...                 n_windows=3)
>>> [(r.window, r.strategy) for r in run.windows][:3]
[(0, 'frozen'), (0, 'finetune'), (1, 'frozen')]
>>> run.windows[0].measure("ndcg@10") == run.windows[1].measure("ndcg@10")  # one model before
True
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.data.stream import iter_windows, warm_start_split
from freshrec.evaluation.protocols import evaluate_ranking
from freshrec.log import Cursor, EventLog, open_log
from freshrec.ranking import top_k
from freshrec.update.strategies import UpdateStrategy

__all__ = [
    "ArenaCounts",
    "ArenaRun",
    "WindowRecord",
    "churn",
    "model_bytes",
    "run_arena",
    "top_item_lists",
]


@dataclass(frozen=True)
class WindowRecord:
    """What one strategy measured on one window before learning it, and what learning cost.

    Attributes
    ----------
    window, strategy
        The window's index (from 0) and the strategy's name.
    metrics
        The model's quality by name (see the module doc): ``recall@k`` and ``ndcg@k`` over
        the window's users with a target, the same per cohort with the suffixes `` warm``,
        `` earlier``, `` new`` and `` returning``, the user counts ``n_users`` (and with
        each suffix), ``new_item_share``, ``probe_ndcg@k``, ``forgetting`` and ``churn@k``
        (``nan`` where nothing was measured).
    compute_s, n_updates, n_trained
        The update's training wall seconds, calls that changed the model, events trained on.
    lag_h
        Mean hours from an event to the version that learned it (``nan``: none learned).
    model_mb
        Megabytes of the learned arrays after the update.
    action
        What a strategy that chooses among actions did (``None`` for the others).

    Examples
    --------
    >>> record = WindowRecord(0, "full", {"ndcg@10": 0.2}, compute_s=1.5)
    >>> record.measure("ndcg@10"), record.measure("compute_s"), record.measure("churn@10")
    (0.2, 1.5, nan)
    >>> list(record.to_dict())[:4]
    ['window', 'strategy', 'ndcg@10', 'compute_s']
    """

    window: int
    strategy: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    compute_s: float = float("nan")
    n_updates: int = 0
    n_trained: int = 0
    lag_h: float = float("nan")
    model_mb: float = float("nan")
    action: str | None = None

    def measure(self, name: str) -> float:
        """The value of a metric or a cost (``compute_s``, ``lag_h``, ...) by name; ``nan``
        when the record has none."""
        return float(self.metrics.get(name, self._costs().get(name, float("nan"))))

    def to_dict(self) -> dict[str, Any]:
        """The record as in ``results.json``'s ``windows`` (``action`` only when set)."""
        out: dict[str, Any] = {"window": self.window, "strategy": self.strategy}
        out.update(self.metrics)
        out.update(self._costs())
        if self.action is not None:
            out["action"] = self.action
        return out

    def _costs(self) -> dict[str, float]:
        return {
            "compute_s": self.compute_s,
            "n_updates": self.n_updates,
            "n_trained": self.n_trained,
            "lag_h": self.lag_h,
            "model_mb": self.model_mb,
        }


@dataclass(frozen=True)
class ArenaCounts:
    """Events in the stream, the warm start, the probe and the replay; users and items.

    Examples
    --------
    >>> ArenaCounts(events=10, warm=4, probe=1, replayed=5, users=3, items=2).to_dict()["warm"]
    4
    """

    events: int = 0
    warm: int = 0
    probe: int = 0
    replayed: int = 0
    users: int = 0
    items: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counts as in ``results.json``'s ``counts``."""
        return asdict(self)


@dataclass
class ArenaRun:
    """One seed of the arena: a record per (window, strategy) and the run's facts.

    Attributes
    ----------
    windows
        One :class:`WindowRecord` per window and strategy, in the order they ran.
    warm_s
        Wall seconds of the warm-start fit.
    counts
        Events in the warm start, the probe and the replay; users and items in the data.

    Examples
    --------
    >>> run = ArenaRun(windows=[WindowRecord(0, "full", {"ndcg@10": 0.2}),
    ...                         WindowRecord(1, "full", {"ndcg@10": 0.3})])
    >>> run.strategies(), round(run.mean("full", "ndcg@10"), 2)
    (['full'], 0.25)
    """

    windows: list[WindowRecord] = field(default_factory=list)
    warm_s: float = 0.0
    counts: ArenaCounts = field(default_factory=ArenaCounts)

    def strategies(self) -> list[str]:
        """The strategy names, in the order they ran."""
        return list(dict.fromkeys(r.strategy for r in self.windows))

    def mean(self, strategy: str, measure: str) -> float:
        """Mean of ``measure`` over the windows of ``strategy`` (``nan`` values skipped)."""
        values = [r.measure(measure) for r in self.windows if r.strategy == strategy]
        finite = [v for v in values if np.isfinite(v)]
        return float(np.mean(finite)) if finite else float("nan")


def run_arena(
    events: Events,
    model: RecommenderBase,
    strategies: Mapping[str, UpdateStrategy],
    *,
    n_windows: int = 20,
    warm_fraction: float = 0.5,
    k: int = 10,
    probe_fraction: float = 0.02,
    n_churn_users: int = 1000,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> ArenaRun:
    """Run the arena protocol (module doc) for one seed; ``model`` is an unfitted prototype.

    ``seed`` draws the probe and the churn users, and is the model's ``seed`` when it has one.

    ``on_step(description)`` is called after the warm start and after each window's update
    of each strategy (for a progress bar: ``1 + n_windows * len(strategies)`` calls).

    Examples
    --------
    >>> from freshrec.data.synthetic import synthetic_stream
    >>> from freshrec.models.popular import MostPopular
    >>> from freshrec.update.strategies import Frozen
    >>> events = synthetic_stream(n_users=50, n_items=40, n_events=1000).events
    >>> run = run_arena(events, MostPopular(), {"frozen": Frozen()}, n_windows=2)
    >>> len(run.windows), run.counts.replayed
    (2, 500)
    """
    if not strategies:
        raise ValueError("give at least one update strategy")
    if not 0.0 <= probe_fraction < 1.0:
        raise ValueError(f"probe_fraction must be in [0, 1), got {probe_fraction}")
    batch = as_batch(events)
    warm, rest = warm_start_split(batch, warm_fraction)
    if not len(warm) or len(rest) < n_windows:
        raise ValueError(
            f"{len(batch)} events leave {len(warm)} for the warm start and {len(rest)} for "
            f"{n_windows} windows; use fewer windows or more data"
        )
    rng = np.random.default_rng(seed)
    in_probe = rng.random(len(warm)) < probe_fraction
    probe, train = warm.take(in_probe), warm.take(~in_probe)

    log = open_log("memory://")  # the events every strategy has been shown, in time order
    log.append(train)
    train = log.window(Cursor.START)  # as stored: with event ids, so models learn by cursor
    base = model.clone().set_params(seed=seed) if "seed" in model.get_params() else model.clone()
    start = time.perf_counter()
    base.learn_from_log(log)
    counts = ArenaCounts(
        events=len(batch),
        warm=len(train),
        probe=len(probe),
        replayed=len(rest),
        users=len(np.unique(batch.user)),
        items=len(np.unique(batch.item)),
    )
    run = ArenaRun(warm_s=time.perf_counter() - start, counts=counts)
    if on_step:
        on_step("warm start")
    threshold = float(base.threshold)
    probe_mask = train.take(np.isin(train.user, np.unique(probe.user)))
    probe_targets = probe.positives(threshold)
    probe_start = _ndcg(base, probe_mask, probe_targets, k)
    warm_users = np.unique(np.concatenate([train.user, probe.user]))
    warm_items = np.unique(np.concatenate([train.item, probe.item]))
    train_users = log.users.decode(np.arange(len(log.users)))
    churn_users = rng.permutation(train_users)[:n_churn_users]

    models = {name: copy.deepcopy(base) for name in strategies}  # all read the one log
    for strategy in strategies.values():
        strategy.prime(train, log)  # they keep cursors into the log, not copies
    for window in iter_windows(rest, n_windows=n_windows):
        targets, returning = _targets(log, probe, window.batch, threshold)
        cohorts = _cohorts(targets, returning, warm_users)
        new_items = float(np.mean(~np.isin(targets.item, warm_items))) if len(targets) else np.nan
        seen = EventBatch.concat([log.events_of(window.batch.user), probe])
        before = log.head()
        log.append(window.batch)
        logged = log.window(before)
        for name, strategy in strategies.items():
            current = models[name]
            metrics = _metrics(current, seen, targets, cohorts, k)
            metrics["new_item_share"] = new_items
            metrics[f"probe_ndcg@{k}"] = _ndcg(current, probe_mask, probe_targets, k)
            metrics["forgetting"] = probe_start - metrics[f"probe_ndcg@{k}"]
            lists_before = top_item_lists(current, churn_users, k)
            report = strategy.step(current, logged)
            metrics[f"churn@{k}"] = churn(lists_before, top_item_lists(current, churn_users, k))
            record = WindowRecord(
                window.index,
                name,
                metrics,
                compute_s=report.seconds,
                n_updates=report.n_updates,
                n_trained=report.n_events,
                lag_h=float("nan") if report.lag_s is None else report.lag_s / 3600.0,
                model_mb=model_bytes(current) / 1e6,
                action=report.action,
            )
            run.windows.append(record)
            if on_step:
                on_step(f"window {window.index + 1}/{n_windows}: {name}")
    return run


def churn(before: np.ndarray, after: np.ndarray) -> float:
    """Mean share of each row's top-k items that changed: ``1 - |before & after| / k``.

    Examples
    --------
    >>> churn(np.array([[1, 2], [3, 4]]), np.array([[2, 1], [3, 5]]))
    0.25
    """
    if not len(before):
        return float("nan")
    k = before.shape[1]
    kept = [len(np.intersect1d(a, b)) for a, b in zip(before, after, strict=True)]
    return float(1.0 - np.mean(kept) / k)


def model_bytes(model: RecommenderBase) -> int:
    """Bytes of the model's learned arrays (``_arrays()``: parameters, optimizer state).

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.bpr import BPR
    >>> model = BPR(n_factors=4, n_epochs=1).fit(checkerboard_events())
    >>> model_bytes(model) == 4 * (model.n_users * 4 + model.n_items * 5)
    True
    """
    return int(sum(np.asarray(array).nbytes for array in model._arrays().values()))


def _targets(
    log: EventLog, probe: EventBatch, window: EventBatch, threshold: float
) -> tuple[EventBatch, np.ndarray]:
    """The window's positive events on items new to their user (in the log and the probe),
    and which of them are of returning users (with an event in either before the window)."""
    positives = window.positives(threshold)
    users, items = log.users.encode(positives.user), log.items.encode(positives.item)
    known = (users >= 0) & (items >= 0)
    in_log = np.zeros(len(positives), dtype=bool)
    in_log[known] = np.asarray(log.seen()[users[known], items[known]]).ravel() > 0
    probe_pairs = set(zip(probe.user.tolist(), probe.item.tolist(), strict=True))
    in_probe = np.fromiter(
        (
            (u, i) in probe_pairs
            for u, i in zip(positives.user.tolist(), positives.item.tolist(), strict=True)
        ),
        dtype=bool,
        count=len(positives),
    )
    targets = positives.take(~(in_log | in_probe))
    returning = (log.users.encode(targets.user) >= 0) | np.isin(targets.user, probe.user)
    return targets, returning


def _cohorts(
    targets: EventBatch, returning: np.ndarray, warm_users: np.ndarray
) -> dict[str, np.ndarray]:
    """Which targets are of warm-start users, of users first seen in an earlier window, and
    of users new in this one (a user's targets are all in one cohort)."""
    warm = np.isin(targets.user, warm_users)
    return {"warm": warm, "earlier": returning & ~warm, "new": ~returning}


def _metrics(
    model: RecommenderBase,
    seen: EventBatch,
    targets: EventBatch,
    cohorts: Mapping[str, np.ndarray],
    k: int,
) -> dict[str, float]:
    """Recall and NDCG per cohort, then over all users and over returning ones (warm and
    earlier) as the user-weighted means of the cohorts' (each a mean over its users)."""
    by_cohort: dict[str, float] = {}
    for cohort, rows in cohorts.items():
        chosen = targets.take(rows)
        suffix = f" {cohort}"
        by_cohort.update({f"recall@{k}{suffix}": np.nan, f"ndcg@{k}{suffix}": np.nan})
        by_cohort[f"n_users{suffix}"] = 0
        if len(chosen):
            result = evaluate_ranking(model, seen, chosen, k=k, metrics=("recall", "ndcg"))
            by_cohort[f"recall@{k}{suffix}"] = float(result[f"recall@{k}"])
            by_cohort[f"ndcg@{k}{suffix}"] = float(result[f"ndcg@{k}"])
            by_cohort[f"n_users{suffix}"] = int(result["n_users"])
    out: dict[str, float] = {}  # the keys of earlier results first, in their order
    for suffix, parts in (("", ("warm", "earlier", "new")), (" returning", ("warm", "earlier"))):
        weights = np.array([by_cohort[f"n_users {part}"] for part in parts], dtype=np.float64)
        used = weights > 0
        for metric in (f"recall@{k}", f"ndcg@{k}"):
            values = np.array([by_cohort[f"{metric} {part}"] for part in parts])
            out[f"{metric}{suffix}"] = (
                float(values[used] @ weights[used] / weights[used].sum()) if used.any() else np.nan
            )
        out[f"n_users{suffix}"] = int(weights.sum())
    return out | by_cohort


def _ndcg(model: RecommenderBase, seen: EventBatch, targets: EventBatch, k: int) -> float:
    if not len(targets):
        return float("nan")
    return float(evaluate_ranking(model, seen, targets, k=k, metrics=("ndcg",))[f"ndcg@{k}"])


def top_item_lists(model: RecommenderBase, users: np.ndarray, k: int) -> np.ndarray:
    """Each user's top-k items (external ids, nothing masked), shape (len(users), k).

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.popular import MostPopular
    >>> model = MostPopular().fit(checkerboard_events())
    >>> top_item_lists(model, np.array(["u0", "u1"]), 3).shape
    (2, 3)
    """
    if not len(users):
        return np.zeros((0, k), np.int64)
    scores = model.score_batch(model.user_map_.encode(users))
    ranked = top_k(scores, min(k, scores.shape[1]))
    ids: np.ndarray = model.item_map_.decode(ranked.ravel())
    return ids.reshape(ranked.shape)
