"""Caser: conformance, the window, growth of the user and item tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import checkerboard_events, yield_checks
from freshrec.models.caser import Caser, CaserModule

SMALL = {"dim": 16, "window": 3, "max_len": 8, "n_epochs": 25, "lr": 0.01, "batch_size": 16}


def small(**params):
    return Caser(**{**SMALL, "dropout": 0.1, **params})


@pytest.mark.parametrize("check", list(yield_checks(small())), ids=lambda check: check.__name__)
def test_conforms(check):
    check(small())


def test_each_position_reads_only_its_window():
    module = CaserModule(1, 9, dim=4, window=2, n_h=2, n_v=2, dropout=0.0, seed=0).eval()
    users = torch.tensor([0])
    a = module(users, torch.tensor([[1, 2, 3, 4]]))
    b = module(users, torch.tensor([[7, 2, 3, 9]]))
    torch.testing.assert_close(a[0, 2], b[0, 2])  # window (2, 3) in both
    assert not torch.allclose(a[0, 1], b[0, 1]) and not torch.allclose(a[0, 3], b[0, 3])
    short = module(users, torch.tensor([[3]]))  # narrower than the window: padded
    torch.testing.assert_close(short[0, 0], module(users, torch.tensor([[0, 3]]))[0, 1])


def test_partial_fit_grows_user_and_item_tables_keeping_old_rows():
    model = small(threshold=3.0).fit(checkerboard_events())
    users = model.module_.user_embedding.weight.detach().clone()
    model.set_params(n_epochs=0)
    model.partial_fit(checkerboard_events(n_users=4, n_items=4, seen=2, offset=100))
    module = model.module_
    assert module.user_embedding.num_embeddings == 28
    assert module.item_output.num_embeddings == module.item_bias.num_embeddings == 21
    assert torch.equal(module.user_embedding.weight[:24], users)
    assert np.isfinite(model.score_batch(np.arange(28))).all()
