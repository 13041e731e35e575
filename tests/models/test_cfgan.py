"""CFGAN: conformance, ZR/PM training, growth of both networks and optimizers, saving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import checkerboard_events, yield_checks
from freshrec.data import EventBatch
from freshrec.models.cfgan import CFGAN, CFGANModule
from freshrec.models.torch.torch_base import TorchRecommender
from freshrec.models.torch.training import ValidationNDCG

SMALL = {"hidden": (32, 16), "alpha": 0.3, "n_epochs": 40, "lr": 0.01, "batch_size": 8}
MORE = {"n_users": 4, "n_items": 4, "seen": 2, "offset": 100}


def small(**params):
    return CFGAN(**{**SMALL, **params})


@pytest.fixture(scope="module")
def fitted():
    return small(threshold=3.0).fit(checkerboard_events())


def _copy(model):
    """An independent copy of a fitted model, through save and load."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "m")
        return CFGAN.load(Path(tmp) / "m")


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


def test_generator_reconstructs_purchases_and_losses_are_recorded(fitted):
    history = fitted.history_
    assert len(history.loss) == len(fitted.d_loss_) == 40
    assert np.isfinite(history.loss).all() and np.isfinite(fitted.d_loss_).all()
    bought = fitted.positives_csr().toarray() > 0
    scores = fitted.score_batch(np.arange(24))
    assert scores[bought].mean() > scores[~bought].mean() + 1.0
    # G's outputs on unbought items (what ZR penalises) fell from the first epoch on.
    first = small(n_epochs=1, threshold=3.0).fit(checkerboard_events())
    penalty = [1 / (1 + np.exp(-m.score_batch(np.arange(24))[~bought])) for m in (first, fitted)]
    assert np.mean(penalty[1] ** 2) < 0.8 * np.mean(penalty[0] ** 2)


def test_zero_reconstruction_pushes_unbought_items_down():
    events = checkerboard_events()
    plain = small(alpha=0.0, s_pm=0.0, n_epochs=15, threshold=3.0).fit(events)
    with_zr = small(alpha=0.3, s_pm=0.0, n_epochs=15, threshold=3.0).fit(events)
    bought = plain.positives_csr().toarray() > 0
    gaps = [
        m.score_batch(np.arange(24))[bought].mean() - m.score_batch(np.arange(24))[~bought].mean()
        for m in (plain, with_zr)
    ]
    assert gaps[1] > gaps[0] + 1.0


def test_partial_masking_alone_trains_the_discriminator():
    model = small(alpha=0.0, s_pm=0.7, n_epochs=15, threshold=3.0).fit(checkerboard_events())
    assert min(model.d_loss_) < 2 * np.log(2)  # better than chance at some epoch


def test_module_layers_and_xavier_init():
    module = CFGANModule(6, hidden=(5, 3))
    assert module.g_in.weight.shape == (5, 6) and module.g_out.weight.shape == (6, 5)
    assert module.d_condition.bias is None and module.d_vector.weight.shape == (3, 6)
    assert not module.g_out.bias.any()
    assert len(module.generator()) == 4 and len(module.discriminator()) == 5
    condition, vector = torch.rand(2, 6), torch.rand(2, 6)
    joint = torch.nn.Linear(12, 3)
    with torch.no_grad():
        joint.weight.copy_(torch.cat([module.d_condition.weight, module.d_vector.weight], 1))
        joint.bias.copy_(module.d_vector.bias)
    hidden = torch.sigmoid(joint(torch.cat([condition, vector], 1)))
    expected = module.d_out(hidden).squeeze(-1)
    torch.testing.assert_close(module.discriminate(condition, vector), expected)


def test_growth_keeps_weights_and_adam_moments_of_both_networks(fitted):
    model = _copy(fitted)
    module = model.module_
    layers = ("g_in", "g_out", "d_condition", "d_vector", "d_out")
    optimizer_of = {
        name: model.optimizer_ if name[0] == "g" else model.d_optimizer_ for name in layers
    }
    before = {}
    for name in layers:
        weight = getattr(module, name).weight
        state = optimizer_of[name].state[weight]
        before[name] = (
            weight.detach().clone(),
            state["exp_avg"].clone(),
            state["exp_avg_sq"].clone(),
        )
    g_bias_avg = model.optimizer_.state[module.g_out.bias]["exp_avg"].clone()
    purchases = torch.from_numpy((model.positives_csr().toarray() > 0).astype(np.float32))
    with torch.no_grad():
        outputs = module.generate(purchases)
    optimizers = (model.optimizer_, model.d_optimizer_)

    model._grow(model.n_users + 2, 19)

    assert (model.optimizer_, model.d_optimizer_) == optimizers
    assert module.n_items == 19 and module.g_in.in_features == 19
    assert module.d_condition.in_features == module.d_vector.in_features == 19
    for name in layers:
        weight = getattr(module, name).weight
        old_weight, old_avg, old_avg_sq = before[name]
        block = tuple(slice(0, n) for n in old_weight.shape)
        assert torch.equal(weight[block], old_weight), name
        state = optimizer_of[name].state[weight]
        assert state["exp_avg"].shape == weight.shape, name
        assert torch.equal(state["exp_avg"][block], old_avg), name
        assert torch.equal(state["exp_avg_sq"][block], old_avg_sq), name
        new = torch.ones_like(weight, dtype=torch.bool)
        new[block] = False
        assert not state["exp_avg"][new].any() and not state["exp_avg_sq"][new].any(), name
        group = optimizer_of[name].param_groups[0]["params"]
        assert any(p is weight for p in group), name
    assert torch.equal(model.optimizer_.state[module.g_out.bias]["exp_avg"][:16], g_bias_avg)
    # New input columns start at zero: old purchase vectors keep their outputs for old items.
    with torch.no_grad():
        grown = module.generate(torch.cat([purchases, torch.zeros(24, 3)], 1))
    assert torch.equal(grown[:, :16], outputs)


def test_partial_fit_trains_new_users_and_items_with_both_optimizers(fitted):
    model = _copy(fitted)
    g_opt, d_opt = model.optimizer_, model.d_optimizer_
    g_step = float(g_opt.state[model.module_.g_out.weight]["step"])
    d_step = float(d_opt.state[model.module_.d_out.weight]["step"])
    model.partial_fit(checkerboard_events(**MORE))
    assert model.optimizer_ is g_opt and model.d_optimizer_ is d_opt
    assert float(g_opt.state[model.module_.g_out.weight]["step"]) > g_step
    assert float(d_opt.state[model.module_.d_out.weight]["step"]) > d_step
    assert model.module_.n_items == 20 and model.n_users == 28
    scores = model.score_batch(np.arange(28))
    assert scores.shape == (28, 20) and np.isfinite(scores).all()


def test_new_users_need_no_parameters(fitted):
    model = _copy(fitted)
    shapes = {name: p.shape for name, p in model.module_.named_parameters()}
    known = EventBatch(
        np.array(["newbie", "newbie"], object),
        np.array(["i0", "i1"], object),
        np.array([5.0, 5.0], np.float32),
    )
    model.partial_fit(known)
    assert {name: p.shape for name, p in model.module_.named_parameters()} == shapes
    assert np.isfinite(model.score("newbie", ["i2", "i3"])).all()


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
    model = small(n_epochs=30, threshold=3.0).set_params(seed=1)
    model.patience = 3
    model.fit(train, valid=valid)
    history = model.history_
    assert history.best_epoch == int(np.argmax(history.valid_ndcg)) + 1
    assert ValidationNDCG(model, valid)() == pytest.approx(max(history.valid_ndcg))


def test_arrays_hold_both_networks_and_both_optimizers(fitted):
    arrays = fitted._arrays()
    assert arrays["module.g_in.weight"].shape == (32, 16)
    assert arrays["module.d_vector.weight"].shape == (16, 16)
    assert arrays["optimizer.g_out.weight.exp_avg"].shape == (16, 32)
    assert arrays["optimizer.d_condition.weight.exp_avg_sq"].shape == (16, 16)
    assert arrays["optimizer.d_out.bias.step"].shape == (1,)


def test_save_load_identical_scores_and_continued_training(fitted, tmp_path):
    model = _copy(fitted)
    model.save(tmp_path / "m")
    loaded = CFGAN.load(tmp_path / "m")
    assert loaded.hidden == (32, 16) and loaded.get_params() == model.get_params()
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


def test_scores_in_chunks_and_for_item_subsets_match(fitted, monkeypatch):
    whole = fitted.score_batch(np.arange(24))
    items = np.array([3, 0, 7])
    np.testing.assert_array_equal(fitted.score_batch(np.arange(24), items), whole[:, items])
    monkeypatch.setattr(CFGAN, "score_chunk", 40)
    np.testing.assert_allclose(fitted.score_batch(np.arange(24)), whole, rtol=1e-6)


def test_item_vectors_and_similar_items(fitted):
    assert fitted._item_vectors().shape == (16, 32)
    assert len(fitted.similar_items("i0", k=3)) == 3


def test_hidden_must_be_two_widths():
    with pytest.raises(ValueError, match="two widths"):
        CFGAN(hidden=(8,)).fit(checkerboard_events())  # type: ignore[arg-type]


def test_unknown_device_is_rejected():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="CUDA"):
        CFGAN(device="cuda").fit(checkerboard_events())
