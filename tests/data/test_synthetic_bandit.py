"""The synthetic bandit generator: tuned KLs, valid policies, logs that follow the logging
policy, and true values that agree with what the logs earn."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data.synthetic_bandit import SyntheticBanditProblem
from freshrec.evaluation.ope import bootstrap_interval

N_CONTEXTS = 200_000  # contexts for the KL and value checks (Monte Carlo error ~ 5e-4)


@pytest.fixture(scope="module")
def problem() -> SyntheticBanditProblem:
    return SyntheticBanditProblem(seed=0)


@pytest.mark.parametrize(
    ("n_actions", "dim", "seed"), [(10, 5, 0), (10, 5, 1), (20, 8, 2), (50, 12, 3)]
)
def test_the_targets_land_within_ten_percent_of_their_kl(n_actions, dim, seed) -> None:
    problem = SyntheticBanditProblem(n_actions=n_actions, dim=dim, seed=seed)
    assert problem.kl("near", n_contexts=N_CONTEXTS) == pytest.approx(0.1, rel=0.1)
    assert problem.kl("far", n_contexts=N_CONTEXTS) == pytest.approx(1.0, rel=0.1)
    assert problem.kl("logging", n_contexts=1000) == pytest.approx(0.0, abs=1e-12)


def test_other_kls_can_be_asked_for() -> None:
    problem = SyntheticBanditProblem(kl_near=0.3, kl_far=2.0, seed=4)
    assert problem.kl("near", n_contexts=N_CONTEXTS) == pytest.approx(0.3, rel=0.1)
    assert problem.kl("far", n_contexts=N_CONTEXTS) == pytest.approx(2.0, rel=0.1)


def test_policies_are_distributions_in_obps_shapes(problem) -> None:
    contexts = problem.sample_contexts(500, np.random.default_rng(0))
    assert contexts.shape == (500, 5)
    for which in ("logging", "near", "far"):
        policy = problem.target_policy(contexts, which)
        assert policy.shape == (500, 10) and (policy > 0).all()
        assert np.allclose(policy.sum(axis=1), 1.0)
        assert np.array_equal(problem.action_dist(contexts, which)[:, :, 0], policy)
    assert np.array_equal(
        problem.logging_policy(contexts), problem.target_policy(contexts, "logging")
    )
    q = problem.expected_rewards(contexts)
    assert q.shape == (500, 10, 1) and ((q > 0) & (q < 1)).all()
    assert q.std() > 0.1  # the actions' rewards differ enough to matter


def test_a_log_follows_the_logging_policy(problem) -> None:
    n = 50_000
    feedback = problem.log(n, seed=1)
    assert feedback.n_rounds == n and feedback.n_actions == 10 and feedback.len_list == 1
    assert feedback.context is not None and feedback.context.shape == (n, 5)
    policy = problem.logging_policy(feedback.context)
    assert np.array_equal(feedback.propensities, policy[np.arange(n), feedback.actions])
    assert set(np.unique(feedback.rewards)) == {0.0, 1.0}
    # each action's share matches its mean probability within 5 binomial standard errors
    share = np.bincount(feedback.actions, minlength=10) / n
    expected = policy.mean(axis=0)
    assert np.all(np.abs(share - expected) < 5 * np.sqrt(expected * (1 - expected) / n))
    # rewards are Bernoulli with the expected reward of the logged action
    q = problem.expected_rewards(feedback.context)[np.arange(n), feedback.actions, 0]
    assert abs(feedback.rewards.mean() - q.mean()) < 5 * np.sqrt((q * (1 - q)).mean() / n)


def test_logs_are_reproducible_from_their_seed(problem) -> None:
    first, again, other = (
        problem.log(100, seed=3),
        problem.log(100, seed=3),
        problem.log(100, seed=4),
    )
    assert np.array_equal(first.actions, again.actions)
    assert np.array_equal(first.rewards, again.rewards)
    assert not np.array_equal(first.context, other.context)
    twin = SyntheticBanditProblem(seed=0)
    assert twin.mix_ == problem.mix_
    assert np.array_equal(twin.log(100, seed=3).propensities, first.propensities)
    assert SyntheticBanditProblem(seed=1).mix_ != problem.mix_


def test_the_true_value_of_the_logging_policy_is_what_its_logs_earn(problem) -> None:
    feedback = problem.log(50_000, seed=2)
    low, high = bootstrap_interval(feedback.rewards, n_bootstrap=300)
    margin = high - low  # twice the 95% half-width
    assert abs(feedback.rewards.mean() - problem.true_value("logging")) < margin


def test_true_values_are_exact_averages_of_the_expected_rewards(problem) -> None:
    values = {which: problem.true_value(which, n_contexts=N_CONTEXTS) for which in ("near", "far")}
    assert values["far"] > values["near"] > problem.true_value("logging", n_contexts=N_CONTEXTS)
    # the same number by hand over the same contexts (one chunk of the fixed sample)
    contexts = problem.sample_contexts(50_000, np.random.default_rng([0, 2]))
    by_hand = problem.target_policy(contexts, "far") * problem.expected_rewards(contexts)[:, :, 0]
    assert problem.true_value("far", n_contexts=50_000) == pytest.approx(by_hand.sum(1).mean())
    assert problem.true_value("far") == pytest.approx(values["far"], abs=3e-3)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n_actions": 1}, "need n_actions >= 2"),
        ({"dim": 0}, "dim >= 1"),
        ({"kl_near": 0.0}, "must be positive"),
        ({"kl_far": 100.0}, "no target policy on the path reaches a KL of 100"),
    ],
)
def test_bad_settings_are_refused(arguments, message) -> None:
    with pytest.raises(ValueError, match=message):
        SyntheticBanditProblem(**arguments)


def test_unknown_policies_are_refused(problem) -> None:
    contexts = problem.sample_contexts(2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="which must be one of"):
        problem.target_policy(contexts, "greedy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="which must be one of"):
        problem.kl("greedy", n_contexts=10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_contexts must be >= 1"):
        problem.true_value("near", n_contexts=0)


def test_repr_names_the_settings(problem) -> None:
    assert repr(problem) == (
        "SyntheticBanditProblem(n_actions=10, dim=5, beta_logging=0.5, kl_near=0.1, "
        "kl_far=1.0, seed=0)"
    )
