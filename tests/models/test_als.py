"""ALS: the conformance suite, the conjugate-gradient solver, incremental updates, the L2 rule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from freshrec.checks import checkerboard_events, yield_checks
from freshrec.data import EventBatch
from freshrec.models.als import (
    ALS,
    _cg_rows,
    _cg_rows_parallel,
    default_l2,
    solve_rows,
    top_singular_value,
)
from freshrec.models.torch.training import ValidationNDCG


@pytest.mark.parametrize("check", list(yield_checks(ALS())), ids=lambda check: check.__name__)
def test_conforms(check):
    check(ALS())


def _tiny_problem(n_rows=7, n_cols=9, n_factors=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.1, size=(n_rows, n_factors))
    y = rng.normal(scale=0.5, size=(n_cols, n_factors))
    positives = sp.random(n_rows, n_cols, density=0.4, format="csr", random_state=seed)
    positives.data[:] = 1.0
    positives.sort_indices()
    return x, y, positives


def _exact(y, positives, u, alpha, l2):
    """The normal equations of row ``u`` solved directly."""
    y_u = y[positives[u].indices]
    a = y.T @ y + alpha * y_u.T @ y_u + l2 * np.eye(y.shape[1])
    b = (1.0 + alpha) * y_u.sum(axis=0)
    return np.linalg.solve(a, b)


def test_cg_matches_exact_least_squares():
    x, y, positives = _tiny_problem()
    alpha, l2 = 4.0, 0.5
    rows = np.arange(len(x))
    indptr, indices = positives.indptr.astype(np.int64), positives.indices.astype(np.int64)
    # CG solves an n_factors-dimensional system exactly in n_factors steps (up to rounding)
    solve_rows(x, y, indptr, indices, rows, alpha, l2, cg_steps=y.shape[1])
    for u in rows:
        np.testing.assert_allclose(x[u], _exact(y, positives, u, alpha, l2), rtol=1e-7, atol=1e-9)


def test_few_cg_steps_approach_exact_solution():
    x, y, positives = _tiny_problem(n_factors=8, n_cols=30)
    alpha, l2 = 4.0, 1.0
    exact = np.array([_exact(y, positives, u, alpha, l2) for u in range(len(x))])
    indptr, indices = positives.indptr.astype(np.int64), positives.indices.astype(np.int64)
    errors = [np.linalg.norm(x - exact)]
    for _ in range(4):  # warm-started rounds of 3 steps, as successive ALS sweeps do
        solve_rows(x, y, indptr, indices, np.arange(len(x)), alpha, l2, cg_steps=3)
        errors.append(np.linalg.norm(x - exact))
    assert (np.diff(errors) < 0).all()
    assert errors[-1] < 1e-3 * errors[0]


def test_cg_on_float32_tables():
    x, y, positives = _tiny_problem()
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    indptr, indices = positives.indptr.astype(np.int64), positives.indices.astype(np.int64)
    solve_rows(x32, y32, indptr, indices, np.arange(len(x)), 4.0, 0.5, cg_steps=5)
    y64 = y32.astype(np.float64)
    exact = np.array([_exact(y64, positives, u, 4.0, 0.5) for u in range(len(x))])
    np.testing.assert_allclose(x32, exact, rtol=1e-4, atol=1e-5)


def test_parallel_solver_is_bitwise_equal_to_serial():
    x, y, positives = _tiny_problem(n_rows=50, n_cols=40, n_factors=8)
    gram = y.T @ y + 0.3 * np.eye(8)
    indptr, indices = positives.indptr.astype(np.int64), positives.indices.astype(np.int64)
    serial, parallel = x.copy(), x.copy()
    rows = np.arange(0, 50, 2)
    _cg_rows(serial, y, gram, indptr, indices, rows, 3.0, 3)
    _cg_rows_parallel(parallel, y, gram, indptr, indices, rows, 3.0, 3)
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_array_equal(serial[1::2], x[1::2])  # rows not asked for are untouched


def test_loss_decreases():
    model = ALS(threshold=3.0).fit(checkerboard_events())
    loss = model.history_.loss
    assert len(loss) == model.n_iterations
    assert (np.diff(loss) <= 1e-9).all()
    assert loss[-1] < 0.8 * loss[0]


def test_partial_fit_resolves_only_touched_rows():
    model = ALS(threshold=3.0).fit(checkerboard_events())
    users, items = model.user_factors_.copy(), model.item_factors_.copy()
    # u0 likes a new item; u100 is new and likes i0 and the new item
    model.partial_fit(
        EventBatch(
            np.array(["u0", "u100", "u100"], object),
            np.array(["i100", "i100", "i0"], object),
            np.array([5.0, 5.0, 5.0], np.float32),
        )
    )
    assert model.user_factors_.shape == (25, 64) and model.item_factors_.shape == (17, 64)
    touched_users = [model.user_map_.encode_one(u) for u in ("u0", "u100")]
    touched_items = [model.item_map_.encode_one(i) for i in ("i100", "i0")]
    other_users = np.setdiff1d(np.arange(24), touched_users)
    other_items = np.setdiff1d(np.arange(16), touched_items)
    np.testing.assert_array_equal(model.user_factors_[other_users], users[other_users])
    np.testing.assert_array_equal(model.item_factors_[other_items], items[other_items])
    assert not np.array_equal(model.user_factors_[touched_users[0]], users[touched_users[0]])
    assert not np.array_equal(model.item_factors_[touched_items[1]], items[touched_items[1]])


def test_partial_fit_new_user_gets_own_block():
    model = ALS(threshold=3.0).fit(checkerboard_events())
    model.partial_fit(
        EventBatch(
            np.array(["new"] * 4, object),
            np.array(["i0", "i1", "i2", "i3"], object),
            np.full(4, 5.0, np.float32),
        )
    )
    recs = model.recommend("new", k=3, exclude=["i0", "i1", "i2", "i3"])
    assert all(int(s.item[1:]) < 8 for s in recs)


def test_partial_fit_without_positives_changes_nothing_learned():
    model = ALS(threshold=3.0).fit(checkerboard_events())
    users = model.user_factors_.copy()
    model.partial_fit(
        EventBatch(np.array(["u0"], object), np.array(["i9"], object), np.array([1.0], np.float32))
    )
    np.testing.assert_array_equal(model.user_factors_, users)
    assert model.history_.best_epoch == 0


def test_early_stopping_keeps_best_sweep():
    events = checkerboard_events(n_users=40, n_items=30, seen=10, seed=3)
    order = np.random.default_rng(0).permutation(len(events))
    train, valid = events[order[:-60]], events[order[-60:]]
    model = ALS(n_factors=16, n_iterations=30, alpha=40.0, l2=0.01, patience=2, threshold=3.0)
    model.fit(train, valid=valid)
    history = model.history_
    assert history.best_epoch == int(np.argmax(history.valid_ndcg)) + 1
    assert ValidationNDCG(model, valid)() == pytest.approx(max(history.valid_ndcg))


# -- the L2 rule of ALS(l2=None) ------------------------------------------------------------------
def _random_positives(n_users, n_items, n_positives, seed=0, skew=0.0):
    """A binary (n_users, n_items) matrix of about ``n_positives`` entries; item ``j`` is drawn
    with weight ``(j + 1) ** -skew`` (``skew > 0``: a few very popular items)."""
    rng = np.random.default_rng(seed)
    weight = np.arange(1, n_items + 1, dtype=np.float64) ** -skew
    users = rng.integers(n_users, size=n_positives)
    items = rng.choice(n_items, size=n_positives, p=weight / weight.sum())
    matrix = sp.csr_matrix((np.ones(n_positives), (users, items)), shape=(n_users, n_items))
    matrix.data[:] = 1.0  # duplicates summed: back to binary
    return matrix


@pytest.mark.parametrize("skew", [0.0, 1.0])
def test_top_singular_value_matches_dense_svd(skew):
    matrix = _random_positives(300, 200, 3000, seed=1, skew=skew)
    exact = np.linalg.svd(matrix.toarray(), compute_uv=False)[0]
    assert top_singular_value(matrix) == pytest.approx(exact, rel=1e-4)
    assert top_singular_value(matrix) <= exact * (1 + 1e-9)  # power iteration: from below
    assert top_singular_value(sp.csr_matrix((3, 4))) == 0.0


def test_default_l2_is_half_the_collapse_bound_then_30():
    # an all-ones m x n block has sigma_1 = sqrt(m * n)
    for (m, n), alpha in itertools.product([(1, 1), (4, 9), (10, 10), (30, 50)], [0.0, 2.0, 9.0]):
        block = sp.csr_matrix(np.ones((m, n)))
        expected = min(30.0, (1 + alpha) * np.sqrt(m * n) / 2)
        assert default_l2(block, alpha) == pytest.approx(expected, rel=1e-6)
    assert default_l2(sp.csr_matrix((5, 5)), 2.0) == 0.0


def test_default_l2_grows_with_data_size_up_to_30():
    # the same population of 2,000 users x 1,500 items, ever more positives per user
    values = [
        default_l2(_random_positives(2000, 1500, n, seed=2, skew=0.5), alpha=2.0)
        for n in (500, 2000, 8000, 30000, 120000)
    ]
    assert values[0] < 10.0  # a few hundred positives: far below 30, under the bound
    assert np.all(np.diff(values) >= 0)
    assert values[-2:] == [30.0, 30.0]


def test_default_l2_is_exactly_30_at_movielens_1m_scale():
    # MovieLens-1M's training part under RecBole's protocol: 6,039 x 3,601, 674,674 positives
    # (its sigma_1 is 357); even spread uniformly its sigma_1 is about 674,674 / sqrt(6,039 *
    # 3,601) = 145, far above the 20 where the cap binds: the default stays l2 = 30 exactly.
    matrix = _random_positives(6039, 3601, 700_000, seed=3)
    assert top_singular_value(matrix) > 100
    assert default_l2(matrix, alpha=2.0) == 30.0


def test_fit_uses_the_rule_unless_l2_is_given():
    events = checkerboard_events()
    model = ALS(threshold=3.0).fit(events)
    assert model.l2 is None
    assert model.l2_ == default_l2(model.positives_csr(), model.alpha)
    assert 0.0 < model.l2_ < 30.0  # 24 users x 16 items: the bound binds, not the cap
    assert ALS(l2=5.0, threshold=3.0).fit(events).l2_ == 5.0
    assert ALS(l2=5.0).get_params()["l2"] == 5.0


def test_partial_fit_recomputes_the_rule_on_everything_learned():
    events = checkerboard_events(n_users=40, n_items=30, seen=10, seed=4)
    model = ALS(threshold=3.0, n_iterations=2).fit(events[:60])
    before = model.l2_
    model.partial_fit(events[60:])
    assert model.l2_ == default_l2(model.positives_csr(), model.alpha) > before


def test_l2_above_the_collapse_bound_zeroes_every_score_and_the_rule_does_not():
    events = checkerboard_events(n_users=40, n_items=30, seen=10, seed=5)
    rule = ALS(n_factors=8, threshold=3.0).fit(events)
    bound = 2 * rule.l2_  # l2_ is half of (1 + alpha) * sigma_1 here
    collapsed = ALS(n_factors=8, l2=1.05 * bound, n_iterations=200, threshold=3.0).fit(events)
    assert np.abs(collapsed.score_batch(np.arange(40))).max() < 1e-3
    assert np.abs(rule.score_batch(np.arange(40))).max() > 0.1
