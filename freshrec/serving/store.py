"""The serving model: the registry's stable version, with users' new events folded in.

Shared parameters change only through guarded versions. Between versions the store keeps each
user's own state current from the log's tail: models that fold events into a user's row
(:class:`~freshrec.capabilities.FoldsIn`) do so, sequential models extend the user's history
(:class:`~freshrec.capabilities.Observes`). :attr:`ModelStore.user_cursor` is the log cursor
that state covers. A new stable version is loaded, checked (it loads with its checksums,
every parameter is finite, it scores every item it knows) and caught up beside the serving one,
then swapped in by one reference assignment: a request sees the old model or the new one. A
version that fails a check is refused and the old one goes on serving.

Examples
--------
>>> import tempfile
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.live import Registry
>>> from freshrec.log import open_log
>>> from freshrec.models import BPR
>>> log = open_log("memory://")
>>> _ = log.append(checkerboard_events()[:150])
>>> registry = Registry(tempfile.mkdtemp())
>>> _ = registry.promote(registry.publish(BPR(n_factors=4, seed=0).learn_from_log(log)))
>>> store = ModelStore(registry, log)
>>> store.refresh(), store.current().version
(True, 'v000001')
>>> _ = log.append(checkerboard_events()[150:])
>>> store.catch_up() == log.head()
True
>>> len(store.recommend("u1", 3).items)
3
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from freshrec.base import RecommenderBase, Scored
from freshrec.capabilities import FoldsIn, InnerProductScores, Observes
from freshrec.data.batch import ids_array
from freshrec.live.registry import Registry
from freshrec.log.cursor import Cursor
from freshrec.log.ids import LogIdMap
from freshrec.log.log import EventLog
from freshrec.serving.catalogue import Catalogue, open_catalogue
from freshrec.serving.content import ContentRows
from freshrec.serving.retrieval import ItemIndex

__all__ = ["ModelStore", "Recommendation", "Serving"]

logger = logging.getLogger(__name__)
_INT_TEXT = re.compile(r"0|-?[1-9][0-9]{0,17}")  # an integer as JSON writes it, in 64 bits
_READ = 50_000  # events folded in per read of the log
INLINE_ITEMS = 20_000  # try_recommend leaves exact scoring of larger catalogues to a thread


@dataclass(frozen=True)
class Serving:
    """The model being served and where it comes from.

    Examples
    --------
    >>> from freshrec.models import MostPopular
    >>> Serving(MostPopular(), "v000001", "42").version
    'v000001'
    """

    model: RecommenderBase
    version: str
    model_cursor: str | None  # the log cursor its shared parameters learned up to
    index: ItemIndex | None = None  # over the model's item keys, when it retrieves by one


@dataclass(frozen=True)
class Recommendation:
    """What :meth:`ModelStore.recommend` answers.

    Examples
    --------
    >>> Recommendation([Scored("a", 1.0)], "v000001", "10", "12").user_cursor
    '12'
    """

    items: list[Scored]
    version: str
    model_cursor: str | None
    user_cursor: str


class ModelStore:
    """Serves the registry's stable version over ``log`` (see the module docstring).

    Parameters
    ----------
    registry
        Where versions are published; the ``stable`` label is served.
    log
        The event log: users' seen items and the tail folded into their state.
    catalogue
        The items' texts and deletions (default: the one kept in ``log``'s store).
    content
        Gives items put in the catalogue with a text a row in the served model.
    fold_in_steps
        Passes over each new event when folding it into its user's row.
    index
        Retrieve a user's best items from an approximate index with these settings (an
        empty :class:`~freshrec.serving.retrieval.ItemIndex`), then score those exactly,
        for models that rank by an inner product
        (:class:`~freshrec.capabilities.InnerProductScores`); ``None``: score every item.
        An index is carried from version to version (:meth:`ItemIndex.for_keys`) and made
        beside the serving one, which serves until the swap.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.log import open_log
    >>> ModelStore(Registry(tempfile.mkdtemp()), open_log("memory://")).current() is None
    True
    """

    def __init__(
        self,
        registry: Registry,
        log: EventLog,
        *,
        catalogue: Catalogue | None = None,
        content: ContentRows | None = None,
        fold_in_steps: int = 1,
        index: ItemIndex | None = None,
    ) -> None:
        self.registry = registry
        self.log = log
        self.catalogue = catalogue or open_catalogue(log)
        self.content = content or ContentRows()
        self.fold_in_steps = fold_in_steps
        self.index = index
        self.index_builds: Counter[str] = Counter()  # how each index was made (for_keys)
        self._unindexed: set[str] = set()  # model classes already reported as not indexable
        self._deleted = set(self.catalogue.deleted_items())
        self._serving: Serving | None = None
        self.user_cursor = Cursor.START
        self._lock = threading.RLock()  # held while the serving model is read or changed
        self._swap_lock = threading.Lock()  # one swap at a time
        self.swaps = 0
        self.swap_history: deque[tuple[str, float]] = deque(maxlen=1000)  # (version, time)
        self._swapped = threading.Condition()
        self.refusals: list[tuple[str, str]] = []  # (version, why) of refused versions
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading ----------------------------------------------------------------------
    def current(self) -> Serving | None:
        """The model being served (``None`` before the registry has a stable version)."""
        return self._serving

    def recommend(
        self,
        user: Any,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: Sequence[Any] | None = None,
    ) -> Recommendation:
        """The ``k`` best items for ``user`` from the serving model."""
        with self.reading() as serving:
            exclude = self.excluded(user, exclude_seen=exclude_seen)
            model = serving.model
            known = model.user_map_.encode_one(user)
            if serving.index is not None and candidates is None and known >= 0:
                items = _retrieve(model, serving.index, known, k, exclude)
            else:
                items = model.recommend(
                    user, k, exclude=exclude, candidates=candidates, exclude_seen=False
                )
            return Recommendation(
                items, serving.version, serving.model_cursor, str(self.user_cursor)
            )

    def try_recommend(
        self,
        user: Any,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: Sequence[Any] | None = None,
    ) -> Recommendation | None:
        """:meth:`recommend`, or ``None`` at once when it would wait (another thread holds
        the store) or take long (scoring every item of more than ``INLINE_ITEMS``): for a
        caller on an event loop, which then hands the request to a thread."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            serving = self._serving
            long = serving is not None and serving.index is None and candidates is None
            if long and serving is not None and serving.model.n_items > INLINE_ITEMS:
                return None
            return self.recommend(user, k, exclude_seen=exclude_seen, candidates=candidates)
        finally:
            self._lock.release()

    def await_version(self, version: str, timeout_s: float = 1.0) -> bool:
        """Wait until the serving version is ``version`` or a later one, or the registry's
        stable version is older than ``version`` (a rollback: nothing later will come);
        ``False`` when ``timeout_s`` passed first. Gives a client that reads from several
        replicas versions that never go backwards (monotonic reads)."""
        deadline = time.monotonic() + timeout_s
        while True:
            serving = self._serving
            if serving is not None and _version_order(serving.version) >= _version_order(version):
                return True
            stable = self.registry.labels()["stable"]
            if stable is None or _version_order(stable) < _version_order(version):
                return True
            if any(refused == stable for refused, _ in self.refusals):
                return False  # this replica will not serve it
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.notify()
            with self._swapped:
                self._swapped.wait(min(left, 0.05))

    @contextmanager
    def reading(self) -> Iterator[Serving]:
        """The serving model, held still in the block: no swap and no fold-in until it ends
        (for an answer that reads the model more than once). ``LookupError`` before any
        version serves.

        Examples
        --------
        >>> import tempfile
        >>> from freshrec.log import open_log
        >>> with ModelStore(Registry(tempfile.mkdtemp()), open_log("memory://")).reading():
        ...     pass
        Traceback (most recent call last):
        ...
        LookupError: no model version is serving yet
        """
        with self._lock:
            serving = self._serving
            if serving is None:
                raise LookupError("no model version is serving yet")
            yield serving

    def excluded(self, user: Any, *, exclude_seen: bool = True) -> list[Any]:
        """The items never to recommend to ``user``: deleted ones, and with
        ``exclude_seen`` those the user has events on."""
        return [*self._deleted, *(self.seen_items(user) if exclude_seen else [])]

    def seen_items(self, user: Any) -> list[Any]:
        """The items ``user`` has any event on in the log."""
        known = self.log.users.encode(ids_array([user]))[0]
        if known < 0:
            return []
        return [_plain(v) for v in self.log.items.decode(self.log.user_items(int(known)))]

    def resolve_user(self, text: str) -> Any:
        """The id a path segment names: ``"42"`` is the integer 42 when the log knows that
        user and not the text ``"42"``."""
        return _resolve(text, self.log.users)

    # -- keeping it current -------------------------------------------------------------
    def refresh(self) -> bool:
        """Swap in the registry's stable version when it is not the one serving; ``True``
        when it did. A version that fails its checks is refused (recorded in
        :attr:`refusals`) and the serving one stays."""
        with self._swap_lock:
            stable = self.registry.labels()["stable"]
            serving = self._serving
            if stable is None or (serving is not None and serving.version == stable):
                return False
            if any(version == stable for version, _ in self.refusals):
                return False
            try:
                model = self._checked(stable)
            except Exception as err:  # any failure to load or check refuses the version
                logger.warning("refused version %s: %s", stable, err)
                self.refusals.append((stable, f"{type(err).__name__}: {err}"))
                return False
            self.content.add(model, self.catalogue.texts())  # items put since it learned
            index = self._index_for(model, serving)
            cursor = getattr(model, "cursor_", None)
            start = Cursor.parse(cursor) if cursor else Cursor.START
            caught_up = self._fold_in(model, start)  # beside the serving model
            with self._lock:
                caught_up = self._fold_in(model, caught_up)  # what arrived meanwhile
                self._serving = Serving(model, stable, cursor, index)
                self.user_cursor = caught_up
                self.swaps += 1
                self.swap_history.append((stable, time.time()))
            with self._swapped:
                self._swapped.notify_all()
            return True

    # -- the catalogue ------------------------------------------------------------------
    def put_item(self, item: Any, text: str | None, properties: Mapping[str, Any]) -> bool:
        """Put ``item`` in the catalogue; with a text, give the served model a row for it
        when it has none. Whether the served model can recommend it now."""
        self.catalogue.put(item, text, properties)
        if text:
            texts = self.catalogue.texts()
            self.content.encode(list(texts.values()))  # the slow part, outside the lock
            with self._lock:
                if self._serving is not None:
                    self.content.add(self._serving.model, texts)
            self.notify()  # index the new row
        serving = self._serving
        known = serving is not None and serving.model.item_map_.encode(ids_array([item]))[0] >= 0
        return bool(known)

    def delete_item(self, item: Any) -> bool:
        """Delete ``item``: never recommended again. ``False`` when it already was."""
        deleted = self.catalogue.delete(item)
        self._deleted.add(item)
        return deleted

    def resolve_item(self, text: str) -> Any:
        """The item id a path segment names (as :meth:`resolve_user` for users)."""
        return _resolve(text, self.log.items)

    def _index_for(self, model: RecommenderBase, serving: Serving | None) -> ItemIndex | None:
        """The index for ``model``, made from the serving one's when it can be."""
        if self.index is None:
            return None
        if not isinstance(model, InnerProductScores):
            name = type(model).__name__
            if name not in self._unindexed:  # once per class, not at every swap
                self._unindexed.add(name)
                logger.warning(
                    "%s does not rank items by an inner product: it scores every item, no index",
                    name,
                )
            return None
        start = serving.index if serving is not None and serving.index is not None else None
        index, how = (start or self.index).for_keys(model.item_keys())
        self.index_builds[how] += 1
        return index

    def sync_index(self) -> None:
        """Index the items the serving model gained while serving (catalogue rows), beside
        the serving index, then swap it in."""
        serving = self._serving
        if serving is None or serving.index is None:
            return
        model = serving.model
        if serving.index.n_items == model.n_items:
            return
        with self._lock:  # the rows may not grow while they are read
            keys = model.item_keys() if isinstance(model, InnerProductScores) else None
        if keys is None:
            return
        index, how = serving.index.for_keys(keys)
        with self._lock:
            if self._serving is serving:
                self._serving = Serving(model, serving.version, serving.model_cursor, index)
                self.index_builds[how] += 1

    def _checked(self, version: str) -> RecommenderBase:
        model = self.registry.load(version)
        model._check_finite()
        probe = model.score_batch(np.array([-1, 0 if model.n_users else -1]))
        if probe.shape != (2, model.n_items) or not np.isfinite(probe).all():
            raise ValueError(
                f"scores of shape {probe.shape} for {model.n_items} items, or not finite"
            )
        return model.attach(self.log)

    def user_state_lag(self) -> int:
        """Events in the log not yet folded into the serving model's users."""
        return len(self.log) - self.log.position(self.user_cursor)

    def catch_up(self) -> Cursor:
        """Fold the log's events since :attr:`user_cursor` into the serving model's users;
        the cursor covered now."""
        with self._lock:
            if self._serving is not None:
                self.user_cursor = self._fold_in(self._serving.model, self.user_cursor)
            return self.user_cursor

    def _fold_in(self, model: RecommenderBase, after: Cursor) -> Cursor:
        """Apply the log's events after ``after`` to ``model``'s users; the last cursor."""
        while True:
            read = self.log.read(after, _READ)
            if not len(read):
                return after
            if isinstance(model, FoldsIn):
                model.fold_in(read.events, steps=self.fold_in_steps)
            elif isinstance(model, Observes):
                model.observe(read.events)
            after = read.cursors[-1]

    # -- the background thread ----------------------------------------------------------
    def notify(self) -> None:
        """Events were appended: catch up now rather than at the next poll."""
        self._wake.set()

    def start(self, poll_s: float = 0.2) -> None:
        """Refresh and catch up in a background thread every ``poll_s`` and on
        :meth:`notify`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._follow, args=(poll_s,), name="freshrec-store", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _follow(self, poll_s: float) -> None:
        while not self._stop.is_set():
            self._wake.wait(poll_s)
            self._wake.clear()
            try:
                self.refresh()
                self.catch_up()
                self.sync_index()
                self._deleted = set(self.catalogue.deleted_items())  # other replicas' too
            except Exception:  # keep serving; the next round tries again
                logger.exception("the store could not catch up")
                time.sleep(poll_s)


def _resolve(text: str, ids: LogIdMap) -> Any:
    """``text``, or the integer it spells when ``ids`` knows that integer and not the text."""
    if _INT_TEXT.fullmatch(text):
        found = ids.encode(ids_array([text, int(text)]))
        if found[0] < 0 <= found[1]:
            return int(text)
    return text


def _retrieve(
    model: RecommenderBase, index: ItemIndex, user: int, k: int, exclude: Sequence[Any]
) -> list[Scored]:
    """``user``'s best ``k`` items by ``index``, scored exactly by ``model``."""
    rows = model.item_map_.encode(ids_array(exclude)) if exclude else np.empty(0, np.int64)
    never = np.concatenate([rows[rows >= 0], model.item_map_.free_slots]).astype(np.int64)
    query = cast(InnerProductScores, model).user_queries(np.array([user]))
    users = np.array([user])
    found, scores = index.search(
        query, k, exact=lambda _, items: model.score_batch(users, items)[0], exclude=[never]
    )
    names = model.item_map_.decode(found[0][found[0] >= 0])
    best = scores[0][: len(names)]
    return [Scored(_plain(name), float(score)) for name, score in zip(names, best, strict=True)]


def _version_order(version: str) -> tuple[int, str]:
    """Publication order of a version name (``v000012`` after ``v000009``)."""
    digits = version.lstrip("v")
    return (int(digits), version) if digits.isdigit() else (-1, version)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
