"""Prequential (test-then-train) evaluation, its measures, and the command."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from freshrec.cli.main import main
from freshrec.data.stream import time_ordered
from freshrec.data.synthetic import synthetic_stream
from freshrec.evaluation.prequential import convergence_events, run_prequential
from freshrec.models import BPR, BiasedMF, ItemKNN, MostPopular


@pytest.fixture(scope="module")
def events():
    return time_ordered(synthetic_stream(n_users=80, n_items=50, n_events=3000, seed=4).events)


def test_windows_are_tested_before_they_are_learned(events):
    model = BiasedMF(n_factors=4, n_epochs=1, shuffle=False)
    reference = copy.deepcopy(model)
    result = run_prequential(model, events, window=500, holdout_fraction=0.2)
    first = events[:500]
    expected = np.sqrt(np.mean((reference.learn_predict(first) - first.value) ** 2))
    assert result.windowed[0] == pytest.approx(expected)
    assert model.n_events_ == 2400 and list(result.positions) == [500, 1000, 1500, 2000, 2400]


def test_label_delay_leaves_the_last_windows_unlearned(events):
    model = MostPopular()
    result = run_prequential(model, events, window=500, holdout_fraction=0.0, delay=2)
    assert model.n_events_ == 3000 - 2 * 500
    assert np.isnan(result.windowed[:3]).all()  # nothing learned before window 3 is tested
    assert np.isfinite(result.windowed[3:]).all()
    assert result.metric == "ndcg@10"


def test_labels_that_arrive_late_are_learned_when_they_arrive(events):
    span = float(events.timestamp[-1] - events.timestamp[0])
    model = MostPopular()
    result = run_prequential(
        model, events, window=500, holdout_fraction=0.0, label_delay_s=span / 3
    )
    released = events.take(events.timestamp + span / 3 <= events.timestamp[-1])
    assert model.n_events_ == len(released)  # the labels still pending at the end are not
    assert np.isnan(result.windowed[0]) and result.metric == "ndcg@10"
    with pytest.raises(ValueError, match="not both"):
        run_prequential(MostPopular(), events, window=500, delay=1, label_delay_s=1.0)


def test_ranking_models_are_scored_by_ndcg_and_churn(events):
    model = ItemKNN()
    result = run_prequential(model, events, window=600, holdout_fraction=0.1, n_churn_users=50)
    assert np.isnan(result.windowed[0]) and np.all(result.windowed[1:] <= 1)
    assert np.isnan(result.churn[0]) and np.all((result.churn[1:] >= 0) & (result.churn[1:] <= 1))
    summary = result.summary()
    assert summary.generalization_gap == pytest.approx(summary.holdout - summary.prequential_recent)


def test_online_bpr_is_ranked_then_learned_event_by_event(events):
    model = BPR(n_factors=8, lr=0.05)
    reference = copy.deepcopy(model)
    result = run_prequential(model, events, window=600, holdout_fraction=0.1)
    assert result.metric == "hit@10" and not result.lower_is_better
    assert result.windowed[0] == pytest.approx(np.mean(reference.learn_rank(events[:600]) < 10))
    assert model.n_events_ == 2700  # the held-out slice is ranked on a copy
    assert 0.0 <= result.holdout <= 1.0


def test_convergence_is_when_the_metric_settles_for_good():
    positions = np.array([100, 200, 300, 400, 500])
    assert convergence_events(positions, np.array([1.0, 0.5, 0.52, 0.5, 0.5])) == 400
    assert convergence_events(positions, np.array([0.5, 0.5, 0.5, 0.5, 0.5])) == 100
    assert convergence_events(positions, np.array([np.nan] * 5)) is None


def test_bad_settings_are_clear_errors(events):
    with pytest.raises(ValueError, match="window"):
        run_prequential(MostPopular(), events, window=0)
    with pytest.raises(ValueError, match="holdout_fraction"):
        run_prequential(MostPopular(), events, holdout_fraction=1.0)
    with pytest.raises(ValueError, match="fewer than one window"):
        run_prequential(MostPopular(), events[:10], window=100)


def test_cli_prequential_writes_figures_and_a_plot(tmp_path):
    out = tmp_path / "preq"
    code = main(
        [
            "prequential",
            "--dataset",
            "synthetic",
            "--model",
            "biased-mf",
            "--window",
            "2000",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    names = {r["metric"] for r in results["rows"]}
    assert {"convergence_events", "generalization_gap", "windowed_variance", "churn_mean"} <= names
    assert results["windows"] and (out / "prequential.png").stat().st_size > 0
