"""Top-k selection over score matrices."""

from __future__ import annotations

import numpy as np

__all__ = ["top_k"]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` highest scores per row, best first.

    ``-inf`` marks excluded entries; rows with fewer than ``k`` finite scores are padded
    with ``-1``. Ties are broken by the lower index, so results are deterministic.

    Examples
    --------
    >>> top_k(np.array([[0.1, 0.9, 0.5], [1.0, -np.inf, -np.inf]]), 2).tolist()
    [[1, 2], [0, -1]]
    """
    scores = np.atleast_2d(scores)
    n_rows, n_cols = scores.shape
    k = min(k, n_cols)
    if k <= 0:
        return np.zeros((n_rows, 0), dtype=np.int64)
    if k < n_cols:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    # sort by score desc, then by index asc (lexsort: last key is primary)
    order = np.lexsort((part, -part_scores), axis=1)
    result = np.take_along_axis(part, order, axis=1).astype(np.int64)
    result[~np.isfinite(np.take_along_axis(part_scores, order, axis=1))] = -1
    if k < n_cols:
        _fix_ties_at_boundary(scores, result, k)
    return result


def _fix_ties_at_boundary(scores: np.ndarray, result: np.ndarray, k: int) -> None:
    """argpartition picks an arbitrary member of a tie at the k-th place; prefer low indices."""
    kth = np.take_along_axis(scores, np.maximum(result[:, -1:], 0), axis=1)
    crossing = np.isfinite(kth[:, 0]) & ((scores >= kth).sum(axis=1) > k)
    for row in np.flatnonzero(crossing):
        better = np.flatnonzero(scores[row] > kth[row, 0])
        better = better[np.lexsort((better, -scores[row, better]))]
        tied = np.flatnonzero(scores[row] == kth[row, 0])
        result[row] = np.concatenate([better, tied[: k - len(better)]])
