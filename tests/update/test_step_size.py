"""A strategy's step size reaches the optimizers of a fitted torch model (regression).

``FineTune(lr=...)`` and ``--set finetune.lr=`` change ``lr`` with ``set_params`` for one
update (:func:`~freshrec.update.strategies.overridden`) and restore it after. The torch models
build their optimizers once, at the first fit, and used to keep stepping with the ``lr``/``l2``
of that moment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pytest
import torch

from freshrec.checks import checkerboard_events
from freshrec.data.batch import EventBatch, as_batch
from freshrec.models import BPR
from freshrec.models.cfgan import CFGAN
from freshrec.models.neumf import NeuMF
from freshrec.models.sasrec import SASRec
from freshrec.models.torch.optim import OPTIMIZERS, step_settings
from freshrec.models.torch.torch_base import TorchRecommender
from freshrec.update.strategies import FineTune, overridden

GROUP_KEYS = ("lr", "alpha", "weight_decay")
M = TypeVar("M", bound=TorchRecommender)


def neumf(**params: Any) -> NeuMF:
    return NeuMF(**{"n_factors": 4, "hidden": (8,), "n_epochs": 3, "lr": 0.01, **params})


def sasrec(**params: Any) -> SASRec:
    return SASRec(**{"dim": 8, "max_len": 8, "n_epochs": 3, "lr": 0.005, "batch_size": 8, **params})


def cfgan(**params: Any) -> CFGAN:
    return CFGAN(**{"hidden": (16, 8), "n_epochs": 3, "lr": 0.01, "batch_size": 8, **params})


def fitted(model: M) -> M:
    return model.fit(checkerboard_events())


def window() -> EventBatch:
    """New pairs of the same users and items (no growth)."""
    return as_batch(checkerboard_events(seed=1))


def record_steps(optimizer: torch.optim.Optimizer) -> list[dict[str, float]]:
    """The step settings of ``optimizer``'s first param group at each of its next steps."""
    seen: list[dict[str, float]] = []

    def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        group = opt.param_groups[0]
        seen.append({key: group[key] for key in GROUP_KEYS if key in group})

    optimizer.register_step_pre_hook(hook)
    return seen


def parameters(model: TorchRecommender) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.module_.named_parameters()}


@pytest.mark.parametrize("make", [neumf, sasrec, cfgan], ids=lambda make: make.__name__)
def test_finetune_with_lr_zero_changes_no_parameter(make: Callable[[], TorchRecommender]) -> None:
    model = fitted(make())
    before = parameters(model)
    steps = {id(p): int(s["step"]) for p, s in model.optimizer_.state.items()}
    report = FineTune(lr=0.0).step(model, window())
    assert report.trained and len(model.history_.loss) == 3  # it did train, with step 0
    after = parameters(model)
    assert all(torch.equal(after[name], value) for name, value in before.items())
    assert all(int(s["step"]) > steps[id(p)] for p, s in model.optimizer_.state.items())
    assert model.lr == make().lr  # restored


def test_finetune_lr_is_the_step_of_the_update_and_the_old_one_after() -> None:
    model = fitted(neumf(lr=0.01))
    optimizer = model.optimizer_
    param, state = next(iter(optimizer.state.items()))
    moments = {key: value.clone() for key, value in state.items()}
    first_state: list[dict[str, torch.Tensor]] = []

    def keep_first_state(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not first_state:
            first_state.append({key: value.clone() for key, value in opt.state[param].items()})

    optimizer.register_step_pre_hook(keep_first_state)
    seen = record_steps(optimizer)

    FineTune(epochs=2, lr=0.05).step(model, window())
    assert seen and all(step["lr"] == 0.05 for step in seen)
    assert model.optimizer_ is optimizer and model.lr == 0.01
    # the update continued the moments of the fit, it did not restart them
    assert all(torch.equal(first_state[0][key], value) for key, value in moments.items())

    seen.clear()
    model.partial_fit(window())
    assert seen and all(step["lr"] == 0.01 for step in seen)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_set_params_lr_reaches_every_optimizer(name: str) -> None:
    model = fitted(neumf(optimizer=name, lr=0.05))
    seen = record_steps(model.optimizer_)
    model.set_params(lr=0.02).partial_fit(window())
    expected = step_settings(name, 0.02, 0.0)  # RMSprop's own "alpha" is its smoothing
    assert seen and all({key: step[key] for key in expected} == expected for step in seen)


def test_overridden_lr_and_l2_hold_for_the_update_only() -> None:
    model = fitted(sasrec(l2=0.0))
    seen = record_steps(model.optimizer_)
    with overridden(model, lr=0.002, l2=0.1):
        model.partial_fit(window())
    assert seen and all(step == {"lr": 0.002, "weight_decay": 0.1} for step in seen)
    seen.clear()
    model.partial_fit(window())
    assert seen and all(step == {"lr": 0.005, "weight_decay": 0.0} for step in seen)


def test_both_optimizers_of_a_gan_take_the_new_lr() -> None:
    model = fitted(cfgan(lr=0.01, l2=1e-3))
    g_steps, d_steps = record_steps(model.optimizer_), record_steps(model.d_optimizer_)
    FineTune(lr=0.03).step(model, window())
    assert g_steps and all(step == {"lr": 0.03, "weight_decay": 1e-3} for step in g_steps)
    assert d_steps and all(step == {"lr": 0.03, "weight_decay": 0.0} for step in d_steps)


def test_numpy_sgd_model_reads_lr_when_learning() -> None:
    model = BPR(n_factors=4, n_epochs=3).fit(checkerboard_events())
    before = model.user_factors_.copy(), model.item_factors_.copy()
    FineTune(lr=0.0).step(model, window())
    np.testing.assert_array_equal(model.user_factors_, before[0])
    np.testing.assert_array_equal(model.item_factors_, before[1])
