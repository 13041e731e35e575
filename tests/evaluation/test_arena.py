"""The update arena: its protocol, measures and report, on small synthetic streams."""

from __future__ import annotations

import json

import numpy as np
import pytest

from freshrec.cli.main import main
from freshrec.data.batch import EventBatch, as_batch
from freshrec.data.synthetic import synthetic_stream
from freshrec.evaluation.arena import ArenaRun, WindowRecord, _metrics, churn, run_arena
from freshrec.jobs.arena import run_arena_job
from freshrec.jobs.arena_report import arena_results, write_arena
from freshrec.models import BPR, MostPopular
from freshrec.update.strategies import make_strategy


@pytest.fixture(scope="module")
def data():
    return synthetic_stream(n_users=120, n_items=80, n_events=4000, seed=2)


def _strategies(*names: str) -> dict:
    return {name: make_strategy(name) for name in names}


def test_every_strategy_starts_from_the_same_model(data):
    run = run_arena(
        data.events, BPR(n_factors=8, n_epochs=5), _strategies("frozen", "finetune"), n_windows=3
    )
    first = [r for r in run.windows if r.window == 0]
    assert first[0].metrics["ndcg@10"] == first[1].metrics["ndcg@10"]
    assert first[0].metrics["probe_ndcg@10"] == first[1].metrics["probe_ndcg@10"]
    assert run.counts.warm + run.counts.probe == 2000 and run.counts.replayed == 2000


def test_frozen_has_no_compute_no_churn_and_no_forgetting(data):
    run = run_arena(data.events, BPR(n_factors=8, n_epochs=5), _strategies("frozen"), n_windows=3)
    for record in run.windows:
        assert record.compute_s == 0.0 and record.metrics["churn@10"] == 0.0
        assert record.metrics["forgetting"] == 0.0 and np.isnan(record.lag_h)


def test_updating_strategies_report_compute_churn_and_freshness(data):
    run = run_arena(
        data.events,
        BPR(n_factors=8, n_epochs=5),
        {
            "full": make_strategy("full"),
            "streaming": make_strategy("streaming", {"micro_batch": 100}),
        },
        n_windows=3,
    )
    for record in run.windows:
        assert record.compute_s > 0 and 0 < record.metrics["churn@10"] <= 1
        assert record.lag_h > 0 and record.model_mb > 0
    assert run.mean("streaming", "lag_h") < run.mean("full", "lag_h")


def test_targets_are_items_new_to_the_user_in_the_window():
    # user "a" re-rates item 1 in the window (not a target) and rates item 3 (a target);
    # user "c" is new in the window: counted, but not among the returning users
    warm = [("a", 1), ("a", 2), ("b", 1), ("b", 2), ("b", 3), ("c0", 2), ("c0", 3)] * 1
    window = [("a", 1), ("a", 3), ("c", 3)]
    pairs = warm + window
    events = EventBatch(
        np.array([u for u, _ in pairs]),
        np.array([i for _, i in pairs]),
        np.ones(len(pairs)),
        timestamp=np.arange(len(pairs), dtype=float),
    )
    run = run_arena(
        events,
        MostPopular(),
        _strategies("frozen"),
        n_windows=1,
        warm_fraction=len(warm) / len(pairs),
        probe_fraction=0.0,
    )
    (record,) = run.windows
    assert record.metrics["n_users"] == 2 and record.metrics["n_users returning"] == 1
    # popularity ranks 2 and 3 first; "a" has seen 1 and 2, so 3 is its top item: a hit
    assert record.metrics["recall@10 returning"] == 1.0


def test_churn_counts_replaced_items():
    assert churn(np.array([[1, 2, 3]]), np.array([[3, 2, 1]])) == 0.0
    assert churn(np.array([[1, 2], [3, 4]]), np.array([[5, 6], [3, 7]])) == 0.75


def test_arena_rejects_too_many_windows(data):
    with pytest.raises(ValueError, match="fewer windows"):
        run_arena(data.events[:10], MostPopular(), _strategies("frozen"), n_windows=50)
    with pytest.raises(ValueError, match="at least one"):
        run_arena(data.events, MostPopular(), {}, n_windows=2)


def test_job_summarizes_seeds_and_the_report_is_written(data, tmp_path):
    results, runs = run_arena_job(
        data,
        "bpr",
        ["frozen", "full", "finetune-replay"],
        n_windows=2,
        seeds=[0, 1],
        overrides={"bpr": {"n_epochs": 5, "n_factors": 8}, "finetune-replay": {"epochs": 2}},
    )
    assert len(runs) == 2
    row = results.row("full", "ndcg@10")
    assert row.per_seed == tuple(run.mean("full", "ndcg@10") for run in runs)
    assert results.params["finetune-replay"] == {"epochs": 2}
    paths = write_arena(tmp_path, results, runs)
    written = json.loads(paths[0].read_text())
    assert written["protocol"] == "arena" and len(written["windows"]) == 2 * 2 * 3
    assert list(written["counts"]) == ["events", "warm", "probe", "replayed", "users", "items"]
    assert list(written["windows"][0]) == [  # earlier results.json files' keys, then cohorts'
        "seed",
        "window",
        "strategy",
        "recall@10",
        "ndcg@10",
        "n_users",
        "recall@10 returning",
        "ndcg@10 returning",
        "n_users returning",
        "recall@10 warm",
        "ndcg@10 warm",
        "n_users warm",
        "recall@10 earlier",
        "ndcg@10 earlier",
        "n_users earlier",
        "recall@10 new",
        "ndcg@10 new",
        "n_users new",
        "new_item_share",
        "probe_ndcg@10",
        "forgetting",
        "churn@10",
        "compute_s",
        "n_updates",
        "n_trained",
        "lag_h",
        "model_mb",
    ]
    assert written["windows"][0]["lag_h"] is None  # frozen learns nothing: no lag
    report = paths[1].read_text()
    assert "of full's compute" in report and "finetune-replay" in report
    assert all(p.stat().st_size > 0 for p in paths)


def test_arena_results_skip_measures_no_strategy_has():
    run = ArenaRun(windows=[WindowRecord(0, "frozen", {"ndcg@10": 0.1})])
    results = arena_results([run], [0], dataset="toy", params={})
    assert results.metrics == ["ndcg@10"]


def test_cli_arena_writes_results(tmp_path, capsys):
    out = tmp_path / "arena"
    code = main(
        [
            "arena",
            "--dataset",
            "synthetic",
            "--model",
            "bpr",
            "--strategies",
            "frozen,streaming",
            "--windows",
            "2",
            "--set",
            "bpr.n_epochs=3",
            "--set",
            "streaming.micro_batch=2000",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert {r["model"] for r in results["rows"]} == {"frozen", "streaming"}
    assert (out / "quality_over_time.png").stat().st_size > 0


def test_cli_arena_unknown_strategy_is_a_clear_error(tmp_path, capsys):
    code = main(
        [
            "arena",
            "--dataset",
            "synthetic",
            "--model",
            "bpr",
            "--strategies",
            "nightly",
            "--out",
            str(tmp_path),
        ]
    )
    assert code != 0
    assert "unknown update strategy 'nightly'" in capsys.readouterr().out


def test_cohorts_split_the_users_and_add_up_to_every_user() -> None:
    from freshrec.evaluation.protocols import evaluate_ranking
    from freshrec.update.strategies import Frozen

    events = as_batch(synthetic_stream(n_users=120, n_items=60, n_events=4000, seed=3).events)
    late = (np.arange(len(events)) >= 2400) & (events.user % 3 == 0)  # they arrive late
    arriving = EventBatch(
        np.where(late, events.user + 10_000, events.user),
        events.item,
        events.value,
        timestamp=events.timestamp,
    )
    run = run_arena(arriving, BPR(n_factors=8, n_epochs=5), {"frozen": Frozen()}, n_windows=4)
    for record in run.windows:
        m = record.metrics
        parts = [m[f"n_users {c}"] for c in ("warm", "earlier", "new")]
        assert sum(parts) == m["n_users"] and parts[0] + parts[1] == m["n_users returning"]
        assert 0.0 <= m["new_item_share"] <= 1.0
    assert run.windows[0].metrics["n_users new"] > 0  # the late users' first window
    assert run.windows[-1].metrics["n_users earlier"] > 0  # and later ones
    model = BPR(n_factors=8, n_epochs=5).fit(events[:2000])
    seen, targets = as_batch(events[:1500]), as_batch(events[2000:2600]).positives(1.0)
    cohorts = {
        "warm": np.isin(targets.user, np.unique(events.user[:300])),
        "earlier": ~np.isin(targets.user, np.unique(events.user[:300])),
        "new": np.zeros(len(targets), dtype=bool),
    }
    split = _metrics(model, seen, targets, cohorts, 10)
    whole = evaluate_ranking(model, seen, targets, k=10, metrics=("recall", "ndcg"))
    assert split["ndcg@10"] == pytest.approx(whole["ndcg@10"], rel=1e-12)
    assert split["recall@10"] == pytest.approx(whole["recall@10"], rel=1e-12)
    assert split["n_users"] == whole["n_users"]
