"""The guard's checks: hits lost with significance, churn, an item pushed by new accounts."""

from __future__ import annotations

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.live.guard import Guard
from freshrec.models import MostPopular


def _events(users: list[str], items: list[str]) -> EventBatch:
    return EventBatch(
        np.array(users, dtype=object), np.array(items, dtype=object), np.ones(len(users))
    )


BASE = _events([f"u{i % 40}" for i in range(400)], [f"i{i % 25}" for i in range(400)])


def _pushed_by(users: list[str]) -> tuple[MostPopular, MostPopular, EventBatch]:
    stable = MostPopular().fit(BASE)
    burst = _events(users, ["pushed"] * len(users))
    candidate = MostPopular().fit(EventBatch.concat([BASE, burst]))
    return stable, candidate, burst


def test_an_item_pushed_into_every_list_by_single_minded_accounts_is_rejected():
    stable, candidate, burst = _pushed_by([f"bot{i % 30}" for i in range(300)])
    empty = EventBatch.empty()
    verdict = Guard().check(candidate, stable, empty, empty, learned=lambda: burst)
    assert not verdict.passed
    assert "'pushed'" in verdict.reason and "100% of its new positives" in verdict.reason
    assert verdict.metrics["item_share_rise"] == 1.0


def test_the_same_rise_among_people_who_do_other_things_passes():
    stable, candidate, burst = _pushed_by([f"fan{i % 30}" for i in range(300)])
    elsewhere = _events([f"fan{i % 30}" for i in range(900)], [f"i{i % 25}" for i in range(900)])
    empty = EventBatch.empty()
    learned = EventBatch.concat([burst, elsewhere])  # each fan: 10 on it, 30 on other items
    verdict = Guard().check(candidate, stable, empty, empty, learned=lambda: learned)
    assert verdict.passed and verdict.metrics["item_share_rise_from_single_item_users"] == 0.0


def test_a_significant_loss_of_hits_rejects_and_noise_does_not():
    stable = MostPopular().fit(BASE)
    held_out = _events([f"u{i}" for i in range(40)], ["i0"] * 40)  # everyone's next item: i0
    worse = MostPopular().fit(
        EventBatch.concat([BASE, _events(["x"] * 240, [f"j{i}" for i in range(12)] * 20)])
    )
    verdict = Guard().compare(worse, stable, held_out, EventBatch.empty())
    lost, gained = verdict.metrics["hits_lost"], verdict.metrics["hits_gained"]
    assert not verdict.passed and lost - gained > 2 * np.sqrt(lost + gained)
    same = Guard().compare(stable, stable, held_out, EventBatch.empty())
    assert same.passed and same.metrics["hits_lost"] == 0
