"""Exploring answers: a softmax policy over the serving model's scores, every decision logged.

For a request with ``explore: true`` the :class:`Explorer` builds the **pool**: the request's
candidates (every item the serving model knows when it gives none), less deleted items and,
with ``exclude_seen``, the user's seen ones, less items the model cannot score (non-finite),
cut to the ``ExploreSettings.pool`` best by score. A
:class:`~freshrec.bandits.ScorePolicy` (``temperature``, ``floor``) over the model's scores
draws a slate of ``k`` distinct items from it (Plackett-Luce), with their per-position
propensities, all relative to that pool. The decision, with the pool and the version, goes
to the :class:`~freshrec.live.decisions.DecisionLog` before the answer leaves, so off-policy
evaluation can read it later; nothing enters the event log.

Every item is scored exactly (an approximate index is not used): an exploring answer costs
what a non-indexed one does, plus ``draws x pool`` random numbers for a slate.

Examples
--------
>>> import tempfile
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.live import DecisionLog, Registry
>>> from freshrec.log import open_log
>>> from freshrec.models import MostPopular
>>> from freshrec.serving.settings import ExploreSettings
>>> from freshrec.serving.store import ModelStore
>>> log = open_log("memory://")
>>> _ = log.append(checkerboard_events())
>>> registry = Registry(tempfile.mkdtemp())
>>> _ = registry.promote(registry.publish(MostPopular().learn_from_log(log)))
>>> store = ModelStore(registry, log)
>>> _ = store.refresh()
>>> explorer = Explorer(store, DecisionLog(open_log("memory://")), ExploreSettings(seed=0))
>>> explored = explorer.recommend("u0", 2, recommendation_id="r1")
>>> len(explored.recommendation.items), len(explored.decision.propensities)
(2, 2)
>>> len(explorer.decisions)
1
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from freshrec.bandits.scored import ScorePolicy
from freshrec.base import RecommenderBase, Scored
from freshrec.data.batch import ids_array
from freshrec.live.decisions import DecisionLog, ServedDecision
from freshrec.ranking import top_k
from freshrec.serving.settings import ExploreSettings
from freshrec.serving.store import ModelStore, Recommendation

__all__ = ["Explored", "Explorer"]


@dataclass(frozen=True)
class Explored:
    """An exploring answer: the items with their model scores and the decision recorded
    (``None`` when the pool was empty and nothing was served).

    Examples
    --------
    >>> Explored(Recommendation([], "v000001", "10", "10"), None).decision is None
    True
    """

    recommendation: Recommendation
    decision: ServedDecision | None


class Explorer:
    """Draws exploring answers from ``store``'s serving model and records them (module
    docstring).

    Parameters
    ----------
    store
        The serving model.
    decisions
        Where every exploring decision is recorded.
    settings
        The policy's temperature and floor, the pool size, the Monte Carlo draws, the seed.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.live import Registry
    >>> from freshrec.log import open_log
    >>> store = ModelStore(Registry(tempfile.mkdtemp()), open_log("memory://"))
    >>> Explorer(store, DecisionLog(open_log("memory://"))).settings.temperature
    1.0
    """

    def __init__(
        self, store: ModelStore, decisions: DecisionLog, settings: ExploreSettings | None = None
    ) -> None:
        self.store = store
        self.decisions = decisions
        self.settings = settings or ExploreSettings()
        self._seeds = np.random.default_rng(self.settings.seed)
        self._seeds_lock = threading.Lock()

    def recommend(
        self,
        user: Any,
        k: int = 10,
        *,
        recommendation_id: str,
        exclude_seen: bool = True,
        candidates: Sequence[Any] | None = None,
    ) -> Explored:
        """Draw up to ``k`` items for ``user`` (fewer when the pool is smaller), record the
        decision under ``recommendation_id`` and return it with the items' scores.
        ``LookupError`` before any version serves."""
        settings = self.settings
        with self.store.reading() as serving:
            model = serving.model
            exclude = self.store.excluded(user, exclude_seen=exclude_seen)
            pool, scores = _pool(model, user, exclude, candidates, settings.pool)
            user_cursor = str(self.store.user_cursor)
            chosen = None
            known = _PoolScores(pool, scores)
            if pool:
                policy = ScorePolicy(
                    known,
                    settings.temperature,
                    settings.floor,
                    settings.draws,
                    self._seed(),
                )
                chosen = policy.select(pool, k=min(k, len(pool)), context=user)
        if chosen is None:
            empty = Recommendation([], serving.version, serving.model_cursor, user_cursor)
            return Explored(empty, None)
        decision = ServedDecision.from_decision(
            chosen,
            pool,
            recommendation_id=recommendation_id,
            user=user,
            model_version=serving.version,
            timestamp=time.time(),
        )
        self.decisions.record(decision)
        shown = known.score(user, decision.items)
        items = [Scored(item, float(v)) for item, v in zip(decision.items, shown, strict=True)]
        found = Recommendation(items, serving.version, serving.model_cursor, user_cursor)
        return Explored(found, decision)

    def _seed(self) -> int:
        """A seed for one decision's policy, from the explorer's own generator."""
        with self._seeds_lock:
            return int(self._seeds.integers(2**63))


def _pool(
    model: RecommenderBase,
    user: Any,
    exclude: Sequence[Any],
    candidates: Sequence[Any] | None,
    size: int,
) -> tuple[list[Any], np.ndarray]:
    """The ``size`` best-scored items for ``user`` among ``candidates`` (every item the
    model knows when ``None``), leaving out ``exclude`` and items scored non-finite; the
    items, best first, and their scores."""
    if candidates is None:
        names = model.item_map_.decode(np.arange(model.n_items))
        scores = model.score_batch(np.array([model.user_map_.encode_one(user)]))[0]
        scores = scores.astype(np.float64, copy=True)
        rows = model.item_map_.encode(ids_array(list(exclude))) if exclude else np.zeros(0, int)
        scores[rows[rows >= 0]] = -np.inf
        scores[model.item_map_.free_slots] = -np.inf  # evicted slots hold no item
    else:
        names = ids_array(list(dict.fromkeys(_plain(c) for c in candidates)))
        scores = model.score(user, names).astype(np.float64, copy=True)
        left_out = set(exclude)
        scores[[name in left_out for name in names.tolist()]] = -np.inf
    scores[~np.isfinite(scores)] = -np.inf
    best = top_k(scores[None, :], size)[0]
    best = best[best >= 0]
    return [_plain(names[i]) for i in best], scores[best]


class _PoolScores:
    """The scores :func:`_pool` already computed, as the policy's model: the pool is not
    scored a second time, and the policy draws from exactly the scores the answer shows."""

    def __init__(self, pool: list[Any], scores: np.ndarray) -> None:
        self._scores = dict(zip(pool, scores.tolist(), strict=True))

    def score(self, user: Any, items: Sequence[Any] | np.ndarray) -> np.ndarray:
        return np.array([self._scores[_plain(item)] for item in items], dtype=np.float64)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
