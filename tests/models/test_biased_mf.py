"""BiasedMF: conformance, the SGD step by hand, rating accuracy, growth, river agreement."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from freshrec.data import EventBatch
from freshrec.models.biased_mf import BiasedMF

# The settings river documents for MovieLens-100K, unclipped so that learning is comparable.
RIVER_SETTINGS = dict(
    n_factors=10,
    n_epochs=1,
    lr=0.05,
    bias_lr=0.025,
    l2=0.0,
    l2_latent=0.0,
    init_std=0.1,
    clip=None,
    shuffle=False,
)


def _one(user: str, item: str, rating: float) -> EventBatch:
    return EventBatch(np.array([user], object), np.array([item], object), [rating])


def test_single_sgd_step_matches_hand_arithmetic():
    model = BiasedMF(
        n_factors=2,
        n_epochs=1,
        lr=0.1,
        bias_lr=0.05,
        l2=0.1,
        l2_latent=0.2,
        clip=None,
        shuffle=False,
    )
    model.fit(_one("ann", "alien", 3.0))
    # Set the state by hand: mu = 3 after one rating, b_u = 0.5, b_i = -0.25,
    # p_u = (0.1, -0.2), q_i = (0.3, 0.4).
    model.user_bias_[:] = [0.5]
    model.item_bias_[:] = [-0.25]
    model.user_factors_[:] = [[0.1, -0.2]]
    model.item_factors_[:] = [[0.3, 0.4]]
    model.partial_fit(_one("ann", "alien", 4.0))
    # mu  = 3 + (4 - 3) / 2                                   = 3.5
    # r^  = 3.5 + 0.5 - 0.25 + (0.1*0.3 - 0.2*0.4)            = 3.70
    # g   = 2 (3.70 - 4)                                      = -0.6
    # b_u = 0.5   - 0.05 (-0.6 + 0.1*0.5)                     = 0.5275
    # b_i = -0.25 - 0.05 (-0.6 + 0.1*(-0.25))                 = -0.21875
    # p_u = (0.1, -0.2) - 0.1 (-0.6 (0.3, 0.4) + 0.2 (0.1, -0.2))  = (0.116, -0.172)
    # q_i = (0.3, 0.4)  - 0.1 (-0.6 (0.1, -0.2) + 0.2 (0.3, 0.4))  = (0.3, 0.38)
    assert model.global_mean_ == 3.5 and model.n_ratings_ == 2
    np.testing.assert_allclose(model.user_bias_, [0.5275], rtol=1e-12)
    np.testing.assert_allclose(model.item_bias_, [-0.21875], rtol=1e-12)
    np.testing.assert_allclose(model.user_factors_, [[0.116, -0.172]], rtol=1e-12)
    np.testing.assert_allclose(model.item_factors_, [[0.3, 0.38]], rtol=1e-12)
    # r^ = 3.5 + 0.5275 - 0.21875 + (0.116*0.3 - 0.172*0.38) = 3.77819
    np.testing.assert_allclose(model.score("ann", ["alien"]), [3.77819], rtol=1e-12)


def test_clip_bounds_predictions_but_not_learning():
    events = _one("ann", "alien", 5.0)
    clipped = BiasedMF(n_epochs=50, lr=0.2, bias_lr=0.2, l2=0.0, l2_latent=0.0).fit(events)
    raw = BiasedMF(n_epochs=50, lr=0.2, bias_lr=0.2, l2=0.0, l2_latent=0.0, clip=None).fit(events)
    np.testing.assert_array_equal(clipped.user_bias_, raw.user_bias_)
    assert clipped.score("ann", ["alien"])[0] <= 5.0


def _rmse(model: BiasedMF, test: EventBatch) -> float:
    pairs = zip(test.user, test.item, strict=True)
    predictions = np.array([model.score(u, [i])[0] for u, i in pairs])
    return float(np.sqrt(np.mean((predictions - test.value) ** 2)))


def test_rmse_beats_global_mean_on_held_out_ratings(ratings):
    order = np.random.default_rng(0).permutation(len(ratings))
    cut = int(0.8 * len(ratings))
    train, test = ratings.take(order[:cut]), ratings.take(order[cut:])
    # The fixture's ratings come from 3-d tastes alone, so biases barely help (RMSE 1.13 vs
    # 1.14); the latent factors bring it to about 0.95-0.96 over seeds 0-2.
    model = BiasedMF(n_epochs=500, lr=0.03, l2=0.1, l2_latent=0.03, seed=0).fit(train)
    baseline = float(np.sqrt(np.mean((train.value.mean() - test.value) ** 2)))
    assert _rmse(model, test) < 0.9 * baseline


def test_partial_fit_grows_for_new_users_and_items(ratings):
    model = BiasedMF(n_epochs=5).fit(ratings)
    n_users, n_items = model.n_users, model.n_items
    before = model.user_factors_.copy(), model.user_bias_.copy()
    new = EventBatch(np.array([100, 100, 0]), np.array([200, 3, 200]), [5.0, 4.0, 1.0])
    model.partial_fit(new)
    assert (model.n_users, model.n_items) == (n_users + 1, n_items + 1)
    assert model.user_factors_.shape == (n_users + 1, 32)
    assert model.item_factors_.shape == (n_items + 1, 32)
    assert model.n_ratings_ == len(ratings) + 3
    # only users in the new events moved
    touched = model.user_map_.encode_one(0)
    untouched = np.arange(n_users) != touched
    np.testing.assert_array_equal(model.user_factors_[:n_users][untouched], before[0][untouched])
    np.testing.assert_array_equal(model.user_bias_[:n_users][untouched], before[1][untouched])
    assert model.user_bias_[-1] != 0.0 and model.item_bias_[-1] != 0.0
    assert np.isfinite(model.score(100, [200, 3, 0])).all()


def test_fallbacks_for_unknown_users_and_items(ratings):
    model = BiasedMF(n_epochs=5).fit(ratings)
    items = [0, 1, 2]
    item_idx = model.item_map_.encode(items)
    expected = np.clip(model.global_mean_ + model.item_bias_[item_idx], 1.0, 5.0)
    np.testing.assert_allclose(model.score("stranger", items), expected)
    assert model.score(0, ["unseen-item"])[0] == model.prior_score == model.global_mean_


def test_shuffle_draws_from_the_model_rng(ratings):
    a = BiasedMF(n_epochs=3, seed=1).fit(ratings)
    b = BiasedMF(n_epochs=3, seed=1, shuffle=False).fit(ratings)
    assert not np.array_equal(a.item_factors_, b.item_factors_)
    assert a.global_mean_ == pytest.approx(b.global_mean_)


def _river_comparison(ratings, l2: float, l2_latent: float):
    reco = pytest.importorskip("river.reco")
    optim = pytest.importorskip("river.optim")
    settings = {**RIVER_SETTINGS, "l2": l2, "l2_latent": l2_latent}
    columns = ratings.user.tolist(), ratings.item.tolist(), ratings.value.tolist()
    events = list(zip(*columns, strict=True))

    def one(u, i, r):
        return EventBatch(np.array([u]), np.array([i]), [r])

    # freshrec's initial latent rows, drawn event by event as in the real run below
    dry = BiasedMF(**{**settings, "lr": 0.0, "bias_lr": 0.0}, seed=3)
    for u, i, r in events:
        dry.partial_fit(one(u, i, r))
    theirs = reco.BiasedMF(
        n_factors=10,
        bias_optimizer=optim.SGD(0.025),
        latent_optimizer=optim.SGD(0.05),
        l2_bias=l2,
        l2_latent=l2_latent,
    )
    for idx, user in enumerate(dry.user_map_.decode(np.arange(dry.n_users)).tolist()):
        theirs.u_latents[user] = dry.user_factors_[idx].copy()
    for idx, item in enumerate(dry.item_map_.decode(np.arange(dry.n_items)).tolist()):
        theirs.i_latents[item] = dry.item_factors_[idx].copy()

    ours = BiasedMF(**settings, seed=3)
    compared = 0
    for u, i, r in events:
        if ours.is_fitted and u in ours.user_map_ and i in ours.item_map_:
            assert ours.score(u, [i])[0] == pytest.approx(theirs.predict_one(u, i), abs=1e-9)
            compared += 1
        ours.partial_fit(one(u, i, r))
        theirs.learn_one(u, i, r)
    assert compared > 200
    assert ours.global_mean_ == pytest.approx(theirs.global_mean.get(), abs=1e-12)
    users = ours.user_map_.decode(np.arange(ours.n_users)).tolist()
    np.testing.assert_allclose(ours.user_bias_, [theirs.u_biases[u] for u in users], atol=1e-9)
    np.testing.assert_allclose(ours.user_factors_, [theirs.u_latents[u] for u in users], atol=1e-9)
    items = ours.item_map_.decode(np.arange(ours.n_items)).tolist()
    np.testing.assert_allclose(ours.item_bias_, [theirs.i_biases[i] for i in items], atol=1e-9)
    np.testing.assert_allclose(ours.item_factors_, [theirs.i_latents[i] for i in items], atol=1e-9)


@pytest.mark.parametrize(("l2", "l2_latent"), [(0.0, 0.0), (0.05, 0.1)])
def test_matches_river_event_by_event(ratings, l2, l2_latent):
    _river_comparison(ratings, l2, l2_latent)


def test_learn_predict_is_score_then_learn_for_each_event():
    from freshrec.data.synthetic import synthetic_stream

    events = synthetic_stream(n_users=40, n_items=30, n_events=600, seed=5).events.sort_by_time()
    settings = {"n_factors": 4, "n_epochs": 1, "lr": 0.05, "bias_lr": 0.025, "l2": 0.0}
    settings.update(l2_latent=0.0, shuffle=False)
    base = BiasedMF(**settings).set_params(n_epochs=0).fit(events)  # every id has its row
    fast, slow = copy.deepcopy(base).set_params(n_epochs=1), copy.deepcopy(base)
    slow.set_params(n_epochs=1)
    predicted = fast.learn_predict(events)
    expected = []
    for event in events:
        expected.append(slow.score(event.user, [event.item])[0])
        slow.partial_fit([event])
    assert np.allclose(predicted, expected)
    assert np.allclose(fast.item_factors_, slow.item_factors_)
    assert fast.n_ratings_ == slow.n_ratings_ == len(events)
