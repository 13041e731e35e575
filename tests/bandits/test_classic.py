"""Non-contextual policies: they learn, start new arms at the prior, and say how they choose."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from freshrec.bandits import UCB1, BernoulliTS, EpsilonGreedy, Exp3, GaussianTS, Softmax
from tests.bandits.helpers import play_bernoulli, standard_error

MEANS = [0.1, 0.2, 0.3, 0.4, 0.5]  # uniform play earns 0.3 a round, the best arm 0.5

LEARNERS = {
    "epsilon-greedy": lambda: EpsilonGreedy(epsilon=0.1),
    "epsilon-decay": lambda: EpsilonGreedy(epsilon=0.5, decay=True),
    "ucb1": UCB1,
    "bernoulli-ts": lambda: BernoulliTS(n_draws=300),
    "gaussian-ts": lambda: GaussianTS(noise_var=0.25, n_draws=300),
    "exp3": lambda: Exp3(gamma=0.1),
    "softmax": lambda: Softmax(temperature=0.05),
}


@pytest.mark.parametrize("name", LEARNERS)
def test_each_policy_learns_the_best_arm_of_a_bernoulli_bandit(name):
    policy = LEARNERS[name]()
    rewards = play_bernoulli(policy, MEANS, rounds=2500, seed=7)
    # uniform play: 0.3 a round, standard error 0.009 over 2500 rounds: 0.4 is 10 errors away
    assert rewards.mean() > 0.4
    assert rewards[-500:].mean() > 0.4
    assert int(np.argmax(policy.probabilities(list(range(5))))) == 4


@pytest.mark.parametrize("name", LEARNERS)
def test_arms_left_out_are_never_chosen_and_new_arms_start_at_the_prior(name):
    policy = LEARNERS[name]()
    play_bernoulli(policy, MEANS, rounds=300, seed=1)
    fresh = LEARNERS[name]()
    for _ in range(50):
        assert policy.select([1, 3], k=2).items in {(1, 3), (3, 1)}
        decision = policy.select([0, 2, 4, "new"], k=2)
        assert set(decision.items) <= {0, 2, 4, "new"}
        policy.update(decision.items[0], 0.0)
    # new arms alone are at the prior: as in a fresh policy (the same Monte Carlo draws too,
    # for probabilities' generator has not been used yet)
    assert policy.probabilities(["x", "y"]).tolist() == fresh.probabilities(["x", "y"]).tolist()


def test_epsilon_greedy_probabilities_are_exact_with_ties_and_decay():
    policy = EpsilonGreedy(epsilon=0.2)
    for arm, reward in [("a", 1.0), ("b", 1.0), ("c", 0.5)]:
        policy.update(arm, reward)
    assert np.allclose(policy.probabilities(list("abcd")), [0.45, 0.45, 0.05, 0.05])
    decaying = EpsilonGreedy(epsilon=0.2, decay=True)
    assert decaying.epsilon_at(4, 1) == decaying.epsilon_at(4, 4) == 0.2
    assert decaying.epsilon_at(4, 8) == pytest.approx(0.1)
    for _ in range(7):
        decaying.update("a", 1.0)
    assert np.allclose(decaying.probabilities(list("abcd")), [0.925, 0.025, 0.025, 0.025])


def test_epsilon_greedy_with_an_optimistic_prior_tries_new_arms_first():
    policy = EpsilonGreedy(epsilon=0.0, prior_mean=2.0)
    policy.update("a", 1.0)
    assert policy.probabilities(["a", "b"]).tolist() == [0.0, 1.0]


def test_ucb1_tries_untried_arms_first_then_takes_the_largest_bound():
    policy = UCB1()
    assert policy.probabilities(list("abc")).tolist() == [1 / 3] * 3
    policy.update("a", 1.0)
    assert policy.probabilities(list("abc")).tolist() == [0.0, 0.5, 0.5]
    policy.update("b", 0.0)
    policy.update("c", 0.0)
    policy.update("c", 1.0)
    # bounds: a 1 + sqrt(2 ln 4), b 0 + sqrt(2 ln 4), c 0.5 + sqrt(ln 4)
    assert policy.probabilities(list("abc")).tolist() == [1.0, 0.0, 0.0]


def beta_beats(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X > Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2), by quadrature."""
    return integrate.quad(lambda x: stats.beta.pdf(x, a1, b1) * stats.beta.cdf(x, a2, b2), 0, 1)[0]


def test_bernoulli_ts_probabilities_match_the_closed_form_and_the_decisions():
    policy = BernoulliTS(n_draws=2000)
    for reward in [1.0, 1.0, 0.0, 1.0]:
        policy.update("a", reward)
    policy.update("b", 1.0)
    policy.update("b", 0.0)
    exact = beta_beats(4, 2, 2, 2)  # a: Beta(1 + 3, 1 + 1), b: Beta(1 + 1, 1 + 1)
    estimate = policy.probabilities(["a", "b"])[0]
    assert abs(estimate - exact) <= 5 * standard_error(exact, policy.n_draws)
    n = 2000
    chosen = [policy.select(["a", "b"]).items[0] == "a" for _ in range(n)]
    tolerance = 5 * np.sqrt(exact * (1 - exact) * (1 / n + 1 / policy.n_draws))
    assert abs(np.mean(chosen) - estimate) <= tolerance


def test_bernoulli_ts_counts_a_fractional_reward_as_a_share_of_a_success():
    policy = BernoulliTS(alpha=1.0, beta=1.0, n_draws=20_000)
    for _ in range(4):
        policy.update("a", 0.5)  # Beta(3, 3): symmetric, so as likely as the prior to win
    assert abs(policy.probabilities(["a", "b"])[0] - 0.5) <= 5 * np.sqrt(0.25 / 20_000)


def test_gaussian_ts_probabilities_match_the_closed_form():
    policy = GaussianTS(prior_mean=0.0, prior_var=1.0, noise_var=1.0, n_draws=10_000)
    for reward in [0.5, 1.5, 1.0]:
        policy.update("a", reward)
    # a: precision 1 + 3 = 4, mean 3 / 4; b: the prior N(0, 1)
    exact = stats.norm.cdf(0.75 / np.sqrt(0.25 + 1.0))
    estimate = policy.probabilities(["a", "b"])[0]
    assert abs(estimate - exact) <= 5 * standard_error(exact, policy.n_draws)


def test_exp3_weights_rewards_by_their_propensity():
    policy = Exp3(gamma=0.5)
    decision = policy.select(["a", "b"])
    arm, q = decision.items[0], float(decision.propensities[0])
    policy.update(arm, 0.8)
    gains = np.array([0.8 / q if name == arm else 0.0 for name in "ab"])
    weights = np.exp(0.5 / 2 * gains)  # exp(gamma / n * gain)
    assert np.allclose(policy.probabilities(["a", "b"]), 0.5 * weights / weights.sum() + 0.25)


def test_exp3_new_arms_enter_at_the_mean_gain_and_need_a_decision_to_learn():
    policy = Exp3(gamma=0.3)
    for _ in range(20):
        decision = policy.select(["a", "b"])
        policy.update(decision.items[0], 1.0 if decision.items[0] == "a" else 0.0)
    gains = dict(policy.gains_)
    assert gains["a"] > gains["b"]
    p = policy.probabilities(["a", "b", "c"])
    # "c" enters at the mean gain of "a" and "b": between them
    assert p[0] > p[2] > p[1]
    policy.select(["a", "b", "c"])
    assert policy.gains_["c"] == pytest.approx((gains["a"] + gains["b"]) / 2)
    with pytest.raises(ValueError, match="'d' was never chosen"):
        policy.update("d", 1.0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: EpsilonGreedy(epsilon=1.5), "epsilon"),
        (lambda: EpsilonGreedy(epsilon=-0.1), "epsilon"),
        (lambda: BernoulliTS(alpha=0.0), "alpha"),
        (lambda: BernoulliTS(beta=-1.0), "beta"),
        (lambda: GaussianTS(prior_var=0.0), "prior_var"),
        (lambda: GaussianTS(noise_var=-1.0), "noise_var"),
        (lambda: Exp3(gamma=0.0), "gamma"),
        (lambda: Exp3(gamma=1.5), "gamma"),
        (lambda: Softmax(temperature=0.0), "temperature"),
        (lambda: UCB1(n_draws=0), "n_draws"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("policy", "reward"),
    [
        (BernoulliTS(), 1.5),
        (BernoulliTS(), -0.1),
        (EpsilonGreedy(), float("nan")),
        (UCB1(), float("inf")),
    ],
)
def test_bad_rewards_raise(policy, reward):
    with pytest.raises(ValueError, match="reward"):
        policy.update("a", reward)


def test_exp3_needs_rewards_in_the_unit_interval():
    policy = Exp3()
    policy.select(["a"])
    with pytest.raises(ValueError, match="reward must be in \\[0, 1\\]"):
        policy.update("a", 2.0)
