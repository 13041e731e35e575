"""The demo's live part: the embedded service serving while it learns from a replayed stream.

It starts :class:`~freshrec.serving.embedded.EmbeddedService` (SQLite log, registry, learner
thread) under ``out/live-data`` behind uvicorn on a free loopback port, replays a slice of the
stream through :class:`~freshrec.serving.Client` in batches, asks for recommendations after
each batch, and measures two things from the client's side: request latency, and freshness
(from posting a user's event to the first answer whose ``user_cursor`` covers it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.persist import atomic_write_text

__all__ = ["LiveReport", "run_live_demo"]


@dataclass(frozen=True)
class LiveReport:
    """What the live part measured (latencies in milliseconds).

    Examples
    --------
    >>> LiveReport(100, 100, 2, 1.0, 2.0, 3.0, 4.0, 10, "v000002", 0).events_accepted
    100
    """

    events_sent: int
    events_accepted: int
    versions_promoted: int
    recommend_p50_ms: float
    recommend_p99_ms: float
    freshness_p50_ms: float
    freshness_p99_ms: float
    freshness_trials: int
    serving_version: str | None
    learner_lag: int | None

    def rows(self) -> list[tuple[str, str]]:
        """(what, figure) pairs for a printed table."""
        return [
            ("events replayed (accepted)", f"{self.events_sent:,} ({self.events_accepted:,})"),
            ("versions promoted by the guard", str(self.versions_promoted)),
            ("serving version", self.serving_version or "-"),
            ("recommendation latency p50 / p99", _ms(self.recommend_p50_ms, self.recommend_p99_ms)),
            (
                f"freshness p50 / p99 ({self.freshness_trials} users)",
                _ms(self.freshness_p50_ms, self.freshness_p99_ms),
            ),
            (
                "learner lag at the end (events)",
                "-" if self.learner_lag is None else f"{self.learner_lag:,}",
            ),
        ]


def _ms(p50: float, p99: float) -> str:
    return f"{p50:.1f} / {p99:.1f} ms"


def run_live_demo(
    events: Events,
    out: Path,
    *,
    model: str = "bpr",
    n_events: int = 6_000,
    batch: int = 100,
    settings: dict[str, Any] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> LiveReport:
    """Serve ``model`` from an empty service under ``out`` while the first ``n_events`` of
    ``events`` (time order) are posted in batches of ``batch``; write ``out/live.json``.
    ``settings``: the learner's (:class:`~freshrec.serving.embedded.EmbeddedService`);
    ``on_batch`` is called with the events sent so far.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.checks import checkerboard_events
    >>> report = run_live_demo(checkerboard_events(), Path(tempfile.mkdtemp()), n_events=192,
    ...                        batch=32, settings={"candidate_every": 64, "guard_events": 32,
    ...                        "micro_batch": 32, "checkpoint_every": 64})
    >>> report.events_sent, report.events_accepted
    (192, 192)
    """
    from freshrec.serving.client import Client
    from freshrec.serving.embedded import EmbeddedService
    from freshrec.serving.run import serve_in_thread

    stream = as_batch(events).sort_by_time()[:n_events]
    stream = stream.with_columns(event_id=np.arange(len(stream), dtype=np.int64))
    latencies: list[float] = []
    freshness: list[float] = []
    accepted = 0
    service = EmbeddedService(out / "live-data", model, **(settings or {}))
    assert service.learner is not None
    first_version = service.learner.candidate_every + service.learner.guard_events
    with service, serve_in_thread(service.app()) as url, Client(url) as client:
        for start in range(0, len(stream), batch):
            part = stream[start : start + batch]
            posted_at = time.perf_counter()
            answer = client.send_events(part)
            accepted += int(answer["accepted"])
            if start + len(part) >= first_version:  # the learner has what it needs for one
                _wait_until_ready(client)
            if client.request("GET", "/readyz")[0] == 200:  # a first version serves
                freshness.append(_until_fresh(client, part, int(answer["cursor"]), posted_at))
                began = time.perf_counter()
                client.recommend(_plain(part.user[0]), k=10)
                latencies.append((time.perf_counter() - began) * 1000)
            if on_batch is not None:
                on_batch(start + len(part))
        models = client.models()
        lag = service.learner_lag()
    promoted = sum(1 for r in service.store.registry.journal() if r["action"] == "promote")
    report = LiveReport(
        len(stream),
        accepted,
        promoted,
        *_p50_p99(latencies),
        *_p50_p99(freshness),
        len(freshness),
        models["serving"],
        lag,
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "live.json", json.dumps(asdict(report), indent=2))
    return report


def _wait_until_ready(client: Any, timeout_s: float = 120.0) -> None:
    """Wait for the learner's first version to serve (the replay is faster than learning)."""
    deadline = time.perf_counter() + timeout_s
    while client.request("GET", "/readyz")[0] != 200:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"no version served {timeout_s:.0f} s after the events it needs")
        time.sleep(0.05)


def _until_fresh(client: Any, part: EventBatch, cursor: int, posted_at: float) -> float:
    """Milliseconds from posting ``part`` until its last user's answer covers ``cursor``."""
    user = _plain(part.user[-1])
    deadline = posted_at + 10.0
    while time.perf_counter() < deadline:
        if int(client.recommend(user, k=10)["user_cursor"]) >= cursor:
            break
        time.sleep(0.002)
    return (time.perf_counter() - posted_at) * 1000


def _p50_p99(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
