"""Every registered model passes the public conformance suite (freshrec.checks).

Classical models run it with their defaults here. Deep models (``TorchRecommender``) run the
same checks at small settings in their own test file, since their defaults are sized for real
data (hundreds of epochs); this file makes sure each of them has one.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from freshrec import checks
from freshrec.capabilities import FactorTables, PredictsRatings
from freshrec.checks import yield_checks
from freshrec.data.batch import as_batch, ids_array
from freshrec.models import BPR, REGISTRY, BiasedMF, MostPopular
from freshrec.models.torch.torch_base import TorchRecommender

DEEP = {name for name, cls in REGISTRY.items() if issubclass(cls, TorchRecommender)}
CASES = [
    pytest.param(name, check, id=f"{cls.__name__}:{check.__name__}")
    for name, cls in sorted(REGISTRY.items())
    if name not in DEEP
    for check in yield_checks(cls())
]


@pytest.mark.parametrize(("name", "check"), CASES)
def test_model_conforms(name, check):
    check(REGISTRY[name]())


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deep_model_runs_the_checks_in_its_own_tests(name):
    module = Path(inspect.getfile(REGISTRY[name])).stem
    tests = Path(__file__).parent / "models" / f"test_{module}.py"
    assert tests.exists(), f"{name}: no {tests}"
    assert "yield_checks(" in tests.read_text(), f"{tests} does not run freshrec.checks"


# -- every capability check catches a model that breaks its capability ------------------------


class _PredictsAfterLearning(BiasedMF):
    def learn_predict(self, events):
        batch = as_batch(events)
        self.partial_fit(batch)
        return np.array([self.score(e.user, [e.item])[0] for e in batch.to_events()])


class _RanksUnmasked(BPR):
    def learn_rank(self, events, *, steps=1):
        return super().learn_rank(events, steps=steps, exclude_seen=False)


class _ObservesByLearning(MostPopular):
    def observe(self, events):
        return self.partial_fit(events)


class _ObservesNothing(MostPopular):
    def observe(self, events):
        return self


class _IgnoresReplay(BPR):
    def _rehearse(self, batch, replayed, valid):
        self._learn(batch, valid)


class _EvictKeepsEvents(BPR):
    def evict(self, users=(), items=()):
        return self.user_map_.evict(ids_array(users)), self.item_map_.evict(ids_array(items))


class _AnchorDoesNothing(BPR):
    def anchor(self, weights):
        return self


class _DistilsNothing(BPR):
    def distil_from_self(self, weight):
        return self


class _WritesTheNextRow(BPR):
    def write_item_rows(self, table, item_idx, rows, *, bias=None):
        super().write_item_rows(table, np.asarray(item_idx) + 1, rows, bias=bias)


class _TablesNotScored(MostPopular, FactorTables):
    def _grow(self, n_users, n_items):
        super()._grow(n_users, n_items)
        self.user_factors_, self.item_factors_ = np.ones((n_users, 2)), np.ones((n_items, 2))


class _PopularityAsRatings(MostPopular, PredictsRatings):
    pass


BROKEN = [
    (_PredictsAfterLearning(n_factors=4), checks.check_learn_predict_is_test_then_train),
    (_RanksUnmasked(n_factors=4, n_epochs=20), checks.check_learn_rank_ranks_before_learning),
    (_ObservesByLearning(), checks.check_observe_reads_without_learning),
    (_ObservesNothing(), checks.check_observe_reads_without_learning),
    (_IgnoresReplay(n_factors=4, n_epochs=5), checks.check_replay_is_learned_not_counted),
    (_EvictKeepsEvents(n_factors=4, n_epochs=5), checks.check_evict_frees_and_add_ids_reuses),
    (_AnchorDoesNothing(n_factors=4, n_epochs=20), checks.check_anchor_holds_the_parameters),
    (_DistilsNothing(n_factors=4, n_epochs=20), checks.check_distillation_keeps_the_teacher),
    (_WritesTheNextRow(n_factors=4, n_epochs=5), checks.check_item_rows_are_written_in_place),
    (_TablesNotScored(), checks.check_factor_rows_are_internal_indices),
    (_PopularityAsRatings(), checks.check_scores_are_ratings),
]


@pytest.mark.parametrize(("model", "check"), BROKEN, ids=[type(m).__name__[1:] for m, _ in BROKEN])
def test_a_capability_check_catches_a_broken_model(model, check):
    assert check in list(yield_checks(model))  # the runner applies it: the model has it
    with pytest.raises(AssertionError):
        check(model)


def test_the_runner_applies_the_checks_of_the_capabilities_a_model_has():
    names = {check.__name__ for check in yield_checks(BPR())}
    assert {"check_replay_is_learned_not_counted", "check_anchor_holds_the_parameters"} <= names
    assert "check_scores_are_ratings" not in names
    popular = {check.__name__ for check in yield_checks(MostPopular())}
    assert not popular & {check.__name__ for _, check in checks._CAPABILITY_CHECKS}
