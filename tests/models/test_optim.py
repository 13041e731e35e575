"""Row-wise Adagrad and FTRL-Proximal for embedding tables, and optimizers chosen by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import check_learns_checkerboard, checkerboard_events
from freshrec.data import EventBatch
from freshrec.models.neumf import NeuMF
from freshrec.models.torch.optim import FTRLProximal, RowWiseAdagrad, make_optimizer


def test_rowwise_adagrad_keeps_one_accumulator_per_row():
    weight = torch.nn.Parameter(torch.zeros(4, 3))
    opt = RowWiseAdagrad([weight], lr=0.1)
    grads = [torch.randn(4, 3, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    for grad in grads:
        grad[2] = 0.0  # row 2 never appears in a batch
    expected, total = torch.zeros(4, 3), torch.zeros(4)
    for grad in grads:
        weight.grad = grad.clone()
        opt.step()
        total[[0, 1, 3]] += grad[[0, 1, 3]].pow(2).mean(1)
        step = 0.1 / (total.sqrt() + 1e-10)
        expected[[0, 1, 3]] -= step[[0, 1, 3], None] * grad[[0, 1, 3]]
    assert torch.allclose(weight.detach(), expected, atol=1e-6)
    assert opt.state[weight]["sum"].shape == (4,) and opt.state[weight]["sum"][2] == 0
    assert torch.all(weight.detach()[2] == 0)


def test_ftrl_finds_the_minimum_without_l1():
    target = torch.tensor([3.0, -1.0, 0.05])
    weight = torch.nn.Parameter(torch.zeros(3))
    opt = FTRLProximal([weight], alpha=0.5)
    for _ in range(2000):
        opt.zero_grad()
        (weight - target).pow(2).sum().backward()
        opt.step()
    assert torch.allclose(weight.detach(), target, atol=0.02)


def test_ftrl_l1_keeps_irrelevant_features_exactly_zero():
    # logistic regression on a stream where only features 0 and 1 matter
    gen = torch.Generator().manual_seed(0)
    weight = torch.nn.Parameter(torch.zeros(10))
    opt = FTRLProximal([weight], alpha=0.1, l1=25.0)
    for _ in range(500):
        x = torch.randn(10, generator=gen)
        y = torch.bernoulli(torch.sigmoid(3 * x[0] - 2 * x[1]), generator=gen)
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(weight @ x, y).backward()
        opt.step()
    values = weight.detach()
    assert values[0] > 0.5 and values[1] < -0.3
    assert torch.all(values[2:] == 0)


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad", "rowwise-adagrad", "ftrl"])
def test_neumf_trains_with_every_optimizer(name):
    lr = {"sgd": 0.5, "ftrl": 0.5, "rowwise-adagrad": 0.2, "adagrad": 0.05}.get(name, 0.01)
    model = NeuMF(n_factors=8, hidden=(16,), n_epochs=20, lr=lr, optimizer=name)
    loss = model.fit(checkerboard_events()).history_.loss
    assert loss[-1] < 0.85 * loss[0], loss


@pytest.mark.parametrize("name", ["adam", "rowwise-adagrad"])
def test_neumf_learns_the_checkerboard(name):
    lr = 0.2 if name == "rowwise-adagrad" else 0.01
    check_learns_checkerboard(NeuMF(n_factors=8, hidden=(16,), n_epochs=60, lr=lr, optimizer=name))


def test_growing_keeps_rowwise_state_of_old_rows():
    model = NeuMF(n_factors=4, hidden=(8,), n_epochs=3, optimizer="rowwise-adagrad", lr=0.1)
    model.fit(checkerboard_events())
    weight = model.module_.item_gmf.weight
    before = model.optimizer_.state[weight]["sum"].clone()
    model.set_params(n_epochs=1)  # one positive and its 4 negatives: at most 4 old rows move
    model.partial_fit(EventBatch(np.array(["u0"]), np.array(["newcomer"]), np.ones(1)))
    after = model.optimizer_.state[model.module_.item_gmf.weight]["sum"]
    assert len(after) == len(before) + 1
    # old rows touched by the update changed; the others are bit-identical
    (new_row,) = model.item_map_.encode(["newcomer"])
    assert after[new_row] > 0
    unchanged = after[: len(before)] == before
    assert unchanged.sum() >= len(before) - 4  # only the sampled negatives' rows moved


def test_unknown_optimizer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown optimizer 'lion'"):
        make_optimizer("lion", [torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        NeuMF(optimizer="lion", n_epochs=1).fit(checkerboard_events())
