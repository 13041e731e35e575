"""``freshrec learn``: build the model and strategy by name and run the learner on a log.

``--set`` overrides reach the model (``bpr.lr=0.01``, ``model.n_factors=32``) and the
strategy by its command-line name (``streaming.epochs=2``, ``finetune.lr=0.01``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from freshrec.config import model_params
from freshrec.live.decisions import DecisionLog
from freshrec.live.guard import Guard
from freshrec.live.learner import Learner, LearnerStatus
from freshrec.live.ope_gate import OffPolicyGate
from freshrec.live.registry import Registry
from freshrec.log import open_log
from freshrec.models import REGISTRY
from freshrec.update.strategies import does_not_apply, make_strategy

__all__ = ["make_learner", "run_learner"]


def make_learner(
    log_url: str,
    registry_dir: Path,
    model: str,
    strategy: str = "streaming",
    *,
    overrides: dict[str, dict[str, Any]] | None = None,
    micro_batch: int = 1000,
    candidate_every: int = 100_000,
    guard_events: int = 25_000,
    checkpoint_every: int = 10_000,
    margin: float = 0.02,
    max_user_events: int | None = None,
    ope: OffPolicyGate | None = None,
    decisions: DecisionLog | None = None,
) -> Learner:
    """A learner of model ``model`` (a registered name, ``--set`` style ``overrides``) on
    the log at ``log_url`` through ``strategy``, publishing to ``registry_dir``; it resumes
    from the registry's latest checkpoint when there is one. With ``ope`` and ``decisions``
    its guard also values each candidate off-policy on the logged exploring decisions.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> learner = make_learner(f"sqlite:///{folder / 'events.db'}", folder / "registry", "bpr")
    >>> type(learner.model).__name__, learner.status().position
    ('BPR', 0)
    """
    overrides = overrides or {}
    if model not in REGISTRY:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(sorted(REGISTRY))}")
    built = REGISTRY[model](**model_params(model, REGISTRY[model], overrides))
    params = dict(overrides.get(strategy, {}))
    if strategy == "streaming":
        params.setdefault("micro_batch", micro_batch)
    chosen = make_strategy(strategy, params)
    why = does_not_apply(chosen, built)
    if why is not None:
        raise ValueError(f"strategy {strategy!r} does not apply to {type(built).__name__}: {why}")
    return Learner(
        open_log(log_url),
        Registry(registry_dir),
        built,
        strategy=chosen,
        micro_batch=micro_batch,
        candidate_every=candidate_every,
        guard_events=guard_events,
        checkpoint_every=checkpoint_every,
        guard=Guard(margin=margin, max_user_events=max_user_events, ope=ope),
        decisions=decisions,
    )


def run_learner(
    log_url: str,
    registry_dir: Path,
    model: str,
    strategy: str = "streaming",
    *,
    max_events: int | None = None,
    follow: bool = False,
    on_status: Callable[[LearnerStatus], None] | None = None,
    consumer: str | None = None,
    lease_ms: int = 5_000,
    stall_ms: int | None = None,
    on_active: Callable[[Learner], None] | None = None,
    **settings: Any,
) -> tuple[Learner, LearnerStatus]:
    """Learn model ``model`` from the log at ``log_url`` through ``strategy``, publishing to
    ``registry_dir`` (``settings``: those of :func:`make_learner`); resume from the
    registry's latest checkpoint when there is one.

    With ``consumer`` (a Redis Streams log only), join the model's consumer group under that
    name and learn only while holding its lease (``lease_ms``): the active learner; any
    other learner started so is a standby that takes over when the lease expires, or when
    the active one has not finished a micro-batch (or polled the log's head) for ``stall_ms``
    (default ``12 * lease_ms``)
    (:func:`~freshrec.live.standby.run_active_or_standby`). ``on_active`` is called with the
    learner once it is built (with ``consumer``: once it holds the lease).

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.checks import checkerboard_events
    >>> folder = Path(tempfile.mkdtemp())
    >>> log = open_log(f"sqlite:///{folder / 'events.db'}")
    >>> _ = log.append(checkerboard_events())
    >>> learner, status = run_learner(f"sqlite:///{folder / 'events.db'}", folder / "registry",
    ...     "popular", micro_batch=32, candidate_every=64, guard_events=32, checkpoint_every=64)
    >>> status.position, status.lag
    (192, 0)
    >>> [(r["action"], r["version"]) for r in learner.registry.journal()][:4]
    [('publish', 'v000001'), ('promote', 'v000001'), ('publish', 'v000002'), ('promote', 'v000002')]
    """
    if consumer is None:
        learner = make_learner(log_url, registry_dir, model, strategy, **settings)
        if on_active is not None:
            on_active(learner)
        status = learner.run(max_events=max_events, follow=follow, on_status=on_status)
        return learner, status
    from freshrec.live.standby import StreamGroup, run_active_or_standby

    group = StreamGroup(open_log(log_url), model, consumer=consumer, lease_ms=lease_ms)
    built: list[Learner] = []

    def make() -> Learner:
        built.append(make_learner(log_url, registry_dir, model, strategy, **settings))
        if on_active is not None:
            on_active(built[0])
        return built[0]

    status = run_active_or_standby(
        make, group, max_events=max_events, follow=follow, on_status=on_status, stall_ms=stall_ms
    )
    return built[0], status
