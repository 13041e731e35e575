"""Shared machinery of the torch recommenders: module building, growth, training, state.

Import this module explicitly; ``freshrec.models`` does not import torch. A model file
subclasses :class:`TorchRecommender` and writes only its maths: the module
(:meth:`~TorchRecommender._build_module`), which of its tables are per user and per item
(``_user_tables`` / ``_item_tables``) and the loss of one mini-batch
(:meth:`~TorchRecommender._batch_loss`). See :mod:`freshrec.models.neumf`.

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.models.neumf import NeuMF
>>> model = NeuMF(n_factors=4, hidden=(8,), n_epochs=2).fit(checkerboard_events())
>>> isinstance(model, TorchRecommender), model.score_batch(np.arange(3)).shape
(True, (3, 16))
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import torch
from torch import nn

from freshrec.base import RecommenderBase
from freshrec.capabilities import HasItemRows
from freshrec.data.batch import EventBatch
from freshrec.models.torch.checkpoint import TrainingCheckpoint
from freshrec.models.torch.distributed import shard, world
from freshrec.models.torch.nn import (
    GrowableEmbedding,
    forget_parameter,
    load_module_state,
    module_state_arrays,
    resolve_device,
    sample_uniform,
    train_step,
)
from freshrec.models.torch.optim import apply_step_settings, make_optimizer, step_settings
from freshrec.models.torch.training import TrainingHistory, run_epochs
from freshrec.typing import RowInit

__all__ = ["TorchRecommender"]

_MODULE = "module."
_OPTIMIZER = "optimizer."
_SEED_BOUND = 2**63


class TorchRecommender(RecommenderBase, HasItemRows):
    """Base of the torch recommenders that learn from (user, positive item) pairs.

    **State.** ``partial_fit`` builds ``module_`` on its first call, at the current numbers
    of users and items, with all initial weights drawn from a seed taken from the model's
    RNG (``rng_``; torch's global RNG is left untouched). Later calls grow the
    :class:`~freshrec.models.torch.nn.GrowableEmbedding` tables named in ``_user_tables`` and
    ``_item_tables`` (rows ``N(0, std)`` from a seed taken from ``rng_``) and extend the
    Adam optimizer ``optimizer_``, which is created once and kept, so the moments of old
    rows carry over to the next ``partial_fit``.

    **Training.** ``_learn`` visits the *new* positives (``value >= threshold``) of the
    batch in shuffled mini-batches of ``batch_size``, draws ``n_negatives`` uniform
    negatives per positive among the items the user has no positive for (everything learned
    so far), and steps on :meth:`_batch_loss`, for up to ``n_epochs`` epochs; with ``valid``
    it stops early on NDCG@10 and keeps the best epoch
    (:func:`~freshrec.models.torch.training.run_epochs`). All randomness of one call comes from a
    ``torch.Generator`` seeded from ``rng_``, so a saved and loaded model continues exactly
    as the original would. Under ``torchrun`` each process takes its share of every
    mini-batch and gradients are averaged (:mod:`freshrec.models.torch.distributed`). While an EWC
    anchor is set (:mod:`freshrec.models.torch.anchoring`), every mini-batch loss also pays its
    penalty (:meth:`_anchor_penalty`).

    **Step size.** Every training pass starts by writing the *current* ``lr`` and ``l2`` into
    the optimizers' param groups (:meth:`_step_settings`), so ``set_params(lr=..., l2=...)``
    between two ``partial_fit`` calls (an update strategy's ``FineTune(lr=...)``, and its
    restoring the old value after) holds from the next step on, with the optimizer's state
    (Adam's moments) kept.

    **Persistence.** ``_arrays`` holds the module's ``state_dict`` (keys ``module.*``) and
    the optimizer's per-parameter state (``optimizer.<parameter>.<key>``: Adam's ``step``,
    ``exp_avg``, ``exp_avg_sq``), so a loaded model resumes with the same Adam moments;
    early stopping restores both to the best epoch (``_pass_arrays``, the state a training
    pass changes).

    **Scoring.** ``_score`` runs the module in eval mode under ``torch.no_grad`` on
    ``score_chunk`` (user, item) pairs at a time and returns ``float64`` logits.

    **Int8 tables.** :meth:`quantize_tables` holds embedding tables as int8 codes with one
    float32 scale per row (:meth:`GrowableEmbedding.quantize`), scored from directly and
    saved as ``<table>.codes``/``<table>.scale``; the optimizers forget those tables. Learning
    (a training pass, new rows, reset rows, written rows) first dequantizes every int8 table
    back to a float Parameter, with a warning, with fresh optimizer state for those tables
    (the other parameters keep theirs); quantize again after learning.

    A subclass stores its hyperparameters in ``__init__``; besides ``threshold`` and
    ``seed`` the base reads ``n_epochs``, ``lr``, ``batch_size``, ``n_negatives``,
    ``patience`` and ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``), and ``l2`` (Adam's
    weight decay; ``0.0`` unless the subclass takes it as a parameter).

    Attributes
    ----------
    module_
        The ``torch.nn.Module``, on ``device``.
    optimizer_
        Its Adam optimizer.
    history_
        :class:`~freshrec.models.torch.training.TrainingHistory` of the last
        ``fit``/``partial_fit`` (diagnostics; not saved).

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.neumf import NeuMF
    >>> model = NeuMF(n_factors=4, hidden=(8,), n_epochs=3).fit(checkerboard_events())
    >>> len(model.history_.loss), model.module_.user_gmf.num_embeddings
    (3, 24)
    """

    _user_tables: ClassVar[tuple[str, ...]] = ()
    _item_tables: ClassVar[tuple[str, ...]] = ()
    _init_std: ClassVar[float] = 0.01
    _item_offset: ClassVar[int] = 0  # extra leading item rows (e.g. a padding row 0)
    _adam_betas: ClassVar[tuple[float, float]] = (0.9, 0.999)
    score_chunk: ClassVar[int] = 2**20  # (user, item) pairs scored at once
    _checkpoint_dir: Path | None = None  # set by ``checkpoint_to``

    n_epochs: int
    lr: float
    batch_size: int
    n_negatives: int
    l2: float = 0.0  # Adam's weight decay; a subclass may make it a parameter
    patience: int
    device: str

    # -- hooks for subclasses -----------------------------------------------------------
    def _build_module(self, n_users: int, n_items: int, seed: int) -> nn.Module:
        """A new module for ``n_users`` users and ``n_items`` items.

        Seed every :class:`~freshrec.models.torch.nn.GrowableEmbedding` from ``seed`` (e.g.
        ``seed + k`` for the ``k``-th table); the other layers draw from torch's global RNG,
        which the base seeds with ``seed`` inside ``torch.random.fork_rng``.
        """
        raise NotImplementedError

    def _forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits of the pairs ``(users[k], items[k])``; inputs and output of one shape."""
        return self.module_(users, items)  # type: ignore[no-any-return]

    def _batch_loss(
        self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        """Loss of one mini-batch: ``users``/``positives`` (B,), ``negatives`` (B, n_negatives)."""
        raise NotImplementedError

    def _step_settings(self) -> list[tuple[torch.optim.Optimizer, dict[str, float]]]:
        """Each optimizer of the model with the param-group values its hyperparameters give.

        :meth:`_run_epochs` applies them before every training pass. The base: ``optimizer_``
        with step size ``lr`` and weight decay ``l2``
        (:func:`~freshrec.models.torch.optim.step_settings`); a model with more optimizers, or
        other values, overrides this together with :meth:`_make_optimizer`.
        """
        name = getattr(self, "optimizer", "adam")
        return [(self.optimizer_, step_settings(name, self.lr, self.l2))]

    def _run_epochs(
        self,
        epoch: Callable[[], float],
        valid: EventBatch | None,
        generators: Mapping[str, torch.Generator] | None = None,
        counters: MutableMapping[str, int] | None = None,
        data: Sequence[torch.Tensor | None] = (),
    ) -> TrainingHistory:
        """A training pass: apply :meth:`_step_settings`, then run up to ``n_epochs`` epochs.

        Every ``_learn`` trains through this, so the pass steps with the model's current
        ``lr``/``l2``, whatever they were when the optimizer was built. After
        :meth:`checkpoint_to` the pass is saved after every epoch and resumed when found:
        ``generators`` (the pass's random generators), ``counters`` and ``data`` (its
        training tensors) are what the checkpoint saves and recognises the pass by.
        """
        self._float_tables()
        checkpoint = resumed = None
        if self._checkpoint_dir is not None:
            checkpoint = TrainingCheckpoint(
                self._checkpoint_dir, self, generators or {}, counters or {}, data, self.patience
            )
            resumed = checkpoint.restore()
        for optimizer, settings in self._step_settings():
            apply_step_settings(optimizer, settings)
        return run_epochs(
            self,
            epoch,
            self.n_epochs,
            valid=valid,
            patience=self.patience,
            resume=resumed,
            on_epoch=checkpoint.save if checkpoint is not None else None,
        )

    def checkpoint_to(self, directory: str | os.PathLike[str] | None) -> Self:
        """Save each training pass to ``directory`` after every epoch; resume one found there.

        Run the same script again after a stopped process and the pass goes on after its
        last saved epoch, ending as an uninterrupted run would
        (:mod:`freshrec.models.torch.checkpoint`). ``None`` stops checkpointing.

        Examples
        --------
        >>> import tempfile
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models.neumf import NeuMF
        >>> folder = tempfile.mkdtemp()
        >>> first = NeuMF(n_factors=4, n_epochs=2).checkpoint_to(folder).fit(checkerboard_events())
        >>> again = NeuMF(n_factors=4, n_epochs=2).checkpoint_to(folder).fit(checkerboard_events())
        >>> again.history_.loss == first.history_.loss  # restored, not trained again
        True
        """
        self._checkpoint_dir = Path(directory) if directory is not None else None
        return self

    # -- forgetting control (used by freshrec.models.torch.anchoring) ----------------------------
    def _anchor_penalty(self) -> torch.Tensor | float:
        """``sum w * (theta - theta_anchor)^2 / 2`` over the anchored entries, or 0.

        A table grown since the anchor was set is compared on its first rows only.
        """
        anchor = getattr(self, "anchor_", None)
        if not anchor:
            return 0.0
        params = dict(self.module_.named_parameters())
        total: torch.Tensor | float = 0.0
        for name, (reference, weight) in anchor.items():
            current = params[name][: len(reference)] if reference.ndim else params[name]
            total = total + 0.5 * (weight * (current - reference) ** 2).sum()
        return total

    def _loss_terms(self, batch: EventBatch) -> Iterator[tuple[torch.Tensor, int]]:
        """Mean losses of ``batch_size`` mini-batches of ``batch``'s positives, and sizes."""
        users, items = self._positive_pairs(batch)
        generator = torch.Generator().manual_seed(int(self.rng_.integers(_SEED_BOUND)))
        seen = self.positives_csr()
        device = resolve_device(self.device)
        for start in range(0, len(users), self.batch_size):
            u, i = users[start : start + self.batch_size], items[start : start + self.batch_size]
            j = sample_uniform(
                self.n_items, (len(u), self.n_negatives), generator, exclude=seen, users=u
            )
            yield self._batch_loss(u.to(device), i.to(device), j.to(device)), len(u)

    # -- int8 tables --------------------------------------------------------------------
    @property
    def is_quantized(self) -> bool:
        """Whether any embedding table is held as int8 (:meth:`quantize_tables`)."""
        return hasattr(self, "module_") and any(
            isinstance(m, GrowableEmbedding) and m.is_quantized for m in self.module_.modules()
        )

    def quantize_tables(self, tables: Sequence[str] | None = None) -> Self:
        """Hold the embedding ``tables`` as int8 rows (inference); the model.

        ``None``: every table of ``_user_tables`` and ``_item_tables`` wider than one column
        (a bias column would take 5 bytes a row instead of 4). See the class doc.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models.neumf import NeuMF
        >>> model = NeuMF(n_factors=8, hidden=(8,), n_epochs=2).fit(checkerboard_events())
        >>> before = model.score_batch(np.arange(2))
        >>> model.quantize_tables().is_quantized, model.module_.item_gmf.codes.dtype
        (True, torch.int8)
        >>> bool(np.abs(model.score_batch(np.arange(2)) - before).max() < 0.01)
        True
        """
        self._check_fitted()
        if tables is None:
            names = [*self._user_tables, *self._item_tables]
            tables = [name for name in names if self._table(name).dim > 1]
        for name in tables:
            table = self._table(name)
            if table.is_quantized:
                continue
            weight = table.weight
            table.quantize()
            for optimizer, _ in self._step_settings():
                forget_parameter(optimizer, weight)
        return self

    def dequantize_tables(self) -> Self:
        """Hold every int8 table as a float Parameter again (fresh optimizer state for it).

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models.neumf import NeuMF
        >>> model = NeuMF(n_factors=8, hidden=(8,), n_epochs=2).fit(checkerboard_events())
        >>> model.quantize_tables().dequantize_tables().is_quantized
        False
        >>> weight = model.module_.item_gmf.weight
        >>> any(p is weight for p in model.optimizer_.param_groups[0]["params"])
        True
        """
        if not self.is_quantized:
            return self
        kept = {k: v for k, v in self._arrays().items() if not k.startswith(_MODULE)}
        for table in self.module_.modules():
            if isinstance(table, GrowableEmbedding):
                table.dequantize()
        # the model's own restore rebuilds its optimizers and puts the kept state back
        self._set_arrays({**kept, **module_state_arrays(self.module_, _MODULE)})
        return self

    def table_nbytes(self) -> dict[str, int]:
        """Bytes held by each user and item table (codes and scales while int8).

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models.neumf import NeuMF
        >>> model = NeuMF(n_factors=64, hidden=(8,), n_epochs=1).fit(checkerboard_events())
        >>> model.table_nbytes()["item_gmf"], model.quantize_tables().table_nbytes()["item_gmf"]
        (4096, 1088)
        """
        self._check_fitted()
        return {name: self._table(name).nbytes for name in (*self._user_tables, *self._item_tables)}

    def _float_tables(self) -> None:
        """Before changing the tables: dequantize an int8 model, with a warning."""
        if self.is_quantized:
            warnings.warn(
                f"{type(self).__name__}'s embedding tables are int8: dequantizing them to "
                "float to change them (the model is float from now on; quantize it again "
                "after learning)",
                stacklevel=3,
            )
            self.dequantize_tables()

    # -- RecommenderBase hooks ----------------------------------------------------------
    def _grow(self, n_users: int, n_items: int) -> None:
        if not hasattr(self, "module_"):
            self._init_module(n_users, n_items, int(self.rng_.integers(_SEED_BOUND)))
            return
        item_rows = n_items + self._item_offset
        sizes = [(name, n_users) for name in self._user_tables]
        sizes += [(name, item_rows) for name in self._item_tables]
        if any(self._table(name).num_embeddings < n_rows for name, n_rows in sizes):
            self._float_tables()  # new rows: an int8 model becomes float
        generator = torch.Generator().manual_seed(int(self.rng_.integers(_SEED_BOUND)))
        for name, n_rows in sizes:
            self._table(name).grow(n_rows, generator=generator, optimizers=[self.optimizer_])

    def _init_rows(self, user_rows: np.ndarray, item_rows: np.ndarray, init: RowInit) -> None:
        if len(user_rows) or len(item_rows):
            self._float_tables()
        item_rows = item_rows + self._item_offset
        for names, rows in ((self._user_tables, user_rows), (self._item_tables, item_rows)):
            for name in names:
                self._table(name).reset_rows(rows, init=init, optimizers=[self.optimizer_])

    def _positive_pairs(self, batch: EventBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """The (user, item) indices of ``batch``'s positives, as two int64 tensors."""
        positive = batch.value >= self.threshold
        user_idx, item_idx = batch.indices()
        return (
            torch.from_numpy(user_idx[positive].astype(np.int64)),
            torch.from_numpy(item_idx[positive].astype(np.int64)),
        )

    def _learn(self, batch: EventBatch, valid: EventBatch | None) -> None:
        users, items = self._positive_pairs(batch)
        if not len(users):
            self.history_ = TrainingHistory((), (), 0)
            return
        generator = torch.Generator().manual_seed(int(self.rng_.integers(_SEED_BOUND)))
        seen = self.positives_csr()
        device = resolve_device(self.device)

        def epoch() -> float:
            self.module_.train()
            order = torch.randperm(len(users), generator=generator)
            total = 0.0
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                u, i = users[rows], items[rows]
                j = sample_uniform(
                    self.n_items, (len(rows), self.n_negatives), generator, exclude=seen, users=u
                )
                mine = shard(torch.arange(len(rows)))  # this process's share (all, alone)
                if len(mine):
                    loss = self._batch_loss(
                        u[mine].to(device), i[mine].to(device), j[mine].to(device)
                    )
                    loss = loss * (len(mine) * world()[1] / len(rows))  # the batch mean
                else:  # more processes than rows: take part in the averaging with zeros
                    loss = torch.zeros((), device=device, requires_grad=True)
                loss = loss + self._anchor_penalty()
                total += train_step(self.module_, self.optimizer_, loss) * len(rows)
            return total / len(users)

        self.history_ = self._run_epochs(
            epoch, valid, generators={"batches": generator}, data=(users, items)
        )

    @torch.no_grad()
    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        device = resolve_device(self.device)
        items_np = np.arange(self.n_items) if item_idx is None else np.asarray(item_idx)
        items = torch.from_numpy(items_np.astype(np.int64)).to(device)
        out = np.empty((len(user_idx), len(items)), dtype=np.float64)
        if not len(items) or not len(user_idx):
            return out
        self.module_.eval()
        step = max(1, self.score_chunk // len(items))
        for start in range(0, len(user_idx), step):
            chunk = torch.from_numpy(user_idx[start : start + step].astype(np.int64)).to(device)
            grid_users = chunk.repeat_interleave(len(items))
            grid_items = items.repeat(len(chunk))
            logits = self._forward(grid_users, grid_items).reshape(len(chunk), len(items))
            out[start : start + len(chunk)] = logits.double().cpu().numpy()
        return out

    # -- state ----------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = module_state_arrays(self.module_, _MODULE)
        for name, param in self.module_.named_parameters():
            for key, value in self.optimizer_.state.get(param, {}).items():
                if isinstance(value, torch.Tensor):
                    array = value.detach().cpu().contiguous().numpy().copy()
                    arrays[f"{_OPTIMIZER}{name}.{key}"] = array.reshape(value.shape or (1,))
        return arrays

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        if not hasattr(self, "module_"):  # load: the saved state replaces this initialisation
            self._init_module(self.n_users, self.n_items, 0)
        load_module_state(self.module_, arrays, _MODULE)
        self.optimizer_ = self._make_optimizer()  # tables may have been re-allocated
        for name, param in self.module_.named_parameters():
            prefix = f"{_OPTIMIZER}{name}."
            state = {
                key[len(prefix) :]: torch.from_numpy(np.array(value, copy=True))
                for key, value in arrays.items()
                if key.startswith(prefix)
            }
            if state:
                self.optimizer_.state[param] = {
                    key: value.reshape(()) if key == "step" else value.to(param.device)
                    for key, value in state.items()
                }

    # -- helpers --------------------------------------------------------------------------
    def _init_module(self, n_users: int, n_items: int, seed: int) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = self._build_module(n_users, n_items, seed)
        self.module_ = module.to(resolve_device(self.device))
        self.optimizer_ = self._make_optimizer()

    def _make_optimizer(self) -> torch.optim.Optimizer:
        """Adam (``_adam_betas``) or the model's ``optimizer`` by name, stepping ``lr``, ``l2``."""
        name = getattr(self, "optimizer", "adam")
        params = self.module_.parameters()
        optimizer: torch.optim.Optimizer = (
            torch.optim.Adam(params, lr=self.lr, betas=self._adam_betas)
            if name == "adam"
            else make_optimizer(name, params, self.lr)
        )
        apply_step_settings(optimizer, step_settings(name, self.lr, self.l2))
        return optimizer

    # -- item rows (freshrec.update.item_init) ------------------------------------------
    def item_tables(self) -> dict[str, int]:
        """The width of each :class:`GrowableEmbedding` in ``_item_tables``, by name."""
        self._check_fitted()
        return {name: self._table(name).dim for name in self._item_tables}

    def item_rows(self, table: str) -> np.ndarray:
        """A copy of item table ``table`` without its leading ``_item_offset`` rows."""
        weight = self._item_table(table).dense().detach()
        rows = weight[self._item_offset : self._item_offset + self.n_items]
        return np.array(rows.cpu().numpy(), copy=True)

    def write_item_rows(
        self,
        table: str,
        item_idx: np.ndarray,
        rows: np.ndarray,
        *,
        bias: float | np.ndarray | None = None,
    ) -> None:
        """Write the rows (shifted by ``_item_offset``) of item table ``table``; the optimizer's
        state is left as it is. ``bias`` is not taken: write a bias table by name."""
        if bias is not None:
            raise ValueError("bias applies to BPR only; write a bias table with table=...")
        self._float_tables()
        weight = self._item_table(table).weight
        positions = torch.from_numpy(np.asarray(item_idx, np.int64) + self._item_offset)
        with torch.no_grad():
            weight[positions.to(weight.device)] = torch.as_tensor(
                rows, dtype=weight.dtype, device=weight.device
            )

    def _item_table(self, name: str) -> GrowableEmbedding:
        if name not in self._item_tables:
            raise TypeError(
                f"{name!r} is not an item table of {type(self).__name__}; "
                f"its item tables: {list(self._item_tables)}"
            )
        return self._table(name)

    def _table(self, name: str) -> GrowableEmbedding:
        table = self.module_.get_submodule(name)
        if not isinstance(table, GrowableEmbedding):
            raise TypeError(f"{name!r} of {type(self).__name__} is not a GrowableEmbedding")
        return table
