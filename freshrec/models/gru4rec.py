"""GRU4Rec: next-item recommendation with a recurrent network (the RNN model).

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> model = GRU4Rec(dim=16, max_len=8, n_epochs=20, threshold=3.0).fit(checkerboard_events())
>>> model.score_batch(np.arange(2)).shape
(2, 16)
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from freshrec.capabilities import Anchors, Observes, Rehearses
from freshrec.models.torch.nn import GrowableEmbedding
from freshrec.models.torch.sequential import SequentialRecommender

__all__ = ["GRU4Rec", "GRU4RecModule"]


class GRU4RecModule(nn.Module):
    """Item embeddings, dropout, a stacked GRU and a linear map back to the item space.

    Left padding is skipped, not fed to the GRU: each sequence is packed at its true length,
    so its outputs do not depend on how much padding precedes it.

    Parameters
    ----------
    n_items
        Items; the table has ``n_items + 1`` rows, row 0 being padding.
    dim
        Width of the item vectors (and of the output).
    hidden
        Width of the GRU state.
    n_layers
        Stacked GRU layers.
    dropout
        Dropout on the input embeddings.
    seed
        Seed of the item table.
    std
        Standard deviation of the initial item vectors.

    Examples
    --------
    >>> module = GRU4RecModule(5, dim=4, hidden=6, n_layers=1, dropout=0.0, seed=0).eval()
    >>> padded = module(torch.tensor([[0, 0, 3, 1]]))[:, 2:]
    >>> torch.allclose(padded, module(torch.tensor([[3, 1]])))
    True
    """

    def __init__(
        self,
        n_items: int,
        dim: int,
        hidden: int,
        n_layers: int,
        dropout: float,
        seed: int,
        std: float = 0.02,
    ) -> None:
        super().__init__()
        self.item_embedding = GrowableEmbedding(n_items + 1, dim, std=std, padding_idx=0, seed=seed)
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(dim, hidden, num_layers=n_layers, batch_first=True)
        self.project = nn.Linear(hidden, dim)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """Outputs (B, L, dim) of left-padded ``sequences`` (B, L); zeros at padding."""
        batch, length = sequences.shape
        lengths = (sequences > 0).sum(1)
        # rotate each row so its items come first (right padding), as packing expects
        shift = (
            torch.arange(length, device=sequences.device) + (length - lengths)[:, None]
        ) % length
        right = sequences.gather(1, shift)
        x = self.dropout(self.item_embedding(right))
        packed = pack_padded_sequence(
            x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=length)
        out = self.project(out) * (right > 0).unsqueeze(-1)
        back = (
            torch.arange(length, device=sequences.device) - (length - lengths)[:, None]
        ) % length
        left: torch.Tensor = out.gather(1, back.unsqueeze(-1).expand_as(out))
        return left


class GRU4Rec(SequentialRecommender, Rehearses, Observes, Anchors):
    """GRU4Rec (Hidasi et al., ICLR 2016): a GRU reads the user's items, in order.

    The output of :class:`GRU4RecModule` at the last position, dotted with the (shared) item
    embeddings, scores every item. Training follows
    :class:`~freshrec.models.torch.sequential.SequentialRecommender`: each user's sequence is cut
    into windows of ``max_len`` positions and the next item is predicted at every position,
    with back-propagation through the whole window (rather than the paper's one-step
    session-parallel mini-batches); ``loss="bpr-max"`` is the loss of the follow-up paper
    (Hidasi & Karatzoglou, CIKM 2018) and ``"ce"`` its cross-entropy.

    Parameters
    ----------
    dim
        Width of the item vectors.
    hidden
        Width of the GRU state (``None``: ``dim``).
    n_layers
        Stacked GRU layers.
    dropout
        Dropout on the input item vectors.
    max_len
        Positions read per user.
    loss
        One of :data:`~freshrec.models.torch.sequential.LOSSES`.
    n_negatives
        Negatives of ``"sampled-softmax"`` and ``"bpr-max"``, shared by a mini-batch.
    n_epochs, lr, l2, batch_size, patience
        Training (Adam) settings; see :class:`~freshrec.models.sasrec.SASRec`. The default
        step 5e-3 is five times SASRec's: at 1e-3 the GRU learned ML-1M about three times
        slower (validation NDCG@10 0.021 after 4 epochs, against 0.059 after 3 at 5e-3).
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
    >>> model = GRU4Rec(dim=16, max_len=8, n_epochs=3, threshold=3.0).fit(checkerboard_events())
    >>> model.module_.gru.hidden_size, len(model.history_.loss)
    (16, 3)

    References
    ----------
    .. [1] Hidasi, Karatzoglou, Baltrunas, Tikk, "Session-based Recommendations with
       Recurrent Neural Networks", ICLR 2016.
    .. [2] Hidasi, Karatzoglou, "Recurrent Neural Networks with Top-k Gains for
       Session-based Recommendations", CIKM 2018.
    """

    _item_tables: ClassVar[tuple[str, ...]] = ("item_embedding",)
    _init_std: ClassVar[float] = 0.02

    def __init__(
        self,
        dim: int = 64,
        hidden: int | None = None,
        n_layers: int = 1,
        dropout: float = 0.2,
        max_len: int = 200,
        loss: str = "ce",
        n_negatives: int = 256,
        n_epochs: int = 100,
        lr: float = 0.005,
        l2: float = 0.0,
        batch_size: int = 128,
        patience: int = 10,
        threshold: float = 1.0,
        popularity_prior: float = 0.0,
        device: str = "cpu",
        seed: int | None = 0,
    ) -> None:
        self.dim = dim
        self.hidden = hidden
        self.n_layers = n_layers
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
        return GRU4RecModule(
            n_items,
            self.dim,
            self.hidden or self.dim,
            self.n_layers,
            self.dropout,
            seed % 2**62,
            self._init_std,
        )

    def _encode(self, users: torch.Tensor, sequences: torch.Tensor) -> torch.Tensor:
        return self.module_(sequences)  # type: ignore[no-any-return]

    def _output_items(self) -> tuple[torch.Tensor, None]:
        return self._table("item_embedding").dense(), None

    def _item_vectors(self) -> np.ndarray:
        return self._table("item_embedding").dense()[1:].detach().cpu().double().numpy()
