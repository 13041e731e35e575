"""EWC for the torch recommenders: Fisher information, anchors, growth, and finetune-ewc."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from freshrec.data import Event
from freshrec.data.batch import as_batch
from freshrec.data.synthetic import synthetic_stream
from freshrec.models.neumf import NeuMF
from freshrec.models.sasrec import SASRec
from freshrec.update.forgetting import EWC
from freshrec.update.strategies import make_strategy

MODELS = {
    "neumf": lambda: NeuMF(n_factors=8, hidden=(16,), n_epochs=5, lr=0.01, seed=0),
    "sasrec": lambda: SASRec(dim=8, max_len=8, n_epochs=5, lr=0.01, batch_size=16, seed=0),
}


@pytest.fixture(scope="module")
def split():
    events = as_batch(synthetic_stream(n_users=60, n_items=40, n_events=2400, seed=4).events)
    ordered = events.sort_by_time()
    return ordered[:1600], ordered[1600:]


@pytest.fixture(scope="module", params=sorted(MODELS))
def trained(request, split):
    return MODELS[request.param]().fit(split[0])


def _item_table(model):
    return model.module_.get_submodule("item_gmf" if isinstance(model, NeuMF) else "item_embedding")


def test_fisher_has_one_non_negative_array_per_parameter(trained, split):
    info = trained.fisher(split[0])
    params = dict(trained.module_.named_parameters())
    assert set(info) == set(params)
    for name, value in info.items():
        assert value.shape == tuple(params[name].shape)
        assert (value >= 0).all()
    assert sum(float(v.sum()) for v in info.values()) > 0


def test_anchor_penalty_is_zero_at_the_anchor_and_grows_with_distance(trained, split):
    model = copy.deepcopy(trained)
    weights = {name: np.ones_like(v) for name, v in model.fisher(split[0]).items()}
    model.anchor(weights)
    assert float(model._anchor_penalty().detach()) == 0.0
    table = _item_table(model)
    with torch.no_grad():
        table.weight[1] += 0.5
    expected = 0.5 * 0.5**2 * table.weight.shape[1]  # one row moved by 0.5, weight 1
    assert float(model._anchor_penalty().detach()) == pytest.approx(expected)
    model.anchor(None)
    assert not hasattr(model, "anchor_") and model._anchor_penalty() == 0.0


def test_a_strong_anchor_holds_old_rows_while_tables_grow(trained, split):
    def moved(strength: float) -> float:
        model = copy.deepcopy(trained)
        rows = len(_item_table(model).weight)
        before = _item_table(model).weight.detach().clone()
        EWC(strength).before_update(model, split[0])
        model.partial_fit(split[1])
        model.partial_fit([Event("newcomer", "brand-new-item", 1.0, 1e12)])  # grows both tables
        assert len(_item_table(model).weight) > rows
        return float((_item_table(model).weight[:rows].detach() - before).abs().mean())

    assert moved(1e3) < 0.5 * moved(0.0)


def test_anchor_rejects_weights_of_the_wrong_shape(trained):
    model = copy.deepcopy(trained)
    name = next(iter(dict(model.module_.named_parameters())))
    with pytest.raises(ValueError, match="expected"):
        model.anchor({name: np.ones((1, 1, 1))})


def test_finetune_ewc_runs_and_detaches_the_anchor(trained, split):
    model = copy.deepcopy(trained)
    strategy = make_strategy("finetune-ewc", {"epochs": 2})
    strategy.prime(split[0])
    assert strategy.step(model, split[1]).trained
    assert not hasattr(model, "anchor_")
