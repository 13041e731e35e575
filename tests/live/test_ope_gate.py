"""OPE-gated promotion (issue 20, item 4): on logged exploring decisions and the clicks that
followed, a candidate whose policy is worth less than the stable version's is held back and
one worth more is promoted.

The world: users always click the "g" items when shown them, the "m" items half the time
(even users) and the "b" items never. The stable version learned that "m" items are popular;
a candidate then learned a burst on the "b" items (worse) or on the "g" items (better). The
service explored with the stable version (softmax with a floor of 0.1 over all six items)
after the candidate was cut, and the clicks came within a minute.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from freshrec.bandits import ScorePolicy
from freshrec.data.batch import EventBatch
from freshrec.live import DecisionLog, Guard, OffPolicyGate, Registry, ServedDecision
from freshrec.live.learner import Learner
from freshrec.log import EventLog, open_log
from freshrec.models import MostPopular

POOL = ("g0", "g1", "m0", "m1", "b0", "b1")
N_ROUNDS = 300
WINDOW_S = 60.0
GATE = OffPolicyGate(min_rounds=100, reward_window_s=WINDOW_S)
# Only the off-policy gate decides here: no limit on held-out hits, churn or item shares.
NO_LIMITS = Guard(margin=float("inf"), max_churn=1.0, max_item_share_rise=1.0)
OPE_ONLY = replace(NO_LIMITS, ope=GATE)
SETTINGS = {"micro_batch": 50, "candidate_every": 200, "guard_events": 200, "checkpoint_every": 200}


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


def _world(burst_on: str) -> tuple[EventLog, DecisionLog]:
    """Events 1-200 (the stable version's), 201-400 (a burst on ``burst_on`` items, the
    candidate's), then exploring decisions from t = 400 and the 200 events after them:
    their clicks, then other users' events on another item."""
    log = open_log("memory://")
    learned_first = ["m0", "m1"] * 90 + ["g0", "g1", "b0", "b1"] * 5
    log.append(_positives(learned_first, 0, 0.0))
    log.append(_positives([f"{burst_on}0", f"{burst_on}1"] * 100, 200, 200.0))
    stable = MostPopular().fit(_positives(learned_first, 0, 0.0))
    policy = ScorePolicy(stable, temperature=1.0, floor=0.1, seed=1)
    decisions = DecisionLog(open_log("memory://"))
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
    times += [800.0 + i for i in range(n_other)]
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


@pytest.mark.parametrize(
    ("burst_on", "guard", "promoted"),
    [("b", OPE_ONLY, False), ("g", OPE_ONLY, True), ("b", NO_LIMITS, True)],
    ids=["worse-held-back", "better-promoted", "worse-promoted-without-the-gate"],
)
def test_the_guard_holds_back_a_worse_policy_and_promotes_a_better_one(
    tmp_path: Path, burst_on: str, guard: Guard, promoted: bool
):
    log, decisions = _world(burst_on)
    registry = Registry(tmp_path / "registry")
    learner = Learner(log, registry, MostPopular(), guard=guard, decisions=decisions, **SETTINGS)
    learner.run()
    journal = registry.journal()
    [check] = [r for r in journal if r["version"] == "v000002" and r["action"] != "publish"]
    assert check["action"] == ("promote" if promoted else "reject")
    assert registry.labels()["stable"] == ("v000002" if promoted else "v000001")
    if guard.ope is None:
        assert "ope_rounds" not in check["metrics"]
        return
    metrics = check["metrics"]
    assert metrics["ope_rounds"] == N_ROUNDS
    assert abs(metrics["stable_dr"] - 0.5) < 0.15  # the "m" items: clicked half the time
    if promoted:
        assert abs(metrics["candidate_dr"] - 1.0) < 0.15  # the "g" items: always clicked
        assert metrics["candidate_dr"] - metrics["stable_dr"] > 5 * metrics["ope_difference_se"]
        assert "off-policy value" in check["reason"]
    else:
        assert abs(metrics["candidate_dr"]) < 0.15  # the "b" items: never clicked
        assert metrics["stable_dr"] - metrics["candidate_dr"] > 5 * metrics["ope_difference_se"]
        assert check["reason"].startswith("off-policy value")


def test_few_rounds_pass_and_say_why():
    log, decisions = _world("b")
    model = MostPopular().fit(log.window(log.cursor_at(0)))
    outcomes = log.window(log.cursor_at(400))
    rounds = decisions.rounds(outcomes, threshold=1.0, reward_window_s=WINDOW_S)
    verdict = OffPolicyGate(min_rounds=N_ROUNDS + 1).check(model, model, rounds)
    assert verdict.passed and verdict.metrics == {"ope_rounds": N_ROUNDS}
    assert verdict.reason == (
        f"off-policy check skipped: {N_ROUNDS} logged rounds, fewer than min_rounds (301)"
    )


def test_the_same_policy_is_never_held_back_by_its_own_noise():
    log, decisions = _world("g")
    model = MostPopular().fit(log.window(log.cursor_at(0), log.cursor_at(200)))
    rounds = decisions.rounds(log.window(log.cursor_at(400)), threshold=1.0, reward_window_s=60)
    verdict = GATE.check(model, model, rounds)
    assert verdict.passed and verdict.metrics["ope_difference_se"] == 0.0
    assert verdict.metrics["candidate_dr"] == verdict.metrics["stable_dr"]
