"""FoldsIn: new events change only their users' rows; shared parameters stay bit for bit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from freshrec.base import RecommenderBase
from freshrec.capabilities import FoldsIn
from freshrec.checks import checkerboard_events
from freshrec.data import Event
from freshrec.log import open_log
from freshrec.models import ALS, BPR, BiasedMF, MostPopular

FACTORIES: dict[str, Callable[[], RecommenderBase]] = {
    "bpr": lambda: BPR(n_factors=4, n_epochs=5, seed=0),
    "biased-mf": lambda: BiasedMF(n_factors=4, n_epochs=5, seed=0),
    "als": lambda: ALS(n_factors=4, n_iterations=5, seed=0),
}
IMPLICIT = ["bpr", "als"]


def fitted(name: str) -> Any:
    return FACTORIES[name]().fit(checkerboard_events())


def shared_state(model: Any) -> dict[str, Any]:
    """Copies of everything saved that is not per-user (``user_*`` arrays are)."""
    state = {k: v.copy() for k, v in model._arrays().items() if not k.startswith("user_")}
    state |= {name: getattr(model, name) for name in model._state_values}
    return state | {"item_counts_": model.item_counts_.copy(), "n_events_": model.n_events_}


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before.keys() == after.keys()
    for name, value in before.items():
        assert np.array_equal(value, after[name]), name


def unseen_item(model: Any, user: str) -> str:
    return sorted(set(model.item_map_.ids) - set(model.seen_items(user)))[0]


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_only_the_users_rows_change(name):
    log = open_log("memory://")
    log.append(checkerboard_events())
    model = FACTORIES[name]().learn_from_log(log)
    shared, users = shared_state(model), model.user_factors_.copy()
    cursor, n_history = model.cursor_, len(model.history())
    u = model.user_map_.encode_one("u0")
    model.fold_in([Event("u0", unseen_item(model, "u0"), 5.0)], steps=3)
    assert_same(shared, shared_state(model))
    assert not np.array_equal(model.user_factors_[u], users[u])
    others = np.arange(len(users)) != u
    assert np.array_equal(model.user_factors_[others], users[others])
    assert (model.cursor_, len(model.history())) == (cursor, n_history)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_folded_in_item_rises_for_its_user(name):
    model = fitted(name)
    item = unseen_item(model, "u0")
    before = model.score("u0", [item])[0]
    model.fold_in([Event("u0", item, 5.0)] * 3, steps=5)
    assert model.score("u0", [item])[0] > before


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_new_user_gets_a_row_and_leaves_the_fallback(name):
    model = fitted(name)
    shared, n_users = shared_state(model), model.n_users
    items = model.item_map_.ids
    fallback = model.score("newbie", items)
    model.fold_in([Event("newbie", "i0", 5.0), Event("newbie", "i1", 5.0)], steps=3)
    assert "newbie" in model.user_map_ and model.n_users == n_users + 1
    assert model.user_factors_.shape[0] == n_users + 1
    assert not np.allclose(model.score("newbie", items), fallback)
    assert_same(shared, shared_state(model))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_unknown_items_are_skipped(name):
    model = fitted(name)
    users = model.user_factors_.copy()
    model.fold_in([Event("u0", "no-such-item", 5.0), Event("ghost", "no-such-item", 5.0)])
    assert np.array_equal(model.user_factors_, users)
    assert "ghost" not in model.user_map_ and "no-such-item" not in model.item_map_


@pytest.mark.parametrize("name", IMPLICIT)
def test_implicit_models_skip_non_positive_events(name):
    model = fitted(name)
    users = model.user_factors_.copy()
    model.fold_in([Event("u0", "i0", 0.0), Event("ghost", "i0", 0.0)], steps=3)
    assert np.array_equal(model.user_factors_, users) and "ghost" not in model.user_map_


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_same_seed_same_result(name):
    events = [Event("u0", "i9", 5.0), Event("newbie", "i3", 5.0), Event("u5", "i1", 1.0)]
    first, second = fitted(name).fold_in(events, steps=2), fitted(name).fold_in(events, steps=2)
    for key, value in first._arrays().items():
        assert np.array_equal(value, second._arrays()[key]), key


def test_bpr_new_user_in_an_evicted_slot_starts_fresh():
    model = fitted("bpr")
    _, _ = model.evict(users=["u0"])
    slot = model.user_map_.free_slots[0]
    model.fold_in([Event("newbie", "i0")], steps=0)
    assert model.user_map_.encode_one("newbie") == slot
    assert np.abs(model.user_factors_[slot]).sum() > 0  # evicted rows are zero


def test_capability():
    assert isinstance(BPR(), FoldsIn) and isinstance(BiasedMF(), FoldsIn)
    assert isinstance(ALS(), FoldsIn) and not isinstance(MostPopular(), FoldsIn)
