"""FM and DeepFM: click prediction over id fields and side-feature fields.

Both models see one (user, item) pair as a sparse feature vector ``x`` made of *fields*:

- the user id and the item id (one-hot, in
  :class:`~freshrec.models.torch.nn.GrowableEmbedding` tables that grow for new ids);
- the item's side attributes from an ``items`` :class:`~freshrec.data.SideTable`, one field
  per feature spec (``"category:onehot"``, ``"tags:multihot"``, ``"price:bucketized:4"``, ...)
  encoded by :class:`~freshrec.features.FeatureEncoder`;
- optional user attributes from a ``users`` table (specs prefixed ``user.``);
- optional columns of the events' ``context`` (specs prefixed ``context.``).

Every active feature ``j`` has a weight ``w_j`` and a vector ``v_j`` of ``n_factors``.
:class:`FM` (Rendle 2010) scores::

    logit(x) = w_0 + sum_j w_j x_j + sum_{i<j} <v_i, v_j> x_i x_j

and computes the pairwise term in ``O(k n)`` as
``0.5 * sum_f ((sum_j v_jf x_j)^2 - sum_j v_jf^2 x_j^2)`` (:func:`fm_interaction`).
:class:`DeepFM` (Guo et al. 2017) adds an MLP over the concatenated *field* embeddings
``e_F = sum_{j in F} v_j x_j``, which share the FM's vectors: ``logit = FM(x) + MLP(e)``.

Because the FM term splits into a user part, an item part and their dot product, and the
MLP's first layer splits the same way, scoring every item for a batch of users is a few
matrix products (no Python loop over pairs).

Examples
--------
>>> import numpy as np
>>> from freshrec.data import EventBatch, SideTable
>>> items = SideTable(np.array(["a", "b", "c", "d"], dtype=object),
...     {"color": np.array(["red", "blue", "red", "blue"], dtype=object)})
>>> shown = EventBatch(np.array(["ann", "ann", "bob", "bob"], dtype=object),
...     np.array(["a", "b", "a", "d"], dtype=object), np.array([1.0, 0.0, 1.0, 0.0]))
>>> model = FM(n_factors=4, features="color:onehot", n_epochs=50, lr=0.05)
>>> model = model.fit(shown, items=items)
>>> p_red, p_blue = model.predict_proba(["ann", "ann"], ["c", "d"])
>>> bool(p_red > p_blue)
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple, Self

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from freshrec.data.batch import EventBatch, Events, as_batch, ids_array
from freshrec.data.dataset import SideTable
from freshrec.data.idmap import IdMap
from freshrec.features import FeatureEncoder, FeatureSpec, parse_spec
from freshrec.models.torch.nn import GrowableEmbedding, resolve_device, sample_uniform, train_step
from freshrec.models.torch.torch_base import TorchRecommender
from freshrec.models.torch.training import TrainingHistory
from freshrec.typing import ItemId, UserId

__all__ = [
    "FM",
    "DeepFM",
    "DeepFMModule",
    "FieldTerms",
    "SparseRows",
    "fm_interaction",
    "parse_features",
]

#: The owners of feature fields, in the order of the deep part's input.
SIDES = ("user", "item", "context")
_ROW_SIDES = ("user", "item")  # sides whose rows are stored per internal index
_SEED_BOUND = 2**63
_PAIR_CHUNK = 2**16  # pairs per forward pass in predict_proba


def fm_interaction(vectors: torch.Tensor) -> torch.Tensor:
    """Rendle's ``O(kn)`` pairwise term ``sum_{i<j} <u_i, u_j>`` of ``n`` vectors ``u_j``.

    ``vectors`` has shape ``(..., n, k)`` (each ``u_j = v_j x_j``, a feature's vector times
    its value); the result has shape ``(...)`` and equals
    ``0.5 * sum_f ((sum_j u_jf)^2 - sum_j u_jf^2)``.

    Examples
    --------
    >>> v = torch.tensor([[[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]]])
    >>> fm_interaction(v)  # <v0,v1> + <v0,v2> + <v1,v2> = 2 + 0 + 3
    tensor([5.])
    """
    total = vectors.sum(-2)
    return 0.5 * (total * total - (vectors * vectors).sum(-2)).sum(-1)


def parse_features(text: str | None) -> dict[str, tuple[FeatureSpec, ...]]:
    """Split a ``features`` string into the specs of each side: user, item, context.

    Specs are separated by commas (or spaces) and written as for
    :func:`~freshrec.features.parse_spec`; a ``user.`` or ``context.`` prefix sends a spec
    to the ``users`` table or to the events' context columns, no prefix (or ``item.``) to
    the ``items`` table. ``None`` or ``""`` gives no specs (ids only).

    Examples
    --------
    >>> specs = parse_features("category:onehot, user.age:bucketized:4, context.hour:onehot")
    >>> specs["item"], specs["context"]
    ((OneHot(column='category'),), (OneHot(column='hour'),))
    >>> specs["user"]
    (Bucketized(column='age', n_buckets=4),)
    """
    out: dict[str, list[FeatureSpec]] = {side: [] for side in SIDES}
    for part in re.split(r"[,\s]+", (text or "").strip()):
        if not part:
            continue
        prefix, dot, rest = part.partition(".")
        side, spec = (prefix, rest) if dot and prefix in SIDES else ("item", part)
        out[side].append(parse_spec(spec))
    return {side: tuple(specs) for side, specs in out.items()}


class SparseRows(NamedTuple):
    """Sparse feature rows padded to a common width, for batched embedding look-ups.

    Row ``r`` lists its non-zero features in ``columns[r]``, ``value[r]`` and
    ``field[r]`` (the spec each column belongs to); padding slots have value ``0``.

    Attributes
    ----------
    columns
        ``int64`` tensor (n_rows, width): feature columns (``0`` on padding).
    value
        ``float32`` tensor (n_rows, width): feature values (``0`` on padding).
    field
        ``int64`` tensor (n_rows, width): field (spec) of each column (``0`` on padding).

    Examples
    --------
    >>> matrix = sp.csr_matrix(np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 0.0]]))
    >>> rows = SparseRows.from_csr(matrix, field_of=np.array([0, 0, 1]))
    >>> rows.columns.tolist(), rows.value.tolist(), rows.field.tolist()
    ([[0, 2], [0, 0]], [[1.0, 0.5], [0.0, 0.0]], [[0, 1], [0, 0]])
    >>> rows.take(torch.tensor([1])).value.tolist()
    [[0.0, 0.0]]
    """

    columns: torch.Tensor
    value: torch.Tensor
    field: torch.Tensor

    @classmethod
    def from_csr(
        cls,
        matrix: sp.csr_matrix,
        field_of: np.ndarray,
        device: torch.device | str | None = None,
    ) -> SparseRows:
        """Pad the rows of a CSR matrix; ``field_of[c]`` is the field of column ``c``."""
        matrix = sp.csr_matrix(matrix)
        n = matrix.shape[0]
        lengths = np.diff(matrix.indptr)
        width = int(lengths.max()) if n else 0
        index = np.zeros((n, width), np.int64)
        value = np.zeros((n, width), np.float32)
        field = np.zeros((n, width), np.int64)
        rows = np.repeat(np.arange(n), lengths)
        slots = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], lengths)
        columns = matrix.indices.astype(np.int64)
        index[rows, slots] = columns
        value[rows, slots] = matrix.data
        field[rows, slots] = np.asarray(field_of, np.int64)[columns]
        return cls(
            torch.from_numpy(index).to(device),
            torch.from_numpy(value).to(device),
            torch.from_numpy(field).to(device),
        )

    def take(self, rows: torch.Tensor) -> SparseRows:
        """The rows at ``rows`` (an index tensor on the same device)."""
        return SparseRows(self.columns[rows], self.value[rows], self.field[rows])


class FieldTerms(NamedTuple):
    """What a group of fields (user, item or context) adds to a batch of FM scores.

    With ``u_j = v_j x_j`` over the group's active features, per row of a batch:

    Attributes
    ----------
    linear
        ``sum_j w_j x_j``, shape (B,).
    total
        ``sum_j u_j``, shape (B, k).
    square
        ``sum_j u_j * u_j`` (element-wise), shape (B, k).
    fields
        The field embeddings ``sum_{j in F} u_j`` of the group's fields, shape (B, n_fields, k).

    The FM logit of a pair is ``w_0 + sum linear + 0.5 * sum_f (total^2 - square)`` over the
    groups' terms added up (see :meth:`DeepFMModule.forward`).

    Examples
    --------
    >>> terms = FieldTerms.zeros(2, n_fields=1, n_factors=3)
    >>> terms.total.shape, terms.fields.shape
    (torch.Size([2, 3]), torch.Size([2, 1, 3]))
    """

    linear: torch.Tensor
    total: torch.Tensor
    square: torch.Tensor
    fields: torch.Tensor

    @classmethod
    def zeros(
        cls, n: int, n_fields: int, n_factors: int, device: torch.device | str | None = None
    ) -> FieldTerms:
        """Terms of ``n`` rows with no active feature (an unknown id, a missing attribute)."""
        return cls(
            torch.zeros(n, device=device),
            torch.zeros(n, n_factors, device=device),
            torch.zeros(n, n_factors, device=device),
            torch.zeros(n, n_fields, n_factors, device=device),
        )

    def masked(self, keep: torch.Tensor) -> FieldTerms:
        """The terms with rows where ``keep`` is false set to zero."""
        w = keep.to(self.linear.dtype)
        return FieldTerms(
            self.linear * w,
            self.total * w[:, None],
            self.square * w[:, None],
            self.fields * w[:, None, None],
        )


class DeepFMModule(nn.Module):
    """FM over id and feature fields, plus an optional MLP over the field embeddings.

    Tables: ``user_emb``/``user_bias`` and ``item_emb``/``item_bias`` (one row per id),
    ``<side>_feature_emb``/``<side>_feature_bias`` for ``side`` in user, item and context
    (one row per encoded feature column), all
    :class:`~freshrec.models.torch.nn.GrowableEmbedding`; the global bias ``bias``; and ``deep``,
    the MLP's linear layers (empty for a plain FM). The deep input is the concatenation of
    the field embeddings in the order: user id, user specs, item id, item specs, context specs.

    Parameters
    ----------
    n_users, n_items
        Rows of the id tables (they grow later).
    n_factors
        Width ``k`` of every feature vector.
    n_features
        Encoded columns of the user, item and context features (feature tables grow later).
    n_fields
        Number of feature specs (fields) of the user, item and context sides.
    hidden
        Widths of the MLP's ReLU layers; ``None`` for a plain FM (no deep part), ``()``
        for a linear deep part.
    seed
        Seed of the tables (``seed + 0 .. 9``); the MLP draws from torch's global RNG.
    std
        Standard deviation of the initial vectors (weights ``w`` start at zero).

    Examples
    --------
    >>> module = DeepFMModule(3, 5, n_factors=4, hidden=(8,), seed=0)
    >>> user = module.user_terms(torch.tensor([0, 2]))
    >>> item = module.item_terms(torch.tensor([4, 1]))
    >>> module(user, item).shape, module.grid(user, item).shape
    (torch.Size([2]), torch.Size([2, 2]))
    >>> torch.allclose(module.grid(user, item).diagonal(), module(user, item))
    True
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_factors: int,
        *,
        n_features: tuple[int, int, int] = (0, 0, 0),
        n_fields: tuple[int, int, int] = (0, 0, 0),
        hidden: tuple[int, ...] | None = None,
        seed: int = 0,
        std: float = 0.01,
    ) -> None:
        super().__init__()
        self.n_factors = n_factors
        self.n_fields = tuple(n_fields)
        k = n_factors
        self.user_emb = GrowableEmbedding(n_users, k, std=std, seed=seed)
        self.user_bias = GrowableEmbedding(n_users, 1, std=0.0, seed=seed + 1)
        self.item_emb = GrowableEmbedding(n_items, k, std=std, seed=seed + 2)
        self.item_bias = GrowableEmbedding(n_items, 1, std=0.0, seed=seed + 3)
        n_user, n_item, n_context = n_features
        self.user_feature_emb = GrowableEmbedding(n_user, k, std=std, seed=seed + 4)
        self.user_feature_bias = GrowableEmbedding(n_user, 1, std=0.0, seed=seed + 5)
        self.item_feature_emb = GrowableEmbedding(n_item, k, std=std, seed=seed + 6)
        self.item_feature_bias = GrowableEmbedding(n_item, 1, std=0.0, seed=seed + 7)
        self.context_feature_emb = GrowableEmbedding(n_context, k, std=std, seed=seed + 8)
        self.context_feature_bias = GrowableEmbedding(n_context, 1, std=0.0, seed=seed + 9)
        self.bias = nn.Parameter(torch.zeros(1))
        self.deep = nn.ModuleList()
        if hidden is not None:
            width = (2 + sum(n_fields)) * k
            for size in (*hidden, 1):
                self.deep.append(nn.Linear(width, size))
                width = size
            last = self.deep[-1]
            assert isinstance(last, nn.Linear)
            nn.init.zeros_(last.weight)  # the deep part starts at 0: DeepFM starts as its FM
            nn.init.zeros_(last.bias)

    # -- terms of each group of fields ----------------------------------------------------
    def feature_tables(self, side: str) -> tuple[GrowableEmbedding, GrowableEmbedding]:
        """The vector and weight tables of the ``side`` features (user, item or context)."""
        emb, bias = getattr(self, f"{side}_feature_emb"), getattr(self, f"{side}_feature_bias")
        assert isinstance(emb, GrowableEmbedding) and isinstance(bias, GrowableEmbedding)
        return emb, bias

    def _feature_terms(self, side: str, rows: SparseRows | None, n: int) -> FieldTerms:
        n_fields = self.n_fields[SIDES.index(side)]
        emb, bias = self.feature_tables(side)
        if rows is None or rows.columns.shape[1] == 0 or emb.num_embeddings == 0:
            return FieldTerms.zeros(n, n_fields, self.n_factors, self.bias.device)
        vectors = emb(rows.columns) * rows.value.unsqueeze(-1)  # (n, width, k)
        linear = (bias(rows.columns).squeeze(-1) * rows.value).sum(-1)
        fields = vectors.new_zeros(n, n_fields, self.n_factors).scatter_add(
            1, rows.field.unsqueeze(-1).expand_as(vectors), vectors
        )
        return FieldTerms(linear, vectors.sum(1), (vectors * vectors).sum(1), fields)

    def _id_terms(
        self,
        emb: GrowableEmbedding,
        bias: GrowableEmbedding,
        idx: torch.Tensor,
        side: FieldTerms,
    ) -> FieldTerms:
        vectors = emb(idx)
        return FieldTerms(
            bias(idx).squeeze(-1) + side.linear,
            vectors + side.total,
            vectors * vectors + side.square,
            torch.cat([vectors.unsqueeze(1), side.fields], dim=1),
        )

    def user_terms(self, users: torch.Tensor, rows: SparseRows | None = None) -> FieldTerms:
        """Terms of the user id and the user features ``rows`` (one row per user)."""
        side = self._feature_terms("user", rows, len(users))
        return self._id_terms(self.user_emb, self.user_bias, users, side)

    def item_terms(self, items: torch.Tensor, rows: SparseRows | None = None) -> FieldTerms:
        """Terms of the item id and the item features ``rows`` (one row per item)."""
        side = self._feature_terms("item", rows, len(items))
        return self._id_terms(self.item_emb, self.item_bias, items, side)

    def context_terms(self, rows: SparseRows | None, n: int) -> FieldTerms:
        """Terms of the context features ``rows`` of ``n`` events (zeros when ``None``)."""
        return self._feature_terms("context", rows, n)

    def no_user(self, n: int = 1) -> FieldTerms:
        """Terms of ``n`` users with no id and no features (the unknown-user prior)."""
        return FieldTerms.zeros(n, 1 + self.n_fields[0], self.n_factors, self.bias.device)

    def no_item(self, n: int = 1) -> FieldTerms:
        """Terms of ``n`` items with no id and no features (the unknown-item prior)."""
        return FieldTerms.zeros(n, 1 + self.n_fields[1], self.n_factors, self.bias.device)

    # -- logits ---------------------------------------------------------------------------
    def forward(
        self, user: FieldTerms, item: FieldTerms, context: FieldTerms | None = None
    ) -> torch.Tensor:
        """Logits of the pairs ``(user[b], item[b])`` in context ``context[b]``, shape (B,)."""
        groups = [user, item] if context is None else [user, item, context]
        linear = torch.stack([g.linear for g in groups]).sum(0)
        total = torch.stack([g.total for g in groups]).sum(0)
        square = torch.stack([g.square for g in groups]).sum(0)
        logit = self.bias + linear + 0.5 * (total * total - square).sum(-1)
        if len(self.deep):
            n = len(linear)
            if context is None:
                context = FieldTerms.zeros(n, self.n_fields[2], self.n_factors, logit.device)
            x = torch.cat([user.fields, item.fields, context.fields], dim=1).flatten(1)
            logit = logit + self._mlp(self.deep[0](x))
        return logit

    def grid(self, user: FieldTerms, item: FieldTerms) -> torch.Tensor:
        """Logits of every (user, item) pair without context, shape (n_users, n_items).

        The FM term is ``pair(u) + pair(i) + <total_u, total_i>``; the MLP's first layer is
        split into a user block and an item block, added by broadcasting.
        """
        own_u = user.linear + 0.5 * (user.total * user.total - user.square).sum(-1)
        own_i = item.linear + 0.5 * (item.total * item.total - item.square).sum(-1)
        logit = self.bias + own_u[:, None] + own_i[None, :] + user.total @ item.total.T
        if len(self.deep):
            first = self.deep[0]
            assert isinstance(first, nn.Linear)
            n_u = user.fields.shape[1] * self.n_factors
            n_i = item.fields.shape[1] * self.n_factors
            a = user.fields.flatten(1) @ first.weight[:, :n_u].T
            b = item.fields.flatten(1) @ first.weight[:, n_u : n_u + n_i].T + first.bias
            logit = logit + self._mlp(a.unsqueeze(1) + b.unsqueeze(0))
        return logit

    @property
    def grid_width(self) -> int:
        """Floats held per (user, item) pair while scoring a grid (the widest deep layer)."""
        return max(
            [1] + [layer.out_features for layer in self.deep if isinstance(layer, nn.Linear)]
        )

    def _mlp(self, h: torch.Tensor) -> torch.Tensor:
        """The rest of the MLP after its first layer's pre-activation ``h``."""
        for layer in list(self.deep)[1:]:
            h = layer(torch.relu(h))
        return h.squeeze(-1)


class _FieldRecommender(TorchRecommender):
    """Shared machinery of :class:`FM` and :class:`DeepFM` (see their docstrings)."""

    _user_tables: ClassVar[tuple[str, ...]] = ("user_emb", "user_bias")
    _item_tables: ClassVar[tuple[str, ...]] = ("item_emb", "item_bias")
    _state_values: ClassVar[tuple[str, ...]] = ("side_encoders_",)
    score_chunk: ClassVar[int] = 2**22  # floats of the (user, item, layer) grid at once

    n_factors: int
    features: str | None
    side_encoders_: dict[str, dict[str, Any] | None]

    def _hidden(self) -> tuple[int, ...] | None:
        return None

    def _net(self) -> DeepFMModule:
        module = self.module_
        assert isinstance(module, DeepFMModule)
        return module

    # -- learning -------------------------------------------------------------------------
    def fit(
        self,
        events: Events,
        *,
        valid: EventBatch | None = None,
        replay: Events | None = None,
        items: SideTable | None = None,
        users: SideTable | None = None,
    ) -> Self:
        """Forget everything, then learn from ``events`` and the side tables (see
        :meth:`partial_fit`)."""
        self.reset()
        return self.partial_fit(events, valid=valid, items=items, users=users)

    def partial_fit(
        self,
        events: Events,
        *,
        valid: EventBatch | None = None,
        replay: Events | None = None,
        items: SideTable | None = None,
        users: SideTable | None = None,
    ) -> Self:
        """Continue learning from ``events``; unseen users and items are added.

        ``items``/``users`` (re)set the features of the ids they list, *before* training on
        ``events``; their ids join the model's index (cold start: an item known only from
        the table is scored from its features). The first table of each side after a reset
        fits its encoder; later tables reuse its vocabularies. Tables are ignored when
        ``features`` has no spec for their side. With ``valid``, training stops early on
        the validation NDCG@10 and keeps the best epoch.
        """
        specs = parse_features(self.features)
        batch = as_batch(events)
        self._ensure_side_state()
        for side, table in (("item", items), ("user", users)):
            if table is not None and specs[side]:
                self._set_side_rows(side, table, specs[side])
        return super().partial_fit(batch, valid=valid, replay=replay)

    def _ensure_side_state(self) -> None:
        if not hasattr(self, "user_map_"):
            self.user_map_, self.item_map_ = IdMap(), IdMap()
        if not hasattr(self, "side_encoders_"):
            self.side_encoders_ = {side: None for side in SIDES}
        for side in _ROW_SIDES:
            if not hasattr(self, f"{side}_rows_indptr_"):
                self._store_rows(side, sp.csr_matrix((0, 0)))

    def _set_side_rows(self, side: str, table: SideTable, specs: Sequence[FeatureSpec]) -> None:
        state = self.side_encoders_[side]
        if state is None:
            encoder = FeatureEncoder(list(specs)).fit(table)
            self.side_encoders_[side] = encoder.to_dict()
        else:
            encoder = FeatureEncoder.from_dict(state)
        idmap = self.user_map_ if side == "user" else self.item_map_
        idx = idmap.encode(ids_array(table.ids), grow=True)
        n = len(idmap)
        rows = encoder.transform(table)
        _, last = np.unique(idx[::-1], return_index=True)  # a repeated id: its last row wins
        keep = len(idx) - 1 - last
        scatter = sp.csr_matrix((np.ones(len(keep)), (idx[keep], keep)), shape=(n, len(idx)))
        untouched = np.ones(n)
        untouched[idx] = 0.0
        self._store_rows(side, sp.diags(untouched) @ self._rows(side, n) + scatter @ rows)

    def _grow(self, n_users: int, n_items: int) -> None:
        self._ensure_side_state()
        self._store_rows("user", self._rows("user", n_users))
        self._store_rows("item", self._rows("item", n_items))
        super()._grow(n_users, n_items)
        self._sync_feature_tables()

    def _sync_feature_tables(self) -> None:
        """Grow the feature tables to the widths of the fitted encoders."""
        todo = [
            (side, width)
            for side in SIDES
            if (width := self._width(side)) > self._net().feature_tables(side)[0].num_embeddings
        ]
        if not todo:
            return
        generator = torch.Generator().manual_seed(int(self.rng_.integers(_SEED_BOUND)))
        for side, width in todo:
            for table in self._net().feature_tables(side):
                table.grow(width, generator=generator, optimizers=[self.optimizer_])

    def _learn(self, batch: EventBatch, valid: EventBatch | None) -> None:
        user_idx, item_idx = batch.indices()
        context = self._context_matrix(batch.context, len(batch), fit=True)
        self._sync_feature_tables()
        if not len(batch):
            self.history_ = TrainingHistory((), (), 0)
            return
        labels = batch.value >= self.threshold
        n_negatives = self.n_negatives if labels.all() else 0  # only positives: sample
        device = resolve_device(self.device)
        generator = torch.Generator().manual_seed(int(self.rng_.integers(_SEED_BOUND)))
        users = torch.from_numpy(user_idx.astype(np.int64))
        items = torch.from_numpy(item_idx.astype(np.int64))
        targets = torch.from_numpy(labels.astype(np.float32))
        context_rows = None
        if context is not None:
            context_rows = SparseRows.from_csr(context, self._field_of("context"), device)
        sides = self._side_rows(device)
        seen = self.positives_csr() if n_negatives else None
        module = self._net()

        def epoch() -> float:
            module.train()
            order = torch.randperm(len(users), generator=generator)
            total = 0.0
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                u, i, y, c = users[rows], items[rows], targets[rows], rows
                if n_negatives:
                    j = sample_uniform(
                        self.n_items, (len(rows), n_negatives), generator, exclude=seen, users=u
                    )
                    u = torch.cat([u, u.repeat_interleave(n_negatives)])
                    i = torch.cat([i, j.reshape(-1)])
                    y = torch.cat([y, torch.zeros(len(rows) * n_negatives)])
                    c = torch.cat([rows, rows.repeat_interleave(n_negatives)])
                ctx = None if context_rows is None else context_rows.take(c.to(device))
                logits = self._pair_logits(u.to(device), i.to(device), sides, ctx)
                loss = F.binary_cross_entropy_with_logits(logits, y.to(device))
                total += train_step(module, self.optimizer_, loss) * len(rows)
            return total / len(users)

        batches = {"batches": generator}
        data = (users, items, targets)
        self.history_ = self._run_epochs(epoch, valid, batches, data=data)

    # -- features -------------------------------------------------------------------------
    def _encoder(self, side: str) -> FeatureEncoder | None:
        encoders = getattr(self, "side_encoders_", None) or {}
        state = encoders.get(side)
        return None if state is None else FeatureEncoder.from_dict(state)

    def _width(self, side: str) -> int:
        encoder = self._encoder(side)
        return 0 if encoder is None else encoder.n_features

    def _field_of(self, side: str) -> np.ndarray:
        """The field (spec position) of each encoded column of ``side``."""
        encoder = self._encoder(side)
        if encoder is None:
            return np.zeros(0, np.int64)
        widths = [s.width(st) for s, st in zip(encoder.specs, encoder.states_, strict=True)]
        return np.repeat(np.arange(len(widths)), widths).astype(np.int64)

    def _rows(self, side: str, n_rows: int | None = None) -> sp.csr_matrix:
        """The stored feature rows of ``side``, padded with empty rows to ``n_rows``."""
        indptr = getattr(self, f"{side}_rows_indptr_")
        if n_rows is not None and n_rows + 1 > len(indptr):
            indptr = np.concatenate([indptr, np.full(n_rows + 1 - len(indptr), indptr[-1])])
        return sp.csr_matrix(
            (getattr(self, f"{side}_rows_data_"), getattr(self, f"{side}_rows_indices_"), indptr),
            shape=(len(indptr) - 1, self._width(side)),
        )

    def _store_rows(self, side: str, matrix: sp.spmatrix | sp.csr_matrix) -> None:
        matrix = sp.csr_matrix(matrix)
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        matrix.sort_indices()
        setattr(self, f"{side}_rows_data_", matrix.data.astype(np.float32))
        setattr(self, f"{side}_rows_indices_", matrix.indices.astype(np.int64))
        setattr(self, f"{side}_rows_indptr_", matrix.indptr.astype(np.int64))

    def _side_rows(self, device: torch.device) -> dict[str, SparseRows]:
        return {
            side: SparseRows.from_csr(self._rows(side), self._field_of(side), device)
            for side in _ROW_SIDES
        }

    def _context_matrix(
        self, context: Mapping[str, np.ndarray] | None, n: int, *, fit: bool
    ) -> sp.csr_matrix | None:
        """Encoded context features of ``n`` events; the encoder is fitted on the first
        training batch that has all its columns (missing columns give empty blocks)."""
        specs = parse_features(self.features)["context"]
        if not specs or context is None:
            return None
        encoder = self._encoder("context")
        if encoder is None:
            if not fit or any(s.column not in context for s in specs):
                return None
            encoder = FeatureEncoder(list(specs)).fit(dict(context))
            self.side_encoders_["context"] = encoder.to_dict()
        empty = np.full(n, None, dtype=object)
        columns = {s.column: np.asarray(context.get(s.column, empty)) for s in specs}
        return encoder.transform(columns)

    # -- scoring --------------------------------------------------------------------------
    def _pair_logits(
        self,
        users: torch.Tensor,
        items: torch.Tensor,
        sides: Mapping[str, SparseRows],
        context: SparseRows | None,
    ) -> torch.Tensor:
        module = self._net()
        user = module.user_terms(users, sides["user"].take(users))
        item = module.item_terms(items, sides["item"].take(items))
        ctx = None if context is None else module.context_terms(context, len(users))
        return module(user, item, ctx)  # type: ignore[no-any-return]

    def _forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self._pair_logits(users, items, self._side_rows(users.device), None)

    @torch.no_grad()
    def _grid(self, user_idx: np.ndarray | None, item_idx: np.ndarray | None) -> np.ndarray:
        """Logits (n_users, n_items); ``user_idx=None``: one row for a user with no id."""
        device = resolve_device(self.device)
        item_np = np.arange(self.n_items) if item_idx is None else np.asarray(item_idx)
        n_users = 1 if user_idx is None else len(user_idx)
        out = np.empty((n_users, len(item_np)), dtype=np.float64)
        if not len(item_np) or not n_users:
            return out
        module = self._net()
        module.eval()
        sides = self._side_rows(device)
        items = torch.from_numpy(item_np.astype(np.int64)).to(device)
        item = module.item_terms(items, sides["item"].take(items))
        if user_idx is None:
            out[:] = module.grid(module.no_user(), item).double().cpu().numpy()
            return out
        step = max(1, self.score_chunk // (len(item_np) * module.grid_width))
        for start in range(0, n_users, step):
            chunk = torch.from_numpy(user_idx[start : start + step].astype(np.int64)).to(device)
            user = module.user_terms(chunk, sides["user"].take(chunk))
            out[start : start + len(chunk)] = module.grid(user, item).double().cpu().numpy()
        return out

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        return self._grid(user_idx, item_idx)

    def _fallback_scores(self, item_idx: np.ndarray | None) -> np.ndarray:
        """Unknown users: the logit of a user with no id and no features (item terms only)."""
        return np.asarray(self._grid(None, item_idx)[0])

    def _item_vectors(self) -> np.ndarray:
        """Each item's FM vector: its id vector plus its features' vectors."""
        with torch.no_grad():
            device = resolve_device(self.device)
            items = torch.arange(self.n_items, device=device)
            rows = self._side_rows(device)["item"]
            terms = self._net().item_terms(items, rows)
        return np.asarray(terms.total.double().cpu().numpy())

    @torch.no_grad()
    def predict_proba(
        self,
        users: Sequence[UserId] | np.ndarray,
        items: Sequence[ItemId] | np.ndarray,
        *,
        context: Mapping[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Click probabilities of the pairs ``(users[k], items[k])``, shape (len(users),).

        ``context`` holds the events' context columns (as ``EventBatch.context``) when the
        model uses context features. Unknown users and items contribute nothing (no id,
        no features): the prediction then rests on the other side and the global bias.
        """
        self._check_fitted()
        user_idx = self.user_map_.encode(ids_array(users))
        item_idx = self.item_map_.encode(ids_array(items))
        if len(user_idx) != len(item_idx):
            raise ValueError(f"{len(user_idx)} users but {len(item_idx)} items; pairs need both")
        matrix = self._context_matrix(context, len(user_idx), fit=False)
        device = resolve_device(self.device)
        context_rows = None
        if matrix is not None:
            context_rows = SparseRows.from_csr(matrix, self._field_of("context"), device)
        sides = self._side_rows(device)
        module = self._net()
        module.eval()
        out = np.empty(len(user_idx), dtype=np.float64)
        for start in range(0, len(user_idx), _PAIR_CHUNK):
            stop = start + _PAIR_CHUNK
            u = torch.from_numpy(user_idx[start:stop]).to(device)
            i = torch.from_numpy(item_idx[start:stop]).to(device)
            user = module.no_user(len(u))
            if self.n_users:  # unknown users (-1) read row 0, then get zeroed
                known_u = u.clamp_min(0)
                user = module.user_terms(known_u, sides["user"].take(known_u)).masked(u >= 0)
            item = module.no_item(len(i))
            if self.n_items:
                known_i = i.clamp_min(0)
                item = module.item_terms(known_i, sides["item"].take(known_i)).masked(i >= 0)
            ctx = None
            if context_rows is not None:
                rows = torch.arange(start, start + len(u), device=device)
                ctx = module.context_terms(context_rows.take(rows), len(u))
            logits = module(user, item, ctx)
            out[start:stop] = torch.sigmoid(logits).double().cpu().numpy()
        return out

    # -- state ----------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = super()._arrays()
        for side in _ROW_SIDES:
            for part in ("data", "indices", "indptr"):
                arrays[f"side.{side}.{part}"] = getattr(self, f"{side}_rows_{part}_")
        return arrays

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        for side in _ROW_SIDES:
            for part in ("data", "indices", "indptr"):
                key = f"side.{side}.{part}"
                if key in arrays:
                    setattr(self, f"{side}_rows_{part}_", np.array(arrays[key], copy=True))
        super()._set_arrays(arrays)

    def _build_module(self, n_users: int, n_items: int, seed: int) -> nn.Module:
        specs = parse_features(self.features)
        widths = tuple(self._width(side) for side in SIDES)
        fields = tuple(len(specs[side]) for side in SIDES)
        return DeepFMModule(
            n_users,
            n_items,
            self.n_factors,
            n_features=(widths[0], widths[1], widths[2]),
            n_fields=(fields[0], fields[1], fields[2]),
            hidden=self._hidden(),
            seed=seed % 2**62,
            std=self._init_std,
        )


class FM(_FieldRecommender):
    """Factorization machine (Rendle, ICDM 2010) over id, item, user and context fields.

    ``logit(x) = w_0 + sum_j w_j x_j + sum_{i<j} <v_i, v_j> x_i x_j`` over the active
    features of a (user, item, context) triple, the pairwise term computed in ``O(kn)``
    (:func:`fm_interaction`). With ids only (``features=None``) this is biased matrix
    factorization with a logistic loss.

    **Fields.** The user id and the item id, one field per spec of ``features`` (see
    :func:`parse_features`): item attributes from the ``items`` table given to
    ``fit``/``partial_fit``, user attributes (``user.`` specs) from the ``users`` table,
    and context columns of the events (``context.`` specs). Tables are data, not
    hyperparameters: the encoders' vocabularies are learned from the first table (or
    training batch, for context) after a reset and saved as JSON with the feature rows, so a
    loaded model scores the same without the tables. Items or users listed only in a table
    join the index and are scored from their features (cold start). Scoring has no context:
    ``score``/``recommend`` leave the context fields empty; :meth:`predict_proba` takes it.

    **Labels.** An event is a click (label 1) when ``value >= threshold`` and a shown but not
    clicked impression (label 0) otherwise, as MIND and bandit logs carry them (``value=0``).
    A batch that holds only positives gets ``n_negatives`` items per positive drawn uniformly
    among those the user has no positive for, fresh each epoch, as label 0. The loss is the
    binary cross-entropy of the logits (Adam). ``score`` is the logit (for ranking);
    :meth:`predict_proba` gives click probabilities.

    **Fresh.** ``partial_fit(new_events)`` grows every table for unseen users, items and
    feature columns (old rows and their Adam moments stay as they were) and runs up to
    ``n_epochs`` passes over the *new* events with the same optimizer. ``fit(events,
    valid=...)`` stops early on the validation NDCG@10 and keeps the best epoch. An unknown
    user is scored as a user with no id and no features (item terms only).

    Parameters
    ----------
    n_factors
        Width ``k`` of the feature vectors.
    features
        Feature specs, e.g. ``"category:onehot,user.age:bucketized:4"`` (see
        :func:`parse_features`); ``None`` uses the ids only.
    n_epochs
        Passes over the events of each ``fit``/``partial_fit`` (the most, with ``valid``).
    lr
        Adam's step size.
    batch_size
        Events per mini-batch (each positive brings its sampled negatives along).
    n_negatives
        Sampled negatives per positive, for batches that hold only positives.
    patience
        Epochs without improvement of the validation NDCG@10 before stopping.
    threshold
        Events with ``value >= threshold`` are clicks; the others are shown, not clicked.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when present).
    seed
        Seed of the model's RNG (initial weights, shuffling, negatives).

    Attributes
    ----------
    module_
        The :class:`DeepFMModule` (without deep part).
    optimizer_
        Its Adam optimizer.
    side_encoders_
        The fitted feature encoders of each side as JSON (``None`` before any table).
    history_
        :class:`~freshrec.models.torch.training.TrainingHistory` of the last update.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> model = FM(n_factors=8, n_epochs=30, lr=0.05, batch_size=32, threshold=3.0)
    >>> model = model.fit(checkerboard_events())
    >>> model.history_.loss[-1] < model.history_.loss[0]
    True
    >>> model.score("u0", ["i0", "zzz"]).shape, model.predict_proba(["u0"], ["i0"]).shape
    ((2,), (1,))

    References
    ----------
    .. [1] Rendle, "Factorization Machines", ICDM 2010.
    """

    def __init__(
        self,
        n_factors: int = 16,
        features: str | None = None,
        n_epochs: int = 20,
        lr: float = 0.01,
        batch_size: int = 256,
        n_negatives: int = 4,
        patience: int = 5,
        threshold: float = 1.0,
        device: str = "cpu",
        seed: int | None = 0,
    ) -> None:
        self.n_factors = n_factors
        self.features = features
        self.n_epochs = n_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.n_negatives = n_negatives
        self.patience = patience
        self.threshold = threshold
        self.device = device
        self.seed = seed


class DeepFM(_FieldRecommender):
    """DeepFM (Guo et al., IJCAI 2017): an FM and an MLP sharing the field embeddings.

    ``logit = FM(x) + MLP([e_1, ..., e_m])`` where ``e_F = sum_{j in F} v_j x_j`` is the
    embedding of field ``F`` (user id, item id, then one per feature spec) made of the *same*
    vectors ``v_j`` that the FM's pairwise term uses; the MLP has ReLU layers of the widths
    in ``hidden`` and one output. Scoring all items for a batch of users splits the MLP's
    first layer into a user block and an item block, so it costs two matrix products plus
    the remaining layers on the (user, item) grid.

    Fields (ids, item, user and context features), labels (clicks, shown-not-clicked
    impressions, sampled negatives for positive-only batches), growth in ``partial_fit``,
    early stopping, the unknown-user prior and :meth:`predict_proba` work as in :class:`FM`.

    Parameters
    ----------
    n_factors
        Width ``k`` of the feature vectors (and of each field embedding).
    hidden
        Widths of the MLP's ReLU layers (the paper: ``(400, 400, 400)`` with dropout 0.5;
        no dropout here).
    features
        Feature specs, e.g. ``"category:onehot,user.age:bucketized:4"`` (see
        :func:`parse_features`); ``None`` uses the ids only.
    n_epochs
        Passes over the events of each ``fit``/``partial_fit`` (the most, with ``valid``).
    lr
        Adam's step size.
    batch_size
        Events per mini-batch (each positive brings its sampled negatives along).
    n_negatives
        Sampled negatives per positive, for batches that hold only positives.
    patience
        Epochs without improvement of the validation NDCG@10 before stopping.
    threshold
        Events with ``value >= threshold`` are clicks; the others are shown, not clicked.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when present).
    seed
        Seed of the model's RNG (initial weights, shuffling, negatives).

    Attributes
    ----------
    module_
        The :class:`DeepFMModule`.
    optimizer_
        Its Adam optimizer.
    side_encoders_
        The fitted feature encoders of each side as JSON (``None`` before any table).
    history_
        :class:`~freshrec.models.torch.training.TrainingHistory` of the last update.

    Examples
    --------
    >>> import numpy as np
    >>> from freshrec.data import EventBatch, SideTable
    >>> items = SideTable(np.array(["a", "b", "c", "d"], dtype=object),
    ...     {"color": np.array(["red", "blue", "red", "blue"], dtype=object)})
    >>> clicks = EventBatch(np.array(["ann", "bob"], dtype=object),
    ...     np.array(["a", "b"], dtype=object), np.array([1.0, 1.0]))
    >>> model = DeepFM(n_factors=4, hidden=(8,), features="color:onehot", n_epochs=3)
    >>> model = model.fit(clicks, items=items)
    >>> model.n_items, model.score_batch(np.arange(2)).shape
    (4, (2, 4))

    References
    ----------
    .. [1] Guo, Tang, Ye, Li, He, "DeepFM: A Factorization-Machine based Neural Network for
       CTR Prediction", IJCAI 2017.
    """

    def __init__(
        self,
        n_factors: int = 16,
        hidden: tuple[int, ...] = (64, 32),
        features: str | None = None,
        n_epochs: int = 20,
        lr: float = 0.01,
        batch_size: int = 256,
        n_negatives: int = 4,
        patience: int = 5,
        threshold: float = 1.0,
        device: str = "cpu",
        seed: int | None = 0,
    ) -> None:
        self.n_factors = n_factors
        self.hidden = hidden
        self.features = features
        self.n_epochs = n_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.n_negatives = n_negatives
        self.patience = patience
        self.threshold = threshold
        self.device = device
        self.seed = seed

    def _hidden(self) -> tuple[int, ...] | None:
        return tuple(self.hidden)
