"""Properties every policy keeps whatever it learned: valid distributions, valid decisions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.bandits.helpers import POLICIES, arm_row, make_context

rounds = st.lists(
    st.tuples(
        st.lists(st.integers(0, 7), min_size=1, max_size=6, unique=True),  # candidates
        st.integers(1, 6),  # k, clipped to the number of candidates
        st.booleans(),  # one context row per candidate (contextual policies)
        st.floats(0.0, 1.0),  # the reward
    ),
    min_size=1,
    max_size=15,
)


@pytest.mark.parametrize("name", POLICIES)
@settings(derandomize=True, max_examples=50, deadline=None)
@given(rounds=rounds, seed=st.integers(0, 2**16))
def test_every_decision_carries_valid_propensities(name, rounds, seed):
    factory, kind = POLICIES[name]
    policy = factory(200)
    rng = np.random.default_rng(seed)
    for candidates, k, per_arm, reward in rounds:
        k = min(k, len(candidates))
        context = make_context(kind, len(candidates), rng, per_arm)

        p = policy.probabilities(candidates, context)
        assert p.shape == (len(candidates),)
        assert ((p >= 0.0) & (p <= 1.0)).all()
        assert abs(p.sum() - 1.0) <= 1e-12

        decision = policy.select(candidates, k=k, context=context)
        assert len(decision.items) == k == len(set(decision.items))
        assert set(decision.items) <= set(candidates)
        assert ((decision.propensities > 0.0) & (decision.propensities <= 1.0)).all()
        assert decision.distribution.shape == (len(candidates),)
        assert (decision.distribution >= 0.0).all()
        assert abs(decision.distribution.sum() - 1.0) <= 1e-12
        chosen = candidates.index(decision.items[0])
        if k == 1:
            assert decision.propensities[0] == decision.distribution[chosen]
        assert decision.distribution[chosen] > 0.0  # the first arm was possible

        policy.update(decision.items[0], reward, arm_row(context, chosen))
