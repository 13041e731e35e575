"""Growing the per-user and per-item tables of a model when new ids arrive."""

from __future__ import annotations

import numpy as np

__all__ = ["grow_rows"]


def grow_rows(
    table: np.ndarray, n_rows: int, rng: np.random.Generator | None = None, std: float = 0.0
) -> np.ndarray:
    """``table`` with rows appended up to ``n_rows``: zeros, or ``N(0, std)`` drawn from ``rng``.

    Works for vectors (biases, counts) and matrices (factors); keeps the dtype. Old rows are
    untouched, so growing never disturbs what was learned.

    Examples
    --------
    >>> grow_rows(np.ones(2), 4).tolist()
    [1.0, 1.0, 0.0, 0.0]
    >>> grow_rows(np.zeros((1, 3), np.float32), 3, np.random.default_rng(0), 0.1).shape
    (3, 3)
    """
    extra = n_rows - len(table)
    if extra <= 0:
        return table
    shape = (extra, *table.shape[1:])
    new = np.zeros(shape) if rng is None else rng.normal(0.0, std, shape)
    return np.concatenate([table, new.astype(table.dtype)])
