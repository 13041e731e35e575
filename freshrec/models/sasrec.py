"""SASRec: self-attentive sequential recommendation (the Transformer model).

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> model = SASRec(dim=16, max_len=8, n_epochs=30, threshold=3.0).fit(checkerboard_events())
>>> best = model.recommend("u0", k=1, exclude=model.seen_items("u0"))[0]
>>> best.item in {f"i{n}" for n in range(8)}  # u0 likes the first 8 items
True
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from freshrec.capabilities import Anchors, Observes, Rehearses
from freshrec.models.torch.nn import GrowableEmbedding
from freshrec.models.torch.sequential import SequentialRecommender

__all__ = ["SASRec", "SASRecBlock", "SASRecModule"]


class _CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim ({dim}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        allowed: torch.Tensor,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attention of ``queries`` over ``keys`` where ``allowed`` (B, 1, L, L) is true.

        With ``bias`` (``allowed`` as additive (B * heads, L, L) zeros and ``-inf``) the
        scores are computed by explicit batched products: when attention weights are dropped
        out, PyTorch's CPU ``scaled_dot_product_attention`` cannot use its fused kernel, and
        its unfused path is about 10% slower than these products.
        """
        batch, length, dim = queries.shape
        width = dim // self.n_heads

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, length, self.n_heads, width).transpose(1, 2)

        query, key = heads(self.query(queries)), heads(self.key(keys))
        value = heads(self.value(keys))
        if bias is None:
            attended = F.scaled_dot_product_attention(
                query,
                key,
                value,
                attn_mask=allowed,
                dropout_p=self.dropout if self.training else 0.0,
            )
        else:
            flat = (batch * self.n_heads, length, width)
            scores = torch.baddbmm(
                bias,
                query.reshape(flat),
                key.reshape(flat).transpose(1, 2),
                alpha=1.0 / math.sqrt(width),
            )
            weights = F.dropout(scores.softmax(-1), self.dropout, self.training)
            attended = torch.bmm(weights, value.reshape(flat)).view(value.shape)
        return self.out(attended.transpose(1, 2).reshape(batch, length, dim))  # type: ignore[no-any-return]


class SASRecBlock(nn.Module):
    """One SASRec block: causal self-attention and a point-wise feed-forward network.

    Examples
    --------
    >>> block = SASRecBlock(dim=8, n_heads=2, inner=16, dropout=0.0)
    >>> x = torch.randn(1, 3, 8)
    >>> allowed = torch.ones(3, 3, dtype=torch.bool).tril()[None, None]
    >>> block(x, allowed, None).shape
    torch.Size([1, 3, 8])
    """

    def __init__(self, dim: int, n_heads: int, inner: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim, eps=1e-8)
        self.attention = _CausalSelfAttention(dim, n_heads, dropout)
        self.attention_dropout = nn.Dropout(dropout)
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-8)
        self.ffn = nn.Sequential(
            nn.Linear(dim, inner), nn.ReLU(), nn.Linear(inner, dim), nn.Dropout(dropout)
        )

    def forward(
        self, x: torch.Tensor, allowed: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        queries = self.attention_norm(x)
        x = queries + self.attention_dropout(self.attention(queries, x, allowed, bias))
        x = self.ffn_norm(x)
        return x + self.ffn(x)  # type: ignore[no-any-return]


class SASRecModule(nn.Module):
    """The SASRec network: item + position embeddings, causal self-attention blocks.

    Follows the authors' reference code: item vectors scaled by ``sqrt(dim)`` plus learned
    position vectors, dropout, then ``n_blocks`` blocks that each normalise the queries,
    add causal multi-head self-attention to them and apply a residual point-wise feed-forward
    network (after a second layer normalisation), and a final layer normalisation. A
    position attends to itself and to the earlier non-padding positions, so padding never
    reaches the other positions and is zeroed once, at the output (the reference code zeroes
    it after every block). The feed-forward network drops out its output only, as RecBole
    and BERT do (the reference code also drops its inner activations, which costs about 5%
    of a training step on CPU). When training on CPU with dropout, attention runs as
    explicit batched products (faster than the unfused ``scaled_dot_product_attention``,
    which is all PyTorch has on CPU with attention dropout); otherwise, and on GPUs, through
    ``scaled_dot_product_attention``.

    Parameters
    ----------
    n_items
        Items; the table has ``n_items + 1`` rows, row 0 being padding.
    max_len
        Positions (the input length).
    dim, n_blocks, n_heads, inner, dropout
        Width, depth, attention heads, feed-forward width and dropout rate.
    seed
        Seed of the item table.
    std
        Standard deviation of the initial item vectors.

    Examples
    --------
    >>> module = SASRecModule(5, max_len=4, dim=8, n_blocks=1, n_heads=2, inner=8, dropout=0.0,
    ...                       seed=0)
    >>> module(torch.tensor([[0, 0, 3, 1]])).shape
    torch.Size([1, 4, 8])
    """

    def __init__(
        self,
        n_items: int,
        max_len: int,
        dim: int,
        n_blocks: int,
        n_heads: int,
        inner: int,
        dropout: float,
        seed: int,
        std: float = 0.02,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.n_heads = n_heads
        self.item_embedding = GrowableEmbedding(n_items + 1, dim, std=std, padding_idx=0, seed=seed)
        self.position_embedding = nn.Parameter(torch.randn(max_len, dim) * std)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            SASRecBlock(dim, n_heads, inner, dropout) for _ in range(n_blocks)
        )
        self.final_norm = nn.LayerNorm(dim, eps=1e-8)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """Outputs (B, L, dim) of left-padded ``sequences`` (B, L); 0 is padding."""
        length = sequences.shape[1]
        present = sequences > 0
        x = self.item_embedding(sequences) * math.sqrt(self.dim)
        x = self.dropout(x + self.position_embedding[-length:])
        causal = torch.ones(length, length, dtype=torch.bool, device=sequences.device).tril()
        diagonal = torch.eye(length, dtype=torch.bool, device=sequences.device)
        allowed = (causal & present[:, None, :]) | diagonal  # (B, L, L): query x key
        allowed = allowed.unsqueeze(1)
        bias = None
        if self.training and self.dropout.p > 0 and x.device.type == "cpu":
            bias = torch.zeros(allowed.shape, dtype=x.dtype, device=x.device)
            bias = bias.masked_fill_(~allowed, -math.inf).expand(-1, self.n_heads, -1, -1)
            bias = bias.reshape(-1, length, length)  # (B * heads, L, L)
        for block in self.blocks:
            x = block(x, allowed, bias)
        out: torch.Tensor = self.final_norm(x) * present.unsqueeze(-1)  # zeros at the padding
        return out


class SASRec(SequentialRecommender, Rehearses, Observes, Anchors):
    """SASRec (Kang & McAuley, ICDM 2018): next-item prediction by causal self-attention.

    A user's latest ``max_len`` positive items pass through :class:`SASRecModule`; the output
    at the last position, dotted with the (shared) item embeddings, scores every item. It
    learns to predict each next item at every position of each user's sequence (see
    :class:`~freshrec.models.torch.sequential.SequentialRecommender` for windows, ``partial_fit``
    and :meth:`~freshrec.models.torch.sequential.SequentialRecommender.observe`).

    The defaults are the paper's for ML-1M (``dim=50``, 2 blocks, 1 head, dropout 0.2,
    ``max_len=200``, Adam with ``lr=0.001`` and betas (0.9, 0.98), batch 128) except the
    loss: ``"ce"`` (softmax over all items) ranks far better than the paper's ``"bce"`` with
    one negative (Klenitskiy & Vasilev, RecSys 2023), and costs little below ~100k items;
    ``"sampled-softmax"`` with ``n_negatives`` shared negatives scales to larger catalogues.
    Depth and width scale with ``n_blocks``, ``dim``, ``n_heads`` and ``inner``; a trained
    model grows by a block with :func:`freshrec.update.structure.add_block`.

    **Within a time budget**: ``lr=0.004, lr_schedule="cosine", n_epochs=34`` (a warm-up,
    then a cosine decay to zero over the 34 epochs) reaches the paper's sampled ML-1M figures
    (HR@10 >= 0.80, NDCG@10 >= 0.57) after 4-7 minutes of training on 2 cores and ends after
    about 13 minutes at loo-full NDCG@10 0.1660 (3 seeds; the paper's constant 1e-3 needs
    54-89 epochs for the same); BENCHMARKS.md.

    Parameters
    ----------
    dim
        Width of the item vectors and of every layer.
    n_blocks
        Self-attention blocks.
    n_heads
        Attention heads (must divide ``dim``).
    inner
        Width of the feed-forward layers (``None``: ``dim``, as in the paper).
    dropout
        Dropout rate (the paper: 0.2 for ML-1M, 0.5 for sparse data such as Amazon).
    max_len
        Positions read per user (the paper: 200 for ML-1M, 50 for Amazon).
    loss
        ``"ce"``, ``"sampled-softmax"`` or ``"bce"`` (see
        :data:`~freshrec.models.torch.sequential.LOSSES`).
    n_negatives
        Negatives of ``"sampled-softmax"``, shared by the positions of a mini-batch.
    n_epochs
        Passes over the training windows (the most, with ``valid``).
    lr
        Adam's step size (the peak, with a schedule).
    lr_schedule
        ``"constant"``, or ``"linear"``/``"cosine"``: a warm-up, then a decay to zero over the
        ``n_epochs`` of each ``fit``/``partial_fit`` (:mod:`freshrec.models.torch.schedule`).
    l2
        Adam's weight decay.
    batch_size
        Windows (user sequences) per mini-batch.
    patience
        Epochs without improvement of the validation NDCG@10 before stopping.
    threshold
        Events with ``value >= threshold`` enter the sequences.
    popularity_prior
        Weight of the popularity prior added for users with short sequences (0: none;
        :mod:`freshrec.models.prior`, chosen on validation by
        :func:`~freshrec.models.prior.choose_popularity_prior`).
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    precision
        ``"float32"``, or ``"bf16"``: training steps under bf16 autocast, the loss in float32
        (:mod:`freshrec.models.torch.precision`); scoring stays float32.
    seed
        Seed of the model's RNG.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> model = SASRec(dim=16, max_len=8, n_epochs=5, threshold=3.0).fit(checkerboard_events())
    >>> model.module_.item_embedding.num_embeddings, len(model.history_.loss)
    (17, 5)

    References
    ----------
    .. [1] Kang, McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018.
    .. [2] Klenitskiy, Vasilev, "Turning Dross Into Gold Loss: is BERT4Rec really better
       than SASRec?", RecSys 2023.
    """

    _item_tables: ClassVar[tuple[str, ...]] = ("item_embedding",)
    _adam_betas: ClassVar[tuple[float, float]] = (0.9, 0.98)
    _init_std: ClassVar[float] = 0.02

    def __init__(
        self,
        dim: int = 50,
        n_blocks: int = 2,
        n_heads: int = 1,
        inner: int | None = None,
        dropout: float = 0.2,
        max_len: int = 200,
        loss: str = "ce",
        n_negatives: int = 256,
        n_epochs: int = 200,
        lr: float = 0.001,
        lr_schedule: str = "constant",
        l2: float = 0.0,
        batch_size: int = 128,
        patience: int = 10,
        threshold: float = 1.0,
        popularity_prior: float = 0.0,
        device: str = "cpu",
        precision: str = "float32",
        seed: int | None = 0,
    ) -> None:
        self.dim = dim
        self.n_blocks = n_blocks
        self.n_heads = n_heads
        self.inner = inner
        self.dropout = dropout
        self.max_len = max_len
        self.loss = loss
        self.n_negatives = n_negatives
        self.n_epochs = n_epochs
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.l2 = l2
        self.batch_size = batch_size
        self.patience = patience
        self.threshold = threshold
        self.popularity_prior = popularity_prior
        self.device = device
        self.precision = precision
        self.seed = seed

    def _build_module(self, n_users: int, n_items: int, seed: int) -> nn.Module:
        return SASRecModule(
            n_items,
            self.max_len,
            self.dim,
            self.n_blocks,
            self.n_heads,
            self.inner or self.dim,
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
