"""Int8 factor tables: int8 codes with one float32 scale per row, held and scored as such.

:class:`Int8Rows` stores a table row-wise as ``row = codes * scale`` (symmetric,
``scale = max|row| / 127``): 1 byte per entry plus 4 per row, 26.6% of float32 at 64
dimensions. :class:`Int8Factors` is the base of the matrix-factorization models (BPR, ALS,
BiasedMF): :meth:`Int8Factors.quantize_tables` replaces the float ``user_factors_`` and
``item_factors_`` by their int8 form, which the model then holds, scores from (products in
float32 over blocks of dequantized rows: the float table is never rebuilt whole) and saves
(``<table>.codes`` and ``<table>.scale`` in ``model.safetensors``; ``load`` restores the
int8 form).

**Learning on an int8 model** (``partial_fit``, ``fold_in``, ``learn_one``, ``add_ids``,
``evict``, EWC, or anything else that reads ``user_factors_``/``item_factors_``) first
dequantizes both tables to float, with a warning: the model is a float model again and
learns as one from the dequantized values; quantize it again after learning to hold int8.
``fit`` starts from nothing and gives a float model.

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.models.bpr import BPR
>>> model = BPR(n_factors=64, n_epochs=5).fit(checkerboard_events())
>>> before = model.score_batch(np.arange(3))
>>> model.quantize_tables().is_quantized
True
>>> bool(np.abs(model.score_batch(np.arange(3)) - before).max() < 0.01)
True
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import FactorTables

__all__ = ["Int8Factors", "Int8Rows", "quantize_rows"]

_BLOCK = 4096  # rows dequantized at once by Int8Rows.product (1 MiB of float32 at d=64)
_TABLES = ("user_factors_", "item_factors_")


@dataclass(frozen=True)
class Int8Rows:
    """A table stored row-wise as int8 codes and float32 scales: ``row = codes * scale``.

    Attributes
    ----------
    codes
        ``int8`` array of shape (n_rows, width).
    scales
        ``float32`` array of shape (n_rows,).

    Examples
    --------
    >>> table = np.array([[0.5, -1.0], [0.0, 0.0]], np.float32)
    >>> stored = quantize_rows(table)
    >>> stored.codes.tolist(), stored.nbytes
    ([[64, -127], [0, 0]], 12)
    >>> bool(np.abs(stored.dequantize() - table).max() <= 1.0 / 254)
    True
    >>> stored.product(np.ones((1, 2), np.float32)).round(3).tolist()
    [[-0.496, 0.0]]
    """

    codes: np.ndarray
    scales: np.ndarray

    @property
    def nbytes(self) -> int:
        """Bytes held: the codes and the scales."""
        return int(self.codes.nbytes + self.scales.nbytes)

    @property
    def shape(self) -> tuple[int, int]:
        """(n_rows, width), as the float table's."""
        rows, width = self.codes.shape
        return int(rows), int(width)

    def dequantize(self) -> np.ndarray:
        """The float32 table the codes stand for."""
        return self.rows(None)

    def rows(self, index: np.ndarray | None) -> np.ndarray:
        """The float32 rows ``index`` (all for ``None``), shape (len(index), width)."""
        codes, scales = (
            (self.codes, self.scales)
            if index is None
            else (
                self.codes[index],
                self.scales[index],
            )
        )
        table: np.ndarray = codes.astype(np.float32) * scales[:, None]
        return table

    def product(self, queries: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        """``queries @ rows(index).T`` in float32, dequantizing ``_BLOCK`` rows at a time.

        ``queries`` is (n, width); the result (n, len(index)) (every row for ``None``).
        """
        queries = np.asarray(queries, np.float32)
        n_rows = len(self.codes) if index is None else len(index)
        out = np.empty((len(queries), n_rows), np.float32)
        for start in range(0, n_rows, _BLOCK):
            stop = min(start + _BLOCK, n_rows)
            block = slice(start, stop) if index is None else np.asarray(index)[start:stop]
            codes = self.codes[block].astype(np.float32)
            out[:, start:stop] = (queries @ codes.T) * self.scales[block]
        return out


def quantize_rows(table: np.ndarray) -> Int8Rows:
    """Row-wise symmetric int8 quantization of a 2-D table (see :class:`Int8Rows`).

    Examples
    --------
    >>> quantize_rows(np.array([[2.0, -1.0]])).scales.tolist()
    [0.015748...]
    """
    table = np.asarray(table, np.float32)
    if table.ndim != 2:
        raise ValueError(f"expected a 2-D table, got shape {table.shape}")
    peak = np.abs(table).max(axis=1) if table.shape[1] else np.zeros(len(table), np.float32)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = np.clip(np.rint(table / scales[:, None]), -127, 127).astype(np.int8)
    return Int8Rows(codes, scales)


class Int8Factors(RecommenderBase, FactorTables):
    """Base of the factor models: ``user_factors_``/``item_factors_`` held as float or int8.

    See the module doc. While int8 (:attr:`is_quantized`), the tables live in
    ``int8_tables_`` (table name to :class:`Int8Rows`) and the float attributes are gone;
    reading ``user_factors_`` or ``item_factors_`` (which learning does) dequantizes the
    model back to float first, with a warning. A subclass scores through
    :meth:`_factor_rows` and :meth:`_factor_scores`, which read either form without changing
    it, and sets ``_factor_dtype`` to the dtype its float tables have.

    Attributes
    ----------
    int8_tables_
        While quantized: ``{"user_factors_": Int8Rows, "item_factors_": Int8Rows}``.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models import ALS
    >>> model = ALS(n_factors=8, n_iterations=3).fit(checkerboard_events())
    >>> model.quantize_tables().int8_tables_["item_factors_"].codes.dtype
    dtype('int8')
    >>> "item_factors_" in vars(model), model.dequantize_tables().is_quantized
    (False, False)
    """

    _factor_dtype: ClassVar[type[np.floating[Any]]] = np.float32
    int8_tables_: dict[str, Int8Rows]

    @property
    def is_quantized(self) -> bool:
        """Whether the factor tables are held as int8 codes and scales."""
        return bool(self.__dict__.get("int8_tables_"))

    def quantize_tables(self) -> Self:
        """Hold ``user_factors_`` and ``item_factors_`` as int8 rows from now on; the model.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models import BiasedMF
        >>> model = BiasedMF(n_factors=8).fit(checkerboard_events()).quantize_tables()
        >>> model.is_quantized, model.score("u0", ["i0"]).shape
        (True, (1,))
        """
        self._check_fitted()
        stored = self.__dict__.pop("int8_tables_", {})
        for name in _TABLES:
            if name in self.__dict__:  # a table still (or again) float
                stored[name] = quantize_rows(self.__dict__.pop(name))
        self.int8_tables_ = stored
        return self

    def dequantize_tables(self) -> Self:
        """Hold the tables as float again (``_factor_dtype``), from their int8 values.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models import BPR
        >>> model = BPR(n_factors=8, n_epochs=2).fit(checkerboard_events()).quantize_tables()
        >>> model.dequantize_tables().item_factors_.dtype
        dtype('float32')
        """
        for name, stored in self.__dict__.pop("int8_tables_", {}).items():
            self.__dict__[name] = stored.dequantize().astype(self._factor_dtype)
        return self

    def table_nbytes(self) -> dict[str, int]:
        """Bytes held by each factor table: codes and scales while int8, else the array's.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models import BPR
        >>> model = BPR(n_factors=64, n_epochs=2).fit(checkerboard_events())
        >>> model.table_nbytes()
        {'user_factors_': 6144, 'item_factors_': 4096}
        >>> model.quantize_tables().table_nbytes()
        {'user_factors_': 1632, 'item_factors_': 1088}
        """
        return {
            name: stored.nbytes
            if (stored := self._int8(name)) is not None
            else self._held(name).nbytes
            for name in _TABLES
        }

    # -- the float tables: reading one from an int8 model dequantizes it --------------------
    @property
    def user_factors_(self) -> np.ndarray:
        return self._float_table("user_factors_")

    @user_factors_.setter
    def user_factors_(self, table: np.ndarray) -> None:
        self._set_float_table("user_factors_", table)

    @user_factors_.deleter
    def user_factors_(self) -> None:
        del self.__dict__["user_factors_"]

    @property
    def item_factors_(self) -> np.ndarray:
        return self._float_table("item_factors_")

    @item_factors_.setter
    def item_factors_(self, table: np.ndarray) -> None:
        self._set_float_table("item_factors_", table)

    @item_factors_.deleter
    def item_factors_(self) -> None:
        del self.__dict__["item_factors_"]

    def _float_table(self, name: str) -> np.ndarray:
        table = self.__dict__.get(name)
        if table is None:
            if not self.is_quantized:
                raise AttributeError(f"{type(self).__name__} has no {name} (not fitted)")
            warnings.warn(
                f"{type(self).__name__}'s factor tables are int8: dequantizing them to "
                f"{np.dtype(self._factor_dtype).name} to change them (the model is float "
                "from now on; quantize it again after learning)",
                stacklevel=3,
            )
            self.dequantize_tables()
            table = self.__dict__[name]
        return table  # type: ignore[no-any-return]

    def _set_float_table(self, name: str, table: np.ndarray) -> None:
        self.__dict__[name] = table
        tables = self.__dict__.get("int8_tables_")
        if tables is not None and tables.pop(name, None) is not None and not tables:
            del self.__dict__["int8_tables_"]

    # -- scoring from either form ----------------------------------------------------------
    def _factor_shape(self, name: str) -> tuple[int, int]:
        """(n_rows, width) of table ``name``, in either form."""
        stored = self._int8(name)
        rows, width = stored.shape if stored is not None else self._held(name).shape
        return int(rows), int(width)

    def _factor_rows(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Rows ``rows`` (all for ``None``) of table ``name``; dequantized rows when int8
        (never the model's own array then: a copy)."""
        stored = self._int8(name)
        if stored is not None:
            return stored.rows(rows)
        table = self._held(name)
        return table if rows is None else table[rows]

    def _factor_scores(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        """``user_factors_[user_idx] @ item_factors_[item_idx].T`` (all items for ``None``)."""
        users = self._factor_rows("user_factors_", user_idx)
        stored = self._int8("item_factors_")
        if stored is not None:
            return stored.product(users, item_idx)
        scores: np.ndarray = users @ self._factor_rows("item_factors_", item_idx).T
        return scores

    def _int8(self, name: str) -> Int8Rows | None:
        tables: dict[str, Int8Rows] = self.__dict__.get("int8_tables_", {})
        return tables.get(name)

    def _held(self, name: str) -> np.ndarray:
        table: np.ndarray = self.__dict__[name]
        return table

    # -- state: int8 tables are saved as <name>.codes and <name>.scale ----------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        tables = self.__dict__.get("int8_tables_", {})
        arrays: dict[str, np.ndarray] = {}
        for name in self._state_arrays:
            if name in tables:
                arrays[f"{name}.codes"] = tables[name].codes
                arrays[f"{name}.scale"] = tables[name].scales
            else:
                arrays[name] = getattr(self, name)
        return arrays

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        stored: dict[str, Int8Rows] = {}
        for name in self._state_arrays:
            if f"{name}.codes" in arrays:
                stored[name] = Int8Rows(arrays[f"{name}.codes"], arrays[f"{name}.scale"])
                self.__dict__.pop(name, None)
            else:
                setattr(self, name, arrays[name])
        if stored:
            self.int8_tables_ = stored
