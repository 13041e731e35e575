"""A feature layer for side data: typed column specs encoded into one sparse CSR matrix.

Each spec turns one column of a :class:`~freshrec.data.SideTable` (or a mapping of columns)
into a block of sparse columns; :class:`FeatureEncoder` learns every block's vocabulary or
statistics on ``fit`` and stacks the blocks side by side on ``transform``. The learned state
is plain JSON (``to_dict`` / ``from_dict``), so models that use features save it next to their
arrays, never as a pickle.

=================  =========================================================================
spec               block
=================  =========================================================================
``OneHot``         one column per category seen on fit
``MultiHot``       one column per element seen on fit; values are tuples (genres, tags)
``Bucketized``     one column per quantile bucket; edges learned on fit
``Normalized``     one column, the z-score ``(x - mean) / std``
``HashedId``       ``n_buckets`` columns, ``crc32(str(value)) % n_buckets`` (stable across runs)
``TfIdf``          one column per kept word; smoothed idf, rows l2-normalised
=================  =========================================================================

**Missing values** (``None``, NaN, empty strings, empty tuples) and **unseen categories**
give an all-zero block; a missing numeric value becomes ``0`` in ``Normalized`` (the mean).
Categories are compared by ``str(value)``, so the vocabularies are JSON object keys.

Examples
--------
>>> import numpy as np
>>> from freshrec.data import SideTable
>>> items = SideTable(np.array(["a", "b", "c"], dtype=object), {
...     "genre": np.array(["drama", "comedy", None], dtype=object),
...     "price": np.array([1.0, 3.0, 5.0])})
>>> encoder = FeatureEncoder([OneHot("genre"), Normalized("price")]).fit(items)
>>> encoder.feature_names()
['genre=comedy', 'genre=drama', 'price']
>>> encoder.transform(items, ids=["c", "a"]).toarray().round(3).tolist()
[[0.0, 0.0, 1.225], [0.0, 1.0, -1.225]]
"""

from __future__ import annotations

import math
import re
import zlib
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from freshrec.data.dataset import SideTable

__all__ = [
    "Bucketized",
    "FeatureEncoder",
    "FeatureSpec",
    "HashedId",
    "MultiHot",
    "Normalized",
    "OneHot",
    "TfIdf",
    "parse_spec",
    "spec_from_dict",
    "tokenize",
]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")

Block = tuple[np.ndarray, np.ndarray, np.ndarray]  # row, col, value of the non-zeros
Columns = Mapping[str, np.ndarray]
TableLike = SideTable | Columns | Sequence[Mapping[str, Any]]


def tokenize(text: str) -> list[str]:
    """Lowercased words of two or more word characters (scikit-learn's default pattern).

    Examples
    --------
    >>> tokenize("The Quick-brown fox, a 2nd time")
    ['the', 'quick', 'brown', 'fox', '2nd', 'time']
    """
    return _TOKEN.findall(text.lower())


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, tuple | list | np.ndarray):
        return len(value) == 0
    return False


def _elements(value: Any) -> list[str]:
    """Non-missing elements of a (possibly multi-valued) cell, as strings."""
    if _missing(value):
        return []
    if isinstance(value, tuple | list | np.ndarray):
        return [str(v) for v in value if not _missing(v)]
    return [str(value)]


def _number(value: Any) -> float:
    if _missing(value):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _empty_block() -> Block:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)


def _block(rows: list[int], cols: list[int], values: list[float]) -> Block:
    return (
        np.asarray(rows, dtype=np.int64),
        np.asarray(cols, dtype=np.int64),
        np.asarray(values, dtype=np.float64),
    )


@dataclass(frozen=True)
class FeatureSpec(ABC):
    """How one column becomes a block of sparse features (subclasses are the spec kinds).

    ``fit_state`` learns a JSON-able state from the column; ``width`` and ``encode`` use it.

    Examples
    --------
    >>> spec = OneHot("genre")
    >>> state = spec.fit_state(np.array(["a", "b", "a"], dtype=object))
    >>> spec.width(state), spec.to_dict()
    (2, {'kind': 'onehot', 'column': 'genre'})
    """

    column: str
    kind: ClassVar[str] = ""

    @abstractmethod
    def fit_state(self, values: np.ndarray) -> dict[str, Any]:
        """Learn the block's state (vocabulary, edges, statistics) from a column."""

    @abstractmethod
    def width(self, state: Mapping[str, Any]) -> int:
        """Number of columns of the block."""

    @abstractmethod
    def encode(self, values: np.ndarray, state: Mapping[str, Any]) -> Block:
        """Non-zeros ``(row, col, value)`` of the block for a column of ``len(values)`` rows."""

    @abstractmethod
    def names(self, state: Mapping[str, Any]) -> list[str]:
        """Readable names of the block's columns."""

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON: ``{"kind": ..., <fields>}``."""
        return {"kind": self.kind, **asdict(self)}


def _vocabulary(cells: Sequence[list[str]]) -> dict[str, int]:
    return {term: j for j, term in enumerate(sorted({t for cell in cells for t in cell}))}


def _hot(values: np.ndarray, vocabulary: Mapping[str, int]) -> Block:
    rows: list[int] = []
    cols: list[int] = []
    for r, value in enumerate(values):
        for j in sorted({vocabulary[t] for t in _elements(value) if t in vocabulary}):
            rows.append(r)
            cols.append(j)
    return _block(rows, cols, [1.0] * len(rows))


@dataclass(frozen=True)
class OneHot(FeatureSpec):
    """One column per category seen on fit; unseen or missing categories give no column.

    Examples
    --------
    >>> spec = OneHot("genre")
    >>> state = spec.fit_state(np.array(["b", "a"], dtype=object))
    >>> spec.encode(np.array(["a", "zzz"], dtype=object), state)[1].tolist()
    [0]
    """

    kind: ClassVar[str] = "onehot"

    def fit_state(self, values: np.ndarray) -> dict[str, Any]:
        cells = [[] if _missing(v) else [str(v)] for v in values]
        return {"vocabulary": _vocabulary(cells)}

    def width(self, state: Mapping[str, Any]) -> int:
        return len(state["vocabulary"])

    def encode(self, values: np.ndarray, state: Mapping[str, Any]) -> Block:
        return _hot(
            np.array([None if _missing(v) else str(v) for v in values]), state["vocabulary"]
        )

    def names(self, state: Mapping[str, Any]) -> list[str]:
        return [f"{self.column}={t}" for t in state["vocabulary"]]


@dataclass(frozen=True)
class MultiHot(FeatureSpec):
    """One column per element seen on fit, for multi-valued cells (tuples of genres, tags).

    A scalar cell counts as a one-element tuple.

    Examples
    --------
    >>> spec = MultiHot("genres")
    >>> cells = np.empty(2, dtype=object); cells[:] = [("a", "b"), ("b",)]
    >>> state = spec.fit_state(cells)
    >>> spec.names(state), spec.encode(cells, state)[1].tolist()
    (['genres=a', 'genres=b'], [0, 1, 1])
    """

    kind: ClassVar[str] = "multihot"

    def fit_state(self, values: np.ndarray) -> dict[str, Any]:
        return {"vocabulary": _vocabulary([_elements(v) for v in values])}

    def width(self, state: Mapping[str, Any]) -> int:
        return len(state["vocabulary"])

    def encode(self, values: np.ndarray, state: Mapping[str, Any]) -> Block:
        return _hot(values, state["vocabulary"])

    def names(self, state: Mapping[str, Any]) -> list[str]:
        return [f"{self.column}={t}" for t in state["vocabulary"]]


@dataclass(frozen=True)
class Bucketized(FeatureSpec):
    """One-hot of the quantile bucket of a number; ``n_buckets - 1`` inner edges learned on fit.

    Bucket ``b`` holds ``edges[b - 1] <= x < edges[b]``; duplicate edges are merged, so a
    column with few distinct values may get fewer buckets. Missing values get no bucket.

    Parameters
    ----------
    column
        Name of the numeric column.
    n_buckets
        Number of quantile buckets wanted.

    Examples
    --------
    >>> spec = Bucketized("price", n_buckets=2)
    >>> state = spec.fit_state(np.array([1.0, 2.0, 3.0, 4.0]))
    >>> state["edges"], spec.encode(np.array([0.5, 9.0, None], dtype=object), state)[1].tolist()
    ([2.5], [0, 1])
    """

    n_buckets: int = 4
    kind: ClassVar[str] = "bucketized"

    def fit_state(self, values: np.ndarray) -> dict[str, Any]:
        if self.n_buckets < 1:
            raise ValueError(f"n_buckets must be >= 1, got {self.n_buckets}")
        numbers = np.array([_number(v) for v in values], dtype=np.float64)
        numbers = numbers[~np.isnan(numbers)]
        if len(numbers) == 0 or self.n_buckets == 1:
            return {"edges": []}
        quantiles = np.linspace(0.0, 1.0, self.n_buckets + 1)[1:-1]
        edges = np.unique(np.quantile(numbers, quantiles))
        return {"edges": [float(e) for e in edges]}

    def width(self, state: Mapping[str, Any]) -> int:
        return len(state["edges"]) + 1

    def encode(self, values: np.ndarray, state: Mapping[str, Any]) -> Block:
        numbers = np.array([_number(v) for v in values], dtype=np.float64)
        rows = np.flatnonzero(~np.isnan(numbers))
        cols = np.searchsorted(np.asarray(state["edges"], np.float64), numbers[rows], "right")
        return rows.astype(np.int64), cols.astype(np.int64), np.ones(len(rows))

    def names(self, state: Mapping[str, Any]) -> list[str]:
        bounds = ["-inf", *(f"{e:g}" for e in state["edges"]), "inf"]
        return [f"{self.column}[{lo},{hi})" for lo, hi in zip(bounds, bounds[1:], strict=False)]


@dataclass(frozen=True)
class Normalized(FeatureSpec):
    """One column ``(x - mean) / std`` with the mean and std of fit (std ``0`` counts as 1).

    Missing values become ``0`` (the mean).

    Examples
    --------
    >>> spec = Normalized("age")
    >>> state = spec.fit_state(np.array([10.0, 30.0]))
    >>> state, spec.encode(np.array([40.0, None], dtype=object), state)[2].tolist()
    ({'mean': 20.0, 'std': 10.0}, [2.0])
    """

    kind: ClassVar[str] = "normalized"

    def fit_state(self, values: np.ndarray) -> dict[str, Any]:
        numbers = np.array([_number(v) for v in values], dtype=np.float64)
        numbers = numbers[~np.isnan(numbers)]
        if len(numbers) == 0:
            return {"mean": 0.0, "std": 1.0}
        std = float(numbers.std())
        return {"mean": float(numbers.mean()), "std": std if std > 0 else 1.0}

    def width(self, state: Mapping[str, Any]) -> int:
        return 1

    def encode(self, values: np.ndarray, state: Mapping[str, Any]) -> Block:
        numbers = np.array([_number(v) for v in values], dtype=np.float64)
        z = (numbers - state["mean"]) / state["std"]
        rows = np.flatnonzero(~np.isnan(z) & (z != 0))
        return rows.astype(np.int64), np.zeros(len(rows), np.int64), z[rows]

    def names(self, state: Mapping[str, Any]) -> list[str]:
        return [self.column]


@dataclass(frozen=True)
class HashedId(FeatureSpec):
    """``n_buckets`` columns; a value goes to ``crc32(str(value)) % n_buckets``.

    Needs no vocabulary, so values never seen on fit still get a column (shared with
    whatever collides). CRC-32 is stable across processes, unlike Python's salted ``hash``.
    Tuples set one column per element.

    Parameters
    ----------
    column
        Name of the column (ids, brands; scalars or tuples).
    n_buckets
        Number of hash buckets (columns).

    Examples
    --------
    >>> spec = HashedId("brand", n_buckets=8)
    >>> spec.encode(np.array(["acme", None], dtype=object), spec.fit_state(np.array([])))[1]
    array([6])
    """

    n_buckets: int = 1024
    kind: ClassVar[str] = "hashed"

    def fit_state(self, values: np.ndarray) -> dict[str, Any]:
        if self.n_buckets < 1:
            raise ValueError(f"n_buckets must be >= 1, got {self.n_buckets}")
        return {}

    def width(self, state: Mapping[str, Any]) -> int:
        return self.n_buckets

    def encode(self, values: np.ndarray, state: Mapping[str, Any]) -> Block:
        rows: list[int] = []
        cols: list[int] = []
        for r, value in enumerate(values):
            hashed = {zlib.crc32(t.encode("utf-8")) % self.n_buckets for t in _elements(value)}
            for j in sorted(hashed):
                rows.append(r)
                cols.append(j)
        return _block(rows, cols, [1.0] * len(rows))

    def names(self, state: Mapping[str, Any]) -> list[str]:
        return [f"{self.column}#{j}" for j in range(self.n_buckets)]


@dataclass(frozen=True)
class TfIdf(FeatureSpec):
    """TF-IDF of a text column over the words of :func:`tokenize`, rows l2-normalised.

    With ``n`` documents on fit and ``df(t)`` of them containing ``t``:
    ``idf(t) = ln((1 + n) / (1 + df(t))) + 1`` (scikit-learn's ``smooth_idf=True``) and
    ``x(d, t) = count(t, d) * idf(t) / ||.||_2``. Words in fewer than ``min_df`` documents
    are dropped, then the ``max_features`` most frequent (total count; ties: alphabetical)
    are kept. Columns are in alphabetical order. Unknown words are ignored.

    Parameters
    ----------
    column
        Name of the text column.
    max_features
        Keep at most this many words (the most frequent); ``None`` keeps all.
    min_df
        Drop words found in fewer than ``min_df`` documents.

    Examples
    --------
    >>> spec = TfIdf("title")
    >>> state = spec.fit_state(np.array(["red fox", "red dog"], dtype=object))
    >>> spec.names(state)
    ['title:dog', 'title:fox', 'title:red']
    >>> spec.encode(np.array(["red fox"], dtype=object), state)[2].round(3).tolist()
    [0.815, 0.58]
    """

    max_features: int | None = None
    min_df: int = 1
    kind: ClassVar[str] = "tfidf"

    def fit_state(self, values: np.ndarray) -> dict[str, Any]:
        docs = [Counter(tokenize(str(v))) for v in values if not _missing(v)]
        df: Counter[str] = Counter()
        total: Counter[str] = Counter()
        for doc in docs:
            df.update(doc.keys())
            total.update(doc)
        terms = sorted(t for t, d in df.items() if d >= self.min_df)
        if self.max_features is not None:
            terms = sorted(sorted(terms, key=lambda t: -total[t])[: self.max_features])
        n = len(values)
        idf = [math.log((1 + n) / (1 + df[t])) + 1.0 for t in terms]
        return {"vocabulary": {t: j for j, t in enumerate(terms)}, "idf": idf}

    def width(self, state: Mapping[str, Any]) -> int:
        return len(state["vocabulary"])

    def encode(self, values: np.ndarray, state: Mapping[str, Any]) -> Block:
        vocabulary: Mapping[str, int] = state["vocabulary"]
        idf = state["idf"]
        rows: list[int] = []
        cols: list[int] = []
        data: list[float] = []
        for r, value in enumerate(values):
            if _missing(value):
                continue
            counts = Counter(t for t in tokenize(str(value)) if t in vocabulary)
            weights = {vocabulary[t]: c * idf[vocabulary[t]] for t, c in counts.items()}
            norm = math.sqrt(sum(w * w for w in weights.values()))
            for j in sorted(weights):
                rows.append(r)
                cols.append(j)
                data.append(weights[j] / norm)
        return _block(rows, cols, data)

    def names(self, state: Mapping[str, Any]) -> list[str]:
        return [f"{self.column}:{t}" for t in state["vocabulary"]]


_KINDS: dict[str, type[FeatureSpec]] = {
    cls.kind: cls for cls in (OneHot, MultiHot, Bucketized, Normalized, HashedId, TfIdf)
}


def spec_from_dict(data: Mapping[str, Any]) -> FeatureSpec:
    """Rebuild a spec from :meth:`FeatureSpec.to_dict`.

    Examples
    --------
    >>> spec_from_dict({"kind": "bucketized", "column": "price", "n_buckets": 3})
    Bucketized(column='price', n_buckets=3)
    """
    data = dict(data)
    kind = data.pop("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown feature kind {kind!r}; choose one of {sorted(_KINDS)}")
    return _KINDS[kind](**data)


def parse_spec(text: str) -> FeatureSpec:
    """A spec from ``"column:kind[:arg...]"``; the args fill the kind's fields in order.

    Kinds: ``onehot``, ``multihot``, ``bucketized:N_BUCKETS``, ``normalized``,
    ``hashed:N_BUCKETS``, ``tfidf[:MAX_FEATURES[:MIN_DF]]`` (``none`` for no limit).

    Examples
    --------
    >>> parse_spec("title:tfidf:500:2")
    TfIdf(column='title', max_features=500, min_df=2)
    >>> parse_spec("category:onehot")
    OneHot(column='category')
    """
    parts = text.split(":")
    column, kind, args = parts[0], parts[1] if len(parts) > 1 else "", parts[2:]
    if kind not in _KINDS:
        raise ValueError(
            f"bad feature spec {text!r}: want 'column:kind[:arg...]' with kind in {sorted(_KINDS)}"
        )
    cls = _KINDS[kind]
    extra = [f for f in fields(cls) if f.name != "column"]
    if len(args) > len(extra):
        raise ValueError(f"bad feature spec {text!r}: {kind} takes at most {len(extra)} args")
    values = {
        f.name: None if a.lower() == "none" else int(a) for f, a in zip(extra, args, strict=False)
    }
    return cls(column, **values)


def _columns(table: TableLike, names: Sequence[str]) -> tuple[int, dict[str, np.ndarray]]:
    """Number of rows and the columns ``names`` of a table, column mapping or list of rows."""
    if isinstance(table, SideTable):
        source: Mapping[str, np.ndarray] = table.columns
        n = len(table)
    elif isinstance(table, Mapping):
        source = table
        n = len(next(iter(table.values()))) if table else 0
    else:
        n = len(table)
        source = {}
        for name in names:
            column = np.empty(n, dtype=object)
            column[:] = [row.get(name) for row in table]
            source[name] = column
    missing = [name for name in names if name not in source]
    if missing:
        raise KeyError(f"feature columns {missing} not in the table (has {sorted(source)})")
    return n, {name: np.asarray(source[name]) for name in names}


class FeatureEncoder:
    """Encode side data into one CSR matrix, one block per spec, side by side.

    Parameters
    ----------
    specs
        The feature specs, as objects or strings for :func:`parse_spec`.

    Attributes
    ----------
    states_
        Learned JSON state of each spec (vocabularies, edges, statistics), set by ``fit``.

    Examples
    --------
    >>> from freshrec.data import SideTable
    >>> table = SideTable(np.array([1, 2]), {"title": np.array(["red fox", "blue fox"])})
    >>> encoder = FeatureEncoder(["title:tfidf"]).fit(table)
    >>> encoder.n_features
    3
    >>> again = FeatureEncoder.from_dict(encoder.to_dict())
    >>> (again.transform(table) != encoder.transform(table)).nnz
    0
    >>> encoder.transform([{"title": "red"}, {"title": None}]).toarray().tolist()
    [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """

    def __init__(self, specs: Sequence[FeatureSpec | str]) -> None:
        self.specs: list[FeatureSpec] = [parse_spec(s) if isinstance(s, str) else s for s in specs]

    def fit(self, table: TableLike) -> Self:
        """Learn each spec's state from ``table`` (a SideTable, columns or rows)."""
        _, columns = _columns(table, [s.column for s in self.specs])
        self.states_ = [spec.fit_state(columns[spec.column]) for spec in self.specs]
        return self

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "states_")

    @property
    def n_features(self) -> int:
        """Total number of columns of :meth:`transform`."""
        self._check_fitted()
        return sum(spec.width(state) for spec, state in zip(self.specs, self.states_, strict=True))

    def feature_names(self) -> list[str]:
        """Readable names of the columns, in order."""
        self._check_fitted()
        return [n for s, st in zip(self.specs, self.states_, strict=True) for n in s.names(st)]

    def transform(
        self, table: TableLike, ids: Sequence[Any] | np.ndarray | None = None
    ) -> sp.csr_matrix:
        """Features of ``table``, shape (n_rows, n_features), ``float64``.

        With ``ids`` (only for a SideTable) the rows follow ``ids``, e.g. a model's item
        index order; ids missing from the table get an all-zero row.
        """
        self._check_fitted()
        n, columns = _columns(table, [s.column for s in self.specs])
        rows, cols, data = [], [], []
        offset = 0
        for spec, state in zip(self.specs, self.states_, strict=True):
            r, c, v = spec.encode(columns[spec.column], state)
            rows.append(r)
            cols.append(c + offset)
            data.append(v)
            offset += spec.width(state)
        matrix = sp.csr_matrix(
            (
                np.concatenate([*data, _empty_block()[2]]),
                (
                    np.concatenate([*rows, _empty_block()[0]]),
                    np.concatenate([*cols, _empty_block()[1]]),
                ),
            ),
            shape=(n, offset),
            dtype=np.float64,
        )
        matrix.sum_duplicates()
        matrix.sort_indices()
        if ids is None:
            return matrix
        if not isinstance(table, SideTable):
            raise TypeError("ids= needs a SideTable, whose ids say which row is which")
        position = {_id_key(v): i for i, v in enumerate(table.ids)}
        where = np.array([position.get(_id_key(v), -1) for v in ids], dtype=np.int64)
        found = np.flatnonzero(where >= 0)
        pick = sp.csr_matrix((np.ones(len(found)), (found, where[found])), shape=(len(where), n))
        out = sp.csr_matrix(pick @ matrix)
        out.sort_indices()
        return out

    def fit_transform(self, table: TableLike) -> sp.csr_matrix:
        """``fit(table)`` then ``transform(table)``."""
        return self.fit(table).transform(table)

    def to_dict(self) -> dict[str, Any]:
        """Specs and learned states as JSON."""
        out: dict[str, Any] = {"specs": [s.to_dict() for s in self.specs]}
        if self.is_fitted:
            out["states"] = self.states_
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureEncoder:
        """Rebuild an encoder saved by :meth:`to_dict`."""
        encoder = cls([spec_from_dict(s) for s in data["specs"]])
        if "states" in data:
            encoder.states_ = [dict(s) for s in data["states"]]
        return encoder

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            from freshrec.errors import NotFittedError

            raise NotFittedError("FeatureEncoder has not been fitted; call fit first")

    def __repr__(self) -> str:
        return f"FeatureEncoder({self.specs!r})"


def _id_key(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
