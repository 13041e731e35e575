"""run_evaluation: the loo protocols' 5-core data and the observed validation item."""

from __future__ import annotations

from freshrec.data import Event, EventBatch
from freshrec.data.dataset import Dataset
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


def test_loo_hstu_masks_only_the_latest_window(monkeypatch):
    """A user who comes back to an item seen before the window is a hit; inside it, masked."""
    others = [Event(f"o{u}", "a", 1.0, float(t)) for u in range(6) for t in range(3)]
    others += [Event(f"o{u}", f"x{u}{t}", 1.0, 10.0 + t) for u in range(6) for t in range(3)]
    back = [Event("me", item, 1.0, float(t)) for t, item in enumerate(["a", "b", "c", "a"])]
    data = Dataset(name="toy", events=EventBatch.from_events(others + back))
    hit_rates = []
    for window in (2, 10):  # me's history before the test: a, b, c
        monkeypatch.setattr("freshrec.jobs.evaluate.HSTU_WINDOW", window)
        results = run_evaluation(data, ["popular"], "loo-hstu", k=1)
        row = next(r for r in results.rows if r.metric == "hit@1")
        hit_rates.append(row.value)
    # "a", the most popular item, is me's test item: ranked first unless masked
    assert hit_rates == [1 / 7, 0.0]
