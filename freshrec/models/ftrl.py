"""FTRL-Proximal logistic regression and factorization machine over hashed features (clicks).

A click predictor for impression logs (MIND, Open Bandit): each event is a row of
categorical fields (``user``, ``item``, and any context or item-side column), each hashed
with its field name into ``2**n_bits`` buckets (:class:`FeatureHasher`). The model is

.. math::
    p = \\sigma\\Big(w_0 + \\sum_f w_{h_f}
        + \\sum_{(f, g) \\in P} \\langle v_{h_f}, v_{h_g} \\rangle\\Big)

with linear weights learned by per-coordinate FTRL-Proximal (McMahan et al., KDD 2013:
L1 gives exact zeros) and, when ``n_factors > 0``, factor vectors for the field pairs ``P``
learned by per-coordinate AdaGrad on the log loss (a field-pair factorization machine;
Rendle, 2010). ``n_factors=0`` is FTRL logistic regression. Learning is one compiled pass
per event: :meth:`FTRLFM.learn_predict` predicts each event, then learns it (prequential).

Examples
--------
>>> from freshrec.data.batch import EventBatch
>>> rng = np.random.default_rng(0)
>>> users, items = rng.integers(0, 20, 4000), rng.integers(0, 10, 4000)
>>> clicks = (rng.random(4000) < np.where((users + items) % 2 == 0, 0.6, 0.1)).astype(float)
>>> events = EventBatch(users, items, clicks)
>>> model = FTRLFM(fields=("user", "item"), n_factors=4, seed=0)
>>> p = model.learn_predict(events)
>>> bool(p[2000:][clicks[2000:] == 1].mean() > p[2000:][clicks[2000:] == 0].mean() + 0.2)
True
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from itertools import combinations
from typing import ClassVar, Self

import numpy as np
from numba import njit

from freshrec.base import Estimator
from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.data.dataset import SideTable

__all__ = ["FTRLFM", "ClickModel", "FeatureHasher", "field_values"]


class FeatureHasher:
    """Hash categorical fields of events into ``[0, 2**n_bits)``, one index per field.

    A field is ``"user"``, ``"item"``, ``"context.<column>"`` (a context column of the
    batch) or ``"item.<column>"`` (a column of the ``items`` side table, looked up by item;
    missing items hash the value ``None``). The hash is CRC-32 of ``"<field>=<value>"``, so
    the same value in two fields lands in different buckets, and runs are reproducible.

    Examples
    --------
    >>> hasher = FeatureHasher(("user", "item"), n_bits=10)
    >>> codes = hasher(EventBatch(np.array(["ann", "ann"]), np.array([1, 2]), np.ones(2)))
    >>> codes.shape, bool(codes[0, 0] == codes[1, 0]), bool(codes[0, 1] != codes[1, 1])
    ((2, 2), True, True)
    """

    def __init__(
        self, fields: Sequence[str], n_bits: int = 18, items: SideTable | None = None
    ) -> None:
        if not fields:
            raise ValueError("give at least one field")
        if not 1 <= n_bits <= 30:
            raise ValueError(f"n_bits must be in [1, 30], got {n_bits}")
        self.fields = tuple(fields)
        self.n_bits = n_bits
        self.items = items

    def __call__(self, batch: EventBatch) -> np.ndarray:
        """Hashed indices, shape (len(batch), len(fields)), int64."""
        out = np.empty((len(batch), len(self.fields)), dtype=np.int64)
        for column, field in enumerate(self.fields):
            values = field_values(batch, field, self.items)
            uniques, inverse = np.unique(values.astype(str), return_inverse=True)
            mask = (1 << self.n_bits) - 1
            codes = np.array([zlib.crc32(f"{field}={v}".encode()) & mask for v in uniques])
            out[:, column] = codes[inverse.ravel()] if len(uniques) else 0
        return out


def field_values(batch: EventBatch, field: str, items: SideTable | None = None) -> np.ndarray:
    """The values of ``field`` for each event of ``batch`` (see :class:`FeatureHasher`).

    Examples
    --------
    >>> batch = EventBatch(np.array(["ann"]), np.array([7]), np.ones(1),
    ...                    context={"position": np.array([2])})
    >>> field_values(batch, "context.position").tolist(), field_values(batch, "item").tolist()
    ([2], [7])
    """
    if field in ("user", "item"):
        return np.asarray(getattr(batch, field))
    kind, _, name = field.partition(".")
    if kind == "context" and batch.context and name in batch.context:
        return np.asarray(batch.context[name])
    if kind == "item" and items is not None and name in items.columns:
        column = items.columns[name].tolist()
        lookup = dict(zip(items.ids.tolist(), column, strict=True))
        return np.array([lookup.get(i) for i in batch.item.tolist()], dtype=object)
    raise ValueError(
        f"unknown field {field!r}: use user, item, context.<column> or item.<column> "
        "(with an items table)"
    )


class ClickModel(Estimator):
    """The API of the per-event click models: test-then-train, learn, and predict.

    A subclass implements ``_run(events, items, learn=...)``: the click probability of each
    event before it is learned, learning it too when ``learn``.

    Examples
    --------
    >>> class Constant(ClickModel):
    ...     def _run(self, events, items, *, learn):
    ...         return np.full(len(as_batch(events)), 0.5)
    >>> events = EventBatch(np.zeros(2, int), np.zeros(2, int), np.ones(2))
    >>> Constant().predict_proba(events).tolist()
    [0.5, 0.5]
    """

    def learn_predict(self, events: Events, items: SideTable | None = None) -> np.ndarray:
        """Predict each event's click probability, then learn its label, in the order given."""
        return self._run(events, items, learn=True)

    def partial_fit(self, events: Events, items: SideTable | None = None) -> Self:
        """Learn from ``events`` (labels: ``value > 0`` is a click)."""
        self._run(events, items, learn=True)
        return self

    def predict_proba(self, events: Events, items: SideTable | None = None) -> np.ndarray:
        """Click probabilities of ``events`` without learning."""
        return self._run(events, items, learn=False)

    def _run(self, events: Events, items: SideTable | None, *, learn: bool) -> np.ndarray:
        raise NotImplementedError


class FTRLFM(ClickModel):
    """Click probability from hashed fields: FTRL-Proximal linear part plus pairwise factors.

    Parameters
    ----------
    fields
        The hashed fields (see :class:`FeatureHasher`).
    pairs
        Field pairs with a factor interaction, as ``"a*b"`` strings of field names; ``None``
        takes every pair.
    n_bits
        Hash space: ``2**n_bits`` buckets (shared by all fields).
    n_factors
        Width of the factor vectors; 0 makes plain FTRL logistic regression.
    alpha, l1, l2
        FTRL-Proximal's per-coordinate step ``alpha / (beta + sqrt(n))`` (``beta`` = 1, as
        in McMahan et al.) and its L1 and L2 penalties.
    factor_lr, factor_l2
        AdaGrad step size and L2 penalty of the factor vectors (drawn from N(0, 0.01^2)).
    seed
        Seed of the factor initialisation.

    Attributes
    ----------
    z_, n_
        FTRL state of the linear weights (bucket 0..2**n_bits-1, then the bias).
    factors_, factor_sq_
        Factor vectors and their AdaGrad accumulators, shape (2**n_bits, n_factors).

    Examples
    --------
    >>> from freshrec.data.batch import EventBatch
    >>> model = FTRLFM(fields=("user", "item"), n_bits=12, n_factors=2)
    >>> events = EventBatch(np.array([1, 1, 2]), np.array([5, 6, 5]), np.array([1.0, 0.0, 1.0]))
    >>> model.partial_fit(events).predict_proba(events).shape
    (3,)
    """

    beta: ClassVar[float] = 1.0
    init_std: ClassVar[float] = 0.01

    def __init__(
        self,
        fields: tuple[str, ...] = ("user", "item"),
        pairs: tuple[str, ...] | None = None,
        n_bits: int = 18,
        n_factors: int = 8,
        alpha: float = 0.05,
        l1: float = 1.0,
        l2: float = 1.0,
        factor_lr: float = 0.05,
        factor_l2: float = 1e-4,
        seed: int | None = 0,
    ) -> None:
        self.fields = fields
        self.pairs = pairs
        self.n_bits = n_bits
        self.n_factors = n_factors
        self.alpha = alpha
        self.l1 = l1
        self.l2 = l2
        self.factor_lr = factor_lr
        self.factor_l2 = factor_l2
        self.seed = seed

    def _run(self, events: Events, items: SideTable | None, *, learn: bool) -> np.ndarray:
        batch = as_batch(events)
        codes = FeatureHasher(self.fields, self.n_bits, items)(batch)
        self._ensure_state()
        labels = (np.asarray(batch.value) > 0).astype(np.float64)
        out = np.empty(len(batch))
        _ftrl_fm_pass(
            codes,
            labels,
            self._pair_index(),
            self.z_,
            self.n_,
            self.factors_,
            self.factor_sq_,
            self.alpha,
            self.beta,
            self.l1,
            self.l2,
            self.factor_lr,
            self.factor_l2,
            learn,
            out,
        )
        return out

    def _ensure_state(self) -> None:
        if hasattr(self, "z_"):
            return
        size = 1 << self.n_bits
        rng = np.random.default_rng(self.seed)
        self.z_ = np.zeros(size + 1)
        self.n_ = np.zeros(size + 1)
        self.factors_ = rng.normal(0.0, self.init_std, (size, self.n_factors))
        self.factor_sq_ = np.zeros((size, self.n_factors))

    def _pair_index(self) -> np.ndarray:
        """Field pairs as an (n_pairs, 2) array of field positions."""
        if self.pairs is None:
            chosen = list(combinations(range(len(self.fields)), 2))
        else:
            chosen = []
            for pair in self.pairs:
                left, _, right = pair.partition("*")
                if left not in self.fields or right not in self.fields:
                    raise ValueError(f"pair {pair!r} names a field not in {self.fields}")
                chosen.append((self.fields.index(left), self.fields.index(right)))
        return np.asarray(chosen, dtype=np.int64).reshape(-1, 2)


@njit(cache=True)
def _ftrl_weight(z: float, n: float, alpha: float, beta: float, l1: float, l2: float) -> float:
    if abs(z) <= l1:
        return 0.0
    sign = 1.0 if z > 0 else -1.0
    return float(-(z - sign * l1) / ((beta + np.sqrt(n)) / alpha + l2))


@njit(cache=True)
def _ftrl_fm_pass(
    codes: np.ndarray,
    labels: np.ndarray,
    pairs: np.ndarray,
    z: np.ndarray,
    n: np.ndarray,
    factors: np.ndarray,
    factor_sq: np.ndarray,
    alpha: float,
    beta: float,
    l1: float,
    l2: float,
    factor_lr: float,
    factor_l2: float,
    learn: bool,
    out: np.ndarray,
) -> None:
    """Per event: predict (into ``out``), then, with ``learn``, one FTRL + AdaGrad step."""
    n_fields = codes.shape[1]
    bias = len(z) - 1
    k = factors.shape[1]
    weights = np.empty(n_fields + 1)
    for t in range(codes.shape[0]):
        logit = 0.0
        for f in range(n_fields):
            weights[f] = _ftrl_weight(z[codes[t, f]], n[codes[t, f]], alpha, beta, l1, l2)
            logit += float(weights[f])
        weights[n_fields] = _ftrl_weight(z[bias], n[bias], alpha, beta, l1, l2)
        logit += float(weights[n_fields])
        for p in range(pairs.shape[0]):
            a, b = codes[t, pairs[p, 0]], codes[t, pairs[p, 1]]
            for d in range(k):
                logit += float(factors[a, d] * factors[b, d])
        logit = min(max(logit, -35.0), 35.0)
        prob = 1.0 / (1.0 + np.exp(-logit))
        out[t] = prob
        if not learn:
            continue
        g = prob - labels[t]  # d logloss / d logit
        for f in range(n_fields + 1):
            i = codes[t, f] if f < n_fields else bias
            sigma = (np.sqrt(n[i] + g * g) - np.sqrt(n[i])) / alpha
            z[i] += g - sigma * weights[f]
            n[i] += g * g
        for p in range(pairs.shape[0]):
            a, b = codes[t, pairs[p, 0]], codes[t, pairs[p, 1]]
            for d in range(k):
                va, vb = factors[a, d], factors[b, d]
                ga = g * vb + factor_l2 * va
                gb = g * va + factor_l2 * vb
                factor_sq[a, d] += ga * ga
                factor_sq[b, d] += gb * gb
                factors[a, d] = va - factor_lr * ga / np.sqrt(factor_sq[a, d] + 1e-12)
                factors[b, d] = vb - factor_lr * gb / np.sqrt(factor_sq[b, d] + 1e-12)
