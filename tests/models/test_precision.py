"""bf16 training (freshrec.models.torch.precision) for the sequential models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import checkerboard_events
from freshrec.models.hstu import HSTU
from freshrec.models.sasrec import SASRec
from freshrec.models.torch.precision import bf16_support, check_precision, training_autocast

EVENTS = checkerboard_events()


def test_bf16_autocast_runs_products_in_bf16_and_float32_leaves_them() -> None:
    cpu = torch.device("cpu")
    with training_autocast("bf16", cpu):
        assert (torch.ones(4, 4) @ torch.ones(4, 4)).dtype == torch.bfloat16
    with training_autocast("float32", cpu):
        assert (torch.ones(4, 4) @ torch.ones(4, 4)).dtype == torch.float32


def test_an_unknown_precision_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        check_precision("float16")
    with pytest.raises(ValueError, match="precision"):
        SASRec(dim=8, max_len=6, n_epochs=1, threshold=3.0, precision="half").fit(EVENTS)


def test_bf16_support_names_the_hardware() -> None:
    assert bf16_support() in ("amx", "avx512_bf16", "emulated", "unknown")


@pytest.mark.parametrize("cls", [SASRec, HSTU])
def test_bf16_training_follows_float32_on_the_same_batches(cls: type) -> None:
    params = dict(dim=16, max_len=8, n_epochs=5, threshold=3.0, seed=3)
    single = cls(**params).fit(EVENTS)
    half = cls(**params, precision="bf16").fit(EVENTS)
    # same batches, negatives and dropout draws; only the rounding of products differs
    np.testing.assert_allclose(half.history_.loss, single.history_.loss, rtol=0.02)
    assert all(p.dtype == torch.float32 for p in half.module_.parameters())
    scores = half.score_batch(np.arange(half.n_users))
    assert scores.dtype == np.float64 and np.isfinite(scores).all()
    saved_params = half.get_params()
    assert saved_params["precision"] == "bf16"
