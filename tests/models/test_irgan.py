"""IRGAN: conformance, the two players' training, growth of both tables and optimizers, saving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import checkerboard_events, yield_checks
from freshrec.data import EventBatch
from freshrec.models.irgan import IRGAN, IRGANModule
from freshrec.models.torch.torch_base import TorchRecommender
from freshrec.models.torch.training import ValidationNDCG

SMALL = {"n_factors": 8, "n_epochs": 20, "lr": 0.01, "batch_size": 32}
MORE = {"n_users": 4, "n_items": 4, "seen": 2, "offset": 100}
TABLES = ("gen_user", "gen_item", "gen_bias", "dis_user", "dis_item", "dis_bias")


def small(**params):
    return IRGAN(**{**SMALL, **params})


@pytest.fixture(scope="module")
def fitted():
    return small(threshold=3.0).fit(checkerboard_events())


def _copy(model):
    """An independent copy of a fitted model, through save and load."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "m")
        return IRGAN.load(Path(tmp) / "m")


@pytest.mark.parametrize("check", list(yield_checks(small())), ids=lambda check: check.__name__)
def test_conforms(check):
    check(small())


def test_is_a_torch_recommender_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = small(n_epochs=2).fit(checkerboard_events())
    assert isinstance(model, TorchRecommender)
    assert torch.equal(torch.rand(3), expected)


def test_players_learn_and_losses_are_recorded(fitted):
    assert len(fitted.history_.loss) == len(fitted.d_loss_) == 20
    assert np.isfinite(fitted.history_.loss).all() and np.isfinite(fitted.d_loss_).all()
    assert min(fitted.d_loss_) < 2 * np.log(2)  # D beats chance at some epoch
    # G (the recommender) ranks a user's positives above the other block's items.
    scores = fitted.score_batch(np.arange(24))
    bought = fitted.positives_csr().toarray() > 0
    assert scores[bought].mean() > scores[~bought].mean()
    untrained = small(n_epochs=1, threshold=3.0).fit(checkerboard_events())
    assert fitted.score_batch(np.arange(24))[bought].mean() > (
        untrained.score_batch(np.arange(24))[bought].mean()
    )


def test_softplus_reward_trains_too():
    model = small(reward="softplus", threshold=3.0).fit(checkerboard_events())
    assert np.isfinite(model.score_batch(np.arange(24))).all()
    assert all(loss > 0 for loss in model.history_.loss)  # log p < 0 and rewards > 0
    with pytest.raises(ValueError, match="reward"):
        small(reward="hinge").fit(checkerboard_events())


def test_module_scores_and_tables():
    module = IRGANModule(3, 5, n_factors=4, seed=0)
    assert not module.gen_bias.weight.any() and not module.dis_bias.weight.any()
    users, items = torch.tensor([0, 1, 2]), torch.tensor([4, 0, 3])
    expected = (module.gen_user(users) * module.gen_item(items)).sum(-1)
    torch.testing.assert_close(module(users, items), expected)
    torch.testing.assert_close(module.g_all(users)[torch.arange(3), items], expected)
    assert module.d_logits(users.unsqueeze(1), torch.zeros(3, 2, dtype=torch.long)).shape == (3, 2)
    assert len(module.generator()) == len(module.discriminator()) == 3


def test_growth_keeps_rows_and_adam_moments_of_both_players(fitted):
    model = _copy(fitted)
    optimizer_of = {
        n: model.optimizer_ if n.startswith("gen") else model.d_optimizer_ for n in TABLES
    }
    before = {}
    for name in TABLES:
        weight = model._table(name).weight
        state = optimizer_of[name].state[weight]
        before[name] = (
            weight.detach().clone(),
            state["exp_avg"].clone(),
            state["exp_avg_sq"].clone(),
        )
    optimizers = (model.optimizer_, model.d_optimizer_)

    model._grow(model.n_users + 2, model.n_items + 3)

    assert (model.optimizer_, model.d_optimizer_) == optimizers
    for name in TABLES:
        table = model._table(name)
        old_weight, old_avg, old_avg_sq = before[name]
        n_old = len(old_weight)
        assert table.num_embeddings == n_old + (2 if name.endswith("user") else 3), name
        assert torch.equal(table.weight[:n_old], old_weight), name
        state = optimizer_of[name].state[table.weight]
        assert torch.equal(state["exp_avg"][:n_old], old_avg), name
        assert torch.equal(state["exp_avg_sq"][:n_old], old_avg_sq), name
        assert not state["exp_avg"][n_old:].any() and not state["exp_avg_sq"][n_old:].any()
        assert any(p is table.weight for p in optimizer_of[name].param_groups[0]["params"])
    assert (
        not model.module_.gen_bias.weight[16:].any()
        and not model.module_.dis_bias.weight[16:].any()
    )
    assert model.module_.gen_item.weight[16:].abs().sum() > 0


def test_partial_fit_trains_new_users_and_items_with_both_optimizers(fitted):
    model = _copy(fitted)
    g_opt, d_opt = model.optimizer_, model.d_optimizer_
    g_step = float(g_opt.state[model.module_.gen_item.weight]["step"])
    d_step = float(d_opt.state[model.module_.dis_item.weight]["step"])
    model.partial_fit(checkerboard_events(**MORE))
    assert model.optimizer_ is g_opt and model.d_optimizer_ is d_opt
    assert float(g_opt.state[model.module_.gen_item.weight]["step"]) > g_step
    assert float(d_opt.state[model.module_.dis_item.weight]["step"]) > d_step
    assert model.module_.gen_user.num_embeddings == model.module_.dis_user.num_embeddings == 28
    assert model.module_.dis_bias.num_embeddings == 20
    scores = model.score_batch(np.arange(28))
    assert scores.shape == (28, 20) and np.isfinite(scores).all()


def test_partial_fit_without_positives_changes_nothing(fitted):
    model = _copy(fitted)
    before = model.score_batch(np.arange(24))
    model.partial_fit(
        EventBatch(
            np.array(["u0", "new"], object),
            np.array(["i0", "j"], object),
            np.array([1.0, 1.0], np.float32),
        )
    )
    np.testing.assert_array_equal(model.score_batch(np.arange(24))[:, :16], before)
    assert model.history_.loss == () and model.history_.best_epoch == 0 and model.d_loss_ == ()


def test_early_stopping_restores_the_best_epoch():
    events = checkerboard_events()
    train, valid = events[:150], events[150:]
    model = small(n_epochs=30, patience=3, threshold=3.0).fit(train, valid=valid)
    history = model.history_
    assert history.best_epoch == int(np.argmax(history.valid_ndcg)) + 1
    assert ValidationNDCG(model, valid)() == pytest.approx(max(history.valid_ndcg))


def test_arrays_hold_both_players_and_both_optimizers(fitted):
    arrays = fitted._arrays()
    assert arrays["module.gen_item.weight"].shape == (16, 8)
    assert arrays["module.dis_bias.weight"].shape == (16, 1)
    assert arrays["optimizer.gen_user.weight.exp_avg"].shape == (24, 8)
    assert arrays["optimizer.dis_item.weight.exp_avg_sq"].shape == (16, 8)
    assert arrays["optimizer.dis_bias.weight.step"].shape == (1,)


def test_save_load_identical_scores_and_continued_training(fitted, tmp_path):
    model = _copy(fitted)
    model.save(tmp_path / "m")
    loaded = IRGAN.load(tmp_path / "m")
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(
        loaded.score_batch(np.arange(24)), model.score_batch(np.arange(24))
    )
    for name in ("optimizer_", "d_optimizer_"):
        for p_old, p_new in zip(
            getattr(model, name).param_groups[0]["params"],
            getattr(loaded, name).param_groups[0]["params"],
            strict=True,
        ):
            for key, value in getattr(model, name).state[p_old].items():
                assert torch.equal(getattr(loaded, name).state[p_new][key], value), (name, key)
    more = checkerboard_events(**MORE)
    loaded.partial_fit(more)
    model.partial_fit(more)
    np.testing.assert_array_equal(
        loaded.score_batch(np.arange(28)), model.score_batch(np.arange(28))
    )


def test_scores_in_chunks_match(fitted, monkeypatch):
    whole = fitted.score_batch(np.arange(24))
    monkeypatch.setattr(IRGAN, "score_chunk", 40)
    np.testing.assert_allclose(fitted.score_batch(np.arange(24)), whole, rtol=1e-6)


def test_item_vectors_and_similar_items(fitted):
    assert fitted._item_vectors().shape == (16, 8)
    assert len(fitted.similar_items("i0", k=3)) == 3


def test_unknown_device_is_rejected():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="CUDA"):
        IRGAN(device="cuda").fit(checkerboard_events())
