"""ContentKNN: conformance, cold start from side features, save/load with vocabularies."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from freshrec.checks import yield_checks
from freshrec.data import Event, SideTable, synthetic_stream
from freshrec.errors import NotFittedError
from freshrec.models.content import ContentKNN

MODELS = [ContentKNN(), ContentKNN(collaborative=0.5, weight_by_value=True)]


@pytest.mark.parametrize(
    ("model", "check"),
    [pytest.param(m, c, id=f"{m!r}:{c.__name__}") for m in MODELS for c in yield_checks(m)],
)
def test_conforms(model, check):
    check(model)


def _items(ids, titles, categories):
    return SideTable(
        np.array(ids, dtype=object),
        {"title": np.array(titles, dtype=object), "category": np.array(categories, dtype=object)},
    )


ITEMS = _items(
    ["a", "b", "c", "d", "e"],
    ["dark jazz night", "smooth jazz", "loud rock", "hard rock anthem", "soft pop"],
    ["jazz", "jazz", "rock", "rock", "pop"],
)
EVENTS = [
    Event("ann", "a"),
    Event("ann", "b"),
    Event("bob", "c"),
    Event("bob", "d"),
    Event("cat", "e"),
]


def test_cold_start_item_is_recommended_to_user_of_its_category():
    model = ContentKNN().fit(EVENTS, items=ITEMS)
    assert "new" not in model.item_map_
    model.set_item_features(_items(["new"], ["late night jazz"], ["jazz"]))
    assert model.item_counts_[model.item_map_.encode_one("new")] == 0  # nobody touched it
    recs = model.recommend("ann", k=1, exclude=model.seen_items("ann"))
    assert [s.item for s in recs] == ["new"] and recs[0].score > 0
    rock = model.recommend("bob", k=1, exclude=model.seen_items("bob"))
    assert rock[0].item != "new"


def test_cold_items_on_synthetic_stream_match_user_categories():
    ds = synthetic_stream(n_users=40, n_items=60, n_events=600, n_categories=4, seed=1)
    assert ds.items is not None
    cutoff = np.quantile(ds.items.columns["arrival"], 0.7)
    late = set(ds.items.ids[ds.items.columns["arrival"] > cutoff].tolist())
    keep = np.array([i not in late for i in ds.events.item])
    events = ds.events.take(np.flatnonzero(keep))
    model = ContentKNN(threshold=3.0).fit(events, items=ds.items)
    category = dict(zip(ds.items.ids.tolist(), ds.items.columns["category"], strict=True))
    hits = total = 0
    for user in sorted(set(events.user.tolist()))[:20]:
        liked = [category[i] for i in model.seen_items(user)]
        recs = model.recommend(user, k=1, candidates=sorted(late))
        if recs and recs[0].score > 0:
            total += 1
            hits += category[recs[0].item] in liked
    assert total >= 10 and hits == total


def test_items_without_features_score_zero():
    model = ContentKNN().fit([*EVENTS, Event("ann", "mystery")], items=ITEMS)
    assert model.score("ann", ["mystery"]).tolist() == [0.0]
    assert model.score("ann", ["b"])[0] > 0


def test_collaborative_block_scores_featureless_items():
    events = [*EVENTS, Event("ann", "mystery"), Event("dan", "a"), Event("dan", "mystery")]
    model = ContentKNN(collaborative=1.0).fit(events, items=ITEMS)
    assert model.score("dan", ["mystery"])[0] > 0


def test_without_any_table_falls_back_to_collaborative_rows():
    model = ContentKNN().fit(EVENTS)
    assert model.encoder_state_ is None
    assert model.score("ann", ["b"])[0] > 0 and model.score("ann", ["c"])[0] == 0


def test_fit_forgets_the_previous_table():
    model = ContentKNN().fit(EVENTS, items=ITEMS)
    assert model.encoder_state_ is not None
    model.fit(EVENTS)
    assert model.encoder_state_ is None and model.n_features_ == 0


def test_later_tables_reuse_the_vocabulary():
    model = ContentKNN().fit(EVENTS, items=ITEMS)
    n = model.n_features_
    model.partial_fit([Event("eve", "z")], items=_items(["z"], ["brand new words"], ["polka"]))
    assert model.n_features_ == n
    assert model.content_matrix()[model.item_map_.encode_one("z")].nnz == 0


def test_set_item_features_needs_a_fitted_model():
    with pytest.raises(NotFittedError):
        ContentKNN().set_item_features(ITEMS)


def test_save_load_keeps_vocabulary_and_scores():
    model = ContentKNN().fit(EVENTS, items=ITEMS)
    model.set_item_features(_items(["new"], ["late night jazz"], ["jazz"]))
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "m")
        state = json.loads((Path(tmp) / "m" / "state.json").read_text())
        loaded = ContentKNN.load(Path(tmp) / "m")
    assert state["values"]["encoder_state_"]["specs"][0] == {
        "kind": "tfidf",
        "column": "title",
        "max_features": None,
        "min_df": 1,
    }
    assert loaded.encoder_state_ == model.encoder_state_
    users = np.arange(model.n_users)
    np.testing.assert_array_equal(loaded.score_batch(users), model.score_batch(users))
    extra = _items(["newer"], ["jazz"], ["jazz"])
    loaded.set_item_features(extra)
    model.set_item_features(extra)
    np.testing.assert_array_equal(loaded.score_batch(users), model.score_batch(users))


def test_similar_items_by_features():
    model = ContentKNN().fit(EVENTS, items=ITEMS)
    assert model.similar_items("a", k=1)[0].item == "b"
