"""Models on the event log: no events saved, history read from the attached log, cursors."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from freshrec.base import RecommenderBase
from freshrec.checks import checkerboard_events
from freshrec.data import Event, EventBatch
from freshrec.data.batch import as_batch
from freshrec.log import Cursor, open_log
from freshrec.log.model_view import ModelView
from freshrec.models import BPR, ItemKNN, MostPopular


def _log_of(events):
    log = open_log("memory://")
    log.append(events)
    return log


def test_a_saved_model_holds_no_events(tmp_path):
    events = as_batch(checkerboard_events())
    model = BPR(n_factors=4, n_epochs=2, seed=0).fit(events)
    model.save(tmp_path / "m")
    raw = (tmp_path / "m" / "model.safetensors").read_bytes()
    names = set(json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])) - {"__metadata__"}
    assert names and not any("log." in name or "user_idx" in name for name in names)
    loaded = BPR.load(tmp_path / "m")
    assert len(loaded.history()) == 0 and loaded.n_events_ == len(events)
    np.testing.assert_array_equal(loaded.score_batch(np.arange(3)), model.score_batch(np.arange(3)))


def test_the_view_equals_the_in_memory_history():
    events = as_batch(checkerboard_events())
    in_memory = BPR(n_factors=4, n_epochs=2, seed=0).fit(events)
    on_log = BPR(n_factors=4, n_epochs=2, seed=0).learn_from_log(_log_of(events))
    assert isinstance(on_log.history(), ModelView)
    assert (in_memory.positives_csr() != on_log.positives_csr()).nnz == 0
    np.testing.assert_array_equal(in_memory.user_factors_, on_log.user_factors_)


def test_recommend_excludes_seen_items_only_with_a_log_by_default():
    events = checkerboard_events()
    plain = MostPopular().fit(events)
    attached = MostPopular().learn_from_log(_log_of(events))
    seen = set(attached.seen_items("u0"))
    assert seen == set(plain.seen_items("u0")) and seen
    assert {s.item for s in plain.recommend("u0", k=16)} & seen
    assert not {s.item for s in attached.recommend("u0", k=16)} & seen
    assert {s.item for s in attached.recommend("u0", k=16, exclude_seen=False)} & seen
    assert not {s.item for s in plain.recommend("u0", k=16, exclude_seen=True)} & seen


def test_learn_from_log_moves_the_cursor_and_survives_save_and_load(tmp_path):
    log = _log_of([Event("ann", "a", event_id=1), Event("bob", "b", event_id=2)])
    model = MostPopular().learn_from_log(log, max_events=1)
    assert model.cursor_ == "1" and model.n_events_ == 1
    model.save(tmp_path / "m")
    loaded = MostPopular.load(tmp_path / "m")
    assert loaded.cursor_ == "1" and loaded.event_log is None
    loaded.learn_from_log(log)
    assert loaded.n_events_ == 2 and Cursor.parse(loaded.cursor_) == log.head()
    assert loaded.learn_from_log(log).n_events_ == 2  # nothing new: nothing learned


def test_evicted_ids_leave_the_view_and_the_log_keeps_them():
    log = _log_of(checkerboard_events())
    model = BPR(n_factors=4, n_epochs=1, seed=0).learn_from_log(log)
    n_before = len(model.history())
    model.evict(users=["u0"])
    assert len(model.history()) < n_before and model.seen_items("u0") == []
    assert "u0" in log.users  # the log's ids are never recycled


def test_a_copy_shares_the_log():
    log = _log_of(checkerboard_events())
    model = ItemKNN().learn_from_log(log)
    copied = copy.deepcopy(model)
    assert copied.event_log is log
    assert copied.positives_ is not model.positives_


@pytest.mark.parametrize("name", ["item-knn", "user-knn", "content"])
def test_neighbourhood_models_score_from_their_own_state_after_load(tmp_path, name):
    from freshrec.models import REGISTRY

    events = checkerboard_events()
    model = REGISTRY[name]().fit(events)
    model.save(tmp_path / "m")
    loaded = RecommenderBase.load(tmp_path / "m")
    users = loaded.user_map_.encode(np.array(["u0", "u13"], dtype=object))
    np.testing.assert_array_equal(loaded.score_batch(users), model.score_batch(users))


def test_model_view_orders_like_the_log():
    log = open_log("memory://")
    log.append(EventBatch(np.array([3, 1, 3]), np.array([9, 8, 7]), np.array([1.0, 2.0, 3.0])))
    model = MostPopular().learn_from_log(log)
    users, items, values = model.history().arrays()
    assert model.user_map_.decode(users).tolist() == [3, 1, 3]
    assert model.item_map_.decode(items).tolist() == [9, 8, 7]
    assert values.tolist() == [1.0, 2.0, 3.0]


def test_learning_reads_the_log_up_to_the_cursor_then_what_it_was_given():
    events = as_batch(checkerboard_events())
    first, later = events[:100], events[100:]
    log = _log_of(first)
    model = BPR(n_factors=4, n_epochs=1, seed=0).learn_from_log(log)
    log.append(later)  # in the log, not learned yet
    model.partial_fit(later[:50])  # given directly: pending until the cursor covers it
    learned = MostPopular().fit(events[:150])
    assert (model.positives_csr() != _in_rows(learned.positives_csr(), learned, model)).nnz == 0
    everything = MostPopular().fit(events)
    user = str(later.user[-1])
    assert set(model.seen_items(user)) == set(everything.seen_items(user))  # through the head


def _in_rows(matrix, source, target):
    """``matrix`` (rows and columns of ``source``'s ids) in ``target``'s rows and columns."""
    rows, cols = matrix.nonzero()
    users = target.user_map_.encode(source.user_map_.decode(rows))
    items = target.item_map_.encode(source.item_map_.decode(cols))
    out = target.positives_csr().copy()
    out.data[:] = 0
    out = out.tolil()
    out[users, items] = 1.0
    return out.tocsr()


def test_the_logs_next_events_move_the_cursor_instead_of_being_kept():
    from freshrec.update.strategies import Streaming

    events = as_batch(checkerboard_events())
    log = _log_of(events[:100])
    model = BPR(n_factors=4, n_epochs=1, seed=0).learn_from_log(log)
    before = log.head()
    log.append(events[100:])
    Streaming(micro_batch=20, epochs=1).step(model, log.window(before))
    assert len(model.interactions_) == 0 and Cursor.parse(model.cursor_) == log.head()
    model.partial_fit(events[:5])  # not the log's next events: kept in memory, in the history
    assert len(model.interactions_) == 5 and len(model.history()) == len(events) + 5


@pytest.mark.parametrize("name", ["sasrec", "gru4rec"])
def test_sequential_models_save_only_each_users_context(tmp_path, name):
    from freshrec.data.synthetic import synthetic_stream
    from freshrec.models import REGISTRY

    events = synthetic_stream(n_users=30, n_items=80, n_events=1500, seed=0).events
    first, later = events[:1000], events[1000:]
    model = REGISTRY[name](dim=8, max_len=4, n_epochs=1, seed=0).fit(first)
    model.save(tmp_path / "m")
    loaded = RecommenderBase.load(tmp_path / "m")
    lengths = np.bincount(loaded._history().arrays()[0])
    assert lengths.max() == 4 and len(model._history()) == 1000  # 30 users x 4 at most
    users = np.arange(model.n_users)
    np.testing.assert_array_equal(loaded.score_batch(users), model.score_batch(users))
    model.partial_fit(later)
    loaded.partial_fit(later)  # later windows reach back max_len items at most: the same
    np.testing.assert_allclose(loaded.score_batch(users), model.score_batch(users), rtol=1e-6)
