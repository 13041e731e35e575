"""Conformance suite every freshrec recommender passes (public, like ``river.checks``).

Use :func:`check_recommender` to run every check on a model, or :func:`yield_checks` to
parametrize tests with one test per check. Every model runs the general checks, and the checks
of each capability it has (:mod:`freshrec.capabilities`). A model skips a check only by
declaring it, with a reason, in ``_check_skips = {"check_name": "reason"}``.

Examples
--------
>>> from freshrec.models.popular import MostPopular
>>> check_recommender(MostPopular())
>>> [check.__name__ for check in yield_checks(MostPopular())][:2]
['check_init_stores_params_only', 'check_clone_is_unfitted']
"""

from __future__ import annotations

import copy
import inspect
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import (
    Anchors,
    DistilsFromSelf,
    FactorTables,
    GrowsAndEvicts,
    HasItemRows,
    LearnsOne,
    LearnsPredict,
    LearnsRank,
    Observes,
    PredictsRatings,
    Rehearses,
)
from freshrec.data.batch import EventBatch
from freshrec.errors import NotFittedError
from freshrec.log import open_log

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
    """A saved and loaded model scores identically without its log, and, given its log
    again, keeps learning identically."""
    log = open_log("memory://")
    log.append(checkerboard_events())
    fitted = _fresh(model).learn_from_log(log)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        fitted.save(path)
        assert (path / "manifest.json").exists()
        loaded = type(model).load(path)
    assert loaded.get_params() == fitted.get_params() and loaded.event_log is None
    np.testing.assert_array_equal(_all_scores(loaded), _all_scores(fitted))
    log.append(checkerboard_events(n_users=4, n_items=4, seen=2, offset=100))
    loaded.learn_from_log(log)
    fitted.learn_from_log(log)
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


def check_learn_predict_is_test_then_train(model: RecommenderBase) -> None:
    """``learn_predict`` (:class:`~freshrec.capabilities.LearnsPredict`) predicts each event
    as ``score`` would just before, then learns it as ``partial_fit([event])`` with one epoch
    does."""
    fitted = _fresh(model).fit(checkerboard_events())
    assert isinstance(fitted, LearnsPredict), f"{type(model).__name__} is not LearnsPredict"
    reference = copy.deepcopy(fitted)
    if "n_epochs" in reference.get_params():
        reference.set_params(n_epochs=1)
    more = checkerboard_events(seed=1)
    predicted = fitted.learn_predict(more)
    expected = []
    for event in more.to_events():
        expected.append(reference.score(event.user, [event.item])[0])
        reference.partial_fit([event])
    np.testing.assert_allclose(
        predicted, expected, rtol=1e-9, atol=1e-9, err_msg="a prediction was not made before"
    )
    np.testing.assert_allclose(
        _all_scores(fitted),
        _all_scores(reference),
        rtol=1e-9,
        atol=1e-9,
        err_msg="learn_predict learned differently from partial_fit([event])",
    )


def check_learn_rank_ranks_before_learning(model: RecommenderBase) -> None:
    """``learn_rank`` (:class:`~freshrec.capabilities.LearnsRank`) ranks each positive by the
    model as it stands: with ``steps=0`` nothing is learned, each rank counts the items that
    outscore the event's item for its user (the user's earlier positives, before and in the
    stream, not counted) and events below ``threshold`` rank -1."""
    fitted = _fresh(model).fit(checkerboard_events())
    assert isinstance(fitted, LearnsRank), f"{type(model).__name__} is not LearnsRank"
    users = np.arange(fitted.n_users)
    scores, positives = fitted.score_batch(users), fitted.positives_csr().tolil()
    more = checkerboard_events(seed=1)
    ranks = fitted.learn_rank(more, steps=0)
    np.testing.assert_array_equal(fitted.score_batch(users), scores, err_msg="steps=0 learned")
    user_idx = fitted.user_map_.encode(more.user)
    item_idx = fitted.item_map_.encode(more.item)
    for t, (u, i, value) in enumerate(zip(user_idx, item_idx, more.value, strict=True)):
        if value < fitted.threshold:
            assert ranks[t] == -1, f"event {t} below the threshold ranked {ranks[t]}"
            continue
        others = np.ones(fitted.n_items, dtype=bool)
        others[[i, *positives.rows[u]]] = False
        gap = scores[u, others] - scores[u, i]
        low, high = int((gap > 1e-5).sum()), int((gap > -1e-5).sum())
        assert low <= ranks[t] <= high, f"event {t} ranked {ranks[t]}, expected {low}-{high}"
        positives[u, i] = 1


def check_observe_reads_without_learning(model: RecommenderBase) -> None:
    """``observe`` (:class:`~freshrec.capabilities.Observes`) changes the next scores of the
    observing users but learns nothing: no id, no event, no parameter (only a history grows);
    events of unknown ids are ignored."""
    fitted = _fresh(model).fit(checkerboard_events())
    assert isinstance(fitted, Observes), f"{type(model).__name__} is not Observes"
    sizes = (fitted.n_users, fitted.n_items, fitted.n_events_)
    arrays = {name: np.array(value, copy=True) for name, value in fitted._arrays().items()}
    scores = _all_scores(fitted)
    unknown = checkerboard_events(n_users=4, n_items=4, seen=2, offset=100)
    assert fitted.observe(EventBatch.concat([checkerboard_events(seed=1), unknown])) is fitted
    assert (fitted.n_users, fitted.n_items, fitted.n_events_) == sizes, "observe learned events"
    for name, value in fitted._arrays().items():
        if value.shape == arrays[name].shape:
            np.testing.assert_array_equal(value, arrays[name], err_msg=f"observe changed {name}")
    assert not np.allclose(_all_scores(fitted), scores), "observe changed no score"


def check_replay_is_learned_not_counted(model: RecommenderBase) -> None:
    """``partial_fit(events, replay=old)`` (:class:`~freshrec.capabilities.Rehearses`) learns
    ``old`` too, but counts and logs only ``events``; replayed events of unknown ids are
    dropped."""
    base, more = checkerboard_events(), checkerboard_events(seed=1)
    plain = _fresh(model).fit(base)
    rehearsed = copy.deepcopy(plain)
    assert isinstance(rehearsed, Rehearses), f"{type(model).__name__} is not Rehearses"
    ghost = checkerboard_events(n_users=4, n_items=4, seen=2, offset=100)
    plain.partial_fit(more)
    rehearsed.partial_fit(more, replay=EventBatch.concat([base[:96], ghost]))
    assert (rehearsed.n_users, rehearsed.n_items) == (plain.n_users, plain.n_items), (
        "replayed events of unknown ids were not dropped"
    )
    assert rehearsed.n_events_ == plain.n_events_, "replayed events were counted as new"
    np.testing.assert_array_equal(rehearsed.item_counts_, plain.item_counts_)
    assert rehearsed.positives_csr().nnz == plain.positives_csr().nnz, "replay was logged"
    assert not np.allclose(_all_scores(rehearsed), _all_scores(plain), rtol=0, atol=1e-7), (
        "the replayed events were not learned"
    )


def check_evict_frees_and_add_ids_reuses(model: RecommenderBase) -> None:
    """``evict`` (:class:`~freshrec.capabilities.GrowsAndEvicts`) unmaps ids and drops their
    events and counts, the tables keeping their size; ``add_ids`` maps new ids into the freed
    slots, and the model keeps learning."""
    fitted = _fresh(model).fit(checkerboard_events())
    assert isinstance(fitted, GrowsAndEvicts), f"{type(model).__name__} is not GrowsAndEvicts"
    size = (fitted.n_users, fitted.n_items)
    users, items = fitted.evict(users=["u0"], items=["i0"])
    assert "u0" not in fitted.user_map_ and "i0" not in fitted.item_map_, "evict kept the ids"
    assert (fitted.n_users, fitted.n_items) == size, "evict changed the tables' size"
    positives = fitted.positives_csr()
    assert positives[users].nnz == positives[:, items].nnz == 0, "evict kept the ids' events"
    assert not fitted.item_counts_[items].any(), "evict kept the item's count"
    assert "i0" not in {s.item for s in fitted.recommend("u1", k=size[1])}
    new_users, new_items = fitted.add_ids(users=["new-user"], items=["new-item"], init="zero")
    assert (new_users.tolist(), new_items.tolist()) == (users.tolist(), items.tolist()), (
        "add_ids did not reuse the evicted slots"
    )
    assert (fitted.n_users, fitted.n_items) == size, "add_ids grew the tables"
    fitted.partial_fit(checkerboard_events(seed=1))
    assert (fitted.n_users, fitted.n_items) == (size[0] + 1, size[1] + 1)
    assert np.isfinite(_all_scores(fitted, ["u0", "u1", "new-user", "stranger"])).all()


def check_anchor_holds_the_parameters(model: RecommenderBase) -> None:
    """``fisher`` (:class:`~freshrec.capabilities.Anchors`) is finite, non-negative and not all
    zero; an update after ``anchor`` (EWC weights of strength 1000) moves the scores less than
    a free one, and one after ``anchor(None)`` moves them as a free one does. (Scores are
    compared with those after the same update with ``n_epochs=0``, which takes the events in
    and learns nothing: a history that grows moves them too.)"""
    base, more = checkerboard_events(), checkerboard_events(seed=1)
    free = _fresh(model).fit(base)
    assert isinstance(free, Anchors), f"{type(model).__name__} is not Anchors"
    information = copy.deepcopy(free).fisher(base)
    values = np.concatenate([v.ravel() for v in information.values()])
    assert np.isfinite(values).all() and (values >= 0).all(), "fisher is negative or not finite"
    assert values.any(), "fisher is zero everywhere"
    weights = {name: 1e3 * v / values[values > 0].mean() for name, v in information.items()}
    held, released, idle = copy.deepcopy(free), copy.deepcopy(free), copy.deepcopy(free)
    held.anchor(weights)
    released.anchor(weights).anchor(None)
    if "n_epochs" in idle.get_params():
        idle.set_params(n_epochs=0).partial_fit(more)
    for fitted in (free, held, released):
        fitted.partial_fit(more)
    moved = {id(m): np.abs(_all_scores(m) - _all_scores(idle)).mean() for m in (free, held)}
    assert moved[id(held)] < 0.5 * moved[id(free)], "anchor did not hold the parameters"
    np.testing.assert_allclose(
        _all_scores(released), _all_scores(free), err_msg="anchor(None) kept the anchor"
    )


def check_distillation_keeps_the_teacher(model: RecommenderBase) -> None:
    """An update after ``distil_from_self`` (:class:`~freshrec.capabilities.DistilsFromSelf`)
    keeps the previous version's preferences better than a free one (fewer of its item pairs
    swap order), and one after ``distil_from_self(0)`` learns as a free one does."""
    free = _fresh(model).fit(checkerboard_events())
    assert isinstance(free, DistilsFromSelf), f"{type(model).__name__} is not DistilsFromSelf"
    taught, released = copy.deepcopy(free), copy.deepcopy(free)
    taught.distil_from_self(5.0)
    released.distil_from_self(5.0).distil_from_self(0.0)
    scores = _all_scores(free)
    for fitted in (free, taught, released):
        fitted.partial_fit(checkerboard_events(seed=1))

    def swapped(fitted: RecommenderBase) -> float:
        after = _all_scores(fitted)
        before_order = np.sign(scores[:, :, None] - scores[:, None, :])
        return float((np.sign(after[:, :, None] - after[:, None, :]) != before_order).mean())

    assert swapped(taught) < swapped(free), "distil_from_self did not keep the preferences"
    np.testing.assert_allclose(
        _all_scores(released), _all_scores(free), err_msg="distil_from_self(0) kept the teacher"
    )


def check_item_rows_are_written_in_place(model: RecommenderBase) -> None:
    """``write_item_rows`` (:class:`~freshrec.capabilities.HasItemRows`) writes exactly the
    given rows of each item table, and ``item_rows`` reads them back as a copy."""
    fitted = _fresh(model).fit(checkerboard_events())
    assert isinstance(fitted, HasItemRows), f"{type(model).__name__} is not HasItemRows"
    rng = np.random.default_rng(0)
    written = np.array([1, 3])
    others = ~np.isin(np.arange(fitted.n_items), written)
    for name, width in fitted.item_tables().items():
        before = fitted.item_rows(name)
        assert before.shape == (fitted.n_items, width), f"{name} has shape {before.shape}"
        rows = rng.normal(size=(len(written), width))
        fitted.write_item_rows(name, written, rows)
        after = fitted.item_rows(name)
        np.testing.assert_allclose(after[written], rows, rtol=1e-6, err_msg=f"{name}: not written")
        np.testing.assert_array_equal(after[others], before[others], err_msg=f"{name}: others")
        after[others] += 1.0
        assert np.array_equal(fitted.item_rows(name)[others], before[others]), "not a copy"


def check_factor_rows_are_internal_indices(model: RecommenderBase) -> None:
    """``user_factors_`` and ``item_factors_`` (:class:`~freshrec.capabilities.FactorTables`)
    have one row per user and per item, of one width, and item ``i``'s scores come from row
    ``i``: zeroing it changes them and no other item's."""
    fitted = _fresh(model).fit(checkerboard_events())
    assert isinstance(fitted, FactorTables), f"{type(model).__name__} is not FactorTables"
    users, items = fitted.user_factors_, fitted.item_factors_
    assert users.ndim == items.ndim == 2 and users.shape[1] == items.shape[1]
    assert (len(users), len(items)) == (fitted.n_users, fitted.n_items)
    scores = _all_scores(fitted)
    row = fitted.item_map_.encode_one("i3")
    items[row] = 0.0
    after = _all_scores(fitted)
    others = np.arange(fitted.n_items) != row
    np.testing.assert_array_equal(after[:, others], scores[:, others], err_msg="other items")
    assert not np.allclose(after[:, row], scores[:, row]), "the item's scores did not change"


def check_scores_are_ratings(model: RecommenderBase) -> None:
    """The scores of a :class:`~freshrec.capabilities.PredictsRatings` model are ratings: on
    the events it learned, their RMSE is below the ratings' standard deviation (it beats
    predicting their mean)."""
    events = checkerboard_events()
    fitted = _fresh(model).fit(events)
    assert isinstance(fitted, PredictsRatings), f"{type(model).__name__} is not PredictsRatings"
    predicted = [fitted.score(e.user, [e.item])[0] for e in events.to_events()]
    rmse = float(np.sqrt(np.mean((np.asarray(predicted) - events.value) ** 2)))
    spread = float(events.value.std())
    assert rmse < spread, f"scores are not ratings: RMSE {rmse:.3f}, ratings' spread {spread:.3f}"


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
)

#: The checks of each capability, run on the models that have it.
_CAPABILITY_CHECKS: tuple[tuple[type, Check], ...] = (
    (LearnsOne, check_learn_one_equals_partial_fit_of_one),
    (LearnsPredict, check_learn_predict_is_test_then_train),
    (LearnsRank, check_learn_rank_ranks_before_learning),
    (Observes, check_observe_reads_without_learning),
    (Rehearses, check_replay_is_learned_not_counted),
    (GrowsAndEvicts, check_evict_frees_and_add_ids_reuses),
    (Anchors, check_anchor_holds_the_parameters),
    (DistilsFromSelf, check_distillation_keeps_the_teacher),
    (HasItemRows, check_item_rows_are_written_in_place),
    (FactorTables, check_factor_rows_are_internal_indices),
    (PredictsRatings, check_scores_are_ratings),
)


def yield_checks(model: RecommenderBase) -> Iterator[Check]:
    """The checks that apply to ``model``: the general ones and those of the capabilities it
    has, less those in its ``_check_skips``.

    Examples
    --------
    >>> from freshrec.models import BiasedMF, MostPopular
    >>> "check_learns_checkerboard" in [c.__name__ for c in yield_checks(MostPopular())]
    False
    >>> [c.__name__ for c in yield_checks(BiasedMF())][-2:]
    ['check_factor_rows_are_internal_indices', 'check_scores_are_ratings']
    """
    skips: dict[str, Any] = getattr(model, "_check_skips", {})
    declared = [check for capability, check in _CAPABILITY_CHECKS if isinstance(model, capability)]
    for check in (*_CHECKS, *declared):
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
