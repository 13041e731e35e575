"""Conformance suite every freshrec recommender passes (public, like ``river.checks``).

Use :func:`check_recommender` to run every check on a model, or :func:`yield_checks` to
parametrize tests with one test per check. A model skips a check only by declaring it, with
a reason, in ``_check_skips = {"check_name": "reason"}``.

Examples
--------
>>> from freshrec.models.popular import MostPopular
>>> check_recommender(MostPopular())
>>> [check.__name__ for check in yield_checks(MostPopular())][:2]
['check_init_stores_params_only', 'check_clone_is_unfitted']
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import LearnsOne
from freshrec.data.batch import EventBatch
from freshrec.errors import NotFittedError

__all__ = ["check_recommender", "checkerboard_events", "yield_checks"]

Check = Callable[[RecommenderBase], None]


def checkerboard_events(
    n_users: int = 24, n_items: int = 16, seen: int = 6, seed: int = 0, offset: int = 0
) -> EventBatch:
    """Two taste blocks: the first half of users rate ``seen`` of the first half of items 5,
    the second half likewise for the second half; each user also rates two items of the other
    block 1. Ids are strings ``u<n>`` / ``i<n>`` shifted by ``offset`` (for new-id tests).

    Examples
    --------
    >>> batch = checkerboard_events()
    >>> len(batch), sorted(set(batch.value.tolist()))
    (192, [1.0, 5.0])
    """
    rng = np.random.default_rng(seed)
    half_u, half_i = n_users // 2, n_items // 2
    users, items, values = [], [], []
    for u in range(n_users):
        own = 0 if u < half_u else half_i
        other = half_i - own
        for i in rng.choice(half_i, size=seen, replace=False):
            users.append(f"u{u + offset}")
            items.append(f"i{own + i + offset}")
            values.append(5.0)
        for i in rng.choice(half_i, size=2, replace=False):
            users.append(f"u{u + offset}")
            items.append(f"i{other + i + offset}")
            values.append(1.0)
    order = rng.permutation(len(users))
    return EventBatch(
        np.array(users, dtype=object)[order],
        np.array(items, dtype=object)[order],
        np.array(values, dtype=np.float32)[order],
        timestamp=np.arange(len(users), dtype=np.float64),
    )


def _fresh(model: RecommenderBase) -> RecommenderBase:
    fresh = model.clone()
    if "threshold" in fresh.get_params():
        fresh.set_params(threshold=3.0)
    return fresh


def _all_scores(model: RecommenderBase, users: list[str] | None = None) -> np.ndarray:
    users = users if users is not None else [f"u{u}" for u in range(24)] + ["stranger"]
    user_idx = np.array([model.user_map_.encode_one(u) for u in users])
    return model.score_batch(user_idx)


def check_init_stores_params_only(model: RecommenderBase) -> None:
    """``__init__`` stores its arguments under their own names and learns nothing."""
    params = model.get_params()
    signature = inspect.signature(type(model).__init__)
    for name in signature.parameters:
        if name != "self":
            assert name in params, f"parameter {name!r} is not stored as an attribute"
    fresh = type(model)(**params)
    learned = [n for n in vars(fresh) if n.endswith("_")]
    assert not learned, f"__init__ created learned state: {learned}"
    assert not fresh.is_fitted


def check_clone_is_unfitted(model: RecommenderBase) -> None:
    """A clone has the same parameters and no learned state."""
    fitted = _fresh(model).fit(checkerboard_events())
    clone = fitted.clone()
    assert clone.get_params() == fitted.get_params()
    assert not clone.is_fitted
    try:
        clone.score_batch(np.array([0]))
    except NotFittedError:
        return
    raise AssertionError("an unfitted clone must raise NotFittedError when scoring")


def check_fit_equals_reset_plus_partial_fit(model: RecommenderBase) -> None:
    """``fit`` forgets earlier data: fit(A); fit(B) scores equal a fresh fit(B)."""
    a, b = checkerboard_events(seed=1), checkerboard_events(seed=2)
    twice = _fresh(model).fit(a).fit(b)
    once = _fresh(model).fit(b)
    np.testing.assert_allclose(_all_scores(twice), _all_scores(once), rtol=1e-5, atol=1e-6)
    manual = _fresh(model)
    manual.reset()
    manual.partial_fit(b)
    np.testing.assert_allclose(_all_scores(manual), _all_scores(once), rtol=1e-5, atol=1e-6)


def check_partial_fit_accepts_new_users_and_items(model: RecommenderBase) -> None:
    """partial_fit grows for unseen users and items; their scores are finite."""
    fitted = _fresh(model).fit(checkerboard_events())
    n_users, n_items = fitted.n_users, fitted.n_items
    fitted.partial_fit(checkerboard_events(n_users=4, n_items=4, seen=2, offset=100))
    assert fitted.n_users == n_users + 4 and fitted.n_items == n_items + 4
    scores = _all_scores(fitted, ["u100", "u0"])
    assert scores.shape == (2, n_items + 4)
    assert np.isfinite(scores).all()
    assert len(fitted.recommend("u100", k=3)) == 3


def check_unknown_user_gets_fallback(model: RecommenderBase) -> None:
    """An unknown user gets finite scores and a full list, never an exception."""
    fitted = _fresh(model).fit(checkerboard_events())
    assert np.isfinite(fitted.score("nobody", ["i0", "i1"])).all()
    assert len(fitted.recommend("nobody", k=5)) == 5


def check_recommend_respects_exclude_and_candidates(model: RecommenderBase) -> None:
    """``exclude`` never appears; ``candidates`` bound the list."""
    fitted = _fresh(model).fit(checkerboard_events())
    full = [s.item for s in fitted.recommend("u0", k=16)]
    excluded = full[:3]
    rest = [s.item for s in fitted.recommend("u0", k=16, exclude=excluded)]
    assert not set(excluded) & set(rest) and len(rest) == 13
    pool = ["i1", "i9", "i15", "never-seen"]
    picked = fitted.recommend("u0", k=10, candidates=pool, exclude=["i9"])
    assert {s.item for s in picked} <= set(pool) - {"i9"} and len(picked) == 3
    scores = [s.score for s in picked]
    assert scores == sorted(scores, reverse=True)


def check_scores_finite_and_shaped(model: RecommenderBase) -> None:
    """score_batch is (n_users, n_items) and finite; score() agrees with it."""
    fitted = _fresh(model).fit(checkerboard_events())
    all_scores = _all_scores(fitted)
    assert all_scores.shape == (25, fitted.n_items)
    assert np.isfinite(all_scores).all()
    some = fitted.score("u3", ["i2", "i7", "unknown-item"])
    u3 = fitted.user_map_.encode_one("u3")
    items = fitted.item_map_.encode(np.array(["i2", "i7"], dtype=object))
    np.testing.assert_allclose(some[:2], fitted.score_batch(np.array([u3]), items)[0], rtol=1e-6)
    assert some[2] == fitted.prior_score


def check_save_load_roundtrip(model: RecommenderBase) -> None:
    """A saved and loaded model scores identically, and keeps learning identically."""
    fitted = _fresh(model).fit(checkerboard_events())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        fitted.save(path)
        assert (path / "manifest.json").exists()
        loaded = type(model).load(path)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(_all_scores(loaded), _all_scores(fitted))
    more = checkerboard_events(n_users=4, n_items=4, seen=2, offset=100)
    loaded.partial_fit(more)
    fitted.partial_fit(more)
    users = ["u0", "u100", "stranger"]
    np.testing.assert_allclose(_all_scores(loaded, users), _all_scores(fitted, users), rtol=1e-6)


def check_seed_is_deterministic(model: RecommenderBase) -> None:
    """Two fits with the same seed give the same scores."""
    first = _fresh(model).fit(checkerboard_events())
    second = _fresh(model).fit(checkerboard_events())
    np.testing.assert_array_equal(_all_scores(first), _all_scores(second))


def check_learns_checkerboard(model: RecommenderBase) -> None:
    """The top-2 unseen items come from the user's own taste block for most users.

    Each user has seen 6 of the 8 items of their block, so a perfect model puts the other 2
    first.
    """
    fitted = _fresh(model).fit(checkerboard_events())
    in_block = 0
    for u in range(24):
        user = f"u{u}"
        own = range(0, 8) if u < 12 else range(8, 16)
        recs = fitted.recommend(user, k=2, exclude=fitted.seen_items(user))
        in_block += sum(int(str(s.item)[1:]) in own for s in recs)
    assert in_block >= 0.8 * 24 * 2, f"only {in_block}/48 recommendations in the user's block"


def check_step_size_is_read_when_learning(model: RecommenderBase) -> None:
    """A step size changed with ``set_params`` after ``fit`` is the one the next update uses.

    Update strategies (``FineTune(lr=...)``, ``--set finetune.lr=``) change ``lr`` of a fitted
    model for one update and restore it after; a model that copied its step size into learned
    state (an optimizer built at the first fit) keeps stepping with the old one. For a model
    with ``lr`` and ``n_epochs``: after ``set_params(lr=0)`` (and every other ``*_lr`` to 0)
    an update must score like the same update with ``n_epochs=0`` (the same events taken in,
    nothing learned); after the old step sizes are restored, the next update must learn
    again. A model whose ``lr=0`` is not "no step" (FTRL's alpha) declares a skip.
    """
    params = model.get_params()
    if "lr" not in params or "n_epochs" not in params:
        return
    steps = [name for name in params if name == "lr" or name.endswith("_lr")]
    more = checkerboard_events(seed=1)
    idle = _fresh(model).fit(checkerboard_events())
    idle.set_params(n_epochs=0).partial_fit(more)  # takes the events in, learns nothing
    updated = _fresh(model).fit(checkerboard_events())
    restored = {name: updated.get_params()[name] for name in steps}
    updated.set_params(**dict.fromkeys(steps, 0.0)).partial_fit(more)
    np.testing.assert_allclose(
        _all_scores(updated),
        _all_scores(idle),
        rtol=1e-9,
        atol=1e-9,
        err_msg=f"an update after set_params({steps[0]}=0) still changed the model",
    )
    idle.partial_fit(more)
    updated.set_params(**restored).partial_fit(more)
    assert not np.allclose(_all_scores(updated), _all_scores(idle), rtol=0, atol=1e-7), (
        f"an update after restoring {restored} learned nothing"
    )


def check_learn_one_equals_partial_fit_of_one(model: RecommenderBase) -> None:
    """A model with ``learn_one`` (:class:`~freshrec.capabilities.LearnsOne`) learns each
    event exactly as ``partial_fit([event])`` with one epoch does, new ids included."""
    if not isinstance(model, LearnsOne):
        return
    base = checkerboard_events()
    more = checkerboard_events(seed=1, offset=4)  # known and new users and items
    one = _fresh(model).fit(base)
    batched = _fresh(model).fit(base)
    if "n_epochs" in batched.get_params():
        batched.set_params(n_epochs=1)
    assert isinstance(one, LearnsOne)
    for event in more.to_events():
        one.learn_one(event.user, event.item, event.value)
        batched.partial_fit([event])
    assert (one.n_users, one.n_items) == (batched.n_users, batched.n_items)
    np.testing.assert_allclose(
        _all_scores(one),
        _all_scores(batched),
        rtol=1e-12,
        atol=1e-12,
        err_msg="learn_one learned differently from partial_fit([event])",
    )


_CHECKS: tuple[Check, ...] = (
    check_init_stores_params_only,
    check_clone_is_unfitted,
    check_fit_equals_reset_plus_partial_fit,
    check_partial_fit_accepts_new_users_and_items,
    check_unknown_user_gets_fallback,
    check_recommend_respects_exclude_and_candidates,
    check_scores_finite_and_shaped,
    check_save_load_roundtrip,
    check_seed_is_deterministic,
    check_learns_checkerboard,
    check_step_size_is_read_when_learning,
    check_learn_one_equals_partial_fit_of_one,
)


def yield_checks(model: RecommenderBase) -> Iterator[Check]:
    """The checks that apply to ``model`` (those not in its ``_check_skips``).

    Examples
    --------
    >>> from freshrec.models import MostPopular
    >>> "check_learns_checkerboard" in [c.__name__ for c in yield_checks(MostPopular())]
    False
    """
    skips: dict[str, Any] = getattr(model, "_check_skips", {})
    for check in _CHECKS:
        if check.__name__ not in skips:
            yield check


def check_recommender(model: RecommenderBase) -> None:
    """Run every applicable check on ``model``; raises ``AssertionError`` on the first failure.

    Examples
    --------
    >>> from freshrec.models import MostPopular
    >>> check_recommender(MostPopular(half_life_s=60.0))
    """
    for check in yield_checks(model):
        check(model)
