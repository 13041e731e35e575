"""NeuMF: neural matrix factorization, a GMF branch and an MLP branch fused (He et al., 2017)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from freshrec.capabilities import Anchors, GrowsAndEvicts, Rehearses
from freshrec.models.torch.anchoring import Anchorable
from freshrec.models.torch.nn import GrowableEmbedding
from freshrec.models.torch.torch_base import TorchRecommender

__all__ = ["NeuMF", "NeuMFModule"]


class NeuMFModule(nn.Module):
    """The NeuMF network: ``logit = h . [p_u * q_i, MLP([p'_u, q'_i])] + b``.

    The GMF branch multiplies its user and item vectors element-wise; the MLP branch
    concatenates separate user and item vectors and passes them through ReLU layers of the
    widths in ``hidden``; the final linear layer reads both outputs concatenated.

    Parameters
    ----------
    n_users, n_items
        Rows of the user and item tables (they grow later).
    n_factors
        Width of the GMF vectors and of each MLP input vector.
    hidden
        Widths of the MLP's layers.
    seed
        Seed of the embedding tables (``seed + 0 .. 3``).
    std
        Standard deviation of the initial embeddings.

    Examples
    --------
    >>> module = NeuMFModule(3, 5, n_factors=4, hidden=(8, 4), seed=0)
    >>> module(torch.tensor([0, 2]), torch.tensor([4, 1])).shape
    torch.Size([2])
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_factors: int,
        hidden: tuple[int, ...],
        seed: int,
        std: float = 0.01,
    ) -> None:
        super().__init__()
        self.user_gmf = GrowableEmbedding(n_users, n_factors, std=std, seed=seed)
        self.item_gmf = GrowableEmbedding(n_items, n_factors, std=std, seed=seed + 1)
        self.user_mlp = GrowableEmbedding(n_users, n_factors, std=std, seed=seed + 2)
        self.item_mlp = GrowableEmbedding(n_items, n_factors, std=std, seed=seed + 3)
        layers: list[nn.Module] = []
        width = 2 * n_factors
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.mlp = nn.Sequential(*layers)
        self.head = nn.Linear(n_factors + width, 1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits of the pairs ``(users[k], items[k])``, shape of ``users``."""
        gmf = self.user_gmf(users) * self.item_gmf(items)
        mlp = self.mlp(torch.cat([self.user_mlp(users), self.item_mlp(items)], dim=-1))
        return self.head(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)  # type: ignore[no-any-return]


class NeuMF(Anchorable, TorchRecommender, Rehearses, GrowsAndEvicts, Anchors):
    """Neural matrix factorization (He et al., WWW 2017), trained with sampled negatives.

    The score of item ``i`` for user ``u`` is the logit of :class:`NeuMFModule`: a GMF branch
    (element-wise product of user and item vectors) and an MLP branch (ReLU layers over the
    concatenation of *separate* user and item vectors), fused by one linear layer. Each
    positive event (``value >= threshold``) is paired with ``n_negatives`` items drawn
    uniformly among those the user has no positive for, and Adam minimises the binary
    cross-entropy of positives (label 1) and negatives (label 0). Training starts from
    random vectors (the paper's GMF/MLP pre-training is not done).

    ``partial_fit(new_events)`` grows the four embedding tables for new users and items and
    runs up to ``n_epochs`` passes over the *new* positives only, with the same Adam
    optimizer (its moments persist, and are saved). ``fit(events, valid=...)`` stops early
    on the validation NDCG@10 and keeps the best epoch. See
    :class:`~freshrec.models.torch.torch_base.TorchRecommender` for the shared machinery.

    Parameters
    ----------
    n_factors
        Width of the GMF vectors and of each MLP input vector.
    hidden
        Widths of the MLP's ReLU layers (the paper's tower halves each layer).
    n_epochs
        Passes over the positives of each ``fit``/``partial_fit`` (the most, with ``valid``).
    lr
        Step size of the optimizer (FTRL: its alpha).
    optimizer
        Optimizer by name (:func:`~freshrec.models.torch.optim.make_optimizer`): ``adam`` (the
        default), ``sgd``, ``rmsprop``, ``adagrad``, ``rowwise-adagrad`` or ``ftrl``.
    batch_size
        Positives per mini-batch (each with ``n_negatives`` negatives).
    n_negatives
        Sampled negatives per positive (the paper uses 4).
    patience
        Epochs without improvement of the validation NDCG@10 before stopping.
    threshold
        Events with ``value >= threshold`` are positives.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when present).
    seed
        Seed of the model's RNG (initial weights, shuffling, negatives).

    Attributes
    ----------
    module_
        The :class:`NeuMFModule`.
    optimizer_
        Its Adam optimizer.
    history_
        :class:`~freshrec.models.torch.training.TrainingHistory` of the last update.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> model = NeuMF(n_factors=8, hidden=(16, 8), n_epochs=40, lr=0.01, batch_size=64)
    >>> model = model.fit(checkerboard_events())
    >>> model.history_.loss[-1] < model.history_.loss[0]
    True
    >>> model.score("u0", ["i0", "i9", "zzz"]).shape
    (3,)

    Notes
    -----
    **Defaults.** ``lr=0.01`` and ``batch_size=128`` (the paper: 0.001 and 256) are chosen so
    that the default model learns the small conformance data of :mod:`freshrec.checks` in its
    20 epochs (a handful of steps per epoch there); they are not yet tuned on a real data set.
    On large data fewer, larger batches (``batch_size=1024``) train faster per epoch.

    References
    ----------
    .. [1] He, Liao, Zhang, Nie, Hu, Chua, "Neural Collaborative Filtering", WWW 2017.
    """

    _user_tables: ClassVar[tuple[str, ...]] = ("user_gmf", "user_mlp")
    _item_tables: ClassVar[tuple[str, ...]] = ("item_gmf", "item_mlp")

    def __init__(
        self,
        n_factors: int = 32,
        hidden: tuple[int, ...] = (64, 32),
        n_epochs: int = 20,
        lr: float = 0.01,
        optimizer: str = "adam",
        batch_size: int = 128,
        n_negatives: int = 4,
        patience: int = 5,
        threshold: float = 1.0,
        device: str = "cpu",
        seed: int | None = 0,
    ) -> None:
        self.n_factors = n_factors
        self.hidden = hidden
        self.n_epochs = n_epochs
        self.lr = lr
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.n_negatives = n_negatives
        self.patience = patience
        self.threshold = threshold
        self.device = device
        self.seed = seed

    def _build_module(self, n_users: int, n_items: int, seed: int) -> nn.Module:
        return NeuMFModule(
            n_users, n_items, self.n_factors, tuple(self.hidden), seed % 2**62, self._init_std
        )

    def _batch_loss(
        self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        pos = self._forward(users, positives)
        neg = self._forward(users.unsqueeze(1).expand_as(negatives), negatives)
        logits = torch.cat([pos, neg.reshape(-1)])
        labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg.reshape(-1))])
        return F.binary_cross_entropy_with_logits(logits, labels)

    def _item_vectors(self) -> np.ndarray:
        tables: list[torch.Tensor] = [
            self._table("item_gmf").dense(),
            self._table("item_mlp").dense(),
        ]
        return torch.cat(tables, dim=1).detach().cpu().double().numpy()
