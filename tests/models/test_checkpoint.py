"""Checkpoint and resume of a training pass (freshrec.models.torch.checkpoint)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from freshrec.checks import checkerboard_events
from freshrec.models.deepfm import DeepFM
from freshrec.models.hstu import HSTU
from freshrec.models.neumf import NeuMF
from freshrec.models.sasrec import SASRec
from freshrec.models.torch.checkpoint import TrainingCheckpoint, read_progress
from freshrec.models.torch.torch_base import TorchRecommender
from freshrec.models.two_tower import TwoTower

EVENTS = checkerboard_events()
TRAIN, VALID = EVENTS[:160], EVENTS[160:]
SEQUENTIAL = dict(dim=8, max_len=6, n_epochs=6, threshold=3.0, lr_schedule="cosine", patience=3)


class Stopped(Exception):
    """Stands for a process killed after an epoch was saved."""


def _stop_after(monkeypatch: pytest.MonkeyPatch, epochs: int) -> None:
    save = TrainingCheckpoint.save

    def save_then_stop(self: TrainingCheckpoint, state: object) -> None:
        save(self, state)  # type: ignore[arg-type]
        if state.epochs_done == epochs:  # type: ignore[attr-defined]
            raise Stopped

    monkeypatch.setattr(TrainingCheckpoint, "save", save_then_stop)


def _same_state(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("cls", [SASRec, HSTU])
def test_a_stopped_pass_resumes_to_the_uninterrupted_result(
    cls: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uninterrupted = cls(**SEQUENTIAL).fit(TRAIN, valid=VALID)
    with monkeypatch.context() as patch:
        _stop_after(patch, 3)
        with pytest.raises(Stopped):
            cls(**SEQUENTIAL).checkpoint_to(tmp_path).fit(TRAIN, valid=VALID)
    assert read_progress(tmp_path)["epochs_done"] == 3

    resumed = cls(**SEQUENTIAL).checkpoint_to(tmp_path).fit(TRAIN, valid=VALID)

    assert resumed.history_ == uninterrupted.history_
    assert _same_state(resumed._arrays(), uninterrupted._arrays())
    users = np.arange(resumed.n_users)
    np.testing.assert_array_equal(resumed.score_batch(users), uninterrupted.score_batch(users))


def test_a_resumed_pass_keeps_each_users_whole_sequence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = {**SEQUENTIAL, "max_len": 3}  # shorter than the users' histories
    uninterrupted = SASRec(**params).fit(TRAIN)
    with monkeypatch.context() as patch:
        _stop_after(patch, 3)
        with pytest.raises(Stopped):
            SASRec(**params).checkpoint_to(tmp_path).fit(TRAIN)
    resumed = SASRec(**params).checkpoint_to(tmp_path).fit(TRAIN)
    for user in ("u0", "u1", "u5"):
        assert resumed.user_sequence(user) == uninterrupted.user_sequence(user)
        assert len(resumed.user_sequence(user)) > 3
    np.testing.assert_array_equal(resumed.history_lengths(), uninterrupted.history_lengths())


@pytest.mark.parametrize(
    "make",
    [
        lambda: NeuMF(n_factors=4, hidden=(8,), n_epochs=4),
        lambda: DeepFM(n_factors=4, n_epochs=4),
        lambda: TwoTower(n_epochs=4),
    ],
    ids=["neumf", "deepfm", "two-tower"],
)
def test_other_torch_models_resume_exactly(
    make: Callable[[], TorchRecommender], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uninterrupted = make().fit(TRAIN)
    with monkeypatch.context() as patch:
        _stop_after(patch, 2)
        with pytest.raises(Stopped):
            make().checkpoint_to(tmp_path).fit(TRAIN)
    resumed = make().checkpoint_to(tmp_path).fit(TRAIN)
    assert resumed.history_ == uninterrupted.history_
    assert _same_state(resumed._arrays(), uninterrupted._arrays())


def test_a_finished_pass_is_restored_without_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = SASRec(**SEQUENTIAL).checkpoint_to(tmp_path).fit(TRAIN, valid=VALID)
    saved = read_progress(tmp_path)

    def no_training(*args: object) -> None:
        raise AssertionError("a finished pass must not train again")

    monkeypatch.setattr(TrainingCheckpoint, "save", no_training)
    again = SASRec(**SEQUENTIAL).checkpoint_to(tmp_path).fit(TRAIN, valid=VALID)
    assert again.history_ == first.history_
    assert _same_state(again._arrays(), first._arrays())
    assert read_progress(tmp_path) == saved


def test_a_checkpoint_of_another_pass_is_ignored_and_replaced(tmp_path: Path) -> None:
    SASRec(**{**SEQUENTIAL, "lr": 0.01}).checkpoint_to(tmp_path).fit(TRAIN, valid=VALID)
    other = read_progress(tmp_path)["fingerprint"]
    fresh = SASRec(**SEQUENTIAL).fit(TRAIN, valid=VALID)

    mine = SASRec(**SEQUENTIAL).checkpoint_to(tmp_path).fit(TRAIN, valid=VALID)

    assert mine.history_ == fresh.history_  # trained from the start, not resumed
    assert read_progress(tmp_path)["fingerprint"] != other


def test_the_folder_holds_the_progress_and_one_tensor_file(tmp_path: Path) -> None:
    model = SASRec(**SEQUENTIAL).checkpoint_to(tmp_path).fit(TRAIN, valid=VALID)
    progress = json.loads((tmp_path / "pass.json").read_text())
    tensors = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    assert tensors == [progress["tensors"]]
    assert progress["epochs_done"] == len(model.history_.loss)
    assert progress["best_epoch"] == model.history_.best_epoch
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


def test_checkpoint_to_none_stops_saving(tmp_path: Path) -> None:
    SASRec(**SEQUENTIAL).checkpoint_to(tmp_path).checkpoint_to(None).fit(TRAIN)
    assert not any(tmp_path.iterdir())
