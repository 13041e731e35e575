"""Command-line behaviour: interrupts, safe output folders, ranges checked before work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import freshrec.cli.main as cli
from freshrec.base import RecommenderBase
from freshrec.cli.main import main
from freshrec.cli.options import MODEL_NAMES
from freshrec.models import REGISTRY

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_the_registered_models():
    assert MODEL_NAMES == tuple(REGISTRY)


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_load", interrupted)
    assert main(["evaluate", "--dataset", "synthetic", "--model", "popular"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("interrupted")


def test_sigint_stops_a_running_command_with_130(tmp_path):
    command = [sys.executable, "-m", "freshrec", "evaluate", "--dataset", "synthetic"]
    command += ["--model", "bpr", "--set", "bpr.n_epochs=100000", "--set", "bpr.patience=100000"]
    command += ["--out", str(tmp_path / "out")]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200"}
    process = subprocess.Popen(  # SIGINT as a terminal sends it: a shell running this suite
        command,  # in the background leaves SIGINT ignored, and children inherit that
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the load summary: fitting starts right after it
    assert "events read" in line, line
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted")
    assert not (tmp_path / "out").exists()


def fit_popular(out: Path, *extra: str) -> int:
    return main(["fit", "--dataset", "synthetic", "--model", "popular", "--out", str(out), *extra])


def test_fit_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("precious")
    assert fit_popular(folder) == 2
    assert "chapter1.tex" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == ["chapter1.tex"]
    assert fit_popular(folder, "--force") == 0
    assert (folder / "chapter1.tex").read_text() == "precious"
    assert RecommenderBase.load(folder).n_items > 0
    assert fit_popular(folder, "--force") == 0  # a second forced save replaces only the model
    assert (folder / "chapter1.tex").read_text() == "precious"


def test_refit_replaces_a_model_folder(tmp_path):
    assert fit_popular(tmp_path / "m") == 0
    assert fit_popular(tmp_path / "m") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_leftovers_of_killed_saves_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f".m.tmp-{dead.pid}-abc"
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"half")
    running = tmp_path / f".m.tmp-{os.getpid()}-xyz"  # a save still in progress: kept
    running.mkdir()
    assert fit_popular(tmp_path / "m") == 0
    assert not leftover.exists() and running.exists()


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_model_files_follow_the_umask(tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        assert fit_popular(tmp_path / "m") == 0
    finally:
        os.umask(old)
    assert (tmp_path / "m").stat().st_mode & 0o777 == dir_mode
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "m").iterdir()} == {file_mode}


def test_a_diverging_fit_fails_and_saves_nothing(tmp_path, capsys):
    out = tmp_path / "m"
    code = main(
        ["fit", "--dataset", "synthetic", "--model", "bpr", "--out", str(out)]
        + ["--set", "bpr.lr=-5.0", "--set", "bpr.n_epochs=3"]
    )
    assert code == 2
    assert "diverged" in capsys.readouterr().out
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["recommend", "--model", "no-such-folder", "--user", "1", "--k", "0"],
        ["recommend", "--model", "no-such-folder", "--user", "1", "--k", "-1"],
        ["evaluate", "--dataset", "no-such.csv", "--model", "popular", "--k", "0"],
        ["arena", "--dataset", "no-such.csv", "--model", "popular", "--windows", "0"],
        ["tune", "--dataset", "no-such.csv", "--model", "popular", "--trials", "0"],
        ["prequential", "--dataset", "no-such.csv", "--model", "popular", "--window", "0"],
    ],
)
def test_ranges_are_checked_before_any_work(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Invalid value" in err and "no-such" not in err


def test_recommend_prints_every_users_list_and_names_unknown_users(tmp_path, capsys):
    assert fit_popular(tmp_path / "m") == 0
    users = tmp_path / "users.txt"
    users.write_text("176\nnobody\n")  # 176: a user of the synthetic stream
    capsys.readouterr()
    assert (
        main(["recommend", "--model", str(tmp_path / "m"), "--users", str(users), "--k", "3"]) == 0
    )
    out = " ".join(capsys.readouterr().out.split())
    assert "top 3 for 176" in out and "top 3 for nobody" in out
    assert "unknown user: the model's fallback" in out
    assert "1 of 2 users unknown to the model (nobody)" in out


def test_a_model_with_non_finite_parameters_is_never_saved(tmp_path):
    import numpy as np

    from freshrec.checks import checkerboard_events
    from freshrec.errors import DivergedError
    from freshrec.models.bpr import BPR

    model = BPR(n_factors=4, n_epochs=2).fit(checkerboard_events())
    model.partial_fit(checkerboard_events()[:3])
    model.item_factors_[0, 0] = np.inf
    with pytest.raises(DivergedError, match="item_factors_"):
        model.save(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []
