"""ALS for implicit feedback, each row solved by a few conjugate-gradient steps (numba)."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from freshrec.capabilities import FactorTables, FoldsIn, InnerProductScores
from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.models.int8 import Int8Factors
from freshrec.models.prior import PopularityPrior
from freshrec.models.torch.training import TrainingHistory, run_epochs
from freshrec.tables import grow_rows

__all__ = ["ALS", "default_l2", "top_singular_value"]


class ALS(Int8Factors, FactorTables, FoldsIn, InnerProductScores, PopularityPrior):
    """Alternating least squares for implicit feedback (Hu, Koren and Volinsky, 2008).

    Every user-item pair has a preference ``p_ui`` (1 for a positive event, ``value >=
    threshold``, else 0) and a confidence ``c_ui = 1 + alpha * p_ui``. The model minimises

    ``sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + l2 * (sum_u |x_u|^2 + sum_i |y_i|^2)``

    by fixing the item vectors and solving every user row, then the reverse. A user row solves
    ``(Y'Y + alpha * Y_u'Y_u + l2 I) x_u = (1 + alpha) Y_u' 1``, with ``Y_u`` the vectors of
    the user's positive items. Rather than forming and factorising that matrix, ``cg_steps``
    conjugate-gradient steps start from the current ``x_u`` (Takacs, Pilaszy and Tikk, 2011;
    as ``implicit``'s ``use_cg=True``): each step costs ``O(n_factors * |Y_u|)`` plus one
    product with the shared ``Y'Y``, so a sweep is linear in the number of positives. Large
    sweeps solve rows in parallel (numba ``prange``); each row's arithmetic is independent of
    the others, so results do not depend on the number of threads.

    **Incremental updates.** ``partial_fit(new_events)`` adds rows for new users and items
    (normal, std ``0.01``), then runs ``n_iterations`` alternating sweeps over the *touched*
    rows only: the users and items of the new positive events, each re-solved against the
    full positive matrix and the current vectors of the other side. Untouched rows keep their
    vectors, so the solves cost in proportion to the touched users' and items' positives, not
    to the whole log (only building the positive matrix reads the whole log). On an empty
    model every row is touched, so ``fit`` is plain ALS.
    ``fit(events, valid=...)`` measures NDCG@10 on validation events after each sweep, stops
    after ``patience`` sweeps without improvement and keeps the best sweep's vectors.

    Parameters
    ----------
    n_factors
        Length of the user and item vectors.
    n_iterations
        Alternating sweeps (users, then items) per ``fit``/``partial_fit``.
    alpha
        Confidence weight of a positive: ``c = 1 + alpha``.
    l2
        L2 penalty on every vector. ``None`` (the default) chooses it from the data at every
        ``fit``/``partial_fit``: :func:`default_l2` of the positives learned so far, that is
        ``min(30, (1 + alpha) * sigma_1 / 2)`` with ``sigma_1`` the largest singular value
        of the binary positive matrix (see Notes). A number is used as given.
    cg_steps
        Conjugate-gradient steps per row and sweep.
    patience
        Sweeps without improvement of the validation NDCG@10 before stopping.
    threshold
        Events with ``value >= threshold`` are positives.
    popularity_prior
        Weight of the popularity prior added for users with short histories (0: none;
        :mod:`freshrec.models.prior`, chosen on validation by
        :func:`~freshrec.models.prior.choose_popularity_prior`).
    seed
        Seed of the model's RNG (initial vectors).

    Attributes
    ----------
    user_factors_, item_factors_
        ``float32`` arrays of shape (n_users, n_factors) and (n_items, n_factors); held as
        int8 rows after :meth:`quantize_tables` (:mod:`freshrec.models.int8`).
    l2_
        The L2 penalty the last ``fit``/``partial_fit`` used (``l2``, or the rule's value).
    history_
        :class:`~freshrec.models.torch.training.TrainingHistory` of the last ``fit``/``partial_fit``
        (diagnostics, not saved). Its loss is the objective above restricted to the touched
        rows (the touched users' pairs, the penalty on touched users and items) over the sum
        of those users' confidences; for ``fit`` that is the whole objective, which every
        sweep decreases.

    Examples
    --------
    >>> from freshrec.data import Event
    >>> events = [Event(u, i) for u, i in [("ann", "a"), ("ann", "b"), ("bob", "a"),
    ...                                    ("bob", "b"), ("bob", "c"), ("cat", "c")]]
    >>> model = ALS(n_factors=4, alpha=10.0, l2=0.1).fit(events)
    >>> [s.item for s in model.recommend("ann", k=1, exclude=["a", "b"])]
    ['c']
    >>> model.history_.loss[-1] < model.history_.loss[0]
    True

    Notes
    -----
    **The L2 rule** (``l2=None``): ``l2 = min(30, (1 + alpha) * sigma_1 / 2)``, with
    ``sigma_1`` the largest singular value of the binary positive matrix ``P`` (users x
    items) of everything learned so far, recomputed at every ``fit``/``partial_fit``
    (:func:`default_l2`; the value used is ``l2_``). Why each part:

    - *30*: at or near the best on every data set tried, from 8,000 to 675,000 training
      positives, with the optimum moving little with size. NDCG@10 under the random 8:1:1
      protocol: on four proxies of a small, popularity-dominated data set (about 35,000
      ratings, 1,500 users, 2,000 items: FilmTrust's shape) the best of ``l2`` in {1, 3,
      10, 20, 30, 50, 70, 100} was 30, 30, 20 and 10 (``l2=1``, the previous default,
      reached 0.45x to 0.92x of MostPopular on the three MovieLens proxies, ``l2=30`` 1.13x
      to 1.64x); on MovieLens-100K and on samples of 35,000 to 250,000 MovieLens-1M
      ratings the best of {1, 3, 10, 30, 100} was 30; on MovieLens-1M under RecBole's
      protocol (seed 0) the eight values gave 0.2535, 0.2542, 0.2579, 0.2637, 0.2695,
      0.2775, 0.2660, 0.2376. Past the optimum the score falls steeply (100 is worse than
      1 on MovieLens-1M), so the cap stays at 30 rather than MovieLens-1M's 50.
      ``benchmarks/small_data_defaults.py`` measures the proxies.
    - *(1 + alpha) * sigma_1 / 2*: ``x = y = 0`` is a stable fixed point of the sweeps, and
      every score collapses to zero, exactly when ``l2 >= (1 + alpha) * sigma_1``: near
      zero a user solve gives ``x_u ~ (1 + alpha) / l2 * Y' p_u``, so two half-sweeps
      multiply the item vectors by ``((1 + alpha) / l2)^2 P'P``, which shrinks them all
      once ``l2`` exceeds ``(1 + alpha) * sigma_1``. On data of a few thousand positives
      (``sigma_1`` of 7 to 19 on six samples of 2,000 to 12,000 ratings) a fixed 30 can
      cross that bound (ALS fell to 0.04x-0.68x of MostPopular on the four samples where it
      did); half the bound keeps clear of it (0.62x-1.08x on the six, against 0.43x-0.64x
      with ``l2=1``). Every data set of the previous point has ``sigma_1 >= 21``, so there
      the rule is 30.

    ``sigma_1`` comes from :func:`top_singular_value` (power iteration from the all-ones
    vector: deterministic, a few sparse products; well under a second on MovieLens-1M).

    **Defaults, measured** on MovieLens-1M under RecBole's protocol (ratings >= 3, per-user
    random 8:1:1 split, model choice on the validation NDCG@10, test ranking over all items
    with training and validation items masked; the protocol of :class:`~freshrec.models.bpr.BPR`),
    ``freshrec evaluate --dataset ml-1m --model als --protocol random --min-rating 3 --seeds
    0,1,2`` (BENCHMARKS.md): the rule gives ``l2 = 30`` there (``sigma_1`` = 357), NDCG@10
    0.2689 (seeds 0, 1, 2: 0.2695, 0.2693, 0.2679), Recall@10 0.2055 (0.2060, 0.2055,
    0.2049); ``l2=1.0``, the previous default: 0.2530 / 0.1990. ``alpha``: with ``l2=30``,
    ``alpha=5`` scores 0.2584 against 0.2695 for ``alpha=2`` (seed 0); the tuning of the
    previous default also found small confidences best on this dense data set
    (``alpha=10`` 0.2289, ``alpha=40`` 0.1626).

    References
    ----------
    .. [1] Hu, Koren, Volinsky, "Collaborative Filtering for Implicit Feedback Datasets",
       ICDM 2008.
    .. [2] Takacs, Pilaszy, Tikk, "Applications of the Conjugate Gradient Method for Implicit
       Feedback Collaborative Filtering", RecSys 2011.
    """

    _state_arrays: ClassVar[tuple[str, ...]] = ("user_factors_", "item_factors_")
    _state_values: ClassVar[tuple[str, ...]] = ("l2_",)
    _init_std: ClassVar[float] = 0.01

    def __init__(
        self,
        n_factors: int = 64,
        n_iterations: int = 30,
        alpha: float = 2.0,
        l2: float | None = None,
        cg_steps: int = 3,
        patience: int = 5,
        threshold: float = 1.0,
        popularity_prior: float = 0.0,
        seed: int | None = 0,
    ) -> None:
        self.n_factors = n_factors
        self.n_iterations = n_iterations
        self.alpha = alpha
        self.l2 = l2
        self.cg_steps = cg_steps
        self.patience = patience
        self.threshold = threshold
        self.popularity_prior = popularity_prior
        self.seed = seed

    def _grow(self, n_users: int, n_items: int) -> None:
        if not hasattr(self, "user_factors_"):
            self.user_factors_ = np.zeros((0, self.n_factors), np.float32)
            self.item_factors_ = np.zeros((0, self.n_factors), np.float32)
        self.user_factors_ = grow_rows(self.user_factors_, n_users, self.rng_, self._init_std)
        self.item_factors_ = grow_rows(self.item_factors_, n_items, self.rng_, self._init_std)

    def _learn(self, batch: EventBatch, valid: EventBatch | None = None) -> None:
        positive = batch.value >= self.threshold
        by_user = self.positives_csr()
        self.l2_ = float(default_l2(by_user, self.alpha) if self.l2 is None else self.l2)
        if not positive.any():
            self.history_ = TrainingHistory((), (), 0)
            return
        user_idx, item_idx = batch.indices()
        users = np.unique(user_idx[positive])
        items = np.unique(item_idx[positive])
        by_item = by_user.T.tocsr()
        user_rows = (by_user.indptr.astype(np.int64), by_user.indices.astype(np.int64))
        item_rows = (by_item.indptr.astype(np.int64), by_item.indices.astype(np.int64))

        def sweep() -> float:
            solve_rows(
                self.user_factors_,
                self.item_factors_,
                *user_rows,
                users,
                self.alpha,
                self.l2_,
                self.cg_steps,
            )
            solve_rows(
                self.item_factors_,
                self.user_factors_,
                *item_rows,
                items,
                self.alpha,
                self.l2_,
                self.cg_steps,
            )
            return self._loss(users, items, *user_rows)

        self.history_ = run_epochs(
            self, sweep, self.n_iterations, valid=valid, patience=self.patience
        )

    def fold_in(self, events: Events, *, steps: int = 1) -> Self:
        """Solve the vectors of the users of the positive events exactly (:class:`FoldsIn`).

        Each such user's row becomes the solution of the user solve of the class doc against
        the fixed item vectors, with penalty ``l2_``: ``Y_u`` holds the user's positives on
        known items in ``events`` and in the history through the log's head (what
        :meth:`seen_items` reads), so folding in events already appended to the log counts
        them once. The solve is exact: ``steps`` changes nothing. An unknown user first gets
        a row as ``partial_fit`` would give it. The item vectors, the counts, the cursor and
        the history stay as they are.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.data import Event
        >>> model = ALS(n_factors=4, n_iterations=5).fit(checkerboard_events())
        >>> before = model.score("u0", ["i9"])[0]
        >>> after = model.fold_in([Event("u0", "i9")]).score("u0", ["i9"])[0]
        >>> bool(after > before), model.n_events_
        (True, 192)
        """
        self._check_fitted()
        batch = self.encode(as_batch(events)).positives(self.threshold)
        batch = batch.take(batch.indices()[1] >= 0)  # an unknown item has no vector to use
        self._map_new(self.user_map_, batch.user)
        self._grow(self.n_users, self.n_items)
        users, items = self.user_map_.encode(batch.user), batch.indices()[1]
        y = self.item_factors_.astype(np.float64)
        gram = y.T @ y + self.l2_ * np.eye(y.shape[1])
        for u, earlier in self._positives_of(users.tolist()).items():
            y_u = y[np.union1d(earlier, items[users == u])]
            a = gram + self.alpha * y_u.T @ y_u
            self.user_factors_[u] = np.linalg.solve(a, (1.0 + self.alpha) * y_u.sum(0))
        return self

    def _loss(
        self, users: np.ndarray, items: np.ndarray, indptr: np.ndarray, indices: np.ndarray
    ) -> float:
        """The objective restricted to the touched rows, over the touched users' confidences."""
        x = self.user_factors_[users].astype(np.float64)
        y = self.item_factors_.astype(np.float64)
        quadratic = np.sum((x @ (y.T @ y)) * x)  # sum over all their pairs of (x_u . y_i)^2
        positives = _positive_errors(self.user_factors_, y, indptr, indices, users, self.alpha)
        penalty = self.l2_ * (np.sum(x * x) + np.sum(y[items] ** 2))
        n_positives = int(np.sum(indptr[users + 1] - indptr[users]))
        confidence = len(users) * len(y) + self.alpha * n_positives
        return float((quadratic + positives + penalty) / confidence)

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        scores = np.asarray(self._factor_scores(user_idx, item_idx), dtype=np.float64)
        return self._with_prior(scores, user_idx, item_idx)

    def _item_vectors(self) -> np.ndarray:
        return self._factor_rows("item_factors_")

    def item_keys(self) -> np.ndarray:
        """Item rows for an inner-product index: the item factors (:class:`InnerProductScores`),
        and ``log(1 + n_i)`` with a popularity prior."""
        items = self._factor_rows("item_factors_")
        if not self.popularity_prior:
            return np.asarray(items, dtype=np.float32)
        prior = self.prior_columns(np.zeros(0, np.int64))[1]
        return np.hstack([items, prior[:, None]]).astype(np.float32)

    def user_queries(self, user_idx: np.ndarray) -> np.ndarray:
        """The users' factors (and the prior's weight): their products with :meth:`item_keys`
        are the scores."""
        user_idx = np.asarray(user_idx, dtype=np.int64)
        rows = self._factor_rows("user_factors_", user_idx)
        if not self.popularity_prior:
            return np.asarray(rows, np.float32)
        weights = self.prior_columns(user_idx)[0]
        return np.hstack([rows, weights[:, None]]).astype(np.float32)


_L2_CAP = 30.0
_L2_COLLAPSE_FRACTION = 0.5


def default_l2(positives: sp.spmatrix, alpha: float) -> float:
    """The L2 penalty of ``ALS(l2=None)`` on a binary positive matrix (users x items).

    ``min(30, (1 + alpha) * sigma_1 / 2)``, with ``sigma_1`` the largest singular value of
    ``positives`` (:func:`top_singular_value`). The vectors all shrink to zero, and every
    score with them, exactly when ``l2 >= (1 + alpha) * sigma_1`` (see the Notes of
    :class:`ALS`). The rule is the measured optimum, 30, once
    ``sigma_1 >= 60 / (1 + alpha)`` (20 at the default ``alpha``), and half the collapse
    bound below that, on tiny or very flat data. Measured ``sigma_1``: 357 on MovieLens-1M
    (RecBole's protocol, training part), 21 to 82 on samples of about 28,000 training
    positives (1,000 to 3,000 users), so the cap holds on both.

    Examples
    --------
    >>> block = sp.csr_matrix(np.ones((4, 9)))  # sigma_1 = sqrt(4 * 9) = 6
    >>> default_l2(block, alpha=2.0)  # 3 * 6 / 2
    9.0
    >>> default_l2(sp.csr_matrix(np.ones((40, 90))), alpha=2.0)  # 3 * 60 / 2 = 90: capped
    30.0
    """
    bound = (1.0 + alpha) * top_singular_value(positives)
    return float(min(_L2_CAP, _L2_COLLAPSE_FRACTION * bound))


def top_singular_value(matrix: sp.spmatrix, max_iter: int = 200, rtol: float = 1e-6) -> float:
    """The largest singular value of a non-negative sparse matrix, by power iteration.

    Iterates ``v <- M'M v / |M'M v|`` from the all-ones vector (which overlaps the top
    singular vector of a non-negative matrix) and returns ``|M v|``, an estimate that only
    grows towards ``sigma_1``, until it changes by less than ``rtol`` (relative). No
    random start: the same matrix always gives the same value. ``0.0`` for an empty matrix.

    Examples
    --------
    >>> m = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]]))
    >>> exact = np.linalg.svd(m.toarray(), compute_uv=False)[0]
    >>> bool(abs(top_singular_value(m) - exact) < 1e-5 * exact)
    True
    """
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    if matrix.nnz == 0:
        return 0.0
    v = np.full(matrix.shape[1], 1.0 / np.sqrt(matrix.shape[1]))
    sigma = 0.0
    for _ in range(max_iter):
        u = matrix @ v
        estimate = float(np.linalg.norm(u))
        w = matrix.T @ u
        norm = float(np.linalg.norm(w))
        if norm == 0.0:
            return estimate
        v = w / norm
        if estimate - sigma <= rtol * estimate:
            return estimate
        sigma = estimate
    return sigma


def solve_rows(
    x: np.ndarray,
    y: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    rows: np.ndarray,
    alpha: float,
    l2: float,
    cg_steps: int,
) -> None:
    """Update ``x[rows]`` in place by ``cg_steps`` CG steps on each row's normal equations.

    Row ``u`` solves ``(Y'Y + alpha * Y_u'Y_u + l2 I) x_u = (1 + alpha) * sum_{i in u} y_i``
    where ``u``'s positives are ``indices[indptr[u]:indptr[u + 1]]``. The arithmetic is in
    ``float64`` whatever the dtype of ``x`` and ``y``. Rows are solved in parallel only when
    they hold enough positives to pay for starting the threads.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> y = np.array([[1.0, 0.0], [0.5, 1.0], [0.0, 2.0]])
    >>> positives = sp.csr_matrix(np.array([[1, 1, 0]]))
    >>> x = np.zeros((1, 2))
    >>> solve_rows(x, y, positives.indptr, positives.indices, np.array([0]), 3.0, 0.1, 2)
    >>> y_u = y[:2]  # the row's positive items
    >>> exact = np.linalg.solve(y.T @ y + 3.0 * y_u.T @ y_u + 0.1 * np.eye(2), 4.0 * y_u.sum(0))
    >>> bool(np.allclose(x[0], exact))  # two CG steps solve a 2-dimensional system
    True
    """
    y64 = y.astype(np.float64)
    gram = y64.T @ y64 + l2 * np.eye(y.shape[1])
    indptr, indices, rows = (np.asarray(a, dtype=np.int64) for a in (indptr, indices, rows))
    work = int(np.sum(indptr[rows + 1] - indptr[rows]))
    solve = _cg_rows_parallel if work >= _PARALLEL_MIN_POSITIVES else _cg_rows
    solve(x, y, gram, indptr, indices, rows, float(alpha), int(cg_steps))


_PARALLEL_MIN_POSITIVES = 50_000


@njit(cache=True, fastmath=True)
def _cg_rows(
    x: np.ndarray,
    y: np.ndarray,
    gram: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    rows: np.ndarray,
    alpha: float,
    cg_steps: int,
) -> None:
    """:func:`_cg_row` for each of ``rows`` in turn."""
    for n in range(len(rows)):
        _cg_row(x, y, gram, indptr, indices, rows[n], alpha, cg_steps)


@njit(parallel=True, cache=True, fastmath=True)
def _cg_rows_parallel(
    x: np.ndarray,
    y: np.ndarray,
    gram: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    rows: np.ndarray,
    alpha: float,
    cg_steps: int,
) -> None:
    """:func:`_cg_row` for each of ``rows``, one row per parallel task (as in ``implicit``)."""
    for n in prange(len(rows)):
        _cg_row(x, y, gram, indptr, indices, rows[n], alpha, cg_steps)


@njit(cache=True, fastmath=True)
def _cg_row(
    x: np.ndarray,
    y: np.ndarray,
    gram: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    u: int,
    alpha: float,
    cg_steps: int,
) -> None:
    """``cg_steps`` CG steps for row ``u``, starting from ``x[u]``.

    ``A v = gram v + alpha * sum_{i in u} (y_i . v) y_i`` is applied without forming ``A``.
    """
    n_factors = x.shape[1]
    start, stop = indptr[u], indptr[u + 1]
    xu = np.empty(n_factors)
    for f in range(n_factors):
        xu[f] = x[u, f]
    r = -(gram @ xu)  # residual b - A x
    for k in range(start, stop):
        i = indices[k]
        weight = 1.0 + alpha - alpha * _dot(y, i, xu)
        for f in range(n_factors):
            r[f] += weight * y[i, f]
    p = r.copy()
    rs_old = np.dot(r, r)
    for _ in range(cg_steps):
        if rs_old < 1e-20:
            break
        ap = gram @ p
        for k in range(start, stop):
            i = indices[k]
            weight = alpha * _dot(y, i, p)
            for f in range(n_factors):
                ap[f] += weight * y[i, f]
        step = rs_old / np.dot(p, ap)
        xu += step * p
        r -= step * ap
        rs_new = np.dot(r, r)
        p = r + (rs_new / rs_old) * p
        rs_old = rs_new
    for f in range(n_factors):
        x[u, f] = xu[f]


@njit(cache=True, fastmath=True)
def _dot(table: np.ndarray, row: int, vector: np.ndarray) -> float:
    """``table[row] . vector`` accumulated in ``float64``."""
    total = 0.0
    for f in range(len(vector)):
        total += table[row, f] * vector[f]
    return total


@njit(cache=True, fastmath=True)
def _positive_errors(
    x: np.ndarray,
    y: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    rows: np.ndarray,
    alpha: float,
) -> float:
    """Over the positives of ``rows``, their loss minus what the all-pairs term counts for
    them: ``sum (1 + alpha) (1 - s)^2 - s^2`` with ``s = x_u . y_i``."""
    total = 0.0
    for n in range(len(rows)):
        u = rows[n]
        for k in range(indptr[u], indptr[u + 1]):
            s = _dot(y, indices[k], x[u])
            total += (1.0 + alpha) * (1.0 - s) ** 2 - s * s
    return total
