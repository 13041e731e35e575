"""``freshrec ope``: judge a bandit policy on logged data before it goes live.

The logged rounds (events that carry propensities, such as the Open Bandit Dataset's) are
split in time: the policy, built by name, learns from the first ``learn_share`` of them (each
logged item and its reward; a context-free policy's per-arm estimates need nothing else),
then stops learning, and its value on the later rounds is estimated off-policy by each
method of :mod:`freshrec.evaluation.ope` with bootstrap intervals. The logging policy's own
mean reward on those rounds is reported beside it (its on-policy value). With positions
(slates), the policy's per-position probabilities are its Plackett-Luce marginals.

"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from freshrec.config import model_params
from freshrec.data.dataset import Dataset
from freshrec.data.logged import LoggedFeedback
from freshrec.evaluation.results import ResultRow
from freshrec.jobs.report import Results

__all__ = ["POLICY_NAMES", "build_policy", "run_ope_job"]

POLICY_NAMES = ("uniform", "epsilon-greedy", "ucb1", "thompson", "gaussian-ts", "exp3", "softmax")
"""Context-free policies ``freshrec ope`` builds by name (``uniform``: epsilon-greedy with
epsilon 1)."""


def build_policy(name: str, overrides: dict[str, dict[str, Any]] | None = None) -> Any:
    """The policy called ``name`` with its ``--set name.param=value`` overrides.

    Examples
    --------
    >>> build_policy("thompson", {"thompson": {"alpha": 2.0}}).alpha
    2.0
    >>> build_policy("uniform").epsilon
    1.0
    """
    from freshrec.bandits import UCB1, BernoulliTS, EpsilonGreedy, Exp3, GaussianTS, Softmax

    classes: dict[str, tuple[type, dict[str, Any]]] = {
        "uniform": (EpsilonGreedy, {"epsilon": 1.0}),
        "epsilon-greedy": (EpsilonGreedy, {}),
        "ucb1": (UCB1, {}),
        "thompson": (BernoulliTS, {}),
        "gaussian-ts": (GaussianTS, {}),
        "exp3": (Exp3, {}),
        "softmax": (Softmax, {}),
    }
    if name not in classes:
        raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICY_NAMES)}")
    cls, base = classes[name]
    return cls(**model_params(name, cls, overrides or {}, base=base))


def run_ope_job(
    data: Dataset,
    policy: str,
    *,
    overrides: dict[str, dict[str, Any]] | None = None,
    learn_share: float = 0.5,
    methods: Sequence[str] = ("ips", "snips", "dm", "dr", "switch-dr"),
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Results:
    """Learn ``policy`` on the first ``learn_share`` of the logged rounds, estimate its value
    on the rest (see the module doc); one row per method, the interval as ``ci95``.

    Examples
    --------
    >>> from freshrec.data.batch import EventBatch
    >>> rng = np.random.default_rng(0)
    >>> items = rng.integers(0, 4, 2000)  # a uniform logging policy; item 3 pays most
    >>> clicks = (rng.random(2000) < 0.1 + 0.2 * (items == 3)).astype(float)
    >>> logged = EventBatch(np.arange(2000), items, clicks, timestamp=np.arange(2000.0),
    ...                     propensity=np.full(2000, 0.25))
    >>> results = run_ope_job(Dataset("toy", logged), "thompson", n_bootstrap=100)
    >>> results.row("thompson", "dr").value > results.row("logging policy", "on-policy").value
    True
    """
    from freshrec.evaluation.ope import estimate, fit_reward_model

    if not 0.0 <= learn_share < 1.0:
        raise ValueError(f"learn_share must be in [0, 1), got {learn_share}")
    events = data.events.sort_by_time()
    items = sorted(set(events.item.tolist()), key=repr)
    feedback = LoggedFeedback.from_events(events, items)
    cut = int(round(len(events) * learn_share))
    built = build_policy(policy, overrides)
    start = time.perf_counter()
    for item, reward in zip(events.item[:cut].tolist(), events.value[:cut].tolist(), strict=True):
        built.update(item, float(reward))
    learn_s = time.perf_counter() - start
    later = _rounds(feedback, slice(cut, None))
    if not later.n_rounds:
        raise ValueError(f"no rounds left to evaluate after learning from {cut} of them")
    action_dist = _action_dist(built, items, later, seed)
    estimated = fit_reward_model(later, seed=seed)
    found = estimate(
        later, action_dist, estimated, methods=methods, n_bootstrap=n_bootstrap, seed=seed
    )
    rows = [
        ResultRow(policy, name, e.value, (e.low, e.high), (e.value,)) for name, e in found.items()
    ]
    logged = later.rewards
    half = 1.96 * float(logged.std(ddof=1)) / np.sqrt(len(logged)) if len(logged) > 1 else 0.0
    mean = float(logged.mean())
    rows.append(ResultRow("logging policy", "on-policy", mean, (mean - half, mean + half), (mean,)))
    return Results(
        "ope",
        data.name,
        f"off-policy: learn on the first {learn_share:.0%} of rounds, estimate on the rest",
        [seed],
        rows,
        timing={"learn_s": learn_s, "estimate_s": time.perf_counter() - start - learn_s},
        params={
            policy: built.get_params(),
            "learn_share": learn_share,
            "rounds_learned": cut,
            "rounds_evaluated": later.n_rounds,
            "n_actions": len(items),
            "len_list": later.len_list,
            "n_bootstrap": n_bootstrap,
        },
    )


def _rounds(feedback: LoggedFeedback, rows: slice) -> LoggedFeedback:
    return LoggedFeedback(
        feedback.actions[rows],
        feedback.rewards[rows],
        feedback.propensities[rows],
        feedback.n_actions,
        positions=feedback.positions[rows],
        len_list=feedback.len_list,
    )


def _action_dist(policy: Any, items: list[Any], rounds: LoggedFeedback, seed: int) -> np.ndarray:
    """The frozen context-free policy's probability of each item at each slot, repeated for
    every round: its distribution at slot 0, Plackett-Luce marginals at the others."""
    from freshrec.bandits.slates import draw_slate

    distribution = policy.probabilities(items)
    if rounds.len_list == 1:
        per_slot = distribution[:, None]
    else:
        rng = np.random.default_rng(seed)
        _, marginals = draw_slate(distribution, rounds.len_list, policy.n_draws, rng)
        marginals[0] = distribution  # exact at the first slot; Monte Carlo after it
        per_slot = marginals.T
    return np.broadcast_to(per_slot, (rounds.n_rounds, *per_slot.shape))
