"""`freshrec models list | promote | rollback` through main([...])."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.console import Console

from freshrec.checks import checkerboard_events
from freshrec.cli import models as models_cli
from freshrec.cli.main import main
from freshrec.live.registry import Registry
from freshrec.models import MostPopular


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Table rows on one line whatever the terminal's width (or COLUMNS)."""
    monkeypatch.setattr(models_cli, "console", Console(width=200))


@pytest.fixture
def registry(tmp_path):
    """A registry with v000001 stable and v000002 the candidate."""
    registry = Registry(tmp_path / "registry")
    model = MostPopular().fit(checkerboard_events())
    model.cursor_ = "42"
    registry.publish(model, metrics={"ndcg@10": 0.25})
    registry.promote()
    registry.publish(model)
    return registry


def _run(capsys, registry, *args):
    code = main(["models", *args, "--registry", str(registry.path)])
    return code, capsys.readouterr().out


def test_list_shows_versions_labels_and_metrics(registry, capsys):
    code, out = _run(capsys, registry, "list")
    assert code == 0
    lines = {line.split()[1]: line for line in out.splitlines() if "v00000" in line}
    assert set(lines) == {"v000001", "v000002"}
    assert "stable" in lines["v000001"] and "candidate" in lines["v000002"]
    cells = [cell.strip() for cell in lines["v000001"].strip("│ ").split("│")]
    created = datetime.fromtimestamp(registry.versions()[0].created, tz=UTC)
    assert cells == [
        "v000001",
        "stable",
        "42",  # the log cursor
        "192",  # the events learned
        created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ndcg@10=0.25",
    ]


def test_promote_the_candidate_then_roll_back(registry, capsys):
    code, out = _run(capsys, registry, "promote", "--reason", "looks good")
    assert code == 0
    assert "promoted v000002 to stable (previous: v000001)" in out
    assert registry.labels() == {"stable": "v000002", "candidate": None, "previous": "v000001"}
    assert registry.journal()[-1]["reason"] == "looks good"

    code, out = _run(capsys, registry, "rollback", "--reason", "alarm")
    assert code == 0
    assert "v000001 is stable again" in " ".join(out.split())
    assert registry.labels()["stable"] == "v000001"
    record = registry.journal()[-1]
    assert record["action"] == "rollback" and record["reason"] == "alarm"


def test_promote_a_version_by_name(registry, capsys):
    code, out = _run(capsys, registry, "promote", "v000001")
    assert code == 0 and "already stable" in out
    code, out = _run(capsys, registry, "promote", "v000002")
    assert code == 0 and "promoted v000002" in out
    assert registry.labels()["stable"] == "v000002"


def test_registry_errors_are_clean(registry, capsys):
    code, out = _run(capsys, registry, "promote", "v000042")
    assert code == 2
    assert "error:" in out and "v000042" in out and "Traceback" not in out
    code, out = _run(capsys, registry, "rollback")  # nothing is previous yet
    assert code == 2 and "nothing to roll back" in " ".join(out.split())
    assert registry.labels()["stable"] == "v000001"


def test_a_missing_registry_is_a_clear_error_and_is_not_created(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    for args in (["list"], ["promote"], ["rollback"]):
        assert main(["models", *args, "--registry", str(missing)]) == 2
        assert "no registry at" in capsys.readouterr().out
    assert not missing.exists()


def test_an_empty_registry_lists_nothing(tmp_path, capsys):
    registry = Registry(tmp_path / "empty")
    code, out = _run(capsys, registry, "list")
    assert code == 0 and "no versions" in out
