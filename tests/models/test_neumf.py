"""NeuMF and the TorchRecommender base: conformance, growth, Adam state, early stopping, saving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import checkerboard_events, yield_checks
from freshrec.data import EventBatch
from freshrec.models.neumf import NeuMF
from freshrec.models.torch.torch_base import TorchRecommender

SMALL = {"n_factors": 8, "hidden": (16, 8), "n_epochs": 30, "lr": 0.01, "batch_size": 64}


def small(**params):
    return NeuMF(**{**SMALL, **params})


@pytest.mark.parametrize("check", list(yield_checks(small())), ids=lambda check: check.__name__)
def test_conforms(check):
    check(small())


def test_conforms_with_defaults():
    from freshrec.checks import check_learns_checkerboard

    check_learns_checkerboard(NeuMF())


def test_is_a_torch_recommender_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = small(n_epochs=2).fit(checkerboard_events())
    assert isinstance(model, TorchRecommender)
    assert torch.equal(torch.rand(3), expected)


def test_loss_decreases():
    model = small(n_epochs=30, threshold=3.0).fit(checkerboard_events())
    loss = model.history_.loss
    assert len(loss) == 30
    assert loss[-1] < 0.5 * loss[0]
    assert np.mean(loss[-5:]) < np.mean(loss[:5])


def test_growth_keeps_weights_and_adam_moments_of_old_rows():
    model = small(threshold=3.0).fit(checkerboard_events())
    table = model.module_.item_gmf
    old_weight = table.weight.detach().clone()
    old_avg = model.optimizer_.state[table.weight]["exp_avg"].clone()
    model._grow(model.n_users + 2, model.n_items + 3)
    grown = model.module_.item_gmf
    assert grown.num_embeddings == 19 and model.module_.user_mlp.num_embeddings == 26
    assert torch.equal(grown.weight[:16], old_weight)
    state = model.optimizer_.state[grown.weight]
    assert torch.equal(state["exp_avg"][:16], old_avg)
    assert state["exp_avg"].shape == (19, 8) and not state["exp_avg"][16:].any()
    assert any(p is grown.weight for p in model.optimizer_.param_groups[0]["params"])


def test_partial_fit_trains_new_users_and_items_with_the_same_optimizer():
    model = small(threshold=3.0).fit(checkerboard_events())
    optimizer = model.optimizer_
    step = float(optimizer.state[model.module_.head.weight]["step"])
    model.partial_fit(checkerboard_events(n_users=4, n_items=4, seen=2, offset=100))
    assert model.optimizer_ is optimizer
    assert float(optimizer.state[model.module_.head.weight]["step"]) > step
    assert model.module_.user_gmf.num_embeddings == 28
    assert np.isfinite(model.score_batch(np.arange(28))).all()


def test_partial_fit_without_positives_changes_nothing():
    model = small(threshold=3.0).fit(checkerboard_events())
    before = model.score_batch(np.arange(24))
    model.partial_fit(
        EventBatch(
            np.array(["u0", "new"], object),
            np.array(["i0", "j"], object),
            np.array([1.0, 1.0], np.float32),
        )
    )
    np.testing.assert_array_equal(model.score_batch(np.arange(24))[:, :16], before)
    assert model.history_.loss == () and model.history_.best_epoch == 0


def test_early_stopping_restores_the_best_epoch():
    events = checkerboard_events()
    train, valid = events[:150], events[150:]
    model = small(n_epochs=40, patience=3, lr=0.05, threshold=3.0).fit(train, valid=valid)
    history = model.history_
    assert history.best_epoch == int(np.argmax(history.valid_ndcg)) + 1
    from freshrec.models.torch.training import ValidationNDCG

    assert ValidationNDCG(model, valid)() == pytest.approx(max(history.valid_ndcg))


def test_arrays_hold_module_and_adam_state():
    model = small(n_epochs=2).fit(checkerboard_events())
    arrays = model._arrays()
    assert arrays["module.item_gmf.weight"].shape == (16, 8)
    assert arrays["optimizer.item_gmf.weight.exp_avg_sq"].shape == (16, 8)
    assert arrays["optimizer.head.bias.step"].shape == (1,)


def test_save_load_identical_scores_and_continued_training(tmp_path):
    model = small(threshold=3.0).fit(checkerboard_events())
    model.save(tmp_path / "m")
    loaded = NeuMF.load(tmp_path / "m")
    assert loaded.hidden == (16, 8) and loaded.get_params() == model.get_params()
    users = np.arange(24)
    np.testing.assert_array_equal(loaded.score_batch(users), model.score_batch(users))
    more = checkerboard_events(n_users=4, n_items=4, seen=2, offset=100)
    loaded.partial_fit(more)
    model.partial_fit(more)
    np.testing.assert_array_equal(
        loaded.score_batch(np.arange(28)), model.score_batch(np.arange(28))
    )


def test_item_vectors_and_similar_items():
    model = small(threshold=3.0).fit(checkerboard_events())
    assert model._item_vectors().shape == (16, 16)
    assert len(model.similar_items("i0", k=3)) == 3


def test_scores_in_chunks_match(monkeypatch):
    model = small(n_epochs=2).fit(checkerboard_events())
    whole = model.score_batch(np.arange(24))
    monkeypatch.setattr(NeuMF, "score_chunk", 40)
    np.testing.assert_allclose(model.score_batch(np.arange(24)), whole, rtol=1e-6)


def test_unknown_device_is_rejected():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="CUDA"):
        NeuMF(device="cuda").fit(checkerboard_events())
