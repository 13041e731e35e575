"""GRU4Rec: conformance, padding invariance, BPR-max, growth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import check_learns_checkerboard, checkerboard_events, yield_checks
from freshrec.models.gru4rec import GRU4Rec, GRU4RecModule

SMALL = {"dim": 16, "max_len": 8, "n_epochs": 30, "lr": 0.005, "batch_size": 8, "dropout": 0.1}


def small(**params):
    return GRU4Rec(**{**SMALL, **params})


@pytest.mark.parametrize("check", list(yield_checks(small())), ids=lambda check: check.__name__)
def test_conforms(check):
    check(small())


def test_learns_with_bpr_max():
    check_learns_checkerboard(small(loss="bpr-max", n_negatives=8))


def test_outputs_ignore_left_padding_and_are_causal():
    module = GRU4RecModule(9, dim=4, hidden=5, n_layers=2, dropout=0.0, seed=0).eval()
    batch = torch.tensor([[0, 0, 0, 4, 2], [1, 2, 3, 4, 5]])
    out = module(batch)
    torch.testing.assert_close(out[0, 3:], module(torch.tensor([[4, 2]]))[0])
    assert not out[0, :3].any()
    changed = module(torch.tensor([[1, 2, 3, 4, 9]]))
    torch.testing.assert_close(out[1, :4], changed[0, :4])


def test_partial_fit_grows_the_item_table_only():
    model = small(threshold=3.0).fit(checkerboard_events())
    model.partial_fit(checkerboard_events(n_users=4, n_items=4, seen=2, offset=100))
    assert model.module_.item_embedding.num_embeddings == 21
    assert np.isfinite(model.score_batch(np.arange(model.n_users))).all()
