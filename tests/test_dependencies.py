"""river is a core dependency: `pip install -e .` runs the whole demo loop, adaptive included."""

from __future__ import annotations

import importlib.util
import tomllib

import freshrec.demo as demo
from freshrec.evaluation.arena import ArenaRun, WindowRecord
from freshrec.evaluation.results import ResultRow
from freshrec.jobs.arena_report import arena_results
from freshrec.jobs.report import Results
from tests.conftest import REPO_ROOT


def test_river_is_a_core_dependency_and_the_online_extra_still_installs_it():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert "river>=0.21" in project["dependencies"]
    assert project["optional-dependencies"]["online"] == ["river>=0.21"]


def test_the_demo_arena_runs_every_strategy_whatever_find_spec_says(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "river" else real(name, *a)
    )
    ran: list[str] = []

    def evaluation(data, models, protocol, **kwargs):
        return Results(
            "demo", data.name, protocol, [0], [ResultRow("popular", "ndcg@10", 0.1, (0.1, 0.1))]
        )

    def arena(data, model, strategies, **kwargs):
        ran.extend(strategies)
        run = ArenaRun(windows=[WindowRecord(0, s, {"ndcg@10": 0.1}) for s in strategies])
        return arena_results([run], [0], dataset=data.name, params={}), [run]

    monkeypatch.setattr(demo, "run_evaluation", evaluation)
    monkeypatch.setattr(demo, "run_arena_job", arena)
    demo.run_demo(tmp_path / "demo", data_dir=None)
    assert tuple(ran) == demo.DEMO_STRATEGIES and "adaptive" in ran
