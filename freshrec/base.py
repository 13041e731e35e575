"""The Recommender protocol and the Estimator base class every freshrec model builds on."""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, NamedTuple, Protocol, Self, runtime_checkable

import numpy as np
import scipy.sparse as sp

from freshrec.capabilities import GrowsAndEvicts, Rehearses
from freshrec.data.batch import EventBatch, Events, as_batch, ids_array
from freshrec.data.idmap import IdMap
from freshrec.data.interactions import InteractionLog
from freshrec.errors import DivergedError, NotFittedError
from freshrec.log.cursor import Cursor
from freshrec.log.log import EventLog
from freshrec.log.model_view import ModelView
from freshrec.persist import load_model, save_model
from freshrec.ranking import top_k
from freshrec.tables import grow_rows
from freshrec.typing import ItemId, RowInit, UserId

__all__ = ["Estimator", "Recommender", "RecommenderBase", "Scored"]

_STEP_PARAMS = ("lr", "l2", "reg", "weight_decay", "alpha", "learning_rate")


class Scored(NamedTuple):
    """An item with its score, as returned by ``recommend``.

    Examples
    --------
    >>> Scored("heat", 0.9).item
    'heat'
    """

    item: ItemId
    score: float


@runtime_checkable
class Recommender(Protocol):
    """What every recommender offers; third-party classes conform without inheriting.

    Examples
    --------
    >>> from freshrec.models import MostPopular
    >>> isinstance(MostPopular(), Recommender)
    True
    """

    def fit(self, events: Events) -> Self: ...

    def partial_fit(self, events: Events) -> Self: ...

    def score(self, user: UserId, items: Sequence[ItemId] | np.ndarray) -> np.ndarray: ...

    def recommend(
        self,
        user: UserId,
        k: int = 10,
        *,
        exclude: Collection[ItemId] = (),
        candidates: Sequence[ItemId] | None = None,
    ) -> list[Scored]: ...

    def score_batch(
        self, user_idx: np.ndarray, item_idx: np.ndarray | None = None
    ) -> np.ndarray: ...

    def recommend_batch(
        self, user_idx: np.ndarray, k: int, *, exclude: sp.csr_matrix | None = None
    ) -> np.ndarray: ...

    def save(self, path: str | os.PathLike[str], *, force: bool = False) -> None: ...

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self: ...


_INIT_PARAMS: dict[type, tuple[str, ...]] = {}  # each class's constructor parameters


class Estimator:
    """Hyperparameters from the ``__init__`` signature: ``get_params``, ``set_params``, ``clone``.

    Learned state lives in attributes with a trailing underscore and is dropped by ``reset``.

    Examples
    --------
    >>> class Toy(Estimator):
    ...     def __init__(self, lr: float = 0.1, seed: int | None = None) -> None:
    ...         self.lr = lr
    ...         self.seed = seed
    >>> Toy(lr=0.5)
    Toy(lr=0.5, seed=None)
    >>> Toy(lr=0.5).clone().set_params(seed=3).get_params()
    {'lr': 0.5, 'seed': 3}
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        names = _INIT_PARAMS.get(cls)
        if names is None:  # read once per class: an update step asks on every call
            signature = inspect.signature(cls.__init__)
            names = _INIT_PARAMS[cls] = tuple(
                name
                for name, p in signature.parameters.items()
                if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            )
        return list(names)

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-able dict."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Change hyperparameters; unknown names raise ``ValueError``."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no parameter {name!r}; valid: {sorted(valid)}"
                )
            setattr(self, name, value)
        return self

    def clone(self) -> Self:
        """A new, unfitted estimator with the same hyperparameters."""
        return type(self)(**self.get_params())

    def reset(self) -> None:
        """Forget everything learned (drop every attribute ending with ``_``)."""
        for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("__")]:
            delattr(self, name)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class RecommenderBase(Estimator):
    """Shared machinery of freshrec recommenders.

    A subclass implements three hooks and declares its state:

    - ``_grow(n_users, n_items)``: make room for new users/items (new rows at the prior);
    - ``_learn(batch, valid)``: learn from an encoded batch (``user_idx``/``item_idx`` set),
      optionally stopping early on the validation batch ``valid``;
    - ``_score(user_idx, item_idx)``: scores of known users, shape (n_users, n_items);
    - ``_state_arrays`` / ``_state_values``: names of numpy / JSON attributes to save (or
      override ``_arrays``/``_set_arrays`` when the state is not plain attributes).

    The base keeps the id maps (``user_map_``, ``item_map_``), item popularity
    (``item_counts_``: events with ``value >= threshold``), the RNG and the log cursor learned
    up to (``cursor_``). **History** (the events learned, for negative sampling and the like)
    is read through :meth:`history`: the attached :class:`EventLog` up to ``cursor_``, then
    the events given to ``partial_fit`` directly (``interactions_``, in memory, never saved: a
    saved model holds what it learned, not the events). **Fallback:** an unknown user is
    scored by :meth:`_fallback_scores`, item popularity unless a model overrides it; unknown
    items score at ``prior_score``.

    Examples
    --------
    A model that scores every item by its index, to show the hooks:

    >>> class ByIndex(RecommenderBase):
    ...     def __init__(self, threshold: float = 1.0) -> None:
    ...         self.threshold = threshold
    ...     def _grow(self, n_users, n_items): pass
    ...     def _learn(self, batch, valid): pass
    ...     def _score(self, user_idx, item_idx):
    ...         items = np.arange(self.n_items) if item_idx is None else item_idx
    ...         return np.tile(items.astype(float), (len(user_idx), 1))
    >>> from freshrec.data import Event
    >>> model = ByIndex().fit([Event("ann", "a"), Event("ann", "b")])
    >>> [s.item for s in model.recommend("ann", k=2)]
    ['b', 'a']
    """

    _state_arrays: ClassVar[tuple[str, ...]] = ()
    _state_values: ClassVar[tuple[str, ...]] = ()
    prior_score: ClassVar[float] = 0.0
    threshold: float = 1.0
    seed: int | None = None
    _event_log: EventLog | None = None  # set by ``attach``; kept by ``reset``
    _reading: Cursor | None = None  # while ``learn_from_log`` learns the events up to here
    cursor_: str  # the log cursor learned up to (``learn_from_log``)
    source_: dict[str, Any]  # what the model was fitted on, when its fitter says (JSON)

    # -- learning -----------------------------------------------------------------------
    def fit(self, events: Events, *, valid: EventBatch | None = None) -> Self:
        """Forget everything, then learn from ``events`` (see :meth:`partial_fit`).

        Raises :class:`~freshrec.errors.DivergedError` when a parameter ends NaN or infinite
        (incremental updates are checked when saved, to keep single-event learning cheap).
        """
        self.reset()
        self.partial_fit(events, valid=valid)
        self._check_finite()
        return self

    def partial_fit(
        self, events: Events, *, valid: EventBatch | None = None, replay: Events | None = None
    ) -> Self:
        """Continue learning from ``events``; unseen users and items are added.

        Iterative models stop early on ``valid``'s NDCG@10 and keep their best epoch; the
        others ignore it. ``replay`` holds earlier events (a replay buffer's sample) to learn
        again together with the new ones, in one shuffled pass per epoch: they are not added
        to the history or the popularity counts, and rows with ids the model does not know
        are dropped. Only models that declare :class:`~freshrec.capabilities.Rehearses` take
        it (the others count every event they are given, so a replayed event would count
        twice).
        """
        if replay is not None and not isinstance(self, Rehearses):
            raise ValueError(
                f"{type(self).__name__} cannot rehearse replayed events (replay=...); "
                "update it without replay"
            )
        batch = self._admit(events)
        if replay is not None:
            rehearsed = self.encode(as_batch(replay))
            replay_users, replay_items = rehearsed.indices()
            known = (replay_users >= 0) & (replay_items >= 0)
            self._rehearse(batch, rehearsed.take(known), valid)
        else:
            self._learn(batch, valid)
        return self

    def _admit(self, events: Events) -> EventBatch:
        """Take ``events`` in as learning does, without learning them; the encoded batch.

        Encodes the ids (growing the maps and tables for new ones; evicted slots taken by
        new ids get fresh rows), counts positives and records the events in the log. Models
        whose own learning loop differs (test-then-train per event) call this, then learn.
        """
        reusable = (
            (set(self.user_map_.free_slots.tolist()), set(self.item_map_.free_slots.tolist()))
            if self.is_fitted
            else (set(), set())
        )
        batch = as_batch(events)
        through = self._reading if self._reading is not None else self._next_in_log(batch)
        batch = self.encode(batch, grow=True)
        if not self.is_fitted:
            self.rng_ = np.random.default_rng(self.seed)
            self.interactions_ = InteractionLog()
            self.item_counts_ = np.zeros(0)
        n_users, n_items = len(self.user_map_), len(self.item_map_)
        self.item_counts_ = grow_rows(self.item_counts_, n_items)
        positive = batch.value >= self.threshold
        user_idx, item_idx = batch.indices()
        np.add.at(self.item_counts_, item_idx[positive], 1.0)
        if through is not None:  # the log holds these events: the cursor covers them
            self.cursor_ = str(through)
        else:
            self.interactions_.append(user_idx, item_idx, batch.value)
        self._grow(n_users, n_items)
        if reusable[0] or reusable[1]:  # evicted slots taken by new ids start fresh
            free_users, free_items = (
                set(self.user_map_.free_slots.tolist()),
                set(self.item_map_.free_slots.tolist()),
            )
            self._init_rows(
                np.array(sorted(reusable[0] - free_users), np.int64),
                np.array(sorted(reusable[1] - free_items), np.int64),
                "normal",
            )
        self.n_events_ = getattr(self, "n_events_", 0) + len(batch)
        return batch

    def _next_in_log(self, batch: EventBatch) -> Cursor | None:
        """The cursor after ``batch`` when it is the attached log's next events after
        ``cursor_`` (same event ids, in order), else ``None``."""
        if self._event_log is None:
            return None
        cursor = getattr(self, "cursor_", None) if self.is_fitted else None
        return self._event_log.follows(Cursor.parse(cursor) if cursor else Cursor.START, batch)

    def _check_finite(self) -> None:
        """Raise :class:`DivergedError` when a learned parameter is NaN or infinite."""
        for name, array in self._arrays().items():
            if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
                bad = int((~np.isfinite(array)).sum())
                steps = {k: v for k, v in self.get_params().items() if k in _STEP_PARAMS}
                raise DivergedError(
                    f"{type(self).__name__} diverged: {bad:,} of {array.size:,} values of "
                    f"{name} are NaN or infinite after learning; check the step size and "
                    f"regularisation ({steps or 'see get_params()'})"
                )

    def _admit_one(self, user: UserId, item: ItemId, value: float) -> tuple[int, int] | None:
        """Record one event as :meth:`partial_fit` would, on a fast path; its indices.

        Encodes the ids (growing the tables for new ones), counts a positive and notes the
        event in the log, without building a batch. ``None`` when the fast path does not apply
        (nothing learned yet, or evicted slots waiting for reuse): then call ``partial_fit``.
        """
        if not self.is_fitted or self.user_map_.n_active < self.n_users:
            return None
        if self.item_map_.n_active < self.n_items:
            return None
        u = self.user_map_.encode_one(user, grow=True)
        i = self.item_map_.encode_one(item, grow=True)
        n_users, n_items = len(self.user_map_), len(self.item_map_)
        if i >= len(self.item_counts_):
            self.item_counts_ = grow_rows(self.item_counts_, n_items)
        if value >= self.threshold:
            self.item_counts_[i] += 1.0
        self.interactions_.append_one(u, i, value)
        self._grow(n_users, n_items)
        self.n_events_ += 1
        return u, i

    def add_ids(
        self,
        users: Collection[UserId] | np.ndarray = (),
        items: Collection[ItemId] | np.ndarray = (),
        *,
        init: RowInit = "normal",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map new ``users``/``items`` (reusing evicted slots first) with rows set by ``init``.

        ``init``: ``"normal"`` (the model's own initialisation), ``"zero"`` or ``"mean"``
        (of the active rows); the rows' optimizer state starts empty. Known ids are left
        alone. Returns the internal indices of the ids, in the order given.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models.bpr import BPR
        >>> model = BPR(n_factors=4, n_epochs=2).fit(checkerboard_events())
        >>> _, (new,) = model.add_ids(items=["brand-new"], init="zero")
        >>> float(abs(model.item_factors_[new]).sum())
        0.0
        """
        self._check_evicts()
        user_rows = self._map_new(self.user_map_, users)
        item_rows = self._map_new(self.item_map_, items)
        self.item_counts_ = grow_rows(self.item_counts_, self.n_items)
        self._grow(self.n_users, self.n_items)
        self._init_rows(user_rows, item_rows, init)
        return self.user_map_.encode(ids_array(users)), self.item_map_.encode(ids_array(items))

    def evict(
        self,
        users: Collection[UserId] | np.ndarray = (),
        items: Collection[ItemId] | np.ndarray = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Forget ``users``/``items``: unmap them, drop their events, clear their rows.

        The freed slots are reused by the next new ids (their rows then start fresh, with
        an empty optimizer state); the tables keep their shape. Unknown ids are ignored.
        Returns the freed user and item indices.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.models.bpr import BPR
        >>> model = BPR(n_factors=4, n_epochs=2).fit(checkerboard_events())
        >>> _, freed = model.evict(items=["i0"])
        >>> "i0" in model.item_map_, freed.tolist() == model.item_map_.free_slots.tolist()
        (False, True)
        """
        self._check_evicts()
        user_rows = self.user_map_.evict(ids_array(users))
        item_rows = self.item_map_.evict(ids_array(items))
        self.interactions_.drop(users=user_rows, items=item_rows)
        self.item_counts_[item_rows] = 0.0
        self._init_rows(user_rows, item_rows, "zero")
        return user_rows, item_rows

    def _check_evicts(self) -> None:
        self._check_fitted()
        if not isinstance(self, GrowsAndEvicts):
            raise ValueError(f"{type(self).__name__} does not support evicting or adding ids")

    @staticmethod
    def _map_new(id_map: IdMap, ids: Collection[Any] | np.ndarray) -> np.ndarray:
        """Map the unknown ``ids``; return their indices (reused slots and new ones)."""
        unknown = [v for v in dict.fromkeys(ids_array(ids).tolist()) if v not in id_map]
        return id_map.grow(unknown)

    def _init_rows(self, user_rows: np.ndarray, item_rows: np.ndarray, init: RowInit) -> None:
        """Set the rows of these users/items per ``init`` and clear their optimizer state."""
        raise NotImplementedError

    def encode(self, batch: EventBatch, *, grow: bool = False) -> EventBatch:
        """Set ``user_idx``/``item_idx`` of ``batch`` (-1 for unknown ids unless ``grow``)."""
        if not hasattr(self, "user_map_"):
            self.user_map_, self.item_map_ = IdMap(), IdMap()
        return batch.with_columns(
            user_idx=self.user_map_.encode(batch.user, grow=grow),
            item_idx=self.item_map_.encode(batch.item, grow=grow),
        )

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "n_events_")

    @property
    def n_users(self) -> int:
        return len(self.user_map_) if hasattr(self, "user_map_") else 0

    @property
    def n_items(self) -> int:
        return len(self.item_map_) if hasattr(self, "item_map_") else 0

    def _positives_of(self, user_idx: Iterable[int]) -> dict[int, np.ndarray]:
        """The positive items (internal indices) of users (internal indices): with a log
        attached, those of their events through its head (one pass over the log's columns,
        not a user x item matrix), else those learned."""
        wanted = sorted(set(user_idx))
        if self._event_log is None:
            seen = self.positives_csr()
            return {u: seen.indices[seen.indptr[u] : seen.indptr[u + 1]] for u in wanted}
        events = self._event_log.events_of(self.user_map_.decode(np.array(wanted, np.int64)))
        events = events.take(events.value >= self.threshold)
        rows = self.user_map_.encode(events.user)
        cols = self.item_map_.encode(events.item)
        return {u: np.unique(cols[(rows == u) & (cols >= 0)]) for u in wanted}

    def positives_csr(self) -> sp.csr_matrix:
        """Binary user x item matrix of the history's events with ``value >= threshold``."""
        return self.history().to_csr(self.n_users, self.n_items, threshold=self.threshold)

    # -- the event log ------------------------------------------------------------------
    def attach(self, log: EventLog) -> Self:
        """Read history from ``log`` from now on: the events up to ``cursor_`` for learning,
        all of them for the seen items, which ``recommend`` then excludes.

        The model keeps no copy of the events it learns through :meth:`learn_from_log`.
        ``attach`` survives ``fit`` and ``reset``; a saved model does not remember it.

        Examples
        --------
        >>> from freshrec.checks import checkerboard_events
        >>> from freshrec.log import open_log
        >>> from freshrec.models import MostPopular
        >>> log = open_log("memory://")
        >>> _ = log.append(checkerboard_events())
        >>> model = MostPopular().learn_from_log(log)
        >>> seen = set(model.seen_items("u0"))
        >>> any(s.item in seen for s in model.recommend("u0", k=5))
        False
        """
        self._event_log = log
        return self

    @property
    def event_log(self) -> EventLog | None:
        """The attached log, or ``None``."""
        return self._event_log

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        """A deep copy that shares the attached log (the log is not the model's to copy)."""
        if self._event_log is not None:
            memo[id(self._event_log)] = self._event_log
        copied = object.__new__(type(self))
        memo[id(self)] = copied
        for name, value in vars(self).items():
            setattr(copied, name, copy.deepcopy(value, memo))
        return copied

    def history(self, *, through_head: bool = False) -> ModelView | InteractionLog:
        """The events the model learned, in its own rows, in the order it learned them.

        With a log attached: the log's events up to ``cursor_`` (up to the head when
        ``through_head``: what the users have seen, learned or not), then the events given
        to ``partial_fit`` directly; else those alone (since ``fit`` or ``load``).
        """
        self._check_fitted()
        if self._event_log is None:
            return self.interactions_
        cursor = getattr(self, "cursor_", None)
        until = None if through_head else Cursor.parse(cursor) if cursor else Cursor.START
        return ModelView(
            self._event_log,
            self.user_map_,
            self.item_map_,
            until=until,
            pending=self.interactions_,
        )

    def learn_from_log(self, log: EventLog, *, max_events: int | None = None) -> Self:
        """Attach ``log`` and learn its events after ``cursor_`` in one ``partial_fit``:
        all of them up to the head, or the next ``max_events``; ``cursor_`` moves past them.

        Examples
        --------
        >>> from freshrec.data import Event
        >>> from freshrec.log import open_log
        >>> from freshrec.models import MostPopular
        >>> log = open_log("memory://")
        >>> _ = log.append([Event("ann", "a", event_id=1), Event("bob", "b", event_id=2)])
        >>> model = MostPopular().learn_from_log(log, max_events=1)
        >>> model.n_events_, model.cursor_
        (1, '1')
        >>> model.learn_from_log(log).n_events_, model.cursor_
        (2, '2')
        """
        self.attach(log)
        start = Cursor.parse(self.cursor_) if getattr(self, "cursor_", None) else Cursor.START
        if max_events is None:
            end = log.head()
            events = log.window(start, end)
        else:
            read = log.read(start, max_events)
            events, end = read.events, read.next_cursor
        if len(events):
            with self.learning_through(end):
                self.partial_fit(events)
        return self

    @contextmanager
    def learning_through(self, cursor: Cursor) -> Iterator[None]:
        """In the block, what ``partial_fit`` is given comes from the attached log's events
        up to ``cursor``, in any order and maybe not all of them (a learner leaves out events
        it caps); nothing of it is kept in memory, and ``cursor_`` ends at ``cursor``.

        Examples
        --------
        >>> from freshrec.data import Event
        >>> from freshrec.log import open_log
        >>> from freshrec.models import MostPopular
        >>> log = open_log("memory://")
        >>> _ = log.append([Event("ann", "a"), Event("ann", "b"), Event("bob", "a")])
        >>> read = log.read()
        >>> model = MostPopular().attach(log)
        >>> with model.learning_through(read.next_cursor):
        ...     _ = model.partial_fit(read.events[[0, 2]])  # ann's second event left out
        >>> model.n_events_, model.cursor_ == str(log.head())
        (2, True)
        """
        if self._event_log is None:
            raise ValueError(f"{type(self).__name__} has no log attached (attach(log) first)")
        self._reading = cursor
        try:
            yield
        finally:
            self._reading = None
        if self.is_fitted:
            self.cursor_ = str(cursor)

    # -- hooks --------------------------------------------------------------------------
    def _grow(self, n_users: int, n_items: int) -> None:
        raise NotImplementedError

    def _learn(self, batch: EventBatch, valid: EventBatch | None) -> None:
        raise NotImplementedError

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def _rehearse(self, batch: EventBatch, replayed: EventBatch, valid: EventBatch | None) -> None:
        """Learn ``batch`` together with ``replayed`` (earlier events of known ids)."""
        self._learn(EventBatch.concat([batch, replayed]), valid)

    def _fallback_scores(self, item_idx: np.ndarray | None) -> np.ndarray:
        """Scores for an unknown user: item popularity, shape (n_items,)."""
        counts = self.item_counts_
        return counts if item_idx is None else counts[item_idx]

    # -- scoring ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} has not seen any event; call fit first")

    def score_batch(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray:
        """Scores of users (internal indices; ``-1`` = unknown) for items (``None`` = all).

        Returns a ``float`` array of shape (len(user_idx), n_items).
        """
        self._check_fitted()
        user_idx = np.asarray(user_idx, dtype=np.int64)
        known = user_idx >= 0
        n_cols = self.n_items if item_idx is None else len(item_idx)
        out = np.empty((len(user_idx), n_cols), dtype=np.float64)
        if known.any():
            out[known] = self._score(user_idx[known], item_idx)
        if not known.all():
            out[~known] = self._fallback_scores(item_idx)
        return out

    def score(self, user: UserId, items: Sequence[ItemId] | np.ndarray) -> np.ndarray:
        """Scores of ``items`` for ``user``, shape (len(items),).

        Unknown items score at ``prior_score``.
        """
        self._check_fitted()
        item_idx = self.item_map_.encode(ids_array(items))
        known = item_idx >= 0
        out = np.full(len(item_idx), self.prior_score, dtype=np.float64)
        if known.any():
            user_idx = np.array([self.user_map_.encode_one(user)])
            out[known] = self.score_batch(user_idx, item_idx[known])[0]
        return out

    def recommend(
        self,
        user: UserId,
        k: int = 10,
        *,
        exclude: Collection[ItemId] = (),
        candidates: Sequence[ItemId] | None = None,
        exclude_seen: bool | None = None,
    ) -> list[Scored]:
        """The ``k`` best items for ``user``, best first, never any in ``exclude``.

        ``candidates`` restricts the ranking to those items (unknown ones score at the prior).
        ``exclude_seen``: also leave out the items the user has seen in the history; by
        default only when a log is attached (:meth:`attach`).
        """
        self._check_fitted()
        if exclude_seen is None:
            exclude_seen = self._event_log is not None
        if exclude_seen:
            exclude = [*exclude, *self.seen_items(user)]
        if candidates is None:
            pool = np.arange(self.n_items)
            scores = self.score_batch(np.array([self.user_map_.encode_one(user)]))[0]
            names = self.item_map_.decode(pool)
        else:
            names = ids_array(candidates)
            scores = self.score(user, names)
        scores = scores.astype(np.float64, copy=True)
        if exclude:
            scores[np.isin(names, ids_array(list(exclude)))] = -np.inf
        if candidates is None and self.item_map_.n_active < self.n_items:
            scores[[i for i, v in enumerate(self.item_map_.ids) if v is None]] = -np.inf
        best = top_k(scores[None, :], k)[0]
        best = best[best >= 0]
        return [Scored(_plain(names[i]), float(scores[i])) for i in best]

    def recommend_batch(
        self, user_idx: np.ndarray, k: int, *, exclude: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """Top-``k`` item indices per user, shape (len(user_idx), k), ``-1``-padded.

        ``exclude`` is a (len(user_idx), n_items) sparse mask of items not to recommend.
        """
        scores = self.score_batch(user_idx)
        if exclude is not None:
            rows, cols = exclude.nonzero()
            scores[rows, cols] = -np.inf
        if self.item_map_.n_active < self.n_items:  # evicted slots hold no item
            scores[:, self.item_map_.free_slots] = -np.inf
        return top_k(scores, k)

    def seen_items(self, user: UserId) -> list[ItemId]:
        """Items ``user`` interacted with (any value): the :meth:`history` through the log's
        head."""
        self._check_fitted()
        u = self.user_map_.encode_one(user)
        if u < 0:
            return []
        row = self.history(through_head=True).to_csr(self.n_users, self.n_items).getrow(u)
        return [_plain(v) for v in self.item_map_.decode(row.indices)]

    def similar_items(self, item: ItemId, k: int = 10) -> list[Scored]:
        """Items closest to ``item`` by cosine of the model's item vectors."""
        vectors = self._item_vectors()
        if vectors is None:
            raise TypeError(f"{type(self).__name__} has no item vectors")
        i = self.item_map_.encode_one(item)
        if i < 0:
            raise KeyError(f"unknown item {item!r}")
        norms = np.linalg.norm(vectors, axis=1) + 1e-12
        sims = (vectors @ vectors[i]) / (norms * norms[i])
        sims[i] = -np.inf
        best = top_k(sims[None, :], k)[0]
        return [
            Scored(_plain(self.item_map_.decode([j])[0]), float(sims[j])) for j in best if j >= 0
        ]

    def _item_vectors(self) -> np.ndarray | None:
        return None

    # -- persistence --------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, force: bool = False) -> None:
        """Write the model to folder ``path`` (JSON + safetensors, atomic, manifest last).

        A folder holding files freshrec did not write is refused unless ``force`` (the model
        is then written beside them); a model with non-finite parameters is never saved.
        """
        self._check_fitted()
        self._check_finite()
        arrays = {"item_counts": self.item_counts_, **self._arrays()}
        state = {
            "user_map": self.user_map_.to_dict(),
            "item_map": self.item_map_.to_dict(),
            "rng": self.rng_.bit_generator.state,
            "n_events": self.n_events_,
            "cursor": getattr(self, "cursor_", None),
            "source": getattr(self, "source_", None),
            "values": {name: getattr(self, name) for name in self._state_values},
        }
        manifest = {"n_events": self.n_events_, "n_users": self.n_users, "n_items": self.n_items}
        save_model(self, path, arrays, state, manifest, force=force)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Rebuild a model saved by :meth:`save`; scores are identical."""
        model_cls, params, arrays, state = load_model(path, None if cls is RecommenderBase else cls)
        if not issubclass(model_cls, cls):
            raise TypeError(f"{path} holds a {model_cls.__name__}, not a {cls.__name__}")
        defaults = inspect.signature(model_cls.__init__).parameters
        params = {  # JSON turns tuples into lists
            name: tuple(value)
            if isinstance(defaults[name].default, tuple) and isinstance(value, list)
            else value
            for name, value in params.items()
        }
        model = model_cls(**params)
        model.user_map_ = IdMap.from_dict(state["user_map"])
        model.item_map_ = IdMap.from_dict(state["item_map"])
        model.rng_ = np.random.default_rng()
        model.rng_.bit_generator.state = state["rng"]
        model.n_events_ = state["n_events"]
        for name in ("cursor", "source"):
            if state.get(name) is not None:
                setattr(model, f"{name}_", state[name])
        model.interactions_ = InteractionLog()
        model.item_counts_ = arrays["item_counts"]
        for name, value in state["values"].items():
            setattr(model, name, value)
        model._set_arrays(arrays)
        return model

    def _arrays(self) -> dict[str, np.ndarray]:
        """The model's numeric state (saved; restored by early stopping): ``_state_arrays``.

        Models whose state is not plain attributes (torch modules) override this and
        :meth:`_set_arrays`.
        """
        return {name: getattr(self, name) for name in self._state_arrays}

    def _pass_arrays(self) -> dict[str, np.ndarray]:
        """The part of :meth:`_arrays` a training pass changes: what early stopping keeps of
        the best epoch and a training checkpoint saves. All of it unless a model knows
        better (a sequential model's item history is not changed by a pass)."""
        return self._arrays()

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Put back state produced by :meth:`_arrays` (extra keys are ignored)."""
        for name in self._state_arrays:
            setattr(self, name, arrays[name])


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
