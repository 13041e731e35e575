"""The adaptive update controller: a bandit that chooses how to learn each window.

Per window, :class:`Adaptive` picks one of four actions, ``noop`` (learn nothing),
``streaming`` (micro-batch steps, one epoch), ``finetune-replay`` (a fine-tune with replayed
older events) and ``full`` (refit from scratch on the latest events: a sliding window
chosen at the first window, see :mod:`freshrec.update.recency`), then checks the new version
and rolls it back when it got worse:

1. The window's last ``check.share`` (in time order) is held out; the rest, with the
   previous window's held-out part when it is still unlearned, is what the action learns
   (:class:`~freshrec.update.guard.HeldOutTest`).
2. Context: the model's top-``k`` misses on the held-out events (each user's earlier items
   masked), before the update, feed a drift detector; the window is ``"drift"`` when it
   alarms, ``"calm"`` otherwise.
3. Choice: a discounted UCB bandit per context (:class:`UpdateBandit`) over
   ``expected gain - cost_weight * cost``. The gain of an action is the relative change of
   hits on the held-out events it causes (measured after each update; exactly 0 for
   ``noop``); its cost is known before it runs: the event-epochs it will train, over those
   of a fine-tune with replay on this window (``noop`` 0, ``streaming`` about
   ``1 / (2 * epochs)``, ``full`` its window over twice the window learned).
4. Guard: if the update loses significantly more held-out hits than it gains (one-sided
   sign test on the events whose hit changed, ``check.z`` standard errors), the previous
   version is restored. The bandit records the measured gain either way (the held-out
   events come after the learned ones, so it is the quality of the next events; the
   known cost is subtracted when choosing). Once an update passed, the held-out events
   are learned at once (``partial_fit``; ``settings.learn_checked``).

The actions are the strategies of :mod:`freshrec.update.strategies`: ``streaming`` is a
:class:`~freshrec.update.strategies.Streaming`, ``finetune-replay`` a
:class:`~freshrec.update.strategies.FineTune` with a reservoir that every window joins, and
``full`` a :class:`~freshrec.update.strategies.FullRetrain` with
``window=settings.full_window``. A rollback puts back a snapshot of what the model had
learned (the attributes :meth:`~freshrec.base.Estimator.reset` drops), in place.

Every second the controller spends (signals, checks, snapshots and training) counts in its
:class:`~freshrec.update.strategies.UpdateReport`.

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.data.batch import as_batch
>>> from freshrec.models.bpr import BPR
>>> events = as_batch(checkerboard_events())
>>> model = BPR(n_factors=4, n_epochs=5).fit(events[:100])
>>> controller = Adaptive(seed=0)
>>> controller.prime(events[:100])
>>> report = controller.step(model, events[100:150])
>>> controller.log[-1]["action"] in ACTIONS
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

from freshrec.base import RecommenderBase
from freshrec.data.batch import EventBatch
from freshrec.log.log import EventLog
from freshrec.update.guard import HeldOutCheck, HeldOutTest, learned_state, restore_state
from freshrec.update.replay import EventHistory, ReservoirReplay
from freshrec.update.strategies import (
    FineTune,
    FullRetrain,
    Streaming,
    UpdateReport,
    UpdateStrategy,
    _observe,
    _page_hinkley,
    _Tracked,
    does_not_apply,
    overridden,
)

__all__ = ["ACTIONS", "ActionSettings", "Adaptive", "HeldOutCheck", "UpdateBandit"]

ACTIONS = ("noop", "streaming", "finetune-replay", "full")
CONTEXTS = ("calm", "drift")


class UpdateBandit:
    """Discounted UCB over update actions, one table per context, costs known in advance.

    The index of a tried action is ``mean gain + exploration * sqrt(log(n) / n_a) - cost``
    (discounted counts and sums, so old rewards fade). An untried action whose cost the best
    mean gain so far (at least ``prior_gain``) would repay is tried first, the cheapest
    first; one that costs more counts at ``prior_gain`` plus the largest bonus. ``noop`` has
    gain 0 and cost 0, always.

    Examples
    --------
    >>> bandit = UpdateBandit(["noop", "cheap", "dear"], prior_gain=0.05)
    >>> bandit.choose("calm", {"noop": 0.0, "cheap": 0.01, "dear": 2.0})
    'cheap'
    >>> bandit.update("calm", "cheap", -0.5)
    >>> bandit.choose("calm", {"noop": 0.0, "cheap": 0.01, "dear": 2.0})
    'noop'
    """

    def __init__(
        self,
        actions: Sequence[str],
        *,
        prior_gain: float = 0.05,
        exploration: float = 0.02,
        discount: float = 0.95,
    ) -> None:
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        self.actions = list(actions)
        self.prior_gain = prior_gain
        self.exploration = exploration
        self.discount = discount
        self._counts: dict[str, dict[str, float]] = {}
        self._sums: dict[str, dict[str, float]] = {}

    def _table(self, context: str) -> tuple[dict[str, float], dict[str, float]]:
        counts = self._counts.setdefault(context, dict.fromkeys(self.actions, 0.0))
        sums = self._sums.setdefault(context, dict.fromkeys(self.actions, 0.0))
        return counts, sums

    def choose(self, context: str, costs: dict[str, float]) -> str:
        """The action with the highest index in ``context`` (ties: the earlier action)."""
        counts, sums = self._table(context)
        total = sum(counts.values())
        spread = math.log(max(total, 1.0) + 1.0)
        tried = [sums[a] / counts[a] for a in self.actions if a != "noop" and counts[a] > 1e-9]
        worth_trying = max([self.prior_gain, *tried])
        untried = [a for a in self.actions[1:] if counts[a] <= 1e-9 and costs[a] < worth_trying]
        if untried:
            return min(untried, key=lambda action: costs[action])
        best, best_index = self.actions[0], -math.inf
        for action in self.actions:
            if action == "noop":
                index = 0.0
            elif counts[action] > 1e-9:
                bonus = self.exploration * math.sqrt(spread / counts[action])
                index = sums[action] / counts[action] + bonus - costs[action]
            else:
                bonus = self.exploration * math.sqrt(spread)
                index = self.prior_gain + bonus - costs[action]
            if index > best_index:
                best, best_index = action, index
        return best

    def update(self, context: str, action: str, gain: float) -> None:
        """Record the measured ``gain`` (before the cost) of ``action`` in ``context``; every
        round discounts the others, ``noop`` rounds too, so an action judged on an unlucky
        measurement is tried again once its estimate has faded."""
        counts, sums = self._table(context)
        for name in self.actions:
            counts[name] *= self.discount
            sums[name] *= self.discount
        counts[action] += 1.0
        sums[action] += gain

    def means(self, context: str) -> dict[str, float | None]:
        """The discounted mean gain of each action in ``context`` (``None``: untried)."""
        counts, sums = self._table(context)
        return {a: (sums[a] / counts[a] if counts[a] > 1e-9 else None) for a in self.actions}


@dataclass(frozen=True)
class ActionSettings:
    """How :class:`Adaptive` runs its actions.

    Attributes
    ----------
    micro_batch, streaming_epochs
        The streaming action's micro-batch size and epochs per micro-batch.
    full_window
        The full retrain's sliding window (events; ``None``: all history; ``"auto"``: chosen
        at the first window on the primed events' tail, see
        :func:`~freshrec.update.recency.choose_window`).
    finetune_epochs
        Epochs of the fine-tune (``None``: the model's own).
    replay_capacity, replay_ratio
        The fine-tune's reservoir and replayed events per new event.
    learn_checked
        Once an update passed the check, learn the held-out events at once (one
        ``partial_fit``) instead of with the next window.

    Examples
    --------
    >>> ActionSettings(micro_batch=500).replay_ratio
    1.0
    """

    micro_batch: int = 1000
    streaming_epochs: int = 1
    full_window: int | Literal["auto"] | None = "auto"
    finetune_epochs: int | None = None
    replay_capacity: int = 100_000
    replay_ratio: float = 1.0
    learn_checked: bool = True


class Adaptive(_Tracked):
    """Choose, per window, no-op, streaming, fine-tune with replay or a full retrain.

    See the module docstring for the protocol.

    Parameters
    ----------
    actions
        The actions to choose from (a subset of :data:`ACTIONS`; ``noop`` is always allowed).
    cost_weight
        Relative held-out gain that the compute of one fine-tune with replay is worth.
    check
        The held-out measurement and rollback rule (:class:`HeldOutCheck`).
    settings
        How the actions run (:class:`ActionSettings`).
    bandit
        The bandit (default: :class:`UpdateBandit` with its defaults, over ``actions``).
    detector
        Builds the drift detector for the context (default: Page-Hinkley on increases of
        the miss rate of blocks of ``block`` held-out events).
    block
        Misses averaged per detector input.
    seed
        Seed of the replay buffer.

    Attributes
    ----------
    streaming, finetune, full
        The strategies that run the actions (:class:`Streaming`, :class:`FineTune` with
        replay, :class:`FullRetrain` on a sliding window, ``settings.full_window``).
    log
        One dict per window: ``context``, ``action``, ``gain``, ``cost``, ``rolled_back``.

    Examples
    --------
    >>> controller = Adaptive(["streaming"], cost_weight=0.1, check=HeldOutCheck(k=5))
    >>> controller.actions, controller.check.k
    (['noop', 'streaming'], 5)
    """

    def __init__(
        self,
        actions: Sequence[str] = ACTIONS,
        *,
        cost_weight: float = 0.05,
        check: HeldOutCheck | None = None,
        settings: ActionSettings | None = None,
        bandit: UpdateBandit | None = None,
        detector: Callable[[], Any] | None = None,
        block: int = 50,
        seed: int | None = 0,
    ) -> None:
        super().__init__()
        unknown = sorted(set(actions) - set(ACTIONS))
        if unknown:
            raise ValueError(f"unknown actions {unknown}; choose from {', '.join(ACTIONS)}")
        self.actions = ["noop"] + [a for a in ACTIONS[1:] if a in actions]
        self.cost_weight = cost_weight
        self.check = check or HeldOutCheck()
        self.settings = settings or ActionSettings()
        self._replay = ReservoirReplay(self.settings.replay_capacity, seed)
        # epochs are set around each step, for models that have them (see _apply)
        self.streaming = Streaming(self.settings.micro_batch, epochs=None)
        self.finetune = FineTune(replay=self._replay, replay_ratio=self.settings.replay_ratio)
        self.full = FullRetrain(window=self.settings.full_window)
        self.test = HeldOutTest(self.check)
        self.bandit = bandit or UpdateBandit(self.actions)
        self.detector = detector or _page_hinkley
        self.block = block
        self.log: list[dict[str, Any]] = []
        self._watch = self.detector()

    def prime(self, events: EventBatch, log: EventLog | None = None) -> None:
        super().prime(events, log)
        self.streaming.prime(events, log)
        self.finetune.prime(events, log)  # the events join the reservoir
        self.full.prime(events, log)
        self.test.prime(events, log)
        self._watch = self.detector()
        self.log = []

    # -- one window ---------------------------------------------------------------------
    def step(self, model: RecommenderBase, batch: EventBatch) -> UpdateReport:
        from freshrec.drift.detectors import alarms

        start = time.perf_counter()
        self._drop_what_does_not_apply(model)
        learn, held = self.test.split(batch)
        self._arrive(learn)
        self.full.history.add(learn)
        if "full" in self.actions and self.full.auto and self.full.choice is None:
            self.full.choose(model, tail=len(batch))
        hits_before = self.test.hits(model, held)
        drifted = len(alarms(self._watch, 1.0 - hits_before, block=self.block)) > 0
        context = CONTEXTS[drifted]
        costs = self._costs(model, len(learn))
        action = self.bandit.choose(context, costs)

        snapshot = learned_state(model, deep=action != "full") if action != "noop" else None
        n_events = self._apply(action, model, learn)
        hits_after = self.test.hits(model, held) if snapshot is not None else hits_before
        verdict = self.test.judge(hits_before, hits_after)
        if verdict.harmful and snapshot is not None:
            restore_state(model, snapshot)
        self.bandit.update(context, action, verdict.gain)  # noop too: old gains fade
        if drifted:
            self._watch = self.detector()
        seconds = time.perf_counter() - start
        self.log.append(
            {
                "context": context,
                "action": action,
                "gain": verdict.gain,
                "cost": costs[action],
                "rolled_back": verdict.harmful,
            }
        )
        if action == "noop" or verdict.harmful:  # unlearned until a full retrain
            self._pending.clear()
            _observe(model, learn)
            done = action + (" (rolled back)" if verdict.harmful else "")
            return UpdateReport(False, n_events, seconds, 0, 0, None, action=done)
        if self.settings.learn_checked:  # the check is done: learn the held-out part now
            released = self.test.release()
            self._arrive(released)
            self.full.history.add(released)
            self._replay.add(released)
            model.partial_fit(released)
            n_events += len(released)
            seconds = time.perf_counter() - start
        return UpdateReport(True, n_events, seconds, 1, *self._learn_pending(), action=action)

    def _drop_what_does_not_apply(self, model: RecommenderBase) -> None:
        """Leave out the actions whose strategy cannot update ``model`` (replay for a model
        that does not rehearse, say)."""
        runs: dict[str, UpdateStrategy] = {
            "streaming": self.streaming,
            "finetune-replay": self.finetune,
            "full": self.full,
        }
        usable = [a for a in self.actions if a == "noop" or does_not_apply(runs[a], model) is None]
        if usable != self.actions:
            self.actions = usable
            self.bandit.actions = [a for a in self.bandit.actions if a in usable]

    def _costs(self, model: RecommenderBase, n_new: int) -> dict[str, float]:
        """Event-epochs of each action over those of a fine-tune with replay on ``n_new``."""
        epochs = float(self.settings.finetune_epochs or getattr(model, "n_epochs", 1) or 1)
        full_epochs = float(getattr(model, "n_epochs", 1) or 1)
        reference = max(n_new * (1.0 + self.settings.replay_ratio) * epochs, 1.0)
        event_epochs = {
            "noop": 0.0,
            "streaming": n_new * float(self.settings.streaming_epochs),
            "finetune-replay": reference,
            "full": _latest_count(self.full.history) * full_epochs,
        }
        return {a: self.cost_weight * event_epochs[a] / reference for a in self.actions}

    def _apply(self, action: str, model: RecommenderBase, learn: EventBatch) -> int:
        """Run ``action`` on ``model`` with the events ``learn``; the events trained on.

        ``learn`` joins the fine-tune's reservoir whatever the action (the fine-tune adds it
        itself, after drawing its replay sample).
        """
        if action == "finetune-replay" and len(learn):
            with self._epochs(model, self.settings.finetune_epochs):
                return self.finetune.step(model, learn).n_events
        self._replay.add(learn)
        if action == "noop" or not len(learn):
            return 0
        if action == "streaming":
            with self._epochs(model, self.settings.streaming_epochs):
                return self.streaming.step(model, learn).n_events
        return self.full.retrain(model).n_events

    @staticmethod
    def _epochs(model: RecommenderBase, epochs: int | None) -> AbstractContextManager[None]:
        """``model.n_epochs = epochs`` for the block, when the model has epochs."""
        return overridden(model, n_epochs=epochs if "n_epochs" in model.get_params() else None)


def _latest_count(history: EventHistory) -> int:
    """Events a retrain on ``history`` learns: its window's worth at most."""
    return len(history) if history.max_events is None else min(len(history), history.max_events)
