"""BPR: the conformance suite, learning behaviour, incremental updates and early stopping."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.checks import checkerboard_events, yield_checks
from freshrec.data import EventBatch
from freshrec.data.batch import as_batch
from freshrec.data.synthetic import synthetic_stream
from freshrec.models.bpr import BPR
from freshrec.models.torch.training import EarlyStopping, ValidationNDCG, run_epochs


@pytest.mark.parametrize("check", list(yield_checks(BPR())), ids=lambda check: check.__name__)
def test_conforms(check):
    check(BPR())


def test_loss_decreases():
    model = BPR(n_epochs=40, threshold=3.0).fit(checkerboard_events())
    loss = model.history_.loss
    assert len(loss) == 40
    assert loss[-1] < 0.5 * loss[0]
    assert np.mean(loss[-5:]) < np.mean(loss[:5])


def test_one_thread_is_reproducible():
    events = synthetic_stream(n_users=200, n_items=80, n_events=6000, seed=1).events
    first = BPR(n_factors=8, n_epochs=5, seed=3).fit(events)
    second = BPR(n_factors=8, n_epochs=5, seed=3).fit(events)
    assert np.array_equal(first.item_factors_, second.item_factors_)
    assert np.array_equal(first.user_factors_, second.user_factors_)


def _holdout_hit_rate(model: BPR, test: EventBatch) -> float:
    hits = [
        item in {s.item for s in model.recommend(user, k=10, exclude=model.seen_items(user))}
        for user, item in zip(test.user, test.item, strict=True)
    ]
    return float(np.mean(hits))


def test_parallel_epoch_learns_as_well_as_one_thread():
    """Hogwild on 2 threads: every sample still visited, the fit as good as the serial one."""
    events = as_batch(synthetic_stream(n_users=300, n_items=100, n_events=20000, seed=0).events)
    last = np.zeros(len(events), dtype=bool)
    last[np.unique(events.user[::-1], return_index=True)[1]] = True  # each user's last event
    last = last[::-1]
    train, test = events.take(~last), events.take(last)
    rates = {}
    for n_threads in (1, 2):
        model = BPR(n_factors=16, n_epochs=20, lr=0.05, n_threads=n_threads, seed=0).fit(train)
        assert model.history_.loss[-1] < 0.6 * model.history_.loss[0]
        rates[n_threads] = _holdout_hit_rate(model, test)
    assert rates[1] > 0.5  # chance is about 0.1 (10 of 100 items)
    assert abs(rates[2] - rates[1]) < 0.08


def test_rejects_a_negative_thread_count():
    with pytest.raises(ValueError, match="n_threads"):
        BPR(n_threads=-1).fit(checkerboard_events())


def test_zero_threads_means_all_cores():
    model = BPR(n_factors=4, n_epochs=3, n_threads=0).fit(checkerboard_events())
    assert np.isfinite(model.item_factors_).all() and len(model.history_.loss) == 3


def test_partial_fit_grows_and_learns_new_users_and_items():
    model = BPR(threshold=3.0).fit(checkerboard_events())
    # new users u100..u103 and items i100..i103, in two blocks of their own
    more = checkerboard_events(n_users=4, n_items=4, seen=1, offset=100)
    before = model.item_factors_.copy()
    model.partial_fit(more)
    assert model.user_factors_.shape == (28, 64) and model.item_factors_.shape == (20, 64)
    assert model.item_bias_.shape == (20,)
    assert not np.array_equal(model.item_factors_[:16], before)  # old items are negatives too
    assert np.isfinite(model.score_batch(np.arange(28))).all()


def test_partial_fit_without_positives_changes_no_old_row():
    model = BPR(threshold=3.0).fit(checkerboard_events())
    users, items = model.user_factors_.copy(), model.item_factors_.copy()
    model.partial_fit(
        EventBatch(
            np.array(["u0", "new"], object),
            np.array(["i0", "j"], object),
            np.array([1.0, 1.0], np.float32),
        )
    )
    np.testing.assert_array_equal(model.user_factors_[:24], users)
    np.testing.assert_array_equal(model.item_factors_[:16], items)
    assert model.history_.loss == () and model.history_.best_epoch == 0


def test_samples_from_new_positives_only():
    # only u0's rows and items sampled with it can move during partial_fit of one u0 event
    model = BPR(threshold=3.0).fit(checkerboard_events())
    users = model.user_factors_.copy()
    model.partial_fit(
        EventBatch(np.array(["u0"], object), np.array(["i7"], object), np.array([5.0], np.float32))
    )
    moved = np.flatnonzero(np.any(model.user_factors_ != users, axis=1))
    assert moved.tolist() == [model.user_map_.encode_one("u0")]


def _train_valid():
    events = checkerboard_events(n_users=40, n_items=30, seen=10, seed=3)
    order = np.random.default_rng(0).permutation(len(events))
    return events[order[:-60]], events[order[-60:]]


def test_early_stopping_keeps_best_epoch():
    train, valid = _train_valid()
    model = BPR(n_factors=16, n_epochs=60, lr=0.1, l2=0.0, patience=3, threshold=3.0)
    model.fit(train, valid=valid)
    history = model.history_
    assert len(history.valid_ndcg) == len(history.loss) <= 60
    assert history.best_epoch == int(np.argmax(history.valid_ndcg)) + 1
    # the parameters kept are those of the best epoch, not the last
    assert ValidationNDCG(model, valid)() == pytest.approx(max(history.valid_ndcg))


def test_fit_without_valid_runs_every_epoch():
    train, _ = _train_valid()
    model = BPR(n_factors=8, n_epochs=7, threshold=3.0).fit(train)
    assert model.history_.best_epoch == 7 and model.history_.valid_ndcg == ()


def test_valid_with_only_unknown_users_trains_every_epoch():
    train, valid = _train_valid()
    strangers = EventBatch(np.array(["x", "y"], object), valid.item[:2], valid.value[:2])
    model = BPR(n_factors=8, n_epochs=5, patience=1, threshold=3.0)
    assert len(model.fit(train, valid=strangers).history_.loss) == 5


def test_early_stopping_counts_patience():
    stopper = EarlyStopping(patience=3, min_delta=0.01)
    for score in [0.5, 0.505, 0.2, 0.4]:
        stopper.update(score, {"w": np.array([score])})
    assert stopper.should_stop and stopper.best_epoch == 1
    assert stopper.best_state["w"].tolist() == [0.5]
    with pytest.raises(ValueError):
        EarlyStopping(patience=0)


def test_run_epochs_restores_best_state():
    train, valid = _train_valid()
    model = BPR(n_factors=8, n_epochs=30, threshold=3.0).fit(train)
    rng = np.random.default_rng(0)
    states = [model.user_factors_.copy()] + [
        rng.normal(size=model.user_factors_.shape).astype(np.float32) for _ in range(3)
    ]
    epochs = iter(states)

    def epoch():
        model.user_factors_ = next(epochs).copy()
        return 0.0

    history = run_epochs(model, epoch, 10, valid=valid, patience=3)
    assert len(history.loss) == 4  # the three noisy epochs after the best one exhaust patience
    assert history.best_epoch == int(np.argmax(history.valid_ndcg)) + 1 == 1
    np.testing.assert_array_equal(model.user_factors_, states[0])


# -- learn_rank: online BPR, test-then-train per event ---------------------------------------


def _brute_force_ranks(model: BPR, events: EventBatch, exclude_seen: bool) -> list[int]:
    """Ranks from the model's scores, each user's earlier positives masked by hand."""
    earlier = {}
    for user, item in zip(*model.history().arrays()[:2], strict=True):
        earlier.setdefault(int(user), set()).add(int(item))
    known = set(range(model.n_items))
    out = []
    for user, item in zip(events.user, events.item, strict=True):
        u, i = model.user_map_.encode([user])[0], model.item_map_.encode([item])[0]
        if i < 0 or i not in known:
            out.append(2**62)
            continue
        scores = model.score_batch(np.array([u]))[0]
        mask = earlier.get(int(u), set()) if exclude_seen and u >= 0 else set()
        out.append(sum(1 for j in known if j != i and j not in mask and scores[j] > scores[i]))
        if u >= 0:
            earlier.setdefault(int(u), set()).add(int(i))
    return out


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_learn_rank_without_steps_ranks_like_the_model_scores(exclude_seen: bool) -> None:
    events = as_batch(checkerboard_events())
    model = BPR(n_factors=8, n_epochs=20, seed=0).fit(events[:150])
    window = events[150:]
    known = np.isin(window.user, events[:150].user) & np.isin(window.item, events[:150].item)
    window = window.take(known)
    expected = _brute_force_ranks(model, window, exclude_seen)
    ranks = model.learn_rank(window, steps=0, exclude_seen=exclude_seen)
    assert ranks.tolist() == expected
    assert model.n_events_ == 150 + len(window)


def test_learn_rank_ranks_new_items_last_and_skips_non_positives() -> None:
    model = BPR(n_factors=4, seed=0)
    events = EventBatch(
        np.array(["a", "a", "b", "b"]),
        np.array(["x", "y", "x", "z"]),
        np.array([5.0, 5.0, 0.0, 5.0]),
    )
    ranks = model.learn_rank(events)
    assert ranks[2] == -1  # not a positive: not ranked
    assert np.all(ranks[[0, 1, 3]] > 10**9)  # x, y, z first seen: misses at any cut-off
    with pytest.raises(ValueError, match="steps"):
        model.learn_rank(events, steps=-1)


def test_learn_rank_learns_as_the_stream_goes() -> None:
    stream = synthetic_stream(n_users=300, n_items=100, n_events=20000, seed=0).events
    ranks = BPR(n_factors=16, lr=0.05, seed=0).learn_rank(stream, steps=3)
    frozen = BPR(n_factors=16, lr=0.05, seed=0).learn_rank(stream, steps=0)
    assert (ranks[-4000:] < 10).mean() > (frozen[-4000:] < 10).mean() + 0.1
