"""FM and DeepFM: conformance, the O(kn) term, side features, impressions, growth, saving."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from freshrec.checks import check_learns_checkerboard, checkerboard_events, yield_checks
from freshrec.data import EventBatch, SideTable
from freshrec.models import deepfm
from freshrec.models.deepfm import FM, DeepFM, DeepFMModule, fm_interaction, parse_features
from freshrec.models.torch.torch_base import TorchRecommender

MODELS = [
    FM(n_factors=8, n_epochs=30, lr=0.05, batch_size=32),
    DeepFM(n_factors=8, hidden=(16,), n_epochs=30, lr=0.02, batch_size=32),
]


def small(cls, **params):
    base = next(m for m in MODELS if type(m) is cls)
    return base.clone().set_params(**params)


@pytest.mark.parametrize(
    ("model", "check"),
    [
        pytest.param(m, c, id=f"{type(m).__name__}:{c.__name__}")
        for m in MODELS
        for c in yield_checks(m)
    ],
)
def test_conforms(model, check):
    check(model)


@pytest.mark.parametrize("cls", [FM, DeepFM])
def test_defaults_learn_the_checkerboard(cls):
    check_learns_checkerboard(cls())


# -- synthetic click data: a user attribute and an item attribute decide the click -----------
def _items(n, offset=0):
    ids = np.array([f"i{j + offset}" for j in range(n)], dtype=object)
    colors = np.array(["red" if j % 2 else "blue" for j in range(n)], dtype=object)
    return SideTable(ids, {"color": colors})


def _users(n, offset=0):
    ids = np.array([f"u{u + offset}" for u in range(n)], dtype=object)
    groups = np.array(["warm" if u % 2 else "cold" for u in range(n)], dtype=object)
    return SideTable(ids, {"group": groups})


def _impressions(users, items, per_user, seed, context=False):
    """Each user is shown ``per_user`` random items; warm users click red, cold ones blue."""
    rng = np.random.default_rng(seed)
    user_col, item_col, values, slots = [], [], [], []
    color = dict(zip(items.ids, items.columns["color"], strict=True))
    group = dict(zip(users.ids, users.columns["group"], strict=True))
    for user in users.ids:
        for item in rng.choice(items.ids, size=per_user, replace=False):
            user_col.append(user)
            item_col.append(item)
            liked = (color[item] == "red") == (group[user] == "warm")
            slot = rng.choice(["day", "night"]) if context else "day"
            values.append(float(liked and slot == "day"))
            slots.append(slot)
    return EventBatch(
        np.array(user_col, dtype=object),
        np.array(item_col, dtype=object),
        np.array(values, dtype=np.float32),
        context={"slot": np.array(slots, dtype=object)} if context else None,
    )


def _auc(labels, scores):
    labels = np.asarray(labels, bool)
    pos, neg = scores[labels], scores[~labels]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def _user_auc(batch, scores):
    """Mean AUC within each user (users with clicks and non-clicks only)."""
    aucs = []
    for user in np.unique(batch.user):
        mine = batch.user == user
        if 0 < batch.value[mine].sum() < mine.sum():
            aucs.append(_auc(batch.value[mine], scores[mine]))
    return float(np.mean(aucs))


ITEMS, USERS = _items(24), _users(16)
TRAIN = _impressions(USERS, ITEMS, per_user=10, seed=0)


@pytest.mark.parametrize("cls", [FM, DeepFM])
def test_item_features_score_cold_items(cls):
    cold_items = _items(10, offset=100)
    table = SideTable(
        np.concatenate([ITEMS.ids, cold_items.ids]),
        {"color": np.concatenate([ITEMS.columns["color"], cold_items.columns["color"]])},
    )
    test = _impressions(USERS, cold_items, per_user=6, seed=1)
    with_features = small(cls, features="color:onehot", n_epochs=40).fit(TRAIN, items=table)
    ids_only = small(cls, n_epochs=40).fit(TRAIN, items=table)
    assert with_features.n_items == 34 and ids_only.n_items == 24  # ids only: table ignored
    auc_features = _user_auc(test, with_features.predict_proba(test.user, test.item))
    auc_ids = _user_auc(test, ids_only.predict_proba(test.user, test.item))
    assert auc_features > 0.95 and auc_ids == 0.5


def test_user_and_context_features_are_fields():
    train = _impressions(USERS, ITEMS, per_user=12, seed=2, context=True)
    spec = "color:onehot, user.group:onehot, context.slot:onehot"
    model = small(FM, features=spec, n_epochs=40).fit(train, items=ITEMS, users=USERS)
    assert model.module_.n_fields == (1, 1, 1)
    cold = _users(6, offset=50)  # new users known only by their group
    model.partial_fit(EventBatch.empty(), users=cold)
    test = _impressions(cold, ITEMS, per_user=8, seed=3)
    day = {"slot": np.full(len(test), "day", dtype=object)}
    night = {"slot": np.full(len(test), "night", dtype=object)}
    assert _auc(test.value, model.predict_proba(test.user, test.item, context=day)) > 0.9
    p_day = model.predict_proba(test.user, test.item, context=day)
    p_night = model.predict_proba(test.user, test.item, context=night)
    liked = test.value == 1
    assert p_day[liked].mean() > p_night[liked].mean() + 0.2


# -- the O(kn) interaction -------------------------------------------------------------------
def test_fm_interaction_equals_naive_pairwise_sum():
    vectors = torch.randn(5, 7, 3, generator=torch.Generator().manual_seed(0))
    naive = torch.stack(
        [
            sum(vectors[b, i] @ vectors[b, j] for i, j in itertools.combinations(range(7), 2))
            for b in range(5)
        ]
    )
    torch.testing.assert_close(fm_interaction(vectors), naive)


def test_model_logit_is_the_fm_formula_over_active_features():
    items = SideTable(
        np.array(["a", "b", "c"], dtype=object),
        {
            "tags": np.array([("x", "y"), ("y",), ()], dtype=object),
            "price": np.array([1.0, 2.0, 4.0]),
        },
    )
    events = EventBatch(
        np.array(["ann", "ann", "bob"], dtype=object),
        np.array(["a", "b", "c"], dtype=object),
        np.array([1.0, 0.0, 1.0]),
    )
    model = FM(n_factors=3, features="tags:multihot,price:normalized", n_epochs=3, lr=0.1)
    model.fit(events, items=items)
    module = model.module_.requires_grad_(False)
    features = model._rows("item").toarray()  # (3 items, 3 columns: x, y, price)
    for u, i in itertools.product(range(2), range(3)):
        active = [(module.user_emb.weight[u], module.user_bias.weight[u, 0], 1.0)]
        active.append((module.item_emb.weight[i], module.item_bias.weight[i, 0], 1.0))
        for c in np.flatnonzero(features[i]):
            emb, bias = module.item_feature_emb.weight[c], module.item_feature_bias.weight[c, 0]
            active.append((emb, bias, float(features[i, c])))
        expected = module.bias[0] + sum(w * x for _, w, x in active)
        for (vi, _, xi), (vj, _, xj) in itertools.combinations(active, 2):
            expected = expected + (vi @ vj) * xi * xj
        got = model.score_batch(np.array([u]), np.array([i]))[0, 0]
        assert got == pytest.approx(float(expected), abs=1e-5)


def test_grid_matches_pairs_for_deepfm():
    model = small(DeepFM, features="color:onehot", n_epochs=3).fit(TRAIN, items=ITEMS)
    grid = model.score_batch(np.arange(16))
    users, items = np.meshgrid(np.arange(16), np.arange(24), indexing="ij")
    probs = model.predict_proba(
        model.user_map_.decode(users.ravel()), model.item_map_.decode(items.ravel())
    )
    np.testing.assert_allclose(1 / (1 + np.exp(-grid.ravel())), probs, rtol=1e-5)


def test_module_deep_part_starts_at_zero():
    module = DeepFMModule(3, 4, n_factors=2, hidden=(5,), seed=0)
    plain = DeepFMModule(3, 4, n_factors=2, seed=0)
    user, item = module.user_terms(torch.arange(3)), module.item_terms(torch.tensor([0, 1, 3]))
    torch.testing.assert_close(module(user, item), plain(user, item))


# -- labels ----------------------------------------------------------------------------------
def test_labelled_impressions_are_the_negatives(monkeypatch):
    calls = []
    real = deepfm.sample_uniform

    def spy(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(deepfm, "sample_uniform", spy)
    shown = EventBatch(
        np.array(["ann", "ann", "bob", "bob"] * 4, dtype=object),
        np.array(["hit", "miss", "hit", "miss"] * 4, dtype=object),
        np.array([1.0, 0.0, 1.0, 0.0] * 4),
    )
    model = FM(n_factors=4, n_epochs=30, lr=0.05).fit(shown)
    assert not calls  # impressions carry their own negatives
    p_hit, p_miss = model.predict_proba(["ann", "ann"], ["hit", "miss"])
    assert p_hit > 0.8 and p_miss < 0.2
    model.partial_fit(EventBatch.empty())
    model.partial_fit(checkerboard_events(n_users=4, n_items=4, seen=2, offset=100))
    assert calls and calls[0] == (16, 4)  # positives only: 4 sampled negatives each


def test_negative_only_batch_lowers_probabilities():
    model = small(FM, threshold=3.0).fit(checkerboard_events())
    before = model.predict_proba(["u0"], ["i0"])[0]
    model.partial_fit(
        EventBatch(np.array(["u0"] * 8, object), np.array(["i0"] * 8, object), np.zeros(8))
    )
    assert model.predict_proba(["u0"], ["i0"])[0] < before


# -- growth ----------------------------------------------------------------------------------
def test_growth_keeps_weights_and_adam_moments_of_old_rows():
    model = small(DeepFM, features="color:onehot", n_epochs=3).fit(TRAIN, items=ITEMS)
    table = model.module_.item_emb
    old_weight = table.weight.detach().clone()
    old_avg = model.optimizer_.state[table.weight]["exp_avg"].clone()
    old_feature = model.module_.item_feature_emb.weight.detach().clone()
    model._grow(model.n_users + 2, model.n_items + 3)
    grown = model.module_.item_emb
    assert grown.num_embeddings == 27 and model.module_.user_bias.num_embeddings == 18
    assert torch.equal(grown.weight[:24], old_weight)
    state = model.optimizer_.state[grown.weight]
    assert torch.equal(state["exp_avg"][:24], old_avg)
    assert state["exp_avg"].shape == (27, 8) and not state["exp_avg"][24:].any()
    assert any(p is grown.weight for p in model.optimizer_.param_groups[0]["params"])
    assert torch.equal(model.module_.item_feature_emb.weight, old_feature)
    assert model._rows("item").shape == (27, 2)


def test_partial_fit_grows_for_new_users_items_and_feature_columns():
    model = small(FM, features="color:onehot", n_epochs=5).fit(TRAIN)
    assert model.module_.item_feature_emb.num_embeddings == 0  # no table yet
    optimizer = model.optimizer_
    step = float(optimizer.state[model.module_.bias]["step"])
    old_rows = model.module_.user_emb.weight.detach().clone()
    new_users = _users(3, offset=200)
    model.partial_fit(_impressions(new_users, ITEMS, per_user=5, seed=4), items=ITEMS)
    assert model.optimizer_ is optimizer
    assert float(optimizer.state[model.module_.bias]["step"]) > step
    assert model.module_.item_feature_emb.num_embeddings == 2 and model.n_users == 19
    assert not torch.equal(model.module_.user_emb.weight[:16], old_rows)  # keeps learning
    assert np.isfinite(model.score_batch(np.arange(19))).all()
    cold = _items(2, offset=300)
    model.partial_fit(EventBatch.empty(), items=cold)  # features only: joins the index
    assert model.n_items == 26 and model._rows("item")[24:].nnz == 2


def test_unknown_user_and_item_get_priors():
    model = small(DeepFM, features="color:onehot", n_epochs=3).fit(TRAIN, items=ITEMS)
    stranger = model.score_batch(np.array([-1]))[0]
    no_user = model._grid(None, None)[0]
    np.testing.assert_array_equal(stranger, no_user)
    probs = model.predict_proba(["nobody", "u0", "nobody"], ["i0", "nothing", "nothing"])
    assert np.isfinite(probs).all() and ((probs > 0) & (probs < 1)).all()


# -- persistence, randomness, devices ----------------------------------------------------------
@pytest.mark.parametrize("cls", [FM, DeepFM])
def test_save_load_identical_scores_and_continued_training(cls, tmp_path):
    spec = "color:onehot,user.group:onehot,context.slot:onehot"
    train = _impressions(USERS, ITEMS, per_user=6, seed=5, context=True)
    model = small(cls, features=spec, n_epochs=5).fit(train, items=ITEMS, users=USERS)
    model.save(tmp_path / "m")
    loaded = cls.load(tmp_path / "m")
    assert loaded.get_params() == model.get_params()
    assert loaded.side_encoders_ == model.side_encoders_
    users = np.arange(16)
    np.testing.assert_array_equal(loaded.score_batch(users), model.score_batch(users))
    np.testing.assert_array_equal(
        loaded.predict_proba(train.user, train.item, context=train.context),
        model.predict_proba(train.user, train.item, context=train.context),
    )
    more = _impressions(_users(3, offset=30), _items(4, offset=30), 3, seed=6, context=True)
    loaded.partial_fit(more, items=_items(4, offset=30))
    model.partial_fit(more, items=_items(4, offset=30))
    np.testing.assert_allclose(
        loaded.score_batch(np.arange(19)), model.score_batch(np.arange(19)), rtol=1e-6
    )


def test_leaves_global_rng_alone_and_is_a_torch_recommender():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = small(DeepFM, n_epochs=2).fit(checkerboard_events())
    assert isinstance(model, TorchRecommender)
    assert torch.equal(torch.rand(3), expected)


def test_scores_in_chunks_match(monkeypatch):
    model = small(DeepFM, n_epochs=2).fit(checkerboard_events())
    whole = model.score_batch(np.arange(24))
    monkeypatch.setattr(DeepFM, "score_chunk", 40)
    np.testing.assert_allclose(model.score_batch(np.arange(24)), whole, rtol=1e-6)


def test_early_stopping_restores_the_best_epoch():
    events = checkerboard_events()
    train, valid = events[:150], events[150:]
    model = small(FM, n_epochs=40, patience=3, lr=0.1, threshold=3.0).fit(train, valid=valid)
    history = model.history_
    assert history.best_epoch == int(np.argmax(history.valid_ndcg)) + 1
    from freshrec.models.torch.training import ValidationNDCG

    assert ValidationNDCG(model, valid)() == pytest.approx(max(history.valid_ndcg))


def test_parse_features_and_bad_specs():
    specs = parse_features("item.color:onehot user.age:bucketized:3")
    assert [s.column for s in specs["item"]] == ["color"] and specs["context"] == ()
    assert parse_features(None) == {"user": (), "item": (), "context": ()}
    with pytest.raises(ValueError, match="bad feature spec"):
        FM(features="color:sparkly").fit(checkerboard_events())


def test_unknown_device_is_rejected():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="CUDA"):
        FM(device="cuda").fit(checkerboard_events())
