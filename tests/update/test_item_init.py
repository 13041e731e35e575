"""Initial vectors for new items: mean, category averages, content projection, writing rows."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from freshrec.checks import checkerboard_events
from freshrec.errors import NotFittedError
from freshrec.models import BPR, MostPopular
from freshrec.update import (
    ContentProjection,
    add_items,
    category_average_rows,
    mean_rows,
    set_item_rows,
)

# -- mean_rows --------------------------------------------------------------------------------


def test_mean_rows_is_the_column_mean():
    known = np.random.default_rng(0).normal(size=(7, 3))
    assert np.allclose(mean_rows(known), known.mean(axis=0))
    rows = mean_rows(known, n_rows=4)
    assert rows.shape == (4, 3) and np.allclose(rows, known.mean(axis=0))
    assert mean_rows(known, n_rows=0).shape == (0, 3)


def test_mean_rows_rejects_bad_input():
    with pytest.raises(ValueError, match="no rows"):
        mean_rows(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="2-D"):
        mean_rows(np.zeros(3))
    with pytest.raises(ValueError, match="n_rows"):
        mean_rows(np.ones((2, 2)), n_rows=-1)


# -- category_average_rows --------------------------------------------------------------------


def _genre_data():
    """Known items of three genres (of unequal sizes) around three distinct points."""
    rng = np.random.default_rng(1)
    centres = {"Action": [5.0, 0.0, 0.0], "Comedy": [0.0, 5.0, 0.0], "Drama": [0.0, 0.0, 5.0]}
    vectors, genres = [], []
    sizes = {"Action": 6, "Comedy": 9, "Drama": 4}
    for genre, centre in centres.items():
        for _ in range(sizes[genre]):
            vectors.append(np.array(centre) + rng.normal(scale=0.1, size=3))
            genres.append((genre,))
    vectors.append(np.array([0.0, 9.0, 9.0]))
    genres.append(("Comedy", "Drama"))
    return np.array(vectors), genres


def test_category_average_picks_the_items_of_the_category():
    vectors, genres = _genre_data()
    out = category_average_rows(vectors, genres, [("Action",), ["Comedy"], "Drama"])
    action = [i for i, g in enumerate(genres) if "Action" in g]
    comedy = [i for i, g in enumerate(genres) if "Comedy" in g]
    drama = [i for i, g in enumerate(genres) if "Drama" in g]
    assert np.allclose(out[0], vectors[action].mean(axis=0))
    assert np.allclose(out[1], vectors[comedy].mean(axis=0))
    assert np.allclose(out[2], vectors[drama].mean(axis=0))  # a bare string is one label


def test_category_average_weightings_on_several_categories():
    vectors, genres = _genre_data()
    new = [("Comedy", "Drama", "Western")]  # Western: no known item has it, ignored
    comedy = np.array(["Comedy" in g for g in genres])
    drama = np.array(["Drama" in g for g in genres])
    per_category = (vectors[comedy].mean(axis=0) + vectors[drama].mean(axis=0)) / 2
    assert np.allclose(category_average_rows(vectors, genres, new), per_category)
    shared = comedy.astype(float) + drama.astype(float)  # 2 for the Comedy+Drama item
    per_item = (shared @ vectors) / shared.sum()
    got = category_average_rows(vectors, genres, new, weighting="item")
    assert np.allclose(got, per_item)
    assert not np.allclose(per_category, per_item)


def test_category_average_falls_back_to_the_global_mean():
    vectors, genres = _genre_data()
    out = category_average_rows(vectors, genres, [None, (), ("Western",), float("nan")])
    assert np.allclose(out, vectors.mean(axis=0))
    out = category_average_rows(vectors, genres, [("Western",)], weighting="item")
    assert np.allclose(out, vectors.mean(axis=0))


def test_category_average_counts_a_repeated_label_once():
    vectors = np.array([[1.0], [3.0]])
    out = category_average_rows(vectors, [("A", "A"), ("A",)], [("A", "A", "A")])
    assert np.allclose(out, [[2.0]])


def test_category_average_rejects_bad_input():
    vectors, genres = _genre_data()
    with pytest.raises(ValueError, match="entries"):
        category_average_rows(vectors, genres[:-1], [("Action",)])
    with pytest.raises(ValueError, match="weighting"):
        category_average_rows(vectors, genres, [("Action",)], weighting="genre")  # type: ignore[arg-type]


# -- ContentProjection ------------------------------------------------------------------------


def test_projection_recovers_a_linear_map():
    rng = np.random.default_rng(2)
    content = rng.normal(size=(200, 10))
    true_map, offset = rng.normal(size=(10, 4)), rng.normal(size=4)
    vectors = content @ true_map + offset + rng.normal(scale=0.01, size=(200, 4))
    projection = ContentProjection(l2=1e-3).fit(content, vectors)
    assert np.allclose(projection.coef_, true_map, atol=0.01)
    assert np.allclose(projection.intercept_, offset, atol=0.01)
    unseen = rng.normal(size=(5, 10))
    assert np.allclose(projection.transform(unseen), unseen @ true_map + offset, atol=0.05)


def _ridge_reference(x, y, l2, w):
    """The weighted ridge solution with an unpenalised intercept, straight from the formula."""
    x_mean, y_mean = (w @ x) / w.sum(), (w @ y) / w.sum()
    xc, yc = x - x_mean, y - y_mean
    coef = np.linalg.solve(
        xc.T @ (w[:, None] * xc) + l2 * np.eye(x.shape[1]), xc.T @ (w[:, None] * yc)
    )
    return coef, y_mean - x_mean @ coef


@pytest.mark.parametrize("n_items", [40, 8])  # primal (n >= dim) and dual (n < dim) solves
def test_projection_matches_the_ridge_formula(n_items):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(n_items, 16)), rng.normal(size=(n_items, 3))
    w = rng.uniform(0.5, 2.0, size=n_items)
    projection = ContentProjection(l2=0.7).fit(x, y, sample_weight=w)
    coef, intercept = _ridge_reference(x, y, 0.7, w)
    assert np.allclose(projection.coef_, coef)
    assert np.allclose(projection.intercept_, intercept)


def test_projection_weight_two_equals_a_duplicated_row():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(12, 5)), rng.normal(size=(12, 2))
    weighted = ContentProjection(l2=0.3).fit(x, y, sample_weight=np.r_[2.0, np.ones(11)])
    duplicated = ContentProjection(l2=0.3).fit(np.vstack([x[:1], x]), np.vstack([y[:1], y]))
    assert np.allclose(weighted.coef_, duplicated.coef_)
    assert np.allclose(weighted.intercept_, duplicated.intercept_)


def test_projection_shrinks_to_the_mean_and_can_skip_the_intercept():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 6)), rng.normal(size=(30, 2)) + 3.0
    strong = ContentProjection(l2=1e9).fit(x, y)
    assert np.allclose(strong.transform(x), y.mean(axis=0), atol=1e-4)
    plain = ContentProjection(l2=1.0, fit_intercept=False).fit(x, y)
    assert np.allclose(plain.intercept_, 0.0)
    assert np.allclose(plain.transform(np.zeros((1, 6))), 0.0)


def test_projection_least_squares_without_penalty_in_the_dual_case():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(5, 12)), rng.normal(size=(5, 2))
    projection = ContentProjection(l2=0.0).fit(x, y)
    assert np.allclose(projection.transform(x), y)  # more dimensions than items: exact fit


def test_projection_errors():
    x, y = np.ones((4, 3)), np.ones((4, 2))
    with pytest.raises(NotFittedError):
        ContentProjection().transform(x)
    with pytest.raises(ValueError, match="content vectors but"):
        ContentProjection().fit(x, y[:3])
    with pytest.raises(ValueError, match="l2"):
        ContentProjection(l2=-1.0).fit(x, y)
    with pytest.raises(ValueError, match="sample_weight"):
        ContentProjection().fit(x, y, sample_weight=np.array([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="dimensions"):
        ContentProjection().fit(x, y).transform(np.ones((1, 4)))
    assert ContentProjection(l2=2.0).clone().get_params() == {"l2": 2.0, "fit_intercept": True}


# -- add_items and set_item_rows: BPR ---------------------------------------------------------


@pytest.fixture(scope="module")
def bpr():
    return BPR(n_factors=8, n_epochs=10, threshold=3.0).fit(checkerboard_events())


def _clone(model):
    return copy.deepcopy(model)


def test_add_items_grows_without_learning(bpr):
    model = _clone(bpr)
    before_factors, before_log = model.item_factors_.copy(), len(model.history().arrays()[0])
    idx = add_items(model, ["new0", "new1", "i0"])
    assert idx.tolist() == [16, 17, model.item_map_.encode_one("i0")]
    assert model.item_factors_.shape == (18, 8) and model.item_bias_.shape == (18,)
    assert np.array_equal(model.item_factors_[:16], before_factors)
    assert len(model.history().arrays()[0]) == before_log
    assert model.item_counts_.shape == (18,) and model.item_counts_[16:].sum() == 0
    assert model.score("u0", ["new0"]).shape == (1,)


def test_set_item_rows_changes_exactly_those_rows_and_scores(bpr):
    model = _clone(bpr)
    new = add_items(model, ["new0", "new1", "new2"])
    factors, biases = model.item_factors_.copy(), model.item_bias_.copy()
    scores = model.score_batch(np.arange(model.n_users))
    vectors = np.random.default_rng(7).normal(size=(2, 8))
    set_item_rows(model, new[[0, 2]], vectors)

    changed = np.zeros(model.n_items, dtype=bool)
    changed[new[[0, 2]]] = True
    assert np.allclose(model.item_factors_[changed], vectors)
    assert np.array_equal(model.item_factors_[~changed], factors[~changed])
    assert np.array_equal(model.item_bias_[~changed], biases[~changed])
    mean_bias = biases[~changed].mean()
    assert np.allclose(model.item_bias_[changed], mean_bias)

    after = model.score_batch(np.arange(model.n_users))
    assert np.array_equal(after[:, ~changed], scores[:, ~changed])
    expected = model.user_factors_ @ vectors.T + mean_bias
    assert np.allclose(after[:, changed], expected, atol=1e-5)


def test_set_item_rows_takes_an_explicit_bias(bpr):
    model = _clone(bpr)
    set_item_rows(model, [0, 1], np.zeros((2, 8)), bias=np.array([0.5, -0.5]))
    assert model.item_bias_[:2].tolist() == [0.5, -0.5]
    set_item_rows(model, [2], np.zeros((1, 8)), bias=1.5)
    assert model.item_bias_[2] == 1.5
    no_bias = BPR(n_factors=8, n_epochs=2, item_bias=False).fit(checkerboard_events())
    set_item_rows(no_bias, [0], np.ones((1, 8)), bias=3.0)
    assert not no_bias.item_bias_.any()


def test_set_item_rows_checks_its_input(bpr):
    model = _clone(bpr)
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        set_item_rows(model, [16], np.zeros((1, 8)))
    with pytest.raises(ValueError, match="duplicates"):
        set_item_rows(model, [1, 1], np.zeros((2, 8)))
    with pytest.raises(ValueError, match="2 vectors for 1"):
        set_item_rows(model, [1], np.zeros((2, 8)))
    with pytest.raises(ValueError, match="width 4"):
        set_item_rows(model, [1], np.zeros((1, 4)))
    with pytest.raises(ValueError, match="NaN"):
        set_item_rows(model, [1], np.full((1, 8), np.nan))
    with pytest.raises(ValueError, match="integers"):
        set_item_rows(model, np.array([0.5]), np.zeros((1, 8)))
    assert np.array_equal(model.item_factors_, bpr.item_factors_)  # nothing written


def test_set_item_rows_rejects_other_models():
    popular = MostPopular().fit(checkerboard_events())
    with pytest.raises(TypeError, match="MostPopular"):
        set_item_rows(popular, [0], np.zeros((1, 4)))
    with pytest.raises(NotFittedError):
        set_item_rows(BPR(), [0], np.zeros((1, 4)))
    with pytest.raises(NotFittedError):
        add_items(BPR(), ["a"])


# -- set_item_rows: torch models --------------------------------------------------------------


def test_set_item_rows_on_a_torch_model():
    torch = pytest.importorskip("torch")
    from freshrec.models.neumf import NeuMF

    model = NeuMF(n_factors=4, hidden=(8,), n_epochs=1).fit(checkerboard_events())
    new = add_items(model, ["new0", "new1"])
    assert model.module_.item_gmf.num_embeddings == 18
    gmf = model.module_.item_gmf.weight.detach().clone()
    mlp = model.module_.item_mlp.weight.detach().clone()
    scores = model.score_batch(np.arange(model.n_users))
    vectors = np.arange(8, dtype=np.float64).reshape(2, 4) / 10

    with pytest.raises(ValueError, match="several item tables"):
        set_item_rows(model, new, vectors)  # item_gmf and item_mlp are both 4 wide
    set_item_rows(model, new, vectors, table="item_gmf")
    after = model.module_.item_gmf.weight.detach()
    assert torch.allclose(after[16:], torch.as_tensor(vectors, dtype=after.dtype))
    assert torch.equal(after[:16], gmf[:16])
    assert torch.equal(model.module_.item_mlp.weight.detach(), mlp)
    new_scores = model.score_batch(np.arange(model.n_users))
    assert np.array_equal(new_scores[:, :16], scores[:, :16])
    assert not np.allclose(new_scores[:, 16:], scores[:, 16:])

    with pytest.raises(ValueError, match="no item table of width 3"):
        set_item_rows(model, new, np.zeros((2, 3)))
    with pytest.raises(TypeError, match="not an item table"):
        set_item_rows(model, new, vectors, table="user_gmf")
    with pytest.raises(ValueError, match="BPR only"):
        set_item_rows(model, new, vectors, table="item_gmf", bias=0.0)


def test_set_item_rows_shifts_by_the_item_offset():
    torch = pytest.importorskip("torch")
    from freshrec.models.gru4rec import GRU4Rec

    model = GRU4Rec(dim=4, max_len=4, n_epochs=1, n_negatives=4).fit(checkerboard_events())
    assert model._item_offset == 1
    weight = model.module_.item_embedding.weight.detach().clone()
    set_item_rows(model, [0, 5], np.ones((2, 4)))
    after = model.module_.item_embedding.weight.detach()
    changed = torch.zeros(len(after), dtype=torch.bool)
    changed[[1, 6]] = True
    assert torch.equal(after[changed], torch.ones(2, 4))
    assert torch.equal(after[~changed], weight[~changed])  # padding row 0 included
