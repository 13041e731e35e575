"""The log's id maps: indices given in order of first appearance in the log, never recycled."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np

from freshrec.data.idmap import IdMap

__all__ = ["LogIdMap", "dump_ids", "encode_new", "load_ids"]


class LogIdMap(IdMap):
    """An :class:`~freshrec.data.IdMap` that never frees an index.

    The log grows it as events arrive; consumers read it (``encode``, ``decode``, ``len``)
    and must not grow it themselves. :meth:`evict` is refused, so an index, once given,
    means the same user or item for the life of the log, in every process.

    Examples
    --------
    >>> users = LogIdMap(["ann", "bob"])
    >>> users.encode(["bob"]).tolist()
    [1]
    >>> users.evict(["ann"])
    Traceback (most recent call last):
    ...
    TypeError: the event log's id maps never free an index
    """

    def evict(self, ids: Iterable[Any]) -> np.ndarray:
        """Refused: indices of the log are never recycled."""
        raise TypeError("the event log's id maps never free an index")


def encode_new(ids: np.ndarray, idmap: IdMap) -> tuple[np.ndarray, list[Any]]:
    """Indices of ``ids`` as if ``idmap`` grew on them, without growing it.

    Returns the ``int64`` indices and the unseen ids in order of first appearance (they
    get ``len(idmap)``, ``len(idmap) + 1``, ...). Grow the map with them once they are
    stored.

    Examples
    --------
    >>> codes, new = encode_new(np.array(["b", "x", "a", "x"], object), IdMap(["a", "b"]))
    >>> codes.tolist(), new
    ([1, 2, 0, 2], ['x'])
    """
    codes = idmap.encode(ids)
    unknown = codes < 0
    if not unknown.any():
        return codes, []
    missing = ids[unknown].tolist()
    new = list(dict.fromkeys(missing))
    base = len(idmap)
    lookup = {key: base + j for j, key in enumerate(new)}
    codes = codes.copy()
    codes[unknown] = np.fromiter((lookup[k] for k in missing), dtype=np.int64, count=len(missing))
    return codes, new


def dump_ids(ids: Iterable[Any]) -> list[str]:
    """External ids as JSON texts (``7`` and ``"7"`` stay apart).

    Examples
    --------
    >>> dump_ids([7, "7"])
    ['7', '"7"']
    """
    return [json.dumps(v.item() if isinstance(v, np.generic) else v) for v in ids]


def load_ids(texts: Iterable[str | bytes]) -> list[Any]:
    """The ids that :func:`dump_ids` wrote.

    Examples
    --------
    >>> load_ids(['7', b'"7"'])
    [7, '7']
    """
    parts = [t.decode() if isinstance(t, bytes) else t for t in texts]
    loaded: list[Any] = json.loads("[" + ",".join(parts) + "]")
    return loaded
