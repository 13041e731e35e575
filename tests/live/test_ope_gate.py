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

import pytest

from freshrec.live import Guard, OffPolicyGate, Registry
from freshrec.live.learner import Learner
from freshrec.models import MostPopular
from tests.live.exploring_world import N_ROUNDS, exploring_world

WINDOW_S = 60.0
GATE = OffPolicyGate(min_rounds=100, reward_window_s=WINDOW_S)
# Only the off-policy gate decides here: no limit on held-out hits, churn or item shares.
NO_LIMITS = Guard(margin=float("inf"), max_churn=1.0, max_item_share_rise=1.0)
OPE_ONLY = replace(NO_LIMITS, ope=GATE)
SETTINGS = {"micro_batch": 50, "candidate_every": 200, "guard_events": 200, "checkpoint_every": 200}


@pytest.mark.parametrize(
    ("burst_on", "guard", "promoted"),
    [("b", OPE_ONLY, False), ("g", OPE_ONLY, True), ("b", NO_LIMITS, True)],
    ids=["worse-held-back", "better-promoted", "worse-promoted-without-the-gate"],
)
def test_the_guard_holds_back_a_worse_policy_and_promotes_a_better_one(
    tmp_path: Path, burst_on: str, guard: Guard, promoted: bool
):
    log, decisions = exploring_world(burst_on)
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
    log, decisions = exploring_world("b")
    model = MostPopular().fit(log.window(log.cursor_at(0)))
    outcomes = log.window(log.cursor_at(400))
    rounds = decisions.rounds(outcomes, threshold=1.0, reward_window_s=WINDOW_S)
    verdict = OffPolicyGate(min_rounds=N_ROUNDS + 1).check(model, model, rounds)
    assert verdict.passed and verdict.metrics == {"ope_rounds": N_ROUNDS}
    assert verdict.reason == (
        f"off-policy check skipped: {N_ROUNDS} logged rounds, fewer than min_rounds (301)"
    )


def test_the_same_policy_is_never_held_back_by_its_own_noise():
    log, decisions = exploring_world("g")
    model = MostPopular().fit(log.window(log.cursor_at(0), log.cursor_at(200)))
    rounds = decisions.rounds(log.window(log.cursor_at(400)), threshold=1.0, reward_window_s=60)
    verdict = GATE.check(model, model, rounds)
    assert verdict.passed and verdict.metrics["ope_difference_se"] == 0.0
    assert verdict.metrics["candidate_dr"] == verdict.metrics["stable_dr"]
