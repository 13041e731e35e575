"""Contextual policies: they use the context, learn stably, and take features both ways."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.bandits import EpsilonGreedy, HybridLinUCB, LinearTS, LinUCB, NeuralLinear, Policy
from tests.bandits.helpers import standard_error

D, K = 4, 5


def play_linear(policy: Policy, rounds: int, seed: int) -> float:
    """Mean expected reward of ``policy`` when arm ``a`` pays ``x @ theta_a`` plus noise."""
    rng = np.random.default_rng(seed)
    thetas = rng.normal(size=(K, D))
    arms = list(range(K))
    earned = 0.0
    for _ in range(rounds):
        x = rng.normal(size=D)
        arm = policy.select(arms, context=x).items[0]
        mean = thetas[arm] @ x
        policy.update(arm, mean + 0.1 * rng.normal(), x)
        earned += mean
    return earned / rounds


def small_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(D, 8), torch.nn.Tanh()).eval()


CONTEXTUAL = {
    "linucb": lambda: LinUCB(alpha=1.0),
    "hybrid-linucb": lambda: HybridLinUCB(alpha=1.0),
    "linear-ts": lambda: LinearTS(v=0.3, n_draws=300),
    "neural-linear-function": lambda: NeuralLinear(lambda rows: rows, n_draws=300),
    "neural-linear-torch": lambda: NeuralLinear(small_net(), n_draws=300),
}


@pytest.mark.parametrize("name", CONTEXTUAL)
def test_contextual_policies_beat_a_context_free_one_on_a_linear_bandit(name):
    # the arms' mean rewards average 0 over contexts: only the context tells them apart
    baseline = play_linear(EpsilonGreedy(epsilon=0.1), rounds=800, seed=3)
    earned = play_linear(CONTEXTUAL[name](), rounds=800, seed=3)
    assert abs(baseline) < 0.2
    assert earned > 1.0  # the best arm's expected reward averages about 1.35 here


def test_hybrid_linucb_carries_what_old_arms_taught_to_new_ones():
    # every round offers five arms never seen before; an arm pays its row @ beta
    rng = np.random.default_rng(0)
    beta = np.array([1.0, -1.0, 0.5])
    earned = {"hybrid": 0.0, "disjoint": 0.0}
    policies = {"hybrid": HybridLinUCB(alpha=0.5), "disjoint": LinUCB(alpha=0.5)}
    for t in range(300):
        rows = rng.normal(size=(5, 3))
        arms = [f"item-{t}-{i}" for i in range(5)]
        for name, policy in policies.items():
            position = arms.index(policy.select(arms, context=rows).items[0])
            policy.update(arms[position], rows[position] @ beta, rows[position])
            earned[name] += rows[position] @ beta / 300
    assert earned["hybrid"] > 1.2
    assert earned["disjoint"] < 0.5


SHARED = {
    "linucb": lambda: LinUCB(alpha=0.5, shared=True),
    "linear-ts": lambda: LinearTS(v=0.3, shared=True, n_draws=300),
    "neural-linear": lambda: NeuralLinear(lambda rows: rows, shared=True, n_draws=300),
}


@pytest.mark.parametrize("name", SHARED)
def test_a_shared_model_ranks_arms_it_never_saw_by_their_rows(name):
    # every round offers five new arms; an arm pays its row @ beta: only a shared model learns
    rng = np.random.default_rng(0)
    beta = np.array([1.0, -1.0, 0.5])
    policy, earned = SHARED[name](), 0.0
    for t in range(300):
        rows = rng.normal(size=(5, 3))
        arms = [f"item-{t}-{i}" for i in range(5)]
        position = arms.index(policy.select(arms, context=rows).items[0])
        policy.update(arms[position], rows[position] @ beta + 0.1 * rng.normal(), rows[position])
        earned += rows[position] @ beta / 300
    assert earned > 1.2  # the best of five averages about 1.7 here, a random arm 0
    assert list(policy.models_) == ["(all arms)"]


def test_shared_thompson_draws_one_weight_vector_for_all_arms():
    # two arms with the same row always score the same in a draw: they split evenly
    policy = LinearTS(v=1.0, shared=True, n_draws=2000)
    policy.update("a", 1.0, np.array([1.0, 0.0]))
    rows = np.array([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    probabilities = policy.probabilities(["a", "b", "c"], rows)
    assert probabilities[0] == pytest.approx(probabilities[1])
    assert probabilities[:2].sum() > 0.7


def test_sherman_morrison_keeps_the_exact_inverse():
    rng = np.random.default_rng(0)
    policy = LinUCB(l2=2.0)
    rows = rng.normal(size=(500, D)) * 10.0
    for x in rows:
        policy.update("a", float(x.sum()), x)
    model = policy.models_["a"]
    exact = np.linalg.inv(2.0 * np.eye(D) + rows.T @ rows)
    assert np.allclose(model.inv, exact, rtol=1e-8, atol=1e-12)
    assert np.allclose(model.theta, np.ones(D), atol=1e-3)


def test_a_new_arm_scores_at_the_prior():
    policy = LinUCB(alpha=1.0, l2=4.0)
    x = np.array([3.0, 0.0, 4.0, 0.0])
    for _ in range(50):
        policy.update("old", -1.0, x)
    # new arm: theta = 0 and width sqrt(x @ x / l2) = 2.5 > the old arm's bound
    assert policy.probabilities(["old", "new"], x).tolist() == [0.0, 1.0]
    assert "new" not in policy.models_


def test_per_candidate_rows_score_each_candidate_on_its_own_row():
    policy = LinUCB(alpha=0.0)
    for _ in range(5):
        policy.update("a", 1.0, np.array([1.0, 0.0]))
        policy.update("b", 1.0, np.array([0.0, 1.0]))
    rows = np.array([[0.0, 1.0], [0.0, 2.0]])  # "a" on a row it never saw pays nothing
    assert policy.probabilities(["a", "b"], rows).tolist() == [0.0, 1.0]
    assert policy.probabilities(["a", "b"], np.array([1.0, 0.0])).tolist() == [1.0, 0.0]


def test_linear_ts_probabilities_match_the_closed_form_and_the_decisions():
    policy = LinearTS(v=1.0, n_draws=2000)
    x = np.array([1.0, 0.0])
    policy.update("a", 1.0, x)  # a: A = diag(2, 1), theta = (0.5, 0): N(0.5, 0.5) at x
    exact = float(torch.distributions.Normal(0.0, 1.0).cdf(torch.tensor(0.5 / np.sqrt(1.5))))
    estimate = policy.probabilities(["a", "b"], x)[0]  # b at the prior: N(0, 1)
    assert abs(estimate - exact) <= 5 * standard_error(exact, policy.n_draws)
    n = 2000
    chosen = np.mean([policy.select(["a", "b"], context=x).items[0] == "a" for _ in range(n)])
    assert abs(chosen - estimate) <= 5 * np.sqrt(exact * (1 - exact) * (1 / n + 1 / 2000))


def test_neural_linear_reads_the_embedding_and_learns_its_noise():
    policy = NeuralLinear(lambda rows: np.c_[rows, rows**2], a0=2.0, b0=1.0, n_draws=5000)
    x = np.array([1.0, -2.0])
    for _ in range(200):
        policy.update("a", 0.7, x)
    model = policy.models_["a"]
    assert model.inv.shape == (4, 4)
    # no noise: 2 (b - b0) = sum r^2 - mu^T A mu is only the penalty l2 |mu|^2, small, while
    # the shape a = a0 + n / 2 grows: the noise variance's posterior mean b / (a - 1) is ~0.01
    assert model.yy - model.theta @ model.xy == pytest.approx(model.theta @ model.theta, abs=1e-3)
    assert model.theta @ model.theta < 0.05
    phi = np.r_[x, x**2]
    assert phi @ model.theta == pytest.approx(0.7, abs=1e-3)


def test_neural_linear_runs_a_torch_module_in_its_dtype():
    net = torch.nn.Linear(2, 3).double()
    policy = NeuralLinear(net, n_draws=100)
    policy.update("a", 1.0, np.array([0.5, 0.5]))
    assert policy.models_["a"].inv.shape == (3, 3)
    assert policy.select(["a", "b"], context=np.array([[0.1, 0.2], [0.3, 0.4]])).items[0] in {
        "a",
        "b",
    }


@pytest.mark.parametrize("make", [LinUCB, HybridLinUCB, LinearTS, lambda: NeuralLinear(np.tanh)])
def test_contexts_of_the_wrong_shape_raise(make):
    policy = make()
    with pytest.raises(ValueError, match="needs a context"):
        policy.select(["a", "b"])
    with pytest.raises(ValueError, match="context must have shape"):
        policy.select(["a", "b"], context=np.ones((3, 2)))
    policy.update("a", 1.0, np.ones(2))
    with pytest.raises(ValueError, match="context has 3 features; the policy has 2"):
        policy.select(["a", "b"], context=np.ones(3))
    with pytest.raises(ValueError, match="update takes the chosen arm's row"):
        policy.update("a", 1.0, np.ones((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        policy.select(["a"], context=np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="reward"):
        policy.update("a", float("nan"), np.ones(2))


def test_an_embedding_of_the_wrong_shape_raises():
    with pytest.raises(ValueError, match="embed must map 2 rows"):
        NeuralLinear(lambda rows: rows[0]).select(["a", "b"], context=np.ones((2, 3)))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LinUCB(alpha=-1.0), "alpha"),
        (lambda: LinUCB(l2=0.0), "l2"),
        (lambda: HybridLinUCB(alpha=-0.1), "alpha"),
        (lambda: HybridLinUCB(l2=-1.0), "l2"),
        (lambda: LinearTS(v=0.0), "v must"),
        (lambda: LinearTS(l2=0.0), "l2"),
        (lambda: NeuralLinear(np.tanh, a0=0.0), "a0"),
        (lambda: NeuralLinear(np.tanh, b0=-1.0), "b0"),
        (lambda: NeuralLinear(np.tanh, l2=0.0), "l2"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(make, message):
    with pytest.raises(ValueError, match=message):
        make()
