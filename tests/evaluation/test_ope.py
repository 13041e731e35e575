"""Off-policy estimators: their equations by explicit loops, their identities, their accuracy
on synthetic logs with known policy values, bootstrap intervals and input validation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from freshrec.data.logged import LoggedFeedback
from freshrec.data.synthetic_bandit import SyntheticBanditProblem
from freshrec.evaluation.ope import (
    DEFAULT_METHODS,
    RoundTerms,
    bootstrap_interval,
    deterministic_policy,
    dm,
    dr,
    dr_terms,
    estimate,
    fit_reward_model,
    importance_weights,
    ips,
    ips_terms,
    replay,
    snips,
    snips_terms,
    switch_dr,
)

N_ROUNDS = 20_000


# -- a small random log with several slots, and the estimators written as loops ------------
@pytest.fixture
def tiny() -> tuple[LoggedFeedback, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    n, n_actions, len_list = 9, 4, 2
    feedback = LoggedFeedback(
        actions=rng.integers(0, n_actions, n),
        rewards=rng.normal(size=n),
        propensities=rng.uniform(0.05, 1.0, n),
        n_actions=n_actions,
        positions=rng.integers(0, len_list, n),
        len_list=len_list,
    )
    action_dist = rng.dirichlet(np.ones(n_actions), size=(n, len_list)).transpose(0, 2, 1)
    q_hat = rng.normal(size=(n, n_actions, len_list))
    return feedback, action_dist, q_hat


def loop_weights(feedback: LoggedFeedback, action_dist: np.ndarray) -> list[float]:
    return [
        action_dist[i, feedback.actions[i], feedback.positions[i]] / feedback.propensities[i]
        for i in range(feedback.n_rounds)
    ]


def loop_model_term(feedback: LoggedFeedback, action_dist: np.ndarray, q_hat: np.ndarray, i: int):
    slot = feedback.positions[i]
    return sum(action_dist[i, a, slot] * q_hat[i, a, slot] for a in range(feedback.n_actions))


def loop_dr(feedback, action_dist, q_hat, keep) -> float:
    """DR with the weight of round ``i`` replaced by ``keep(w_i)``."""
    total = 0.0
    for i, weight in enumerate(loop_weights(feedback, action_dist)):
        factual = q_hat[i, feedback.actions[i], feedback.positions[i]]
        total += loop_model_term(feedback, action_dist, q_hat, i)
        total += keep(weight) * (feedback.rewards[i] - factual)
    return total / feedback.n_rounds


def test_ips_is_the_mean_weighted_reward(tiny) -> None:
    feedback, action_dist, _ = tiny
    weights = loop_weights(feedback, action_dist)
    expected = sum(w * r for w, r in zip(weights, feedback.rewards, strict=True)) / len(weights)
    assert ips(feedback, action_dist) == pytest.approx(expected, rel=1e-12)
    clip = float(np.median(weights))
    clipped = [min(w, clip) * r for w, r in zip(weights, feedback.rewards, strict=True)]
    assert ips(feedback, action_dist, clip=clip) == pytest.approx(sum(clipped) / len(weights))


def test_snips_divides_by_the_sum_of_weights(tiny) -> None:
    feedback, action_dist, _ = tiny
    weights = loop_weights(feedback, action_dist)
    expected = sum(w * r for w, r in zip(weights, feedback.rewards, strict=True)) / sum(weights)
    assert snips(feedback, action_dist) == pytest.approx(expected, rel=1e-12)


def test_dm_averages_the_model_under_the_target(tiny) -> None:
    feedback, action_dist, q_hat = tiny
    terms = [loop_model_term(feedback, action_dist, q_hat, i) for i in range(feedback.n_rounds)]
    assert dm(feedback, action_dist, q_hat) == pytest.approx(np.mean(terms), rel=1e-12)


def test_dr_adds_the_weighted_residual(tiny) -> None:
    feedback, action_dist, q_hat = tiny
    expected = loop_dr(feedback, action_dist, q_hat, lambda w: w)
    assert dr(feedback, action_dist, q_hat) == pytest.approx(expected, rel=1e-12)
    clip = 2.0
    clipped = loop_dr(feedback, action_dist, q_hat, lambda w: min(w, clip))
    assert dr(feedback, action_dist, q_hat, clip=clip) == pytest.approx(clipped, rel=1e-12)


def test_switch_dr_drops_the_residual_of_rounds_weighted_above_tau(tiny) -> None:
    feedback, action_dist, q_hat = tiny
    tau = float(np.median(loop_weights(feedback, action_dist)))
    expected = loop_dr(feedback, action_dist, q_hat, lambda w: w if w <= tau else 0.0)
    assert switch_dr(feedback, action_dist, q_hat, tau=tau) == pytest.approx(expected, rel=1e-12)


def test_replay_is_the_mean_reward_of_the_matched_rounds() -> None:
    rng = np.random.default_rng(3)
    n, n_actions, len_list = 200, 4, 2
    feedback = LoggedFeedback(
        rng.integers(0, n_actions, n),
        rng.normal(size=n),
        np.full(n, 1.0 / n_actions),
        n_actions,
        positions=rng.integers(0, len_list, n),
        len_list=len_list,
    )
    chosen = rng.integers(0, n_actions, (n, len_list))
    matched = [
        feedback.rewards[i]
        for i in range(n)
        if chosen[i, feedback.positions[i]] == feedback.actions[i]
    ]
    found = replay(feedback, deterministic_policy(chosen, n_actions))
    assert found.n_matched == len(matched) > 0
    assert found.value == pytest.approx(np.mean(matched), rel=1e-12)


# -- identities ------------------------------------------------------------------------------
def test_dr_with_a_zero_model_is_ips(tiny) -> None:
    feedback, action_dist, q_hat = tiny
    zero = np.zeros_like(q_hat)
    assert dr(feedback, action_dist, zero) == pytest.approx(ips(feedback, action_dist))
    assert dr(feedback, action_dist, zero, clip=1.5) == pytest.approx(
        ips(feedback, action_dist, clip=1.5)
    )


def test_snips_is_ips_when_the_weights_average_one() -> None:
    # weights 0.5 and 1.5: pi_e = 0.25 and 0.75 over propensities 0.5
    feedback = LoggedFeedback(np.array([0, 0]), np.array([0.3, 0.9]), np.full(2, 0.5), 2)
    action_dist = np.array([[[0.25], [0.75]], [[0.75], [0.25]]])
    assert importance_weights(feedback, action_dist).tolist() == [0.5, 1.5]
    assert snips(feedback, action_dist) == pytest.approx(ips(feedback, action_dist))
    assert ips(feedback, action_dist) != pytest.approx(feedback.rewards.mean())


def test_switch_dr_spans_dm_to_dr(tiny) -> None:
    feedback, action_dist, q_hat = tiny
    assert switch_dr(feedback, action_dist, q_hat, tau=np.inf) == dr(feedback, action_dist, q_hat)
    assert switch_dr(feedback, action_dist, q_hat, tau=0.0) == pytest.approx(
        dm(feedback, action_dist, q_hat)
    )


def test_evaluating_the_logging_policy_gives_the_mean_reward(problem) -> None:
    feedback = problem.log(2000, seed=5)
    logging = problem.action_dist(feedback.context, "logging")
    mean = feedback.rewards.mean()
    assert ips(feedback, logging) == pytest.approx(mean)
    assert snips(feedback, logging) == pytest.approx(mean)


# -- accuracy on synthetic logs with known values -------------------------------------------
@pytest.fixture(scope="module")
def problem() -> SyntheticBanditProblem:
    return SyntheticBanditProblem(seed=0)


@pytest.fixture(scope="module")
def logged(problem) -> tuple[LoggedFeedback, np.ndarray]:
    feedback = problem.log(N_ROUNDS, seed=1)
    return feedback, fit_reward_model(feedback)


@pytest.fixture(scope="module")
def truth(problem) -> dict[str, float]:
    return {which: problem.true_value(which) for which in ("near", "far")}


@pytest.mark.parametrize("which", ["near", "far"])
def test_unbiased_estimators_land_near_the_true_value(problem, logged, truth, which) -> None:
    feedback, q_hat = logged
    action_dist = problem.action_dist(feedback.context, which)
    found = estimate(feedback, action_dist, q_hat, methods=("ips", "snips", "dr"), seed=0)
    for name, result in found.items():
        # the 95% half-width is about 2 standard errors: allow 4 (the seeds are fixed)
        allowed = 2.0 * max(result.high - result.value, result.value - result.low)
        assert abs(result.value - truth[which]) < allowed, (name, result, truth[which])
        assert allowed < 0.1, (name, result)  # and the check is not vacuous


def test_dr_with_the_true_reward_function_beats_ips(problem, logged, truth) -> None:
    feedback, _ = logged
    action_dist = problem.action_dist(feedback.context, "far")
    exact = problem.expected_rewards(feedback.context)
    found = estimate(feedback, action_dist, exact, methods=("ips", "dm", "dr"))
    width = {name: result.high - result.low for name, result in found.items()}
    assert width["dr"] < width["ips"] / 2
    # DM with the true q is the policy's value on the logged contexts: no reward noise
    on_contexts = (action_dist * exact).sum(axis=1).mean()
    assert found["dm"].value == pytest.approx(on_contexts)
    assert abs(found["dr"].value - truth["far"]) < 2 * (found["dr"].high - found["dr"].low)


def test_the_reward_model_is_close_to_the_truth_and_cross_fitted(problem, logged) -> None:
    feedback, q_hat = logged
    exact = problem.expected_rewards(feedback.context)
    assert q_hat.shape == exact.shape
    assert np.abs(q_hat - exact).mean() < 0.08
    assert q_hat.min() >= 0.0 and q_hat.max() <= 1.0  # clipped to the rewards' range
    # a round's prediction does not read its own reward
    small = problem.log(300, seed=2)
    flipped_rewards = small.rewards.copy()
    flipped_rewards[0] = 1.0 - flipped_rewards[0]
    flipped = LoggedFeedback(
        small.actions, flipped_rewards, small.propensities, small.n_actions, context=small.context
    )
    assert np.array_equal(fit_reward_model(small)[0], fit_reward_model(flipped)[0])
    assert not np.array_equal(fit_reward_model(small), fit_reward_model(flipped))


def test_the_reward_model_without_context_is_the_per_action_and_slot_mean() -> None:
    rng = np.random.default_rng(0)
    n = 400
    feedback = LoggedFeedback(
        rng.integers(0, 3, n), rng.normal(size=n), np.full(n, 1 / 3), 3, positions=np.zeros(n, int)
    )
    q_hat = fit_reward_model(feedback, n_folds=1, l2=0.0)
    for action in range(3):
        mean = feedback.rewards[feedback.actions == action].mean()
        assert np.allclose(q_hat[:, action, 0], mean)


def test_replay_on_a_uniform_log_finds_a_deterministic_policys_value(problem) -> None:
    rng = np.random.default_rng(11)
    contexts = problem.sample_contexts(N_ROUNDS, rng)
    actions = rng.integers(0, problem.n_actions, N_ROUNDS)
    q = problem.expected_rewards(contexts)[:, :, 0]
    feedback = LoggedFeedback(
        actions,
        rng.binomial(1, q[np.arange(N_ROUNDS), actions]).astype(float),
        np.full(N_ROUNDS, 1 / problem.n_actions),
        problem.n_actions,
        context=contexts,
    )
    greedy = problem.target_policy(contexts, "far").argmax(axis=1)
    value_on_contexts = q[np.arange(N_ROUNDS), greedy].mean()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a uniform log raises no warning
        found = estimate(
            feedback, deterministic_policy(greedy, problem.n_actions), methods=["replay"]
        )
    assert (
        abs(found["replay"].value - value_on_contexts) < found["replay"].high - found["replay"].low
    )


def test_replay_warns_on_a_non_uniform_log_and_needs_a_deterministic_target(problem) -> None:
    feedback = problem.log(500, seed=3)
    target = problem.action_dist(feedback.context, "far")
    with pytest.warns(UserWarning, match="not uniformly random"):
        replay(feedback, deterministic_policy(target[:, :, 0].argmax(axis=1), problem.n_actions))
    with pytest.raises(ValueError, match=r"action_dist\[0, :, 0\] is not deterministic"):
        replay(feedback, target)


def test_replay_without_a_match_is_nan() -> None:
    feedback = LoggedFeedback(np.array([0, 0]), np.ones(2), np.full(2, 0.5), 2)
    found = replay(feedback, deterministic_policy(np.array([1, 1]), 2))
    assert found.n_matched == 0 and np.isnan(found.value)


# -- bootstrap intervals ------------------------------------------------------------------
def test_the_interval_contains_the_estimate_and_narrows_with_more_rounds(problem) -> None:
    widths = []
    for n in (2_000, N_ROUNDS):
        feedback = problem.log(n, seed=4)
        terms = ips_terms(feedback, problem.action_dist(feedback.context, "near"))
        low, high = bootstrap_interval(terms, n_bootstrap=500, seed=1)
        assert low < terms.value < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # sqrt(10) narrower, up to resampling noise


def test_a_ratio_is_recomputed_on_each_resample() -> None:
    # every resample's SNIPS is exactly the constant reward; a mean of per-round shares
    # normalised once on the full sample would spread
    rng = np.random.default_rng(0)
    n = 300
    feedback = LoggedFeedback(rng.integers(0, 3, n), np.full(n, 0.7), rng.uniform(0.1, 1, n), 3)
    action_dist = np.full((n, 3, 1), 1 / 3)
    terms = snips_terms(feedback, action_dist)
    low, high = bootstrap_interval(terms, n_bootstrap=200)
    assert low == pytest.approx(0.7) and high == pytest.approx(0.7)
    spread = bootstrap_interval(terms.per_round(), n_bootstrap=200)
    assert spread[1] - spread[0] > 0.05


def test_the_interval_of_plain_contributions_matches_the_normal_one() -> None:
    values = np.random.default_rng(0).normal(0.0, 1.0, 5_000)
    low, high = bootstrap_interval(values, n_bootstrap=2_000, alpha=0.1, seed=3)
    half = 1.645 * values.std() / np.sqrt(len(values))
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3)
    assert bootstrap_interval(values, seed=3) != bootstrap_interval(values, seed=4)


def test_round_terms_give_obps_per_round_rewards() -> None:
    terms = RoundTerms(np.array([1.0, 3.0]), np.array([0.5, 1.5]))
    assert terms.value == pytest.approx(2.0)
    assert terms.per_round().mean() == pytest.approx(terms.value)
    plain = RoundTerms(np.array([1.0, 3.0]))
    assert plain.value == 2.0 and plain.per_round() is plain.numerator


def test_estimate_runs_each_method_as_its_function(problem) -> None:
    feedback = problem.log(1000, seed=6)
    action_dist = problem.action_dist(feedback.context, "near")
    q_hat = fit_reward_model(feedback)
    found = estimate(feedback, action_dist, q_hat, clip=5.0, tau=3.0, n_bootstrap=100)
    assert tuple(found) == DEFAULT_METHODS
    assert found["ips"].value == ips(feedback, action_dist, clip=5.0)
    assert found["snips"].value == snips(feedback, action_dist)
    assert found["dm"].value == dm(feedback, action_dist, q_hat)
    assert found["dr"].value == dr_terms(feedback, action_dist, q_hat, clip=5.0).value
    assert found["switch-dr"].value == switch_dr(feedback, action_dist, q_hat, tau=3.0)
    assert all(result.low <= result.value <= result.high for result in found.values())


# -- validation -------------------------------------------------------------------------------
@pytest.fixture
def two_rounds() -> LoggedFeedback:
    return LoggedFeedback(np.array([0, 1]), np.array([1.0, 0.0]), np.full(2, 0.5), 2)


@pytest.mark.parametrize(
    ("action_dist", "message"),
    [
        (np.full((2, 2), 0.5), r"action_dist has shape \(2, 2\), expected"),
        (np.full((3, 2, 1), 0.5), r"action_dist has shape \(3, 2, 1\)"),
        (np.full((2, 2, 2), 0.5), r"expected \(n_rounds, n_actions, len_list\) = \(2, 2, 1\)"),
        (np.array([[[1.5], [-0.5]], [[0.5], [0.5]]]), r"action_dist\[0, 1, 0\] is negative"),
        (np.array([[[0.5], [0.5]], [[0.5], [0.6]]]), r"action_dist\[1, :, 0\] sums to 1.1"),
        (np.array([[[0.5], [0.5]], [[np.nan], [0.5]]]), r"action_dist\[1, 0, 0\] is not finite"),
        ([[[0.5], [0.5]], [[0.5], [0.5]]], "action_dist has shape"),
    ],
)
def test_bad_action_dists_are_named(two_rounds, action_dist, message) -> None:
    with pytest.raises(ValueError, match=message):
        ips(two_rounds, action_dist)


def test_sums_within_the_tolerance_pass(two_rounds) -> None:
    action_dist = np.array([[[0.5], [0.5 + 5e-7]], [[0.5], [0.5]]])
    assert ips(two_rounds, action_dist) == pytest.approx(0.5)


def test_model_based_estimators_check_their_model(two_rounds) -> None:
    uniform = np.full((2, 2, 1), 0.5)
    with pytest.raises(ValueError, match="dm needs estimated_rewards"):
        dm(two_rounds, uniform)
    with pytest.raises(ValueError, match="switch-dr needs estimated_rewards"):
        estimate(two_rounds, uniform, methods=["switch-dr"])
    with pytest.raises(ValueError, match=r"estimated_rewards has shape \(2, 2\)"):
        dr(two_rounds, uniform, np.zeros((2, 2)))
    bad = np.zeros((2, 2, 1))
    bad[1, 1, 0] = np.inf
    with pytest.raises(ValueError, match=r"estimated_rewards\[1, 1, 0\] is not finite"):
        dr(two_rounds, uniform, bad)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f, d: ips(f, d, clip=-1.0), "clip must be >= 0"),
        (lambda f, d: switch_dr(f, d, np.zeros_like(d), tau=np.nan), "tau must be >= 0"),
        (lambda f, d: estimate(f, d, methods=["ipw"]), "unknown method 'ipw'"),
        (lambda f, d: bootstrap_interval(np.zeros(0)), "no rounds"),
        (lambda f, d: bootstrap_interval(np.ones(3), n_bootstrap=0), "n_bootstrap must be"),
        (lambda f, d: bootstrap_interval(np.ones(3), alpha=1.0), "alpha must be in"),
        (lambda f, d: fit_reward_model(f, n_folds=3), r"n_folds must be in \[1, n_rounds = 2\]"),
        (lambda f, d: fit_reward_model(f, n_folds=1, l2=-1.0), "l2 must be >= 0"),
        (lambda f, d: deterministic_policy(np.array([0, 2]), 2), r"actions must be in \[0, 2\)"),
        (lambda f, d: deterministic_policy(np.array([0.0]), 2), "actions must be integers"),
    ],
)
def test_bad_settings_are_refused(two_rounds, call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call(two_rounds, np.full((2, 2, 1), 0.5))
