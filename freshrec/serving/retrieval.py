"""Approximate top-k retrieval over item vectors (faiss), then exact re-scoring.

For catalogues too large to score every item per request: a faiss index (``"flat"``: exact
inner product, ``"hnsw"``: a navigable small-world graph) returns a candidate pool of
``oversample * k`` items plus as many as the request excludes; those are scored exactly by the
caller's scores (the model's own, bias included), excluded items are dropped, and the best
``k`` are kept. A model whose score is ``u . v_i + b_i`` is indexed as ``[v_i, b_i]`` and
queried with ``[u, 1]``, so the index ranks by the same inner product
(:class:`~freshrec.capabilities.InnerProductScores`). :func:`recall_at_k` measures the
approximation against exact search.

:meth:`ItemIndex.for_keys` carries an index from one model version to the next: the same one
when the item rows are unchanged, a copy with the new rows added when only items were added,
a new build otherwise.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> items = rng.normal(size=(500, 8)).astype(np.float32)
>>> index = ItemIndex("hnsw").build(items)
>>> users = rng.normal(size=(3, 8)).astype(np.float32)
>>> rows, scores = index.search(users, 5, exact=lambda u, rows: (users[u] @ items[rows].T))
>>> rows.shape, bool((np.diff(scores, axis=1) <= 0).all())
((3, 5), True)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

__all__ = ["ItemIndex", "recall_at_k"]

ExactScores = Callable[[int, np.ndarray], np.ndarray]  # (query row, item rows) -> scores


class ItemIndex:
    """A faiss index of item vectors (row ``i`` = internal item index ``i``).

    Parameters
    ----------
    kind
        ``"flat"`` (exact) or ``"hnsw"``.
    m
        HNSW links per node.
    ef_search, ef_construction
        HNSW search and build depths (larger: better recall, slower).
    oversample
        Candidates fetched per wanted item before exact re-scoring.
    build_threads
        Threads that build and extend the index (default: all cores but one, so that a
        build beside a serving index leaves a core to the requests).

    Examples
    --------
    >>> ItemIndex("flat").build(np.eye(3, dtype=np.float32)).n_items
    3
    """

    def __init__(
        self,
        kind: str = "hnsw",
        *,
        m: int = 32,
        ef_search: int = 64,
        ef_construction: int = 200,
        oversample: int = 4,
        build_threads: int | None = None,
    ) -> None:
        if kind not in ("flat", "hnsw"):
            raise ValueError(f"kind must be 'flat' or 'hnsw', got {kind!r}")
        self.kind = kind
        self.m = m
        self.ef_search = ef_search
        self.ef_construction = ef_construction
        self.oversample = oversample
        self.build_threads = build_threads or max(1, (os.cpu_count() or 1) - 1)
        self._index: Any = None  # a faiss index
        self._keys: np.ndarray | None = None  # the rows indexed, to tell what changed

    @property
    def n_items(self) -> int:
        """Items in the index."""
        return 0 if self._index is None else int(self._index.ntotal)

    def empty_like(self) -> ItemIndex:
        """A new, empty index with the same settings.

        Examples
        --------
        >>> ItemIndex("flat", oversample=2).empty_like().oversample
        2
        """
        return ItemIndex(
            self.kind,
            m=self.m,
            ef_search=self.ef_search,
            ef_construction=self.ef_construction,
            oversample=self.oversample,
            build_threads=self.build_threads,
        )

    def for_keys(self, keys: np.ndarray) -> tuple[ItemIndex, str]:
        """An index of ``keys`` (n_items, dim) starting from this one, and how: ``"reused"``
        (this index: its rows are ``keys``), ``"extended"`` (a copy with ``keys``' new rows
        added: its rows are the start of ``keys``) or ``"built"`` (a new index). This index
        is never changed, so it can go on serving while the next one is made.

        Examples
        --------
        >>> keys = np.eye(4, dtype=np.float32)
        >>> first = ItemIndex("flat").build(keys[:3])
        >>> [first.for_keys(k)[1] for k in (keys[:3], keys, keys[::-1])]
        ['reused', 'extended', 'built']
        """
        keys = np.ascontiguousarray(keys, dtype=np.float32)
        known = self._keys
        if known is None or known.shape[1] != keys.shape[1] or len(known) > len(keys):
            return self.empty_like().build(keys), "built"
        if not np.array_equal(known, keys[: len(known)]):
            return self.empty_like().build(keys), "built"
        if len(known) == len(keys):
            return self, "reused"
        import faiss

        copy = self.empty_like()
        copy._index, copy._keys = faiss.clone_index(self._index), known
        return copy.add(keys[len(known) :]), "extended"

    def build(self, vectors: np.ndarray) -> ItemIndex:
        """Index ``vectors`` (n_items, dim) from scratch."""
        import faiss

        dim = vectors.shape[1]
        index: Any
        if self.kind == "flat":
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, self.m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
            index.hnsw.efSearch = self.ef_search
        self._index, self._keys = index, None
        return self.add(vectors)

    def add(self, vectors: np.ndarray) -> ItemIndex:
        """Append items (their rows follow the ones indexed)."""
        if self._index is None:
            return self.build(vectors)
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        faiss.omp_set_num_threads(self.build_threads)  # for this thread's calls only
        self._index.add(vectors)
        self._keys = vectors if self._keys is None else np.vstack([self._keys, vectors])
        return self

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        exact: ExactScores,
        exclude: Sequence[Collection[int]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` item rows per query and their exact scores, best first; ``-1`` and
        ``-inf`` pad a row with fewer. ``exact(q, rows)`` scores item ``rows`` for query
        ``q``; ``exclude[q]`` holds rows never to return for it."""
        if self._index is None:
            raise RuntimeError("build the index first")
        n = len(queries)
        extra = max((len(e) for e in exclude), default=0) if exclude else 0
        pool = min(self.n_items, k * self.oversample + extra)
        if self.kind == "hnsw":
            self._index.hnsw.efSearch = self.ef_search  # may have changed since the build
        _, found = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), pool)
        rows = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), -np.inf)
        for q in range(n):
            pooled = found[q][found[q] >= 0]
            if exclude:
                pooled = pooled[~np.isin(pooled, np.fromiter(exclude[q], np.int64))]
            exact_scores = np.asarray(exact(q, pooled), dtype=np.float64)
            best = np.argsort(-exact_scores, kind="stable")[:k]
            rows[q, : len(best)] = pooled[best]
            scores[q, : len(best)] = exact_scores[best]
        return rows, scores


def recall_at_k(approximate: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k rows (per query, ``-1`` ignored) that the approximate top-k
    found.

    Examples
    --------
    >>> recall_at_k(np.array([[1, 2, 3]]), np.array([[1, 2, 4]]))
    0.6666666666666666
    """
    hits = total = 0
    for got, wanted in zip(approximate, exact, strict=True):
        wanted = wanted[wanted >= 0]
        hits += int(np.isin(wanted, got).sum())
        total += len(wanted)
    return hits / total if total else 1.0
