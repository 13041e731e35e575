"""Caser: convolutional sequence embedding for next-item recommendation (the CNN model).

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> model = Caser(dim=8, window=3, max_len=8, n_epochs=20, threshold=3.0)
>>> model.fit(checkerboard_events()).score_batch(np.arange(2)).shape
(2, 16)
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from freshrec.capabilities import Anchors, Observes, Rehearses
from freshrec.models.torch.nn import GrowableEmbedding
from freshrec.models.torch.sequential import SequentialRecommender

__all__ = ["Caser", "CaserModule"]


class CaserModule(nn.Module):
    """Horizontal and vertical convolutions over each position's latest ``window`` items.

    At every position ``t`` the ``window`` items ending at ``t`` form an image of shape
    (window, dim). ``n_h`` horizontal filters of each height ``1..window`` slide over it
    (ReLU, max-pooled over time); ``n_v`` vertical filters weigh its rows. Both outputs,
    concatenated, pass dropout and a ReLU layer to a vector ``z`` of width ``dim``; the output
    at ``t`` is ``[z; user vector]`` (width ``2 * dim``), matched against separate output
    item vectors with biases.

    Parameters
    ----------
    n_users, n_items
        Rows of the user table and items (the item tables have ``n_items + 1`` rows, row 0
        being padding).
    dim
        Width of item and user vectors.
    window
        The ``L`` of the paper: items read per position.
    n_h, n_v
        Horizontal filters per height, vertical filters.
    dropout
        Dropout before the fully connected layer.
    seed
        Seed of the whole initialisation: the tables draw from generators of their own
        (``seed % 2**62 + 0 .. 3``), the convolutions and the fully connected layer from
        torch's global RNG seeded with ``seed`` for the constructor only (its state is
        restored after), so equal seeds build equal modules.
    std
        Standard deviation of the initial table rows.

    Examples
    --------
    >>> module = CaserModule(2, 5, dim=4, window=3, n_h=2, n_v=2, dropout=0.0, seed=0)
    >>> module(torch.tensor([0]), torch.tensor([[0, 2, 3, 1]])).shape
    torch.Size([1, 4, 8])
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        window: int,
        n_h: int,
        n_v: int,
        dropout: float,
        seed: int,
        std: float = 0.02,
    ) -> None:
        super().__init__()
        self.window = window
        table_seed = seed % 2**62
        self.item_embedding = GrowableEmbedding(
            n_items + 1, dim, std=std, padding_idx=0, seed=table_seed
        )
        self.user_embedding = GrowableEmbedding(n_users, dim, std=std, seed=table_seed + 1)
        self.item_output = GrowableEmbedding(n_items + 1, 2 * dim, std=std, seed=table_seed + 2)
        self.item_bias = GrowableEmbedding(n_items + 1, 1, std=0.0, seed=table_seed + 3)
        # torch's layers initialise themselves from the global RNG: seed it here, or the
        # filters would depend on whatever drew from it before (a fresh process seeds it
        # from OS entropy)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.vertical = nn.Conv2d(1, n_v, (window, 1))
            self.horizontal = nn.ModuleList(
                nn.Conv2d(1, n_h, (h, dim)) for h in range(1, window + 1)
            )
            self.fc = nn.Linear(n_v * dim + n_h * window, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, users: torch.Tensor, sequences: torch.Tensor) -> torch.Tensor:
        """Outputs (B, L, 2 * dim) of left-padded ``sequences`` (B, L) of users ``users`` (B,)."""
        batch, length = sequences.shape
        padded = F.pad(sequences, (self.window - 1, 0))
        windows = padded.unfold(1, self.window, 1)  # (B, L, window)
        images = self.item_embedding(windows).reshape(batch * length, 1, self.window, -1)
        vertical = self.vertical(images).reshape(batch * length, -1)
        pooled = [F.relu(conv(images).squeeze(3)).max(dim=2).values for conv in self.horizontal]
        features = torch.cat([vertical, *pooled], dim=1)
        z = F.relu(self.fc(self.dropout(features))).reshape(batch, length, -1)
        user = self.user_embedding(users)[:, None, :].expand(batch, length, -1)
        return torch.cat([z, user], dim=-1) * (sequences > 0).unsqueeze(-1)


class Caser(SequentialRecommender, Rehearses, Observes, Anchors):
    """Caser (Tang & Wang, WSDM 2018): convolutions over the latest ``window`` items + user.

    :class:`CaserModule` turns the ``window`` items up to each position into a vector,
    joined with the user's vector; its dot product with an item's output vector plus the
    item's bias scores the item as the next one. Training predicts the next item at every
    position of each user's windows of ``max_len`` positions (see
    :class:`~freshrec.models.torch.sequential.SequentialRecommender`) rather than the paper's
    ``T`` targets per sample; the user table grows for new users in ``partial_fit``.

    Parameters
    ----------
    dim
        Width of item and user vectors (the paper: 50).
    window
        Items read per position (the paper's ``L``: 5).
    n_h, n_v
        Horizontal filters per height (16) and vertical filters (4), as in the paper.
    dropout
        Dropout before the fully connected layer (0.5 in the paper).
    max_len
        Positions per training window (longer windows share work across positions).
    loss
        One of :data:`~freshrec.models.torch.sequential.LOSSES`.
    n_negatives
        Negatives of ``"sampled-softmax"`` and ``"bpr-max"``, shared by a mini-batch.
    n_epochs, lr, l2, batch_size, patience
        Training (Adam) settings; see :class:`~freshrec.models.sasrec.SASRec`.
    threshold
        Events with ``value >= threshold`` enter the sequences.
    popularity_prior
        Weight of the popularity prior added for users with short sequences (0: none;
        :mod:`freshrec.models.prior`, chosen on validation by
        :func:`~freshrec.models.prior.choose_popularity_prior`).
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    seed
        Seed of the model's RNG.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> model = Caser(dim=8, window=3, max_len=8, n_epochs=2, threshold=3.0)
    >>> model.fit(checkerboard_events()).module_.user_embedding.num_embeddings
    24

    References
    ----------
    .. [1] Tang, Wang, "Personalized Top-N Sequential Recommendation via Convolutional
       Sequence Embedding", WSDM 2018.
    """

    _user_tables: ClassVar[tuple[str, ...]] = ("user_embedding",)
    _item_tables: ClassVar[tuple[str, ...]] = ("item_embedding", "item_output", "item_bias")
    _init_std: ClassVar[float] = 0.02

    def __init__(
        self,
        dim: int = 50,
        window: int = 5,
        n_h: int = 16,
        n_v: int = 4,
        dropout: float = 0.5,
        max_len: int = 50,
        loss: str = "ce",
        n_negatives: int = 256,
        n_epochs: int = 100,
        lr: float = 0.001,
        l2: float = 0.0,
        batch_size: int = 128,
        patience: int = 10,
        threshold: float = 1.0,
        popularity_prior: float = 0.0,
        device: str = "cpu",
        seed: int | None = 0,
    ) -> None:
        self.dim = dim
        self.window = window
        self.n_h = n_h
        self.n_v = n_v
        self.dropout = dropout
        self.max_len = max_len
        self.loss = loss
        self.n_negatives = n_negatives
        self.n_epochs = n_epochs
        self.lr = lr
        self.l2 = l2
        self.batch_size = batch_size
        self.patience = patience
        self.threshold = threshold
        self.popularity_prior = popularity_prior
        self.device = device
        self.seed = seed

    def _build_module(self, n_users: int, n_items: int, seed: int) -> nn.Module:
        return CaserModule(
            n_users,
            n_items,
            self.dim,
            self.window,
            self.n_h,
            self.n_v,
            self.dropout,
            seed,
            self._init_std,
        )

    def _encode(self, users: torch.Tensor, sequences: torch.Tensor) -> torch.Tensor:
        return self.module_(users, sequences)  # type: ignore[no-any-return]

    def _output_items(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._table("item_output").dense(), self._table("item_bias").dense()[:, 0]

    def _item_vectors(self) -> np.ndarray:
        return self._table("item_output").dense()[1:].detach().cpu().double().numpy()
