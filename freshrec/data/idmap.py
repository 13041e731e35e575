"""IdMap: external id <-> dense internal index."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from numba import njit

from freshrec.data.batch import ids_array
from freshrec.persist import atomic_write_text

__all__ = ["IdMap"]

_SMALL = 32  # below this many ids, dict lookups beat np.unique
_DENSE_MAX = 1 << 26  # largest integer id served by the dense lookup table (512 MiB at most)


class IdMap:
    """Maps external ids (``int`` or ``str``) to dense indices ``0..n-1`` and back.

    The map grows when it meets unseen ids, in order of first appearance, so the same
    stream always gives the same indices. :meth:`evict` frees indices; the update engine
    builds admission, TTL/LRU/LFU eviction and row reuse on top of it.

    Examples
    --------
    >>> ids = IdMap(["ann", "bob"])
    >>> ids.encode(["bob", "zoe"]).tolist()
    [1, -1]
    >>> ids.encode(["zoe", "bob", "kim"], grow=True).tolist()
    [2, 1, 3]
    >>> ids.decode([3, 0]).tolist()
    ['kim', 'ann']
    >>> ids.encode([7, "ann"]).tolist()
    [-1, 0]
    >>> len(ids)
    4
    """

    def __init__(self, ids: Iterable[Any] = ()) -> None:
        self._ids: list[Any] = []
        self._index: dict[Any, int] = {}
        self._free: list[int] = []
        self._dense: np.ndarray | None = None  # dense[k] = index of int id k, or -1
        self.grow(ids)

    def __len__(self) -> int:
        """Number of index slots (evicted slots included)."""
        return len(self._ids)

    def __contains__(self, external_id: Any) -> bool:
        return _key(external_id) in self._index

    @property
    def n_active(self) -> int:
        """Number of ids currently mapped (slots minus evicted ones)."""
        return len(self._index)

    def encode(self, ids: Iterable[Any] | np.ndarray, *, grow: bool = False) -> np.ndarray:
        """Indices of ``ids`` as ``int64``; unknown ids get ``-1`` unless ``grow`` adds them."""
        arr = ids_array(ids) if not isinstance(ids, np.ndarray) else ids
        if len(arr) <= _SMALL:
            return np.array([self.encode_one(v, grow=grow) for v in arr], dtype=np.int64)
        if arr.dtype.kind in "iu" and self._dense_covers(arr):
            return self._encode_dense(arr, grow)
        try:
            uniques, first, inverse = np.unique(arr, return_index=True, return_inverse=True)
        except TypeError:  # mixed int and str ids cannot be sorted: encode one by one
            return np.array([self.encode_one(v, grow=grow) for v in arr], dtype=np.int64)
        if grow:
            unseen = [
                j for j in np.argsort(first, kind="stable") if _key(uniques[j]) not in self._index
            ]
            self.grow(uniques[unseen])
        get = self._index.get
        codes = np.fromiter((get(_key(u), -1) for u in uniques), dtype=np.int64, count=len(uniques))
        return codes[inverse.ravel()]

    def _dense_covers(self, arr: np.ndarray) -> bool:
        """Whether the dense table can serve ``arr`` (non-negative, not too large ints)."""
        low, high = int(arr.min()), int(arr.max())
        limit = min(_DENSE_MAX, 8 * (len(arr) + len(self._index)) + 1024)
        if low < 0 or high >= limit:
            return False
        if self._dense is None or len(self._dense) <= high:
            size = max(high + 1, 2 * len(self._dense) if self._dense is not None else 0)
            dense = np.full(min(size, limit), -1, dtype=np.int64)
            for key, index in self._index.items():
                if type(key) is int and 0 <= key < len(dense):
                    dense[key] = index
            self._dense = dense
        return True

    def _encode_dense(self, arr: np.ndarray, grow: bool) -> np.ndarray:
        dense = self._dense
        if dense is None:  # _dense_covers built it
            raise RuntimeError("the dense id table is missing")
        codes: np.ndarray = dense[arr]
        if grow and (codes < 0).any():
            self.grow(_first_appearances(arr[codes < 0], len(dense)).tolist())
            codes = dense[arr]
        return codes

    def encode_one(self, external_id: Any, *, grow: bool = False) -> int:
        """Index of one id (``-1`` if unknown and not grown)."""
        key = _key(external_id)
        if key not in self._index and grow:
            self.grow([key])
        return self._index.get(key, -1)

    def decode(self, idx: Iterable[int] | np.ndarray) -> np.ndarray:
        """External ids of indices (``None`` for evicted slots)."""
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty(len(idx), dtype=object)
        out[:] = [self._ids[i] for i in idx]
        if all(isinstance(v, int) for v in out):
            return out.astype(np.int64)
        return out

    def grow(self, ids: Iterable[Any]) -> np.ndarray:
        """Map unseen ids (duplicates and known ids are ignored); return their indices.

        Slots freed by :meth:`evict` are reused first, oldest first; then new indices are
        appended.

        Examples
        --------
        >>> ids = IdMap(["a", "b", "c"])
        >>> ids.evict(["b"]).tolist(), ids.grow(["d", "e"]).tolist()
        ([1], [1, 3])
        """
        added = []
        for external_id in ids:
            key = _key(external_id)
            if key in self._index:
                continue
            if self._free:
                index = self._free.pop(0)
                self._ids[index] = key
            else:
                index = len(self._ids)
                self._ids.append(key)
            self._index[key] = index
            self._note(key, index)
            added.append(index)
        return np.asarray(added, dtype=np.int64)

    def _note(self, key: Any, index: int) -> None:
        """Keep the dense table in step with ``key -> index`` (-1: unmapped)."""
        if self._dense is None or type(key) is not int or key < 0:
            return
        if key < len(self._dense):
            self._dense[key] = index
        elif index >= 0:
            self._dense = None  # rebuilt, larger, at the next encode that needs it

    def evict(self, ids: Iterable[Any]) -> np.ndarray:
        """Unmap ``ids`` and return their freed indices.

        The slots stay allocated (so model tables keep their shape), are listed in
        :attr:`free_slots` and are reused by the next :meth:`grow`.
        """
        freed = []
        for external_id in ids:
            key = _key(external_id)
            idx = self._index.pop(key, None)
            if idx is not None:
                self._note(key, -1)
                self._ids[idx] = None
                self._free.append(idx)
                freed.append(idx)
        return np.asarray(freed, dtype=np.int64)

    @property
    def free_slots(self) -> np.ndarray:
        """Indices freed by :meth:`evict`, in the order they were freed."""
        return np.asarray(self._free, dtype=np.int64)

    @property
    def ids(self) -> list[Any]:
        """External ids in index order (``None`` for evicted slots)."""
        return list(self._ids)

    # -- persistence --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"ids": self._ids, "free": self._free}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IdMap:
        out = cls()
        out._ids = list(data["ids"])
        out._index = {key: i for i, key in enumerate(out._ids) if key is not None}
        out._free = list(data.get("free", []))
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the map as JSON (atomically)."""
        atomic_write_text(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> IdMap:
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def __repr__(self) -> str:
        return f"IdMap(n={len(self)}, active={self.n_active})"


def _key(external_id: Any) -> Any:
    """Normalise numpy scalars to Python ones so dict keys and JSON agree."""
    if isinstance(external_id, np.generic):
        return external_id.item()
    return external_id


@njit(cache=True)
def _first_appearances(values: np.ndarray, size: int) -> np.ndarray:
    """The distinct ``values`` (ints in ``[0, size)``) in order of first appearance."""
    seen = np.zeros(size, dtype=np.bool_)
    out = np.empty(len(values), dtype=np.int64)
    n = 0
    for value in values:
        if not seen[value]:
            seen[value] = True
            out[n] = value
            n += 1
    return out[:n]
