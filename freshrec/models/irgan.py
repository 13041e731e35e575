"""IRGAN for item recommendation: a softmax generator trained by policy gradient (SIGIR 2017).

Import this module explicitly (``from freshrec.models.irgan import IRGAN``); it needs torch.

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> model = IRGAN(n_factors=8, n_epochs=2).fit(checkerboard_events())
>>> model.score_batch(np.arange(2)).shape
(2, 16)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from freshrec.data.batch import EventBatch
from freshrec.models.torch.nn import (
    GrowableEmbedding,
    load_module_state,
    load_optimizer_state,
    module_state_arrays,
    optimizer_state_arrays,
    resolve_device,
    train_step,
)
from freshrec.models.torch.torch_base import TorchRecommender
from freshrec.models.torch.training import TrainingHistory

__all__ = ["IRGAN", "IRGANModule"]

_MODULE = "module."
_OPTIMIZER = "optimizer."
_SEED_BOUND = 2**63
Reward = Literal["sigmoid", "softplus"]


class IRGANModule(nn.Module):
    """IRGAN's generator G and discriminator D: two matrix factorizations with item biases.

    G's logit of item ``i`` for user ``u`` is ``g_u . h_i + c_i``, and its policy is the
    softmax of these logits over all items; D's logit is ``p_u . q_i + b_i``. Every table
    is a :class:`~freshrec.models.torch.nn.GrowableEmbedding` (the biases of width 1).

    Parameters
    ----------
    n_users, n_items
        Rows of the user and item tables (they grow later).
    n_factors
        Width of the user and item vectors.
    seed
        Seed of the tables (``seed + 0 .. 5``).
    std
        Standard deviation of the initial vectors (biases start at zero).

    Examples
    --------
    >>> module = IRGANModule(3, 5, n_factors=4, seed=0)
    >>> users = torch.tensor([0, 2])
    >>> module.g_all(users).shape, module.d_logits(users, torch.tensor([4, 1])).shape
    (torch.Size([2, 5]), torch.Size([2]))
    >>> bool(torch.allclose(module.g_all(users)[:, 4], module(users, torch.tensor([4, 4]))))
    True
    """

    def __init__(
        self, n_users: int, n_items: int, n_factors: int, seed: int, std: float = 0.1
    ) -> None:
        super().__init__()
        self.gen_user = GrowableEmbedding(n_users, n_factors, std=std, seed=seed)
        self.gen_item = GrowableEmbedding(n_items, n_factors, std=std, seed=seed + 1)
        self.gen_bias = GrowableEmbedding(n_items, 1, std=0.0, seed=seed + 2)
        self.dis_user = GrowableEmbedding(n_users, n_factors, std=std, seed=seed + 3)
        self.dis_item = GrowableEmbedding(n_items, n_factors, std=std, seed=seed + 4)
        self.dis_bias = GrowableEmbedding(n_items, 1, std=0.0, seed=seed + 5)

    def generator(self) -> list[nn.Parameter]:
        """G's parameters."""
        return _float_weights(self.gen_user, self.gen_item, self.gen_bias)

    def discriminator(self) -> list[nn.Parameter]:
        """D's parameters."""
        return _float_weights(self.dis_user, self.dis_item, self.dis_bias)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """G's logits of the pairs ``(users[k], items[k])``, shape of ``users``."""
        bias: torch.Tensor = self.gen_bias(items)
        return _dot(self.gen_user(users), self.gen_item(items)) + bias.squeeze(-1)

    def g_all(self, users: torch.Tensor) -> torch.Tensor:
        """G's logits of every item for each of ``users``: (len(users), n_items)."""
        vectors: torch.Tensor = self.gen_user(users)
        return vectors @ self.gen_item.dense().T + self.gen_bias.dense().T

    def d_logits(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """D's logits of the pairs ``(users[...], items[...])`` (broadcast shapes)."""
        bias: torch.Tensor = self.dis_bias(items)
        return _dot(self.dis_user(users), self.dis_item(items)) + bias.squeeze(-1)


class IRGAN(TorchRecommender):
    """IRGAN for item recommendation (Wang et al., SIGIR 2017); recommends with the generator.

    Two players share no parameters (:class:`IRGANModule`). The *discriminator* D is a
    matrix factorization with item biases, trained like a classifier: every positive event
    ``(u, i)`` (``value >= threshold``) is paired with an item ``j`` drawn from the
    generator's current policy at temperature ``temperature``, ``softmax(G(u, .) / T)``, and
    Adam minimises ``BCE(D(u, i), 1) + BCE(D(u, j), 0)`` plus ``l2`` times the squared norms
    of the rows used. The *generator* G is a softmax policy over all items per user,
    ``p(i | u) = softmax_i(g_u . h_i + c_i)``, trained by REINFORCE with D's reward: for each
    positive of ``u`` it draws two items from the mixed distribution
    ``p_n = (1 - mix) * p(. | u) + mix * uniform over u's positives`` and ascends
    ``mean(log p(j | u) * reward(j) * p(j | u) / p_n(j))`` (importance sampling, as in the
    paper's code), where ``reward = 2 * (sigmoid(D(u, j)) - 0.5)`` (``reward="sigmoid"``,
    the paper's code) or ``log(1 + exp(D(u, j)))`` (``reward="softplus"``, the paper's
    formula). An epoch is one pass of D over the positives, then one of G. The score of
    item ``i`` for user ``u`` is G's logit; the paper reports G.

    ``partial_fit(new_events)`` grows the six tables for new users and items (vectors
    ``N(0, 0.1)``, biases zero), keeping old rows and the Adam moments of both optimizers,
    and runs up to ``n_epochs`` epochs over the *new* positives (negatives, the positives
    mixed into ``p_n`` and the softmax all use everything learned so far).
    ``fit(events, valid=...)`` stops early on the validation NDCG@10 and keeps the best
    epoch; the saved state holds both players and both optimizers. See
    :class:`~freshrec.models.torch.torch_base.TorchRecommender`.

    Parameters
    ----------
    n_factors
        Width of the user and item vectors of both players.
    n_epochs
        Epochs (one D pass and one G pass each) of each ``fit``/``partial_fit``.
    lr
        Adam's step size, for G and D.
    batch_size
        Positives per mini-batch.
    l2
        Weight of D's L2 penalty on the rows of each mini-batch (G has none, as in the paper).
    reward
        ``"sigmoid"``: ``2 * (sigmoid(D) - 0.5)``, in ``(-1, 1)``; ``"softplus"``:
        ``log(1 + exp(D))``, always positive.
    patience
        Epochs without improvement of the validation NDCG@10 before stopping.
    threshold
        Events with ``value >= threshold`` are positives.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when present).
    seed
        Seed of the model's RNG (initial vectors, shuffling, sampling).

    Attributes
    ----------
    module_
        The :class:`IRGANModule`.
    optimizer_, d_optimizer_
        Adam optimizers of G and of D.
    history_
        :class:`~freshrec.models.torch.training.TrainingHistory` of the last update;
        its ``loss`` is G's mean policy-gradient loss per epoch.
    d_loss_
        D's mean loss per epoch of the last ``fit``/``partial_fit`` (diagnostics; not saved).

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> model = IRGAN(n_factors=8, n_epochs=20, lr=0.01, batch_size=32, threshold=3.0)
    >>> model = model.fit(checkerboard_events())
    >>> recs = model.recommend("u0", k=2, exclude=model.seen_items("u0"))
    >>> [int(s.item[1:]) < 8 for s in recs]  # u0 likes items i0..i7
    [True, True]
    >>> model = model.partial_fit(checkerboard_events(n_users=4, n_items=4, seen=2, offset=50))
    >>> model.module_.gen_item.num_embeddings, len(model.recommend("u50", k=3))
    (20, 3)

    Notes
    -----
    The paper pre-trains G (and D) as plain matrix factorizations and then trains with SGD;
    here both start from random vectors and use Adam, and the sampling is batched over
    positives rather than looped over users (the same number of draws per user). As in the
    paper, D's negatives are drawn from G's whole policy (a user's own positives included),
    so once G is good D starts to push back on good items and the game can drift: the
    paper reports the best epoch, and ``fit(events, valid=...)`` keeps it likewise. The
    defaults (Adam ``lr=1e-3``, 32 factors, batches of 256) are a starting point for data
    of MovieLens size, not tuned. The
    temperature ``0.2`` of D's negatives and the mixing weight ``0.2`` of ``p_n`` are the
    paper's constants, kept as class attributes (``temperature``, ``mix``).

    References
    ----------
    .. [1] Wang, Yu, Zhang, Gong, Xu, Wang, Zhang, Zhang, "IRGAN: A Minimax Game for Unifying
       Generative and Discriminative Information Retrieval Models", SIGIR 2017.
    """

    _user_tables: ClassVar[tuple[str, ...]] = ("gen_user", "dis_user")
    _item_tables: ClassVar[tuple[str, ...]] = ("gen_item", "dis_item")
    _bias_tables: ClassVar[tuple[str, ...]] = ("gen_bias", "dis_bias")
    _init_std: ClassVar[float] = 0.1
    temperature: ClassVar[float] = 0.2  # of G's policy when it samples D's negatives
    mix: ClassVar[float] = 0.2  # share of the user's positives in G's sampling distribution

    def __init__(
        self,
        n_factors: int = 32,
        n_epochs: int = 50,
        lr: float = 1e-3,
        batch_size: int = 256,
        l2: float = 1e-4,
        reward: Reward = "sigmoid",
        patience: int = 5,
        threshold: float = 1.0,
        device: str = "cpu",
        seed: int | None = 0,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.l2 = l2
        self.reward = reward
        self.patience = patience
        self.threshold = threshold
        self.device = device
        self.seed = seed

    module_: IRGANModule
    d_loss_: tuple[float, ...]

    # -- TorchRecommender hooks -----------------------------------------------------------
    def _build_module(self, n_users: int, n_items: int, seed: int) -> nn.Module:
        if self.reward not in ("sigmoid", "softplus"):
            raise ValueError(f"reward must be 'sigmoid' or 'softplus', got {self.reward!r}")
        return IRGANModule(n_users, n_items, self.n_factors, seed % 2**62, self._init_std)

    def _make_optimizer(self) -> torch.optim.Adam:
        return torch.optim.Adam(self.module_.generator(), lr=self.lr)

    def _step_settings(self) -> list[tuple[torch.optim.Optimizer, dict[str, float]]]:
        # ``l2`` is D's explicit penalty (read at every step), not a weight decay
        return [(self.optimizer_, {"lr": self.lr}), (self.d_optimizer_, {"lr": self.lr})]

    def _init_module(self, n_users: int, n_items: int, seed: int) -> None:
        super()._init_module(n_users, n_items, seed)
        self.d_optimizer_ = torch.optim.Adam(self.module_.discriminator(), lr=self.lr)

    def _grow(self, n_users: int, n_items: int) -> None:
        if not hasattr(self, "module_"):
            self._init_module(n_users, n_items, int(self.rng_.integers(_SEED_BOUND)))
            return
        rows = (self._table("gen_user").num_embeddings, self._table("gen_item").num_embeddings)
        if n_users > rows[0] or n_items > rows[1]:
            self._float_tables()  # new rows: an int8 model becomes float
        generator = torch.Generator().manual_seed(int(self.rng_.integers(_SEED_BOUND)))
        optimizers = (self.optimizer_, self.d_optimizer_)
        for names, n_rows in ((self._user_tables, n_users), (self._item_tables, n_items)):
            for name in names:
                self._table(name).grow(n_rows, generator=generator, optimizers=optimizers)
        for name in self._bias_tables:
            self._table(name).grow(n_items, init="zero", optimizers=optimizers)

    def _learn(self, batch: EventBatch, valid: EventBatch | None) -> None:
        positive = batch.value >= self.threshold
        user_idx, item_idx = batch.indices()
        users = torch.from_numpy(user_idx[positive].astype(np.int64))
        items = torch.from_numpy(item_idx[positive].astype(np.int64))
        if not len(users):
            self.history_ = TrainingHistory((), (), 0)
            self.d_loss_ = ()
            return
        order_generator = torch.Generator().manual_seed(int(self.rng_.integers(_SEED_BOUND)))
        device = resolve_device(self.device)
        draw_generator = torch.Generator(device=device)
        draw_generator.manual_seed(int(self.rng_.integers(_SEED_BOUND)))
        positives = self.positives_csr()
        d_losses: list[float] = []

        def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
            order = torch.randperm(len(users), generator=order_generator)
            return [
                (users[rows].to(device), items[rows].to(device))
                for rows in torch.split(order, self.batch_size)
            ]

        def epoch() -> float:
            self.module_.train()
            d_total = g_total = 0.0
            for u, i in batches():
                d_total += self._d_step(u, i, draw_generator) * len(u)
            for u, _ in batches():
                g_total += self._g_step(u, positives, draw_generator) * len(u)
            d_losses.append(d_total / len(users))
            return g_total / len(users)

        self.history_ = self._run_epochs(epoch, valid)
        self.d_loss_ = tuple(d_losses)

    def _d_step(self, users: torch.Tensor, items: torch.Tensor, draw: torch.Generator) -> float:
        """One step of D on positives ``(users, items)`` against negatives drawn from G."""
        module = self.module_
        with torch.no_grad():
            policy = torch.softmax(module.g_all(users) / self.temperature, dim=1)
            negatives = torch.multinomial(policy, 1, generator=draw).squeeze(1)
        pos, neg = module.d_logits(users, items), module.d_logits(users, negatives)
        loss = F.binary_cross_entropy_with_logits(
            pos, torch.ones_like(pos)
        ) + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
        rows = torch.cat([items, negatives])
        penalty = (
            module.dis_user(users).square().sum()
            + module.dis_item(rows).square().sum()
            + module.dis_bias(rows).square().sum()
        )
        return train_step(module, self.d_optimizer_, loss + self.l2 * penalty / len(users))

    def _g_step(
        self, users: torch.Tensor, positives: sp.csr_matrix, draw: torch.Generator
    ) -> float:
        """One REINFORCE step of G: two draws per positive from the mixed distribution."""
        module = self.module_
        log_policy = torch.log_softmax(module.g_all(users), dim=1)
        policy = log_policy.detach().exp()
        block = positives[users.cpu().numpy()].toarray() > 0
        own = torch.from_numpy(block).to(device=users.device, dtype=policy.dtype)
        own_share = own / own.sum(1, keepdim=True).clamp_min(1)
        mixed = (1 - self.mix) * policy + self.mix * own_share
        samples = torch.multinomial(mixed, 2, replacement=True, generator=draw)
        with torch.no_grad():
            d = module.d_logits(users.unsqueeze(1), samples)
            reward = 2 * (torch.sigmoid(d) - 0.5) if self.reward == "sigmoid" else F.softplus(d)
            reward = reward * policy.gather(1, samples) / mixed.gather(1, samples)
        loss = -(log_policy.gather(1, samples) * reward).mean()
        return train_step(module, self.optimizer_, loss)

    def _item_vectors(self) -> np.ndarray:
        """G's item vectors."""
        return self._table("gen_item").dense().detach().cpu().double().numpy()

    # -- state: both players and both optimizers -------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = module_state_arrays(self.module_, _MODULE)
        optimizers = (self.optimizer_, self.d_optimizer_)
        arrays.update(optimizer_state_arrays(self.module_, optimizers, _OPTIMIZER))
        return arrays

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        if not hasattr(self, "module_"):  # load: the saved state replaces this initialisation
            self._init_module(self.n_users, self.n_items, 0)
        load_module_state(self.module_, arrays, _MODULE)
        self.optimizer_ = self._make_optimizer()  # tables may have been re-allocated
        self.d_optimizer_ = torch.optim.Adam(self.module_.discriminator(), lr=self.lr)
        optimizers = (self.optimizer_, self.d_optimizer_)
        load_optimizer_state(self.module_, optimizers, arrays, _OPTIMIZER)


def _dot(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Row-wise dot products over the last dimension."""
    return (left * right).sum(-1)


def _float_weights(*tables: GrowableEmbedding) -> list[nn.Parameter]:
    """The ``weight`` of each table not held as int8 (an int8 table has no Parameter)."""
    return [table.weight for table in tables if not table.is_quantized]
