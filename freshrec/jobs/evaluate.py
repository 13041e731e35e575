"""``freshrec evaluate``: split a dataset, build and fit models by name over seeds, evaluate,
collect :class:`~freshrec.jobs.report.Results`."""

from __future__ import annotations

import inspect
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from freshrec.capabilities import Observes, PredictsRatings
from freshrec.config import model_params
from freshrec.data.batch import EventBatch
from freshrec.data.dataset import Dataset, SideTable
from freshrec.data.splits import (
    HSTU_WINDOW,
    Split,
    k_fold_splits,
    latest_per_user,
    split_by_name,
)
from freshrec.evaluation.protocols import evaluate_ranking, evaluate_rating, summarize_seeds
from freshrec.evaluation.results import ResultRow
from freshrec.jobs.report import Results
from freshrec.models import REGISTRY

__all__ = ["PROTOCOLS", "fit_model", "run_evaluation"]

PROTOCOLS = ("random", "temporal-user", "temporal-global", "loo-full", "loo-sampled", "loo-hstu")


def fit_model(
    name: str, params: dict[str, Any], split: Split, items: SideTable | None = None
) -> tuple[Any, float]:
    """Build model ``name`` and fit it on ``split.train`` (iterative models stop early on
    ``split.valid``; models that take item features get ``items``); return the model and the
    fit seconds.

    Examples
    --------
    >>> from freshrec.data.splits import temporal_user_split
    >>> from freshrec.data.synthetic import synthetic_stream
    >>> split = temporal_user_split(synthetic_stream(n_users=30, n_events=600).events)
    >>> model, seconds = fit_model("popular", {}, split)
    >>> model.is_fitted
    True
    """
    model = REGISTRY[name](**params)
    start = time.perf_counter()
    has_valid = split.valid is not None and len(split.valid) > 0
    extra = {"items": items} if items is not None and _takes(model.fit, "items") else {}
    model.fit(split.train, valid=split.valid if has_valid else None, **extra)
    return model, time.perf_counter() - start


def run_evaluation(
    dataset: Dataset,
    models: Sequence[str],
    protocol: str,
    *,
    seeds: Sequence[int] = (0,),
    split_seed: int = 0,
    k: int = 10,
    overrides: dict[str, dict[str, Any]] | None = None,
    folds: int = 0,
    command: str = "evaluate",
    on_step: Callable[[str, int], None] | None = None,
) -> Results:
    """Evaluate ``models`` on one split of ``dataset`` (fixed by ``split_seed``), once per seed.

    Each model is trained on the training part only; the validation part (if any) is masked
    at test time together with the training items, as RecBole does. Under the ``loo-*``
    protocols a sequential model then observes the validation events (without learning
    from them), so each user's test-time input ends with the validation item, as in the
    SASRec paper. With ``folds >= 2`` the protocol is per-user random k-fold
    cross-validation instead (:func:`~freshrec.data.splits.k_fold_splits`): every (fold,
    seed) pair is one run, and
    each row reports the mean and 95% interval over the runs (``per_seed`` lists them fold by
    fold, seeds within folds).

    Examples
    --------
    >>> from freshrec.data.synthetic import synthetic_stream
    >>> data = synthetic_stream(n_users=60, n_items=40, n_events=1500, seed=0)
    >>> results = run_evaluation(data, ["popular"], "temporal-user", seeds=[0])
    >>> sorted({row.metric for row in results.rows})[:2]
    ['coverage@10', 'gini@10']
    >>> cv = run_evaluation(data, ["popular"], "random", folds=3)
    >>> cv.protocol, len(cv.rows[0].per_seed)
    ('3-fold', 3)
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    unknown = [m for m in models if m not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {sorted(REGISTRY)}")
    overrides = overrides or {}
    if folds:
        splits = k_fold_splits(dataset.events, folds, seed=split_seed)
        protocol = f"{folds}-fold"
    else:
        splits = [split_by_name(dataset.events, protocol, seed=split_seed)]
    ranking_protocol = "sampled" if protocol == "loo-sampled" else "full"
    rows: list[ResultRow] = []
    fit_seconds: dict[str, list[float]] = {}
    chosen: dict[str, Any] = {}
    eval_s = 0.0
    for name in models:
        cls = REGISTRY[name]
        per_metric: dict[str, list[float]] = {}
        for split, seed in itertools.product(splits, seeds):
            exclude = [split.valid] if split.valid is not None else []
            base = {"seed": seed} if "seed" in inspect.signature(cls.__init__).parameters else {}
            params = model_params(name, cls, overrides, base=base)
            model, seconds = fit_model(name, params, split, dataset.items)
            if (
                protocol.startswith("loo")
                and split.valid is not None
                and isinstance(model, Observes)
            ):
                model.observe(split.valid)  # the test input includes the validation item
            fit_seconds.setdefault(name, []).append(seconds)
            chosen[name] = model.get_params()
            start = time.perf_counter()
            masked = split.train
            if protocol == "loo-hstu":  # only the latest window's items are masked
                history = EventBatch.concat([split.train, *exclude])
                masked, exclude = latest_per_user(history, HSTU_WINDOW), []
            metrics = evaluate_ranking(
                model,
                masked,
                split.test,
                k=(k,),
                exclude=exclude,
                protocol=ranking_protocol,
                seed=seed,
            )
            if issubclass(cls, PredictsRatings):
                metrics.update(evaluate_rating(model, split.test))
            eval_s += time.perf_counter() - start
            for metric, value in metrics.items():
                if metric != "n_users":
                    per_metric.setdefault(metric, []).append(float(value))
            if on_step is not None:
                on_step(name, seed)
        for metric, values in per_metric.items():
            mean, ci95 = summarize_seeds(values)
            rows.append(ResultRow(name, metric, mean, ci95, tuple(values)))
    timing = {"fit_s": sum(sum(v) for v in fit_seconds.values()), "eval_s": eval_s}
    timing.update({f"fit_s.{name}": sum(v) / len(v) for name, v in fit_seconds.items()})
    return Results(
        command=command,
        dataset=dataset.name,
        protocol=protocol,
        seeds=list(seeds),
        rows=rows,
        timing=timing,
        params=chosen,
        extra={
            "splits": [
                {
                    "name": s.name,
                    "train": len(s.train),
                    "valid": len(s.valid or []),
                    "test": len(s.test),
                    "users": len(np.unique(_all_ids(s, "user"))),
                    "items": len(np.unique(_all_ids(s, "item"))),
                }
                for s in splits
            ],
            "split_seed": split_seed,
        },
    )


def _all_ids(split: Split, column: str) -> np.ndarray:
    parts = [split.train, split.test] + ([split.valid] if split.valid is not None else [])
    return np.concatenate([getattr(part, column).astype(str) for part in parts])


def _takes(method: Callable[..., Any], keyword: str) -> bool:
    return keyword in inspect.signature(method).parameters
