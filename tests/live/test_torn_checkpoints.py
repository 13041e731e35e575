"""200 torn-checkpoint trials: a save killed or failing at every step, files cut short or
with a flipped bit; loading always returns the last complete checkpoint, and says which
corrupt ones it skipped."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy

import freshrec.persist as persist
from freshrec.checks import checkerboard_events
from freshrec.data.batch import as_batch
from freshrec.live.checkpoints import CheckpointStore
from freshrec.models import BPR

EVENTS = as_batch(checkerboard_events())
FILES = ("freshrec.json", "model.safetensors", "state.json", "manifest.json")


class Killed(BaseException):
    """Stands for the process dying at a step of a save (nothing after it runs)."""


class Failed(OSError):
    """An I/O error at a step of a save (the save cleans up after itself)."""


@pytest.fixture(scope="module")
def models() -> tuple[BPR, BPR]:
    first = BPR(n_factors=4, n_epochs=2, seed=0).fit(EVENTS[:100])
    return first, BPR(n_factors=4, n_epochs=2, seed=0).fit(EVENTS)


def _steps(monkeypatch: pytest.MonkeyPatch, fail_at: int, error: type[BaseException]) -> list[str]:
    """Make the ``fail_at``-th disk step of a save raise ``error`` (0: none); the steps seen."""
    seen: list[str] = []

    def wrap(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            seen.append(name)
            if len(seen) == fail_at:
                raise error(f"step {fail_at}: {name}")
            return call(*args, **kwargs)

        return step

    for name in ("_write", "_fsync_file", "_fsync_dir"):
        monkeypatch.setattr(persist, name, wrap(name, getattr(persist, name)))
    monkeypatch.setattr(
        safetensors.numpy, "save_file", wrap("save_file", safetensors.numpy.save_file)
    )
    monkeypatch.setattr(persist.os, "replace", wrap("replace", os.replace))
    if error is Killed:  # a killed process cleans nothing up
        monkeypatch.setattr(persist.shutil, "rmtree", lambda *a, **k: None)
    return seen


def _n_steps(tmp_path: Path, model: BPR, monkeypatch: pytest.MonkeyPatch) -> int:
    with monkeypatch.context() as patch:
        seen = _steps(patch, 0, Failed)
        CheckpointStore(tmp_path / "count").save(model, position=192)
    return len(seen)


def _trials(n_steps: int) -> list[tuple[str, Any]]:
    """The 200 trials: every step killed and failing, then seeded file corruptions."""
    trials: list[tuple[str, Any]] = [("kill", k) for k in range(1, n_steps + 1)]
    trials += [("error", k) for k in range(1, n_steps + 1)]
    rng = np.random.default_rng(0)
    while len(trials) < 200:
        kind = ("truncate", "flip")[len(trials) % 2]
        trials.append((kind, (FILES[int(rng.integers(len(FILES)))], float(rng.random()))))
    return trials


def test_200_torn_checkpoints_never_load_anything_but_the_last_complete_one(
    tmp_path, models, monkeypatch
):
    first, second = models
    trials = _trials(_n_steps(tmp_path, second, monkeypatch))
    assert len(trials) == 200
    expected_first = first.score_batch(np.arange(first.n_users))
    expected_second = second.score_batch(np.arange(second.n_users))
    outcomes = {"older": 0, "newer": 0}
    for number, (kind, detail) in enumerate(trials):
        store = CheckpointStore(tmp_path / f"trial{number}", keep=3)
        store.save(first, position=100)
        newer = store.path / "c000000000192"
        if kind in ("kill", "error"):
            with monkeypatch.context() as patch:
                _steps(patch, detail, Killed if kind == "kill" else Failed)
                with pytest.raises((Killed, Failed)):
                    store.save(second, position=192)
            complete = (newer / "manifest.json").exists()
        else:
            store.save(second, position=192)
            name, where = detail
            _corrupt(newer / name, kind, where)
            complete = False
        loaded, skipped = store.latest()
        assert loaded is not None, (kind, detail)
        if complete:
            outcomes["newer"] += 1
            assert loaded.n_events_ == second.n_events_ and not skipped
            np.testing.assert_array_equal(
                loaded.score_batch(np.arange(second.n_users)), expected_second
            )
        else:
            outcomes["older"] += 1
            assert loaded.n_events_ == first.n_events_, (kind, detail)
            np.testing.assert_array_equal(
                loaded.score_batch(np.arange(first.n_users)), expected_first
            )
            if newer.exists():  # a torn or corrupt folder is reported, never loaded
                assert len(skipped) == 1 and skipped[0].startswith(newer.name), (kind, detail)
        shutil.rmtree(store.path)
    assert outcomes["older"] > 150 and outcomes["newer"] >= 1  # a save killed after its rename


def _corrupt(path: Path, kind: str, where: float) -> None:
    data = bytearray(path.read_bytes())
    at = min(int(where * len(data)), len(data) - 1)
    if kind == "truncate":
        path.write_bytes(bytes(data[:at]))
    else:
        data[at] ^= 1 << (at % 8)
        path.write_bytes(bytes(data))
