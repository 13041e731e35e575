"""Capabilities of a model: small ``typing.Protocol`` classes that callers test with ``isinstance``.

Callers test ``isinstance(model, Observes)`` instead of probing attributes by name, and
:mod:`freshrec.checks` checks each capability a model has. A model declares a capability by
subclassing its protocol, after its base class (``class BPR(RecommenderBase, Rehearses)``), so
the protocol's stubs never hide an implementation. Two kinds:

- **structural** (:class:`LearnsOne`, :class:`LearnsPredict`, :class:`LearnsRank`,
  :class:`Observes`, :class:`FoldsIn`, :class:`Anchors`, :class:`DistilsFromSelf`,
  :class:`HasItemRows`): the methods exist only where they work, so having them is enough
  (declaring them documents them and lets mypy check the signatures);
- **declared** (:class:`Rehearses`, :class:`GrowsAndEvicts`, :class:`PredictsRatings`,
  :class:`FactorTables`): every model has the methods (``partial_fit(replay=...)``,
  ``add_ids``, ``evict``, ``score``) or gets the attributes only once fitted, so having them
  says nothing: these are abstract base classes, and only a model whose class subclasses one
  has the capability.

Examples
--------
>>> from freshrec.models import BPR, BiasedMF, MostPopular
>>> isinstance(BiasedMF(), LearnsOne), isinstance(MostPopular(), LearnsOne)
(True, False)
>>> isinstance(BiasedMF(), LearnsPredict), isinstance(BiasedMF(), LearnsRank)
(True, False)
>>> isinstance(BPR(), Rehearses), isinstance(MostPopular(), Rehearses)
(True, False)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol, Self, runtime_checkable

import numpy as np

from freshrec.data.batch import EventBatch, Events
from freshrec.typing import ItemId, RowInit, UserId

__all__ = [
    "Anchors",
    "DistilsFromSelf",
    "FactorTables",
    "FoldsIn",
    "GrowsAndEvicts",
    "HasItemRows",
    "InnerProductScores",
    "LearnsOne",
    "LearnsPredict",
    "LearnsRank",
    "Observes",
    "PredictsRatings",
    "Rehearses",
]


@runtime_checkable
class LearnsOne(Protocol):
    """Learns one event at a time, as ``partial_fit([event])`` with one epoch would.

    Examples
    --------
    >>> from freshrec.models import BiasedMF
    >>> from freshrec.data import Event
    >>> model = BiasedMF(n_factors=2).fit([Event("ann", "a", 4.0)])
    >>> model.learn_one("ann", "b", 3.0); model.n_items
    2
    """

    def learn_one(self, user: UserId, item: ItemId, value: float) -> None:
        """Learn from one event (new users and items are added)."""


@runtime_checkable
class LearnsPredict(Protocol):
    """Test-then-train per event: predict each event's value, then learn it, in order.

    Examples
    --------
    >>> from freshrec.models import BiasedMF
    >>> from freshrec.data import Event
    >>> BiasedMF(n_factors=2).learn_predict([Event("ann", "a", 4.0)]).shape
    (1,)
    """

    def learn_predict(self, events: Events) -> np.ndarray:
        """The prediction made for each event before learning it."""


@runtime_checkable
class LearnsRank(Protocol):
    """Test-then-train per event for ranking: rank each event's item, then learn it, in order.

    Examples
    --------
    >>> from freshrec.models import BPR
    >>> from freshrec.data import Event
    >>> BPR(n_factors=2).fit([Event("ann", "a")]).learn_rank([Event("ann", "b")]).shape
    (1,)
    """

    def learn_rank(self, events: Events, *, steps: int = 1) -> np.ndarray:
        """The rank of each event's item before learning it (``steps`` updates per event)."""


@runtime_checkable
class Observes(Protocol):
    """Reads users' latest events without learning from them (the sequential models).

    Examples
    --------
    >>> from freshrec.models import MostPopular
    >>> from freshrec.models.sasrec import SASRec
    >>> isinstance(SASRec(), Observes), isinstance(MostPopular(), Observes)
    (True, False)
    """

    def observe(self, events: Events) -> Self:
        """Append ``events`` to their users' histories; the parameters stay as they are."""


@runtime_checkable
class FoldsIn(Protocol):
    """Folds users' new events into their own rows only: what a serving copy of a guarded
    version does between versions, since shared parameters change only through versions.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.data import Event
    >>> from freshrec.models import BPR, MostPopular
    >>> isinstance(BPR(), FoldsIn), isinstance(MostPopular(), FoldsIn)
    (True, False)
    >>> model = BPR(n_factors=4, n_epochs=5).fit(checkerboard_events())
    >>> items = model.item_factors_.copy()
    >>> _ = model.fold_in([Event("u0", "i9"), Event("newcomer", "i9")], steps=3)
    >>> "newcomer" in model.user_map_, bool((model.item_factors_ == items).all())
    (True, True)
    """

    def fold_in(self, events: Events, *, steps: int = 1) -> Self:
        """Update only the rows of the events' users from ``events`` (``steps`` passes);
        users the model does not know get a row first; item-side and shared parameters stay
        exactly as they are, and the events are not counted as learned (``n_events_``, the
        cursor and the history stay as they are). Events on items the model does not know
        are skipped, and so are those an implicit model does not count as positive; a user
        with no event left gets no row."""


@runtime_checkable
class InnerProductScores(Protocol):
    """Ranks a user's items by an inner product: ``user_queries(u) @ item_keys().T`` orders
    every user's items as the model's scores do, so an approximate nearest-neighbour index over
    the item keys can find a user's best items without scoring every item
    (:class:`~freshrec.serving.retrieval.ItemIndex`).

    Examples
    --------
    >>> import numpy as np
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models import BPR, MostPopular
    >>> isinstance(BPR(), InnerProductScores), isinstance(MostPopular(), InnerProductScores)
    (True, False)
    >>> model = BPR(n_factors=4, n_epochs=2, seed=0).fit(checkerboard_events())
    >>> users = np.array([0, 1])
    >>> by_product = model.user_queries(users) @ model.item_keys().T
    >>> bool(np.allclose(by_product, model.score_batch(users), atol=1e-5))
    True
    """

    def item_keys(self) -> np.ndarray:
        """One float32 row per item index, (n_items, d)."""

    def user_queries(self, user_idx: np.ndarray) -> np.ndarray:
        """One float32 row per known user index, (len(user_idx), d)."""


@runtime_checkable
class Anchors(Protocol):
    """Elastic weight consolidation (:class:`~freshrec.update.forgetting.EWC`): measures how much
    each parameter mattered to some events, and pulls the parameters toward their current
    values, entry by entry, in later updates.

    Examples
    --------
    >>> from freshrec.models import BPR, MostPopular
    >>> isinstance(BPR(), Anchors), isinstance(MostPopular(), Anchors)
    (True, False)
    """

    def fisher(self, events: Events) -> dict[str, np.ndarray]:
        """Empirical Fisher information of every parameter entry on ``events``, by name."""

    def anchor(self, weights: Mapping[str, np.ndarray] | None) -> Self:
        """Pull later updates toward the current values with per-entry ``weights`` (``None``:
        stop)."""


@runtime_checkable
class DistilsFromSelf(Protocol):
    """Distils from a frozen copy of itself during later updates
    (:class:`~freshrec.update.forgetting.Distillation`).

    Examples
    --------
    >>> from freshrec.models import BPR
    >>> from freshrec.models.neumf import NeuMF
    >>> isinstance(BPR(), DistilsFromSelf), isinstance(NeuMF(), DistilsFromSelf)
    (True, False)
    """

    def distil_from_self(self, weight: float) -> Self:
        """Match the current version's preferences, scaled by ``weight``, from now on (0: stop)."""


@runtime_checkable
class HasItemRows(Protocol):
    """Item vectors stored as rows of named tables, row ``i`` for internal item index ``i``.

    :func:`freshrec.update.item_init.set_item_rows` checks its input and writes through
    :meth:`write_item_rows`.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models import BPR
    >>> model = BPR(n_factors=4, n_epochs=1).fit(checkerboard_events())
    >>> model.item_tables(), model.item_rows("item_factors_").shape
    ({'item_factors_': 4}, (16, 4))
    """

    def item_tables(self) -> dict[str, int]:
        """The width of each table that holds one vector per item, by name."""

    def item_rows(self, table: str) -> np.ndarray:
        """A copy of the item table ``table``, shape (n_items, width)."""

    def write_item_rows(
        self,
        table: str,
        item_idx: np.ndarray,
        rows: np.ndarray,
        *,
        bias: float | np.ndarray | None = None,
    ) -> None:
        """Overwrite the rows ``item_idx`` of ``table`` with ``rows``; ``bias`` sets those items'
        biases where the model keeps one beside the vectors (``None``: the other items' mean)."""


class Rehearses(ABC):
    """Learns replayed earlier events again without counting them twice (declared).

    ``partial_fit(events, replay=old)`` trains on ``old`` with ``events`` but adds only
    ``events`` to the log and the popularity counts; models whose state *is* the counts
    (popularity, KNN) cannot, and refuse ``replay``.

    Examples
    --------
    >>> from freshrec.models import BPR, MostPopular
    >>> isinstance(BPR(), Rehearses), isinstance(MostPopular(), Rehearses)
    (True, False)
    """

    @abstractmethod
    def partial_fit(
        self, events: Events, *, valid: EventBatch | None = None, replay: Events | None = None
    ) -> Self:
        """Learn ``events``, rehearsing ``replay`` (earlier events of known ids) with them."""


class GrowsAndEvicts(ABC):
    """Adds ids with rows set as asked and evicts ids, reusing their slots (declared).

    Examples
    --------
    >>> from freshrec.models import BPR, MostPopular
    >>> isinstance(BPR(), GrowsAndEvicts), isinstance(MostPopular(), GrowsAndEvicts)
    (True, False)
    """

    @abstractmethod
    def add_ids(
        self,
        users: Collection[UserId] | np.ndarray = (),
        items: Collection[ItemId] | np.ndarray = (),
        *,
        init: RowInit = "normal",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map new ids (evicted slots first) with rows set by ``init``; their indices."""

    @abstractmethod
    def evict(
        self,
        users: Collection[UserId] | np.ndarray = (),
        items: Collection[ItemId] | np.ndarray = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Unmap the ids, drop their events, clear their rows; the freed indices."""


class PredictsRatings(ABC):
    """Scores are predicted ratings on the events' own scale, so RMSE and MAE apply (declared).

    Examples
    --------
    >>> from freshrec.models import BPR, BiasedMF
    >>> isinstance(BiasedMF(), PredictsRatings), isinstance(BPR(), PredictsRatings)
    (True, False)
    """

    @abstractmethod
    def score(self, user: UserId, items: Sequence[ItemId] | np.ndarray) -> np.ndarray:
        """Predicted ratings of ``items`` by ``user``."""


class FactorTables(ABC):
    """Matrix-factorization tables once fitted: ``user_factors_`` (n_users, k) and
    ``item_factors_`` (n_items, k), numpy arrays whose rows are internal indices (declared).

    :mod:`freshrec.update.structure` quantizes, prunes and widens them.

    Examples
    --------
    >>> from freshrec.models import ALS, BPR, MostPopular
    >>> isinstance(BPR(), FactorTables), isinstance(ALS(), FactorTables)
    (True, True)
    >>> isinstance(MostPopular(), FactorTables)
    False
    """

    user_factors_: np.ndarray
    item_factors_: np.ndarray
