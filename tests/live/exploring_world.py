"""The world of the off-policy gate's tests (tests/live/test_ope_gate.py describes it): a log
of positive events, exploring decisions served by the stable version, and the clicks after them.
"""

from __future__ import annotations

import numpy as np

from freshrec.bandits import ScorePolicy
from freshrec.data.batch import EventBatch
from freshrec.live import DecisionLog, ServedDecision
from freshrec.log import EventLog, open_log
from freshrec.models import MostPopular

POOL = ("g0", "g1", "m0", "m1", "b0", "b1")
N_ROUNDS = 300
CLOSED_S = 400.0 + N_ROUNDS + 1800.0  # every decision's default (30-minute) reward window over


def _positives(items: list[str], first_id: int, t0: float) -> EventBatch:
    n = len(items)
    return EventBatch(
        np.array([f"u{i % 50}" for i in range(n)], object),
        np.array(items, object),
        np.ones(n),
        timestamp=t0 + np.arange(n, dtype=float),
        event_id=np.arange(first_id, first_id + n),
    )


def _clicks(user: str, item: str) -> bool:
    return item[0] == "g" or (item[0] == "m" and int(user[1:]) % 2 == 0)


def exploring_world(burst_on: str, log_url: str = "memory://") -> tuple[EventLog, DecisionLog]:
    """In the log at ``log_url`` (its decisions beside it): events 1-200 (the stable
    version's), 201-400 (a burst on ``burst_on`` items, the candidate's), then exploring
    decisions from t = 400 and the 200 events after them: their clicks, then, once every
    decision's reward window has closed, other users' events on another item."""
    log = open_log(log_url)
    learned_first = ["m0", "m1"] * 90 + ["g0", "g1", "b0", "b1"] * 5
    log.append(_positives(learned_first, 0, 0.0))
    log.append(_positives([f"{burst_on}0", f"{burst_on}1"] * 100, 200, 200.0))
    stable = MostPopular().fit(_positives(learned_first, 0, 0.0))
    policy = ScorePolicy(stable, temperature=1.0, floor=0.1, seed=1)
    decisions = DecisionLog.beside(log_url)
    clicks = []
    for j in range(N_ROUNDS):
        user, at = f"u{j % 50}", 400.0 + j
        decision = policy.select(list(POOL), context=user)
        served = ServedDecision.from_decision(
            decision,
            POOL,
            recommendation_id=f"r{j}",
            user=user,
            model_version="v000001",
            timestamp=at,
        )
        decisions.record(served)
        if _clicks(user, served.items[0]):
            clicks.append((user, served.items[0], at + 5.0))
    assert len(clicks) < 200
    users, items, times = (list(column) for column in zip(*clicks, strict=True))
    n_other = 200 - len(clicks)
    users += [f"other{i}" for i in range(n_other)]
    items += ["z"] * n_other
    times += [CLOSED_S + i for i in range(n_other)]
    log.append(
        EventBatch(
            np.array(users, object),
            np.array(items, object),
            np.ones(200),
            timestamp=times,
            event_id=np.arange(400, 600),
        )
    )
    return log, decisions
