"""ItemKNN: conformance, hand-worked similarities, exact incremental co-occurrences, pruning."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from freshrec.checks import checkerboard_events, yield_checks
from freshrec.data import EventBatch
from freshrec.models.item_knn import ItemKNN

MODELS = [ItemKNN(), ItemKNN(n_neighbors=8, shrink=0.0)]


@pytest.mark.parametrize(
    ("model", "check"),
    [pytest.param(m, c, id=f"{m!r}:{c.__name__}") for m in MODELS for c in yield_checks(m)],
)
def test_conforms(model, check):
    check(model)


def test_ranks_unseen_block_items_first():
    model = ItemKNN(threshold=3.0).fit(checkerboard_events())
    for u in range(24):
        user = f"u{u}"
        seen = model.seen_items(user)
        own = {f"i{i}" for i in (range(0, 8) if u < 12 else range(8, 16))} - set(seen)
        assert {s.item for s in model.recommend(user, k=len(own), exclude=seen)} == own


def _batch(rows):
    users, items, values = zip(*rows, strict=True)
    return EventBatch(
        np.array(users, object), np.array(items, object), np.array(values, np.float32)
    )


# u0: a b c, u1: a b, u2: b d (and a below the threshold); item degrees a=2, b=3, c=1, d=1
HAND = _batch(
    [
        ("u0", "a", 5),
        ("u0", "b", 4),
        ("u0", "c", 3),
        ("u1", "a", 5),
        ("u1", "b", 3),
        ("u2", "b", 4),
        ("u2", "d", 5),
        ("u2", "a", 2),
    ]
)
AB = 2 / (np.sqrt(2) * np.sqrt(3) + 1)  # C_ab = 2, shrink = 1
AC = 1 / (np.sqrt(2) * np.sqrt(1) + 1)
BC = BD = 1 / (np.sqrt(3) * np.sqrt(1) + 1)


def test_hand_worked_similarities_and_scores():
    model = ItemKNN(shrink=1.0, threshold=3.0).fit(HAND)
    assert model.cooccurrence_.counts.toarray().tolist() == [
        [2, 2, 1, 0],
        [2, 3, 1, 1],
        [1, 1, 1, 0],
        [0, 1, 0, 1],
    ]
    expected = [[0, AB, AC, 0], [AB, 0, BC, BD], [AC, BC, 0, 0], [0, BD, 0, 0]]
    np.testing.assert_allclose(model.similarities().toarray(), expected, rtol=1e-12)
    # u1 has a and b: score(j) = sim(a, j) + sim(b, j)
    np.testing.assert_allclose(model.score("u1", ["a", "b", "c", "d"]), [AB, AB, AC + BC, BD])
    assert [s.item for s in model.recommend("u1", k=2, exclude=["a", "b"])] == ["c", "d"]
    assert [s.item for s in model.similar_items("b", k=2)] == ["a", "c"]  # c, d tie: lower index


def test_top_k_keeps_the_best_neighbours_and_breaks_ties_by_index():
    model = ItemKNN(n_neighbors=1, shrink=1.0, threshold=3.0).fit(HAND)
    expected = [[0, AB, 0, 0], [AB, 0, 0, 0], [AC, 0, 0, 0], [0, BD, 0, 0]]
    np.testing.assert_allclose(model.similarities().toarray(), expected, rtol=1e-12)
    np.testing.assert_allclose(model.score("u1", ["a", "b", "c", "d"]), [AB, AB, 0, 0])
    two = model.set_params(n_neighbors=2).similarities()  # a changed parameter refreshes all rows
    assert two[1].indices.tolist() == [0, 2]  # c and d tie for b's second place
    full = ItemKNN(n_neighbors=None, shrink=1.0, threshold=3.0).fit(HAND).similarities()
    for n_neighbors in (0, 3, 100):
        other = ItemKNN(n_neighbors=n_neighbors, shrink=1.0, threshold=3.0).fit(HAND)
        assert (other.similarities() != full).nnz == 0


def _random_events(seed, n_users, n_items, n, user_offset=0, item_offset=0):
    rng = np.random.default_rng(seed)
    return [
        (
            f"u{user_offset + rng.integers(n_users)}",
            f"i{item_offset + rng.integers(n_items)}",
            float(rng.integers(1, 6)),
        )
        for _ in range(n)
    ]


@pytest.fixture
def stream():
    """A then B; B has new users and items, repeats of A's pairs, duplicates within itself and
    pairs that were below the threshold in A."""
    a = _random_events(0, 30, 20, 250)
    b = _random_events(1, 40, 25, 150) + a[:40] + [(u, i, 5.0) for u, i, _ in a[40:80]]
    b += b[:20]
    np.random.default_rng(2).shuffle(b)
    return a, b


def _all_users(model):
    return model.score_batch(np.arange(model.n_users))


@pytest.mark.parametrize(("n_neighbors", "shrink"), [(None, 0.0), (3, 10.0)])
def test_partial_fit_equals_fit_on_everything(stream, n_neighbors, shrink):
    a, b = stream
    params = {"n_neighbors": n_neighbors, "shrink": shrink, "threshold": 3.0}
    once = ItemKNN(**params).fit(_batch(a + b))
    positives = once.positives_csr().toarray()
    assert (once.cooccurrence_.counts.toarray() == positives.T @ positives).all()

    grown = ItemKNN(**params).fit(_batch(a))
    _all_users(grown)
    grown.partial_fit(_batch(b))
    assert grown.n_items > 20 and grown.n_users > 30
    assert (grown.cooccurrence_.counts != once.cooccurrence_.counts).nnz == 0
    np.testing.assert_allclose(_all_users(grown), _all_users(once), rtol=0, atol=1e-9)

    chunked = ItemKNN(**params).fit(_batch(a))
    for n, chunk in enumerate(np.array_split(np.arange(len(b)), 4)):
        chunked.partial_fit(_batch([b[k] for k in chunk]))
        if n % 2:  # score between some updates: stale rows build up and get refreshed
            _all_users(chunked)
    assert (chunked.cooccurrence_.counts != once.cooccurrence_.counts).nnz == 0
    np.testing.assert_allclose(_all_users(chunked), _all_users(once), rtol=0, atol=1e-9)


def test_repeated_events_change_nothing(stream):
    a, _ = stream
    model = ItemKNN(threshold=3.0).fit(_batch(a))
    counts, scores = model.cooccurrence_.counts.copy(), _all_users(model)
    model.partial_fit(_batch(a[::-1]))
    assert (model.cooccurrence_.counts != counts).nnz == 0
    assert not model.cooccurrence_._stale.any()
    np.testing.assert_array_equal(_all_users(model), scores)


def test_loaded_model_rebuilds_counts_and_keeps_learning(stream):
    a, b = stream
    model = ItemKNN(n_neighbors=3, threshold=3.0).fit(_batch(a))
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "knn")
        loaded = ItemKNN.load(Path(tmp) / "knn")
    for m in (model, loaded):
        m.partial_fit(_batch(b))
    assert (loaded.cooccurrence_.counts != model.cooccurrence_.counts).nnz == 0
    np.testing.assert_array_equal(_all_users(loaded), _all_users(model))


def test_rejects_negative_n_neighbors():
    with pytest.raises(ValueError, match="n_neighbors"):
        ItemKNN(n_neighbors=-1).fit(HAND).score("u0", ["a"])
