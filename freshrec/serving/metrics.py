"""Prometheus metrics of one service: its own collector registry, so two apps in one process
(tests) count apart; and the recent :class:`~freshrec.serving.history.History` the dashboard
draws.

Examples
--------
>>> metrics = Metrics()
>>> metrics.events.labels(outcome="accepted").inc(3)
>>> b'freshrec_events_total{outcome="accepted"} 3.0' in metrics.render()
True
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from freshrec.serving.history import History

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The service's counters, gauges and latency histograms, and its recent history.

    Examples
    --------
    >>> metrics = Metrics()
    >>> metrics.learner_lag.set(12)
    >>> b"freshrec_learner_lag_events 12.0" in metrics.render()
    True
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "freshrec_request_seconds",
            "Time to answer a request, by route and status.",
            ("method", "route", "status"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "freshrec_events",
            "Events posted, by outcome (accepted, duplicate, rejected).",
            ("outcome",),
            registry=self.registry,
        )
        self.learner_lag = Gauge(
            "freshrec_learner_lag_events",
            "Events in the log the learner has not learned.",
            registry=self.registry,
        )
        self.user_state_lag = Gauge(
            "freshrec_user_state_lag_events",
            "Events in the log not yet folded into the serving model's users.",
            registry=self.registry,
        )
        self.serving = Gauge(
            "freshrec_serving_version",
            "The version being served (value 1 on its label).",
            ("version",),
            registry=self.registry,
        )
        self.guard = Gauge(
            "freshrec_guard_decisions",
            "The registry journal's decisions so far (promote, reject, rollback).",
            ("decision",),
            registry=self.registry,
        )
        self.refused = Gauge(
            "freshrec_versions_refused",
            "Stable versions the server refused to load (checksum, shape, non-finite).",
            registry=self.registry,
        )
        self.history = History()  # one sample a second for ten minutes: the dashboard's

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
