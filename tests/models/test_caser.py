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


def window_features(module, sequences):
    """Outputs of ``module`` and the convolution features (B, L, width) of each position.

    The features are read before the fully connected layer's ReLU, which may legitimately
    zero the outputs of two different windows alike.
    """
    seen = []
    hook = module.fc.register_forward_hook(lambda layer, inputs, output: seen.append(inputs[0]))
    try:
        out = module(torch.tensor([0]), torch.tensor(sequences))
    finally:
        hook.remove()
    return out, seen[0].reshape(len(sequences), len(sequences[0]), -1)


def test_module_initialisation_follows_its_seed():
    params = {"dim": 4, "window": 2, "n_h": 2, "n_v": 2, "dropout": 0.0}
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = CaserModule(1, 9, seed=0, **params).state_dict()
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left as it was
    torch.manual_seed(2)  # another global RNG state: the same module
    second = CaserModule(1, 9, seed=0, **params).state_dict()
    other = CaserModule(1, 9, seed=1, **params).state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert not torch.equal(first["fc.weight"], other["fc.weight"])


def test_each_position_reads_only_its_window():
    module = CaserModule(1, 9, dim=4, window=2, n_h=2, n_v=2, dropout=0.0, seed=0).eval()
    a, read_a = window_features(module, [[1, 2, 3, 4]])
    b, read_b = window_features(module, [[7, 2, 3, 9]])
    torch.testing.assert_close(a[0, 2], b[0, 2])  # window (2, 3) in both
    torch.testing.assert_close(read_a[0, 2], read_b[0, 2])
    for t in (1, 3):  # windows (1, 2) vs (7, 2) and (3, 4) vs (3, 9): read differently
        assert (read_a[0, t] - read_b[0, t]).abs().max() > 1e-4
    short = module(torch.tensor([0]), torch.tensor([[3]]))  # narrower than the window: padded
    torch.testing.assert_close(short[0, 0], module(torch.tensor([0]), torch.tensor([[0, 3]]))[0, 1])


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
