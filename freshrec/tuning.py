"""Hyperparameter search on a validation split (Optuna, extra ``[tune]``).

The search never looks at test events: the training part of the chosen protocol is split
again (its validation part when the protocol has one, else each user's last 20% by time),
models are fitted on the rest and scored by NDCG@k on the validation events.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from freshrec.data.batch import EventBatch
from freshrec.data.dataset import Dataset
from freshrec.data.splits import split_by_name, temporal_user_split
from freshrec.evaluation.protocols import evaluate_ranking
from freshrec.evaluation.results import ResultRow
from freshrec.jobs.report import Results
from freshrec.models import REGISTRY

__all__ = ["SEARCH_SPACES", "TuneResult", "Trial", "tune"]

# name -> (kind, *bounds): ("float", low, high, log), ("int", low, high, log), ("choice", options)
SEARCH_SPACES: dict[str, dict[str, tuple[Any, ...]]] = {
    "popular": {"half_life_s": ("float", 3600.0, 3.2e7, True)},
    "item-knn": {"n_neighbors": ("int", 10, 500, True), "shrink": ("float", 0.0, 100.0, False)},
    "user-knn": {"n_neighbors": ("int", 10, 500, True), "shrink": ("float", 0.0, 100.0, False)},
    "biased-mf": {
        "n_factors": ("choice", (8, 16, 32, 64)),
        "lr": ("float", 1e-3, 5e-2, True),
        "l2_latent": ("float", 1e-3, 0.5, True),
        "n_epochs": ("int", 5, 40, False),
    },
    "bpr": {
        "n_factors": ("choice", (32, 64, 128)),
        "lr": ("float", 5e-3, 0.1, True),
        "l2": ("float", 1e-4, 0.1, True),
        "n_epochs": ("int", 10, 100, False),
    },
    "als": {
        "n_factors": ("choice", (32, 64, 128)),
        "alpha": ("float", 0.5, 40.0, True),
        "l2": ("float", 1e-2, 100.0, True),
        "n_iterations": ("int", 5, 30, False),
    },
}


@dataclass(frozen=True)
class Trial:
    """One evaluated setting.

    Examples
    --------
    >>> Trial(0, {"shrink": 10.0}, 0.21, 1.5).value
    0.21
    """

    number: int
    params: Mapping[str, Any]
    value: float
    seconds: float


@dataclass(frozen=True)
class TuneResult:
    """The best setting found and every trial, in order.

    Examples
    --------
    >>> trials = (Trial(0, {"l2": 0.1}, 0.2, 1.0), Trial(1, {"l2": 0.01}, 0.3, 1.0))
    >>> result = TuneResult("bpr", "valid ndcg@10", {"l2": 0.01}, 0.3, trials)
    >>> result.to_results("ml-1m", "random").rows[0].value
    0.3
    >>> result.plot()[:4]
    b'\x89PNG'
    """

    model: str
    metric: str
    best_params: Mapping[str, Any]
    best_value: float
    trials: tuple[Trial, ...] = field(default_factory=tuple)

    def to_results(self, dataset: str, protocol: str) -> Results:
        """The search as a :class:`~freshrec.jobs.report.Results` (best value, trials)."""
        values = [t.value for t in self.trials]
        row = ResultRow(self.model, self.metric, self.best_value, (min(values), max(values)), ())
        trials = [
            {"number": t.number, "params": dict(t.params), "value": t.value, "seconds": t.seconds}
            for t in self.trials
        ]
        return Results(
            command="tune",
            dataset=dataset,
            protocol=protocol,
            seeds=[],
            rows=[row],
            timing={"fit_s": sum(t.seconds for t in self.trials)},
            params={self.model: dict(self.best_params)},
            extra={"trials": trials, "ci95": "min and max over the trials"},
        )

    def plot(self) -> bytes:
        """PNG bytes: each trial's validation metric and the best so far."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.0, 3.5), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        numbers = [t.number for t in self.trials]
        values = [t.value for t in self.trials]
        best = [max(values[: i + 1]) for i in range(len(values))]
        ax.plot(numbers, values, "o", alpha=0.6, label="trial")
        ax.step(numbers, best, where="post", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(self.metric)
        ax.set_title(f"tuning {self.model}")
        ax.legend()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=120)
        return buffer.getvalue()


def tune(
    dataset: Dataset,
    model: str,
    *,
    protocol: str = "temporal-user",
    n_trials: int = 20,
    k: int = 10,
    seed: int = 0,
    fixed: Mapping[str, Any] | None = None,
    on_trial: Callable[[Trial], None] | None = None,
) -> TuneResult:
    """Search ``model``'s :data:`SEARCH_SPACES` with Optuna's seeded TPE sampler.

    ``fixed`` parameters are passed to every trial unchanged (e.g. from ``--set``).

    Examples
    --------
    >>> from freshrec.data.synthetic import synthetic_stream
    >>> data = synthetic_stream(n_users=60, n_items=40, n_events=1500, seed=0)
    >>> result = tune(data, "item-knn", n_trials=3)
    >>> len(result.trials), sorted(result.best_params)
    (3, ['n_neighbors', 'shrink'])
    """
    try:
        import optuna
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("tuning needs Optuna: pip install 'freshrec[tune]'") from err
    if model not in SEARCH_SPACES:
        raise ValueError(f"no search space for {model!r}; tunable: {sorted(SEARCH_SPACES)}")
    train, valid = _tuning_split(dataset.events, protocol, seed)
    space, cls = SEARCH_SPACES[model], REGISTRY[model]
    trials: list[Trial] = []

    def objective(trial: optuna.Trial) -> float:
        params = {name: _suggest(trial, name, spec) for name, spec in space.items()}
        start = time.perf_counter()
        fitted = cls(**{**(fixed or {}), **params}).fit(train)
        value = float(evaluate_ranking(fitted, train, valid, k=k, metrics=("ndcg",))[f"ndcg@{k}"])
        done = Trial(trial.number, params, value, time.perf_counter() - start)
        trials.append(done)
        if on_trial is not None:
            on_trial(done)
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials)
    best = max(trials, key=lambda t: t.value)
    return TuneResult(model, f"valid ndcg@{k}", dict(best.params), best.value, tuple(trials))


def _tuning_split(events: EventBatch, protocol: str, seed: int) -> tuple[EventBatch, EventBatch]:
    split = split_by_name(events, protocol, seed=seed)
    if split.valid is not None and len(split.valid):
        return split.train, split.valid
    inner = temporal_user_split(split.train, test_ratio=0.2)
    return inner.train, inner.test


def _suggest(trial: Any, name: str, spec: tuple[Any, ...]) -> Any:
    kind = spec[0]
    if kind == "float":
        return trial.suggest_float(name, spec[1], spec[2], log=spec[3])
    if kind == "int":
        return trial.suggest_int(name, spec[1], spec[2], log=spec[3])
    return trial.suggest_categorical(name, list(spec[1]))
