"""The decision log: decisions kept apart from the events, read back as rounds with rewards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from freshrec.bandits import ScorePolicy
from freshrec.data.batch import EventBatch
from freshrec.live.decisions import DecisionLog, ServedDecision, decision_log_url
from freshrec.log import open_log
from freshrec.models import MostPopular
from tests.log.conftest import REDIS_URL, redis_client


def _served(rid: str, user: object, items: tuple, at: float, pool: tuple = ()) -> ServedDecision:
    pool = pool or ("a", "b", "c", "d")
    shown = np.full(len(items), 1 / len(pool))
    return ServedDecision(rid, user, items, shown, 1 / len(pool), pool, "v000001", at)


def _events(rows: list[tuple[object, object, float, float]]) -> EventBatch:
    users, items, values, times = zip(*rows, strict=True)
    return EventBatch(
        np.array(users, object), np.array(items, object), np.array(values), timestamp=times
    )


def test_rewards_are_later_positive_events_of_the_user_on_the_item_within_the_window():
    decisions = DecisionLog(open_log("memory://"))
    for rid, user, items in [
        ("in-window", "ann", ("a", "b")),
        ("too-late", "bob", ("a",)),
        ("before", "cat", ("a",)),
        ("other-user", "dan", ("a",)),
        ("second-item", "eve", ("a", "b")),
        ("too-weak", "fay", ("a",)),
    ]:
        decisions.record(_served(rid, user, items, at=100.0))
    outcomes = _events(
        [
            ("ann", "a", 1.0, 160.0),  # 60 s later: the window's last second
            ("bob", "a", 1.0, 160.5),
            ("cat", "a", 1.0, 99.0),
            ("zed", "a", 1.0, 120.0),
            ("eve", "b", 1.0, 120.0),  # a click on the slate's second item: not round's
            ("fay", "a", 0.5, 120.0),
        ]
    )
    rounds = decisions.rounds(outcomes, threshold=1.0, reward_window_s=60.0)
    assert rounds.users == ("ann", "bob", "cat", "dan", "eve", "fay")
    assert rounds.feedback.rewards.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert rounds.feedback.actions.tolist() == [0] * 6  # "a" is first in every pool
    assert np.allclose(rounds.feedback.propensities, 0.25)


def test_only_decisions_from_start_whose_window_closed_by_end_become_rounds():
    decisions = DecisionLog(open_log("memory://"))
    for at in (10.0, 20.0, 30.0, 40.0):
        decisions.record(_served(f"r{at:g}", "ann", ("a",), at))
    outcomes = _events([("ann", "a", 1.0, 35.0), ("bob", "z", 1.0, 45.0)])
    rounds = decisions.rounds(outcomes, threshold=1.0, reward_window_s=20.0, start_s=20.0)
    assert rounds.n_rounds == 1 and rounds.feedback.rewards.tolist() == [1.0]  # 20 + 20 <= 45
    assert decisions.rounds(outcomes, threshold=1.0, reward_window_s=60.0).n_rounds == 0


def test_pools_of_different_sizes_share_one_action_table():
    decisions = DecisionLog(open_log("memory://"))
    decisions.record(_served("r1", 1, (3,), 1.0, pool=(2, 3)))
    decisions.record(_served("r2", 2, (7,), 2.0, pool=(5, 6, 7)))
    rounds = decisions.rounds(_events([(1, 3, 1.0, 2.0)]), threshold=1.0, end_s=1e9)
    assert rounds.feedback.actions.tolist() == [1, 2] and rounds.feedback.n_actions == 3
    assert rounds.feedback.candidates.tolist() == [[True, True, False], [True, True, True]]
    assert rounds.feedback.rewards.tolist() == [1.0, 0.0]
    model = MostPopular().fit(_events([(1, 2, 1.0, 0.0), (1, 6, 1.0, 0.0), (2, 6, 1.0, 0.0)]))
    table = rounds.action_dist(ScorePolicy(model))
    assert table.shape == (2, 3, 1) and table[0, 2, 0] == 0.0
    assert np.allclose(table.sum(axis=1), 1.0)


@pytest.fixture(params=["sqlite", "redis"])
def event_log_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an event log, whose decision log the test opens beside it (the Redis
    keys it makes are deleted afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
        return
    from freshrec.log.redis_streams import RedisKeys

    client = redis_client()
    prefix = f"freshrec-test:{uuid.uuid4().hex}"
    try:
        yield f"{REDIS_URL}?prefix={prefix}"
    finally:
        client.delete(*RedisKeys.under(f"{prefix}:decisions").all())
        client.close()


def test_decisions_round_trip_beside_the_event_log_with_their_ids_types(event_log_url: str):
    decisions = DecisionLog.beside(event_log_url)
    served = ServedDecision(
        "r1", 7, ("x", 3), np.array([0.4, 0.35]), 0.4, (3, "x", "7"), "v000002", 12.5
    )
    assert decisions.record(served) and not decisions.record(served)  # once per id
    decisions.close()
    [read] = DecisionLog.beside(event_log_url).decisions()
    assert (read.recommendation_id, read.user, read.items, read.pool) == (
        "r1",
        7,
        ("x", 3),
        (3, "x", "7"),
    )
    assert read.propensities.tolist() == [0.4, 0.35] and read.first_propensity == 0.4
    assert (read.model_version, read.timestamp) == ("v000002", 12.5)
    with open_log(event_log_url) as events:
        assert len(events) == 0  # nothing in the event log itself


@pytest.mark.parametrize(
    ("log_url", "beside"),
    [
        ("sqlite:///data/events.db", "sqlite:///data/events.decisions.db"),
        ("redis://h:6379/0", "redis://h:6379/0?prefix=freshrec%3Alog%3Adecisions"),
        ("redis://h:6379/0?prefix=shop", "redis://h:6379/0?prefix=shop%3Adecisions"),
    ],
)
def test_the_decision_log_lives_beside_the_event_log(log_url: str, beside: str):
    assert decision_log_url(log_url) == beside


def test_a_decision_names_its_bad_field():
    with pytest.raises(ValueError, match="propensities: one per item"):
        ServedDecision("r", "ann", ("a", "b"), np.array([0.5]), 0.5, ("a", "b"), "v1", 0.0)
    with pytest.raises(ValueError, match=r"first_propensity: must be in \(0, 1\]"):
        ServedDecision("r", "ann", ("a",), np.array([0.5]), 0.0, ("a", "b"), "v1", 0.0)
