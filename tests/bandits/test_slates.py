"""Plackett-Luce slates: sampling, per-position marginals, slates from any policy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freshrec.bandits import UCB1, Softmax, draw_slate, plackett_luce, position_marginals
from tests.bandits.helpers import standard_error


def exact_marginals(p: np.ndarray, k: int) -> np.ndarray:
    """Per-position probabilities of Plackett-Luce on ``p`` (all positive), by enumeration."""
    out = np.zeros((k, len(p)))
    for order in itertools.permutations(range(len(p)), k):
        chance, left = 1.0, 1.0
        for i in order:
            chance *= p[i] / left
            left -= p[i]
        out[np.arange(k), list(order)] += chance
    return out


weights = st.lists(st.floats(0.0, 10.0), min_size=1, max_size=8).filter(lambda w: sum(w) > 0)


@settings(derandomize=True, max_examples=50, deadline=None)
@given(weights=weights, k=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_slates_are_distinct_and_per_position_distributions_sum_to_one(weights, k, seed):
    w = np.array(weights)
    k = min(k, len(w))
    slate, marginals = draw_slate(w / w.sum(), k, 300, np.random.default_rng(seed))
    assert len(set(slate.tolist())) == k
    assert marginals.shape == (k, len(w))
    assert np.allclose(marginals.sum(axis=1), 1.0, atol=1e-12)
    assert (marginals.sum(axis=0) <= 1.0 + 1e-12).all()  # an arm holds one position at most
    assert (marginals[np.arange(k), slate] > 0).all()
    n_positive = int((w > 0).sum())
    assert (w[slate[:n_positive]] > 0).all()  # positive weights come first
    assert (marginals[: min(k, n_positive)][:, w == 0] == 0).all()


def test_plackett_luce_matches_its_closed_form():
    p = np.array([0.5, 0.25, 0.15, 0.1])
    orders = plackett_luce(p, 3, np.random.default_rng(0), size=20_000)
    estimate = position_marginals(orders, len(p))
    exact = exact_marginals(p, 3)
    assert (np.abs(estimate - exact) <= 5 * standard_error(exact, 20_000) + 1e-12).all()


def test_zero_weights_fill_the_slate_uniformly_after_the_positive_ones():
    orders = plackett_luce(np.array([0.0, 1.0, 0.0, 0.0]), 3, np.random.default_rng(0), size=9000)
    assert (orders[:, 0] == 1).all()
    second = position_marginals(orders, 4)[1]
    assert second[1] == 0.0
    assert np.allclose(second[[0, 2, 3]], 1 / 3, atol=5 * np.sqrt(2 / 9 / 9000))


def test_decided_slates_follow_the_propensities_they_report():
    policy = Softmax(temperature=1.0, n_draws=2000)
    for arm, reward in zip("abcd", [1.0, 0.5, 0.2, 0.0], strict=True):
        policy.update(arm, reward)
    p = policy.probabilities(list("abcd"))
    exact = exact_marginals(p, 2)
    n = 2000
    counts = np.zeros((2, 4))
    for _ in range(n):
        decision = policy.select(list("abcd"), k=2)
        positions = ["abcd".index(arm) for arm in decision.items]
        counts[[0, 1], positions] += 1
        reported = exact[[0, 1], positions]
        tolerance = 5 * standard_error(reported, policy.n_draws) + 1e-12
        assert (np.abs(decision.propensities - reported) <= tolerance).all()
    frequencies = counts / n
    assert (np.abs(frequencies - exact) <= 5 * standard_error(exact, n) + 1e-12).all()


def test_a_deterministic_policy_fills_its_slate_at_random_after_its_choice():
    policy = UCB1(n_draws=3000)
    for arm, reward in zip("abc", [1.0, 0.0, 0.0], strict=True):
        policy.update(arm, reward)
    assert policy.probabilities(list("abc")).tolist() == [1.0, 0.0, 0.0]
    decision = policy.select(list("abc"), k=3)
    assert decision.items[0] == "a"
    assert decision.propensities[0] == 1.0
    assert np.allclose(decision.propensities[1:], 0.5, atol=5 * np.sqrt(0.25 / 3000))


@pytest.mark.parametrize(
    ("weights", "k", "message"),
    [
        (np.array([1.0, -1.0]), 1, "weights"),
        (np.array([1.0, np.nan]), 1, "weights"),
        (np.ones((2, 2)), 1, "weights"),
        (np.ones(2), 3, "k must"),
        (np.ones(2), 0, "k must"),
    ],
)
def test_bad_slate_arguments_raise(weights, k, message):
    with pytest.raises(ValueError, match=message):
        plackett_luce(weights, k, np.random.default_rng(0))


def test_draw_slate_needs_draws():
    with pytest.raises(ValueError, match="n_draws"):
        draw_slate(np.ones(2) / 2, 1, 0, np.random.default_rng(0))
