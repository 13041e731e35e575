"""The command line, called through main([...]) as a user would type it."""

from __future__ import annotations

import json

import pytest

from freshrec.cli.main import main
from freshrec.cli.options import load_source


def test_evaluate_writes_results_in_the_design_shape(tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            "--dataset",
            "synthetic",
            "--model",
            "popular,biased-mf",
            "--protocol",
            "temporal-user",
            "--seeds",
            "0,1",
            "--out",
            str(out),
            "--set",
            "biased-mf.n_epochs=2",
        ]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["command"] == "evaluate" and results["seeds"] == [0, 1]
    ndcg = {r["model"]: r for r in results["rows"] if r["metric"] == "ndcg@10"}
    assert set(ndcg) == {"popular", "biased-mf"}
    assert len(ndcg["popular"]["per_seed"]) == 2
    assert results["params"]["biased-mf"]["n_epochs"] == 2
    assert (out / "report.md").exists() and (out / "comparison.png").stat().st_size > 1000
    assert "ndcg@10" in capsys.readouterr().out


def test_bad_override_is_a_clear_error(tmp_path, capsys):
    code = main(
        [
            "evaluate",
            "--dataset",
            "synthetic",
            "--model",
            "popular",
            "--set",
            "popular.no_such_param=1",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "no_such_param" in capsys.readouterr().out


def test_unknown_model_is_a_clear_error(tmp_path, capsys):
    code = main(["evaluate", "--dataset", "synthetic", "--model", "nope", "--out", str(tmp_path)])
    assert code == 2
    assert "unknown model" in capsys.readouterr().out


def test_fit_then_recommend(tmp_path, capsys):
    model_dir = tmp_path / "model"
    assert (
        main(["fit", "--dataset", "synthetic", "--model", "popular", "--out", str(model_dir)]) == 0
    )
    assert (model_dir / "manifest.json").exists()
    capsys.readouterr()
    assert main(["recommend", "--model", str(model_dir), "--user", "0", "--k", "3"]) == 0
    assert "top 3" in capsys.readouterr().out
    users = tmp_path / "users.txt"
    users.write_text("0\n1\nnever-seen\n")
    top = tmp_path / "top.tsv"
    assert (
        main(["recommend", "--model", str(model_dir), "--users", str(users), "--out", str(top)])
        == 0
    )
    lines = top.read_text().splitlines()
    assert lines[0] == "user\trank\titem\tscore" and len(lines) == 1 + 3 * 10


def test_fit_with_a_checkpoint_saves_the_pass_and_a_rerun_restores_it(tmp_path, capsys):
    from freshrec.base import RecommenderBase
    from freshrec.models.torch.checkpoint import read_progress

    folder = tmp_path / "checkpoint"
    command = ["fit", "--dataset", "synthetic", "--model", "sasrec", "--checkpoint", str(folder)]
    command += ["--set", "sasrec.n_epochs=2", "--set", "sasrec.dim=8", "--set", "sasrec.max_len=8"]
    assert main([*command, "--out", str(tmp_path / "first")]) == 0
    assert read_progress(folder)["epochs_done"] == 2
    assert main([*command, "--out", str(tmp_path / "again")]) == 0  # restored, not retrained
    first, again = (RecommenderBase.load(tmp_path / name) for name in ("first", "again"))
    assert first.score_batch([0, 1]).tolist() == again.score_batch([0, 1]).tolist()
    capsys.readouterr()
    popular = ["fit", "--dataset", "synthetic", "--model", "popular", "--checkpoint", str(folder)]
    assert main([*popular, "--out", str(tmp_path / "p")]) == 2
    assert "not a torch model" in capsys.readouterr().out


def test_recommend_excludes_seen_items(tmp_path):
    from freshrec.base import RecommenderBase

    model_dir = tmp_path / "model"
    main(["fit", "--dataset", "synthetic", "--model", "popular", "--out", str(model_dir)])
    top = tmp_path / "top.tsv"
    main(["recommend", "--model", str(model_dir), "--user", "3", "--out", str(top)])
    events = load_source(RecommenderBase.load(model_dir).source_).events
    seen = {str(i) for u, i in zip(events.user, events.item, strict=True) if str(u) == "3"}
    recommended = {line.split("\t")[2] for line in top.read_text().splitlines()[1:]}
    assert recommended and not recommended & seen
    main(
        ["recommend", "--model", str(model_dir), "--user", "3", "--include-seen", "--out", str(top)]
    )
    assert {line.split("\t")[2] for line in top.read_text().splitlines()[1:]} & seen


def test_recommend_reads_seen_items_from_a_log(tmp_path, capsys):
    from freshrec.data.synthetic import synthetic_stream
    from freshrec.log import open_log
    from freshrec.models import MostPopular

    events = synthetic_stream(n_users=30, n_items=200, n_events=600, seed=0).events
    model_dir, log_path = tmp_path / "model", tmp_path / "events.sqlite"
    with open_log(f"sqlite:///{log_path}") as log:
        log.append(events)
        MostPopular().learn_from_log(log).save(model_dir)
    top = tmp_path / "top.tsv"
    assert main(["recommend", "--model", str(model_dir), "--user", "3", "--out", str(top)]) == 0
    assert "seen items are kept" in capsys.readouterr().out  # no log, no source: said so
    kept = {line.split("\t")[2] for line in top.read_text().splitlines()[1:]}
    log_url = f"sqlite:///{log_path}"
    assert (
        main(
            [
                "recommend",
                "--model",
                str(model_dir),
                "--user",
                "3",
                "--log",
                log_url,
                "--out",
                str(top),
            ]
        )
        == 0
    )
    seen = {str(i) for u, i in zip(events.user, events.item, strict=True) if u == 3}
    recommended = {line.split("\t")[2] for line in top.read_text().splitlines()[1:]}
    assert kept & seen and recommended and not recommended & seen


def test_demo_runs_offline_on_the_synthetic_stream(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--data-dir", str(tmp_path / "no-data")]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["command"] == "demo" and results["dataset"] == "synthetic"
    assert {r["model"] for r in results["rows"]} >= {"popular"}
    arena = json.loads((out / "arena" / "results.json").read_text())
    assert {r["model"] for r in arena["rows"]} >= {"frozen", "streaming", "adaptive"}
    assert "Actions chosen per window" in (out / "arena" / "report.md").read_text()
    live = json.loads((out / "live" / "live.json").read_text())  # the service's live part
    assert live["events_accepted"] == live["events_sent"] > 0
    assert live["versions_promoted"] >= 1 and live["serving_version"] is not None
    assert live["freshness_trials"] > 0 and live["freshness_p99_ms"] < 10_000


def test_a_bad_option_is_a_usage_error_not_a_traceback(capsys):
    assert main(["demo", "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err


def test_evaluate_with_folds_reports_every_fold(tmp_path):
    out = tmp_path / "cv"
    code = main(
        [
            "evaluate",
            "--dataset",
            "synthetic",
            "--model",
            "popular",
            "--folds",
            "3",
            "--seeds",
            "0,1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"] == "3-fold"
    ndcg = next(r for r in results["rows"] if r["metric"] == "ndcg@10")
    assert len(ndcg["per_seed"]) == 6  # 3 folds x 2 seeds
    assert ndcg["ci95"][0] <= ndcg["value"] <= ndcg["ci95"][1]
    assert [s["name"] for s in results["extra"]["splits"]] == ["fold-1/3", "fold-2/3", "fold-3/3"]


def test_tune_searches_on_validation_and_writes_a_plot(tmp_path, capsys):
    pytest.importorskip("optuna")
    out = tmp_path / "tune"
    code = main(
        [
            "tune",
            "--dataset",
            "synthetic",
            "--model",
            "item-knn",
            "--trials",
            "4",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["command"] == "tune" and len(results["extra"]["trials"]) == 4
    best = max(t["value"] for t in results["extra"]["trials"])
    assert results["rows"][0]["value"] == best
    assert set(results["params"]["item-knn"]) == {"n_neighbors", "shrink"}
    assert (out / "tuning.png").read_bytes()[:4] == b"\x89PNG"
