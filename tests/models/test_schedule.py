"""Step-size schedules: the factors over a pass, and a sequential model stepping by them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import checkerboard_events
from freshrec.models.sasrec import SASRec
from freshrec.models.torch.schedule import WARMUP, step_size_factor


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_warm_up_then_decay_to_near_zero(schedule: str):
    total = 400
    factors = np.array([step_size_factor(schedule, s, total) for s in range(total)])
    warmup = round(WARMUP * total)
    assert np.all(np.diff(factors[:warmup]) > 0) and factors[warmup - 1] == 1.0
    assert np.all(np.diff(factors[warmup:]) < 0)  # strictly decaying after the warm-up
    assert 0.0 < factors[-1] < 0.01


def test_a_pass_of_one_step_takes_the_full_step():
    assert step_size_factor("cosine", 0, 1) == 1.0


def test_sasrec_steps_by_the_schedule_and_ends_near_zero():
    events = checkerboard_events()
    steps: list[float] = []
    model = SASRec(dim=16, max_len=8, n_epochs=4, batch_size=8, lr=0.01, lr_schedule="cosine")
    original = torch.optim.Adam.step

    def record(optimizer: torch.optim.Adam, *args: object, **kwargs: object) -> object:
        steps.append(optimizer.param_groups[0]["lr"])
        return original(optimizer, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.optim.Adam, "step", record)
        model.set_params(threshold=3.0).fit(events)
    n_steps = len(steps)
    expected = [0.01 * step_size_factor("cosine", s, n_steps) for s in range(n_steps)]
    assert n_steps == 4 * -(-24 // 8)  # 24 users, one window each, batches of 8, 4 epochs
    assert steps == pytest.approx(expected)


def test_constant_schedule_keeps_lr():
    model = SASRec(dim=8, max_len=8, n_epochs=2, threshold=3.0, lr=0.005)
    model.fit(checkerboard_events())
    assert model.optimizer_.param_groups[0]["lr"] == 0.005


def test_an_unknown_schedule_is_a_clear_error():
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        SASRec(dim=8, max_len=8, n_epochs=1, lr_schedule="step").fit(checkerboard_events())
