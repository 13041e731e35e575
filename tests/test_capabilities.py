"""Capabilities as protocols: which models have which, structural against declared ones."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.capabilities import (
    Anchors,
    DistilsFromSelf,
    FactorTables,
    GrowsAndEvicts,
    HasItemRows,
    InnerProductScores,
    LearnsOne,
    LearnsPredict,
    LearnsRank,
    Observes,
    PredictsRatings,
    Rehearses,
)
from freshrec.checks import checkerboard_events
from freshrec.models import BPR, REGISTRY, MostPopular
from freshrec.update.forgetting import EWC, Distillation
from freshrec.update.structure import quantize_embeddings
from freshrec.update.transfer import fine_tune_from

CAPABILITIES = (
    Anchors,
    DistilsFromSelf,
    FactorTables,
    GrowsAndEvicts,
    HasItemRows,
    InnerProductScores,
    LearnsOne,
    LearnsPredict,
    LearnsRank,
    Observes,
    PredictsRatings,
    Rehearses,
)
TORCH = {HasItemRows}  # the item tables every torch model has
SEQUENTIAL = TORCH | {Anchors, Observes, Rehearses}
EXPECTED = {
    "als": {FactorTables, InnerProductScores},
    "biased-mf": {FactorTables, InnerProductScores, LearnsOne, LearnsPredict, PredictsRatings},
    "bpr": {
        Anchors,
        DistilsFromSelf,
        FactorTables,
        GrowsAndEvicts,
        HasItemRows,
        InnerProductScores,
        LearnsRank,
        Rehearses,
    },
    "caser": SEQUENTIAL,
    "cfgan": TORCH,
    "content": set(),
    "deepfm": TORCH,
    "fm": TORCH,
    "gru4rec": SEQUENTIAL,
    "irgan": TORCH,
    "item-knn": set(),
    "neumf": TORCH | {Anchors, GrowsAndEvicts, Rehearses},
    "popular": set(),
    "sasrec": SEQUENTIAL,
    "hstu": SEQUENTIAL,
    "two-tower": TORCH,
    "user-knn": set(),
}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_model_has_the_capabilities_it_declares(name):
    model = REGISTRY[name]()
    assert {c for c in CAPABILITIES if isinstance(model, c)} == EXPECTED[name]
    assert {c for c in CAPABILITIES if issubclass(REGISTRY[name], c)} == EXPECTED[name]


def test_a_declared_capability_needs_the_declaration_not_only_the_methods():
    class Undeclared(MostPopular):  # has partial_fit(replay=...), add_ids and evict
        pass

    class Declared(MostPopular, Rehearses):
        pass

    assert not isinstance(Undeclared(), Rehearses) and not issubclass(Undeclared, GrowsAndEvicts)
    assert isinstance(Declared(), Rehearses) and issubclass(Declared, Rehearses)
    assert isinstance(Declared(), MostPopular) and not isinstance(MostPopular(), Declared)


def test_a_structural_capability_needs_only_the_methods():
    class Elsewhere:  # not a freshrec model at all
        def observe(self, events):
            return self

    assert isinstance(Elsewhere(), Observes) and not isinstance(Elsewhere(), Rehearses)


def test_declaring_a_capability_hides_no_implementation():
    model = BPR(n_factors=4, n_epochs=2)
    assert model.fit(checkerboard_events()) is model  # not the protocol's stub
    assert model.partial_fit(checkerboard_events(seed=1)) is model
    assert BPR._param_names() == list(model.get_params())


def test_callers_name_the_model_and_the_missing_capability():
    events = checkerboard_events()
    popular = MostPopular().fit(events)
    with pytest.raises(ValueError, match="MostPopular .* not Anchors"):
        EWC().before_update(popular, events)
    with pytest.raises(ValueError, match="MostPopular .* not DistilsFromSelf"):
        Distillation().before_update(popular, events)
    with pytest.raises(ValueError, match="MostPopular .* not FactorTables"):
        quantize_embeddings(popular)
    with pytest.raises(ValueError, match="MostPopular .* Rehearses and GrowsAndEvicts"):
        fine_tune_from(BPR(n_factors=4, n_epochs=1).fit(events), MostPopular(), events)


@pytest.mark.parametrize("name", ["als", "biased-mf", "bpr"])
def test_inner_product_keys_rank_items_as_the_scores_do(name):
    model = REGISTRY[name](n_factors=4, seed=0).fit(checkerboard_events())
    users = np.arange(model.n_users)
    by_product = model.user_queries(users) @ model.item_keys().T
    scores = model.score_batch(users)
    for row in range(model.n_users):  # the same order (ties allowed: BiasedMF clips)
        order = np.argsort(-by_product[row], kind="stable")
        assert (np.diff(scores[row][order]) <= 1e-5).all()
