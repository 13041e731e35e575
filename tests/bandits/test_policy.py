"""The Policy contract: decisions, arguments, randomness, the action distribution for OPE."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.bandits import (
    BernoulliTS,
    Decision,
    EpsilonGreedy,
    LinUCB,
    action_distribution,
    argmax_distribution,
    softmax,
)
from tests.bandits.helpers import POLICIES, make_context


@pytest.mark.parametrize("name", POLICIES)
def test_bad_candidates_and_k_raise_value_errors_naming_them(name):
    factory, kind = POLICIES[name]
    policy = factory(100)
    context = make_context(kind, 2, np.random.default_rng(0), per_arm=False)
    with pytest.raises(ValueError, match="candidates is empty"):
        policy.select([], context=context)
    with pytest.raises(ValueError, match="candidates has duplicates: \\['a'\\]"):
        policy.select(["a", "b", "a"], context=context)
    with pytest.raises(ValueError, match="duplicates"):
        policy.probabilities(["a", "a"], context)
    for k in (0, 3):
        with pytest.raises(ValueError, match=f"k must be .* got {k}"):
            policy.select(["a", "b"], k=k, context=context)
    with pytest.raises(ValueError, match="n_draws"):
        factory(0)


@pytest.mark.parametrize("name", POLICIES)
def test_a_seed_gives_the_same_decisions_and_probabilities_do_not_change_them(name):
    factory, kind = POLICIES[name]
    rng = np.random.default_rng(1)
    contexts = [make_context(kind, 4, rng, per_arm=bool(t % 2)) for t in range(30)]

    def run(ask_probabilities: bool) -> list[tuple]:
        policy = factory(200)
        seen = []
        for context in contexts:
            if ask_probabilities:
                policy.probabilities(list("abcd"), context)
            decision = policy.select(list("abcd"), k=2, context=context)
            seen.append((decision.items, decision.propensities.tolist()))
            position = "abcd".index(decision.items[0])
            row = context[position] if np.ndim(context) == 2 else context
            policy.update(decision.items[0], 1.0 if decision.items[0] in "ab" else 0.0, row)
        return seen

    assert run(False) == run(False) == run(True)


def test_reset_and_clone_start_afresh():
    policy = EpsilonGreedy(epsilon=0.5, seed=3)
    first = [policy.select(["a", "b"]).items for _ in range(10)]
    policy.update("a", 1.0)
    policy.reset()
    assert policy.probabilities(["a", "b"]).tolist() == [0.5, 0.5]
    assert [policy.select(["a", "b"]).items for _ in range(10)] == first
    assert [policy.clone().select(["a", "b"]).items for _ in range(1)] == first[:1]
    assert (
        repr(policy)
        == "EpsilonGreedy(epsilon=0.5, decay=False, prior_mean=0.0, n_draws=10000, seed=3)"
    )


def test_numpy_candidates_come_back_as_plain_ids():
    decision = EpsilonGreedy().select(np.array([4, 7]))
    assert type(decision.items[0]) is int


def test_decision_validates_its_fields():
    with pytest.raises(ValueError, match="one entry per arm"):
        Decision(("a", "b"), np.array([0.5]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="propensities must be in"):
        Decision(("a",), np.array([1.5]), np.array([1.0]))
    with pytest.raises(ValueError, match="sum to 1"):
        Decision(("a",), np.array([0.5]), np.array([0.5, 0.4]))
    with pytest.raises(ValueError, match="one entry per candidate"):
        Decision(("a", "b"), np.array([0.5, 0.5]), np.array([1.0]))
    decision = Decision(("a",), [1.0], [1.0, 0.0])
    assert decision.propensities.dtype == np.float64


def test_argmax_distribution_splits_ties_exactly():
    assert argmax_distribution(np.array([2.0, 2.0, 2.0, 1.0])).tolist() == [1 / 3] * 3 + [0.0]
    draws = np.array([[0.0, 1.0, 1.0], [5.0, 0.0, 0.0]])
    assert argmax_distribution(draws).tolist() == [0.5, 0.25, 0.25]


def test_softmax_is_stable_and_needs_a_positive_temperature():
    assert np.allclose(softmax(np.array([1e6, 1e6]), 1e-3), [0.5, 0.5])
    with pytest.raises(ValueError, match="temperature"):
        softmax(np.zeros(2), 0.0)


def test_action_distribution_has_one_row_per_round():
    policy = LinUCB(alpha=0.0)
    policy.update("a", 1.0, np.array([1.0, 0.0]))
    policy.update("b", 1.0, np.array([0.0, 1.0]))
    contexts = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    table = action_distribution(policy, ["a", "b"], contexts)
    assert table.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]
    assert action_distribution(policy, ["a", "b"], contexts[:0]).shape == (0, 2)


def test_action_distribution_of_a_monte_carlo_policy_averages_to_its_probabilities():
    policy = BernoulliTS(n_draws=1000)
    for _ in range(3):
        policy.update("a", 1.0)
    table = action_distribution(policy, ["a", "b"], n_rounds=20)
    assert table.shape == (20, 2)
    assert np.allclose(table.sum(axis=1), 1.0)
    assert len({tuple(row) for row in table.tolist()}) > 1  # independent estimates
    assert abs(table[:, 0].mean() - 0.8) < 5 * np.sqrt(0.16 / 20_000)  # P(Beta(4,1) > U) = 4/5


def test_action_distribution_checks_its_rounds():
    with pytest.raises(ValueError, match="n_rounds"):
        action_distribution(EpsilonGreedy(), ["a"])
    with pytest.raises(ValueError, match="n_rounds"):
        action_distribution(LinUCB(), ["a"], np.ones((2, 3)), n_rounds=3)
