"""Int8 embedding tables held, scored from, saved and loaded as int8 (issue 19, item 1)."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from freshrec.checks import checkerboard_events
from freshrec.data.batch import as_batch
from freshrec.models import ALS, BPR, BiasedMF
from freshrec.models.caser import Caser
from freshrec.models.gru4rec import GRU4Rec
from freshrec.models.irgan import IRGAN
from freshrec.models.neumf import NeuMF
from freshrec.models.sasrec import SASRec
from freshrec.models.two_tower import TwoTower
from freshrec.update.structure import dequantize_embeddings, quantize_embeddings

FACTOR_MODELS = {
    "bpr": lambda: BPR(n_factors=64, n_epochs=10, seed=0),
    "als": lambda: ALS(n_factors=64, n_iterations=5, seed=0),
    "biased_mf": lambda: BiasedMF(n_factors=64, n_epochs=5, seed=0),
}
TORCH_MODELS = {
    "sasrec": lambda: SASRec(dim=64, max_len=8, n_epochs=2, batch_size=16, seed=0),
    "gru4rec": lambda: GRU4Rec(dim=64, max_len=8, n_epochs=2, batch_size=16, seed=0),
    "caser": lambda: Caser(dim=64, window=3, max_len=8, n_epochs=2, batch_size=16, seed=0),
    "neumf": lambda: NeuMF(n_factors=64, hidden=(16,), n_epochs=2, seed=0),
    "two_tower": lambda: TwoTower(layers=(64,), n_epochs=2, batch_size=32, seed=0),
    "irgan": lambda: IRGAN(n_factors=64, n_epochs=2, batch_size=32, seed=0),
}
ALL_USERS = np.arange(24)


@pytest.fixture(scope="module")
def events():
    return as_batch(checkerboard_events())


@pytest.fixture(scope="module", params=sorted(FACTOR_MODELS))
def fitted_factor(request, events):
    return FACTOR_MODELS[request.param]().fit(events)


@pytest.fixture(scope="module", params=sorted(TORCH_MODELS))
def fitted_torch(request, events):
    return TORCH_MODELS[request.param]().fit(events)


def _quiet():
    """A context in which any warning (a dequantization, say) fails the test."""
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("error")
    return context


def _dequantized_copy(model):
    """The float model whose factor tables hold exactly the int8 model's dequantized values."""
    reference = copy.deepcopy(model).dequantize_tables()
    assert not reference.is_quantized
    return reference


# -- factor models -------------------------------------------------------------------------
def test_factor_model_holds_int8_and_scores_as_its_dequantized_tables(fitted_factor):
    model = quantize_embeddings(copy.deepcopy(fitted_factor))
    held = vars(model)
    assert model.is_quantized and "user_factors_" not in held and "item_factors_" not in held
    for stored in model.int8_tables_.values():
        assert stored.codes.dtype == np.int8 and stored.scales.dtype == np.float32
    reference = _dequantized_copy(model)
    context = _quiet()
    try:
        scores = model.score_batch(ALL_USERS)
        some = model.score_batch(ALL_USERS[:5], np.array([3, 0, 7]))
        keys, queries = model.item_keys(), model.user_queries(ALL_USERS)
        model.recommend("u0", k=3)
    finally:
        context.__exit__(None, None, None)
    assert model.is_quantized  # scoring never dequantizes
    np.testing.assert_allclose(scores, reference.score_batch(ALL_USERS), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        some, reference.score_batch(ALL_USERS[:5], np.array([3, 0, 7])), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(keys, reference.item_keys(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(queries, reference.user_queries(ALL_USERS), rtol=1e-6, atol=1e-6)
    assert np.abs(scores - fitted_factor.score_batch(ALL_USERS)).max() < 0.05


def test_factor_model_saves_and_loads_int8(fitted_factor, tmp_path):
    float_bytes = 4 * 64 * (fitted_factor.n_users + fitted_factor.n_items)
    assert sum(fitted_factor.table_nbytes().values()) >= float_bytes  # BiasedMF: float64
    model = quantize_embeddings(copy.deepcopy(fitted_factor))
    model.save(tmp_path / "m")
    tensors = load_file(str(tmp_path / "m" / "model.safetensors"))
    for name in ("user_factors_", "item_factors_"):
        assert name not in tensors
        assert tensors[f"{name}.codes"].dtype == np.int8
        assert tensors[f"{name}.scale"].dtype == np.float32
    saved = sum(v.nbytes for k, v in tensors.items() if k.endswith((".codes", ".scale")))
    assert saved <= 0.3 * float_bytes
    loaded = type(model).load(tmp_path / "m")
    assert loaded.is_quantized and "item_factors_" not in vars(loaded)
    assert sum(loaded.table_nbytes().values()) <= 0.3 * float_bytes
    np.testing.assert_array_equal(loaded.score_batch(ALL_USERS), model.score_batch(ALL_USERS))


def test_learning_on_an_int8_factor_model_dequantizes_it_first(fitted_factor, events):
    # Decision (freshrec.models.int8): learning dequantizes both tables, with a warning, and
    # goes on as the float model of the dequantized values would.
    model = quantize_embeddings(copy.deepcopy(fitted_factor))
    reference = _dequantized_copy(model)
    more = as_batch(checkerboard_events(n_users=4, n_items=4, seen=2, offset=100))
    with pytest.warns(UserWarning, match="int8: dequantizing"):
        model.partial_fit(more)
    reference.partial_fit(more)
    assert not model.is_quantized
    assert model.user_factors_.dtype == model._factor_dtype
    np.testing.assert_array_equal(model.user_factors_, reference.user_factors_)
    np.testing.assert_array_equal(model.item_factors_, reference.item_factors_)
    quantize_embeddings(model)  # and it can be quantized again
    assert model.is_quantized and model.int8_tables_["item_factors_"].shape[0] == model.n_items


def test_fit_on_an_int8_model_starts_float_without_a_warning(fitted_factor, events):
    model = quantize_embeddings(copy.deepcopy(fitted_factor))
    context = _quiet()
    try:
        model.fit(events)
    finally:
        context.__exit__(None, None, None)
    assert not model.is_quantized
    np.testing.assert_array_equal(model.item_factors_, fitted_factor.item_factors_)


def test_bpr_fold_in_and_evict_dequantize_too(events):
    model = quantize_embeddings(BPR(n_factors=8, n_epochs=5).fit(events))
    with pytest.warns(UserWarning, match="int8"):
        model.evict(items=["i0"])
    assert not model.is_quantized
    quantize_embeddings(model)
    with pytest.warns(UserWarning, match="int8"):
        model.fold_in(checkerboard_events()[:5])
    assert not model.is_quantized


def test_dequantize_embeddings_is_quiet(events):
    model = quantize_embeddings(ALS(n_factors=8, n_iterations=2).fit(events))
    context = _quiet()
    try:
        dequantize_embeddings(model).partial_fit(checkerboard_events()[:5])
    finally:
        context.__exit__(None, None, None)
    assert not model.is_quantized


def test_models_without_tables_are_refused(events):
    from freshrec.models import MostPopular

    with pytest.raises(ValueError, match="no embedding tables"):
        quantize_embeddings(MostPopular().fit(events))
    with pytest.raises(ValueError, match="omit tables"):
        quantize_embeddings(BPR(n_factors=4, n_epochs=1).fit(events), ["user_factors_"])


# -- torch models --------------------------------------------------------------------------
def _torch_reference(quantized):
    """The float model whose quantized tables hold their dequantized values."""
    return copy.deepcopy(quantized).dequantize_tables()


def test_torch_model_holds_int8_tables_and_scores_as_their_dequantized_values(fitted_torch):
    model = quantize_embeddings(copy.deepcopy(fitted_torch))
    names = [n for n, _ in model.module_.named_parameters()]
    quantized = [
        name
        for name in (*model._user_tables, *model._item_tables)
        if model.module_.get_submodule(name).is_quantized
    ]
    assert quantized and all(f"{name}.weight" not in names for name in quantized)
    for name in quantized:
        assert model.module_.get_submodule(name).codes.dtype == torch.int8
    reference = _torch_reference(model)
    context = _quiet()
    try:
        scores = model.score_batch(ALL_USERS)
    finally:
        context.__exit__(None, None, None)
    assert model.is_quantized
    np.testing.assert_allclose(scores, reference.score_batch(ALL_USERS), rtol=1e-5, atol=1e-5)


def test_torch_model_saves_and_loads_int8(fitted_torch, tmp_path):
    model = quantize_embeddings(copy.deepcopy(fitted_torch))
    before = fitted_torch.table_nbytes()
    model.save(tmp_path / "m")
    tensors = load_file(str(tmp_path / "m" / "model.safetensors"))
    loaded = type(model).load(tmp_path / "m")
    assert loaded.is_quantized
    after = loaded.table_nbytes()
    for name, size in after.items():
        table = loaded.module_.get_submodule(name)
        if table.is_quantized:
            assert tensors[f"module.{name}.codes"].dtype == np.int8
            assert f"module.{name}.weight" not in tensors
            assert f"optimizer.{name}.weight.exp_avg" not in tensors
            assert size <= 0.3 * before[name]
    np.testing.assert_array_equal(loaded.score_batch(ALL_USERS), model.score_batch(ALL_USERS))


def test_learning_on_an_int8_torch_model_dequantizes_it_first(fitted_torch):
    model = quantize_embeddings(copy.deepcopy(fitted_torch))
    more = checkerboard_events(n_users=4, n_items=4, seen=2, offset=100)
    with pytest.warns(UserWarning, match="int8: dequantizing"):
        model.partial_fit(more)
    assert not model.is_quantized
    optimizers = [v for v in vars(model).values() if isinstance(v, torch.optim.Optimizer)]
    params = {id(p) for o in optimizers for group in o.param_groups for p in group["params"]}
    for name in model._item_tables:  # each float table is trained again
        assert id(model.module_.get_submodule(name).weight) in params
    assert np.isfinite(model.score_batch(ALL_USERS)).all()


def test_sasrec_observing_known_items_stays_int8(events):
    model = quantize_embeddings(SASRec(dim=16, max_len=8, n_epochs=1, seed=0).fit(events))
    context = _quiet()
    try:
        model.observe(checkerboard_events()[:10])
    finally:
        context.__exit__(None, None, None)
    assert model.is_quantized
