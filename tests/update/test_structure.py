"""Structure changes: int8 rows, pruning, function-preserving widening, migration by id."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freshrec.checks import checkerboard_events
from freshrec.data.batch import as_batch
from freshrec.models import BPR, MostPopular
from freshrec.models.neumf import NeuMF
from freshrec.models.sasrec import SASRec
from freshrec.update.structure import (
    add_block,
    migrate_embeddings,
    prune_linear_layers,
    prune_rows,
    quantize_embeddings,
    quantize_linear_layers,
    quantize_rows,
    widen_factors,
    widen_hidden,
)


@pytest.fixture(scope="module")
def events():
    return as_batch(checkerboard_events())


def test_int8_rows_are_within_half_a_step_of_the_table():
    table = np.random.default_rng(0).normal(size=(50, 64)).astype(np.float32)
    table[3] = 0.0
    stored = quantize_rows(table)
    assert stored.codes.dtype == np.int8 and stored.scales.dtype == np.float32
    error = np.abs(stored.dequantize() - table)
    assert np.all(error <= stored.scales[:, None] / 2 + 1e-7)
    assert np.all(stored.dequantize()[3] == 0)
    assert stored.nbytes == 50 * 64 + 50 * 4  # 26.6% of float32 at d=64


def test_quantized_model_scores_like_the_float_one(events):
    model = BPR(n_factors=64, n_epochs=20).fit(events)
    before = model.score_batch(np.arange(model.n_users))
    after = quantize_embeddings(model).score_batch(np.arange(model.n_users))
    assert sum(model.table_nbytes().values()) <= 0.3 * 4 * 64 * (model.n_users + model.n_items)
    assert np.abs(after - before).max() < 0.02 * np.abs(before).max()


def test_quantize_rows_rejects_vectors():
    with pytest.raises(ValueError, match="2-D"):
        quantize_rows(np.ones(3))


def test_pruning_linear_layers_zeroes_the_smallest_weights():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 10), torch.nn.ReLU(), torch.nn.Linear(10, 5))
    magnitudes = torch.cat([net[0].weight.abs().flatten(), net[2].weight.abs().flatten()])
    cutoff = magnitudes.kthvalue(int(0.6 * len(magnitudes))).values
    share = prune_linear_layers(net, 0.6)
    assert abs(share - 0.6) < 0.01
    for layer in (net[0], net[2]):
        assert torch.all((layer.weight == 0) | (layer.weight.abs() >= cutoff))
    assert not any(name.endswith("_orig") for name, _ in net.named_parameters())
    with pytest.raises(ValueError, match="amount"):
        prune_linear_layers(net, 1.0)


def test_dynamic_quantization_keeps_neumf_scores_close(events):
    model = NeuMF(n_factors=8, hidden=(16, 8), n_epochs=10).fit(events)
    users = torch.arange(model.n_users).repeat_interleave(model.n_items)
    items = torch.arange(model.n_items).repeat(model.n_users)
    with torch.no_grad():
        before = model.module_(users, items)
        after = quantize_linear_layers(model.module_)(users, items)
    assert torch.corrcoef(torch.stack([before, after]))[0, 1] > 0.99


def test_row_pruning_takes_the_smallest_norms(events):
    model = BPR(n_factors=8, n_epochs=5).fit(events)
    norms = np.linalg.norm(model.item_factors_, axis=1)
    pruned = prune_rows(model, 0.5)
    assert set(pruned) == set(np.argsort(norms, kind="stable")[: model.n_items // 2])
    assert np.all(model.item_factors_[pruned] == 0)
    with pytest.raises(ValueError, match="side"):
        prune_rows(model, 0.1, side="context")


def test_widening_preserves_scores_then_trains(events):
    model = BPR(n_factors=8, n_epochs=20, seed=1).fit(events)
    before = model.score_batch(np.arange(model.n_users))
    widen_factors(model, 16, seed=3)
    assert model.n_factors == 16 and model.item_factors_.shape == (model.n_items, 16)
    assert np.allclose(model.score_batch(np.arange(model.n_users)), before, atol=1e-5)
    assert np.all(model.item_factors_[:, 8:] == 0) and np.any(model.user_factors_[:, 8:] != 0)
    model.set_params(n_epochs=3).partial_fit(events[:40])
    assert not np.allclose(model.score_batch(np.arange(model.n_users)), before, atol=1e-5)
    assert np.any(model.item_factors_[:, 8:] != 0)  # the new columns are in use
    with pytest.raises(ValueError, match=">= the current"):
        widen_factors(model, 4)


def test_migration_copies_rows_by_external_id(events):
    source = BPR(n_factors=8, n_epochs=5).fit(events)
    target = NeuMF(n_factors=8, n_epochs=1).fit(events[::-1])  # other id order
    counts = migrate_embeddings(
        source, target, {"user_factors_": "user_gmf", "item_factors_": "item_gmf"}
    )
    assert counts == {"user_factors_": source.n_users, "item_factors_": source.n_items}
    for item in ("i0", "i5"):
        got = target.module_.item_gmf.weight[target.item_map_.encode_one(item)].detach().numpy()
        assert np.allclose(got, source.item_factors_[source.item_map_.encode_one(item)])
    state = target.optimizer_.state[target.module_.item_gmf.weight]
    assert state["exp_avg"].abs().sum() == 0  # copied rows start without Adam moments


def test_migration_needs_matching_widths(events):
    source = BPR(n_factors=4, n_epochs=1).fit(events)
    target = NeuMF(n_factors=8, n_epochs=1).fit(events)
    with pytest.raises(ValueError, match="widen or project"):
        migrate_embeddings(source, target, {"item_factors_": "item_gmf"})


def test_operations_need_factor_tables(events):
    with pytest.raises(ValueError, match="matrix-factorization"):
        prune_rows(MostPopular().fit(events), 0.5)


@pytest.mark.parametrize("layer", [0, 1])
def test_widening_a_hidden_layer_preserves_neumf_scores_then_trains(events, layer):
    model = NeuMF(n_factors=4, hidden=(8, 6), n_epochs=10).fit(events)
    before = model.score_batch(np.arange(model.n_users))
    widen_hidden(model, layer, 16, seed=layer)
    assert model.hidden[layer] == 16
    assert np.allclose(model.score_batch(np.arange(model.n_users)), before, atol=1e-5)
    model.set_params(n_epochs=2).partial_fit(events[:50])
    assert not np.allclose(model.score_batch(np.arange(model.n_users)), before, atol=1e-4)


def test_widen_hidden_checks_its_arguments(events):
    model = NeuMF(n_factors=4, hidden=(8,), n_epochs=1).fit(events)
    with pytest.raises(ValueError, match="layer must be"):
        widen_hidden(model, 3, 16)
    with pytest.raises(ValueError, match=">= the current"):
        widen_hidden(model, 0, 4)
    with pytest.raises(ValueError, match="no MLP tower"):
        widen_hidden(BPR(n_epochs=1).fit(events), 0, 16)


def _sasrec(events, **params) -> SASRec:
    torch.manual_seed(0)
    settings = {"dim": 16, "max_len": 8, "n_blocks": 1, "n_epochs": 15, "threshold": 3.0}
    return SASRec(**(settings | params)).fit(events)


@pytest.mark.parametrize("n_heads", [1, 2])
def test_an_added_block_preserves_sasrec_scores_then_trains(events, n_heads):
    model = _sasrec(events, n_heads=n_heads)
    before = model.score_batch(np.arange(model.n_users))
    add_block(model, seed=3)
    assert model.n_blocks == 2 and len(model.module_.blocks) == 2
    after = model.score_batch(np.arange(model.n_users))
    assert np.abs(after - before).max() < 1e-5
    old = {id(p) for p in model.module_.blocks[0].parameters()}
    kept = [p for p in model.optimizer_.state if id(p) in old]
    assert len(kept) == len(list(model.module_.blocks[0].parameters()))  # Adam moments kept
    model.set_params(n_epochs=3).partial_fit(events[:0], replay=events)  # continue training
    new_block = model.module_.blocks[1]
    assert float(new_block.attention.out.weight.detach().abs().sum()) > 0  # it learned
    assert not np.allclose(model.score_batch(np.arange(model.n_users)), after, atol=1e-4)


def test_a_deepened_sasrec_saves_and_loads_with_its_depth(events, tmp_path):
    model = _sasrec(events, n_epochs=3)
    add_block(model)
    model.save(tmp_path / "grown")
    loaded = SASRec.load(tmp_path / "grown")
    assert loaded.n_blocks == 2
    users = np.arange(model.n_users)
    assert np.allclose(loaded.score_batch(users), model.score_batch(users), atol=1e-6)


def test_add_block_needs_a_fitted_sasrec(events):
    with pytest.raises(ValueError, match="no self-attention blocks"):
        add_block(BPR(n_epochs=1).fit(events))
