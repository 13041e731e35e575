"""Shared machinery of the sequential recommenders: user histories, training windows, losses.

A sequential model predicts a user's next item from the items they interacted with, in time
order. :class:`SequentialRecommender` keeps each user's positive items in arrival order
(``sequence_log_``), cuts them into training windows of ``max_len`` positions, and trains a
subclass's sequence encoder (:meth:`~SequentialRecommender._encode`) with a next-item loss at
every position. SASRec (:mod:`freshrec.models.sasrec`), GRU4Rec
(:mod:`freshrec.models.gru4rec`) and Caser (:mod:`freshrec.models.caser`) differ only in
their encoder.

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.models.sasrec import SASRec
>>> model = SASRec(dim=8, max_len=6, n_epochs=2).fit(checkerboard_events())
>>> isinstance(model, SequentialRecommender), model.user_sequence("u0")[:2]
(True, ['i2', 'i6'])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar, Self

import numpy as np
import torch
import torch.nn.functional as F

from freshrec.base import _plain
from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.data.interactions import InteractionLog
from freshrec.models.prior import PopularityPrior
from freshrec.models.torch.anchoring import Anchorable
from freshrec.models.torch.distributed import shard, world
from freshrec.models.torch.losses import linear_cross_entropy
from freshrec.models.torch.nn import resolve_device, sample_uniform, train_step
from freshrec.models.torch.precision import check_precision, training_autocast
from freshrec.models.torch.schedule import apply_step_size, check_schedule, step_size_factor
from freshrec.models.torch.torch_base import TorchRecommender
from freshrec.models.torch.training import TrainingHistory
from freshrec.typing import ItemId, UserId

__all__ = ["LOSSES", "SequentialRecommender"]

LOSSES = ("ce", "sampled-softmax", "bpr-max", "bce")
"""Next-item losses: full softmax over all items; softmax against ``n_negatives`` uniform
negatives shared by a mini-batch; GRU4Rec's BPR-max against the same negatives (Hidasi &
Karatzoglou, CIKM 2018; score regularisation ``bpreg = 1``); SASRec's binary cross-entropy
with one negative per position."""

_SEED_BOUND = 2**63
_HISTORY = "history."


class SequentialRecommender(Anchorable, TorchRecommender, PopularityPrior):
    """Base of the recommenders that read a user's item sequence.

    **Histories.** Every positive event (``value >= threshold``) that the model learns or
    :meth:`observe`\\ s is appended to its user's sequence in time order: each batch given to
    ``partial_fit`` or ``observe`` is sorted by timestamp first (ties in row order), and
    batches are taken to arrive in time order. Items enter the module shifted by one, so row
    ``0`` of every item table is padding (``_item_offset = 1``).

    **Training.** A call to ``partial_fit`` trains on the positions whose target is one of
    *its* events, with the user's whole earlier history as context: each user's sequence is
    cut, from its end backwards, into windows of ``max_len`` targets; the inputs of a window
    are the items right before each target (left-padded), and targets learned in an earlier
    call are masked out of the loss. ``fit`` therefore trains on every position, and
    ``partial_fit(new_window)`` continues on the new events only, without forgetting that
    older items are the context of the new ones. The ``loss`` is one of :data:`LOSSES`.

    **Batches.** Each epoch shuffles the windows, sorts pools of 64 batches' worth of them
    by length and cuts the pools into mini-batches (in shuffled order), so a mini-batch
    holds windows of similar lengths; its leading columns that are padding in every row are
    dropped. An encoder must give the same outputs at the non-padding positions of a
    sequence whatever its left padding (``_min_width`` sets the fewest columns it reads).

    **Scoring.** A user is encoded from their latest ``max_len`` items; the score of item
    ``i`` is the dot product of the last position's output with the item's output vector
    (plus its bias, where the model has one), plus the popularity prior of
    :mod:`freshrec.models.prior` when ``popularity_prior`` is set (``n_u``: the length of the
    user's sequence, observed items included). A known user without any positive event is
    scored by the fallback (popularity), like an unknown user.

    **Times.** A model that sets ``_reads_times`` (HSTU) also keeps each history item's
    timestamp (0 for events without one; saved with the model) and gets the inputs'
    timestamps in ``_encode_timed``.

    A subclass writes ``_build_module`` (item tables with ``n_items + 1`` rows, row 0 the
    padding), ``_encode`` and ``_output_items``; it stores ``max_len``, ``loss``,
    ``n_negatives`` and ``popularity_prior`` besides the parameters :class:`TorchRecommender`
    reads.

    Attributes
    ----------
    sequence_log_
        :class:`~freshrec.data.interactions.InteractionLog` of the sequence events, in arrival
        order (each user's latest ``max_len`` are saved with the model: the context it reads).
    history_
        :class:`~freshrec.models.torch.training.TrainingHistory` of the last update.

    Examples
    --------
    >>> from freshrec.data import Event
    >>> from freshrec.models.gru4rec import GRU4Rec
    >>> clicks = [Event("ann", item, 1.0, t) for t, item in enumerate("abcab")]
    >>> model = GRU4Rec(dim=8, max_len=4, n_epochs=3).fit(clicks)
    >>> model.user_sequence("ann"), model.module_.item_embedding.num_embeddings
    (['a', 'b', 'c', 'a', 'b'], 4)
    """

    _item_offset: ClassVar[int] = 1
    _min_width: ClassVar[int] = 1  # inputs are never trimmed below this many positions
    _reads_times: ClassVar[bool] = False  # keep each history item's timestamp for the encoder
    max_len: int
    loss: str
    popularity_prior: float

    # -- hooks for subclasses -----------------------------------------------------------
    def _encode(self, users: torch.Tensor, sequences: torch.Tensor) -> torch.Tensor:
        """Outputs (B, L, d) for ``sequences`` (B, L) of shifted items, 0 = padding.

        Output ``[b, t]`` may depend only on ``sequences[b, :t + 1]`` (and on ``users[b]``).
        """
        raise NotImplementedError

    def _encode_timed(
        self, users: torch.Tensor, sequences: torch.Tensor, times: torch.Tensor | None
    ) -> torch.Tensor:
        """:meth:`_encode`, given also the timestamps (B, L) of the sequences' items when the
        model keeps them (``_reads_times``; 0 at padding), else ``None``."""
        return self._encode(users, sequences)

    def _output_items(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Output vectors (n_items + 1, d) of the shifted items and their biases, or None."""
        raise NotImplementedError

    # -- public -------------------------------------------------------------------------
    def partial_fit(
        self, events: Events, *, valid: EventBatch | None = None, replay: Events | None = None
    ) -> Self:
        """Continue learning from ``events`` (sorted by timestamp first); see the class doc.

        ``replay`` (earlier events, e.g. a replay buffer's sample) are learned again *where
        they stand in their users' histories*: the positions of the history holding those
        (user, item) pairs become targets too, with the items before them as context. They
        are not appended to the histories a second time; pairs the history lacks (older than
        a loaded model's saved context, for one) are skipped.
        """
        return super().partial_fit(as_batch(events).sort_by_time(), valid=valid, replay=replay)

    def observe(self, events: Events) -> Self:
        """Append ``events`` to their users' histories without learning from them.

        The next recommendations read the longer sequences (e.g. the validation item of a
        leave-one-out split, or the clicks of a session since the last update). Events of
        users or items the model has not learned are ignored; ``partial_fit`` learns them.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.data import Event
        >>> from freshrec.models.sasrec import SASRec
        >>> model = SASRec(dim=8, max_len=6, n_epochs=1, threshold=3.0).fit(checkerboard_events())
        >>> before = model.score("u0", ["i1"])
        >>> model.observe([Event("u0", "i7", 5.0)]).user_sequence("u0")[-1]
        'i7'
        >>> bool(model.score("u0", ["i1"]) != before)
        True
        """
        self._check_fitted()
        batch = self.encode(as_batch(events).sort_by_time())
        user_idx, item_idx = batch.indices()
        keep = (user_idx >= 0) & (item_idx >= 0) & (batch.value >= self.threshold)
        self._history().append(user_idx[keep], item_idx[keep], batch.value[keep])
        self._append_times(batch, keep)
        return self

    def user_sequence(self, user: UserId) -> list[ItemId]:
        """The items of ``user``'s history in time order (empty for an unknown user); a loaded
        model's history starts with the latest ``max_len`` items it was saved with."""
        self._check_fitted()
        u = self.user_map_.encode_one(user)
        if u < 0:
            return []
        indptr, items, _ = self._sequences()
        return [_plain(v) for v in self.item_map_.decode(items[indptr[u] : indptr[u + 1]])]

    # -- RecommenderBase hooks ----------------------------------------------------------
    def _learn(self, batch: EventBatch, valid: EventBatch | None) -> None:
        start = self._append_positives(batch)
        self._train(np.arange(len(self._history())) >= start, valid)

    def _rehearse(self, batch: EventBatch, replayed: EventBatch, valid: EventBatch | None) -> None:
        start = self._append_positives(batch)
        again = self._positions_of(replayed)
        self._train((np.arange(len(again)) >= start) | again, valid)

    def _positions_of(self, batch: EventBatch) -> np.ndarray:
        """Flags of the history positions holding one of ``batch``'s (user, item) pairs."""
        users, items, _ = self._history().arrays()
        batch_users, batch_items = batch.indices()
        known = (batch_users >= 0) & (batch_items >= 0)
        wanted = batch_users[known] * self.n_items + batch_items[known]
        return np.isin(users * self.n_items + items, wanted)

    def _loss_terms(self, batch: EventBatch) -> Iterator[tuple[torch.Tensor, int]]:
        """Mean next-item losses over the history positions of ``batch``'s pairs."""
        users, inputs, targets, times = self._windows(self._positions_of(batch))
        generator = torch.Generator().manual_seed(int(self.rng_.integers(_SEED_BOUND)))
        device = resolve_device(self.device)
        for start in range(0, len(users), self.batch_size):
            rows = slice(start, start + self.batch_size)
            y = targets[rows]
            t = times[rows].to(device) if times is not None else None
            hidden = self._encode_timed(users[rows].to(device), inputs[rows].to(device), t)
            loss = self._next_item_loss(hidden, y.to(device), users[rows], generator)
            yield loss, int((y > 0).sum())

    def _append_positives(self, batch: EventBatch) -> int:
        """Append ``batch``'s positives to the histories; return the first new position."""
        history = self._history()
        start = len(history)
        positive = batch.value >= self.threshold
        user_idx, item_idx = batch.indices()
        history.append(user_idx[positive], item_idx[positive], batch.value[positive])
        self._append_times(batch, positive)
        return start

    def _append_times(self, batch: EventBatch, keep: np.ndarray) -> None:
        """Record the timestamps of ``batch``'s kept events (0 without timestamps), when
        the model reads times."""
        if not self._reads_times:
            return
        times = batch.timestamp[keep] if batch.timestamp is not None else np.zeros(keep.sum())
        chunks = self.__dict__.setdefault("time_chunks_", [])
        chunks.append(np.asarray(times, dtype=np.float64))

    def _history_times(self) -> np.ndarray:
        """The timestamp of every history position (in arrival order), joined once per change."""
        chunks: list[np.ndarray] = self.__dict__.setdefault("time_chunks_", [])
        if len(chunks) != 1:
            joined = np.concatenate(chunks) if chunks else np.zeros(0, np.float64)
            chunks[:] = [joined]
        return chunks[0]

    def _train(self, learnable: np.ndarray, valid: EventBatch | None) -> None:
        """Train on the history positions flagged in ``learnable`` (bool per position)."""
        users, inputs, targets, times = self._windows(learnable)
        if not len(users) or self.n_epochs < 1:
            self.history_ = TrainingHistory((), (), 0)
            return
        generator = torch.Generator().manual_seed(int(self.rng_.integers(_SEED_BOUND)))
        device = resolve_device(self.device)

        lengths = (inputs > 0).sum(1)
        schedule = getattr(self, "lr_schedule", "constant")
        check_schedule(schedule)
        precision = getattr(self, "precision", "float32")
        check_precision(precision)
        n_steps = self.n_epochs * -(-len(users) // self.batch_size)  # the batches of n_epochs
        progress = {"step": 0}  # steps taken (a checkpoint saves it)

        def epoch() -> float:
            self.module_.train()
            batches = _bucketed_batches(lengths, self.batch_size, generator)
            total = 0.0
            for rows in batches:
                if schedule != "constant":
                    factor = step_size_factor(schedule, progress["step"], n_steps)
                    progress["step"] += 1
                    apply_step_size(self.optimizer_, self.lr * factor)
                width = max(int(lengths[rows].max()), self._min_width)
                n_targets = int((targets[rows] > 0).sum())
                rows = shard(rows)  # this process's share (all of them, alone)
                x, y = inputs[rows, -width:], targets[rows, -width:]
                t = times[rows, -width:].to(device) if times is not None else None
                if len(rows):
                    with training_autocast(precision, device):
                        hidden = self._encode_timed(users[rows].to(device), x.to(device), t)
                    hidden = hidden.float()  # the loss in float32
                    loss = self._next_item_loss(hidden, y.to(device), users[rows], generator)
                    loss = loss * (int((y > 0).sum()) * world()[1] / n_targets)  # batch mean
                else:  # more processes than rows: take part in the averaging with zeros
                    loss = torch.zeros((), device=device, requires_grad=True)
                loss = loss + self._anchor_penalty()
                total += train_step(self.module_, self.optimizer_, loss)
            return total / len(batches)

        # dropout draws from torch's global RNG: seed it from ``rng_`` and restore it after
        cuda = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(int(self.rng_.integers(_SEED_BOUND)))
            generators = {"batches": generator, "dropout": torch.default_generator}
            if cuda:
                generators["cuda"] = torch.cuda.default_generators[device.index or 0]
            self.history_ = self._run_epochs(
                epoch, valid, generators, progress, data=(users, inputs, targets, times)
            )

    @torch.no_grad()
    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        device = resolve_device(self.device)
        n_cols = self.n_items if item_idx is None else len(item_idx)
        out = np.empty((len(user_idx), n_cols), dtype=np.float64)
        indptr, _, _ = self._sequences()
        empty = indptr[user_idx + 1] == indptr[user_idx]
        if empty.any():
            out[empty] = self._fallback_scores(item_idx)
        rows = np.flatnonzero(~empty)
        if not len(rows) or not n_cols:
            return out
        self.module_.eval()
        cols = np.arange(self.n_items) if item_idx is None else np.asarray(item_idx)
        shifted = torch.from_numpy(cols.astype(np.int64) + 1).to(device)
        vectors, bias = self._output_items()
        vectors = vectors[shifted]
        bias = bias[shifted] if bias is not None else None
        lengths = np.minimum(indptr[user_idx + 1] - indptr[user_idx], self.max_len)
        rows = rows[np.argsort(lengths[rows], kind="stable")]  # similar lengths together
        step = max(1, min(1024, self.score_chunk // max(self.max_len, n_cols)))
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            width = max(int(lengths[chunk].max()), self._min_width)
            users = torch.from_numpy(user_idx[chunk].astype(np.int64))
            sequences, times = self._latest(users.numpy())
            sequences = sequences[:, -width:]
            times = times[:, -width:].to(device) if times is not None else None
            hidden = self._encode_timed(users.to(device), sequences.to(device), times)
            logits = hidden[:, -1] @ vectors.T
            if bias is not None:
                logits = logits + bias
            out[chunk] = logits.double().cpu().numpy()
        if self.popularity_prior:
            out[rows] = self._with_prior(out[rows], user_idx[rows], item_idx)
        return out

    def history_lengths(self) -> np.ndarray:
        """The length of every user's sequence (observed items included)."""
        return np.diff(self._sequences()[0]).astype(np.float64)

    # -- state ----------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        """The module's state and each user's latest ``max_len`` items: the context every
        later score reads, and all a later update's windows reach back to (their targets'
        inputs start at most ``max_len`` items before the first new one)."""
        arrays = super()._arrays()
        users, items, values = self._history().arrays()
        indptr, _, positions = self._sequences()
        rank = np.arange(len(positions)) - np.repeat(indptr[:-1], np.diff(indptr))
        from_end = np.repeat(np.diff(indptr), np.diff(indptr)) - rank  # 1 = the latest item
        keep = np.sort(positions[from_end <= self.max_len])
        arrays.update(
            {
                f"{_HISTORY}user_idx": users[keep],
                f"{_HISTORY}item_idx": items[keep],
                f"{_HISTORY}value": values[keep],
            }
        )
        if self._reads_times:
            arrays[f"{_HISTORY}time"] = self._history_times()[keep]
        return arrays

    def _pass_arrays(self) -> dict[str, np.ndarray]:
        """``_arrays`` without the history: a pass does not change it, and putting the saved
        latest items back would drop the older ones (the seen items a ranking masks)."""
        return super()._arrays()

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        super()._set_arrays(arrays)
        if f"{_HISTORY}user_idx" in arrays:
            history = InteractionLog()
            history.append(
                arrays[f"{_HISTORY}user_idx"],
                arrays[f"{_HISTORY}item_idx"],
                arrays[f"{_HISTORY}value"],
            )
            self.sequence_log_ = history
            self.__dict__.pop("sequences_", None)
            if self._reads_times:
                times = arrays.get(f"{_HISTORY}time")
                self.time_chunks_ = [
                    np.zeros(len(history)) if times is None else np.asarray(times, np.float64)
                ]

    # -- sequences ------------------------------------------------------------------------
    def _history(self) -> InteractionLog:
        if not hasattr(self, "sequence_log_"):
            self.sequence_log_ = InteractionLog()
        return self.sequence_log_

    def _sequences(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(indptr, items, positions)``: user ``u``'s items in arrival order are
        ``items[indptr[u]:indptr[u + 1]]``, at ``positions`` of the history."""
        users, items, _ = self._history().arrays()
        key = (len(users), self.n_users)
        cached = getattr(self, "sequences_", None)
        if cached is None or cached[0] != key:
            order = np.argsort(users, kind="stable")
            indptr = np.zeros(self.n_users + 1, dtype=np.int64)
            np.cumsum(np.bincount(users, minlength=self.n_users), out=indptr[1:])
            self.sequences_ = (key, indptr, items[order], order)
        return self.sequences_[1], self.sequences_[2], self.sequences_[3]

    def _latest(self, user_idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The latest ``max_len`` shifted items of each user, left-padded with 0: (B, L), and
        their timestamps (0 at padding) when the model reads times, else ``None``."""
        indptr, items, positions = self._sequences()
        clock = self._history_times() if self._reads_times else None
        out = np.zeros((len(user_idx), self.max_len), dtype=np.int64)
        times = np.zeros(out.shape) if clock is not None else None
        for row, u in enumerate(user_idx):
            lo, hi = max(indptr[u], indptr[u + 1] - self.max_len), indptr[u + 1]
            out[row, self.max_len - (hi - lo) :] = items[lo:hi] + 1
            if times is not None and clock is not None:
                times[row, self.max_len - (hi - lo) :] = clock[positions[lo:hi]]
        return torch.from_numpy(out), None if times is None else torch.from_numpy(times)

    def _windows(
        self, learnable: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Training windows over the targets at the history positions flagged ``learnable``.

        Each user's sequence is cut from its end backwards into windows of ``max_len``
        targets, down to the first learnable position; windows without one are skipped.
        Returns ``(users (W,), inputs (W, L), targets (W, L), times)``, items shifted by one,
        0 for padding and for the targets not to learn (e.g. learned before); ``times`` are
        the inputs' timestamps (W, L) when the model reads times, else ``None``.
        """
        indptr, items, positions = self._sequences()
        flags = learnable[positions]  # per sequence slot
        flags[indptr[:-1][np.diff(indptr) > 0]] = False  # a first item has no context
        length = self.max_len
        spans: list[tuple[int, int, int]] = []  # (user, lo, end)
        for user in np.flatnonzero(np.diff(indptr) >= 2).tolist():
            lo, hi = int(indptr[user]), int(indptr[user + 1])
            flagged = np.flatnonzero(flags[lo:hi])
            if not len(flagged):
                continue
            first = lo + int(flagged[0])
            for end in range(hi, first, -length):
                if flags[max(end - length, first) : end].any():
                    spans.append((user, lo, end))
        users = np.empty(len(spans), dtype=np.int64)
        inputs = np.zeros((len(spans), length), dtype=np.int64)
        targets = np.zeros((len(spans), length), dtype=np.int64)
        clock = self._history_times() if self._reads_times else None
        times = np.zeros(inputs.shape) if clock is not None else None
        for row, (u, lo, end) in enumerate(spans):
            users[row] = u
            begin = max(end - length, lo + 1)  # first target of the window
            n = end - begin
            inputs[row, length - n :] = items[begin - 1 : end - 1] + 1
            targets[row, length - n :] = np.where(flags[begin:end], items[begin:end] + 1, 0)
            if times is not None and clock is not None:
                times[row, length - n :] = clock[positions[begin - 1 : end - 1]]
        return (
            torch.from_numpy(users),
            torch.from_numpy(inputs),
            torch.from_numpy(targets),
            None if times is None else torch.from_numpy(times),
        )

    # -- loss -----------------------------------------------------------------------------
    def _next_item_loss(
        self,
        hidden: torch.Tensor,
        targets: torch.Tensor,
        users: torch.Tensor,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Mean next-item loss over the positions with a target (``targets > 0``)."""
        mask = targets > 0
        h = hidden[mask]
        positive = targets[mask]
        vectors, bias = self._output_items()

        def logits_of(items: torch.Tensor) -> torch.Tensor:  # (M, n): every h x every item
            out = h @ vectors[items].T
            return out if bias is None else out + bias[items]

        def logit_pairs(items: torch.Tensor) -> torch.Tensor:  # (M,): h[m] x items[m]
            out = (h * vectors[items]).sum(-1)
            return out if bias is None else out + bias[items]

        if self.loss == "ce":
            every = slice(1, self.n_items + 1)
            return linear_cross_entropy(
                h, vectors[every], positive - 1, bias[every] if bias is not None else None
            )
        if self.loss in ("sampled-softmax", "bpr-max"):
            negatives = torch.randint(1, self.n_items + 1, (self.n_negatives,), generator=generator)
            negatives = negatives.to(h.device)
            hits = negatives[None, :] == positive[:, None]
            neg = logits_of(negatives).masked_fill(hits, -torch.inf)
            pos = logit_pairs(positive)
            if self.loss == "bpr-max":
                weights = torch.softmax(neg, dim=1)  # accidental hits get weight 0
                ranked = (weights * torch.sigmoid(pos[:, None] - neg)).sum(1)
                penalty = (weights * neg.masked_fill(hits, 0.0) ** 2).sum(1)
                return (-torch.log(ranked + 1e-24) + penalty).mean()
            logits = torch.cat([pos[:, None], neg], dim=1)
            return F.cross_entropy(logits, torch.zeros(len(h), dtype=torch.long, device=h.device))
        if self.loss == "bce":
            rows = users[:, None].expand_as(targets)[mask.cpu()]
            negatives = (
                sample_uniform(
                    self.n_items, (len(rows),), generator, exclude=self.positives_csr(), users=rows
                ).to(h.device)
                + 1
            )
            pos, neg = logit_pairs(positive), logit_pairs(negatives)
            return F.binary_cross_entropy_with_logits(
                pos, torch.ones_like(pos)
            ) + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
        raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")


def _bucketed_batches(
    lengths: torch.Tensor, batch_size: int, generator: torch.Generator, pool: int = 64
) -> list[torch.Tensor]:
    """Shuffled mini-batches of row indices whose rows have similar ``lengths``.

    Examples
    --------
    >>> batches = _bucketed_batches(torch.tensor([5, 1, 4, 2]), 2, torch.Generator())
    >>> sorted(sorted(b.tolist()) for b in batches)
    [[0, 2], [1, 3]]
    """
    order = torch.randperm(len(lengths), generator=generator)
    batches: list[torch.Tensor] = []
    for start in range(0, len(order), batch_size * pool):
        chunk = order[start : start + batch_size * pool]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches.extend(torch.split(chunk, batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
