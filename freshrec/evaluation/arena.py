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
   the same metrics over *returning* users (with an event before the window) are reported
   too.
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
>>> [(r["window"], r["strategy"]) for r in run.windows][:3]
[(0, 'frozen'), (0, 'finetune'), (1, 'frozen')]
>>> run.windows[0]["ndcg@10"] == run.windows[1]["ndcg@10"]  # one model before window 0
True
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.data.idmap import IdMap
from freshrec.data.stream import iter_windows, warm_start_split
from freshrec.evaluation.protocols import evaluate_ranking
from freshrec.ranking import top_k
from freshrec.update.strategies import UpdateStrategy

__all__ = ["ArenaRun", "churn", "model_bytes", "run_arena", "top_item_lists"]


@dataclass
class ArenaRun:
    """One seed of the arena: a record per (window, strategy) and the run's facts.

    Attributes
    ----------
    windows
        Dicts with ``window``, ``strategy``, the metrics and measures (see the module doc).
    warm_s
        Wall seconds of the warm-start fit.
    counts
        Events in the warm start, the probe and the replay; users and items in the data.

    Examples
    --------
    >>> run = ArenaRun(windows=[{"window": 0, "strategy": "full", "ndcg@10": 0.2},
    ...                         {"window": 1, "strategy": "full", "ndcg@10": 0.3}])
    >>> run.strategies(), round(run.mean("full", "ndcg@10"), 2)
    (['full'], 0.25)
    """

    windows: list[dict[str, Any]] = field(default_factory=list)
    warm_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def strategies(self) -> list[str]:
        """The strategy names, in the order they ran."""
        return list(dict.fromkeys(r["strategy"] for r in self.windows))

    def mean(self, strategy: str, measure: str) -> float:
        """Mean of ``measure`` over the windows of ``strategy`` (``nan`` values skipped)."""
        values = [r.get(measure) for r in self.windows if r["strategy"] == strategy]
        finite = [float(v) for v in values if v is not None and np.isfinite(v)]
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
    >>> len(run.windows), run.counts["replayed"]
    (2, 500)
    """
    if not strategies:
        raise ValueError("give at least one update strategy")
    if not 0.0 <= probe_fraction < 1.0:
        raise ValueError(f"probe_fraction must be in [0, 1), got {probe_fraction}")
    batch = as_batch(events)
    codes = _Codes(batch)
    warm, rest = warm_start_split(batch, warm_fraction)
    if not len(warm) or len(rest) < n_windows:
        raise ValueError(
            f"{len(batch)} events leave {len(warm)} for the warm start and {len(rest)} for "
            f"{n_windows} windows; use fewer windows or more data"
        )
    rng = np.random.default_rng(seed)
    in_probe = rng.random(len(warm)) < probe_fraction
    probe, train = warm.take(in_probe), warm.take(~in_probe)

    base = model.clone().set_params(seed=seed) if "seed" in model.get_params() else model.clone()
    start = time.perf_counter()
    base.fit(train)
    run = ArenaRun(warm_s=time.perf_counter() - start)
    run.counts = {
        "events": len(batch),
        "warm": len(train),
        "probe": len(probe),
        "replayed": len(rest),
        "users": codes.n_users,
        "items": codes.n_items,
    }
    if on_step:
        on_step("warm start")
    threshold = float(base.threshold)
    probe_mask = train.take(np.isin(codes.users(train), np.unique(codes.users(probe))))
    probe_targets = probe.positives(threshold)
    probe_start = _ndcg(base, probe_mask, probe_targets, k)
    train_users = np.unique(codes.users(train))
    churn_codes = rng.permutation(train_users)[:n_churn_users]
    churn_users = codes.user_ids(churn_codes)

    models = {name: copy.deepcopy(base) for name in strategies}
    for strategy in strategies.values():
        strategy.prime(train)
    before = EventBatch.concat([train, probe])
    for window in iter_windows(rest, n_windows=n_windows):
        targets, returning = _targets(codes, before, window.batch, threshold)
        window_users = np.unique(codes.users(window.batch))
        seen = before.take(np.isin(codes.users(before), window_users))
        for name, strategy in strategies.items():
            current = models[name]
            record: dict[str, Any] = {"window": window.index, "strategy": name}
            record.update(_metrics(current, seen, targets, returning, k))
            record[f"probe_ndcg@{k}"] = _ndcg(current, probe_mask, probe_targets, k)
            record["forgetting"] = probe_start - record[f"probe_ndcg@{k}"]
            lists_before = top_item_lists(current, churn_users, k)
            report = strategy.step(current, window.batch)
            record[f"churn@{k}"] = churn(lists_before, top_item_lists(current, churn_users, k))
            record.update(
                compute_s=report.seconds,
                n_updates=report.n_updates,
                n_trained=report.n_events,
                lag_h=None if report.lag_s is None else report.lag_s / 3600.0,
                model_mb=model_bytes(current) / 1e6,
            )
            if report.action is not None:
                record["action"] = report.action
            run.windows.append(record)
            if on_step:
                on_step(f"window {window.index + 1}/{n_windows}: {name}")
        before = EventBatch.concat([before, window.batch])
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


class _Codes:
    """Integer codes of every user and item of the stream, for fast set logic on pairs."""

    def __init__(self, batch: EventBatch) -> None:
        self._users, self._items = IdMap(), IdMap()
        self._users.encode(batch.user, grow=True)
        self._items.encode(batch.item, grow=True)
        self.n_users, self.n_items = len(self._users), len(self._items)

    def users(self, batch: EventBatch) -> np.ndarray:
        return self._users.encode(batch.user)

    def user_ids(self, codes: np.ndarray) -> np.ndarray:
        return self._users.decode(codes)

    def pairs(self, batch: EventBatch) -> np.ndarray:
        pairs: np.ndarray = self.users(batch) * self.n_items + self._items.encode(batch.item)
        return pairs


def _targets(
    codes: _Codes, before: EventBatch, window: EventBatch, threshold: float
) -> tuple[EventBatch, np.ndarray]:
    """The window's positive events on items new to their user, and which are returning."""
    positives = window.positives(threshold)
    fresh = ~np.isin(codes.pairs(positives), codes.pairs(before))
    targets = positives.take(fresh)
    returning = np.isin(codes.users(targets), codes.users(before))
    return targets, returning


def _metrics(
    model: RecommenderBase, seen: EventBatch, targets: EventBatch, returning: np.ndarray, k: int
) -> dict[str, float]:
    out: dict[str, float] = {}
    for suffix, rows in (("", slice(None)), (" returning", returning)):
        chosen = targets.take(rows)
        if not len(chosen):
            out.update({f"recall@{k}{suffix}": np.nan, f"ndcg@{k}{suffix}": np.nan})
            out[f"n_users{suffix}"] = 0
            continue
        result = evaluate_ranking(model, seen, chosen, k=k, metrics=("recall", "ndcg"))
        out[f"recall@{k}{suffix}"] = float(result[f"recall@{k}"])
        out[f"ndcg@{k}{suffix}"] = float(result[f"ndcg@{k}"])
        out[f"n_users{suffix}"] = int(result["n_users"])
    return out


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
