"""``freshrec arena``: build the model and strategies by name, run every seed, summarize.

``--set`` overrides reach the model (``bpr.lr=0.01`` or ``model.n_factors=32``) and the
strategies by their command-line names (``finetune.epochs=5``, ``streaming.micro_batch=500``,
``full.every=2``, ``finetune-replay.replay_ratio=0.5``). ``bpr.popularity_prior=auto`` picks
a model's popularity prior on the last 10% of the warm start, per seed
(:func:`~freshrec.models.prior.choose_popularity_prior`).

A sequential model (one that observes histories: SASRec, GRU4Rec, Caser) is run with the
recipe that kept its updates from losing to a frozen model (BENCHMARKS.md, issue 18): its
popularity prior chosen that way unless ``--set`` gives one (``sasrec.popularity_prior=0``
turns it off), and every updating strategy behind :class:`~freshrec.update.guard.Guarded` (a
held-out check that rejects a harmful update); ``NAME.guard=false`` turns the check off,
``NAME.guard=true`` turns it on for any model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from freshrec.base import RecommenderBase
from freshrec.capabilities import Observes
from freshrec.config import model_params
from freshrec.data.batch import as_batch
from freshrec.data.dataset import Dataset
from freshrec.evaluation.arena import ArenaRun, run_arena
from freshrec.jobs.arena_report import arena_results
from freshrec.jobs.report import Results
from freshrec.models.prior import PriorChoice
from freshrec.update.guard import Guarded
from freshrec.update.strategies import (
    FullRetrain,
    UpdateStrategy,
    does_not_apply,
    make_strategy,
)

__all__ = ["run_arena_job"]


def run_arena_job(
    data: Dataset,
    model: str,
    strategies: Sequence[str],
    *,
    n_windows: int = 20,
    seeds: Sequence[int] = (0,),
    overrides: dict[str, dict[str, Any]] | None = None,
    warm_fraction: float = 0.5,
    k: int = 10,
    on_step: Callable[[str], None] | None = None,
    on_seed: Callable[[Results, list[ArenaRun]], object] | None = None,
) -> tuple[Results, list[ArenaRun]]:
    """Run the arena for every seed (fresh strategies each time); return summary and runs.

    ``on_seed(results, runs)`` gets the summary of the seeds done so far after each seed
    (the command writes its report then, so a stopped run keeps what it measured).

    Examples
    --------
    >>> from freshrec.data.synthetic import synthetic_stream
    >>> data = synthetic_stream(n_users=80, n_items=60, n_events=3000, seed=0)
    >>> results, runs = run_arena_job(data, "popular", ["frozen", "full"], n_windows=2)
    >>> results.row("full", "ndcg@10").value >= results.row("frozen", "ndcg@10").value
    True
    """
    from freshrec.models import REGISTRY

    if model not in REGISTRY:
        raise ValueError(f"unknown model {model!r}; choose from {sorted(REGISTRY)}")
    if not seeds:
        raise ValueError("give at least one seed")
    if len(set(strategies)) != len(strategies):
        raise ValueError(f"each strategy once, please: got {list(strategies)}")
    overrides = overrides or {}
    sequential = isinstance(REGISTRY[model](), Observes)  # built only to ask
    prior = overrides.get(model, {}).get("popularity_prior", "auto" if sequential else None)
    auto_prior = prior == "auto"
    if auto_prior:
        given = {k: v for k, v in overrides.get(model, {}).items() if k != "popularity_prior"}
        overrides = {**overrides, model: given}
    runs: list[ArenaRun] = []
    priors: dict[str, dict[str, Any]] = {}
    settled: dict[str, dict[str, Any]] = {}
    for seed in seeds:
        prototype = REGISTRY[model](**model_params(model, REGISTRY[model], overrides))
        if auto_prior:
            choice = _choose_prior(prototype, data, warm_fraction, seed)
            prototype.set_params(popularity_prior=choice.weight)
            priors[str(seed)] = {"weight": choice.weight, "tried": choice.tried}
        chosen = {name: _guarded(name, overrides, prototype, seed) for name in strategies}
        _check_applicable(chosen, prototype)
        runs.append(
            run_arena(
                data.events,
                prototype,
                chosen,
                n_windows=n_windows,
                warm_fraction=warm_fraction,
                k=k,
                seed=seed,
                on_step=on_step,
            )
        )
        settled[str(seed)] = {n: c for n, c in map(_settled, chosen.items()) if c}
        params: dict[str, Any] = {
            model: {n: v for n, v in prototype.get_params().items() if n != "seed"}
        }
        params.update({name: overrides.get(name, {}) for name in strategies})
        params.update(windows=n_windows, warm_fraction=warm_fraction)
        if priors:
            params["popularity_prior_by_seed"] = dict(priors)
        if any(settled.values()):
            params["settled_by_seed"] = dict(settled)
        done = list(seeds)[: len(runs)]
        results = arena_results(runs, done, dataset=data.name, params=dict(params), k=k)
        if on_seed:
            on_seed(results, runs)
    return results, runs


def _settled(named: tuple[str, UpdateStrategy]) -> tuple[str, dict[str, Any]]:
    """What a strategy settled during the run: the window its full retrain chose, the
    updates its guard checked and rejected."""
    name, strategy = named
    out: dict[str, Any] = {}
    if isinstance(strategy, Guarded):
        out.update(checked=strategy.checked, rejected=strategy.rejected)
        strategy = strategy.strategy
    full = strategy if isinstance(strategy, FullRetrain) else getattr(strategy, "full", None)
    if isinstance(full, FullRetrain) and full.choice is not None:
        tried = {"all" if w is None else str(w): hit for w, hit in full.choice.tried.items()}
        out.update(window=full.choice.window or "all", tried=tried, seconds=full.choice.seconds)
    return name, out


def _choose_prior(
    prototype: RecommenderBase, data: Dataset, warm_fraction: float, seed: int
) -> PriorChoice:
    """The popularity prior chosen on the warm start's last 10%, with the run's seed."""
    from freshrec.data.stream import warm_start_split
    from freshrec.models.prior import choose_popularity_prior

    if "popularity_prior" not in prototype.get_params():
        raise ValueError(f"{type(prototype).__name__} has no popularity_prior to choose")
    model = prototype.clone()
    if "seed" in model.get_params():
        model.set_params(seed=seed)
    warm, _ = warm_start_split(as_batch(data.events), warm_fraction)
    return choose_popularity_prior(model, warm)


def _check_applicable(chosen: dict[str, UpdateStrategy], model: RecommenderBase) -> None:
    """A clear error, before any work, naming each strategy that cannot update ``model``."""
    reasons = {name: does_not_apply(strategy, model) for name, strategy in chosen.items()}
    blocked = [f"{name} ({why})" for name, why in reasons.items() if why is not None]
    if blocked:
        raise ValueError(
            f"these strategies do not apply to {type(model).__name__}: {'; '.join(blocked)}. "
            "Leave them out, or choose a model that has what they need"
        )


def _guarded(
    name: str, overrides: dict[str, dict[str, Any]], model: RecommenderBase, seed: int
) -> UpdateStrategy:
    """The strategy ``name``, behind a held-out check when asked or, by default, for a
    sequential model (the frozen and adaptive ones never: nothing to check, a check of
    its own)."""
    params = _strategy_params(name, overrides, seed)
    guard = params.pop("guard", None)
    if not isinstance(guard, bool | None):
        raise ValueError(f"{name}.guard: expected true or false, got {guard!r}")
    strategy = make_strategy(name, params)
    if guard is None:
        guard = isinstance(model, Observes) and name not in ("frozen", "adaptive")
    return Guarded(strategy) if guard else strategy


def _strategy_params(name: str, overrides: dict[str, dict[str, Any]], seed: int) -> dict[str, Any]:
    params = dict(overrides.get(name, {}))
    if name in ("finetune-replay", "adaptive"):
        params.setdefault("seed", seed)  # the replay buffer's draws follow the run's seed
    return params
