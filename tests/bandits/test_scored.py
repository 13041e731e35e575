"""ScorePolicy: a recommender's scores as a policy, with a temperature and a floor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freshrec.bandits import ScorePolicy, softmax
from freshrec.bandits.scored import Scorer
from freshrec.models import MostPopular
from tests.bandits.helpers import ArmScores


class Spread:
    """Scores ``spread * i`` for item ``i``, whatever the user."""

    def __init__(self, spread: float) -> None:
        self.spread = spread

    def score(self, user, items):
        return self.spread * np.asarray(items, dtype=np.float64)


@settings(derandomize=True, max_examples=50, deadline=None)
@given(
    n=st.integers(1, 12),
    spread=st.floats(0.0, 1000.0),
    temperature=st.floats(0.01, 100.0),
    share=st.floats(0.0, 1.0),
)
def test_the_floor_holds_whatever_the_scores(n, spread, temperature, share):
    floor = share / n
    policy = ScorePolicy(Spread(spread), temperature=temperature, floor=floor, n_draws=100)
    p = policy.probabilities(list(range(n)), context="ann")
    assert (p >= floor - 1e-12).all()
    assert abs(p.sum() - 1.0) <= 1e-12
    decision = policy.select(list(range(n)), k=min(n, 3), context="ann")
    assert (decision.distribution >= floor - 1e-12).all()


def test_the_distribution_mixes_the_softmax_with_the_floor():
    policy = ScorePolicy(Spread(1.0), temperature=0.5, floor=0.1)
    expected = 0.6 * softmax(np.arange(4.0), 0.5) + 0.1
    assert np.allclose(policy.probabilities([0, 1, 2, 3], context=1), expected)
    uniform = ScorePolicy(Spread(1.0), floor=0.25)
    assert uniform.probabilities([0, 1, 2, 3], context=1).tolist() == [0.25] * 4


def test_a_fitted_recommender_is_a_policy_for_known_and_unknown_users(checkerboard):
    model = MostPopular().fit(checkerboard)
    assert isinstance(model, Scorer)
    policy = ScorePolicy(model, temperature=0.1, floor=0.01)
    items = [0, 5, 12, "never-seen"]
    expected = 0.96 * softmax(model.score(3, items), 0.1) + 0.01
    assert np.allclose(policy.probabilities(items, context=3), expected)
    assert np.allclose(policy.probabilities(items, context=np.int64(3)), expected)
    assert policy.probabilities(items, context="new-user").shape == (4,)
    policy.update(0, 1.0, context=3)  # learns nothing: the model learns from the log
    assert np.allclose(policy.probabilities(items, context=3), expected)


def test_the_user_is_the_context():
    policy = ScorePolicy(ArmScores())
    assert not np.allclose(
        policy.probabilities(list("abc"), 1), policy.probabilities(list("abc"), 2)
    )
    with pytest.raises(ValueError, match="needs the user as context"):
        policy.select(["a"])


def test_bad_arguments_and_scores_raise():
    with pytest.raises(ValueError, match="temperature"):
        ScorePolicy(Spread(1.0), temperature=0.0)
    with pytest.raises(ValueError, match="floor"):
        ScorePolicy(Spread(1.0), floor=-0.1)
    with pytest.raises(ValueError, match="floor \\* n_candidates must be <= 1, got 0.3 \\* 4"):
        ScorePolicy(Spread(1.0), floor=0.3).select([0, 1, 2, 3], context=0)
    with pytest.raises(ValueError, match="finite scores"):
        ScorePolicy(Spread(np.nan)).probabilities([0, 1], context=0)
