"""Initial vectors for new items (cold start), computed from the vectors of known items.

A new item has no events, so a fitted model has nothing to learn its row from. Three ways to
guess one, from weakest to strongest evidence:

- :func:`mean_rows`: the mean of the known items' vectors (every new item looks alike);
- :func:`category_average_rows`: the mean vector of known items that share the new item's
  categories (genres), falling back to the global mean;
- :class:`ContentProjection`: ridge regression from content vectors (e.g. the text
  embeddings of :class:`freshrec.text.TextEncoder`) to the model's item vectors, fitted on
  the known items and applied to the new ones.

:func:`add_items` gives a fitted model rows for unseen item ids without learning anything, and
:func:`set_item_rows` writes the guessed vectors into those rows of a model with item tables
(:class:`~freshrec.capabilities.HasItemRows`: BPR's ``item_factors_``, or a
:class:`~freshrec.models.torch.nn.GrowableEmbedding` item table of a torch model).

Examples
--------
>>> from freshrec.data import Event
>>> from freshrec.models import BPR
>>> events = [Event(u, i) for u, i in [("ann", "a"), ("ann", "b"), ("bob", "b"), ("bob", "c")]]
>>> model = BPR(n_factors=4, n_epochs=5).fit(events)
>>> new = add_items(model, ["d"])
>>> set_item_rows(model, new, mean_rows(model.item_factors_[:3], n_rows=1))
>>> bool(np.allclose(model.item_factors_[3], model.item_factors_[:3].mean(axis=0)))
True
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Sequence
from typing import Any, Literal, Self

import numpy as np

from freshrec.base import Estimator, RecommenderBase
from freshrec.capabilities import HasItemRows
from freshrec.data.batch import ids_array
from freshrec.tables import grow_rows
from freshrec.typing import ItemId

__all__ = ["ContentProjection", "add_items", "category_average_rows", "mean_rows", "set_item_rows"]

#: Categories of one item: a collection of labels, one label, or ``None`` (no category).
Categories = Collection[Hashable] | str | None


def mean_rows(known_vectors: np.ndarray, n_rows: int | None = None) -> np.ndarray:
    """The mean of the known items' vectors, as one vector or repeated as ``n_rows`` rows.

    Parameters
    ----------
    known_vectors
        Vectors of the known items, shape (n_known, dim); at least one row.
    n_rows
        ``None`` returns the mean itself, shape (dim,); an integer returns it repeated,
        shape (n_rows, dim), ready for :func:`set_item_rows`.

    Examples
    --------
    >>> mean_rows(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [2.0, 3.0]
    >>> mean_rows(np.array([[1.0, 2.0], [3.0, 4.0]]), n_rows=3).shape
    (3, 2)
    """
    known = _matrix(known_vectors, "known_vectors")
    if len(known) == 0:
        raise ValueError("known_vectors has no rows: the mean of nothing is undefined")
    mean: np.ndarray = known.mean(axis=0)
    if n_rows is None:
        return mean
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    return np.tile(mean, (n_rows, 1))


def category_average_rows(
    known_vectors: np.ndarray,
    known_categories: Sequence[Categories] | np.ndarray,
    new_categories: Sequence[Categories] | np.ndarray,
    *,
    weighting: Literal["category", "item"] = "category",
) -> np.ndarray:
    """Per new item, the mean vector of the known items that share its categories.

    Items may have several categories (multi-hot genres). Two ways to combine them:

    - ``weighting="category"`` (default): the mean vector of every category (over the known
      items that have it), averaged over the new item's categories with equal weights. A
      "Children's|Comedy" film gets half the Children's mean plus half the Comedy mean,
      however many comedies there are.
    - ``weighting="item"``: the average of the known items' vectors, each weighted by the
      number of categories it shares with the new item, so known items with the same genre
      combination count most and large categories weigh in proportion to their size.

    Categories that no known item has are ignored; a new item that shares no category with
    any known item (or has none) gets the global mean, as :func:`mean_rows` would give.

    Parameters
    ----------
    known_vectors
        Vectors of the known items, shape (n_known, dim).
    known_categories
        Categories of each known item (aligned with ``known_vectors``): a collection of
        hashable labels (tuple, list, set), a single string label, or ``None``.
    new_categories
        Categories of each new item, in the same form.
    weighting
        ``"category"`` or ``"item"``, see above.

    Returns
    -------
    numpy.ndarray
        ``float64`` of shape (len(new_categories), dim).

    Examples
    --------
    >>> known = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 3.0], [0.0, 0.0]])
    >>> genres = [("Drama",), ("Comedy",), ("Comedy", "Drama"), "Comedy"]
    >>> new = [("Comedy",), ("Drama", "Comedy"), None, ("Western",)]
    >>> category_average_rows(known, genres, new).round(3).tolist()
    [[0.0, 1.333], [0.25, 1.417], [0.25, 1.0], [0.25, 1.0]]
    >>> category_average_rows(known, genres, [("Drama", "Comedy")], weighting="item").tolist()
    [[0.2, 1.4]]
    """
    known = _matrix(known_vectors, "known_vectors")
    if len(known) == 0:
        raise ValueError("known_vectors has no rows")
    if len(known_categories) != len(known):
        raise ValueError(
            f"known_categories has {len(known_categories)} entries for {len(known)} vectors"
        )
    if weighting not in ("category", "item"):
        raise ValueError(f"weighting must be 'category' or 'item', got {weighting!r}")
    known_sets = [_category_set(c) for c in known_categories]
    new_sets = [_category_set(c) for c in new_categories]
    vocabulary = {label: j for j, label in enumerate(dict.fromkeys(_chain(known_sets)))}
    known_hot = _multi_hot(known_sets, vocabulary)  # (n_known, n_categories)
    new_hot = _multi_hot(new_sets, vocabulary)  # labels unknown to the known items drop out
    out = np.tile(known.mean(axis=0), (len(new_sets), 1))
    if weighting == "category":
        counts = known_hot.sum(axis=0)  # every category in the vocabulary has >= 1 item
        category_means = (known_hot.T @ known) / counts[:, None]
        n_shared = new_hot.sum(axis=1)
        shares = n_shared > 0
        out[shares] = (new_hot[shares] @ category_means) / n_shared[shares, None]
    else:
        weights = new_hot @ known_hot.T  # (n_new, n_known): shared categories per pair
        totals = weights.sum(axis=1)
        shares = totals > 0
        out[shares] = (weights[shares] @ known) / totals[shares, None]
    return out


class ContentProjection(Estimator):
    """Ridge regression from item content vectors to a model's item vectors.

    Fitted on the known items, whose content (e.g. title embeddings from
    :class:`freshrec.text.TextEncoder`) and learned vectors are both at hand, it predicts
    vectors for new items from their content alone. It minimises

    ``sum_i w_i |y_i - x_i W - b|^2 + l2 |W|^2``

    over the coefficients ``W`` (content_dim, dim) and, with ``fit_intercept``, the
    unpenalised intercept ``b``, in closed form: the normal equations in the content space
    when there are at least as many items as content dimensions, their dual form (an
    ``n x n`` system over items) otherwise, so a few hundred items with 384-dim embeddings
    cost a small solve either way. With an intercept, strong ``l2`` shrinks every prediction
    towards the (weighted) mean item vector, i.e. towards :func:`mean_rows`.

    Parameters
    ----------
    l2
        Ridge penalty (>= 0). With ``l2=0`` the minimum-norm least-squares solution is used.
        Its scale is that of ``sum_i w_i |x_i - mean|^2`` (it grows with the number of
        items). The default is what 5-fold cross-validation chose, from 0.1 to 1000, for
        all-MiniLM-L6-v2 title embeddings to BPR factors on ML-1M (3,335 items) and on two
        small Amazon categories (about 135 items) in ``benchmarks/cold_start_text.py``.
    fit_intercept
        Fit ``b`` (content and item vectors are centred first); otherwise ``b = 0``.

    Attributes
    ----------
    coef_
        ``W``, shape (content_dim, dim).
    intercept_
        ``b``, shape (dim,).

    Examples
    --------
    Recover a linear map from noiseless data:

    >>> rng = np.random.default_rng(0)
    >>> content = rng.normal(size=(50, 6))
    >>> true_map = rng.normal(size=(6, 3))
    >>> vectors = content @ true_map + 1.0
    >>> projection = ContentProjection(l2=1e-6).fit(content, vectors)
    >>> bool(np.allclose(projection.coef_, true_map, atol=1e-4))
    True
    >>> projection.transform(content[:2]).shape
    (2, 3)
    """

    def __init__(self, l2: float = 1.0, fit_intercept: bool = True) -> None:
        self.l2 = l2
        self.fit_intercept = fit_intercept

    def fit(
        self,
        content_vectors: np.ndarray,
        item_vectors: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> Self:
        """Learn the map from ``content_vectors`` (n, content_dim) to ``item_vectors`` (n, dim).

        ``sample_weight`` (n,), non-negative, weighs each item's squared error (e.g. more
        for items with many events, whose learned vectors are more reliable).

        Examples
        --------
        >>> x = np.array([[0.0], [1.0], [2.0]])
        >>> p = ContentProjection(l2=0.0).fit(x, 2 * x + 1)
        >>> round(float(p.coef_[0, 0]), 6), round(float(p.intercept_[0]), 6)
        (2.0, 1.0)
        """
        x = _matrix(content_vectors, "content_vectors")
        y = _matrix(item_vectors, "item_vectors")
        if len(x) != len(y):
            raise ValueError(f"{len(x)} content vectors but {len(y)} item vectors")
        if len(x) == 0:
            raise ValueError("cannot fit on zero items")
        if not self.l2 >= 0 or not math.isfinite(self.l2):
            raise ValueError(f"l2 must be finite and >= 0, got {self.l2}")
        if sample_weight is None:
            w = np.ones(len(x))
        else:
            w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if len(w) != len(x) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
                raise ValueError(
                    "sample_weight must hold one finite, non-negative weight per item, not all zero"
                )
        self.reset()
        if self.fit_intercept:
            x_mean = (w @ x) / w.sum()
            y_mean = (w @ y) / w.sum()
        else:
            x_mean, y_mean = np.zeros(x.shape[1]), np.zeros(y.shape[1])
        root = np.sqrt(w)[:, None]
        xs, ys = root * (x - x_mean), root * (y - y_mean)
        n, p = xs.shape
        if self.l2 == 0:
            coef = np.linalg.lstsq(xs, ys, rcond=None)[0]
        elif p <= n:  # primal: (X'X + l2 I) W = X'Y
            coef = np.linalg.solve(xs.T @ xs + self.l2 * np.eye(p), xs.T @ ys)
        else:  # dual: W = X' (XX' + l2 I)^-1 Y
            coef = xs.T @ np.linalg.solve(xs @ xs.T + self.l2 * np.eye(n), ys)
        self.coef_ = coef
        self.intercept_ = y_mean - x_mean @ coef
        return self

    def transform(self, content_vectors: np.ndarray) -> np.ndarray:
        """Predicted item vectors, ``float64`` of shape (n, dim).

        Examples
        --------
        >>> p = ContentProjection(l2=0.0).fit(np.eye(2), np.array([[1.0, 0.0], [0.0, 1.0]]))
        >>> p.transform(np.array([[1.0, 0.0]])).round(6).tolist()
        [[1.0, 0.0]]
        """
        if "coef_" not in vars(self):
            from freshrec.errors import NotFittedError

            raise NotFittedError("ContentProjection is not fitted; call fit first")
        x = _matrix(content_vectors, "content_vectors")
        if x.shape[1] != self.coef_.shape[0]:
            raise ValueError(
                f"content vectors have {x.shape[1]} dimensions, the projection was fitted "
                f"on {self.coef_.shape[0]}"
            )
        out: np.ndarray = x @ self.coef_ + self.intercept_
        return out


def add_items(model: RecommenderBase, items: Iterable[ItemId] | np.ndarray) -> np.ndarray:
    """Give a fitted model rows for unseen item ids, learning nothing; their internal indices.

    The ids join ``model.item_map_`` and the model grows its item tables the way
    ``partial_fit`` does for new items (new rows at the model's prior, e.g. ``N(0, 0.1)``
    for BPR, and a popularity count of 0), but no event is logged and no step is taken.
    Ids the model already knows keep their index and rows. Overwrite the new rows with
    :func:`set_item_rows`.

    Parameters
    ----------
    model
        A fitted freshrec recommender.
    items
        External item ids.

    Returns
    -------
    numpy.ndarray
        ``int64`` internal indices of ``items``, in order.

    Examples
    --------
    >>> from freshrec.data import Event
    >>> from freshrec.models import BPR
    >>> model = BPR(n_factors=4, n_epochs=2).fit([Event("ann", "a"), Event("bob", "b")])
    >>> add_items(model, ["c", "a"]).tolist(), model.item_factors_.shape
    ([2, 0], (3, 4))
    """
    model._check_fitted()
    idx: np.ndarray = model.item_map_.encode(ids_array(items), grow=True)
    model.item_counts_ = grow_rows(model.item_counts_, model.n_items)
    model._grow(model.n_users, model.n_items)
    return idx


def set_item_rows(
    model: RecommenderBase,
    item_idx: Sequence[int] | np.ndarray,
    vectors: np.ndarray,
    *,
    bias: float | np.ndarray | None = None,
    table: str | None = None,
) -> None:
    """Write ``vectors`` into the rows ``item_idx`` of a fitted model's item representation.

    The model must have item tables (:class:`~freshrec.capabilities.HasItemRows`); the rows
    go to its item table whose width is ``vectors.shape[1]``, or to the one named by ``table``
    (when several have that width, as NeuMF's ``item_gmf`` and ``item_mlp``, ``table`` must
    say which):

    - :class:`freshrec.models.bpr.BPR`: ``item_factors_[item_idx] = vectors``, and when the
      model learns item biases, ``item_bias_[item_idx] = bias``; ``bias=None`` uses the mean
      bias of the other items (the known ones), so a new item is neither favoured nor held
      back by its bias.
    - :class:`freshrec.models.torch.torch_base.TorchRecommender` subclasses: one of
      ``_item_tables`` (each a :class:`~freshrec.models.torch.nn.GrowableEmbedding`); rows are
      shifted by the model's ``_item_offset`` (a padding row 0 in the sequential models).
      Other tables and the optimizer's state are left as they are (the Adam moments of rows
      added since the last ``partial_fit`` are zero); ``bias`` is not supported.

    Parameters
    ----------
    model
        A fitted recommender with item tables.
    item_idx
        Internal item indices (e.g. from :func:`add_items`), distinct, in ``[0, n_items)``.
    vectors
        One row per index, shape (len(item_idx), dim); cast to the model's dtype.
    bias
        BPR only: one bias for all rows, one per row, or ``None`` (see above).
    table
        The name of the item table to write (one of
        :meth:`~freshrec.capabilities.HasItemRows.item_tables`).

    Raises
    ------
    TypeError
        The model has no item tables, or ``table`` is not one of them.
    ValueError
        Bad indices, a shape that does not fit, non-finite values, or no (or more than one)
        item table of the vectors' width.

    Examples
    --------
    >>> from freshrec.data import Event
    >>> from freshrec.models import BPR
    >>> model = BPR(n_factors=2, n_epochs=3).fit([Event("ann", "a"), Event("ann", "b")])
    >>> set_item_rows(model, [1], np.array([[0.5, -0.5]]))
    >>> model.item_factors_[1].tolist(), float(model.item_bias_[1]) == float(model.item_bias_[0])
    ([0.5, -0.5], True)
    """
    model._check_fitted()
    if not isinstance(model, HasItemRows):
        raise TypeError(
            f"set_item_rows needs a model with item tables (HasItemRows: BPR and the torch "
            f"models), not {type(model).__name__}"
        )
    idx = np.asarray(item_idx)
    if idx.ndim != 1 or (len(idx) and idx.dtype.kind not in "iu"):
        raise ValueError(f"item_idx must be a 1-D array of integers, got {idx.dtype} {idx.shape}")
    idx = idx.astype(np.int64)
    if len(idx) and (idx.min() < 0 or idx.max() >= model.n_items):
        raise ValueError(f"item_idx must lie in [0, {model.n_items}); add new items first")
    if len(np.unique(idx)) != len(idx):
        raise ValueError("item_idx holds duplicates")
    rows = _matrix(vectors, "vectors")
    if rows.shape[0] != len(idx):
        raise ValueError(f"{rows.shape[0]} vectors for {len(idx)} item indices")
    if not np.all(np.isfinite(rows)):
        raise ValueError("vectors hold NaN or infinite values")
    tables = model.item_tables()
    if table is not None and table not in tables:
        raise TypeError(
            f"{table!r} is not an item table of {type(model).__name__}; "
            f"its item tables: {list(tables)}"
        )
    names = list(tables) if table is None else [table]
    width = rows.shape[1]
    matching = [name for name in names if tables[name] == width]
    if not matching:
        widths = {name: tables[name] for name in names}
        raise ValueError(f"no item table of width {width}: {widths}")
    if len(matching) > 1:
        raise ValueError(f"several item tables have width {width}: {matching}; pass table=...")
    model.write_item_rows(matching[0], idx, rows, bias=bias)


# -- internals ---------------------------------------------------------------------------------


def _matrix(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, dim), got shape {array.shape}")
    return array


def _category_set(value: Any) -> frozenset[Hashable]:
    if value is None:
        return frozenset()
    if isinstance(value, float) and math.isnan(value):
        return frozenset()
    if isinstance(value, str | bytes):
        return frozenset([value]) if value else frozenset()
    if isinstance(value, Iterable):
        return frozenset(v for v in value if v is not None and v != "")
    return frozenset([value])


def _chain(sets: Iterable[frozenset[Hashable]]) -> Iterable[Hashable]:
    for labels in sets:
        yield from sorted(labels, key=repr)  # a deterministic column order


def _multi_hot(sets: Sequence[frozenset[Hashable]], vocabulary: dict[Hashable, int]) -> np.ndarray:
    hot = np.zeros((len(sets), len(vocabulary)))
    for row, labels in enumerate(sets):
        columns = [vocabulary[label] for label in labels if label in vocabulary]
        hot[row, columns] = 1.0
    return hot
