"""BPR: matrix factorization trained on pairwise rankings with per-sample SGD (numba)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import ClassVar, Self

import numba
import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from freshrec.capabilities import (
    Anchors,
    DistilsFromSelf,
    FactorTables,
    FoldsIn,
    GrowsAndEvicts,
    HasItemRows,
    InnerProductScores,
    LearnsRank,
    Rehearses,
)
from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.models.int8 import Int8Factors
from freshrec.models.prior import PopularityPrior
from freshrec.models.torch.training import TrainingHistory, run_epochs
from freshrec.tables import grow_rows
from freshrec.typing import RowInit

__all__ = ["BPR"]

_PARAMS = ("user_factors_", "item_factors_", "item_bias_")
_PULLS = (*_PARAMS, *(f"{name}weight" for name in _PARAMS))  # references, then weights


class BPR(
    Int8Factors,
    LearnsRank,
    Rehearses,
    GrowsAndEvicts,
    Anchors,
    DistilsFromSelf,
    FactorTables,
    HasItemRows,
    FoldsIn,
    InnerProductScores,
    PopularityPrior,
):
    """Bayesian Personalized Ranking matrix factorization (Rendle et al., 2009).

    The score of item ``i`` for user ``u`` is ``x_ui = p_u . q_i + b_i``. Each training
    sample is a positive event ``(u, i)`` (``value >= threshold``) with a negative item ``j``
    drawn uniformly among the items ``u`` has no positive for; one SGD step ascends
    ``ln sigmoid(x_ui - x_uj) - l2 * (|p_u|^2 + |q_i|^2 + |q_j|^2 + b_i^2 + b_j^2) / 2``.
    An epoch visits the positives in a random order in a loop compiled with numba (float32
    arithmetic), seeded from the model's RNG. With ``n_threads=1`` (the default) it runs on
    one thread and results are reproducible; with more, the shuffled positives are cut into
    one run per thread and the threads update the shared tables without locks (Hogwild,
    Niu et al. 2011): faster, as accurate, but not bit-reproducible. The step size
    decays linearly over the epochs of each ``fit``/``partial_fit``: epoch ``e`` (from 0) uses
    ``lr * (1 - e / n_epochs)``, which lets the last epochs settle instead of wandering.

    ``partial_fit(new_events)`` adds rows for new users and items (normal, std ``0.1``) and
    runs ``n_epochs`` passes over the *new* positives only; negatives come from all items and
    a user's positives from everything learned so far. The default ``n_epochs`` suits a full
    fit; for small streaming batches fewer passes (``set_params(n_epochs=3)``) are cheaper and
    less likely to over-fit the newest events. ``fit(events, valid=...)`` picks the
    number of epochs on validation events: NDCG@10 after every epoch, stop after ``patience``
    epochs without improvement, keep the best epoch (see :mod:`freshrec.models.torch.training`).

    Parameters
    ----------
    n_factors
        Length of the user and item vectors.
    n_epochs
        Passes over the positives of each ``fit``/``partial_fit`` (the most, with ``valid``).
    lr
        SGD step size of the first epoch (then decaying linearly, see above).
    l2
        L2 penalty on the vectors and biases touched by each step.
    item_bias
        Learn a bias per item (kept at zero otherwise).
    patience
        Epochs without improvement of the validation NDCG@10 before stopping.
    threshold
        Events with ``value >= threshold`` are positives.
    popularity_prior
        Weight of the popularity prior added for users with short histories (0: none;
        :mod:`freshrec.models.prior`, chosen on validation by
        :func:`~freshrec.models.prior.choose_popularity_prior`).
    n_threads
        Threads of each training epoch (0: all numba may use); 1 is reproducible.
    seed
        Seed of the model's RNG (initial vectors and the sampling seeds).

    Attributes
    ----------
    user_factors_, item_factors_
        ``float32`` arrays of shape (n_users, n_factors) and (n_items, n_factors); held as
        int8 rows after :meth:`quantize_tables` (:mod:`freshrec.models.int8`).
    item_bias_
        ``float32`` array of shape (n_items,).
    history_
        :class:`~freshrec.models.torch.training.TrainingHistory` of the last ``fit``/``partial_fit``
        (diagnostics; not saved).

    Examples
    --------
    >>> from freshrec.data import Event
    >>> events = [Event(u, i) for u, i in [("ann", "a"), ("ann", "b"), ("bob", "a"),
    ...                                    ("bob", "b"), ("bob", "c"), ("cat", "c")]]
    >>> model = BPR(n_factors=8, n_epochs=200, lr=0.1, l2=0.001).fit(events)
    >>> [s.item for s in model.recommend("ann", k=1, exclude=["a", "b"])]
    ['c']
    >>> model.score("ann", ["a", "b", "zzz"]).shape
    (3,)

    Notes
    -----
    **Defaults, measured.** Chosen on MovieLens-1M under RecBole's published protocol:
    ratings >= 3 kept (836,478 events), one per-user random 8:1:1 split (fixed), training on
    the training part, ``fit(train, valid=valid)`` (model choice on the validation NDCG@10),
    test ranking over all items with each user's training and validation items masked,
    NDCG@10 and Recall@10 averaged over the 6,038 users with a test item. Seeds 0, 1, 2
    (``threshold=3.0``, everything else default; one core, numba compilation cached):

    ======  ========  =========  ==========  =========================
    seed    NDCG@10   Recall@10  best epoch  fit (s, with validation)
    ======  ========  =========  ==========  =========================
    0       0.2541    0.1837     98          79
    1       0.2540    0.1830     100         79
    2       0.2557    0.1856     98          79
    mean    0.2546    0.1841
    ======  ========  =========  ==========  =========================

    RecBole's published BPR figures on the same protocol are NDCG@10 0.2401 and Recall@10
    0.1776. ``freshrec evaluate --dataset ml-1m --model bpr --protocol random --min-rating 3
    --seeds 0,1,2`` draws its split with the library's own RNG and measured 0.2495 / 0.1819
    with the float32 epoch (0.2484 / 0.1805 with the earlier float64 one, which the table
    above also used; mean of the three seeds; BENCHMARKS.md). Without ``valid`` (all 100
    epochs) seed 0 scores 0.2546 / 0.1840 in 33 s (float64 epoch).
    Tuning (seed 0): with a constant step size, nine combinations of ``lr`` in {0.01, 0.02,
    0.03, 0.05, 0.1} and ``l2`` in {0.003, 0.005, 0.01, 0.02, 0.03} peaked at ``lr=0.02``,
    ``l2=0.01`` (0.2482 / 0.1819), but the validation curve stayed noisy, so early stopping
    fired too soon on other seeds (0.2369, 0.2397); the linear decay removes that noise. A
    RecBole-style reference (Adam, lr 0.001, batches of 2048, no L2, same harness) reached
    0.2372 / 0.1742.

    **Small, popularity-dominated data: no size rule needed.** On the ten proxies of a data set
    of FilmTrust's shape (about 35,000 half-star ratings; ``benchmarks/small_data_defaults.py``,
    random 8:1:1 protocol, seeds 0, 1, 2) the defaults reach 0.97x-0.98x of MostPopular's
    NDCG@10 on the three MovieLens-1M proxies, where popularity is nearly all there is to
    learn (the item bias learns it), and 1.15x-2.37x on the other seven. On two of the
    MovieLens-1M proxies ``l2`` 0.03 or 0.1, 16 factors and ``lr`` 0.01 or 0.1 all scored
    0.94x-0.99x, no better; ``lr=0.1`` helped where personal taste matters more (Last.fm,
    MovieLens-100K) but not there, nor on MovieLens-1M above.

    References
    ----------
    .. [1] Rendle, Freudenthaler, Gantner, Schmidt-Thieme, "BPR: Bayesian Personalized
       Ranking from Implicit Feedback", UAI 2009.
    """

    _state_arrays: ClassVar[tuple[str, ...]] = _PARAMS
    _init_std: ClassVar[float] = 0.1

    def __init__(
        self,
        n_factors: int = 64,
        n_epochs: int = 100,
        lr: float = 0.03,
        l2: float = 0.01,
        item_bias: bool = True,
        patience: int = 10,
        threshold: float = 1.0,
        popularity_prior: float = 0.0,
        n_threads: int = 1,
        seed: int | None = 0,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.l2 = l2
        self.item_bias = item_bias
        self.patience = patience
        self.threshold = threshold
        self.popularity_prior = popularity_prior
        self.n_threads = n_threads
        self.seed = seed

    def _grow(self, n_users: int, n_items: int) -> None:
        if not hasattr(self, "user_factors_"):
            self.user_factors_ = np.zeros((0, self.n_factors), np.float32)
            self.item_factors_ = np.zeros((0, self.n_factors), np.float32)
            self.item_bias_ = np.zeros(0, np.float32)
        self.user_factors_ = grow_rows(self.user_factors_, n_users, self.rng_, self._init_std)
        self.item_factors_ = grow_rows(self.item_factors_, n_items, self.rng_, self._init_std)
        self.item_bias_ = grow_rows(self.item_bias_, n_items)

    def learn_rank(
        self, events: Events, *, steps: int = 1, exclude_seen: bool = True
    ) -> np.ndarray:
        """Test-then-train, one event at a time in the order given; return each event's rank.

        Each positive event's item is first ranked for its user among the items seen so far
        by the model as it stands (0 = top; the user's earlier positives masked unless
        ``exclude_seen=False``; an item seen for the first time gets a rank larger than any
        catalogue, a miss at every cut-off), then learned with ``steps`` SGD steps at the
        constant rate ``lr``, each against a uniform negative among the seen items the user
        has no positive for (the step of the class doc; ``n_epochs`` is not used). Events
        below ``threshold`` rank ``-1`` and only enter the log. One compiled loop does both,
        so ``ranks < k`` is the prequential hit@k stream of online BPR.

        Examples
        --------
        >>> from freshrec.data.synthetic import synthetic_stream
        >>> stream = synthetic_stream(n_users=300, n_items=100, n_events=20000, seed=0).events
        >>> ranks = BPR(n_factors=16, lr=0.05, seed=0).learn_rank(stream)
        >>> hits = ranks < 10  # hit@10 of each event, before it was learned
        >>> bool(hits[-4000:].mean() > hits[:4000].mean() + 0.05)  # it learns as it goes
        True
        """
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        fitted = self.is_fitted
        before = self.positives_csr() if fitted else None
        n_known = len(self.item_map_) if fitted else 0
        free = self.item_map_.free_slots if fitted else np.zeros(0, np.int64)
        batch = self._admit(events)
        user_idx, item_idx = batch.indices()
        positive = batch.value >= self.threshold
        return self._learn_rank(
            user_idx, item_idx, positive, before, n_known, free, steps, exclude_seen
        )

    def fold_in(self, events: Events, *, steps: int = 1) -> Self:
        """Fold the positive events into their users' vectors alone (:class:`FoldsIn`).

        ``steps`` passes over the positives on known items, in the order given: each is the
        SGD step of the class doc at the constant rate ``lr`` on ``p_u`` only, against a
        uniform negative (drawn from ``rng_``) that the user has no positive for, learned or
        in ``events``. An unknown user first gets a row as ``partial_fit`` would give it. The
        item vectors and biases, the counts, the cursor and the history stay as they are.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.data import Event
        >>> model = BPR(n_factors=4, n_epochs=5).fit(checkerboard_events())
        >>> before = model.score("u0", ["i9"])[0]
        >>> after = model.fold_in([Event("u0", "i9")] * 3, steps=5).score("u0", ["i9"])[0]
        >>> bool(after > before), model.n_events_
        (True, 192)
        """
        self._check_fitted()
        batch = self.encode(as_batch(events)).positives(self.threshold)
        batch = batch.take(batch.indices()[1] >= 0)  # an unknown item has no vector to use
        n_users = self.n_users
        rows = self._map_new(self.user_map_, batch.user)
        self._grow(self.n_users, self.n_items)
        self._init_rows(rows[rows < n_users], np.zeros(0, np.int64), "normal")  # evicted slots
        users, items = self.user_map_.encode(batch.user).tolist(), batch.indices()[1].tolist()
        liked = {u: set(items.tolist()) for u, items in self._positives_of(users).items()}
        for u, i in zip(users, items, strict=True):
            liked[u].add(i)
        for _ in range(steps):
            for u, i in zip(users, items, strict=True):
                if len(liked[u]) >= self.n_items:
                    continue  # the user likes every item: no negative exists
                j = int(self.rng_.integers(self.n_items))
                while j in liked[u]:
                    j = int(self.rng_.integers(self.n_items))
                p_u, diff = self.user_factors_[u], self.item_factors_[i] - self.item_factors_[j]
                x = float(p_u @ diff + self.item_bias_[i] - self.item_bias_[j])
                p_u += self.lr * (_sigmoid(-x) * diff - self.l2 * p_u)
        return self

    def _learn(self, batch: EventBatch, valid: EventBatch | None = None) -> None:
        positive = batch.value >= self.threshold
        user_idx, item_idx = batch.indices()
        users, items = user_idx[positive], item_idx[positive]
        if not len(users):
            self.history_ = TrainingHistory((), (), 0)
            return
        seen = self.positives_csr()
        indptr, indices = seen.indptr.astype(np.int64), seen.indices.astype(np.int32)
        # copies, shuffled in place by every epoch; int32 halves the cache lines they fill
        users, items = users.astype(np.int32), items.astype(np.int32)
        _shuffle(users, items, int(self.rng_.integers(2**31)))  # runs of one thread per epoch

        step_sizes = iter(self.lr * (1.0 - np.arange(self.n_epochs) / self.n_epochs))
        anchor = self._grown(getattr(self, "anchor_", None))
        teacher = getattr(self, "teacher_", None)  # indexes only the rows it knows
        empty = {  # typed like the tables, so that numba compiles one version
            key: np.zeros((0, *getattr(self, key.removesuffix("weight")).shape[1:]), np.float32)
            for key in _PULLS
        }
        pulls = anchor or empty
        taught = teacher or empty
        teach_weight = float(getattr(self, "teacher_weight_", 0.0)) if teacher else 0.0
        n_threads = _resolve_threads(self.n_threads)

        def epoch() -> float:
            settings = (next(step_sizes), self.l2, teach_weight)
            tables = (self.user_factors_, self.item_factors_, self.item_bias_)
            references = tuple(pulls[key] for key in _PULLS)
            teachers = (taught["user_factors_"], taught["item_factors_"], taught["item_bias_"])
            samples = (users, items, indptr, indices)
            flags = (self.item_bias, anchor is not None)
            seed = int(self.rng_.integers(2**31))
            if n_threads == 1:
                total, n_done = _serial_epoch(
                    tables, samples, settings, flags, references, teachers, seed
                )
            else:
                with _numba_threads(n_threads):
                    total, n_done = _hogwild_epoch(
                        tables, samples, settings, flags, references, teachers, seed, n_threads
                    )
            return float(total / max(n_done, 1))

        self.history_ = run_epochs(self, epoch, self.n_epochs, valid=valid, patience=self.patience)

    def _learn_rank(
        self,
        user_idx: np.ndarray,
        item_idx: np.ndarray,
        positive: np.ndarray,
        before: sp.csr_matrix | None,
        n_known: int,
        free: np.ndarray,
        steps: int,
        exclude_seen: bool,
    ) -> np.ndarray:
        """Rank, then learn, each event in order (see :meth:`learn_rank`); the ranks."""
        from freshrec.models.online_ranking import prequential_rank_pass

        item_seen = np.zeros(self.n_items, dtype=np.bool_)
        item_seen[:n_known] = True
        item_seen[free] = False
        if before is None:
            indptr, indices = np.zeros(1, np.int64), np.zeros(0, np.int64)
        else:
            indptr, indices = before.indptr.astype(np.int64), before.indices.astype(np.int64)
        ranks = np.empty(len(user_idx), dtype=np.int64)
        prequential_rank_pass(
            self.user_factors_,
            self.item_factors_,
            self.item_bias_,
            user_idx.astype(np.int64),
            item_idx.astype(np.int64),
            positive,
            indptr,
            indices,
            item_seen,
            float(self.lr),
            float(self.l2),
            bool(self.item_bias),
            steps,
            exclude_seen,
            int(self.rng_.integers(2**31)),
            ranks,
        )
        self.history_ = TrainingHistory((), (), 0)
        return ranks

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        bias = self.item_bias_ if item_idx is None else self.item_bias_[item_idx]
        scores = np.asarray(self._factor_scores(user_idx, item_idx) + bias, dtype=np.float64)
        return self._with_prior(scores, user_idx, item_idx)

    def _item_vectors(self) -> np.ndarray:
        return self._factor_rows("item_factors_")

    def item_keys(self) -> np.ndarray:
        """Item rows for an inner-product index: ``[q_i, b_i]`` (:class:`InnerProductScores`),
        and ``log(1 + n_i)`` with a popularity prior."""
        columns = [self._factor_rows("item_factors_"), self.item_bias_[:, None]]
        if self.popularity_prior:
            columns.append(self.prior_columns(np.zeros(0, np.int64))[1][:, None])
        return np.hstack(columns).astype(np.float32)

    def user_queries(self, user_idx: np.ndarray) -> np.ndarray:
        """``[p_u, 1]`` per user (and the prior's weight): its products with
        :meth:`item_keys` are the scores."""
        user_idx = np.asarray(user_idx, dtype=np.int64)
        rows = self._factor_rows("user_factors_", user_idx)
        columns = [rows, np.ones((len(rows), 1), rows.dtype)]
        if self.popularity_prior:
            columns.append(self.prior_columns(user_idx)[0][:, None])
        return np.hstack(columns).astype(np.float32)

    def _init_rows(self, user_rows: np.ndarray, item_rows: np.ndarray, init: RowInit) -> None:
        for table, rows in (
            (self.user_factors_, user_rows),
            (self.item_factors_, item_rows),
            (self.item_bias_, item_rows),
        ):
            if not len(rows):
                continue
            if init == "normal":
                fresh = self.rng_.normal(0.0, self._init_std, (len(rows), *table.shape[1:]))
                table[rows] = 0.0 if table.ndim == 1 else fresh
            elif init == "zero":
                table[rows] = 0.0
            elif init == "mean":
                others = np.ones(len(table), dtype=bool)
                others[rows] = False
                table[rows] = table[others].mean(0) if others.any() else 0.0
            else:
                raise ValueError(f"init must be 'normal', 'zero' or 'mean', got {init!r}")

    # -- forgetting control (freshrec.update.forgetting) -----------------------------------
    def fisher(self, events: Events) -> dict[str, np.ndarray]:
        """Empirical Fisher information of the parameters on ``events``' positives.

        The sum over the positives (known ids; one uniformly drawn negative each) of the
        squared gradient of ``ln sigmoid(x_ui - x_uj)``, per parameter entry: large where
        the parameter matters to what these events taught. Keys as in :meth:`anchor`.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> model = BPR(n_factors=4, n_epochs=5).fit(checkerboard_events())
        >>> info = model.fisher(checkerboard_events())
        >>> info["item_factors_"].shape == model.item_factors_.shape
        True
        >>> bool((info["user_factors_"] >= 0).all() and info["user_factors_"].sum() > 0)
        True
        """
        self._check_fitted()
        batch = self.encode(as_batch(events)).positives(self.threshold)
        user_idx, item_idx = batch.indices()
        known = (user_idx >= 0) & (item_idx >= 0)
        seen = self.positives_csr()
        out = {name: np.zeros_like(getattr(self, name)) for name in _PARAMS}
        _fisher_pass(
            self.user_factors_,
            self.item_factors_,
            self.item_bias_,
            user_idx[known],
            item_idx[known],
            seen.indptr.astype(np.int64),
            seen.indices.astype(np.int64),
            int(self.rng_.integers(2**31)),
            *(out[name] for name in _PARAMS),
        )
        return out

    def anchor(self, weights: Mapping[str, np.ndarray] | None) -> Self:
        """Pull the parameters toward their current values in later updates (EWC).

        Each SGD step on a sample also descends ``sum w * (theta - theta_now)^2 / 2`` over
        the rows it touches, with per-entry ``weights`` keyed ``user_factors_``,
        ``item_factors_`` and ``item_bias_`` (e.g. strength times :meth:`fisher`). Rows
        added later have weight 0. ``None`` removes the anchor. Not saved with the model.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> events = checkerboard_events()
        >>> model = BPR(n_factors=4, n_epochs=5).fit(events[:100])
        >>> before = model.item_factors_.copy()
        >>> weights = {k: np.full_like(v, 1e3) for k, v in model.fisher(events[:100]).items()}
        >>> moved = np.abs(model.anchor(weights).partial_fit(events[100:]).item_factors_[:5]
        ...                - before[:5]).max()
        >>> bool(moved < 0.01)  # held in place
        True
        """
        if weights is None:
            self.__dict__.pop("anchor_", None)
            return self
        self._check_fitted()
        anchor = {name: getattr(self, name).copy() for name in _PARAMS}
        for name in _PARAMS:
            weight = np.asarray(weights[name], np.float32)
            if weight.shape != anchor[name].shape:
                raise ValueError(
                    f"anchor weights {name!r} have shape {weight.shape}, "
                    f"expected {anchor[name].shape}"
                )
            anchor[f"{name}weight"] = weight
        self.anchor_ = anchor
        return self

    def distil_from_self(self, weight: float) -> Self:
        """Distil from a frozen copy of the current parameters during later updates.

        Each SGD step also draws a random triple (a user the teacher knows, two random
        items it knows) and moves the model's ``sigmoid(x_uij)`` toward the teacher's
        (cross-entropy with the teacher's soft label, scaled by ``weight``): the new
        version keeps ranking old users' items as the previous one did. ``weight=0``
        removes the teacher. Not saved with the model.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> model = BPR(n_factors=4, n_epochs=5).fit(checkerboard_events())
        >>> model.distil_from_self(0.5).teacher_weight_
        0.5
        """
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        if weight == 0:
            for name in ("teacher_", "teacher_weight_"):
                self.__dict__.pop(name, None)
            return self
        self._check_fitted()
        self.teacher_ = {name: getattr(self, name).copy() for name in _PARAMS}
        self.teacher_weight_ = float(weight)
        return self

    # -- item rows (freshrec.update.item_init) ---------------------------------------------
    def item_tables(self) -> dict[str, int]:
        """``{"item_factors_": n_factors}``: the item vectors (the biases go with them)."""
        self._check_fitted()
        return {"item_factors_": self._factor_shape("item_factors_")[1]}

    def item_rows(self, table: str) -> np.ndarray:
        """A copy of ``item_factors_`` (dequantized when int8)."""
        self._check_item_table(table)
        return np.array(self._factor_rows("item_factors_"), copy=True)

    def write_item_rows(
        self,
        table: str,
        item_idx: np.ndarray,
        rows: np.ndarray,
        *,
        bias: float | np.ndarray | None = None,
    ) -> None:
        """Write ``item_factors_[item_idx] = rows`` and, when the model learns item biases,
        ``item_bias_[item_idx] = bias`` (``None``: the mean bias of the other items)."""
        self._check_item_table(table)
        if bias is None:
            others = np.ones(self.n_items, dtype=bool)
            others[item_idx] = False
            bias = float(self.item_bias_[others].mean()) if others.any() else 0.0
        biases = np.broadcast_to(np.asarray(bias, dtype=np.float64), (len(item_idx),))
        if not np.all(np.isfinite(biases)):
            raise ValueError("bias holds NaN or infinite values")
        self.item_factors_[item_idx] = np.asarray(rows).astype(self.item_factors_.dtype)
        if self.item_bias:
            self.item_bias_[item_idx] = biases.astype(self.item_bias_.dtype)

    def _check_item_table(self, table: str) -> None:
        if table not in self.item_tables():
            raise TypeError(f"{table!r} is not an item table of BPR; its item table: item_factors_")

    def _grown(self, arrays: dict[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
        """Pad reference/weight arrays with zero rows up to the current table sizes."""
        if arrays is None:
            return None
        out = {}
        for key, array in arrays.items():
            name = key.removesuffix("weight")
            rows = len(getattr(self, name))
            out[key] = grow_rows(array, rows) if len(array) < rows else array
        return out


def _resolve_threads(n_threads: int) -> int:
    """``n_threads``, or every thread numba may use for 0; at most that many."""
    if n_threads < 0:
        raise ValueError(f"n_threads must be >= 0 (0: all cores), got {n_threads}")
    most = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    return most if n_threads == 0 else min(n_threads, most)


@contextmanager
def _numba_threads(n: int) -> Iterator[None]:
    """Run numba's parallel loops of this thread on ``n`` threads, then restore the count."""
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@njit(cache=True)
def _shuffle(users: np.ndarray, items: np.ndarray, seed: int) -> None:
    """Shuffle the pairs ``(users[s], items[s])`` in place (Fisher-Yates, numba's RNG)."""
    np.random.seed(seed)
    for k in range(len(users) - 1, 0, -1):
        r = np.random.randint(k + 1)
        users[k], users[r] = users[r], users[k]
        items[k], items[r] = items[r], items[k]


@njit(cache=True)
def _serial_epoch(
    tables: tuple[np.ndarray, np.ndarray, np.ndarray],
    samples: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    settings: tuple[float, float, float],
    flags: tuple[bool, bool],
    references: tuple[np.ndarray, ...],
    teachers: tuple[np.ndarray, np.ndarray, np.ndarray],
    seed: int,
) -> tuple[float, int]:
    """Shuffle the samples in place, then one SGD step each, on this thread."""
    _shuffle(samples[0], samples[1], seed)
    return _sgd_steps(tables, samples, settings, flags, references, teachers, seed + 1)


@njit(cache=True, parallel=True)
def _hogwild_epoch(
    tables: tuple[np.ndarray, np.ndarray, np.ndarray],
    samples: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    settings: tuple[float, float, float],
    flags: tuple[bool, bool],
    references: tuple[np.ndarray, ...],
    teachers: tuple[np.ndarray, np.ndarray, np.ndarray],
    seed: int,
    n_chunks: int,
) -> tuple[float, int]:
    """:func:`_serial_epoch` on ``n_chunks`` runs of the samples, on parallel threads.

    Each thread shuffles its run and steps through it; the threads update the shared
    tables without locks (Hogwild, Niu et al., 2011): two steps rarely touch the same row at
    once, and a lost update costs one sample's step. The samples keep their run from epoch
    to epoch (they were shuffled once before the first), so no thread waits for a global
    shuffle.
    """
    users, items, indptr, indices = samples
    bounds = np.linspace(0, len(users), n_chunks + 1).astype(np.int64)
    totals = np.zeros(n_chunks)
    counts = np.zeros(n_chunks, np.int64)
    for c in prange(n_chunks):
        lo, hi = bounds[c], bounds[c + 1]
        chunk = (users[lo:hi], items[lo:hi], indptr, indices)
        chunk_seed = seed + 2 * c
        totals[c], counts[c] = _serial_epoch(
            tables, chunk, settings, flags, references, teachers, chunk_seed
        )
    return totals.sum(), counts.sum()


@njit(cache=True, fastmath=True)
def _sgd_steps(
    tables: tuple[np.ndarray, np.ndarray, np.ndarray],
    samples: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    settings: tuple[float, float, float],
    flags: tuple[bool, bool],
    references: tuple[np.ndarray, ...],
    teachers: tuple[np.ndarray, np.ndarray, np.ndarray],
    seed: int,
) -> tuple[float, int]:
    """One SGD step per sample ``(users[s], items[s])``, in the order given; (loss sum, steps).

    ``samples`` is ``(users, items, indptr, indices)``, the last two the CSR of each user's
    positives (sorted), used to reject sampled negatives the user has a positive for.
    ``settings`` is ``(lr, l2, teach)`` and ``flags`` ``(use_bias, anchored)``. With
    ``anchored``, each step also pulls the touched rows toward the references (the tables,
    then their per-entry weights; EWC); with ``teach > 0``, each step also takes a
    distillation step on a random triple of the teacher's users and items (see
    ``BPR.distil_from_self``). Negatives are drawn from numba's RNG seeded with ``seed``.
    """
    user_factors, item_factors, item_bias = tables
    users, items, indptr, indices = samples
    lr, l2, teach = settings
    use_bias, anchored = flags
    user_ref, item_ref, bias_ref, user_pull, item_pull, bias_pull = references
    teacher_users, teacher_items, teacher_bias = teachers
    np.random.seed(seed)
    n_items = item_factors.shape[0]
    total = 0.0
    n_done = 0
    for s in range(len(users)):
        u, i = users[s], items[s]
        start, stop = indptr[u], indptr[u + 1]
        if stop - start >= n_items:
            continue  # the user likes every item: no negative exists
        j = _draw_negative(indices, start, stop, n_items)
        x = _pair_score(user_factors, item_factors, item_bias, u, i, j)
        # d/dx ln sigmoid(x) = sigmoid(-x); the loss -ln sigmoid(x) = ln(1 + e^-|x|) + max(-x, 0)
        e = np.exp(-abs(x))
        z = e / (1.0 + e) if x > 0 else 1.0 / (1.0 + e)
        total += np.log1p(e) + max(-x, 0.0)
        n_done += 1
        _pair_step(user_factors, item_factors, item_bias, u, i, j, lr * z, lr, l2, use_bias)
        if anchored:
            _pull_rows(user_factors, user_ref, user_pull, u, lr)
            _pull_rows(item_factors, item_ref, item_pull, i, lr)
            _pull_rows(item_factors, item_ref, item_pull, j, lr)
            if use_bias:
                _pull_bias(item_bias, bias_ref, bias_pull, i, lr)
                _pull_bias(item_bias, bias_ref, bias_pull, j, lr)
        if teach > 0.0:
            tu = np.random.randint(len(teacher_users))
            ti = np.random.randint(len(teacher_items))
            tj = np.random.randint(len(teacher_items))
            target = _sigmoid(_pair_score(teacher_users, teacher_items, teacher_bias, tu, ti, tj))
            current = _sigmoid(_pair_score(user_factors, item_factors, item_bias, tu, ti, tj))
            step = lr * teach * (target - current)  # ascent on the soft-label log-likelihood
            _pair_step(user_factors, item_factors, item_bias, tu, ti, tj, step, lr, 0.0, use_bias)
    return total, n_done


@njit(cache=True)
def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)) if x >= 0 else np.exp(x) / (1.0 + np.exp(x)))


@njit(cache=True, fastmath=True)
def _pair_score(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    u: int,
    i: int,
    j: int,
) -> float:
    """``x_uij = p_u . (q_i - q_j) + b_i - b_j``, summed in the tables' precision."""
    x = item_bias[i] - item_bias[j]
    for f in range(item_factors.shape[1]):
        x += user_factors[u, f] * (item_factors[i, f] - item_factors[j, f])
    return float(x)


@njit(cache=True, fastmath=True)
def _pair_step(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    u: int,
    i: int,
    j: int,
    step: float,
    lr: float,
    l2: float,
    use_bias: bool,
) -> None:
    """Move ``x_uij`` by gradient ascent with ``step`` (= lr * dloss/dx), with L2 decay.

    The arithmetic is in float32, the tables' precision (twice the SIMD lanes of float64).
    """
    step32, decay = np.float32(step), np.float32(1.0 - lr * l2)
    for f in range(item_factors.shape[1]):
        pu, qi, qj = user_factors[u, f], item_factors[i, f], item_factors[j, f]
        user_factors[u, f] = decay * pu + step32 * (qi - qj)
        item_factors[i, f] = decay * qi + step32 * pu
        item_factors[j, f] = decay * qj - step32 * pu
    if use_bias:
        item_bias[i] = decay * item_bias[i] + step32
        item_bias[j] = decay * item_bias[j] - step32


@njit(cache=True)
def _pull_rows(table: np.ndarray, ref: np.ndarray, pull: np.ndarray, row: int, lr: float) -> None:
    """One step of ``pull * (theta - ref)^2 / 2`` on ``table[row]`` (no overshoot)."""
    for f in range(table.shape[1]):
        rate = min(lr * pull[row, f], 1.0)
        table[row, f] -= rate * (table[row, f] - ref[row, f])


@njit(cache=True)
def _pull_bias(bias: np.ndarray, ref: np.ndarray, pull: np.ndarray, row: int, lr: float) -> None:
    rate = min(lr * pull[row], 1.0)
    bias[row] -= rate * (bias[row] - ref[row])


@njit(cache=True)
def _fisher_pass(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    seed: int,
    user_out: np.ndarray,
    item_out: np.ndarray,
    bias_out: np.ndarray,
) -> None:
    """Add the squared gradients of ``ln sigmoid(x_uij)`` of each sample into ``*_out``."""
    np.random.seed(seed)
    n_items, n_factors = item_factors.shape
    for s in range(len(users)):
        u, i = users[s], items[s]
        start, stop = indptr[u], indptr[u + 1]
        if stop - start >= n_items:
            continue
        j = _draw_negative(indices, start, stop, n_items)
        z = 1.0 - _sigmoid(_pair_score(user_factors, item_factors, item_bias, u, i, j))
        for f in range(n_factors):
            pu = user_factors[u, f]
            user_out[u, f] += (z * (item_factors[i, f] - item_factors[j, f])) ** 2
            item_out[i, f] += (z * pu) ** 2
            item_out[j, f] += (z * pu) ** 2
        bias_out[i] += z * z
        bias_out[j] += z * z


@njit(cache=True)
def _draw_negative(sorted_values: np.ndarray, start: int, stop: int, n_items: int) -> int:
    """A uniform item not in ``sorted_values[start:stop]`` (the user's positives)."""
    j = np.random.randint(n_items)
    while _contains(sorted_values, start, stop, j):
        j = np.random.randint(n_items)
    return j


@njit(cache=True)
def _contains(sorted_values: np.ndarray, start: int, stop: int, value: int) -> bool:
    """Whether ``value`` is in ``sorted_values[start:stop]`` (binary search)."""
    lo, hi = start, stop
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_values[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo < stop and sorted_values[lo] == value
