"""Structure changes of a trained model, as named operations.

- **Quantization**: :func:`quantize_rows` stores an embedding table as int8 codes with one
  float32 scale per row (symmetric, ``scale = max|row| / 127``): 1 byte per entry plus 4 per
  row, about 27% of float32 at 64 dimensions. :func:`quantize_embeddings` makes a model hold
  its embedding tables that way (the factor tables of BPR, ALS and BiasedMF; the
  :class:`~freshrec.models.torch.nn.GrowableEmbedding` tables of a torch model), score from
  them and save them as int8 (:mod:`freshrec.models.int8`); learning on such a model
  dequantizes it to float first, with a warning. :func:`quantize_linear_layers` is torch's
  dynamic int8 quantization of the Linear layers (``torch.ao``) for inference.
- **Pruning**: :func:`prune_linear_layers` zeroes the smallest-magnitude weights of every
  Linear layer (``torch.nn.utils.prune``, global L1, made permanent);
  :func:`prune_rows` zeroes the embedding rows with the smallest norms.
- **Widening**: :func:`widen_factors` grows a BPR model's factor width function-preservingly
  (new item columns at zero, new user columns random), so scores are unchanged until
  training uses the new columns; :func:`widen_hidden` grows a hidden layer of NeuMF's MLP
  tower by Net2WiderNet (copied units, outgoing weights split among the copies).
- **Deepening**: :func:`add_block` appends a self-attention block to SASRec that starts as
  the identity (its attention and feed-forward outputs at zero, its layer norms plain; the
  final layer norm is blind to the normalisation the new block applies), so scores are
  unchanged until training moves it.
- **Migration**: :func:`migrate_embeddings` copies trained rows, matched by external id, from
  one model's tables into another's (e.g. BPR factors into NeuMF's GMF tables) before
  fine-tuning the target.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import FactorTables
from freshrec.models.int8 import Int8Factors, Int8Rows, quantize_rows

__all__ = [
    "Int8Rows",
    "add_block",
    "dequantize_embeddings",
    "migrate_embeddings",
    "prune_linear_layers",
    "prune_rows",
    "quantize_embeddings",
    "quantize_linear_layers",
    "quantize_rows",
    "widen_factors",
    "widen_hidden",
]


Model = TypeVar("Model", bound=RecommenderBase)


def quantize_embeddings(model: Model, tables: Sequence[str] | None = None) -> Model:
    """Make ``model`` hold its embedding tables as int8 rows, in place; return it.

    A factor model (BPR, ALS, BiasedMF) holds ``user_factors_`` and ``item_factors_`` as
    :class:`Int8Rows`; a torch model holds ``tables`` (default: its user and item tables wider
    than one column) as int8 :class:`~freshrec.models.torch.nn.GrowableEmbedding` buffers.
    Either scores from the int8 codes, saves them (``<table>.codes`` and ``<table>.scale``)
    and loads back int8; ``model.is_quantized`` says so and ``model.table_nbytes()`` gives
    the bytes held. Learning on it dequantizes it to float first, with a warning
    (:mod:`freshrec.models.int8`); quantize again after learning.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.bpr import BPR
    >>> model = BPR(n_factors=64, n_epochs=5).fit(checkerboard_events())
    >>> fp32 = sum(model.table_nbytes().values())
    >>> quantize_embeddings(model).is_quantized, model.int8_tables_["user_factors_"].codes.dtype
    (True, dtype('int8'))
    >>> sum(model.table_nbytes().values()) / fp32 < 0.3
    True
    """
    if isinstance(model, Int8Factors):
        if tables is not None:
            raise ValueError(f"{type(model).__name__} quantizes both factor tables; omit tables")
        model.quantize_tables()
        return model
    from freshrec.models.torch.torch_base import TorchRecommender

    if isinstance(model, TorchRecommender):
        model.quantize_tables(tables)
        return model
    raise ValueError(
        f"{type(model).__name__} has no embedding tables to quantize (it is not FactorTables, "
        "as BPR, ALS and BiasedMF are, nor a torch model with GrowableEmbedding tables)"
    )


def dequantize_embeddings(model: Model) -> Model:
    """Make ``model`` hold its int8 tables as float again (see :func:`quantize_embeddings`).

    Learning does this by itself (with a warning); call it to do it quietly first.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.als import ALS
    >>> model = quantize_embeddings(ALS(n_factors=8, n_iterations=2).fit(checkerboard_events()))
    >>> dequantize_embeddings(model).is_quantized
    False
    """
    if isinstance(model, Int8Factors):
        model.dequantize_tables()
        return model
    from freshrec.models.torch.torch_base import TorchRecommender

    if isinstance(model, TorchRecommender):
        model.dequantize_tables()
        return model
    raise ValueError(f"{type(model).__name__} has no embedding tables to dequantize")


def quantize_linear_layers(module: object) -> object:
    """Dynamic int8 quantization of every ``nn.Linear`` of a torch module (inference only).

    Returns the quantized copy (``torch.ao.quantization.quantize_dynamic``); weights are
    stored as int8, activations quantized on the fly. CPU only. (torch 2.13 deprecates this
    eager API in favour of the separate ``torchao`` package; its warnings are silenced.)

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> quantized = quantize_linear_layers(net)
    >>> x = torch.randn(16, 8)
    >>> bool((quantized(x) - net(x)).abs().max() < 0.05)
    True
    """
    import torch
    from torch import nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(module).__name__}")
    with warnings.catch_warnings():  # torch 2.13 points eager quantization to torchao
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            module, {nn.Linear}, dtype=torch.qint8
        )


def prune_linear_layers(module: object, amount: float) -> float:
    """Zero the ``amount`` share of smallest-magnitude Linear weights (global L1), in place.

    Uses ``torch.nn.utils.prune.global_unstructured`` and makes the pruning permanent
    (``prune.remove``), so the module keeps plain parameters. Returns the share of Linear
    weights that are zero afterwards.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(10, 10), torch.nn.Linear(10, 2))
    >>> round(prune_linear_layers(net, 0.5), 2)
    0.5
    """
    from torch import nn
    from torch.nn.utils import prune

    if not isinstance(module, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(module).__name__}")
    if not 0.0 <= amount < 1.0:
        raise ValueError(f"amount must be in [0, 1), got {amount}")
    layers = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError("the module has no Linear layer to prune")
    targets = [(layer, "weight") for layer in layers]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=amount)
    for layer, name in targets:
        prune.remove(layer, name)  # type: ignore[no-untyped-call]
    zeros = sum(int((layer.weight == 0).sum()) for layer in layers)
    return zeros / sum(layer.weight.numel() for layer in layers)


def prune_rows(model: RecommenderBase, fraction: float, *, side: str = "item") -> np.ndarray:
    """Zero the ``fraction`` of a BPR model's ``side`` rows with the smallest L2 norm.

    A pruned row scores by its bias alone (items) or like a cold user (users); stored
    sparsely, it costs nothing. Returns the pruned internal indices.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.bpr import BPR
    >>> model = BPR(n_factors=8, n_epochs=5).fit(checkerboard_events())
    >>> pruned = prune_rows(model, 0.25)
    >>> len(pruned) == model.n_items // 4, float(abs(model.item_factors_[pruned]).sum())
    (True, 0.0)
    """
    tables = _factor_tables(model)
    if side not in ("user", "item"):
        raise ValueError(f"side must be 'user' or 'item', got {side!r}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    table = tables.user_factors_ if side == "user" else tables.item_factors_
    n_pruned = int(np.floor(fraction * len(table)))
    pruned = np.argsort(np.linalg.norm(table, axis=1), kind="stable")[:n_pruned]
    table[pruned] = 0.0
    return np.sort(pruned)


def widen_factors(model: RecommenderBase, n_factors: int, *, seed: int = 0) -> RecommenderBase:
    """Widen a BPR model to ``n_factors`` factors without changing any score.

    The new item columns start at zero, so every ``p_u . q_i`` is unchanged; the new user
    columns start random (normal, with the spread of the existing user columns), so the
    first gradient steps move the new item columns and training can use the extra width.
    (Net2Net's copying of old columns would also preserve the scores, but under SGD a
    copied column and its original receive equal updates and never separate.)
    ``model.n_factors`` is updated; returns the model.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.bpr import BPR
    >>> model = BPR(n_factors=4, n_epochs=5).fit(checkerboard_events())
    >>> before = model.score("u0", ["i0", "i1"])
    >>> widened = widen_factors(model, 7)
    >>> widened.item_factors_.shape[1], np.allclose(widened.score("u0", ["i0", "i1"]), before)
    (7, True)
    """
    tables = _factor_tables(model)
    users, items = tables.user_factors_, tables.item_factors_
    width = users.shape[1]
    if n_factors < width:
        raise ValueError(f"n_factors must be >= the current {width}, got {n_factors}")
    extra = n_factors - width
    spread = float(users.std()) if users.size else 0.1
    fresh = np.random.default_rng(seed).normal(0.0, spread, (len(users), extra))
    tables.user_factors_ = np.hstack([users, fresh.astype(users.dtype)])
    tables.item_factors_ = np.hstack([items, np.zeros((len(items), extra), items.dtype)])
    model.set_params(n_factors=n_factors)
    return model


def migrate_embeddings(
    source: RecommenderBase,
    target: RecommenderBase,
    tables: Mapping[str, str],
    *,
    side: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Copy rows of ``source``'s numpy tables into ``target``'s tables, matched by external id.

    ``tables`` maps a source attribute (``"item_factors_"``) to a target table: a numpy
    attribute of the same kind (``"user_factors_"`` of another BPR) or the name of a
    :class:`~freshrec.models.torch.nn.GrowableEmbedding` (``"item_gmf"`` of NeuMF); the widths
    must match. Rows are matched through both models' id maps (``side`` says whether a
    table is ``"user"`` or ``"item"``; by default from its name), so the two may know
    different ids; target rows without a source row keep their values. A torch target's
    optimizer state for the copied rows is cleared. Returns the rows copied per table.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.bpr import BPR
    >>> from freshrec.models.neumf import NeuMF
    >>> events = checkerboard_events()
    >>> mf = BPR(n_factors=8, n_epochs=5).fit(events)
    >>> neumf = NeuMF(n_factors=8, n_epochs=0).fit(events)
    >>> migrate_embeddings(mf, neumf, {"user_factors_": "user_gmf", "item_factors_": "item_gmf"})
    {'user_factors_': 24, 'item_factors_': 16}
    """
    counts: dict[str, int] = {}
    for name, table_name in tables.items():
        which = (side or {}).get(name) or ("user" if name.startswith("user") else "item")
        values = np.asarray(getattr(source, name), np.float32)
        source_map = source.user_map_ if which == "user" else source.item_map_
        target_map = target.user_map_ if which == "user" else target.item_map_
        ids = np.asarray([key for key in target_map.ids if key is not None], dtype=object)
        target_rows, source_rows = target_map.encode(ids), source_map.encode(ids)
        found = source_rows >= 0
        rows, copied = target_rows[found], values[source_rows[found]]
        table = vars(target).get(table_name)
        if isinstance(table, np.ndarray):
            _check_width(name, values, table_name, table.shape[1])
            table[rows] = copied
        else:
            _copy_torch_rows(target, table_name, rows, copied, name)
        counts[name] = int(found.sum())
    return counts


def _copy_torch_rows(
    target: RecommenderBase, table_name: str, rows: np.ndarray, values: np.ndarray, name: str
) -> None:
    import torch

    from freshrec.models.torch.torch_base import TorchRecommender

    if not isinstance(target, TorchRecommender):
        raise TypeError(f"{type(target).__name__} has no numpy table {table_name!r}")
    table = target._table(table_name)
    _check_width(name, values, table_name, table.dim)
    offset = target._item_offset if table_name in target._item_tables else 0
    index = torch.as_tensor(rows + offset)
    with torch.no_grad():
        table.weight[index] = torch.as_tensor(values).to(table.weight)
    for value in target.optimizer_.state.get(table.weight, {}).values():
        if isinstance(value, torch.Tensor) and value.shape[:1] == table.weight.shape[:1]:
            value[index] = 0


def _check_width(name: str, values: np.ndarray, table_name: str, width: int) -> None:
    if values.ndim != 2 or values.shape[1] != width:
        raise ValueError(
            f"{name} has width {values.shape[1:]} but {table_name} has {width}; "
            "widen or project first"
        )


def _factor_tables(model: RecommenderBase) -> FactorTables:
    """``model`` as a fitted :class:`~freshrec.capabilities.FactorTables`, or a clear error."""
    model._check_fitted()
    if not isinstance(model, FactorTables):
        raise ValueError(
            f"{type(model).__name__} has no user_factors_ and item_factors_ (it is not "
            "FactorTables); this operation works on matrix-factorization tables (BPR, ALS, "
            "BiasedMF)"
        )
    return model


def widen_hidden(model: RecommenderBase, layer: int, width: int, *, seed: int = 0) -> None:
    """Widen hidden layer ``layer`` of NeuMF's MLP to ``width`` units, function-preserving.

    Net2WiderNet (Chen et al., ICLR 2016): each new unit copies a randomly chosen unit of
    the layer (its incoming weights and bias), and the next layer's weights from each copied
    unit are divided among its copies, so every score is unchanged (ReLU is applied unit by
    unit). The optimizer restarts (new moments for every parameter); ``model.hidden`` is
    updated.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.neumf import NeuMF
    >>> model = NeuMF(n_factors=4, hidden=(8, 4), n_epochs=5).fit(checkerboard_events())
    >>> before = model.score("u0", ["i0", "i1", "i9"])
    >>> widen_hidden(model, 0, 12)
    >>> model.hidden, bool(np.allclose(model.score("u0", ["i0", "i1", "i9"]), before, atol=1e-5))
    ((12, 4), True)
    """
    import torch
    from torch import nn

    from freshrec.models.neumf import NeuMF

    if not isinstance(model, NeuMF):
        raise ValueError(f"{type(model).__name__} has no MLP tower to widen (NeuMF has)")
    model._check_fitted()
    module = model.module_
    mlp, head = module.mlp, module.head
    assert isinstance(mlp, nn.Sequential) and isinstance(head, nn.Linear)
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    if not 0 <= layer < len(linears):
        raise ValueError(f"layer must be in [0, {len(linears)}), got {layer}")
    first = linears[layer]
    second, offset = (
        (linears[layer + 1], 0)
        if layer + 1 < len(linears)
        else (head, head.in_features - first.out_features)
    )
    old = first.out_features
    if width < old:
        raise ValueError(f"width must be >= the current {old}, got {width}")
    source = np.random.default_rng(seed).integers(0, old, width - old)
    units = torch.as_tensor(np.concatenate([np.arange(old), source]))
    copies = torch.bincount(units, minlength=old).to(first.weight.dtype)
    with torch.no_grad():
        grown = nn.Linear(first.in_features, width).to(first.weight)
        grown.weight.copy_(first.weight[units])
        grown.bias.copy_(first.bias[units])
        columns = torch.arange(second.in_features)
        inputs = torch.cat([columns[:offset], offset + units, columns[offset + old :]])
        scale = torch.ones(len(inputs), dtype=first.weight.dtype)
        scale[offset : offset + width] = 1.0 / copies[units]
        following = nn.Linear(len(inputs), second.out_features).to(second.weight)
        following.weight.copy_(second.weight[:, inputs] * scale)
        following.bias.copy_(second.bias)
    _replace(module, first, grown)
    _replace(module, second, following)
    hidden = list(model.hidden)
    hidden[layer] = width
    model.set_params(hidden=tuple(hidden))
    model.optimizer_ = model._make_optimizer()


def add_block(model: RecommenderBase, *, seed: int = 0) -> None:
    """Append a self-attention block to a fitted SASRec, starting as the identity; in place.

    The new block's attention output projection and the last layer of its feed-forward
    network are zero, so its residual branches add nothing, and its two layer norms have
    unit gains and zero offsets, so it returns its input normalised (zero mean, unit
    variance per position). The final layer norm of
    :class:`~freshrec.models.sasrec.SASRecModule` gives the same output for a vector and for
    its normalised version, so every score is unchanged (to float rounding) until training
    moves the new block. The old parameters keep their Adam moments; ``model.n_blocks`` is
    updated, so the model saves and loads with its new depth.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.sasrec import SASRec
    >>> model = SASRec(dim=16, max_len=8, n_blocks=1, n_epochs=5, threshold=3.0)
    >>> before = model.fit(checkerboard_events()).score("u0", ["i0", "i1", "i9"])
    >>> add_block(model)
    >>> after = model.score("u0", ["i0", "i1", "i9"])
    >>> model.n_blocks, len(model.module_.blocks), bool(np.allclose(after, before, atol=1e-5))
    (2, 2, True)
    """
    import torch
    from torch import nn

    from freshrec.models.sasrec import SASRec, SASRecBlock, SASRecModule

    if not isinstance(model, SASRec):
        raise ValueError(f"{type(model).__name__} has no self-attention blocks (SASRec has)")
    model._check_fitted()
    module = model.module_
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        block = SASRecBlock(model.dim, model.n_heads, model.inner or model.dim, model.dropout)
    with torch.no_grad():
        for layer in (block.attention.out, block.ffn[-2]):
            assert isinstance(layer, nn.Linear)
            layer.weight.zero_()
            layer.bias.zero_()
    moments = dict(model.optimizer_.state)
    assert isinstance(module, SASRecModule)
    module.blocks.append(block.to(module.final_norm.weight))
    model.set_params(n_blocks=model.n_blocks + 1)
    model.optimizer_ = model._make_optimizer()
    for param, state in moments.items():
        model.optimizer_.state[param] = state


def _replace(module: Any, old: object, new: object) -> None:
    """Put ``new`` where ``old`` sits in the torch ``module``'s tree."""
    for child in module.modules():
        for attr, sub in child.named_children():
            if sub is old:
                setattr(child, attr, new)
                return
    raise ValueError("layer not found in the module")
