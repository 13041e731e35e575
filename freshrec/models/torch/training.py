"""Epoch-by-epoch training with early stopping on a validation split, shared by iterative models.

An iterative model (BPR, ALS, ...) hands :func:`run_epochs` a function that runs one epoch.
Without validation events the function runs a fixed number of epochs. With them it measures
NDCG@k on the validation events after every epoch (each user's training items masked, as at
test time), stops once ``patience`` epochs in a row brought no improvement, and puts back the
learned arrays (``_pass_arrays``) of the best epoch: model choice on the validation split,
as RecBole's trainer does it.

Examples
--------
>>> import numpy as np
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.models.bpr import BPR
>>> events = checkerboard_events()
>>> train, valid = events[:160], events[160:]
>>> model = BPR(n_factors=8, n_epochs=30, patience=3).fit(train, valid=valid)
>>> history = model.history_
>>> history.best_epoch == int(np.argmax(history.valid_ndcg)) + 1
True
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from freshrec.base import RecommenderBase
from freshrec.data.batch import EventBatch
from freshrec.evaluation.metrics import ndcg_at_k
from freshrec.ranking import top_k

__all__ = ["EarlyStopping", "RunState", "TrainingHistory", "ValidationNDCG", "run_epochs"]

_LOG = logging.getLogger("freshrec.training")


@dataclass(frozen=True)
class TrainingHistory:
    """What one training run did, epoch by epoch (epochs are counted from 1).

    Attributes
    ----------
    loss
        Mean training loss of each epoch run.
    valid_ndcg
        Validation NDCG@k after each epoch; empty when no validation events were given.
    best_epoch
        The epoch whose parameters the model kept (the last one without validation; ``0``
        when nothing was trained).
    epoch_s
        Wall seconds of each epoch, its validation included (not compared by ``==``: two
        runs with the same results are equal).

    Examples
    --------
    >>> TrainingHistory(loss=(0.7, 0.5), valid_ndcg=(0.2, 0.1), best_epoch=1).best_epoch
    1
    """

    loss: tuple[float, ...]
    valid_ndcg: tuple[float, ...]
    best_epoch: int
    epoch_s: tuple[float, ...] = field(default=(), compare=False)


class EarlyStopping:
    """Keep the best score seen and say when ``patience`` updates in a row did not beat it.

    A score improves on the best when it exceeds it by more than ``min_delta``; higher is
    better. :meth:`update` also takes a snapshot of the state to keep (a dict of arrays),
    copied only when the score improves.

    Parameters
    ----------
    patience
        Number of updates without improvement after which :attr:`should_stop` is true.
    min_delta
        Smallest increase that counts as an improvement.

    Attributes
    ----------
    best_score, best_epoch, best_state
        The best score, its epoch (1-based update count) and the state copied with it.
    n_updates
        Scores recorded so far.

    Examples
    --------
    >>> stopper = EarlyStopping(patience=2)
    >>> [stopper.update(score) for score in [0.1, 0.3, 0.2, 0.25]]
    [True, True, False, False]
    >>> stopper.should_stop, stopper.best_epoch, stopper.best_score
    (True, 2, 0.3)
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience = patience
        self.min_delta = min_delta
        self.best_score = -np.inf
        self.best_epoch = 0
        self.best_state: dict[str, np.ndarray] = {}
        self.n_updates = 0

    def update(self, score: float, state: dict[str, np.ndarray] | None = None) -> bool:
        """Record the score of the next epoch; return whether it is the new best."""
        self.n_updates += 1
        if score > self.best_score + self.min_delta:
            self.best_score, self.best_epoch = score, self.n_updates
            self.best_state = {name: array.copy() for name, array in (state or {}).items()}
            return True
        return False

    @property
    def should_stop(self) -> bool:
        """Whether the last ``patience`` updates brought no improvement."""
        return self.n_updates - self.best_epoch >= self.patience


@dataclass
class RunState:
    """Where a training pass stands after its latest epoch: what :func:`run_epochs` needs to
    go on from there (with the model's parameters, saved apart).

    Attributes
    ----------
    losses, scores
        Each epoch's mean training loss and, with validation events, validation score.
    stopper
        The early-stopping record (best score, its epoch and that epoch's state).
    seconds
        Each epoch's wall seconds.

    Examples
    --------
    >>> state = RunState([0.9, 0.7], [0.10, 0.12], EarlyStopping(patience=3))
    >>> state.epochs_done
    2
    """

    losses: list[float]
    scores: list[float]
    stopper: EarlyStopping
    seconds: list[float] = field(default_factory=list)

    @property
    def epochs_done(self) -> int:
        """Epochs run so far."""
        return len(self.losses)


class ValidationNDCG:
    """NDCG@k of a fitted model on validation events, each user's training items masked.

    Validation events count when ``value >= model.threshold`` and both their user and their
    item are known to the model; users without any such event are left out. Scores are
    computed ``chunk_size`` users at a time to bound memory.

    Parameters
    ----------
    model
        A fitted recommender; its id maps and log are read once, here.
    valid
        The validation events (external ids).
    k
        Cut-off of the ranking.
    chunk_size
        Users scored at once.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.bpr import BPR
    >>> events = checkerboard_events()
    >>> model = BPR(n_factors=4, n_epochs=5, threshold=3.0).fit(events[:160])
    >>> 0.0 <= ValidationNDCG(model, events[160:])() <= 1.0
    True
    """

    def __init__(
        self, model: RecommenderBase, valid: EventBatch, k: int = 10, chunk_size: int = 2048
    ) -> None:
        self.model = model
        self.k = k
        self.chunk_size = chunk_size
        encoded = model.encode(valid)
        user_idx, item_idx = encoded.indices()
        keep = (user_idx >= 0) & (item_idx >= 0) & (valid.value >= model.threshold)
        self.users = np.unique(user_idx[keep])
        rows = np.searchsorted(self.users, user_idx[keep])
        shape = (len(self.users), model.n_items)
        self.relevant = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, item_idx[keep])), shape=shape
        )
        self.relevant.sum_duplicates()
        self.seen = model.history().to_csr(model.n_users, model.n_items)[self.users]

    def __call__(self) -> float:
        """The mean NDCG@k over the validation users (``nan`` when there are none)."""
        ranked = np.empty((len(self.users), self.k), dtype=np.int64)
        for start in range(0, len(self.users), self.chunk_size):
            stop = start + self.chunk_size
            scores = self.model.score_batch(self.users[start:stop])
            rows, cols = self.seen[start:stop].nonzero()
            scores[rows, cols] = -np.inf
            ranked[start:stop] = top_k(scores, self.k)
        return float(ndcg_at_k(ranked, self.relevant, self.k))


def run_epochs(
    model: RecommenderBase,
    epoch: Callable[[], float],
    n_epochs: int,
    *,
    valid: EventBatch | None = None,
    patience: int = 10,
    k: int = 10,
    resume: RunState | None = None,
    on_epoch: Callable[[RunState], None] | None = None,
) -> TrainingHistory:
    """Run ``epoch`` (one pass; returns its mean loss) up to ``n_epochs`` times.

    With ``valid``, NDCG@k on it is measured after every epoch; training stops after
    ``patience`` epochs without improvement and the state the pass changed
    (``_pass_arrays``) is restored to that of the best epoch. Without ``valid`` all
    ``n_epochs`` run and the last is kept.
    Each epoch is logged at level INFO on the ``freshrec.training`` logger.

    ``resume`` goes on from a pass stopped after ``resume.epochs_done`` epochs (the model
    already holds that epoch's parameters); ``on_epoch`` is called with the state after every
    epoch (to save a checkpoint, see :mod:`freshrec.models.torch.checkpoint`).

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.bpr import BPR
    >>> model = BPR(n_factors=4, n_epochs=1).fit(checkerboard_events())
    >>> losses = iter([0.9, 0.5, 0.4])
    >>> run_epochs(model, lambda: next(losses), 3).loss
    (0.9, 0.5, 0.4)
    >>> run_epochs(model, lambda: 0.3, 3, resume=RunState([0.9, 0.5], [], EarlyStopping())).loss
    (0.9, 0.5, 0.3)
    """
    state = resume or RunState([], [], EarlyStopping(patience))
    evaluate = ValidationNDCG(model, valid, k=k) if valid is not None else None
    if evaluate is not None and not len(evaluate.users):
        evaluate = None  # nothing to validate on: train like without ``valid``
    stopper = state.stopper
    name = type(model).__name__
    while state.epochs_done < n_epochs and not (evaluate is not None and stopper.should_stop):
        began = time.perf_counter()
        state.losses.append(float(epoch()))
        number, loss = state.epochs_done, state.losses[-1]
        if evaluate is None:
            _LOG.info("%s epoch %d/%d: loss %.4f", name, number, n_epochs, loss)
        else:
            state.scores.append(evaluate())
            _LOG.info(
                "%s epoch %d/%d: loss %.4f, valid NDCG@%d %.4f",
                *(name, number, n_epochs, loss, k, state.scores[-1]),
            )
            stopper.update(state.scores[-1], model._pass_arrays())
        state.seconds.append(time.perf_counter() - began)
        if on_epoch is not None:
            on_epoch(state)
    losses, scores, seconds = tuple(state.losses), tuple(state.scores), tuple(state.seconds)
    if evaluate is None or stopper.best_epoch == 0:
        return TrainingHistory(losses, scores, len(losses), seconds)
    model._set_arrays(stopper.best_state)
    return TrainingHistory(losses, scores, stopper.best_epoch, seconds)
