"""run_evaluation: the loo protocols' 5-core data and the observed validation item."""

from __future__ import annotations

from freshrec.data.synthetic import synthetic_stream
from freshrec.jobs.evaluate import run_evaluation
from freshrec.models.sasrec import SASRec

TINY = {"sasrec": {"dim": 8, "max_len": 10, "n_epochs": 2}}


def test_loo_protocols_observe_the_validation_item_before_testing(monkeypatch):
    observed = []
    original = SASRec.observe

    def spy(self, events):
        observed.append(len(events))
        return original(self, events)

    monkeypatch.setattr(SASRec, "observe", spy)
    data = synthetic_stream(n_users=40, n_items=30, n_events=1200, seed=0)
    results = run_evaluation(data, ["sasrec", "popular"], "loo-full", overrides=TINY)
    split = results.extra["splits"][0]
    assert observed == [split["valid"]]  # once, for the sequential model only
    assert split["valid"] == split["test"] == split["users"] == 40
    assert {row.model for row in results.rows} == {"sasrec", "popular"}


def test_other_protocols_do_not_observe(monkeypatch):
    observed = []
    monkeypatch.setattr(SASRec, "observe", lambda self, events: observed.append(1) or self)
    data = synthetic_stream(n_users=40, n_items=30, n_events=1200, seed=0)
    run_evaluation(data, ["sasrec"], "temporal-user", overrides=TINY)
    assert observed == []
